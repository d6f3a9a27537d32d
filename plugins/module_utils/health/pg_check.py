# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL health checks (``pg_check``): plain Python on psycopg 3.

``run_pg_checks(params, pieces, thresholds, ...)`` connects once through the
shared helper (``postgres.connect``), runs each selected piece in its own
``try`` so one failing query (a missing privilege, a missing extension) turns
into an ``unknown`` check with its reason while the others still run, and
returns ``(checks, server)``. Every statement is read-only, runs under a
statement timeout and excludes this session itself.

Statement texts come only from ``pg_stat_statements`` (normalised, constants
replaced by ``$n``) and are redacted once more here, because PostgreSQL keeps
utility statements (``SET``, ``ALTER ROLE ... PASSWORD``) verbatim. Queries of
``pg_stat_activity`` are never returned as text: sessions are identified by
pid, role, database, application and ``query_id``.
"""

import re

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import pg_timeout
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import postgres
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    CRITICAL,
    Report,
    WARNING,
    critical,
    evaluate,
    format_value,
    make_check,
    ok,
    threshold_for,
    unknown,
)

# piece -> threshold name(s) it reads in ``thresholds``
PIECES = (
    'connection', 'connections', 'long_running', 'idle_in_transaction', 'lock_waits',
    'replication', 'cache_hit_ratio', 'slow_statements', 'xid_age',
)
CONNECTION_PIECES = ('connection', 'connections', 'replication', 'xid_age')
PERFORMANCE_PIECES = ('long_running', 'idle_in_transaction', 'lock_waits', 'cache_hit_ratio', 'slow_statements')

THRESHOLDS = {
    'connect_time': 'db_connect_time',
    'connections': 'db_connections_used',
    'long_running': 'db_long_running_query',
    'idle_in_transaction': 'db_idle_in_transaction',
    'lock_waits': 'db_lock_waits',
    'replication': 'db_replication_lag',
    'cache_hit_ratio': 'db_cache_hit_ratio',
    'slow_statements': 'db_slow_statement_mean',
    'xid_age': 'db_xid_age',
}

# Check names, one per piece (the connection piece gives two).
NAMES = {
    'connection': 'pg.connection',
    'connect_time': 'pg.connect_time',
    'connections': 'pg.connections_used',
    'long_running': 'pg.long_running_queries',
    'idle_in_transaction': 'pg.idle_in_transaction',
    'lock_waits': 'pg.lock_waits',
    'replication': 'pg.replication_lag',
    'cache_hit_ratio': 'pg.cache_hit_ratio',
    'slow_statements': 'pg.slow_statements',
    'xid_age': 'pg.xid_age',
}

XID_WRAPAROUND = 2 ** 31
"""Transaction IDs a database may age before PostgreSQL stops accepting writes (about 2.1 billion)."""

PRIVILEGE_HINT = 'grant pg_monitor (or pg_read_all_stats) to %s'

# ------------------------------------------------------------------ SQL (also documented in docs/)
SQL_SERVER = """
SELECT current_setting('server_version') AS version,
       current_setting('server_version_num')::int AS version_num,
       pg_is_in_recovery() AS in_recovery,
       current_user AS role,
       current_database() AS database,
       (current_setting('is_superuser') = 'on' OR pg_has_role('pg_read_all_stats', 'USAGE')) AS can_read_all_stats
"""

SQL_CONNECTIONS = """
SELECT count(*) FILTER (WHERE backend_type = 'client backend') AS used,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS reserved
FROM pg_stat_activity
"""

SQL_LONG_RUNNING = """
SELECT pid, usename, datname, application_name, {query_id} AS query_id, wait_event_type,
       EXTRACT(EPOCH FROM clock_timestamp() - query_start)::float8 AS seconds
FROM pg_stat_activity
WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND query_start IS NOT NULL
ORDER BY seconds DESC
"""

SQL_IDLE_IN_TRANSACTION = """
SELECT pid, usename, datname, application_name, state,
       EXTRACT(EPOCH FROM clock_timestamp() - state_change)::float8 AS seconds,
       EXTRACT(EPOCH FROM clock_timestamp() - xact_start)::float8 AS transaction_seconds
FROM pg_stat_activity
WHERE state IN ('idle in transaction', 'idle in transaction (aborted)') AND pid <> pg_backend_pid()
ORDER BY seconds DESC
"""

SQL_LOCK_WAITS = """
SELECT pid, usename, datname, application_name, wait_event,
       pg_blocking_pids(pid) AS blocked_by,
       EXTRACT(EPOCH FROM clock_timestamp() - COALESCE(query_start, state_change))::float8 AS seconds
FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
ORDER BY seconds DESC
"""

SQL_STANDBYS = """
SELECT application_name, client_addr::text AS client_addr, state, sync_state,
       EXTRACT(EPOCH FROM replay_lag)::float8 AS replay_lag,
       EXTRACT(EPOCH FROM write_lag)::float8 AS write_lag,
       EXTRACT(EPOCH FROM flush_lag)::float8 AS flush_lag,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 AS replay_lag_bytes
FROM pg_stat_replication
ORDER BY application_name
"""

SQL_STANDBY_SELF = """
SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 END AS lag,
       pg_last_xact_replay_timestamp()::text AS last_replay,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8 AS replay_pending_bytes,
       (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver_status
"""

SQL_CACHE_HIT = """
SELECT datname, blks_hit::float8 AS hit, blks_read::float8 AS read
FROM pg_stat_database
WHERE datname IS NOT NULL AND NOT datname IN ('template0', 'template1')
ORDER BY datname
"""

SQL_EXTENSION = "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'"

SQL_STATEMENTS = """
SELECT s.queryid::text AS queryid, s.query, s.calls, s.{mean} AS mean_ms, s.{total} AS total_ms,
       r.rolname, d.datname
FROM pg_stat_statements AS s
LEFT JOIN pg_roles AS r ON r.oid = s.userid
LEFT JOIN pg_database AS d ON d.oid = s.dbid
WHERE s.calls >= %(min_calls)s AND s.queryid IS NOT NULL
  AND (%(all_databases)s OR s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()))
ORDER BY s.{mean} DESC
LIMIT %(limit)s
"""

SQL_XID_AGE = """
SELECT datname, age(datfrozenxid)::bigint AS xid_age, mxid_age(datminmxid)::bigint AS mxid_age
FROM pg_database
ORDER BY xid_age DESC
"""

# ------------------------------------------------------------------ statement text redaction
_ESCAPE_QUOTED = re.compile(r"[Ee]'(?:[^'\\]|\\.|'')*'", re.S)
_QUOTED = re.compile(r"(?:[BbXxNn]|[Uu]&)?'(?:[^']|'')*'")
_DOLLAR_QUOTED = re.compile(r'\$((?:[A-Za-z_][A-Za-z0-9_]*)?)\$.*?\$\1\$', re.S)
_NUMBER = re.compile(r'(?<![\w$."])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w"])')


def redact_statement(text, max_length=None):
    """Replace every literal left in a normalised statement by ``?``; collapse whitespace; cut to ``max_length``.

    ``pg_stat_statements`` already replaces constants of plannable statements
    with ``$1``...; utility statements (``SET``, ``ALTER ROLE ... PASSWORD``,
    ``COPY``) keep their literals, which must never leave the server.
    """
    if text is None:
        return None
    text = _DOLLAR_QUOTED.sub('?', text)
    text = _ESCAPE_QUOTED.sub('?', text)
    text = _QUOTED.sub('?', text)
    if "'" in text or '$$' in text:  # an unterminated literal: drop everything from it
        cut = min(i for i in (text.find("'"), text.find('$$')) if i >= 0)
        text = text[:cut] + '?'
    text = _NUMBER.sub('?', text)
    text = ' '.join(text.split())
    if max_length and len(text) > max_length:
        text = text[:max_length - 3].rstrip() + '...'
    return text


# ------------------------------------------------------------------ helpers
def _rows(cursor, statement, params=None):
    cursor.execute(statement, params)
    names = [col.name for col in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _round(value, digits=3):
    return None if value is None else round(float(value), digits)


def _session(row, keys=('pid', 'usename', 'datname', 'application_name')):
    out = dict((key, row.get(key)) for key in keys)
    out['user'] = out.pop('usename', None)
    out['database'] = out.pop('datname', None)
    return out


def _error_reason(exc, params):
    """One line from a psycopg error: SQLSTATE name and message, password scrubbed."""
    diag = getattr(exc, 'diag', None)
    primary = getattr(diag, 'message_primary', None) if diag is not None else None
    text = primary or str(exc) or exc.__class__.__name__
    return postgres.scrub(text, params)


class _Context(object):
    """What every piece needs: the cursor, the server facts, thresholds and options."""

    def __init__(self, cursor, server, thresholds, options, target, params):
        self.cursor = cursor
        self.server = server
        self.thresholds = thresholds or {}
        self.options = options
        self.target = target
        self.params = params

    def spec(self, key):
        return threshold_for(self.thresholds, THRESHOLDS[key])

    def privileged(self):
        return bool(self.server.get('can_read_all_stats'))

    def no_privilege(self, key, what):
        return unknown(NAMES[key], 'role %s cannot see %s of other roles; %s'
                       % (self.server.get('role'), what, PRIVILEGE_HINT % self.server.get('role')),
                       target=self.target)


# ------------------------------------------------------------------ pieces
def _check_connections(ctx):
    row = _rows(ctx.cursor, SQL_CONNECTIONS)[0]
    used, limit = row['used'], row['max_connections']
    percent = round(100.0 * used / limit, 1) if limit else None
    details = {'used': used, 'max_connections': limit, 'superuser_reserved_connections': row['reserved'],
               'available_to_applications': limit - row['reserved'] - used}
    check = evaluate(NAMES['connections'], percent, ctx.spec('connections'), label='connections used',
                     target=ctx.target, details=details)
    check['reason'] = '%s (%d of max_connections %d)' % (check['reason'], used, limit)
    return [check]


def _sessions_over(ctx, key, rows, label, what):
    """One check: the longest duration among ``rows``, the sessions over the warning limit in details."""
    spec = ctx.spec(key)
    longest = rows[0]['seconds'] if rows else 0.0
    check = evaluate(NAMES[key], _round(longest, 1), spec, label=label, target=ctx.target, unit='s')
    limit = check['threshold']
    over = [r for r in rows if limit is not None and r['seconds'] > limit]
    details = {'sessions': len(rows), 'over_threshold': len(over), 'top': []}
    for row in rows[:ctx.options['top']]:
        entry = _session(row)
        entry.update((k, v) for k, v in row.items() if k not in ('pid', 'usename', 'datname', 'application_name'))
        entry['seconds'] = _round(entry['seconds'], 1)
        if 'transaction_seconds' in entry:
            entry['transaction_seconds'] = _round(entry['transaction_seconds'], 1)
        details['top'].append(entry)
    check['details'] = details
    if not rows:
        check['reason'] = 'no %s' % what
    elif over:
        check['reason'] = '%s; %d %s over %s (longest pid %s, %s)' % (
            check['reason'], len(over), what, format_value(limit, 's'), rows[0]['pid'], rows[0]['usename'])
    return [check]


def _check_long_running(ctx):
    if not ctx.privileged():
        return [ctx.no_privilege('long_running', 'the queries')]
    query_id = 'query_id' if ctx.server['version_num'] >= 140000 else 'NULL::bigint'
    rows = _rows(ctx.cursor, SQL_LONG_RUNNING.format(query_id=query_id))
    for row in rows:
        row['query_id'] = None if row['query_id'] is None else str(row['query_id'])
    return _sessions_over(ctx, 'long_running', rows, 'longest running query', 'active queries')


def _check_idle_in_transaction(ctx):
    if not ctx.privileged():
        return [ctx.no_privilege('idle_in_transaction', 'the session states')]
    rows = _rows(ctx.cursor, SQL_IDLE_IN_TRANSACTION)
    return _sessions_over(ctx, 'idle_in_transaction', rows, 'longest idle in transaction',
                          'sessions idle in transaction')


def _check_lock_waits(ctx):
    if not ctx.privileged():
        return [ctx.no_privilege('lock_waits', 'the wait events')]
    rows = _rows(ctx.cursor, SQL_LOCK_WAITS)
    top = []
    for row in rows[:ctx.options['top']]:
        entry = _session(row)
        entry.update(lock=row['wait_event'], blocked_by=list(row['blocked_by'] or []), seconds=_round(row['seconds'], 1))
        top.append(entry)
    check = evaluate(NAMES['lock_waits'], len(rows), ctx.spec('lock_waits'), label='sessions waiting on locks',
                     target=ctx.target, unit='sessions',
                     details={'longest_wait_seconds': top[0]['seconds'] if top else 0, 'waiting': top})
    if rows:
        check['reason'] = '%s; longest wait %s (pid %s blocked by %s)' % (
            check['reason'], format_value(top[0]['seconds'], 's'), top[0]['pid'],
            ', '.join(str(p) for p in top[0]['blocked_by']) or 'none')
    return [check]


def _check_replication(ctx):
    spec = ctx.spec('replication')
    name = NAMES['replication']
    expected = ctx.options['expected_standbys']
    if ctx.server['in_recovery']:
        row = _rows(ctx.cursor, SQL_STANDBY_SELF)[0]
        details = {'role': 'standby', 'last_replay': row['last_replay'],
                   'replay_pending_bytes': row['replay_pending_bytes'], 'wal_receiver': row['receiver_status']}
        if row['lag'] is None:
            return [unknown(name, 'server is a standby but has not replayed any transaction yet', target=ctx.target,
                            details=details)]
        check = evaluate(name, _round(row['lag'], 1), spec, label='standby replay lag', target=ctx.target, unit='s',
                         details=details)
        if row['receiver_status'] != 'streaming':
            check['reason'] += '; WAL receiver is %s' % (row['receiver_status'] or 'not running')
        return [check]
    rows = _rows(ctx.cursor, SQL_STANDBYS)
    if rows and not ctx.privileged() and all(r['state'] is None for r in rows):
        return [ctx.no_privilege('replication', 'the state of standbys')]
    standbys = []
    for row in rows:
        entry = dict(row)
        for key in ('replay_lag', 'write_lag', 'flush_lag'):
            entry[key] = _round(entry[key])
        standbys.append(entry)
    details = {'role': 'primary', 'standbys': standbys, 'expected_standbys': expected}
    if not rows:
        if expected:
            return [critical(name, 'primary has no standby connected; %d expected' % expected, target=ctx.target,
                             details=details)]
        return [ok(name, 'not replicating: the server is a primary with no standby connected and is not a standby',
                   target=ctx.target, details=details)]
    # replay_lag is NULL once a standby has caught up and nothing is being written: that is zero lag
    lags = [s['replay_lag'] or 0.0 for s in standbys if s['state'] == 'streaming']
    worst = max(lags) if lags else None
    not_streaming = ['%s (%s)' % (s['application_name'], s['state']) for s in standbys if s['state'] != 'streaming']
    notes = ['%d standby(s) connected' % len(standbys)]
    if not_streaming:
        notes.append('not streaming: %s' % ', '.join(not_streaming))
    if worst is None:
        # every standby is still starting up or catching up: replication is not working yet
        check = make_check(name, WARNING, 'no standby streaming yet', unit='s', priority='medium', target=ctx.target,
                           details=details)
    else:
        check = evaluate(name, worst, spec, label='standby replay lag', target=ctx.target, unit='s', details=details)
    if len(standbys) < expected:
        check.update(status=CRITICAL, priority='high')
        notes.append('%d expected' % expected)
    check['reason'] = '%s; %s' % (check['reason'], '; '.join(notes))
    return [check]


def _check_cache_hit_ratio(ctx):
    rows = _rows(ctx.cursor, SQL_CACHE_HIT)
    hit = sum(r['hit'] or 0 for r in rows)
    read = sum(r['read'] or 0 for r in rows)
    per_db = dict((r['datname'], _round(100.0 * r['hit'] / (r['hit'] + r['read']), 2) if (r['hit'] + r['read']) else None)
                  for r in rows)
    details = {'blocks_hit': int(hit), 'blocks_read': int(read), 'databases': per_db}
    if hit + read == 0:
        return [unknown(NAMES['cache_hit_ratio'], 'no blocks read or hit since the statistics were reset',
                        target=ctx.target, details=details)]
    ratio = round(100.0 * hit / (hit + read), 2)
    return [evaluate(NAMES['cache_hit_ratio'], ratio, ctx.spec('cache_hit_ratio'), label='buffer cache hit ratio',
                     target=ctx.target, unit='%', details=details)]


def _check_slow_statements(ctx):
    name = NAMES['slow_statements']
    installed = _rows(ctx.cursor, SQL_EXTENSION)
    if not installed:
        return [unknown(name, 'pg_stat_statements is not installed in database %s (CREATE EXTENSION pg_stat_statements; '
                              'it must also be in shared_preload_libraries)' % ctx.server['database'], target=ctx.target)]
    if not ctx.privileged():
        return [ctx.no_privilege('slow_statements', 'the statements')]
    psycopg = deps.load('psycopg')
    mean, total = ('mean_exec_time', 'total_exec_time') if ctx.server['version_num'] >= 130000 else ('mean_time', 'total_time')
    statement = psycopg.sql.SQL(SQL_STATEMENTS).format(mean=psycopg.sql.Identifier(mean),
                                                       total=psycopg.sql.Identifier(total))
    values = {'min_calls': ctx.options['min_calls'], 'limit': ctx.options['top'],
              'all_databases': bool(ctx.options['all_databases'])}
    try:
        rows = _rows(ctx.cursor, statement, values)
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:
        return [unknown(name, 'pg_stat_statements is installed but not loaded: %s' % _error_reason(exc, ctx.params),
                        target=ctx.target)]
    statements = []
    for row in rows:
        statements.append({
            'queryid': row['queryid'],
            'query': redact_statement(row['query'], ctx.options['statement_length']),
            'calls': row['calls'],
            'mean_ms': _round(row['mean_ms']),
            'total_ms': _round(row['total_ms']),
            'user': row['rolname'],
            'database': row['datname'],
        })
    details = {'extension_version': installed[0]['extversion'], 'min_calls': ctx.options['min_calls'],
               'scope': 'all databases' if ctx.options['all_databases'] else 'database %s' % ctx.server['database'],
               'statements': statements}
    if not statements:
        return [ok(name, 'no statement with at least %d call(s) recorded by pg_stat_statements' % ctx.options['min_calls'],
                   target=ctx.target, details=details)]
    slowest = statements[0]
    check = evaluate(name, slowest['mean_ms'], ctx.spec('slow_statements'), label='slowest mean statement time',
                     target=ctx.target, unit='ms', details=details)
    limit = check['threshold']
    over = [s for s in statements if limit is not None and s['mean_ms'] > limit]
    details['over_threshold'] = len(over)
    check['reason'] = '%s (queryid %s, %d calls, total %s)%s' % (
        check['reason'], slowest['queryid'], slowest['calls'], format_value(slowest['total_ms'], 'ms'),
        '; %d of the top %d statements over %s' % (len(over), len(statements), format_value(limit, 'ms')) if over else '')
    return [check]


def _check_xid_age(ctx):
    rows = _rows(ctx.cursor, SQL_XID_AGE)
    oldest = rows[0]
    details = {'database': oldest['datname'], 'mxid_age': oldest['mxid_age'],
               'percent_towards_wraparound': round(100.0 * oldest['xid_age'] / XID_WRAPAROUND, 2),
               'databases': dict((r['datname'], r['xid_age']) for r in rows)}
    check = evaluate(NAMES['xid_age'], oldest['xid_age'], ctx.spec('xid_age'), label='oldest transaction ID age',
                     target=ctx.target, unit='xids', details=details)
    check['reason'] = '%s (database %s, %s%% of the wraparound limit)' % (
        check['reason'], oldest['datname'], details['percent_towards_wraparound'])
    return [check]


_RUNNERS = {
    'connections': _check_connections,
    'long_running': _check_long_running,
    'idle_in_transaction': _check_idle_in_transaction,
    'lock_waits': _check_lock_waits,
    'replication': _check_replication,
    'cache_hit_ratio': _check_cache_hit_ratio,
    'slow_statements': _check_slow_statements,
    'xid_age': _check_xid_age,
}

DEFAULT_OPTIONS = {'top': 10, 'min_calls': 1, 'all_databases': True, 'statement_length': 500, 'expected_standbys': 0,
                   'statement_timeout': '10s', 'lock_timeout': '2s'}


def run_pg_checks(params, pieces=None, thresholds=None, options=None):
    """Run the selected pieces; return ``(checks, server)``.

    ``params`` are the connection options of ``postgres_argument_spec``;
    ``options`` may set ``top``, ``min_calls``, ``all_databases``, ``statement_length``,
    ``expected_standbys``, ``statement_timeout`` and ``lock_timeout``.
    """
    pieces = list(pieces or PIECES)
    bad = [p for p in pieces if p not in PIECES]
    if bad:
        raise MaintenanceError('unknown pg_check piece(s) %s; choose from %s' % (', '.join(bad), ', '.join(PIECES)))
    opts = dict(DEFAULT_OPTIONS)
    opts.update((k, v) for k, v in (options or {}).items() if v is not None)
    for key, minimum in (('top', 1), ('min_calls', 0), ('statement_length', 20), ('expected_standbys', 0)):
        if not isinstance(opts[key], int) or opts[key] < minimum:
            raise MaintenanceError('pg_check option %s must be an integer >= %d, not %r' % (key, minimum, opts[key]))
    for key in ('lock_timeout', 'statement_timeout'):
        pg_timeout(opts[key], key)  # a bare number or a typo fails here, before connecting
    thresholds = thresholds or {}
    psycopg = deps.load('psycopg')
    connection = postgres.connect(params)
    target = connection.target
    checks = []
    server = {'reachable': connection.ok, 'connect_seconds': round(connection.seconds, 4)}
    if not connection.ok:
        checks.append(critical(NAMES['connection'], 'cannot connect to %s: %s' % (target, connection.error),
                               target=target, details={'seconds': server['connect_seconds']}))
        for piece in pieces:
            if piece != 'connection':
                checks.append(unknown(NAMES[piece], 'not measured: no connection to the server', target=target))
        return checks, server
    with connection:
        cursor = connection.conn.cursor()
        try:
            postgres.set_timeouts(cursor, lock_timeout=opts['lock_timeout'], statement_timeout=opts['statement_timeout'])
            server.update(_rows(cursor, SQL_SERVER)[0])
        except psycopg.Error as exc:
            checks.append(critical(NAMES['connection'], 'connected to %s but the server did not answer: %s'
                                   % (target, _error_reason(exc, params)), target=target))
            return checks, server
        ctx = _Context(cursor, server, thresholds, opts, target, params)
        if 'connection' in pieces:
            checks.append(ok(NAMES['connection'], 'connected to %s as %s in %s; PostgreSQL %s%s' % (
                target, server['role'], format_value(round(connection.seconds, 3), 's'), server['version'],
                ' (standby)' if server['in_recovery'] else ''), target=target,
                details={'version': server['version'], 'in_recovery': server['in_recovery'],
                         'ssl': _ssl_in_use(cursor)}))
            checks.append(evaluate(NAMES['connect_time'], round(connection.seconds, 4), ctx.spec('connect_time'),
                                   label='connect time', target=target, unit='s'))
        for piece in pieces:
            if piece == 'connection':
                continue
            try:
                checks.extend(_RUNNERS[piece](ctx))
            except psycopg.errors.InsufficientPrivilege as exc:
                checks.append(unknown(NAMES[piece], 'missing privilege: %s; %s' % (
                    _error_reason(exc, params), PRIVILEGE_HINT % server.get('role')), target=target))
            except psycopg.errors.QueryCanceled as exc:
                checks.append(unknown(NAMES[piece], 'query cancelled after statement_timeout %s: %s'
                                      % (opts['statement_timeout'], _error_reason(exc, params)), target=target))
            except psycopg.OperationalError as exc:
                checks.append(critical(NAMES[piece], 'connection lost: %s' % _error_reason(exc, params), target=target))
            except psycopg.Error as exc:
                checks.append(unknown(NAMES[piece], '%s: %s' % (exc.__class__.__name__, _error_reason(exc, params)),
                                      target=target))
    return checks, server


def _ssl_in_use(cursor):
    try:
        rows = _rows(cursor, 'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
    except Exception:  # pragma: no cover - pg_stat_ssl exists since 9.5
        return None
    return rows[0]['version'] if rows and rows[0]['ssl'] else False


def run(params, check_mode=False, host=None):
    """The pg_check module's entry (``result.Report``): the selected pieces against one server."""
    names = ('top', 'min_calls', 'all_databases', 'statement_length', 'expected_standbys', 'statement_timeout')
    options = dict((key, params[key]) for key in names)
    checks, server = run_pg_checks(params, params['checks'], params['thresholds'], options)
    return Report(checks, data=dict(server=server))
