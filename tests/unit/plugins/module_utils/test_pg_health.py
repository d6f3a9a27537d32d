"""pg_check logic against the real session PostgreSQL (pg_stat_statements preloaded).

Long-running queries, idle-in-transaction sessions and lock waits are real sessions opened by the test
in other connections; the missing-privilege path uses a real low-privilege role; a wrong password and a
stopped server are real failures.
"""

import json
import os
import subprocess
import threading
import time

import psycopg
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import pg_check as pg_health
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from tests.harness.paths import ROOT
from tests.harness.postgres import PostgresCluster, _run_as

DEFAULTS = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'maintenance', 'defaults', 'main.yml')))
THRESHOLDS = DEFAULTS['maintenance_thresholds']


def by_name(checks):
    result = {}
    for check in checks:
        assert check['name'] not in result, 'duplicate check %s' % check['name']
        result[check['name']] = check
    return result


def params_for(postgres, db, **overrides):
    params = dict(postgres.params, login_db=db)
    params.update(overrides)
    return params


def with_thresholds(**changes):
    merged = dict(THRESHOLDS)
    merged.update(changes)
    return merged


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except psycopg.Error:  # not there yet (a table still to be replayed, a server still starting)
            pass
        time.sleep(0.05)
    return False


def test_all_pieces_on_a_healthy_server(postgres, postgres_db):
    postgres.execute('CREATE EXTENSION pg_stat_statements', dbname=postgres_db)
    checks, server = pg_health.run_pg_checks(params_for(postgres, postgres_db), thresholds=THRESHOLDS)
    named = by_name(checks)
    assert set(named) == {'pg.connection', 'pg.connect_time', 'pg.connections_used', 'pg.long_running_queries',
                          'pg.idle_in_transaction', 'pg.lock_waits', 'pg.replication_lag', 'pg.cache_hit_ratio',
                          'pg.slow_statements', 'pg.xid_age'}
    for check in checks:
        # a cold test cluster may be below the guide's cache ratio, and on a busy machine its CREATE DATABASE
        # statements can be slower than the guide's 500 ms: those two are judged in their own tests
        if check['name'] not in ('pg.cache_hit_ratio', 'pg.slow_statements'):
            assert check['status'] == 'ok', check
        assert check['status'] in ('ok', 'warning', 'critical'), check
        assert check['target'].endswith('/%s' % postgres_db)
    assert server['version_num'] >= 150000 and server['in_recovery'] is False and server['can_read_all_stats']
    assert 0 < named['pg.connect_time']['value'] < 5 and named['pg.connect_time']['threshold'] == THRESHOLDS['db_connect_time']['warning']
    used = named['pg.connections_used']['details']
    assert used['max_connections'] == 100 and used['used'] >= 1
    assert named['pg.connections_used']['value'] == pytest.approx(100.0 * used['used'] / 100, abs=0.1)
    assert 'not replicating' in named['pg.replication_lag']['reason']
    assert 0 < named['pg.cache_hit_ratio']['value'] <= 100
    assert named['pg.xid_age']['value'] > 0 and named['pg.xid_age']['status'] == 'ok'
    assert named['pg.xid_age']['details']['percent_towards_wraparound'] < 1
    slow = named['pg.slow_statements']
    assert slow['details']['statements'] and all(s['queryid'] and s['calls'] >= 1 for s in slow['details']['statements'])
    assert slow['value'] == max(s['mean_ms'] for s in slow['details']['statements'])


def test_selected_pieces_only(postgres, postgres_db):
    checks, _server = pg_health.run_pg_checks(params_for(postgres, postgres_db), ['xid_age', 'connections'], THRESHOLDS)
    assert [c['name'] for c in checks] == ['pg.xid_age', 'pg.connections_used']


def test_unknown_piece_is_a_clear_error(postgres):
    with pytest.raises(MaintenanceError, match='unknown pg_check piece.*bogus'):
        pg_health.run_pg_checks(postgres.params, ['bogus'], THRESHOLDS)
    with pytest.raises(MaintenanceError, match='top must be an integer >= 1'):
        pg_health.run_pg_checks(postgres.params, ['xid_age'], THRESHOLDS, {'top': 0})


def test_database_without_pg_stat_statements_is_unknown(postgres, postgres_db):
    checks, _server = pg_health.run_pg_checks(params_for(postgres, postgres_db), ['slow_statements', 'xid_age'], THRESHOLDS)
    named = by_name(checks)
    assert named['pg.slow_statements']['status'] == 'unknown'
    assert 'pg_stat_statements is not installed in database %s' % postgres_db in named['pg.slow_statements']['reason']
    assert named['pg.xid_age']['status'] == 'ok'  # the other piece still ran


def test_slow_statement_by_queryid_without_parameter_values(postgres, postgres_db):
    postgres.execute('CREATE EXTENSION pg_stat_statements', dbname=postgres_db)
    with postgres.connect(postgres_db) as conn:
        conn.execute('CREATE TABLE accounts (id int, email text)')
        conn.execute("SELECT pg_sleep(0.25), count(*) FROM accounts WHERE email = 'alice-topsecret@example.com'")
        conn.execute("SELECT pg_sleep(0.26), count(*) FROM accounts WHERE email = 'bob-topsecret@example.com'")
        # utility statements keep their literals in pg_stat_statements: they must be redacted here
        conn.execute("SET application_name = 'topsecret-app-literal'")
        conn.execute("CREATE ROLE topsecret_role PASSWORD 'topsecret-password-42'")
    try:
        thresholds = with_thresholds(db_slow_statement_mean={'warning': 100, 'critical': 60000, 'unit': 'ms'})
        checks, _server = pg_health.run_pg_checks(params_for(postgres, postgres_db), ['slow_statements'], thresholds,
                                                  {'top': 1000, 'all_databases': False})
    finally:
        postgres.execute('DROP ROLE topsecret_role')
    check = checks[0]
    assert check['status'] == 'warning', check['reason']
    assert check['value'] >= 250 and check['threshold'] == 100
    statements = check['details']['statements']
    slow = [s for s in statements if 'pg_sleep' in s['query'] and 'accounts' in s['query']]
    assert len(slow) == 1, slow  # one normalised statement for both calls
    assert slow[0]['calls'] == 2 and slow[0]['mean_ms'] > 100
    assert check['details']['statements'][0]['queryid'] in check['reason']  # the slowest one is named
    assert slow[0]['total_ms'] >= 500 and slow[0]['mean_ms'] == pytest.approx(slow[0]['total_ms'] / 2, rel=0.01)
    assert 'email = $' in slow[0]['query'] or 'email = ?' in slow[0]['query']
    assert check['details']['scope'] == 'database %s' % postgres_db
    dumped = json.dumps(checks)
    assert 'topsecret' not in dumped.replace('topsecret_role', '')
    assert any(s['query'].startswith('SET application_name = ?') for s in statements)
    assert any("PASSWORD ?" in s['query'] for s in statements)


@pytest.mark.parametrize('text, expected', [
    ("SET application_name = 'x''y'", 'SET application_name = ?'),
    ("ALTER ROLE app PASSWORD 'hunter2'", 'ALTER ROLE app PASSWORD ?'),
    ('SELECT * FROM t WHERE id = $1 AND n > $2', 'SELECT * FROM t WHERE id = $1 AND n > $2'),
    ('SELECT col1, 42, -3.5e2 FROM t2', 'SELECT col1, ?, ? FROM t2'),
    ("COPY t FROM PROGRAM E'cat /etc/\\'x'", 'COPY t FROM PROGRAM ?'),
    ('DO $body$ BEGIN PERFORM 1; END $body$', 'DO ?'),
    ('SELECT   1\n\n FROM "tbl 7"', 'SELECT ? FROM "tbl 7"'),
    (None, None),
])
def test_redact_statement(text, expected):
    assert pg_health.redact_statement(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=('Cs',), blacklist_characters='\x00'), max_size=40),
       st.sampled_from(["'%s'", "E'%s'", '$q$%s$q$', '$$%s$$']))
def test_redact_statement_never_lets_a_literal_through(content, quoting):
    if quoting.startswith("'"):
        literal = quoting % content.replace("'", "''")
    elif quoting.startswith('E'):
        literal = quoting % content.replace('\\', '\\\\').replace("'", "\\'")
    else:
        if quoting.replace('%s', '') in content or content.endswith('$'):
            return  # not a valid dollar-quoted literal
        literal = quoting % content
    assert pg_health.redact_statement('ALTER ROLE app PASSWORD %s VALID UNTIL $1' % literal) == \
        'ALTER ROLE app PASSWORD ? VALID UNTIL $1'


def test_redact_statement_cuts_long_text():
    assert pg_health.redact_statement('SELECT ' + 'a, ' * 100 + 'b', 30) == 'SELECT a, a, a, a, a, a, a,...'


def test_long_running_query_and_idle_in_transaction(postgres, postgres_db):
    runner = postgres.connect(postgres_db)
    idle = postgres.connect(postgres_db, autocommit=False)
    errors = []

    def long_query():
        try:
            runner.execute('SELECT pg_sleep(60)')
        except psycopg.errors.QueryCanceled:
            pass
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=long_query)
    try:
        idle.execute('SELECT 1')  # opens a transaction and leaves it open
        thread.start()
        # until the query has run 1.2 s (a fixed sleep lost its margin when a loaded machine started the thread late)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = postgres.execute("SELECT extract(epoch FROM now() - query_start) FROM pg_stat_activity "
                                       "WHERE pid = %s AND state = 'active'", (runner.info.backend_pid,))
            if running and running[0][0] is not None and float(running[0][0]) >= 1.2:
                break
            time.sleep(0.05)
        thresholds = with_thresholds(db_long_running_query={'warning': 1, 'critical': 3600, 'unit': 's'},
                                     db_idle_in_transaction={'warning': 0.5, 'critical': 1, 'unit': 's'})
        checks, _server = pg_health.run_pg_checks(params_for(postgres, postgres_db),
                                                  ['long_running', 'idle_in_transaction'], thresholds)
        named = by_name(checks)
        longq = named['pg.long_running_queries']
        assert longq['status'] == 'warning', longq
        assert longq['value'] >= 1.0 and longq['details']['over_threshold'] == 1
        top = longq['details']['top'][0]
        assert top['pid'] == runner.info.backend_pid and top['database'] == postgres_db and top['user'] == 'postgres'
        assert top['query_id'] is not None and 'query' not in top  # identified, never the text
        assert 'pid %d' % runner.info.backend_pid in longq['reason']
        idlec = named['pg.idle_in_transaction']
        assert idlec['status'] == 'critical' and idlec['priority'] == 'medium'
        assert idlec['details']['top'][0]['pid'] == idle.info.backend_pid
        assert idlec['value'] >= 1.0
    finally:
        postgres.execute('SELECT pg_cancel_backend(%s)', (runner.info.backend_pid,))
        thread.join(10)
        runner.close()
        idle.close()
    assert not errors


def test_lock_wait_names_the_blocker(postgres, postgres_db):
    postgres.execute('CREATE TABLE ledger (id int)', dbname=postgres_db)
    holder = postgres.connect(postgres_db, autocommit=False)
    waiter = postgres.connect(postgres_db)
    thread = threading.Thread(target=lambda: waiter.execute('SELECT count(*) FROM ledger'))
    try:
        holder.execute('LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE')
        thread.start()
        assert wait_until(lambda: postgres.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid = %s",
            (waiter.info.backend_pid,))[0][0] == 1)
        thresholds = with_thresholds(db_lock_waits={'warning': 0, 'critical': 5, 'unit': 'sessions'})
        checks, _server = pg_health.run_pg_checks(params_for(postgres, postgres_db), ['lock_waits'], thresholds)
        check = checks[0]
        assert check['status'] == 'warning' and check['value'] == 1
        waiting = check['details']['waiting'][0]
        assert waiting['pid'] == waiter.info.backend_pid and waiting['blocked_by'] == [holder.info.backend_pid]
        assert waiting['lock'] == 'relation'
        assert 'blocked by %d' % holder.info.backend_pid in check['reason']
    finally:
        holder.rollback()
        thread.join(10)
        holder.close()
        waiter.close()


def test_thresholds_force_warning_and_critical(postgres, postgres_db):
    extra = [postgres.connect(postgres_db) for _index in range(3)]
    try:
        thresholds = with_thresholds(
            db_connections_used={'warning': 1, 'critical': 2, 'unit': '%'},
            db_cache_hit_ratio={'warning': 101, 'critical': 100.5, 'direction': 'below', 'unit': '%'},
            db_xid_age={'warning': 1, 'unit': 'xids'},
            db_connect_time={'warning': 0.0000001, 'unit': 's'},
        )
        checks, _server = pg_health.run_pg_checks(params_for(postgres, postgres_db),
                                                  ['connection', 'connections', 'cache_hit_ratio', 'xid_age'], thresholds)
    finally:
        for conn in extra:
            conn.close()
    named = by_name(checks)
    assert named['pg.connections_used']['status'] == 'critical' and named['pg.connections_used']['value'] >= 4
    assert named['pg.connections_used']['priority'] == 'medium'  # one priority given: used for both levels
    assert named['pg.cache_hit_ratio']['status'] == 'critical' and named['pg.cache_hit_ratio']['threshold'] == 100.5
    assert named['pg.xid_age']['status'] == 'warning'
    assert named['pg.connect_time']['status'] == 'warning'
    assert named['pg.connection']['status'] == 'ok'


def test_low_privilege_role_gives_unknown_with_reason(postgres, postgres_db):
    postgres.execute("CREATE ROLE lowpriv_monitor LOGIN PASSWORD 'Low-priv-pw-1'")
    postgres.execute('CREATE EXTENSION pg_stat_statements', dbname=postgres_db)
    try:
        params = params_for(postgres, postgres_db, login_user='lowpriv_monitor', login_password='Low-priv-pw-1')
        checks, server = pg_health.run_pg_checks(params, thresholds=THRESHOLDS)
        named = by_name(checks)
        assert server['can_read_all_stats'] is False
        for name in ('pg.long_running_queries', 'pg.idle_in_transaction', 'pg.lock_waits', 'pg.slow_statements'):
            assert named[name]['status'] == 'unknown', named[name]
            assert 'grant pg_monitor' in named[name]['reason'] and 'lowpriv_monitor' in named[name]['reason']
        for name in ('pg.connection', 'pg.connections_used', 'pg.xid_age', 'pg.cache_hit_ratio', 'pg.replication_lag'):
            assert named[name]['status'] in ('ok', 'warning'), named[name]
        postgres.execute('GRANT pg_monitor TO lowpriv_monitor')
        checks, server = pg_health.run_pg_checks(params, ['long_running', 'slow_statements'], THRESHOLDS)
        assert server['can_read_all_stats'] is True
        assert [c['name'] for c in checks] == ['pg.long_running_queries', 'pg.slow_statements']
        assert checks[0]['status'] == 'ok' and checks[1]['status'] in ('ok', 'warning')  # measured now, not unknown
        assert checks[1]['details']['statements']
    finally:
        postgres.execute('DROP ROLE lowpriv_monitor')


def test_wrong_password_is_critical_and_never_echoed(postgres):
    params = dict(postgres.params, login_password='Wr0ng-pass-never-shown')
    checks, server = pg_health.run_pg_checks(params, ['connection', 'xid_age', 'slow_statements'], THRESHOLDS)
    named = by_name(checks)
    assert server['reachable'] is False
    assert named['pg.connection']['status'] == 'critical' and named['pg.connection']['priority'] == 'high'
    assert 'password authentication failed' in named['pg.connection']['reason']
    assert named['pg.xid_age']['status'] == 'unknown' and 'no connection' in named['pg.xid_age']['reason']
    dumped = json.dumps([checks, server])
    assert 'Wr0ng-pass-never-shown' not in dumped and postgres.password not in dumped


@pytest.mark.slow
def test_stopped_server_is_critical():
    cluster = PostgresCluster(preload=())
    with cluster:
        checks, _server = pg_health.run_pg_checks(cluster.params, ['connection'], THRESHOLDS)
        assert checks[0]['status'] == 'ok'
        cluster.stop()
        checks, server = pg_health.run_pg_checks(cluster.params, ['connection', 'connections'], THRESHOLDS)
    named = by_name(checks)
    assert named['pg.connection']['status'] == 'critical'
    assert 'Connection refused' in named['pg.connection']['reason'] or 'connection refused' in named['pg.connection']['reason']
    assert named['pg.connections_used']['status'] == 'unknown'
    assert server['reachable'] is False


@pytest.mark.slow
def test_replication_lag_of_a_real_standby(postgres, tmp_path):
    """A streaming standby made with pg_basebackup from the session cluster: both sides report."""
    standby = PostgresCluster(preload=())
    datadir = standby.datadir
    standby.init()  # creates the directories; the data directory is replaced by the base backup
    subprocess.run(_run_as() + ['rm', '-rf', datadir], check=True)
    env = postgres.env()
    subprocess.run(_run_as() + ['env', 'PGPASSWORD=%s' % postgres.password,
                                os.path.join(standby.bindir, 'pg_basebackup'), '-h', postgres.host, '-p', str(postgres.port),
                                '-U', postgres.user, '-D', datadir, '-R', '-X', 'stream', '--no-sync',
                                '--checkpoint=fast'], check=True, capture_output=True, env=env)
    with open(os.path.join(datadir, 'postgresql.auto.conf'), 'a') as handle:
        handle.write("port = %d\nunix_socket_directories = '%s'\nshared_preload_libraries = ''\n"
                     "primary_conninfo = 'host=%s port=%d user=%s password=%s application_name=standby1'\n"
                     % (standby.port, standby.socket_dir, postgres.host, postgres.port, postgres.user, postgres.password))
    try:
        standby.start()
        assert wait_until(lambda: postgres.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")[0][0] == 1, 30)
        postgres.execute('CREATE TABLE IF NOT EXISTS replication_probe (id int)')
        postgres.execute('INSERT INTO replication_probe VALUES (1)')
        primary_checks, _server = pg_health.run_pg_checks(postgres.params, ['replication'], THRESHOLDS, {'expected_standbys': 1})
        check = primary_checks[0]
        assert check['status'] == 'ok', check
        assert check['details']['role'] == 'primary' and check['details']['standbys'][0]['application_name'] == 'standby1'
        assert '1 standby(s) connected' in check['reason']
        too_many, _server = pg_health.run_pg_checks(postgres.params, ['replication'], THRESHOLDS, {'expected_standbys': 2})
        assert too_many[0]['status'] == 'critical' and '2 expected' in too_many[0]['reason']
        assert wait_until(lambda: standby.execute('SELECT count(*) FROM replication_probe')[0][0] >= 1, 30)
        standby_checks, server = pg_health.run_pg_checks(standby.params, ['connection', 'replication'], THRESHOLDS)
        named = by_name(standby_checks)
        assert server['in_recovery'] is True and '(standby)' in named['pg.connection']['reason']
        lag = named['pg.replication_lag']
        assert lag['details']['role'] == 'standby' and lag['status'] == 'ok' and lag['value'] >= 0
        assert lag['details']['wal_receiver'] == 'streaming'
    finally:
        standby.destroy()
        postgres.execute('DROP TABLE IF EXISTS replication_probe')
    assert wait_until(lambda: postgres.execute('SELECT count(*) FROM pg_stat_replication')[0][0] == 0, 30)
    alone, _server = pg_health.run_pg_checks(postgres.params, ['replication'], THRESHOLDS, {'expected_standbys': 1})
    assert alone[0]['status'] == 'critical' and 'no standby connected; 1 expected' in alone[0]['reason']
