"""session_cleanup against a real PostgreSQL, a real Redis and real files held open by a real child process."""

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import session_cleanup as sc
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError


def _params(postgres, db):
    params = dict(postgres.params)
    params['login_db'] = db
    return params


def _make_sessions(postgres, db, rows, expired_share=0.5, table='sessions'):
    """``rows`` sessions, ``expired_share`` of them expired (1 h ago), the rest live for 1 h."""
    with postgres.connect(db) as conn:
        conn.execute(sql.SQL('CREATE TABLE {} (id bigserial PRIMARY KEY, user_id int NOT NULL, '
                             'expires_at timestamptz NOT NULL, data text)').format(sql.Identifier(table)))
        conn.execute(sql.SQL('CREATE INDEX ON {} (expires_at)').format(sql.Identifier(table)))
        every = max(int(round(1 / expired_share)), 1) if expired_share else 0
        conn.execute(sql.SQL("INSERT INTO {} (user_id, expires_at, data) SELECT g %% 1000, "
                             "now() + CASE WHEN %s > 0 AND g %% %s = 0 THEN interval '-1 hour' ELSE interval '1 hour' END, "
                             "repeat('x', 64) FROM generate_series(1, %s) g").format(sql.Identifier(table)),
                     (every, max(every, 1), rows))
        conn.execute(sql.SQL('ANALYZE {}').format(sql.Identifier(table)))


def _counts(postgres, db, table='sessions'):
    rows = postgres.execute(sql.SQL('SELECT count(*) FILTER (WHERE expires_at < now()), '
                                    'count(*) FILTER (WHERE expires_at >= now()) FROM {}').format(sql.Identifier(table)),
                            dbname=db)
    return rows[0]


# ------------------------------------------------------------------------------------------------ PostgreSQL
@pytest.mark.slow
@pytest.mark.parametrize('order', ['expiry', 'physical', 'auto'])
def test_purge_200k_with_concurrent_writer_keeps_logins_working(postgres, postgres_db, order):
    """200 k sessions, half expired; a writer inserts and touches live sessions during the whole purge."""
    _make_sessions(postgres, postgres_db, 200000)
    expired_before, live_before = _counts(postgres, postgres_db)
    assert expired_before == 100000 and live_before == 100000

    stop = threading.Event()
    started = threading.Event()
    latencies, errors, inserted = [], [], []

    def writer():
        with postgres.connect(postgres_db) as conn:
            conn.execute("SET statement_timeout = '5s'")
            i = 0
            started.set()
            while not stop.is_set():
                i += 1
                t0 = time.perf_counter()
                try:
                    with conn.transaction():
                        cur = conn.execute("INSERT INTO sessions (user_id, expires_at, data) "
                                           "VALUES (%s, now() + interval '1 hour', 'new') RETURNING id", (i,))
                        inserted.append(cur.fetchone()[0])
                        # touch a live session (a login refreshing its expiry)
                        conn.execute("UPDATE sessions SET expires_at = now() + interval '2 hours' "
                                     "WHERE id = (SELECT id FROM sessions WHERE id %% 2 = 1 AND id < 200000 "
                                     "ORDER BY id OFFSET %s LIMIT 1)", (i % 50000,))
                except psycopg.Error as exc:  # any error is a blocked login
                    errors.append(repr(exc))
                latencies.append(time.perf_counter() - t0)

    thread = threading.Thread(target=writer)
    thread.start()
    started.wait(10)
    time.sleep(0.2)
    try:
        result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at', batch_size=5000,
                                   pause=0.0, lock_timeout=2.0, statement_timeout=30.0, vacuum='never', order=order)
    finally:
        stop.set()
        thread.join(30)
    assert errors == []
    assert result['stopped'] == 'done', result
    assert result['deleted'] == 100000
    assert result['remaining_expired'] == 0
    assert result['batches'] >= 20
    expired_after, live_after = _counts(postgres, postgres_db)
    assert expired_after == 0
    assert live_after == live_before + len(inserted)
    assert len(latencies) > 20, 'the writer must have run during the purge'
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    # Bounded latency on a shared 2-core machine: no write waits for the purge's locks.
    assert p99 < 0.25, 'writer p99 %.3f s (median %.4f s)' % (p99, statistics.median(latencies))
    assert max(latencies) < 2.0
    # half the table expired: auto takes block order
    assert result['order'] == ('expiry' if order == 'expiry' else 'physical')
    delete = [s for s in result['statements'] if 'DELETE FROM' in s['statement']]
    # the writer only touches live sessions: no batch met a held row, so every batch was one plain DELETE of
    # expired rows (no FOR UPDATE pass), over block ranges or the oldest rows by expiry
    assert result['skip_locked_retries'] == 0
    assert len(delete) == 1 and 'FOR UPDATE' not in delete[0]['statement']
    assert ('ctid >=' in delete[0]['statement']) == (result['order'] == 'physical')
    assert delete[0]['runs'] == result['batches']
    # nothing was counted in full: the table was only estimated (EXPLAIN) and deleted from
    assert not any(s['statement'].startswith('SELECT count(*)') for s in result['statements'])


def test_check_mode_deletes_nothing(postgres, postgres_db):
    _make_sessions(postgres, postgres_db, 2000)
    before = _counts(postgres, postgres_db)
    result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at', check_mode=True)
    assert _counts(postgres, postgres_db) == before
    assert result['would_delete'] == before[0] == 1000
    assert result['deleted'] == 0 and not result['changed']
    assert not any('DELETE' in s['statement'] or 'VACUUM' in s['statement'] for s in result['statements'])


@pytest.mark.parametrize('order', ['expiry', 'physical'])
def test_time_budget_and_max_batches_stop_cleanly(postgres, postgres_db, order):
    _make_sessions(postgres, postgres_db, 4000)
    params = _params(postgres, postgres_db)
    result = sc.purge_postgres(params, 'sessions', 'id', 'expires_at', batch_size=100, max_batches=3, vacuum='never',
                               order=order)
    assert result['stopped'] == 'max_batches' and result['batches'] == 3
    if order == 'expiry':
        assert result['deleted'] == 300
    else:  # block ranges sized to about one batch
        assert 150 <= result['deleted'] <= 600
    first = result['deleted']
    # what remains is counted where the purge did not get to, and matches the table
    assert result['remaining_expired'] == 2000 - first == _counts(postgres, postgres_db)[0]
    assert result['expired_before'] == 2000
    result = sc.purge_postgres(params, 'sessions', 'id', 'expires_at', batch_size=10, pause=0.05, time_budget=0.3,
                               vacuum='never', order=order)
    assert result['stopped'] == 'time_budget'
    assert 0 < result['deleted'] < 2000 - first
    assert result['remaining_expired'] == 2000 - first - result['deleted'] == _counts(postgres, postgres_db)[0]


def test_grace_and_lifetime(postgres, postgres_db):
    with postgres.connect(postgres_db) as conn:
        conn.execute('CREATE TABLE s (k text PRIMARY KEY, last_seen timestamptz)')
        conn.execute("INSERT INTO s VALUES ('old', now() - interval '3 hours'), ('grace', now() - interval '40 minutes'),"
                     " ('fresh', now())")
    # lifetime 30 min + grace 15 min: only 'old' (3 h idle) is expired; 'grace' (40 min idle) is within grace
    result = sc.purge_postgres(_params(postgres, postgres_db), 's', 'k', 'last_seen', lifetime=1800, grace=900,
                               vacuum='always')
    assert result['deleted'] == 1 and result['vacuumed']
    assert sorted(r[0] for r in postgres.execute('SELECT k FROM s', dbname=postgres_db)) == ['fresh', 'grace']


def _make_naive_utc_sessions(postgres, db):
    """600 sessions the way Rails stores them: ``timestamp without time zone`` holding UTC wall time; 60 expired
    (1 h ago), 540 live for 1 to 8 more hours."""
    with postgres.connect(db) as conn:
        conn.execute('CREATE TABLE sessions (id int PRIMARY KEY, expires_at timestamp NOT NULL)')
        conn.execute('CREATE INDEX ON sessions (expires_at)')
        conn.execute("INSERT INTO sessions SELECT g, (now() AT TIME ZONE 'UTC') + CASE WHEN g <= 60 "
                     "THEN interval '-1 hour' ELSE (1 + g % 8) * interval '1 hour' END FROM generate_series(1, 600) g")
        conn.execute('ANALYZE sessions')


def _naive_utc_counts(postgres, db):
    return postgres.execute("SELECT count(*) FILTER (WHERE expires_at < now() AT TIME ZONE 'UTC'), "
                            "count(*) FILTER (WHERE expires_at >= now() AT TIME ZONE 'UTC') FROM sessions", dbname=db)[0]


@pytest.mark.parametrize('order', ['expiry', 'physical'])
def test_naive_utc_sessions_survive_a_database_in_tokyo(postgres, postgres_db, order):
    """Reproduction (issue 15): with the database's TimeZone at Asia/Tokyo the cutoff was a timestamptz compared
    with the naive column read as Tokyo time, nine hours off: 540 of 600 live sessions were deleted."""
    _make_naive_utc_sessions(postgres, postgres_db)
    postgres.execute(sql.SQL("ALTER DATABASE {} SET timezone = 'Asia/Tokyo'").format(sql.Identifier(postgres_db)))
    params = _params(postgres, postgres_db)
    before = _naive_utc_counts(postgres, postgres_db)
    assert before == (60, 540)
    check = sc.purge_postgres(params, 'sessions', 'id', 'expires_at', check_mode=True, order=order)
    assert _naive_utc_counts(postgres, postgres_db) == before
    assert check['would_delete'] == 60, check['checks']
    result = sc.purge_postgres(params, 'sessions', 'id', 'expires_at', vacuum='never', order=order)
    assert result['deleted'] == 60 and result['stopped'] == 'done', result['checks']
    assert _naive_utc_counts(postgres, postgres_db) == (0, 540)


def test_naive_utc_sessions_survive_pgtz_on_the_control_node(postgres, postgres_db, monkeypatch):
    """Reproduction (issue 15): PGTZ=Asia/Tokyo in the environment of the module sets the session's TimeZone."""
    _make_naive_utc_sessions(postgres, postgres_db)
    monkeypatch.setenv('PGTZ', 'Asia/Tokyo')
    params = _params(postgres, postgres_db)
    check = sc.purge_postgres(params, 'sessions', 'id', 'expires_at', check_mode=True)
    assert check['would_delete'] == 60, check['checks']
    result = sc.purge_postgres(params, 'sessions', 'id', 'expires_at', vacuum='never')
    assert result['deleted'] == 60, result['checks']
    assert _naive_utc_counts(postgres, postgres_db) == (0, 540)


def test_naive_sessions_in_the_application_zone(postgres, postgres_db):
    """An application storing New York wall time (UTC-5/-4) in a naive column, the database in UTC: read as UTC the
    live sessions of the next hours look expired; stored_time_zone says how to read them."""
    with postgres.connect(postgres_db) as conn:
        conn.execute('CREATE TABLE sessions (id int PRIMARY KEY, expires_at timestamp NOT NULL)')
        conn.execute("INSERT INTO sessions SELECT g, (now() AT TIME ZONE 'America/New_York') + CASE WHEN g <= 10 "
                     "THEN interval '-10 minutes' ELSE interval '2 hours' END FROM generate_series(1, 50) g")
    result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at',
                               stored_time_zone='America/New_York', vacuum='never')
    assert result['deleted'] == 10, result['checks']
    assert result['column_type'] == 'timestamp without time zone'
    assert result['stored_time_zone'] == 'America/New_York'
    assert 'America/New_York' in result['checks'][0]['reason']
    assert postgres.execute('SELECT count(*) FROM sessions', dbname=postgres_db) == [(40,)]


@pytest.mark.parametrize('zone', ['Mars/Olympus_Mons', 'EST5EDT,M3.2.0,M11.1.0', 'UTC+5', ''])
def test_unknown_stored_time_zone_is_refused_by_name(postgres, postgres_db, zone):
    """Only IANA names PostgreSQL knows (pg_timezone_names): POSIX strings such as UTC+5 mean UTC-5 to PostgreSQL."""
    _make_naive_utc_sessions(postgres, postgres_db)
    if not zone:
        with pytest.raises(MaintenanceError, match='stored_time_zone'):
            sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at', stored_time_zone=zone)
        return
    result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at', stored_time_zone=zone)
    check = result['checks'][0]
    assert check['status'] == 'critical' and 'stored_time_zone' in check['reason'] and zone in check['reason']
    assert result['deleted'] == 0
    assert postgres.execute('SELECT count(*) FROM sessions', dbname=postgres_db) == [(600,)]


@pytest.mark.parametrize('column_type,fmt,hint', [
    ('bigint', 'timestamp', 'epoch'),
    ('timestamptz', 'epoch', 'timestamp'),
    ('timestamp', 'epoch_ms', 'timestamp'),
    ('date', 'timestamp', 'date'),
    ('text', 'timestamp', 'text'),
])
def test_column_type_and_expiry_format_must_agree(postgres, postgres_db, column_type, fmt, hint):
    with postgres.connect(postgres_db) as conn:
        conn.execute('CREATE TABLE sessions (id int PRIMARY KEY, expires_at %s)' % column_type)
    result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at', expiry_format=fmt)
    check = result['checks'][0]
    assert check['status'] == 'critical' and 'expiry_format' in check['reason'] and hint in check['reason'], check
    assert result['column_type'] is not None


def test_lock_timeout_is_reported_not_waited(postgres, postgres_db):
    _make_sessions(postgres, postgres_db, 100)
    blocker = postgres.connect(postgres_db, autocommit=False)
    try:
        # EXCLUSIVE lets SELECTs through but blocks DELETE and SELECT ... FOR UPDATE
        blocker.execute('LOCK TABLE sessions IN EXCLUSIVE MODE')
        t0 = time.monotonic()
        result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at',
                                   lock_timeout=0.2, statement_timeout=5, vacuum='never', sleep=lambda s: None)
        assert time.monotonic() - t0 < 4
    finally:
        blocker.rollback()
        blocker.close()
    assert result['stopped'] == 'lock_timeout'
    assert result['lock_timeouts'] == sc.MAX_LOCK_TIMEOUTS
    # each try: the plain DELETE gave up after ROW_LOCK_WAIT, the SKIP LOCKED form after lock_timeout
    assert result['skip_locked_retries'] == sc.MAX_LOCK_TIMEOUTS
    assert result['deleted'] == 0 and result['remaining_expired'] == 50
    purge = result['checks'][0]
    assert purge['status'] == 'warning' and 'lock timeouts' in purge['reason']
    # the probe itself blocked (ACCESS EXCLUSIVE): a critical check with the reason, no traceback
    blocker = postgres.connect(postgres_db, autocommit=False)
    try:
        blocker.execute('LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE')
        result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at', lock_timeout=0.2)
    finally:
        blocker.rollback()
        blocker.close()
    assert result['checks'][0]['status'] == 'critical' and 'lock timeout' in result['checks'][0]['reason']


def _make_ordered_sessions(postgres, db, rows=200):
    """``rows`` sessions whose expiry follows the id (and the physical order): ids up to rows/2 expired, oldest first,
    one minute apart; the others live."""
    with postgres.connect(db) as conn:
        conn.execute('CREATE TABLE sessions (id int PRIMARY KEY, expires_at timestamptz NOT NULL, data text)')
        conn.execute('CREATE INDEX ON sessions (expires_at)')
        conn.execute("INSERT INTO sessions SELECT g, now() + (g - %s) * interval '1 minute', 'x' "
                     "FROM generate_series(1, %s) g", (rows // 2 + 0.5, rows))
        conn.execute('ANALYZE sessions')


@pytest.mark.parametrize('order', ['expiry', 'physical'])
def test_row_held_by_a_login_is_skipped_not_waited_for(postgres, postgres_db, order):
    """A login holds an expired session for the whole purge: the batch waits ROW_LOCK_WAIT, runs again with
    SKIP LOCKED, tries the row once more at the end, and counts it as remaining; the login then extends it."""
    _make_ordered_sessions(postgres, postgres_db)
    login = postgres.connect(postgres_db, autocommit=False)
    try:
        login.execute('SELECT * FROM sessions WHERE id = 20 FOR UPDATE')  # expired, in the first batch
        t0 = time.monotonic()
        result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at', batch_size=30,
                                   vacuum='never', order=order)
        took = time.monotonic() - t0
        login.execute("UPDATE sessions SET expires_at = now() + interval '1 hour' WHERE id = 20")
        login.commit()
    finally:
        login.close()
    assert result['stopped'] == 'done', result['checks']
    assert result['deleted'] == 99 and result['remaining_expired'] == 1 and result['expired_before'] == 100
    # one fallback in the pass, one more when the span was tried again at the end
    assert result['skip_locked_retries'] == 2
    assert took < 3, 'the purge must not wait for the login (took %.1f s)' % took
    locked = [s for s in result['statements'] if 'SKIP LOCKED' in s['statement']]
    assert locked and all(s['statement'].startswith(('DELETE', 'WITH')) for s in locked)
    assert 'held by others were skipped' in result['checks'][0]['reason']
    assert postgres.execute('SELECT id FROM sessions WHERE id <= 100 ORDER BY id', dbname=postgres_db) == [(20,)]


@pytest.mark.parametrize('order', ['expiry', 'physical'])
def test_row_released_before_the_second_try_is_deleted(postgres, postgres_db, order):
    _make_ordered_sessions(postgres, postgres_db)
    login = postgres.connect(postgres_db, autocommit=False)
    calls = []

    def pause(seconds):
        calls.append(seconds)
        if len(calls) == 1:
            login.rollback()  # after the first batch (which skipped the row) the login is done with the session

    try:
        login.execute('SELECT * FROM sessions WHERE id = 20 FOR UPDATE')
        result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at', batch_size=30,
                                   pause=0.001, vacuum='never', order=order, sleep=pause)
    finally:
        login.close()
    assert result['stopped'] == 'done'
    assert result['deleted'] == 100 and result['remaining_expired'] == 0
    assert result['skip_locked_retries'] == 1
    assert _counts(postgres, postgres_db) == (0, 100)


@pytest.mark.parametrize('order', ['expiry', 'physical'])
def test_login_waiting_for_a_row_of_the_batch_is_let_through(postgres, postgres_db, order, monkeypatch):
    """The batch deleted row 5, then waits for row 20 which a login holds; the login now wants row 5 (waits for
    the batch): a deadlock, until the batch's row lock wait runs out (well before deadlock_timeout) and it gives way."""
    # The batch's row lock wait must end before deadlock detection would: with the default 1 s deadlock_timeout a
    # 0.5 s wait left a loaded 2-core machine too little time to get the login's UPDATE in (flaky). This database
    # detects deadlocks after 20 s, so a 4 s wait shows the same give-way with room to spare: the watcher below may be
    # scheduled late on a loaded machine, and the login must still start its UPDATE while the batch holds row 5.
    monkeypatch.setattr(sc, 'ROW_LOCK_WAIT', 4.0)
    postgres.execute("ALTER DATABASE %s SET deadlock_timeout = '20s'" % postgres_db)
    _make_ordered_sessions(postgres, postgres_db)
    login = postgres.connect(postgres_db, autocommit=False)
    outcome = {}

    def login_session():
        with postgres.connect(postgres_db) as watch:
            for dummy in range(500):
                waiting = watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                        "AND query LIKE %s", ('%DELETE FROM%',)).fetchone()[0]
                if waiting:
                    break
                time.sleep(0.01)
        t0 = time.monotonic()
        try:
            outcome['extended'] = login.execute(
                "UPDATE sessions SET expires_at = now() + interval '1 hour' WHERE id = 5").rowcount
            login.commit()
        except psycopg.Error as exc:
            outcome['error'] = repr(exc)
        outcome['waited'] = time.monotonic() - t0

    try:
        login.execute("UPDATE sessions SET expires_at = now() + interval '1 hour' WHERE id = 20")
        thread = threading.Thread(target=login_session)
        thread.start()
        # lock_timeout caps the row lock wait (min of the two): above ROW_LOCK_WAIT here
        result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at', batch_size=100,
                                   vacuum='never', order=order, lock_timeout=5.0)
        thread.join(30)
    finally:
        login.close()
    assert 'error' not in outcome, outcome
    # the login did wait for the batch (which held row 5), and less than deadlock_timeout: the batch gave way after
    # ROW_LOCK_WAIT, nobody was aborted
    assert 0.1 < outcome['waited'] < 20.0, outcome
    assert result['stopped'] == 'done' and result['skip_locked_retries'] >= 1
    # Row 20, held by the login for the whole purge, is kept; every other expired session the login did not extend
    # went. Row 5 is a race the purge may fairly win: when the batch gives way, the login's UPDATE and the SKIP LOCKED
    # retry both want the row; if the retry locks it first it deletes a session that was still expired (the login's
    # extension had not happened), and the login's UPDATE then finds no row (rowcount 0), as it would after any purge.
    # What must never happen is the loss of a committed extension: extended (rowcount 1) means kept, and live.
    kept = postgres.execute('SELECT id, expires_at > now() FROM sessions WHERE id <= 100 ORDER BY id',
                            dbname=postgres_db)
    if outcome['extended']:
        assert kept == [(5, True), (20, True)], (kept, outcome)
    else:
        assert kept == [(20, True)], (kept, outcome)


@pytest.mark.parametrize('column_type,fmt,value', [
    ('timestamptz', 'timestamp', 'to_timestamp(x)'),
    ('timestamp', 'timestamp', "(to_timestamp(x) AT TIME ZONE 'UTC')"),
    ('numeric(20,6)', 'epoch', 'x::numeric(20,6)'),
    ('bigint', 'epoch_ms', '(x * 1000)::bigint'),
])
def test_expiry_order_goes_span_by_span_and_cuts_bunched_expiries(postgres, postgres_db, column_type, fmt, value):
    """2000 sessions expired one minute apart, and a mass logout: 2000 more expiring within one second. Expiry
    order learns the span of one batch and deletes span by span; the planner's estimate keeps the spans ahead of
    the bunch from growing into one batch of thousands."""
    with postgres.connect(postgres_db) as conn:
        conn.execute('CREATE TABLE sessions (id int PRIMARY KEY, expires_at %s NOT NULL)' % column_type)
        conn.execute('CREATE INDEX ON sessions (expires_at)')
        conn.execute('INSERT INTO sessions SELECT g, ' + value + ' FROM (SELECT g, CASE '
                     'WHEN g <= 2000 THEN extract(epoch FROM now()) - (2001 - g) * 60 '
                     'WHEN g <= 4000 THEN extract(epoch FROM now()) - 1000 * 60 + (g - 2000) * 0.0005 '
                     'ELSE extract(epoch FROM now()) + 3600 + g END AS x FROM generate_series(1, 5000) g) v')
        conn.execute('ANALYZE sessions')
    condition = {'timestamp': 'expires_at < now()', 'epoch': 'expires_at < extract(epoch FROM now())',
                 'epoch_ms': 'expires_at < extract(epoch FROM now()) * 1000'}[fmt]
    sizes, left = [], [4000]

    def after_batch(seconds):
        now_left = postgres.execute('SELECT count(*) FROM sessions WHERE ' + condition, dbname=postgres_db)[0][0]
        sizes.append(left[0] - now_left)
        left[0] = now_left

    result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at', expiry_format=fmt,
                               batch_size=100, pause=0.001, vacuum='never', order='expiry', sleep=after_batch)
    assert result['stopped'] == 'done' and result['deleted'] == 4000 and result['remaining_expired'] == 0
    assert postgres.execute('SELECT count(*) FROM sessions', dbname=postgres_db) == [(1000,)]
    assert sum(sizes) == 4000
    # no batch swallowed the bunch (without the estimate check the span before it takes about 2100 rows at once;
    # with it the largest batch is about 300: estimates are estimates)
    assert max(sizes) <= 500, sizes
    runs = dict((entry['statement'].split()[0] + (' between' if '< %(hi)s' in entry['statement'] else ''),
                 entry['runs']) for entry in result['statements'])
    assert runs['DELETE between'] > runs['WITH'], runs   # mostly spans, few batches of rows


def test_auto_order_follows_the_planner_estimate():
    assert sc.choose_order('auto', 150000, 2000000, 1000000, 5000)[0] == 'physical'
    assert sc.choose_order('auto', 150000, 2000000, 1000000, 5000, correlation=0.01)[0] == 'physical'
    # old sessions first in the table: expiry order is sequential too, and keeps the oldest-first order
    assert sc.choose_order('auto', 150000, 2000000, 1000000, 5000, correlation=0.92)[0] == 'expiry'
    assert sc.choose_order('auto', 150000, 2000000, 1000000, 5000, correlation=-0.95)[0] == 'expiry'
    assert sc.choose_order('auto', 150000, 2000000, 150000, 5000)[0] == 'expiry'     # 7.5 %: oldest first
    assert sc.choose_order('auto', 150000, 20000, 4000, 5000)[0] == 'expiry'         # one batch
    assert sc.choose_order('auto', 150000, 0, 0, 5000)[0] == 'expiry'
    assert sc.choose_order('auto', 130000, 2000000, 1000000, 5000) == (
        'expiry', 'PostgreSQL 130000 has no TID range scan')
    assert sc.choose_order('physical', 130000, 10, 10, 5000)[0] == 'expiry'
    assert sc.choose_order('physical', 150000, 10, 10, 5000, plain=False)[0] == 'expiry'
    assert sc.choose_order('expiry', 150000, 2000000, 1000000, 5000) == ('expiry', 'requested')
    assert sc.choose_order('auto', 150000, 2000000, 1000000, 5000, correlation=0.5)[1] == (
        'planner estimate: 1000000 of 2000000 rows expired (50%), expiry correlation 0.50')


@pytest.mark.parametrize('order', ['auto', 'physical'])
def test_partitioned_table_is_purged_in_expiry_order(postgres, postgres_db, order):
    """Block ranges mean nothing across partitions (the parent has no blocks of its own): expiry order, in batches."""
    with postgres.connect(postgres_db) as conn:
        conn.execute('CREATE TABLE sessions (id int, expires_at timestamptz NOT NULL) PARTITION BY HASH (id)')
        conn.execute('CREATE TABLE sessions_0 PARTITION OF sessions FOR VALUES WITH (MODULUS 2, REMAINDER 0)')
        conn.execute('CREATE TABLE sessions_1 PARTITION OF sessions FOR VALUES WITH (MODULUS 2, REMAINDER 1)')
        conn.execute('CREATE INDEX ON sessions (expires_at)')
        conn.execute("INSERT INTO sessions SELECT g, now() + (g % 2 * 2 - 1) * g * interval '1 second' "
                     "FROM generate_series(1, 4000) g")
        conn.execute('ANALYZE sessions')
    result = sc.purge_postgres(_params(postgres, postgres_db), 'sessions', 'id', 'expires_at', batch_size=100,
                               vacuum='never', order=order)
    assert result['order'] == 'expiry' and 'partitioned' in result['order_reason']
    assert result['stopped'] == 'done' and result['deleted'] == 2000 and result['batches'] >= 15
    assert _counts(postgres, postgres_db) == (0, 2000)


def test_unreachable_server_is_a_critical_check(postgres):
    params = dict(postgres.params, port=1, connect_timeout=2)
    result = sc.purge_postgres(params, 'sessions', 'id', 'expires_at')
    assert result['checks'][0]['status'] == 'critical'
    assert postgres.password not in json.dumps(result)


@pytest.mark.parametrize('table,key,expiry', [
    ('sess"; DROP TABLE canary; --', 'id', 'expires_at'),
    ('with space', 'key col', 'exp"iry'),
    ("o'hara", 'id); DELETE FROM canary; --', 'expires_at'),
])
def test_identifiers_cannot_inject_sql(postgres, postgres_db, table, key, expiry):
    with postgres.connect(postgres_db) as conn:
        conn.execute('CREATE TABLE canary (x int)')
        conn.execute('INSERT INTO canary VALUES (1)')
        conn.execute(sql.SQL("CREATE TABLE {} ({} bigserial PRIMARY KEY, {} timestamptz)").format(
            sql.Identifier(table), sql.Identifier(key), sql.Identifier(expiry)))
        conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES (now() - interval '1 day'), (now() + interval '1 day')").format(
            sql.Identifier(table), sql.Identifier(expiry)))
    params = _params(postgres, postgres_db)
    result = sc.purge_postgres(params, table, key, expiry, schema='public')
    assert result['deleted'] == 1, result['checks']
    # a name that does not exist: a critical check, nothing executed
    result = sc.purge_postgres(params, 'canary; DROP TABLE canary', key, expiry)
    assert result['checks'][0]['status'] == 'critical'
    assert postgres.execute('SELECT count(*) FROM canary', dbname=postgres_db) == [(1,)]
    assert postgres.execute(sql.SQL('SELECT count(*) FROM {}').format(sql.Identifier(table)), dbname=postgres_db) == [(1,)]


def test_bad_input_is_a_clear_error():
    with pytest.raises(MaintenanceError, match='batch_size'):
        sc.purge_postgres({}, 'sessions', 'id', 'expires_at', batch_size=0)
    with pytest.raises(MaintenanceError, match='expiry_format'):
        sc.build_statements('s', 'id', 'e', expiry_format='weird')
    with pytest.raises(MaintenanceError, match='key_column'):
        sc.build_statements('s', ' ', 'e')


# ------------------------------------------------------------------------------------------------ property
@pytest.fixture(scope='module')
def property_db(postgres):
    name = 't_session_property'
    postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % name)
    postgres.create_database(name)
    yield name
    postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.floats(min_value=-7200, max_value=7200, allow_nan=False), min_size=1, max_size=60),
       grace=st.floats(min_value=0, max_value=3600, allow_nan=False),
       batch=st.integers(min_value=1, max_value=40),
       fmt=st.sampled_from(['timestamp', 'epoch', 'epoch_ms']),
       order=st.sampled_from(['expiry', 'physical', 'auto']))
def test_no_live_session_is_ever_deleted(postgres, property_db, offsets, grace, batch, fmt, order):
    """Over random expiry times, grace periods and batch sizes: every deleted row was expired beyond its grace
    at the moment of the purge, and every row expired beyond grace before the purge is gone."""
    column_type = 'timestamptz' if fmt == 'timestamp' else ('double precision' if fmt == 'epoch' else 'bigint')
    with postgres.connect(property_db) as conn:
        conn.execute('DROP TABLE IF EXISTS prop')
        conn.execute('CREATE TABLE prop (id int PRIMARY KEY, offset_s double precision, expiry %s)' % column_type)
        t0 = conn.execute('SELECT extract(epoch FROM clock_timestamp())::float8').fetchone()[0]
        rows = []
        for i, offset in enumerate(offsets):
            at = t0 + offset
            rows.append((i, offset, at if fmt != 'epoch_ms' else int(at * 1000)))
        value = 'to_timestamp(%s)' if fmt == 'timestamp' else '%s'
        with conn.cursor() as cur:
            cur.executemany('INSERT INTO prop VALUES (%s, %s, ' + value + ')', rows)
    params = _params(postgres, property_db)
    result = sc.purge_postgres(params, 'prop', 'id', 'expiry', expiry_format=fmt, grace=grace, batch_size=batch,
                               vacuum='never', order=order)
    t_end = postgres.execute('SELECT extract(epoch FROM clock_timestamp())::float8', dbname=property_db)[0][0]
    left = dict(postgres.execute('SELECT id, offset_s FROM prop', dbname=property_db) or [])
    deleted = set(range(len(offsets))) - set(left)
    slack = 0.002 if fmt == 'epoch_ms' else 0.0  # millisecond rounding of epoch_ms values
    for i in deleted:
        # deleted => expired beyond grace when deleted (now() <= t_end)
        assert t0 + offsets[i] - slack < t_end - grace, (offsets[i], grace)
    for i, offset in left.items():
        # kept => not expired beyond grace when the purge started (its now() >= t0)
        assert offset >= -grace - 1e-6, (offset, grace)
    assert result['deleted'] == len(deleted)
    assert result['stopped'] == 'done'
    # nothing held the rows: everything expired at the start went, and the accounting says so
    assert result['remaining_expired'] == 0 and result['expired_before'] == result['deleted']


# ------------------------------------------------------------------------------------------------ time zones
# Positive and negative offsets, half- and three-quarter-hour offsets, DST in both hemispheres (Lord Howe: 30 min).
ZONES = ['UTC', 'Asia/Tokyo', 'Pacific/Kiritimati', 'Pacific/Pago_Pago', 'America/Los_Angeles', 'America/New_York',
         'America/St_Johns', 'America/Sao_Paulo', 'Asia/Kolkata', 'Asia/Kathmandu', 'Europe/Berlin',
         'Australia/Adelaide', 'Australia/Lord_Howe', 'Pacific/Chatham']
DST_ZONES = ['America/Los_Angeles', 'America/St_Johns', 'Europe/Berlin', 'Australia/Adelaide', 'Australia/Lord_Howe',
             'Pacific/Chatham']


def _transitions(zone, year=2025):
    """The instants (UTC) at which ``zone`` changes its offset in ``year``, found with Python's own tz database."""
    tz = ZoneInfo(zone)
    found = []
    t = datetime(year, 1, 1, tzinfo=timezone.utc)
    while t.year == year:
        nxt = t + timedelta(hours=1)
        if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            lo = t
            while nxt - lo > timedelta(minutes=1):
                mid = lo + (nxt - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid.astimezone(tz).utcoffset() == t.astimezone(tz).utcoffset():
                    lo = mid if mid > lo else lo + timedelta(minutes=1)
                else:
                    nxt = mid
            found.append(nxt)
        t = nxt if nxt > t + timedelta(minutes=59) else t + timedelta(hours=1)
    return found


TRANSITIONS = [(zone, instant) for zone in DST_ZONES for instant in _transitions(zone)]


def test_transitions_are_found():
    assert len(TRANSITIONS) == 2 * len(DST_ZONES)
    berlin = [instant for zone, instant in TRANSITIONS if zone == 'Europe/Berlin']
    assert berlin == [datetime(2025, 3, 30, 1, tzinfo=timezone.utc), datetime(2025, 10, 26, 1, tzinfo=timezone.utc)]


def _wall(instant, zone):
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def _naive_cutoff(cut, zone, until=None):
    """Oracle of the cutoff of a naive column: the wall time of ``cut`` moved back by any DST fall-back within 3 hours,
    i.e. ``cut`` plus the smallest UTC offset of ``zone`` over [cut, cut + 3 h], by brute force minute by minute.
    With ``until`` (a later cutoff), the smallest such value for any cutoff between ``cut`` and ``until``."""
    tz = ZoneInfo(zone)
    minutes = int(((until or cut) - cut).total_seconds() // 60) + 181
    smallest = min((cut + timedelta(minutes=m)).astimezone(tz).utcoffset() for m in range(0, minutes))
    return cut.astimezone(timezone.utc).replace(tzinfo=None) + smallest


@pytest.fixture(scope='module')
def tz_db(postgres):
    name = 't_session_time_zones'
    postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % name)
    postgres.create_database(name)
    with postgres.connect(name) as conn:
        conn.execute('CREATE TABLE prop_naive (id int PRIMARY KEY, expiry timestamp NOT NULL)')
        conn.execute('CREATE TABLE prop_tz (id int PRIMARY KEY, expiry timestamptz NOT NULL)')
        conn.execute('CREATE INDEX ON prop_naive (expiry)')
        conn.execute('CREATE INDEX ON prop_tz (expiry)')
    yield name
    postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % name)


class _ClientZone(object):
    """PGTZ or PGOPTIONS (-c TimeZone=...) in the environment of the purge only (the test's own connections too
    would take them)."""

    def __init__(self, how, zone):
        self.how, self.zone, self.saved = how, zone, {}

    def __enter__(self):
        for name in ('PGTZ', 'PGOPTIONS'):
            self.saved[name] = os.environ.pop(name, None)
        if self.how == 'PGTZ':
            os.environ['PGTZ'] = self.zone
        elif self.how == 'PGOPTIONS':
            os.environ['PGOPTIONS'] = '-c TimeZone=%s' % self.zone
        return self

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
        return False


# Always tried: the reproduction (Rails-style UTC in a naive column, the database in Tokyo), and a Berlin DST end
# whose cutoff is 02:30 CEST, half an hour before 03:00 CEST becomes 02:00 CET: the session expiring at 02:10 CET
# (live) must stay, the one at 02:20 CEST (expired, the same wall times repeat) waits for a later run.
_MINUTE = 60 * 10 ** 6


@example(database_zone='Asia/Tokyo', client='none', client_zone='UTC', naive=True, stored_zone='UTC', transition=None,
         shift=0, offsets=[-3600 * 10 ** 6, 3600 * 10 ** 6, 5 * 3600 * 10 ** 6], lifetime=0, grace=0, batch=1,
         order='physical')
@example(database_zone='America/Sao_Paulo', client='PGTZ', client_zone='Asia/Kathmandu', naive=True,
         stored_zone='UTC', transition=('Europe/Berlin', datetime(2025, 10, 26, 1, tzinfo=timezone.utc)),
         shift=-30 * 60, offsets=[-40 * _MINUTE, -10 * _MINUTE, 10 * _MINUTE, 40 * _MINUTE, 70 * _MINUTE],
         lifetime=600, grace=300, batch=2, order='expiry')
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(database_zone=st.sampled_from(ZONES), client=st.sampled_from(['none', 'PGTZ', 'PGOPTIONS']),
       client_zone=st.sampled_from(ZONES), naive=st.booleans(), stored_zone=st.sampled_from(ZONES),
       transition=st.one_of(st.none(), st.sampled_from(TRANSITIONS), st.sampled_from(TRANSITIONS)),
       shift=st.integers(min_value=-200 * 60, max_value=60 * 60),
       offsets=st.lists(st.integers(min_value=-3 * 3600 * 10 ** 6, max_value=3 * 3600 * 10 ** 6), min_size=1,
                        max_size=40),
       lifetime=st.integers(min_value=0, max_value=3600), grace=st.integers(min_value=0, max_value=3600),
       batch=st.integers(min_value=1, max_value=25), order=st.sampled_from(['expiry', 'physical', 'auto']))
def test_time_zones_never_make_a_live_session_expired(postgres, tz_db, database_zone, client, client_zone, naive,
                                                      stored_zone, transition, shift, offsets, lifetime, grace, batch,
                                                      order):
    """Over the database's TimeZone, the client's (PGTZ, PGOPTIONS), naive and timestamptz columns, the zone the
    application stores naive times in, and instants around DST transitions: no session within its lifetime plus
    grace is deleted (check mode or not); every expired one is deleted, or (naive columns, a DST fall-back right
    after the cutoff) kept and counted as deferred; check mode counts what the run then deletes and changes nothing."""
    postgres.execute(sql.SQL('ALTER DATABASE {} SET timezone = {}').format(sql.Identifier(tz_db),
                                                                           sql.Literal(database_zone)))
    table = 'prop_naive' if naive else 'prop_tz'
    cutoff = timedelta(seconds=lifetime + grace)
    if transition is not None:
        # a fixed "now" whose cutoff lies from 200 minutes before to an hour after a DST transition (a fall-back
        # less than 3 hours after the cutoff moves a naive cutoff back); the application's zone is the transition's
        fixed = transition[1] + cutoff + timedelta(seconds=shift, microseconds=shift * 7919 % 10 ** 6)
        stored_zone = transition[0]
    else:
        fixed = None
    with postgres.connect(tz_db) as conn:
        conn.execute(sql.SQL('TRUNCATE {}').format(sql.Identifier(table)))
        base = fixed or conn.execute('SELECT clock_timestamp()').fetchone()[0]
        # expiry times up to 3 hours either side of the cutoff
        expiries = [base - cutoff + timedelta(microseconds=offset) for offset in offsets]
        if fixed is not None:   # the exact edge: expired one microsecond before the cutoff, live at it
            expiries += [fixed - cutoff - timedelta(microseconds=1), fixed - cutoff]
        value = '%s::timestamptz AT TIME ZONE %s' if naive else '%s::timestamptz'
        with conn.cursor() as cur:
            cur.executemany(sql.SQL('INSERT INTO {} VALUES (%s, ' + value + ')').format(sql.Identifier(table)),
                            [(i, at, stored_zone) if naive else (i, at) for i, at in enumerate(expiries)])
    snapshot = sql.SQL('SELECT id, expiry FROM {} ORDER BY id').format(sql.Identifier(table))
    before = postgres.execute(snapshot, dbname=tz_db)
    kwargs = dict(grace=grace, lifetime=lifetime, batch_size=batch, vacuum='never', order=order,
                  stored_time_zone=stored_zone, now=fixed)
    params = _params(postgres, tz_db)
    with _ClientZone(client, client_zone):
        check = sc.purge_postgres(params, table, 'id', 'expiry', check_mode=True, **kwargs)
    assert postgres.execute(snapshot, dbname=tz_db) == before, 'check mode changed the table'
    with _ClientZone(client, client_zone):
        result = sc.purge_postgres(params, table, 'id', 'expiry', **kwargs)
    t_end = fixed or postgres.execute('SELECT clock_timestamp()', dbname=tz_db)[0][0]
    assert result['stopped'] == 'done', result['checks']
    left = set(row[0] for row in postgres.execute(sql.SQL('SELECT id FROM {}').format(sql.Identifier(table)),
                                                  dbname=tz_db))
    deleted = set(range(len(expiries))) - left
    # the cutoff lies between the insert (or the fixed now) and the end of the run, minus lifetime and grace
    cut_lo, cut_hi = base - cutoff, t_end - cutoff

    for i in deleted:
        # never: a session live at the cutoff deleted
        assert expiries[i] < cut_hi, (expiries[i], cut_hi, stored_zone)
    if naive:   # the lowest cutoff the run may have used, in the column's wall time
        lowest = _naive_cutoff(cut_lo, stored_zone, until=cut_hi)
    for i in left:
        # every session expired before the run started is gone, but for naive ones whose wall time a DST fall-back
        # just after the cutoff makes ambiguous
        if naive:
            assert _wall(expiries[i], stored_zone) >= lowest, (expiries[i], cut_lo, stored_zone)
        else:
            assert expiries[i] >= cut_lo, (expiries[i], cut_lo)
    assert result['deleted'] == len(deleted)
    assert result['remaining_expired'] == 0 and result['expired_before'] == result['deleted']
    assert result['column_type'] == ('timestamp without time zone' if naive else 'timestamp with time zone')
    event('DST fall-back deferral' if result['deferred_ambiguous'] else 'no deferral')
    event('deleted some' if deleted else 'deleted none')
    if fixed is None:
        # check mode ran first: it counted no more than the run deleted, at least what had expired before it
        assert check['would_delete'] <= result['deleted']
        assert sum(1 for i in range(len(expiries)) if expiries[i] < cut_lo and (
            not naive or _wall(expiries[i], stored_zone) < lowest)) <= check['would_delete']
        return
    # one instant: check mode counted exactly what the run deleted
    assert check['would_delete'] == result['deleted']
    expected = set(i for i in range(len(expiries)) if expiries[i] < cut_lo)
    if naive:
        wall_cut = _naive_cutoff(cut_lo, stored_zone)
        expected = set(i for i in range(len(expiries)) if _wall(expiries[i], stored_zone) < wall_cut)
        # the sessions kept because of the DST allowance are counted, by check mode too
        ambiguous = [i for i in range(len(expiries))
                     if wall_cut <= _wall(expiries[i], stored_zone) < _wall(cut_lo, stored_zone)]
        assert result['deferred_ambiguous'] == check['deferred_ambiguous'] == len(ambiguous)
        if ambiguous:
            assert str(len(ambiguous)) in result['checks'][0]['reason'] and stored_zone in result['checks'][0]['reason']
    assert deleted == expected
    # the edge: the session expired one microsecond before the cutoff goes (unless DST defers it), the one expiring
    # at the cutoff stays
    assert len(expiries) - 1 in left
    assert (len(expiries) - 2 in deleted) == (not naive or not result['deferred_ambiguous'])


# ------------------------------------------------------------------------------------------------ Redis
def _fill_redis(client, now):
    client.hset('session:h:expired', mapping={'user': '1', 'expires': int(now - 600)})
    client.hset('session:h:live', mapping={'user': '2', 'expires': int(now + 600)})
    client.hset('session:h:grace', mapping={'user': '3', 'expires': int(now - 30)})
    client.set('session:j:expired', json.dumps({'user': 4, 'expires': now - 3600}))
    client.set('session:j:live', json.dumps({'user': 5, 'expires': now + 3600}))
    client.set('session:j:ms', json.dumps({'user': 6, 'expires': int((now - 100) * 1000)}))
    client.set('session:plain', 'no expiry at all')
    client.set('session:withttl', 'x', ex=300)
    client.set('cache:other', json.dumps({'expires': now - 3600}))  # not a session: never touched
    for i in range(1500):
        client.hset('session:bulk:%d' % i, mapping={'expires': int(now - 1000 if i % 3 == 0 else now + 1000)})


def test_redis_scan_purge(redis_server):
    client = redis_server.client()
    now = client.time()[0]
    _fill_redis(client, now)
    total = client.dbsize()
    # check mode: counts only, nothing changes
    result = sc.purge_redis(client, 'session:*', expiry_field='expires', grace=60, default_ttl=3600, scan_count=100,
                            check_mode=True)
    assert client.dbsize() == total
    assert client.ttl('session:h:live') == -1 and client.ttl('session:plain') == -1
    assert result['would_delete'] == 2 + 500 and result['deleted'] == 0
    assert not result['changed']

    result = sc.purge_redis(client, 'session:*', expiry_field='expires', grace=60, default_ttl=3600, scan_count=100)
    assert result['deleted'] == 502
    assert not client.exists('session:h:expired') and not client.exists('session:j:expired')
    assert client.exists('session:h:live') and client.exists('session:j:live') and client.exists('session:h:grace')
    assert client.exists('cache:other')
    # live keys without TTL got their remaining lifetime (+ grace); the one without expiry got default_ttl
    assert 600 < client.ttl('session:h:live') <= 660 + 1
    assert 3500 < client.ttl('session:plain') <= 3600
    assert 0 < client.ttl('session:withttl') <= 300
    assert client.dbsize() == total - 502
    # ms unit: the json 'ms' key is expired once read as milliseconds
    result = sc.purge_redis(client, 'session:j:*', expiry_field='expires', expiry_unit='ms')
    assert not client.exists('session:j:ms')


def test_redis_refuses_match_all_and_reports_unreachable(redis_server):
    with pytest.raises(MaintenanceError, match='pattern'):
        sc.purge_redis(redis_server.client(), '*')
    client = sc.redis_client('127.0.0.1', 1, password='s3cret-redis', timeout=1)
    result = sc.purge_redis(client, 'session:*', password='s3cret-redis')
    assert result['checks'][0]['status'] == 'critical'
    assert 's3cret-redis' not in json.dumps(result)


# ------------------------------------------------------------------------------------------------ files
def test_session_files_held_open_are_kept(tmp_path):
    directory = tmp_path / 'sessions'
    directory.mkdir()
    old = time.time() - 7200
    for name in ('sess_old1', 'sess_old2', 'sess_open', 'other_old'):
        path = directory / name
        path.write_text('data')
        os.utime(path, (old, old))
    (directory / 'sess_new').write_text('fresh')
    holder = subprocess.Popen([sys.executable, '-c', 'import sys, time\nf = open(sys.argv[1])\nprint("ready", flush=True)\n'
                               'time.sleep(60)', str(directory / 'sess_open')], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'ready'
        before = sorted(os.listdir(directory))
        result = sc.purge_files(str(directory), lifetime=1440, check_mode=True)
        assert sorted(os.listdir(directory)) == before
        assert result['would_delete'] == 2
        result = sc.purge_files(str(directory), lifetime=1440)
        assert sorted(os.listdir(directory)) == ['other_old', 'sess_new', 'sess_open']
        assert result['deleted'] == 2 and result['left_alone']['open'] == 1
    finally:
        holder.kill()
        holder.wait()
    # once the process is gone the file goes too
    result = sc.purge_files(str(directory), lifetime=1440)
    assert sorted(os.listdir(directory)) == ['other_old', 'sess_new']


def _session_dir(tmp_path):
    directory = tmp_path / 'sessions'
    directory.mkdir()
    old = time.time() - 7200
    for name in ('sess_old', 'keep_config.ini', 'app.db', '.htaccess'):
        (directory / name).write_text('data')
        os.utime(directory / name, (old, old))
    return directory


@pytest.mark.parametrize('patterns', [[], None, [''], ['', '  '], ['*'], ['**'], ['?*'], ['sess_*', '*'], ['*?*'], ['*/*']])
def test_files_pattern_matching_everything_is_refused(tmp_path, patterns):
    """Reproduction (issue 15): ``patterns: []`` matched every file: keep_config.ini and app.db were deleted."""
    directory = _session_dir(tmp_path)
    before = sorted(os.listdir(directory))
    for check_mode in (True, False):
        with pytest.raises(MaintenanceError, match='patterns'):
            sc.purge_files(str(directory), lifetime=1440, patterns=patterns, check_mode=check_mode)
    assert sorted(os.listdir(directory)) == before


def test_files_match_all_needs_its_own_option(tmp_path):
    """A directory that holds nothing but session files (cachelib's md5-named files, for example) may be cleaned
    with ``*``, but only when allow_match_all says so. ``*`` matches hidden files too (fnmatch), .htaccess included."""
    directory = _session_dir(tmp_path)
    result = sc.purge_files(str(directory), lifetime=1440, patterns=['*'], allow_match_all=True, check_mode=True)
    assert result['would_delete'] == 4 and len(os.listdir(directory)) == 4
    result = sc.purge_files(str(directory), lifetime=1440, patterns=['*'], allow_match_all=True)
    assert result['deleted'] == 4 and os.listdir(directory) == []
    # allow_match_all does not make an empty list mean "everything"
    with pytest.raises(MaintenanceError, match='patterns'):
        sc.purge_files(str(directory), lifetime=1440, patterns=[], allow_match_all=True)


def test_files_default_pattern_keeps_other_files(tmp_path):
    directory = _session_dir(tmp_path)
    result = sc.purge_files(str(directory), lifetime=1440)
    assert result['deleted'] == 1
    assert sorted(os.listdir(directory)) == ['.htaccess', 'app.db', 'keep_config.ini']
