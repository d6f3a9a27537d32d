# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Redis cache checks (``cache_check``): plain Python on redis-py.

``run_cache_checks(params, pieces, thresholds, interval)`` pings the server,
reads ``INFO`` (twice, ``interval`` seconds apart, when rates are wanted) and
returns ``(checks, server)``. A server that cannot be reached, or that refuses
the credentials, gives a critical ``cache.connection`` check with the reason
and ``unknown`` for the other pieces; the password never appears in any output.
"""

import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    Report,
    critical,
    evaluate,
    format_value,
    ok,
    threshold_for,
    unknown,
)

PIECES = ('connection', 'hit_ratio', 'evictions', 'memory', 'clients')

THRESHOLDS = {
    'hit_ratio': 'cache_hit_ratio',
    'evictions': 'cache_evictions',
    'memory': 'cache_memory_used',
    'clients': 'cache_connected_clients',
}

NAMES = {
    'connection': 'cache.connection',
    'hit_ratio': 'cache.hit_ratio',
    'evictions': 'cache.evictions',
    'memory': 'cache.memory_used',
    'clients': 'cache.connected_clients',
}


def describe(params):
    scheme = 'rediss' if params.get('tls') else 'redis'
    return '%s://%s:%s/%s' % (scheme, params.get('host'), params.get('port'), params.get('db') or 0)


def scrub(message, params):
    text = ' '.join(str(message).split())
    password = params.get('password')
    if password:
        text = text.replace(password, '********')
    return text


def _client(redis, params):
    kwargs = dict(host=params['host'], port=params['port'], db=params.get('db') or 0,
                  username=params.get('username') or None, password=params.get('password') or None,
                  socket_timeout=params.get('timeout'), socket_connect_timeout=params.get('timeout'),
                  client_name='autopilotcx.maintenance', decode_responses=True)
    try:  # one attempt: a check must report what it saw, not retry it away (redis-py >= 4.5 retries by default; 3.5 has no Retry)
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        kwargs['retry'] = Retry(NoBackoff(), 0)
    except ImportError:  # pragma: no cover - very old redis-py
        pass
    if params.get('tls'):
        kwargs.update(ssl=True, ssl_ca_certs=params.get('ca_cert'),
                      ssl_cert_reqs='required' if params.get('validate_certs', True) else 'none')
    return redis.Redis(**kwargs)


def _number(info, key):
    value = info.get(key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _check_hit_ratio(info, before, elapsed, spec, target):
    hits, misses = _number(info, 'keyspace_hits'), _number(info, 'keyspace_misses')
    details = {'keyspace_hits': hits, 'keyspace_misses': misses, 'uptime_seconds': info.get('uptime_in_seconds')}
    if before is not None and elapsed:
        d_hits = hits - before.get('keyspace_hits', 0)
        d_misses = misses - before.get('keyspace_misses', 0)
        details['interval_seconds'] = round(elapsed, 3)
        details['interval_lookups'] = d_hits + d_misses
        details['interval_hit_ratio'] = round(100.0 * d_hits / (d_hits + d_misses), 2) if d_hits + d_misses else None
    if not hits and not misses:
        return unknown(NAMES['hit_ratio'], 'no keyspace lookups since the statistics were reset (uptime %s s)'
                       % info.get('uptime_in_seconds'), target=target, details=details)
    ratio = round(100.0 * hits / (hits + misses), 2)
    check = evaluate(NAMES['hit_ratio'], ratio, spec, label='hit ratio', target=target, unit='%', details=details)
    check['reason'] += ' (%d hits, %d misses since the statistics were reset)' % (hits, misses)
    return check


def _check_evictions(info, before, elapsed, spec, target):
    evicted = _number(info, 'evicted_keys') or 0
    uptime = _number(info, 'uptime_in_seconds') or 0
    details = {'evicted_keys_total': evicted, 'maxmemory_policy': info.get('maxmemory_policy')}
    if before is not None and elapsed:
        rate = round(max(evicted - before.get('evicted_keys', 0), 0) / elapsed, 3)
        details['interval_seconds'] = round(elapsed, 3)
        how = 'over %s' % format_value(round(elapsed, 2), 's')
    else:
        uptime = max(uptime, 1)  # INFO counts whole seconds
        rate = round(float(evicted) / uptime, 3)
        how = 'averaged over the uptime of %d s' % uptime
    check = evaluate(NAMES['evictions'], rate, spec, label='evictions', target=target, unit='/s', details=details)
    check['reason'] += ' %s (%d keys evicted in total)' % (how, evicted)
    return check


def _check_memory(info, spec, target):
    used = _number(info, 'used_memory')
    limit = _number(info, 'maxmemory') or 0
    system = _number(info, 'total_system_memory') or 0
    details = {'used_memory_bytes': used, 'maxmemory_bytes': limit, 'maxmemory_policy': info.get('maxmemory_policy'),
               'total_system_memory_bytes': system, 'mem_fragmentation_ratio': info.get('mem_fragmentation_ratio')}
    if used is None:
        return unknown(NAMES['memory'], 'INFO did not report used_memory', target=target, details=details)
    base = limit or system
    if not base:
        return unknown(NAMES['memory'], 'maxmemory is not set and the server does not report its system memory',
                       target=target, details=details)
    percent = round(100.0 * used / base, 2)
    check = evaluate(NAMES['memory'], percent, spec, label='memory used', target=target, unit='%', details=details)
    if limit:
        check['reason'] += ' of maxmemory (%s of %s bytes, policy %s)' % (used, limit, info.get('maxmemory_policy'))
    else:
        check['reason'] += ' of system memory: maxmemory is not set, Redis may grow until the host runs out'
    return check


def _check_clients(info, spec, target):
    clients = _number(info, 'connected_clients')
    details = {'blocked_clients': info.get('blocked_clients'), 'maxclients': info.get('maxclients'),
               'rejected_connections': info.get('rejected_connections')}
    check = evaluate(NAMES['clients'], clients, spec, label='connected clients', target=target, unit='clients',
                     details=details)
    if info.get('maxclients'):
        check['reason'] += ' (maxclients %s)' % info['maxclients']
    return check


def run_cache_checks(params, pieces=None, thresholds=None, interval=1.0):
    """Run the selected pieces against one Redis server; return ``(checks, server)``.

    ``interval`` > 0 samples INFO twice to give the eviction rate and the hit ratio of that interval;
    0 uses the counters since the statistics were reset.
    """
    pieces = list(pieces or PIECES)
    bad = [p for p in pieces if p not in PIECES]
    if bad:
        raise MaintenanceError('unknown cache_check piece(s) %s; choose from %s' % (', '.join(bad), ', '.join(PIECES)))
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval <= 60:
        raise MaintenanceError('cache_check interval must be between 0 and 60 seconds, not %r' % (interval,))
    if not params.get('host'):
        raise MaintenanceError('cache_check needs a host')
    redis = deps.load('redis')
    thresholds = thresholds or {}
    target = describe(params)
    client = _client(redis, params)
    server = {'reachable': False}
    checks = []
    started = time.monotonic()
    try:
        client.ping()
        latency = time.monotonic() - started
        before = client.info() if interval and ('hit_ratio' in pieces or 'evictions' in pieces) else None
        if before is not None:
            time.sleep(interval)
        sampled_at = time.monotonic()
        info = client.info()
        elapsed = (sampled_at - started - latency) if before is not None else None
    except redis.exceptions.RedisError as exc:
        reason = scrub(exc, params) or exc.__class__.__name__
        if isinstance(exc, redis.exceptions.TimeoutError):
            what = 'no answer from Redis at %s: timeout after %s s' % (target, format_value(params.get('timeout'), 's'))
        elif isinstance(exc, redis.exceptions.AuthenticationError) or \
                any(code in str(exc) for code in ('WRONGPASS', 'NOAUTH', 'NOPERM', 'invalid password')):
            what = 'authentication to Redis at %s failed: %s' % (target, reason)
        else:
            what = 'cannot reach Redis at %s: %s' % (target, reason)
        checks.append(critical(NAMES['connection'], what, target=target, details={'error': exc.__class__.__name__}))
        for piece in pieces:
            if piece != 'connection':
                checks.append(unknown(NAMES[piece], 'not measured: no connection to the server', target=target))
        return checks, server
    finally:
        client.close()
    server = {'reachable': True, 'version': info.get('redis_version'), 'mode': info.get('redis_mode'),
              'role': info.get('role'), 'uptime_seconds': info.get('uptime_in_seconds'),
              'ping_seconds': round(latency, 4)}
    if 'connection' in pieces:
        checks.append(ok(NAMES['connection'], 'Redis %s at %s answered PING in %s (role %s)' % (
            info.get('redis_version'), target, format_value(round(latency, 4), 's'), info.get('role')),
            target=target, value=round(latency, 4), unit='s'))
    if 'hit_ratio' in pieces:
        checks.append(_check_hit_ratio(info, before, elapsed, threshold_for(thresholds, THRESHOLDS['hit_ratio']), target))
    if 'evictions' in pieces:
        checks.append(_check_evictions(info, before, elapsed, threshold_for(thresholds, THRESHOLDS['evictions']), target))
    if 'memory' in pieces:
        checks.append(_check_memory(info, threshold_for(thresholds, THRESHOLDS['memory']), target))
    if 'clients' in pieces:
        checks.append(_check_clients(info, threshold_for(thresholds, THRESHOLDS['clients']), target))
    return checks, server


def run(params, check_mode=False, host=None):
    """The cache_check module's entry (``result.Report``): the selected pieces against one Redis server."""
    checks, server = run_cache_checks(params, params['checks'], params['thresholds'], params['interval'])
    return Report(checks, data=dict(server=server))
