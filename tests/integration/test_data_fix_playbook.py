"""emergency_data_fix.yml on a real PostgreSQL: approval first, notifications, records, rollback, check mode."""

import glob
import json
import os

import pytest
import yaml

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.paths import ROOT, python_interpreter

PLAYBOOK = os.path.join(ROOT, 'playbooks', 'emergency_data_fix.yml')
SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric NOT NULL);
INSERT INTO customers VALUES (1, 'Ada');
INSERT INTO orders VALUES (10, 1, 5), (12, 999, 3), (13, 999, 4);
"""
ORPHANS = 'SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id)'


@pytest.fixture()
def shop(postgres, postgres_db, tmp_path, webhook_receiver):
    with postgres.connect(postgres_db) as conn:
        conn.execute(SCHEMA)
    connection = dict(postgres.params, login_db=postgres_db)
    inventory = tmp_path / 'inventory.yml'
    local = {'ansible_connection': 'local', 'ansible_python_interpreter': python_interpreter()}
    inventory.write_text(yaml.safe_dump({'all': {
        'vars': {'maintenance_security_leads': ['alice.secops'], 'maintenance_data_owners': ['dora.data'],
                 'maintenance_outcome_log': str(tmp_path / 'outcomes.jsonl'),
                 'notify_channels': [{'name': 'hook', 'type': 'webhook', 'url': webhook_receiver.url + '/hook'}],
                 'notify_state_file': str(tmp_path / 'notify-state.json'),
                 'data_fix_connection': connection,
                 'data_fix_validations': [{'name': 'orphan_orders', 'query': ORPHANS, 'expect': {'equals': 0}}]},
        'hosts': {'localhost': local},
        'children': {'db_primary': {'hosts': {'db1': local}}}}}))
    return postgres, postgres_db, str(inventory), tmp_path, webhook_receiver


def statements(expected_rows):
    return [{'sql': 'UPDATE orders SET customer_id = 1 WHERE customer_id = 999', 'expected_rows': expected_rows,
             'backup': {'table': 'public.orders', 'where': 'customer_id = 999'}}]


def orders(postgres, db):
    return postgres.execute('SELECT id, customer_id FROM orders ORDER BY id', dbname=db)


def titles(receiver):
    return [r['json'].get('title') for r in receiver.received]


@pytest.mark.slow
@pytest.mark.parametrize('extra', [
    {'change_ref': 'CHG-9'},
    {'approved_by': 'mallory', 'change_ref': 'CHG-9'},
    {'approved_by': 'alice.secops'},
])
def test_missing_or_unlisted_approval_stops_before_any_change(shop, extra):
    postgres, db, inventory, tmp_path, receiver = shop
    before = orders(postgres, db)
    extra = dict(extra, data_fix_statements=statements(2))
    result = run_playbook(PLAYBOOK, inventory=inventory, extra_vars=extra, outcome_log=tmp_path / 'outcomes.jsonl')
    assert result.returncode != 0
    assert orders(postgres, db) == before
    records = read_outcomes(tmp_path / 'outcomes.jsonl')
    assert not [r for r in records if r['host'] == 'db1']  # the correction play never started
    assert not any('starting on db1' in (t or '') for t in titles(receiver))


@pytest.mark.slow
def test_approved_fix_commits_notifies_and_records(shop):
    postgres, db, inventory, tmp_path, receiver = shop
    result = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=tmp_path / 'outcomes.jsonl', extra_vars={
        'approved_by': 'dora.data', 'change_ref': 'CHG-10', 'reason': 'orphaned orders after import',
        'data_fix_statements': statements(2)})
    assert result.returncode == 0, result.stdout[-4000:]
    assert postgres.execute(ORPHANS, dbname=db) == [(0,)]
    sent = titles(receiver)
    assert sent[0] == 'Emergency change CHG-10 starting'
    assert 'Emergency data correction CHG-10 starting on db1' in sent
    assert 'Emergency data correction CHG-10 committed' in sent
    records = read_outcomes(tmp_path / 'outcomes.jsonl')
    fix = [r for r in records if r['action'] == 'autopilotcx.maintenance.pg_data_fix'][0]
    assert fix['status'] == 'changed' and [c['status'] for c in fix['checks']] == ['critical', 'ok']
    result_checks = [c for r in records for c in r.get('checks') or [] if c['name'] == 'data_fix.result']
    assert result_checks and result_checks[0]['status'] == 'ok'
    details = result_checks[0]['details']
    assert details['before'] == {'orphan_orders': 2} and details['after'] == {'orphan_orders': 0}
    assert details['statements'][0]['affected_rows'] == 2 and details['backup']['rows'] == 2
    approval = [c for r in records for c in r.get('checks') or [] if c['name'] == 'emergency.approval'][0]
    assert approval['details']['approved_by'] == 'dora.data' and approval['details']['documentation_due']
    saved = glob.glob(str(tmp_path / 'incidents' / 'CHG-10-data-fix.json'))
    assert len(saved) == 1 and json.load(open(saved[0]))['details']['committed'] is True


@pytest.mark.slow
def test_guard_mismatch_rolls_back_and_is_recorded_critical(shop):
    postgres, db, inventory, tmp_path, receiver = shop
    before = orders(postgres, db)
    result = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=tmp_path / 'outcomes.jsonl', extra_vars={
        'approved_by': 'alice.secops', 'change_ref': 'CHG-11', 'data_fix_statements': statements(5)})
    assert result.returncode != 0
    assert orders(postgres, db) == before
    assert 'Emergency data correction CHG-11 ROLLED BACK on db1' in titles(receiver), result.stdout[-3000:]
    records = read_outcomes(tmp_path / 'outcomes.jsonl')
    outcome = [c for r in records for c in r.get('checks') or [] if c['name'] == 'data_fix.result'][0]
    assert outcome['status'] == 'critical' and 'affected 2 row(s), expected exactly 5' in outcome['reason']


@pytest.mark.slow
def test_check_mode_previews_and_changes_nothing(shop):
    postgres, db, inventory, tmp_path, _receiver = shop
    before = orders(postgres, db)
    result = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=tmp_path / 'outcomes.jsonl', args=['--check'],
                          extra_vars={'approved_by': 'alice.secops', 'change_ref': 'CHG-12', 'data_fix_statements': statements(2)})
    assert result.returncode == 0, result.stdout[-4000:]
    assert orders(postgres, db) == before
    assert postgres.execute("SELECT to_regclass('audit.data_fix_backup') IS NULL", dbname=db) == [(True,)]
    records = read_outcomes(tmp_path / 'outcomes.jsonl')
    fix = [r for r in records if r['action'] == 'autopilotcx.maintenance.pg_data_fix'][0]
    assert fix['check_mode'] is True and fix['status'] == 'ok'


@pytest.mark.slow
def test_check_mode_with_a_commit_in_the_sql_file_is_refused_and_changes_nothing(shop):
    """Issue 15: a file wrapped in BEGIN/COMMIT, run with --check, once committed its change behind check mode."""
    postgres, db, inventory, tmp_path, _receiver = shop
    script = tmp_path / 'fix.sql'
    script.write_text('BEGIN;\nUPDATE orders SET customer_id = 1 WHERE customer_id = 999;\nCOMMIT;\n')
    dump = 'SELECT xmin::text, id, customer_id, total FROM orders ORDER BY id'
    before = postgres.execute(dump, dbname=db)
    result = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=tmp_path / 'outcomes.jsonl', args=['--check'],
                          extra_vars={'approved_by': 'alice.secops', 'change_ref': 'CHG-15',
                                      'data_fix_statements': [{'file': str(script), 'expected_rows': 2}]})
    assert result.returncode != 0
    assert postgres.execute(dump, dbname=db) == before
    assert postgres.execute("SELECT to_regclass('audit.data_fix_backup') IS NULL", dbname=db) == [(True,)]
    records = read_outcomes(tmp_path / 'outcomes.jsonl')
    outcome = [c for r in records for c in r.get('checks') or [] if c['name'] == 'data_fix.result'][0]
    assert outcome['status'] == 'critical', result.stdout[-3000:]
    assert 'statement 1 (file ' in outcome['reason'] and 'holds 3 SQL statements' in outcome['reason']  # path redacted (-e)
    fix = [r for r in records if r['action'] == 'autopilotcx.maintenance.pg_data_fix'][0]
    assert fix['check_mode'] is True
    assert 'Traceback' not in result.stdout
