"""The database, resource and cache cadence playbooks, run with real ansible-playbook against real servers.

Inventories are written as files (not extra vars) so the no_log proofs are real: the outcome callback
redacts extra-var values by itself, inventory values only stay secret because of no_log.
"""

import json
import os

import pytest
import yaml

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.paths import ROOT
from tests.harness.services import RedisServer

PLAYBOOKS = os.path.join(ROOT, 'playbooks')
REDIS_PASSWORD = 'Redis-inventory-s3cret'


def write_inventory(tmp_path, group_vars):
    directory = tmp_path / 'inventory'
    (directory / 'group_vars').mkdir(parents=True)
    (directory / 'hosts.yml').write_text(yaml.safe_dump({'all': {'hosts': {'db-app': {'ansible_connection': 'local'}}}}))
    (directory / 'group_vars' / 'all.yml').write_text(yaml.safe_dump(group_vars))
    return str(directory)


def pg_entry(postgres, db, **extra):
    entry = {'name': 'app_db', 'login_host': postgres.host, 'port': postgres.port, 'login_user': postgres.user,
             'login_password': postgres.password, 'login_db': db, 'ssl_mode': 'require'}
    entry.update(extra)
    return entry


def checks_of(records, task_suffix):
    found = [r for r in records if r['task'].endswith(task_suffix)]
    assert found, 'no record for %s in %s' % (task_suffix, [r['task'] for r in records])
    return dict((c['name'], c) for r in found for c in r['checks'])


def verdict(records):
    return [r for r in records if r['task'].endswith('Judge the checks of this run against maintenance_fail_on')]


def run(tmp_path, playbook, group_vars, name, args=()):
    log = tmp_path / ('%s.jsonl' % name)
    result = run_playbook(os.path.join(PLAYBOOKS, playbook), inventory=write_inventory(tmp_path / name, group_vars),
                          outcome_log=log, args=args)
    return result, read_outcomes(log) if log.exists() else [], log


@pytest.mark.slow
def test_db_check_and_query_performance_playbooks(postgres, postgres_db, tmp_path):
    postgres.execute('CREATE EXTENSION pg_stat_statements', dbname=postgres_db)
    postgres.execute('SELECT pg_sleep(0.05)', dbname=postgres_db)
    # the shared test cluster is cold (fresh databases all the time): its buffer hit ratio says nothing here
    group_vars = {'db_health_databases': [pg_entry(postgres, postgres_db)], 'db_health_min_calls': 1,
                  'db_health_all_databases': False,  # the statements of this test's database only
                  'maintenance_threshold_overrides': {'db_cache_hit_ratio': {'warning': 10, 'critical': 1}}}

    result, records, log = run(tmp_path, 'db_check.yml', group_vars, 'connection', args=['-vvv'])
    assert result.returncode == 0, result.stdout[-4000:]
    checks = checks_of(records, 'Run pg_check on each database')
    assert set(checks) == {'pg.connection', 'pg.connect_time', 'pg.connections_used', 'pg.replication_lag', 'pg.xid_age'}
    assert checks['pg.connection']['status'] == 'ok' and 'TLSv1' in json.dumps(checks['pg.connection']['details'])
    assert all(r['cadence'] == 'db_connection' for r in records)
    assert verdict(records)[0]['status'] == 'ok'
    for text in (result.stdout, result.stderr, log.read_text()):
        assert postgres.password not in text  # -vvv output and the outcome records

    result, records, _log = run(tmp_path, 'db_query_performance.yml', group_vars, 'performance')
    assert result.returncode == 0, result.stdout[-4000:]
    checks = checks_of(records, 'Run pg_check on each database')
    assert set(checks) == {'pg.connection', 'pg.connect_time', 'pg.long_running_queries', 'pg.idle_in_transaction',
                           'pg.lock_waits', 'pg.cache_hit_ratio', 'pg.slow_statements'}
    assert checks['pg.slow_statements']['status'] in ('ok', 'warning') and checks['pg.slow_statements']['details']['statements']
    assert checks['pg.slow_statements']['details']['scope'] == 'database %s' % postgres_db
    assert all(r['cadence'] == 'db_query_performance' for r in records)


@pytest.mark.slow
def test_db_check_wrong_password_fails_the_job_after_recording(postgres, tmp_path):
    wrong = 'Wrong-inventory-pg-pw-9'
    group_vars = {'db_health_databases': [pg_entry(postgres, 'postgres', login_password=wrong),
                                          pg_entry(postgres, 'postgres', name='second_db', checks=['connection', 'lock_waits'])]}
    result, records, log = run(tmp_path, 'db_check.yml', group_vars, 'wrongpw', args=['-vvv'])
    assert result.returncode != 0
    by_task = [r for r in records if r['task'].endswith('Run pg_check on each database')]
    assert by_task[0]['status'] == 'ok'  # fail_on: never: every check is recorded first ...
    statuses = [(c['name'], c['status']) for c in by_task[0]['checks']]
    assert ('pg.connection', 'critical') in statuses and ('pg.connection', 'ok') in statuses  # ... the second db still ran
    assert ('pg.lock_waits', 'ok') in statuses  # an entry's own `checks` override the mode's pieces
    assert ('pg.xid_age', 'unknown') in statuses and ('pg.xid_age', 'ok') not in statuses
    failed = verdict(records)[0]
    assert failed['status'] == 'failed' and 'pg.connection: cannot connect' in failed['msg']
    assert 'password authentication failed' in failed['msg']
    for text in (result.stdout, result.stderr, log.read_text()):
        assert wrong not in text and postgres.password not in text


@pytest.mark.slow
def test_cache_analysis_playbook_with_real_hits_and_redis_down(tmp_path):
    with RedisServer(password=REDIS_PASSWORD) as server:
        client = server.client()
        client.set('k', 'v')
        for _index in range(19):
            client.get('k')
        client.get('missing')  # 95 % hit ratio
        group_vars = {'cache_health_instances': [{'name': 'sessions', 'host': server.host, 'port': server.port,
                                                  'password': REDIS_PASSWORD}],
                      'cache_health_interval': 0.2}
        result, records, log = run(tmp_path, 'cache_analysis.yml', group_vars, 'up', args=['-vvv'])
        assert result.returncode == 0, result.stdout[-4000:]
        checks = checks_of(records, 'Run cache_check on each instance')
        assert checks['cache.hit_ratio']['value'] == 95.0 and checks['cache.hit_ratio']['status'] == 'ok'
        assert checks['cache.connection']['status'] == 'ok'
        for text in (result.stdout, result.stderr, log.read_text()):
            assert REDIS_PASSWORD not in text
    result, records, _log = run(tmp_path, 'cache_analysis.yml', group_vars, 'down')
    assert result.returncode != 0
    checks = checks_of(records, 'Run cache_check on each instance')
    assert checks['cache.connection']['status'] == 'critical' and 'Connection refused' in checks['cache.connection']['reason']
    assert checks['cache.hit_ratio']['status'] == 'unknown'
    assert 'cache.connection' in verdict(records)[0]['msg']


@pytest.mark.slow
def test_resource_check_playbook_verdict_and_check_mode(tmp_path):
    calm = {'maintenance_threshold_overrides': {'cpu_utilisation': {'warning': 101, 'critical': 102},
                                                'load_per_core': {'warning': 1000, 'critical': 2000}},
            'resource_usage_interval': 0.2}
    result, records, _log = run(tmp_path, 'resource_check.yml', calm, 'calm', args=['--check'])
    assert result.returncode == 0, result.stdout[-4000:]
    assert 'changed=0' in result.stdout
    task = [r for r in records if r['task'].endswith("Measure the host's resources")][0]
    assert task['check_mode'] is True and task['changed'] is False  # check mode: measured, nothing changed
    names = set(c['name'] for c in task['checks'])
    assert {'resource.cpu_utilisation', 'resource.memory_used', 'resource.disk_used', 'resource.inodes_used'} <= names
    assert all(r['cadence'] == 'resource_usage' for r in records)

    full_disk = dict(calm, maintenance_threshold_overrides=dict(calm['maintenance_threshold_overrides'],
                                                                disk_used={'warning': 0, 'critical': 0.001}))
    result, records, _log = run(tmp_path, 'resource_check.yml', full_disk, 'full')
    assert result.returncode != 0
    failed = verdict(records)[0]
    assert failed['status'] == 'failed' and 'resource.disk_used: disk used' in failed['msg']


@pytest.mark.slow
def test_check_mode_of_db_and_cache_playbooks_changes_nothing(postgres, redis_server, tmp_path):
    before = postgres.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'autopilotcx.maintenance'")
    group_vars = {'db_health_databases': [pg_entry(postgres, 'postgres')],
                  'cache_health_instances': [{'name': 'c', 'host': redis_server.host, 'port': redis_server.port}],
                  'cache_health_interval': 0}
    keys_before = redis_server.client().dbsize()
    for playbook in ('db_check.yml', 'cache_analysis.yml'):
        result, records, _log = run(tmp_path, playbook, group_vars, playbook.split('.', maxsplit=1)[0], args=['--check'])
        assert result.returncode == 0, result.stdout[-4000:]
        assert 'changed=0' in result.stdout
        module_records = [r for r in records if r['action'].startswith('autopilotcx.maintenance.') and r['checks']]
        assert module_records and all(r['check_mode'] and not r['changed'] for r in module_records)
    assert redis_server.client().dbsize() == keys_before
    assert postgres.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'autopilotcx.maintenance'") == before


@pytest.mark.slow
def test_bad_role_input_gets_a_clear_message(tmp_path):
    bad_db = {'db_health_databases': [{'login_host': '127.0.0.1', 'ssl_mode': 'sometimes'}]}
    result, _records, _log = run(tmp_path, 'db_check.yml', bad_db, 'badentry')
    assert result.returncode != 0
    assert 'missing required arguments: name found in db_health_databases' in result.stdout
    assert 'ssl_mode must be one of' in result.stdout and 'sometimes' in result.stdout
    result, _records, _log = run(tmp_path, 'resource_check.yml', {'resource_usage_interval': 0}, 'badinterval')
    assert result.returncode != 0 and 'resource_usage_interval must be between 0.05 and 60 seconds' in result.stdout
    dup = {'cache_health_instances': [{'name': 'a', 'host': '127.0.0.1'}, {'name': 'a', 'host': '127.0.0.2'}]}
    result, _records, _log = run(tmp_path, 'cache_analysis.yml', dup, 'dup')
    assert result.returncode != 0 and 'unique name per entry' in result.stdout


@pytest.mark.slow
def test_modules_check_mode_fail_on_and_bad_input(postgres, tmp_path):
    """The three modules called directly: check mode, the default fail_on, clear messages for bad input."""
    with RedisServer(password=REDIS_PASSWORD) as server:
        directory = tmp_path / 'inventory'
        directory.mkdir()
        pg = dict(postgres.params)
        (directory / 'hosts.yml').write_text(yaml.safe_dump({'all': {'hosts': {'app': {
            'ansible_connection': 'local', 'pg': pg, 'wrong_password': 'Wrong-module-pw-5',
            'redis_host': server.host, 'redis_port': server.port, 'redis_password': REDIS_PASSWORD}}}}))
        result_file = tmp_path / 'result.json'
        log = tmp_path / 'outcomes.jsonl'
        run_result = run_playbook(os.path.join(ROOT, 'tests', 'integration', 'playbooks', 'checks_host_modules.yml'),
                                  inventory=str(directory), outcome_log=log, args=['-vvv'],
                                  extra_vars={'result_file': str(result_file)})
    assert run_result.returncode == 0, run_result.stdout[-4000:]
    results = json.loads(result_file.read_text())
    for key in ('pg_check_mode', 'resource_check_mode', 'cache_check_mode'):
        assert results[key]['changed'] is False and results[key]['checks'], key
        assert results[key]['status'] != 'critical', results[key]['failed_checks']
    assert results['pg_check_mode']['server']['reachable'] is True
    assert results['cache_check_mode']['server']['reachable'] is True

    failing = results['pg_failing']
    assert failing['failed'] is True and failing['msg'].startswith('critical check(s) at or above critical: pg.connection')
    assert 'password authentication failed' in failing['checks'][0]['reason']
    assert 'value of checks must be one or more of' in results['pg_bad_piece']['msg']
    assert results['pg_bad_top']['msg'] == 'pg_check option top must be an integer >= 1, not 0'
    assert results['resource_bad_interval']['msg'] == 'resource_check interval must be between 0.05 and 60 seconds, not 0.0'
    assert 'port' in results['cache_bad_port']['msg'] and 'int' in results['cache_bad_port']['msg']
    dumped = json.dumps(results) + run_result.stdout + run_result.stderr + log.read_text()
    assert 'Traceback' not in dumped
    for secret in ('Wrong-module-pw-5', REDIS_PASSWORD, postgres.password):
        assert secret not in dumped
