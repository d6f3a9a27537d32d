"""The housekeeping playbooks run by real ansible-playbook on real PostgreSQL, Redis, files and logrotate."""

import datetime
import json
import os
import re
import time

import pytest
import yaml

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.paths import ROOT

PLAYBOOKS = os.path.join(ROOT, 'playbooks')


def _inventory(tmp_path, host_vars):
    """A one-host local inventory; variables go to group_vars (not extra vars) so secrets are not redacted for us."""
    inventory = tmp_path / 'inventory'
    (inventory / 'group_vars' / 'all').mkdir(parents=True)
    (inventory / 'hosts.yml').write_text(yaml.safe_dump({'all': {'hosts': {'app': {
        'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}}}))
    (inventory / 'group_vars' / 'all' / 'vars.yml').write_text(yaml.safe_dump(host_vars))
    return str(inventory)


def _checks(log, task_prefix=None):
    checks = []
    for record in read_outcomes(log):
        if task_prefix and not record['task'].startswith(task_prefix):
            continue
        checks.extend(record.get('checks') or [])
    return checks


def _pg_counts(postgres, db):
    return postgres.execute("SELECT count(*) FILTER (WHERE expires_at < now() - interval '5 minutes'), "
                            "count(*) FILTER (WHERE expires_at >= now() - interval '5 minutes') FROM app_sessions",
                            dbname=db)[0]


@pytest.mark.slow
def test_session_cleanup_playbook(tmp_path, postgres, postgres_db, redis_server):
    with postgres.connect(postgres_db) as conn:
        conn.execute('CREATE TABLE app_sessions (sid text PRIMARY KEY, expires_at timestamptz NOT NULL)')
        conn.execute("INSERT INTO app_sessions SELECT md5(g::text), now() + CASE WHEN g % 2 = 0 "
                     "THEN interval '-2 hours' WHEN g % 3 = 0 THEN interval '-1 minute' ELSE interval '1 hour' END "
                     "FROM generate_series(1, 6000) g")
    client = redis_server.client()
    now = client.time()[0]
    for i in range(60):
        client.hset('app:session:%d' % i, mapping={'expires': now - 3600 if i < 40 else now + 3600})
    sessions = tmp_path / 'php'
    sessions.mkdir()
    for i in range(6):
        path = sessions / ('sess_%d' % i)
        path.write_text('x')
        if i < 4:
            os.utime(path, (time.time() - 7200,) * 2)
    connection = dict(postgres.params, login_db=postgres_db)
    inventory = _inventory(tmp_path, {
        'maintenance_fail_on': 'critical',
        'session_cleanup_pg_connection': connection,
        'session_cleanup_postgres': [{'table': 'app_sessions', 'key_column': 'sid', 'grace': '5m', 'batch_size': 500}],
        'session_cleanup_redis_connection': {'host': redis_server.host, 'port': redis_server.port},
        'session_cleanup_redis': [{'pattern': 'app:session:*', 'expiry_field': 'expires'}],
        'session_cleanup_files': [{'path': str(sessions), 'lifetime': '24m'}],
    })
    before = _pg_counts(postgres, postgres_db)
    assert before == (3000, 3000)

    log = tmp_path / 'check.jsonl'
    run = run_playbook(os.path.join(PLAYBOOKS, 'session_cleanup.yml'), inventory=inventory, outcome_log=log,
                       args=['--check', '-v'])
    assert run.returncode == 0, run.stdout[-3000:]
    assert _pg_counts(postgres, postgres_db) == before
    assert client.dbsize() == 60 and len(os.listdir(sessions)) == 6
    reasons = dict((c['name'], c['reason']) for c in _checks(log))
    assert reasons['session_cleanup.purge'] == 'check mode: 3000 expired session(s) would be deleted'
    assert 'check mode' in reasons['session_cleanup.redis'] and 'check mode' in reasons['session_cleanup.files.removed']

    log = tmp_path / 'run.jsonl'
    run = run_playbook(os.path.join(PLAYBOOKS, 'session_cleanup.yml'), inventory=inventory, outcome_log=log,
                       args=['-v'])
    assert run.returncode == 0, run.stdout[-3000:]
    assert _pg_counts(postgres, postgres_db) == (0, 3000)  # the 1-minute-old ones are within grace: kept
    assert client.dbsize() == 20 and len(os.listdir(sessions)) == 2
    checks = dict((c['name'], c) for c in _checks(log))
    assert checks['session_cleanup.purge']['value'] == 3000 and checks['session_cleanup.purge']['status'] == 'ok'
    assert checks['session_cleanup.expired_backlog']['value'] == 0
    assert checks['session_cleanup.redis']['details']['deleted'] == 40
    purge = [r for r in read_outcomes(log) if r['task'].endswith('Purge expired sessions from PostgreSQL')]
    assert purge and purge[0]['status'] == 'changed'
    # the statements are returned (and shown with -v); the password never appears anywhere
    assert 'DELETE FROM' in run.stdout and '< %(before)s' in run.stdout
    assert postgres.password not in run.stdout + run.stderr
    assert postgres.password not in log.read_text()

    # the server goes away: a critical check, the job fails after recording it, the other stores still ran
    inventory = _inventory(tmp_path / 'down', dict(yaml.safe_load(open(os.path.join(inventory, 'group_vars', 'all', 'vars.yml'))),
                                                   session_cleanup_pg_connection=dict(connection, port=1)))
    log = tmp_path / 'down.jsonl'
    run = run_playbook(os.path.join(PLAYBOOKS, 'session_cleanup.yml'), inventory=inventory, outcome_log=log)
    assert run.returncode != 0
    checks = dict((c['name'], c) for c in _checks(log))
    assert checks['session_cleanup.postgres']['status'] == 'critical'
    assert checks['session_cleanup.redis']['status'] == 'ok'
    assert 'session_cleanup.postgres' in run.stdout and 'Traceback' not in run.stdout


@pytest.mark.slow
def test_weekly_housekeeping_playbook(tmp_path):
    temp = tmp_path / 'tmp'
    cache = tmp_path / 'cache'
    (temp / 'sub').mkdir(parents=True)
    cache.mkdir()
    for i in range(10):
        path = temp / ('sub' if i % 2 else '.') / ('f%d.tmp' % i)
        path.write_bytes(b'x' * 100)
        os.utime(path, (time.time() - (30 if i < 6 else 1) * 86400,) * 2)
    (temp / 'keep.lock').write_text('1')
    os.utime(temp / 'keep.lock', (time.time() - 90 * 86400,) * 2)
    for i in range(8):
        path = cache / ('c%d' % i)
        path.write_bytes(b'y' * 1024 * 100)
        os.utime(path, (time.time() - (10 - i) * 3600,) * 2)
    inventory = _inventory(tmp_path, {
        'maintenance_fail_on': 'critical',
        'housekeeping_temp_paths': [{'path': str(temp), 'age': '7d', 'excludes': ['*.lock']}],
        'housekeeping_caches': [{'path': str(cache), 'max_size': '450k', 'age_from': 'mtime'}],
    })
    listing = sorted(os.path.relpath(os.path.join(d, f), tmp_path) for d, _s, fs in os.walk(tmp_path) for f in fs
                     if 'inventory' not in d)
    log = tmp_path / 'check.jsonl'
    run = run_playbook(os.path.join(PLAYBOOKS, 'weekly_housekeeping.yml'), inventory=inventory, outcome_log=log,
                       args=['--check'])
    assert run.returncode == 0, run.stdout[-3000:]
    assert sorted(os.path.relpath(os.path.join(d, f), tmp_path) for d, _s, fs in os.walk(tmp_path) for f in fs
                  if 'inventory' not in d and not f.endswith('.jsonl')) == listing
    log = tmp_path / 'run.jsonl'
    run = run_playbook(os.path.join(PLAYBOOKS, 'weekly_housekeeping.yml'), inventory=inventory, outcome_log=log)
    assert run.returncode == 0, run.stdout[-3000:]
    assert sorted(os.listdir(temp)) == ['f6.tmp', 'f8.tmp', 'keep.lock', 'sub']
    assert sorted(os.listdir(temp / 'sub')) == ['f7.tmp', 'f9.tmp']
    assert sorted(os.listdir(cache)) == ['c4', 'c5', 'c6', 'c7']  # the newest 400 KiB fit the 450 KiB budget
    checks = [c for c in _checks(log) if c['name'].startswith('file_cleanup')]
    assert {c['name'] for c in checks} == {'file_cleanup.removed', 'file_cleanup.size'}
    assert all(c['status'] == 'ok' for c in checks)

    # a system directory is refused with a clear message, nothing is touched
    inventory = _inventory(tmp_path / 'bad', {'housekeeping_temp_paths': [{'path': '/'}]})
    run = run_playbook(os.path.join(PLAYBOOKS, 'weekly_housekeeping.yml'), inventory=inventory,
                       outcome_log=tmp_path / 'bad.jsonl')
    assert run.returncode != 0
    assert 'refusing to clean /' in run.stdout and 'Traceback' not in run.stdout


@pytest.mark.slow
def test_monthly_db_maintenance_playbook(tmp_path, postgres, postgres_db):
    with postgres.connect(postgres_db) as conn:
        conn.execute('CREATE TABLE orders (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off)')
        conn.execute("INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        conn.execute('DELETE FROM orders WHERE id % 2 = 0')
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        dead = postgres.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'orders'",
                                dbname=postgres_db)[0][0]
        if dead >= 10000:
            break
        time.sleep(0.2)
    logs = tmp_path / 'logs'
    logs.mkdir()
    (logs / 'app.log').write_text('line\n' * 1000)
    config = tmp_path / 'logrotate.conf'
    config.write_text('%s/app.log {\n    weekly\n    rotate 4\n    missingok\n}\n' % logs)
    state = tmp_path / 'status'
    old = datetime.datetime.now() - datetime.timedelta(days=20)
    state.write_text('logrotate state -- version 2\n"%s/app.log" %s\n' % (logs, old.strftime('%Y-%-m-%-d-%-H:%-M:%-S')))
    inventory = _inventory(tmp_path, {
        'maintenance_fail_on': 'critical',
        'db_maintenance_connection': dict(postgres.params, login_db=postgres_db),
        'db_maintenance_databases': [{'login_db': postgres_db, 'min_dead_tuples': 100}],
        'log_rotation_config': str(config),
        'log_rotation_state_file': str(state),
    })
    # the monthly window (maintenance data): last Sunday of the month, 02:00-06:00 UTC; the cadence starts at 04:00
    inside, outside = '2026-11-29T04:00:00Z', '2026-11-30T04:00:00Z'
    # check mode outside the window: the plan only, with the window's whole duration (4 h) as the budget
    log = tmp_path / 'check.jsonl'
    run = run_playbook(os.path.join(PLAYBOOKS, 'monthly_db_maintenance.yml'), inventory=inventory, outcome_log=log,
                       extra_vars={'monthly_db_maintenance_now': outside}, args=['--check', '-v'])
    assert run.returncode == 0, run.stdout[-3000:]
    budget = re.search(r'"time_budget": ([0-9.]+)', run.stdout)
    assert budget and 14000 < float(budget.group(1)) <= 14400
    assert not os.path.exists(logs / 'app.log.1')
    assert postgres.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'orders'",
                            dbname=postgres_db)[0][0] >= 10000

    # for real outside the window: refused before any work
    run = run_playbook(os.path.join(PLAYBOOKS, 'monthly_db_maintenance.yml'), inventory=inventory,
                       outcome_log=tmp_path / 'refused.jsonl', extra_vars={'monthly_db_maintenance_now': outside})
    assert run.returncode != 0
    assert 'No database maintenance now: outside monthly; next: monthly at 2026-12-27T02:00:00' in run.stdout
    assert postgres.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'orders'",
                            dbname=postgres_db)[0][0] >= 10000

    # inside the window at 04:00: the budget is the two hours left, not the window's four (check mode: the plan)
    run = run_playbook(os.path.join(PLAYBOOKS, 'monthly_db_maintenance.yml'), inventory=inventory,
                       outcome_log=tmp_path / 'inside.jsonl', extra_vars={'monthly_db_maintenance_now': inside},
                       args=['--check', '-v'])
    assert run.returncode == 0, run.stdout[-3000:]
    budget = re.search(r'"time_budget": ([0-9.]+)', run.stdout)
    assert budget and 7000 < float(budget.group(1)) <= 7200

    # an explicit budget is taken as given, whenever the run is
    log = tmp_path / 'run.jsonl'
    run = run_playbook(os.path.join(PLAYBOOKS, 'monthly_db_maintenance.yml'), inventory=inventory, outcome_log=log,
                       extra_vars={'monthly_db_maintenance_time_budget': '30m', 'monthly_db_maintenance_now': outside},
                       args=['-v'])
    assert run.returncode == 0, run.stdout[-3000:]
    budget = re.search(r'"time_budget": ([0-9.]+)', run.stdout)
    assert budget and 1700 < float(budget.group(1)) <= 1800
    assert postgres.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'orders'",
                            dbname=postgres_db)[0][0] == 0
    assert os.path.exists(logs / 'app.log.1')  # logrotate itself rotated the overdue log
    checks = dict((c['name'], c) for c in _checks(log))
    assert checks['pg_maintenance.work']['status'] == 'ok' and checks['pg_maintenance.work']['value'] >= 1
    assert checks['logrotate.rotation']['status'] == 'ok'
    assert checks['logrotate.config']['status'] == 'ok'
    assert 'VACUUM (ANALYZE) \\"public\\".\\"orders\\"' in run.stdout  # JSON-escaped in -v output
    assert postgres.password not in run.stdout and postgres.password not in log.read_text()
    assert json.dumps(checks)  # records are plain JSON
