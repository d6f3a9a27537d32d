# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Expired-session purges that never block logins (``session_cleanup``).

* PostgreSQL: small batches, each its own transaction::

      DELETE FROM t WHERE key = ANY(ARRAY(SELECT key FROM t WHERE expiry < cutoff AND expiry >= floor
                                          ORDER BY expiry LIMIT n FOR UPDATE SKIP LOCKED))
                    AND expiry < cutoff

  (``key = ANY(ARRAY(subquery))`` is ``key IN (subquery)`` written so PostgreSQL uses the key index; ``floor``,
  the newest expiry of the previous batch, keeps each batch from re-reading the index entries of deleted rows).

  Rows a login is writing right now are skipped (``SKIP LOCKED``), never waited for; ``lock_timeout`` and
  ``statement_timeout`` bound every statement; a time budget stops the loop cleanly. The repeated
  ``expiry < cutoff`` in the outer ``DELETE`` keeps a live row safe even when the key column is not unique.
* Redis: ``SCAN`` (never ``KEYS``); each key is judged and deleted inside one Lua script, so a session
  refreshed between the read and the delete is never lost.
* Files: session files older than their lifetime, skipping files a process still holds open.

Identifiers are quoted with ``psycopg.sql``; values are always parameters. Plain Python: unit tests call it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.file_cleanup import clean_path
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import Budget, pg_interval_ms
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.postgres import (
    connect,
    describe,
    qualified_name,
    scrub,
    set_timeouts,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.result import (
    critical,
    evaluate,
    make_check,
    ok,
    threshold_for,
)

EXPIRY_FORMATS = ('timestamp', 'epoch', 'epoch_ms')
VACUUM_CHOICES = ('auto', 'always', 'never')
ORDERS = ('expiry', 'physical')
# Consecutive lock timeouts after which the purge gives up for this run.
MAX_LOCK_TIMEOUTS = 3


# ---------------------------------------------------------------------------------------------- PostgreSQL
def _cutoff_condition(sql, expiry_column, expiry_format):
    """``expiry < now() - cutoff`` for the column's storage format; the cutoff (seconds) is a parameter."""
    column = sql.Identifier(expiry_column)
    if expiry_format == 'timestamp':
        return sql.SQL('{} < now() - make_interval(secs => %(cutoff)s)').format(column)
    if expiry_format == 'epoch':
        return sql.SQL('{} < extract(epoch FROM now()) - %(cutoff)s').format(column)
    return sql.SQL('{} < (extract(epoch FROM now()) - %(cutoff)s) * 1000').format(column)


def build_statements(table, key_column, expiry_column, expiry_format='timestamp', schema=None):
    """The statements of a purge as ``psycopg.sql.Composed`` objects: ``probe``, ``count``, ``delete``, ``vacuum``."""
    if expiry_format not in EXPIRY_FORMATS:
        raise MaintenanceError('expiry_format must be one of %s, not %r' % (', '.join(EXPIRY_FORMATS), expiry_format))
    for label, value in (('table', table), ('key_column', key_column), ('expiry_column', expiry_column)):
        if not value or not str(value).strip():
            raise MaintenanceError('%s must name a table or column, got %r' % (label, value))
    sql = deps.load('psycopg').sql
    relation = qualified_name([schema, table] if schema else table)
    key = sql.Identifier(key_column)
    expiry = sql.Identifier(expiry_column)
    expired = _cutoff_condition(sql, expiry_column, expiry_format)
    return {
        'probe': sql.SQL('SELECT {}, {} FROM {} LIMIT 0').format(key, expiry, relation),
        'count': sql.SQL('SELECT count(*) FROM {} WHERE {}').format(relation, expired),
        'floor': sql.SQL('SELECT min({}) FROM {} WHERE {}').format(expiry, relation, expired),
        # One batch: lock the oldest expired rows that nobody else holds (SKIP LOCKED), delete them by key, and
        # return how many went and the newest expiry among them. ``key = ANY(ARRAY(SELECT key ...))`` is the form
        # of ``key IN (SELECT key ...)`` that PostgreSQL runs as key-index lookups instead of a hash join over the
        # whole table; ``expiry >= floor`` starts each batch where the previous one ended, so the index scan does
        # not wade through the entries of rows already deleted.
        'delete': sql.SQL('WITH gone AS (DELETE FROM {rel} WHERE {key} = ANY(ARRAY(SELECT {key} FROM {rel} '
                          'WHERE {expired} AND {expiry} >= %(floor)s ORDER BY {expiry} LIMIT %(batch)s '
                          'FOR UPDATE SKIP LOCKED)) AND {expired} RETURNING {expiry}) '
                          'SELECT count(*), max({expiry}) FROM gone').format(
                              rel=relation, key=key, expired=expired, expiry=expiry),
        # order=physical: the same lock-then-delete, over a range of table blocks (a TID range scan, PostgreSQL
        # 14+) instead of the expiry index: sequential access, for large backlogs.
        'pages': sql.SQL("SELECT pg_relation_size(%(rel)s::regclass) / current_setting('block_size')::int, "
                         "current_setting('server_version_num')::int"),
        'delete_range': sql.SQL('WITH gone AS (DELETE FROM {rel} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {rel} '
                                'WHERE ctid >= %(lo)s::tid AND ctid < %(hi)s::tid AND {expired} '
                                'FOR UPDATE SKIP LOCKED)) AND {expired} RETURNING 1) SELECT count(*) FROM gone').format(
                                    rel=relation, expired=expired),
        'relation': relation,
        'vacuum': sql.SQL('VACUUM (ANALYZE) {}').format(relation),
    }


class _Recorder(object):
    """Keeps each distinct statement once, with how often it ran, for the ``statements`` return value."""

    def __init__(self, conn):
        self.conn = conn
        self.entries = []
        self._index = {}

    def note(self, composed, params=None):
        text = composed.as_string(self.conn) if hasattr(composed, 'as_string') else str(composed)
        if text not in self._index:
            self._index[text] = len(self.entries)
            self.entries.append({'statement': text, 'params': dict(params or {}), 'runs': 0})
        self.entries[self._index[text]]['runs'] += 1

    def execute(self, cursor, composed, params=None):
        self.note(composed, params)
        cursor.execute(composed, params)
        return cursor


class _Stop(Exception):
    """Ends the batch loop with a reason (done, time_budget, max_batches, lock_timeout, ...)."""

    def __init__(self, reason):
        super(_Stop, self).__init__(reason)
        self.reason = reason


def _physical_pass(cur, conn, recorder, statements, cutoff, result, state, batch_run):
    """Delete expired rows block range by block range (``order=physical``); ranges sized to about one batch."""
    relation = statements['relation'].as_string(conn)
    recorder.execute(cur, statements['pages'], {'rel': relation})
    pages, version = cur.fetchone()
    if version < 140000:
        result['order_note'] = 'PostgreSQL %d has no TID range scan; used expiry order' % version
        return
    expired = result['expired_before'] or 0
    if not pages or not expired:
        return
    step = max(int(state['batch'] * pages / float(expired)), 1)
    low = 0
    while low < pages:
        high = low + step
        row = batch_run(statements['delete_range'], {'cutoff': cutoff, 'lo': '(%d,0)' % low, 'hi': '(%d,0)' % high})
        if row is None:
            step = max(step // 2, 1)
            continue
        low = high
        # aim the next range at about batch_size expired rows
        step = max(min(int(step * state['batch'] / float(max(row[0], 1))), step * 4), 1)


def purge_postgres(params, table, key_column, expiry_column, schema=None, expiry_format='timestamp',
                   grace=0.0, lifetime=None, batch_size=5000, pause=0.0, time_budget=None, max_batches=None,
                   lock_timeout=2.0, statement_timeout=30.0, vacuum='auto', vacuum_min_rows=10000,
                   check_mode=False, thresholds=None, sleep=time.sleep, order='expiry'):
    """Purge expired sessions in batches; returns a result dict with ``checks``.

    ``order``: ``expiry`` deletes the oldest sessions first (what a time budget cuts short is the newest);
    ``physical`` walks the table in block order first (sequential I/O, several times faster on large backlogs),
    then sweeps what it skipped in expiry order.

    ``grace``, ``lifetime``, ``pause``, ``time_budget``, ``lock_timeout`` and ``statement_timeout`` are seconds.
    A session is expired when ``expiry < now() - (lifetime + grace)``; ``lifetime`` is for tables that store the
    last activity instead of an expiry time.
    """
    if batch_size is None or int(batch_size) < 1:
        raise MaintenanceError('batch_size must be at least 1, got %r' % batch_size)
    if order not in ORDERS:
        raise MaintenanceError('order must be one of %s, not %r' % (', '.join(ORDERS), order))
    if vacuum not in VACUUM_CHOICES:
        raise MaintenanceError('vacuum must be one of %s, not %r' % (', '.join(VACUUM_CHOICES), vacuum))
    psycopg = deps.load('psycopg')
    errors = psycopg.errors
    statements = build_statements(table, key_column, expiry_column, expiry_format, schema)
    cutoff = float(grace or 0) + float(lifetime or 0)
    target = '%s %s' % (describe(params), '.'.join([schema, table]) if schema else table)
    result = {'backend': 'postgres', 'target': target, 'deleted': 0, 'would_delete': 0, 'remaining_expired': None,
              'expired_before': None, 'batches': 0, 'duration': 0.0, 'stopped': None, 'lock_timeouts': 0,
              'statement_timeouts': 0, 'vacuumed': False, 'statements': [], 'changed': False, 'checks': []}
    started = time.monotonic()
    connection = connect(params)
    if not connection.ok:
        result['checks'].append(critical('session_cleanup.postgres', 'cannot connect: %s' % connection.error,
                                         target=target))
        result['stopped'] = 'connection'
        return result
    with connection:
        conn = connection.conn
        recorder = _Recorder(conn)
        cur = conn.cursor()
        try:
            set_timeouts(cur, lock_timeout=pg_interval_ms(lock_timeout), statement_timeout=pg_interval_ms(statement_timeout))
            recorder.execute(cur, statements['probe'])
            recorder.execute(cur, statements['count'], {'cutoff': cutoff})
            result['expired_before'] = cur.fetchone()[0]
        except psycopg.Error as exc:
            result['statements'] = recorder.entries
            result['stopped'] = 'error'
            result['checks'].append(critical('session_cleanup.postgres', 'cannot read the sessions table: %s'
                                             % scrub(exc, params), target=target))
            return result
        if check_mode:
            result['would_delete'] = result['expired_before']
            result['remaining_expired'] = result['expired_before']
            result['stopped'] = 'check_mode'
            result['duration'] = round(time.monotonic() - started, 3)
            result['statements'] = recorder.entries
            result['checks'].append(ok('session_cleanup.purge', 'check mode: %d expired session(s) would be deleted'
                                       % result['expired_before'], target=target, value=result['expired_before'],
                                       unit='sessions'))
            return result

        budget = Budget(time_budget)
        state = {'batch': int(batch_size), 'last': 0.0, 'lock_timeouts': 0}

        def batch_run(statement, batch_params):
            """Run one batch; returns the fetched row, or None after a retryable error, or raises _Stop."""
            if max_batches and result['batches'] >= max_batches:
                raise _Stop('max_batches')
            if not budget.allows(state['last']):
                raise _Stop('time_budget')
            started_batch = time.monotonic()
            try:
                recorder.execute(cur, statement, batch_params)
                row = cur.fetchone()
            except errors.LockNotAvailable:
                result['lock_timeouts'] += 1
                state['lock_timeouts'] += 1
                if state['lock_timeouts'] >= MAX_LOCK_TIMEOUTS:
                    raise _Stop('lock_timeout')
                sleep(max(pause, lock_timeout or 0))
                return None
            except errors.QueryCanceled:
                result['statement_timeouts'] += 1
                if state['batch'] == 1:
                    raise _Stop('statement_timeout')
                state['batch'] = max(state['batch'] // 2, 1)  # smaller batches until one fits in statement_timeout
                return None
            except psycopg.Error as exc:
                result['error'] = scrub(exc, params)
                raise _Stop('error')
            state['lock_timeouts'] = 0
            state['last'] = time.monotonic() - started_batch
            result['batches'] += 1
            result['deleted'] += row[0]
            if pause and row[0]:
                sleep(pause)
            return row

        try:
            if order == 'physical':
                _physical_pass(cur, conn, recorder, statements, cutoff, result, state, batch_run)
                if result['deleted'] >= (result['expired_before'] or 0) and not result.get('order_note'):
                    raise _Stop('done')  # nothing was skipped: no sweep (rows expiring meanwhile wait for the next run)
            floor, fresh_floor = None, False
            while True:
                if floor is None:
                    # (re)start at the oldest expired row: also picks up rows skipped while locked
                    recorder.execute(cur, statements['floor'], {'cutoff': cutoff})
                    floor, fresh_floor = cur.fetchone()[0], True
                    if floor is None:
                        raise _Stop('done')
                row = batch_run(statements['delete'], {'cutoff': cutoff, 'floor': floor, 'batch': state['batch']})
                if row is None:
                    continue
                count, newest = row
                if count == 0:
                    if fresh_floor or result['deleted'] >= (result['expired_before'] or 0):
                        # what is left (if anything) is locked by someone right now, or nothing was skipped
                        raise _Stop('done')
                    floor = None  # one more pass from the oldest expired row, for rows skipped while locked
                    continue
                floor, fresh_floor = newest, False
        except _Stop as stop:
            result['stopped'] = stop.reason
        except psycopg.Error as exc:
            result['stopped'] = 'error'
            result['error'] = scrub(exc, params)
        batch = state['batch']
        result['batch_size'] = batch
        try:
            recorder.execute(cur, statements['count'], {'cutoff': cutoff})
            result['remaining_expired'] = cur.fetchone()[0]
        except psycopg.Error as exc:
            result.setdefault('error', scrub(exc, params))
        do_vacuum = vacuum == 'always' or (vacuum == 'auto' and result['deleted'] >= int(vacuum_min_rows or 0)
                                           and result['deleted'] > 0)
        if do_vacuum:
            remaining = budget.remaining()
            try:
                set_timeouts(cur, statement_timeout=pg_interval_ms(remaining) if remaining else '0')
                recorder.execute(cur, statements['vacuum'])
                result['vacuumed'] = True
            except psycopg.Error as exc:
                result['vacuum_error'] = scrub(exc, params)
        result['statements'] = recorder.entries
    result['duration'] = round(time.monotonic() - started, 3)
    result['changed'] = result['deleted'] > 0 or result['vacuumed']
    result['checks'] = _postgres_checks(result, thresholds, target)
    return result


_STOP_REASONS = {
    'done': 'no expired session left',
    'time_budget': 'time budget reached',
    'max_batches': 'max_batches reached',
    'lock_timeout': 'gave up after %d consecutive lock timeouts' % MAX_LOCK_TIMEOUTS,
    'statement_timeout': 'a single-row batch exceeded statement_timeout',
    'error': 'stopped by an error',
}


def _postgres_checks(result, thresholds, target):
    summary = 'deleted %d expired session(s) in %d batch(es) in %.1f s; %s' % (
        result['deleted'], result['batches'], result['duration'], _STOP_REASONS.get(result['stopped'], result['stopped']))
    details = dict((key, result.get(key)) for key in ('deleted', 'batches', 'lock_timeouts', 'statement_timeouts',
                                                      'stopped', 'vacuumed', 'vacuum_error', 'error'))
    details = dict((k, v) for k, v in details.items() if v is not None)
    if result['stopped'] == 'error':
        purge = critical('session_cleanup.purge', '%s: %s' % (summary, result.get('error')), target=target,
                         value=result['deleted'], unit='sessions', details=details)
    elif result['stopped'] in ('lock_timeout', 'statement_timeout') or result.get('vacuum_error'):
        reason = summary + ('; VACUUM failed: %s' % result['vacuum_error'] if result.get('vacuum_error') else '')
        purge = make_check('session_cleanup.purge', 'warning', reason, target=target, value=result['deleted'],
                           unit='sessions', priority='medium', details=details)
    else:
        purge = ok('session_cleanup.purge', summary, target=target, value=result['deleted'], unit='sessions',
                   details=details)
    backlog = evaluate('session_cleanup.expired_backlog', result['remaining_expired'],
                       threshold_for(thresholds, 'session_expired_backlog'), label='expired sessions left',
                       target=target, unit='sessions')
    return [purge, backlog]


# ---------------------------------------------------------------------------------------------- Redis
# KEYS[1]: the key. ARGV: field, now, grace, default_ttl, dry ('1'), scale (embedded expiry units per second).
# Returns 0 live (kept), 1 expired (deleted), 2 TTL given, 3 no expiry and no TTL (left alone), 4 gone.
REDIS_SCRIPT = """
local field = ARGV[1]
local now = tonumber(ARGV[2])
local grace = tonumber(ARGV[3])
local default_ttl = tonumber(ARGV[4])
local dry = ARGV[5] == '1'
local scale = tonumber(ARGV[6])
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return 4 end
local expiry = nil
if field ~= '' then
  if kind == 'hash' then
    expiry = tonumber(redis.call('HGET', KEYS[1], field))
  elseif kind == 'string' then
    local raw = redis.call('GET', KEYS[1])
    local okay, doc = pcall(cjson.decode, raw)
    if okay and type(doc) == 'table' then expiry = tonumber(doc[field]) end
  end
end
if expiry ~= nil then expiry = expiry / scale end
if expiry ~= nil and expiry + grace < now then
  if not dry then redis.call('DEL', KEYS[1]) end
  return 1
end
if redis.call('TTL', KEYS[1]) == -1 then
  local seconds = 0
  if expiry ~= nil then
    seconds = math.ceil(expiry + grace - now)
  elseif default_ttl > 0 then
    seconds = default_ttl
  end
  if seconds > 0 then
    if not dry then redis.call('EXPIRE', KEYS[1], seconds) end
    return 2
  end
  return 3
end
return 0
"""


def redis_client(host='127.0.0.1', port=6379, password=None, username=None, db=0, tls=False, ca_cert=None,
                 timeout=5.0):
    redis = deps.load('redis')
    kwargs = dict(host=host, port=port, password=password, db=db, socket_timeout=timeout,
                  socket_connect_timeout=timeout)
    if username:
        kwargs['username'] = username
    if tls:
        kwargs['ssl'] = True
        if ca_cert:
            kwargs['ssl_ca_certs'] = ca_cert
    return redis.Redis(**kwargs)


def purge_redis(client, pattern, expiry_field=None, expiry_unit='s', grace=0.0, default_ttl=None, scan_count=500,
                time_budget=None, check_mode=False, target=None, thresholds=None, password=None):
    """SCAN keys matching ``pattern``; delete those whose embedded expiry has passed, give a TTL to those without."""
    if not pattern or not pattern.strip('*'):
        raise MaintenanceError('pattern must name the session keys (for example "session:*"), not %r' % pattern)
    if expiry_unit not in ('s', 'ms'):
        raise MaintenanceError('expiry_unit must be s or ms, not %r' % expiry_unit)
    redis = deps.load('redis')
    target = target or 'redis %s' % pattern
    result = {'backend': 'redis', 'target': target, 'scanned': 0, 'deleted': 0, 'would_delete': 0, 'ttl_set': 0,
              'would_set_ttl': 0, 'kept': 0, 'no_expiry': 0, 'duration': 0.0, 'stopped': None,
              'changed': False, 'checks': []}
    started = time.monotonic()
    budget = Budget(time_budget)
    counters = {1: 'deleted', 2: 'ttl_set', 3: 'no_expiry', 0: 'kept'}
    if check_mode:
        counters.update({1: 'would_delete', 2: 'would_set_ttl'})
    try:
        script = client.register_script(REDIS_SCRIPT)
        now = client.time()
        now = now[0] + now[1] / 1e6
        scale = 1000 if expiry_unit == 'ms' else 1
        args = [expiry_field or '', repr(now), repr(float(grace or 0)), str(int(default_ttl or 0)),
                '1' if check_mode else '0', str(scale)]
        cursor = 0
        while True:
            if not budget.allows():
                result['stopped'] = 'time_budget'
                break
            cursor, keys = client.scan(cursor=cursor, match=pattern, count=scan_count)
            if keys:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    script(keys=[key], args=args, client=pipe)
                for code in pipe.execute():
                    name = counters.get(int(code))
                    if name:
                        result[name] += 1
                result['scanned'] += len(keys)
            if int(cursor) == 0:
                result['stopped'] = 'done'
                break
    except redis.RedisError as exc:
        message = str(exc)
        if password:
            message = message.replace(password, '********')
        result['stopped'] = 'error'
        result['duration'] = round(time.monotonic() - started, 3)
        result['checks'].append(critical('session_cleanup.redis', 'Redis error: %s' % message, target=target))
        return result
    result['duration'] = round(time.monotonic() - started, 3)
    result['changed'] = bool(result['deleted'] or result['ttl_set'])
    if check_mode:
        reason = 'check mode: scanned %d key(s); %d expired would be deleted, %d would get a TTL' % (
            result['scanned'], result['would_delete'], result['would_set_ttl'])
    else:
        reason = 'scanned %d key(s) in %.1f s; deleted %d expired, gave %d a TTL, %d live' % (
            result['scanned'], result['duration'], result['deleted'], result['ttl_set'], result['kept'])
    if result['stopped'] == 'time_budget':
        reason += '; time budget reached before the scan finished'
    if result['no_expiry']:
        reason += '; %d key(s) have neither an embedded expiry nor a TTL' % result['no_expiry']
    status = 'warning' if result['stopped'] == 'time_budget' or result['no_expiry'] else 'ok'
    result['checks'].append(make_check('session_cleanup.redis', status, reason, target=target,
                                       value=result['deleted'] if not check_mode else result['would_delete'],
                                       unit='keys', priority='low' if status == 'ok' else 'medium',
                                       details=dict((k, result[k]) for k in ('scanned', 'deleted', 'would_delete',
                                                                             'ttl_set', 'would_set_ttl', 'kept',
                                                                             'no_expiry'))))
    return result


# ---------------------------------------------------------------------------------------------- files
def purge_files(path, lifetime, grace=0.0, patterns=('sess_*',), recurse=False, check_mode=False, thresholds=None):
    """Session files older than ``lifetime + grace`` seconds, skipping files a process holds open."""
    if lifetime is None:
        raise MaintenanceError('lifetime is required for file sessions (for example 24m for PHP\'s default)')
    started = time.monotonic()
    outcome = clean_path(path, age=float(lifetime) + float(grace or 0), patterns=list(patterns or ['*']),
                         recurse=recurse, skip_open=True, check_mode=check_mode, check_prefix='session_cleanup.files',
                         thresholds=thresholds)
    outcome.update(backend='files', deleted=outcome['removed'], would_delete=outcome['would_remove'],
                   duration=round(time.monotonic() - started, 3), stopped='check_mode' if check_mode else 'done')
    return outcome
