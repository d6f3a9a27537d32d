"""pg_maintenance against a real PostgreSQL: real dead tuples, real locks, real index bloat."""

import json
import threading
import time

import psycopg
import pytest
from psycopg import sql

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import pg_maintenance as pm


def _params(postgres, db):
    return dict(postgres.params, login_db=db)


def _dead_table(postgres, db, name, rows=20000, delete_every=2):
    ident = sql.Identifier(name)
    with postgres.connect(db) as conn:
        conn.execute(sql.SQL('CREATE TABLE {} (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off)').format(ident))
        conn.execute(sql.SQL("INSERT INTO {} SELECT g, md5(g::text) FROM generate_series(1, %s) g").format(ident), (rows,))
        conn.execute(sql.SQL('DELETE FROM {} WHERE id %% %s = 0').format(ident), (delete_every,))
    _wait_stats(postgres, db, name, rows // delete_every)  # the writer's counters are flushed
    # fresh statistics, so only the dead tuples make it a candidate
    postgres.execute(sql.SQL('ANALYZE {}').format(ident), dbname=db)


def _wait_stats(postgres, db, name, dead, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = postgres.execute('SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s', (name,), dbname=db)
        if rows and rows[0][0] >= dead:
            return
        time.sleep(0.2)
    raise AssertionError('statistics of %s never showed %d dead tuples' % (name, dead))


def _dead(postgres, db, name):
    return postgres.execute('SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s', (name,), dbname=db)[0][0]


def test_vacuum_by_dead_ratio_check_mode_then_real(postgres, postgres_db):
    _dead_table(postgres, postgres_db, 'bloated')
    _dead_table(postgres, postgres_db, 'clean', rows=20000, delete_every=1000)  # 0.1 % dead: left alone
    params = _params(postgres, postgres_db)
    planned = pm.maintain(params, min_dead_ratio=0.2, min_dead_tuples=100, check_mode=True)
    assert [t['table'] for t in planned['tables']] == ['public.bloated']
    assert planned['tables'][0]['status'] == 'planned' and planned['statements'] == []
    assert not planned['changed']
    assert _dead(postgres, postgres_db, 'bloated') >= 10000
    result = pm.maintain(params, min_dead_ratio=0.2, min_dead_tuples=100)
    table = result['tables'][0]
    assert table['status'] == 'done' and table['dead_before'] >= 10000 and table['dead_after'] == 0
    assert result['statements'] == ['VACUUM (ANALYZE) "public"."bloated"']
    assert result['changed']
    work = [c for c in result['checks'] if c['name'] == 'pg_maintenance.work'][0]
    assert work['status'] == 'ok' and '1 of 1' in work['reason']


def test_table_that_cannot_be_locked_is_skipped(postgres, postgres_db):
    _dead_table(postgres, postgres_db, 'busy')
    _dead_table(postgres, postgres_db, 'quiet')
    blocker = postgres.connect(postgres_db, autocommit=False)
    try:
        blocker.execute('LOCK TABLE busy IN SHARE UPDATE EXCLUSIVE MODE')  # what VACUUM needs
        t0 = time.monotonic()
        result = pm.maintain(_params(postgres, postgres_db), min_dead_ratio=0.2, min_dead_tuples=100, lock_timeout=0.3)
        assert time.monotonic() - t0 < 10
    finally:
        blocker.rollback()
        blocker.close()
    status = dict((t['table'], t['status']) for t in result['tables'])
    assert status == {'public.busy': 'skipped', 'public.quiet': 'done'}
    work = [c for c in result['checks'] if c['name'] == 'pg_maintenance.work'][0]
    assert work['status'] == 'warning' and 'public.busy' in work['reason']


def test_time_budget_leaves_work_pending(postgres, postgres_db):
    _dead_table(postgres, postgres_db, 'later')
    result = pm.maintain(_params(postgres, postgres_db), min_dead_ratio=0.2, min_dead_tuples=100, time_budget=0)
    assert [t['status'] for t in result['tables']] == ['pending']
    assert result['statements'] == [] and not result['changed']
    pending = [c for c in result['checks'] if c['name'] == 'pg_maintenance.pending'][0]
    assert pending['status'] == 'warning' and pending['value'] == 1
    assert _dead(postgres, postgres_db, 'later') >= 10000


def _bloated_indexes(postgres, db):
    """Table ``idx`` with two bloated btree indexes (idx_pkey, idx_v): both REINDEX candidates."""
    with postgres.connect(db) as conn:
        conn.execute('CREATE TABLE idx (id int PRIMARY KEY, v int)')
        conn.execute('CREATE INDEX idx_v ON idx (v)')
        conn.execute('INSERT INTO idx SELECT g, g FROM generate_series(1, 100000) g')
        conn.execute('DELETE FROM idx WHERE id % 10 <> 0')
        conn.execute('VACUUM ANALYZE idx')


def test_reindex_concurrently_over_bloat_estimate(postgres, postgres_db):
    _bloated_indexes(postgres, postgres_db)
    params = _params(postgres, postgres_db)
    planned = pm.maintain(params, operations=['analyze'], min_dead_tuples=10 ** 9, reindex=True,
                          reindex_bloat_ratio=0.5, reindex_min_size=100 * 1024, check_mode=True)
    names = sorted(i['index'] for i in planned['indexes'])
    assert names == ['public.idx_pkey', 'public.idx_v']
    assert all(i['bloat_estimate'] >= 50 for i in planned['indexes'])
    result = pm.maintain(params, operations=['analyze'], min_dead_tuples=10 ** 9, reindex=True,
                         reindex_bloat_ratio=0.5, reindex_min_size=100 * 1024)
    for index in result['indexes']:
        assert index['status'] == 'done', index
        assert index['bytes_after'] < index['bytes_before'] / 3
    assert any(s.startswith('REINDEX INDEX CONCURRENTLY') for s in result['statements'])
    # the rebuilt indexes are valid
    assert postgres.execute("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'idx'::regclass",
                            dbname=postgres_db) == [(True,)]


def _invalid(postgres, db):
    return sorted(r[0] for r in postgres.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'idx'::regclass AND NOT i.indisvalid", dbname=db) or [])


@pytest.mark.parametrize('failure', ['lock_timeout', 'time_budget'])
def test_failed_reindex_drops_the_invalid_index_it_left(postgres, postgres_db, failure):
    """An open write transaction makes REINDEX CONCURRENTLY wait after it created <index>_ccnew; it fails (lock
    timeout, or the end of the time budget) and leaves that invalid index. Once the writer is done, the module drops
    it (DROP INDEX CONCURRENTLY) and says so."""
    _bloated_indexes(postgres, postgres_db)
    writer = postgres.connect(postgres_db, autocommit=False)
    writer.execute('INSERT INTO idx VALUES (0, 0)')

    def finish_when_reindex_failed():
        # the REINDEX has failed once an invalid *_ccnew exists and then no REINDEX runs (in that order: the
        # leftover appears while the REINDEX waits for this writer)
        with postgres.connect(postgres_db) as watch:
            for dummy in range(3000):
                left = watch.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'idx'::regclass "
                                     "AND NOT indisvalid").fetchone()[0]
                running = watch.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                        "AND query LIKE 'REINDEX%'").fetchone()[0]
                if left and not running:
                    break
                time.sleep(0.01)
        writer.commit()

    thread = threading.Thread(target=finish_when_reindex_failed)
    thread.start()
    try:
        options = dict(lock_timeout=1.0) if failure == 'lock_timeout' else dict(lock_timeout=10.0, time_budget=1.0)
        result = pm.maintain(_params(postgres, postgres_db), operations=['analyze'], min_dead_tuples=10 ** 9,
                             reindex=True, reindex_bloat_ratio=0.5, reindex_min_size=100 * 1024, **options)
    finally:
        thread.join(60)
        writer.close()
    first = result['indexes'][0]
    assert first['status'] == ('skipped' if failure == 'lock_timeout' else 'cancelled'), first
    assert first['dropped_invalid'] == [first['index'] + '_ccnew'] and first['left_invalid'] == []
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."%s_ccnew"' % first['index'].split('.')[1] in result['statements']
    # the other index: rebuilt once the writer was gone, or left for the next window when the budget is spent
    assert result['indexes'][1]['status'] == ('done' if failure == 'lock_timeout' else 'pending')
    assert _invalid(postgres, postgres_db) == []
    work = [c for c in result['checks'] if c['name'] == 'pg_maintenance.work'][0]
    assert work['status'] == 'warning' and 'dropped the invalid index(es) failed REINDEX left' in work['reason']


def test_invalid_index_that_cannot_be_dropped_is_reported(postgres, postgres_db):
    """The writer stays for the whole run: the REINDEX fails and so does the drop; the leftover is reported with the
    statement that drops it. An invalid *_ccnew from an earlier failure (maybe someone else's rebuild) is left alone."""
    _bloated_indexes(postgres, postgres_db)
    with postgres.connect(postgres_db) as conn:
        conn.execute('SET lock_timeout = 300')
        conn.execute('BEGIN')
        conn.execute('INSERT INTO idx VALUES (-1, -1)')
        conn.execute('COMMIT')
    earlier = postgres.connect(postgres_db, autocommit=False)
    earlier.execute('INSERT INTO idx VALUES (0, 0)')
    with postgres.connect(postgres_db) as conn:  # an earlier failure: an invalid idx_v_ccnew is already there
        conn.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):  # lock_timeout, while `earlier` holds its transaction open
            conn.execute('REINDEX INDEX CONCURRENTLY idx_v')
    assert _invalid(postgres, postgres_db) == ['idx_v_ccnew']
    try:
        result = pm.maintain(_params(postgres, postgres_db), operations=['analyze'], min_dead_tuples=10 ** 9,
                             reindex=True, reindex_bloat_ratio=0.5, reindex_min_size=100 * 1024, lock_timeout=0.3)
    finally:
        earlier.rollback()
        earlier.close()
    left = dict((i['index'], i['left_invalid']) for i in result['indexes'])
    assert all(i['status'] == 'skipped' and i['dropped_invalid'] == [] for i in result['indexes'])
    # idx_v's new leftover got the next free name; the earlier idx_v_ccnew is not in the list
    assert [e['index'] for e in left['public.idx_v']] == ['public.idx_v_ccnew1']
    assert [e['index'] for e in left['public.idx_pkey']] == ['public.idx_pkey_ccnew']
    work = [c for c in result['checks'] if c['name'] == 'pg_maintenance.work'][0]
    assert work['status'] == 'warning'
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_v_ccnew1"' in work['reason']
    assert _invalid(postgres, postgres_db) == ['idx_pkey_ccnew', 'idx_v_ccnew', 'idx_v_ccnew1']
    # the statements returned drop them once nobody writes
    with postgres.connect(postgres_db) as conn:
        for entries in left.values():
            for entry in entries:
                conn.execute(entry['statement'])
    assert _invalid(postgres, postgres_db) == ['idx_v_ccnew']


def test_quoted_names_are_identifiers(postgres, postgres_db):
    _dead_table(postgres, postgres_db, 'odd"; DROP TABLE x; --')
    result = pm.maintain(_params(postgres, postgres_db), min_dead_ratio=0.2, min_dead_tuples=100)
    assert result['tables'][0]['status'] == 'done'
    assert result['statements'] == ['VACUUM (ANALYZE) "public"."odd""; DROP TABLE x; --"']


def test_unreachable_server_is_critical(postgres):
    result = pm.maintain(dict(postgres.params, port=1, connect_timeout=2))
    assert result['checks'][0]['status'] == 'critical'
    assert postgres.password not in json.dumps(result)


def test_plan_orders_by_need():
    rows = [
        {'relid': 1, 'schemaname': 'public', 'relname': 'recent', 'n_live_tup': 100, 'n_dead_tup': 50,
         'n_mod_since_analyze': 0, 'since_vacuum': 3600, 'since_analyze': 3600, 'xid_age': 10, 'total_bytes': 1},
        {'relid': 2, 'schemaname': 'public', 'relname': 'never', 'n_live_tup': 100, 'n_dead_tup': 50,
         'n_mod_since_analyze': 0, 'since_vacuum': None, 'since_analyze': None, 'xid_age': 10, 'total_bytes': 1},
        {'relid': 3, 'schemaname': 'public', 'relname': 'old_xid', 'n_live_tup': 100, 'n_dead_tup': 0,
         'n_mod_since_analyze': 0, 'since_vacuum': 60, 'since_analyze': 60, 'xid_age': 900, 'total_bytes': 1},
        {'relid': 4, 'schemaname': 'public', 'relname': 'fine', 'n_live_tup': 100, 'n_dead_tup': 0,
         'n_mod_since_analyze': 0, 'since_vacuum': 60, 'since_analyze': 60, 'xid_age': 10, 'total_bytes': 1},
    ]
    work = pm.plan(rows, min_dead_ratio=0.1, min_dead_tuples=10, freeze_xid_age=500)
    assert [w['name'] for w in work] == ['old_xid', 'never', 'recent']
    assert work[0]['freeze'] and pm.statement_for is not None
    only = pm.plan(rows, tables=['public.recent'], min_dead_ratio=0.1, min_dead_tuples=10)
    assert [w['name'] for w in only] == ['recent']
    assert pm.plan(rows, min_dead_ratio=0.1, min_dead_tuples=10, vacuum_age=7200)[0]['name'] == 'never'


@pytest.mark.parametrize('row,low,high', [
    ({'block_size': 8192, 'bytes': 8192 * 100, 'reltuples': 0, 'key_width': 4}, 0.95, 1.0),
    ({'block_size': 8192, 'bytes': 8192 * 30, 'reltuples': 10000, 'key_width': 4}, 0.0, 0.2),
])
def test_index_bloat_estimate(row, low, high):
    assert low <= pm.estimate_index_bloat(row) <= high


def _tables_check(result):
    found = [c for c in result['checks'] if c['name'] == 'pg_maintenance.tables']
    assert len(found) == 1, [c['name'] for c in result['checks']]
    return found[0]


@pytest.mark.parametrize('check_mode', [True, False])
def test_misspelled_table_is_critical_naming_it_and_the_closest_table(postgres, postgres_db, check_mode):
    # "maintained 0 of 0", ok, for a table that does not exist: the job would go green for ever
    _dead_table(postgres, postgres_db, 'orders')
    result = pm.maintain(_params(postgres, postgres_db), tables=['public.ordres', 'nosuchschema.orders', 'orders'],
                         min_dead_ratio=0.2, min_dead_tuples=100, check_mode=check_mode)
    check = _tables_check(result)
    assert check['status'] == 'critical'
    assert 'public.ordres' in check['reason'] and 'did you mean public.orders' in check['reason']
    assert 'schema nosuchschema does not exist' in check['reason']
    assert check['value'] == 2
    # the tables that exist are still maintained
    assert [t['table'] for t in result['tables']] == ['public.orders']
    assert result['tables'][0]['status'] == ('planned' if check_mode else 'done')


def test_all_named_tables_exist_gives_an_ok_tables_check(postgres, postgres_db):
    _dead_table(postgres, postgres_db, 'present', rows=200, delete_every=1000)
    result = pm.maintain(_params(postgres, postgres_db), tables=['present', 'public.present'])
    check = _tables_check(result)
    assert check['status'] == 'ok' and check['value'] == 0


@pytest.mark.parametrize('option', ['min_dead_ratio', 'reindex_bloat_ratio'])
@pytest.mark.parametrize('value', [float('nan'), float('inf'), -0.1, 1.5])
def test_ratio_options_that_no_table_can_reach_are_refused(option, value):
    # min_dead_ratio: nan made every "ratio >= limit" false: nothing vacuumed, "maintained 0 of 0", ok
    with pytest.raises(pm.MaintenanceError, match='%s must be a number from 0 to 1' % option):
        pm.maintain({'login_host': '/nonexistent'}, **{option: value})
