# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""VACUUM / ANALYZE / REINDEX CONCURRENTLY chosen by need, inside a time budget (``pg_maintenance``).

Tables are chosen from ``pg_stat_user_tables``: dead-tuple ratio, time since the last (auto)vacuum or
(auto)analyze, and transaction ID age; the most urgent first (wraparound risk, then the longest-neglected).
Each statement runs with ``lock_timeout`` so a table that cannot be locked is skipped, not waited for; no new
work starts once the time budget (the maintenance window) is spent. Plain Python: unit tests call it.
"""

import difflib
import math
import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import Budget, parse_duration, pg_interval_ms
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.units import parse_size
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import (
    connect,
    describe,
    qualified_name,
    scrub,
    set_timeouts,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    Report,
    critical,
    evaluate,
    make_check,
    ok,
    threshold_for,
)

TABLE_STATS = """
SELECT s.relid, s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
       extract(epoch FROM now() - greatest(s.last_vacuum, s.last_autovacuum)) AS since_vacuum,
       extract(epoch FROM now() - greatest(s.last_analyze, s.last_autoanalyze)) AS since_analyze,
       age(c.relfrozenxid) AS xid_age, pg_total_relation_size(s.relid) AS total_bytes
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE c.relkind IN ('r', 'm')
"""

DEAD_TUPLES = 'SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = %(relid)s'

# A btree size estimate: tuples x (index tuple header + aligned key width + line pointer) at the default
# fill factor, against the index's real size. pgstattuple is not needed.
INDEX_BLOAT = """
SELECT i.indexrelid, i.indrelid, n.nspname, ci.relname AS index_name, ct.relname AS table_name,
       pg_relation_size(i.indexrelid) AS bytes, ci.reltuples,
       current_setting('block_size')::int AS block_size,
       coalesce((SELECT sum(st.avg_width) FROM pg_attribute a
                 JOIN pg_stats st ON st.schemaname = n.nspname AND st.tablename = ct.relname AND st.attname = a.attname
                 WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)), 8) AS key_width
FROM pg_index i
JOIN pg_class ci ON ci.oid = i.indexrelid
JOIN pg_class ct ON ct.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ct.relnamespace
JOIN pg_am am ON am.oid = ci.relam
WHERE am.amname = 'btree' AND i.indisvalid AND i.indisready
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
"""

# Invalid indexes a failed REINDEX CONCURRENTLY leaves on a table: the new index (<name>_ccnew, possibly with a
# number) when the rebuild failed, or the old one (<name>_ccold) when only the final drop failed.
REINDEX_LEFTOVERS = r"""
SELECT c.oid, n.nspname, c.relname FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE i.indrelid = %(table)s AND NOT i.indisvalid AND c.relname ~ '_cc(new|old)[0-9]*$'
"""


def unknown_tables(stats, tables, schemas):
    """The names in ``tables`` that match no table of ``stats``, each with the reason: ``[(name, reason)]``.

    A misspelled table would otherwise be skipped silently ("maintained 0 of 0", ok) in every window. ``schemas``
    are the schema names of the database; the reason names the closest existing table when there is one.
    """
    qualified = ['%s.%s' % (row['schemaname'], row['relname']) for row in stats]
    bare = dict((row['relname'], name) for row, name in zip(stats, qualified))
    result = []
    for name in tables or []:
        if name in qualified or name in bare:
            continue
        if '.' in name:
            schema = name.split('.', 1)[0]
            if schema not in schemas:
                result.append((name, 'schema %s does not exist' % schema))
                continue
            close = difflib.get_close_matches(name, qualified, n=1)
        else:
            close = [bare[m] for m in difflib.get_close_matches(name, list(bare), n=1)]
        reason = 'no such table or materialized view'
        if close:
            reason += '; did you mean %s?' % close[0]
        result.append((name, reason))
    return result


def _tables_check(stats, tables, schemas, target):
    missing = unknown_tables(stats, tables, schemas)
    if missing:
        return critical('pg_maintenance.tables', '%d table(s) named in tables not found, nothing maintained for them: %s'
                        % (len(missing), '; '.join('%s (%s)' % item for item in missing)), target=target,
                        value=len(missing), unit='tables', details={'missing': [m[0] for m in missing]})
    return ok('pg_maintenance.tables', 'all %d table(s) named in tables exist' % len(tables), target=target, value=0,
              unit='tables')


def _record_failure(record, exc, errors, params):
    """Status and reason of a maintenance statement that failed: a lock not granted within lock_timeout (skipped),
    a statement cancelled (statement_timeout or the end of the time budget), or another error (password scrubbed)."""
    if isinstance(exc, errors.LockNotAvailable):
        record['status'], record['error'] = 'skipped', 'could not lock within lock_timeout'
    elif isinstance(exc, errors.QueryCanceled):
        record['status'], record['error'] = 'cancelled', 'cancelled by statement_timeout or the end of the time budget'
    else:
        record['status'], record['error'] = 'failed', scrub(exc, params)


def _inf(value):
    return float('inf') if value is None else float(value)


def plan(stats, tables=None, min_dead_ratio=0.1, min_dead_tuples=1000, vacuum_age=None, analyze_age=None,
         freeze_xid_age=None, operations=('vacuum', 'analyze')):
    """Choose the work from ``pg_stat_user_tables`` rows (dicts); returns entries, most urgent first."""
    wanted = set(tables) if tables else None
    work = []
    for row in stats:
        name = '%s.%s' % (row['schemaname'], row['relname'])
        if wanted is not None and name not in wanted and row['relname'] not in wanted:
            continue
        live, dead = int(row['n_live_tup'] or 0), int(row['n_dead_tup'] or 0)
        ratio = dead / float(live + dead) if live + dead else 0.0
        reasons = []
        vacuum = analyze = freeze = False
        if 'vacuum' in operations:
            if freeze_xid_age is not None and int(row['xid_age'] or 0) >= freeze_xid_age:
                vacuum = freeze = True
                reasons.append('transaction ID age %d >= %d' % (row['xid_age'], freeze_xid_age))
            if dead >= min_dead_tuples and ratio >= min_dead_ratio:
                vacuum = True
                reasons.append('%.1f %% dead tuples (%d)' % (ratio * 100, dead))
            if vacuum_age is not None and _inf(row['since_vacuum']) >= vacuum_age and live + dead > 0:
                vacuum = True
                reasons.append('not vacuumed for %s' % _since(row['since_vacuum']))
        if 'analyze' in operations:
            if analyze_age is not None and _inf(row['since_analyze']) >= analyze_age and live + dead > 0:
                analyze = True
                reasons.append('not analyzed for %s' % _since(row['since_analyze']))
            mods = int(row.get('n_mod_since_analyze') or 0)
            if mods >= min_dead_tuples and live and mods / float(live) >= min_dead_ratio:
                analyze = True
                reasons.append('%d rows changed since the last analyze' % mods)
        if not (vacuum or analyze):
            continue
        work.append({'relid': row['relid'], 'table': name, 'schema': row['schemaname'], 'name': row['relname'],
                     'vacuum': vacuum, 'analyze': analyze or vacuum and 'analyze' in operations, 'freeze': freeze,
                     'reasons': reasons, 'dead_ratio': round(ratio * 100, 2), 'dead_before': dead,
                     'xid_age': int(row['xid_age'] or 0), 'bytes': int(row['total_bytes'] or 0),
                     'since': max(_inf(row['since_vacuum']) if vacuum else 0, _inf(row['since_analyze']) if analyze else 0)})
    work.sort(key=lambda w: (not w['freeze'], -w['xid_age'] if w['freeze'] else 0, -w['since'], -w['dead_before']))
    return work


def _since(seconds):
    if seconds is None:
        return 'ever (never done)'
    return '%.1f days' % (float(seconds) / 86400)


def statement_for(entry):
    sql = deps.load('psycopg').sql
    relation = qualified_name([entry['schema'], entry['name']])
    if entry['vacuum']:
        options = ['ANALYZE'] if entry['analyze'] else []
        if entry['freeze']:
            options.insert(0, 'FREEZE')
        if options:
            return sql.SQL('VACUUM ({}) {}').format(sql.SQL(', '.join(options)), relation)
        return sql.SQL('VACUUM {}').format(relation)
    return sql.SQL('ANALYZE {}').format(relation)


def estimate_index_bloat(row, fillfactor=0.9):
    """Estimated share (0..1) of a btree index that is free space beyond its fill factor."""
    block = float(row['block_size'])
    pages = math.ceil(float(row['bytes']) / block) if row['bytes'] else 0
    if pages <= 1:
        return 0.0
    width = 8 + int(math.ceil(float(row['key_width'] or 8) / 8.0) * 8) + 4
    per_page = max((block - 24 - 16) * fillfactor / width, 1)
    expected = math.ceil(max(float(row['reltuples'] or 0), 0) / per_page) + 1
    return max(0.0, 1.0 - expected / float(pages))


def maintain(params, tables=None, min_dead_ratio=0.1, min_dead_tuples=1000, vacuum_age=None, analyze_age=None,
             freeze_xid_age=None, operations=('vacuum', 'analyze'), reindex=False, reindex_bloat_ratio=0.5,
             reindex_min_size=10 * 1024 * 1024, time_budget=None, lock_timeout=5.0, statement_timeout=None,
             cancel_at_budget_end=True, check_mode=False, thresholds=None, started_at=None):
    """Run the maintenance; returns a result dict with ``checks``, ``tables``, ``indexes`` and ``statements``.

    ``started_at`` (Unix time) is when the time budget began (the start of the job, for several databases in a
    row); the budget left is ``time_budget`` minus the time since then.
    """
    for option, value in (('min_dead_ratio', min_dead_ratio), ('reindex_bloat_ratio', reindex_bloat_ratio)):
        # NaN compares false with everything: a NaN ratio would silently choose no table at all
        if not (isinstance(value, (int, float)) and 0 <= value <= 1):
            raise MaintenanceError('%s must be a number from 0 to 1, not %r' % (option, value))
    if started_at is not None and not math.isfinite(float(started_at)):
        raise MaintenanceError('started_at must be a Unix time, not %r' % (started_at,))
    psycopg = deps.load('psycopg')
    errors = psycopg.errors
    target = describe(params)
    result = {'target': target, 'tables': [], 'indexes': [], 'statements': [], 'changed': False, 'checks': [],
              'duration': 0.0}
    started = time.monotonic()
    if time_budget is not None and started_at is not None:
        time_budget = max(float(time_budget) - max(time.time() - float(started_at), 0.0), 0.0)
    result['time_budget'] = time_budget
    budget = Budget(time_budget)
    connection = connect(params)
    if not connection.ok:
        result['checks'].append(critical('pg_maintenance.connection', 'cannot connect: %s' % connection.error,
                                         target=target))
        return result
    with connection:
        conn = connection.conn
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        try:
            cur.execute(TABLE_STATS)
            stats = cur.fetchall()
            schemas = None
            if tables:
                cur.execute('SELECT nspname FROM pg_namespace')
                schemas = set(row['nspname'] for row in cur.fetchall())
        except psycopg.Error as exc:
            result['checks'].append(critical('pg_maintenance.connection', 'cannot read pg_stat_user_tables: %s'
                                             % scrub(exc, params), target=target))
            return result
        work = plan(stats, tables=tables, min_dead_ratio=min_dead_ratio, min_dead_tuples=min_dead_tuples,
                    vacuum_age=vacuum_age, analyze_age=analyze_age, freeze_xid_age=freeze_xid_age,
                    operations=operations)
        for entry in work:
            statement = statement_for(entry)
            text = statement.as_string(conn)
            record = {'table': entry['table'], 'statement': text, 'reasons': entry['reasons'],
                      'dead_before': entry['dead_before'], 'dead_after': None, 'dead_ratio_before': entry['dead_ratio'],
                      'xid_age': entry['xid_age'], 'status': 'planned', 'seconds': None}
            result['tables'].append(record)
            if check_mode:
                continue
            if not budget.allows():
                record['status'] = 'pending'
                record['error'] = 'time budget spent before this table'
                continue
            remaining = budget.remaining() if cancel_at_budget_end else None
            limit = statement_timeout
            if remaining is not None:
                limit = remaining if limit is None else min(limit, remaining)
            t0 = time.monotonic()
            try:
                set_timeouts(cur, lock_timeout=pg_interval_ms(lock_timeout),
                             statement_timeout=pg_interval_ms(limit) if limit else '0')
                result['statements'].append(text)
                cur.execute(statement)
                record['status'] = 'done'
                result['changed'] = True
            except psycopg.Error as exc:
                _record_failure(record, exc, errors, params)
            record['seconds'] = round(time.monotonic() - t0, 3)
            try:
                cur.execute('SELECT pg_stat_clear_snapshot()')
                cur.execute(DEAD_TUPLES, {'relid': entry['relid']})
                row = cur.fetchone()
                record['dead_after'] = row['n_dead_tup'] if row else None
            except psycopg.Error:
                pass
        if reindex:
            _reindex(cur, conn, params, result, tables, reindex_bloat_ratio, reindex_min_size, budget,
                     lock_timeout, check_mode, errors, psycopg)
        try:
            cur.execute("SELECT max(age(datfrozenxid)) AS xid_age FROM pg_database WHERE datallowconn")
            xid_age = cur.fetchone()['xid_age']
        except psycopg.Error:
            xid_age = None
    result['duration'] = round(time.monotonic() - started, 3)
    result['checks'] = _checks(result, xid_age, thresholds, target, check_mode)
    if tables:
        result['checks'].insert(0, _tables_check(stats, tables, schemas, target))
    return result


def _reindex(cur, conn, params, result, tables, bloat_ratio, min_size, budget, lock_timeout, check_mode, errors,
             psycopg):
    sql = psycopg.sql
    wanted = set(tables) if tables else None
    try:
        cur.execute(INDEX_BLOAT)
        rows = cur.fetchall()
    except psycopg.Error as exc:
        result['indexes'].append({'status': 'failed', 'error': scrub(exc, params)})
        return
    candidates = []
    for row in rows:
        table = '%s.%s' % (row['nspname'], row['table_name'])
        if wanted is not None and table not in wanted and row['table_name'] not in wanted:
            continue
        bloat = estimate_index_bloat(row)
        if int(row['bytes']) >= min_size and bloat >= bloat_ratio:
            candidates.append((bloat, row, table))
    candidates.sort(key=lambda c: -c[0] * int(c[1]['bytes']))
    for bloat, row, table in candidates:
        statement = sql.SQL('REINDEX INDEX CONCURRENTLY {}').format(sql.Identifier(row['nspname'], row['index_name']))
        text = statement.as_string(conn)
        record = {'index': '%s.%s' % (row['nspname'], row['index_name']), 'table': table, 'statement': text,
                  'bloat_estimate': round(bloat * 100, 1), 'bytes_before': int(row['bytes']), 'bytes_after': None,
                  'status': 'planned'}
        result['indexes'].append(record)
        if check_mode:
            continue
        if not budget.allows():
            record['status'] = 'pending'
            continue
        remaining = budget.remaining()
        earlier = None
        try:
            # invalid leftovers of earlier failures on this table are not this run's to drop (one may be another
            # session's REINDEX in progress): note them first
            cur.execute(REINDEX_LEFTOVERS, {'table': row['indrelid']})
            earlier = set(r['oid'] for r in cur.fetchall())
            set_timeouts(cur, lock_timeout=pg_interval_ms(lock_timeout),
                         statement_timeout=pg_interval_ms(remaining) if remaining else '0')
            result['statements'].append(text)
            cur.execute(statement)
            record['status'] = 'done'
            result['changed'] = True
            # REINDEX CONCURRENTLY builds a new index (new oid) under the old name: look it up by name.
            cur.execute('SELECT pg_relation_size(to_regclass(%(name)s)) AS bytes',
                        {'name': sql.Identifier(row['nspname'], row['index_name']).as_string(conn)})
            after = cur.fetchone()
            record['bytes_after'] = after['bytes'] if after else None
        except psycopg.Error as exc:
            _record_failure(record, exc, errors, params)
        if record['status'] != 'done' and earlier is not None:
            _drop_leftovers(cur, conn, params, row['indrelid'], earlier, lock_timeout, record, result, psycopg)


def _drop_leftovers(cur, conn, params, table_oid, earlier, lock_timeout, record, result, psycopg):
    """After a failed REINDEX CONCURRENTLY: drop the invalid index it left (``DROP INDEX CONCURRENTLY IF
    EXISTS``, waiting at most ``lock_timeout`` for the table's users), or report it with the statement to run.
    An invalid index is never used by queries but is still updated by every write to the table."""
    sql = psycopg.sql
    record['dropped_invalid'], record['left_invalid'] = [], []
    try:
        cur.execute(REINDEX_LEFTOVERS, {'table': table_oid})
        leftovers = [r for r in cur.fetchall() if r['oid'] not in earlier]
    except psycopg.Error as exc:
        record['left_invalid'].append({'index': None, 'statement': None, 'error': scrub(exc, params)})
        return
    for leftover in leftovers:
        name = '%s.%s' % (leftover['nspname'], leftover['relname'])
        statement = sql.SQL('DROP INDEX CONCURRENTLY IF EXISTS {}').format(
            sql.Identifier(leftover['nspname'], leftover['relname']))
        text = statement.as_string(conn)
        try:
            # also after the end of the time budget: a few lock waits of at most lock_timeout, no index build
            set_timeouts(cur, lock_timeout=pg_interval_ms(lock_timeout),
                         statement_timeout=pg_interval_ms(max(3 * float(lock_timeout or 0), 30.0)))
            result['statements'].append(text)
            cur.execute(statement)
            record['dropped_invalid'].append(name)
            result['changed'] = True
        except psycopg.Error as exc:
            record['left_invalid'].append({'index': name, 'statement': text, 'error': scrub(exc, params)})


def _checks(result, xid_age, thresholds, target, check_mode):
    checks = []
    tables = result['tables']
    by_status = {}
    for record in tables + [i for i in result['indexes'] if 'index' in i]:
        by_status.setdefault(record['status'], []).append(record.get('table') if 'index' not in record else record['index'])
    done = [t for t in tables if t['status'] == 'done']
    if check_mode:
        reason = 'check mode: %d table(s) and %d index(es) would be maintained' % (
            len(tables), len([i for i in result['indexes'] if 'index' in i]))
        checks.append(ok('pg_maintenance.work', reason, target=target, value=len(tables), unit='tables'))
    else:
        freed = sum(max((t['dead_before'] or 0) - (t['dead_after'] or 0), 0) for t in done)
        reason = 'maintained %d of %d table(s) (%d dead tuples removed), reindexed %d index(es) in %.1f s' % (
            len(done), len(tables), freed, len(by_status.get('done', [])) - len(done), result['duration'])
        problems = []
        for status in ('skipped', 'cancelled', 'failed'):
            if by_status.get(status):
                problems.append('%s: %s' % (status, ', '.join(by_status[status][:5])))
        dropped = [name for i in result['indexes'] for name in i.get('dropped_invalid', [])]
        left = [entry for i in result['indexes'] for entry in i.get('left_invalid', [])]
        if dropped:
            reason += '; dropped the invalid index(es) failed REINDEX left: %s' % ', '.join(dropped[:5])
        if left:
            problems.append('invalid index(es) left by a failed REINDEX, to drop: %s' % '; '.join(
                entry['statement'] or entry['error'] for entry in left[:5]))
        if problems:
            checks.append(make_check('pg_maintenance.work', 'warning', reason + '; ' + '; '.join(problems),
                                     target=target, value=len(done), unit='tables', priority='medium'))
        else:
            checks.append(ok('pg_maintenance.work', reason, target=target, value=len(done), unit='tables'))
        pending = by_status.get('pending', [])
        if pending:
            checks.append(make_check('pg_maintenance.pending', 'warning',
                                     '%d item(s) left for the next window (time budget spent): %s'
                                     % (len(pending), ', '.join(pending[:5])), target=target, value=len(pending),
                                     unit='items', priority='medium'))
        else:
            checks.append(ok('pg_maintenance.pending', 'all planned work fit in the time budget', target=target,
                             value=0, unit='items'))
    checks.append(evaluate('pg_maintenance.xid_age', int(xid_age) if xid_age is not None else None,
                           threshold_for(thresholds, 'db_xid_age'), label='oldest database transaction ID age',
                           target=target))
    ratios = [(t['dead_after'] if t['dead_after'] is not None else t['dead_before']) for t in tables]
    worst_ratio = max([t['dead_ratio_before'] for t in tables if t['status'] != 'done'] or [0.0])
    checks.append(evaluate('pg_maintenance.dead_tuple_ratio', worst_ratio,
                           threshold_for(thresholds, 'db_dead_tuple_ratio'),
                           label='worst dead-tuple share left unmaintained', target=target, unit='%',
                           details={'tables_considered': len(ratios)}))
    return checks


def run(params, check_mode=False, host=None):
    """The pg_maintenance module's entry (``result.Report``): the module's sizes and durations parsed, then ``maintain``."""
    p = params
    return Report.from_result(maintain(
        p, tables=p['tables'], min_dead_ratio=p['min_dead_ratio'], min_dead_tuples=p['min_dead_tuples'],
        vacuum_age=parse_duration(p['vacuum_age'], 'vacuum_age', allow_none=True),
        analyze_age=parse_duration(p['analyze_age'], 'analyze_age', allow_none=True), freeze_xid_age=p['freeze_xid_age'],
        operations=p['operations'], reindex=p['reindex'], reindex_bloat_ratio=p['reindex_bloat_ratio'],
        reindex_min_size=parse_size(p['reindex_min_size'], 'reindex_min_size'),
        time_budget=parse_duration(p['time_budget'], 'time_budget', allow_none=True),
        lock_timeout=parse_duration(p['lock_timeout'], 'lock_timeout', allow_none=True),
        statement_timeout=parse_duration(p['statement_timeout'], 'statement_timeout', allow_none=True),
        cancel_at_budget_end=p['cancel_at_budget_end'], check_mode=check_mode,
        thresholds=p['thresholds'], started_at=p['started_at']))
