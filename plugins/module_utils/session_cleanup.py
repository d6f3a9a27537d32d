# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Expired-session purges that never block logins (``session_cleanup``).

* PostgreSQL: small batches, each its own transaction::

      DELETE FROM t WHERE key IN (SELECT key FROM t WHERE expiry < cutoff
                                  ORDER BY expiry LIMIT n FOR UPDATE SKIP LOCKED)
                    AND expiry < cutoff

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
        'delete': sql.SQL('DELETE FROM {rel} WHERE {key} IN (SELECT {key} FROM {rel} WHERE {expired} '
                          'ORDER BY {expiry} LIMIT %(batch)s FOR UPDATE SKIP LOCKED) AND {expired}').format(
                              rel=relation, key=key, expired=expired, expiry=expiry),
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


def purge_postgres(params, table, key_column, expiry_column, schema=None, expiry_format='timestamp',
                   grace=0.0, lifetime=None, batch_size=5000, pause=0.0, time_budget=None, max_batches=None,
                   lock_timeout=2.0, statement_timeout=30.0, vacuum='auto', vacuum_min_rows=10000,
                   check_mode=False, thresholds=None, sleep=time.sleep):
    """Purge expired sessions in batches; returns a result dict with ``checks``.

    ``grace``, ``lifetime``, ``pause``, ``time_budget``, ``lock_timeout`` and ``statement_timeout`` are seconds.
    A session is expired when ``expiry < now() - (lifetime + grace)``; ``lifetime`` is for tables that store the
    last activity instead of an expiry time.
    """
    if batch_size is None or int(batch_size) < 1:
        raise MaintenanceError('batch_size must be at least 1, got %r' % batch_size)
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
        batch = int(batch_size)
        last_batch = 0.0
        consecutive_lock_timeouts = 0
        delete_params = {'cutoff': cutoff, 'batch': batch}
        while True:
            if max_batches and result['batches'] >= max_batches:
                result['stopped'] = 'max_batches'
                break
            if not budget.allows(last_batch):
                result['stopped'] = 'time_budget'
                break
            delete_params = {'cutoff': cutoff, 'batch': batch}
            batch_started = time.monotonic()
            try:
                recorder.execute(cur, statements['delete'], delete_params)
                count = cur.rowcount
            except errors.LockNotAvailable:
                result['lock_timeouts'] += 1
                consecutive_lock_timeouts += 1
                if consecutive_lock_timeouts >= MAX_LOCK_TIMEOUTS:
                    result['stopped'] = 'lock_timeout'
                    break
                sleep(max(pause, lock_timeout or 0))
                continue
            except errors.QueryCanceled:
                result['statement_timeouts'] += 1
                if batch == 1:
                    result['stopped'] = 'statement_timeout'
                    break
                batch = max(batch // 2, 1)  # smaller batches until one fits in statement_timeout
                continue
            except psycopg.Error as exc:
                result['stopped'] = 'error'
                result['error'] = scrub(exc, params)
                break
            consecutive_lock_timeouts = 0
            last_batch = time.monotonic() - batch_started
            result['batches'] += 1
            result['deleted'] += max(count, 0)
            if count <= 0:
                result['stopped'] = 'done'
                break
            if pause:
                sleep(pause)
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
