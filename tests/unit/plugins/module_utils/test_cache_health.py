"""cache_check logic against a real redis-server (Debian package) on a free loopback port."""

import json
import os
import socket
import threading

import pytest
import yaml

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import cache_check as cache_health
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from tests.harness.net import free_port
from tests.harness.paths import ROOT
from tests.harness.services import RedisServer

THRESHOLDS = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'maintenance', 'defaults', 'main.yml')))['maintenance_thresholds']
PASSWORD = 'Redis-s3cret-pw'


def params(server, **extra):
    result = {'host': server.host, 'port': server.port, 'password': server.password, 'timeout': 2}
    result.update(extra)
    return result


def by_name(checks):
    return dict((c['name'], c) for c in checks)


@pytest.fixture()
def secured_redis():
    with RedisServer(password=PASSWORD) as server:
        yield server


def test_real_hits_and_misses(secured_redis):
    client = secured_redis.client()
    client.set('session:1', 'x')
    for _index in range(9):
        client.get('session:1')
    client.get('session:missing')  # 9 hits, 1 miss
    checks, server = cache_health.run_cache_checks(params(secured_redis), thresholds=THRESHOLDS, interval=0.1)
    named = by_name(checks)
    assert list(named) == ['cache.connection', 'cache.hit_ratio', 'cache.evictions', 'cache.memory_used',
                           'cache.connected_clients']
    assert server['reachable'] and server['version'].split('.')[0] >= '6' and server['role'] == 'master'
    ratio = named['cache.hit_ratio']
    assert ratio['value'] == 90.0 and ratio['status'] == 'ok' and ratio['details']['keyspace_misses'] == 1
    assert '9 hits, 1 misses' in ratio['reason']
    assert named['cache.evictions']['value'] == 0 and named['cache.evictions']['status'] == 'ok'
    assert named['cache.connected_clients']['value'] >= 2  # the test's client and the check's own
    memory = named['cache.memory_used']
    assert memory['status'] == 'ok' and 'maxmemory is not set' in memory['reason']
    client.get('session:missing')
    client.get('session:missing')  # 9 hits, 3 misses: 75 % is below the critical 80 %
    checks, _server = cache_health.run_cache_checks(params(secured_redis), ['hit_ratio'], THRESHOLDS, interval=0)
    assert checks[0]['value'] == 75.0 and checks[0]['status'] == 'critical'
    assert 'interval_hit_ratio' not in checks[0]['details']


def test_no_lookups_yet_is_unknown(secured_redis):
    checks, _server = cache_health.run_cache_checks(params(secured_redis), ['hit_ratio', 'clients'], THRESHOLDS, interval=0)
    assert checks[0]['status'] == 'unknown' and 'no keyspace lookups' in checks[0]['reason']
    assert checks[1]['status'] == 'ok'


def test_memory_against_maxmemory_and_eviction_rate(secured_redis):
    client = secured_redis.client()
    client.config_set('maxmemory', '2mb')
    client.config_set('maxmemory-policy', 'allkeys-lru')
    stop = threading.Event()

    def writer():
        writer_client = secured_redis.client()
        index = 0
        while not stop.is_set():
            writer_client.set('filler:%d' % index, 'x' * 2048)
            index += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        checks, _server = cache_health.run_cache_checks(params(secured_redis), ['evictions', 'memory'], THRESHOLDS,
                                                        interval=0.5)
    finally:
        stop.set()
        thread.join(10)
    named = by_name(checks)
    evictions = named['cache.evictions']
    assert evictions['status'] in ('warning', 'critical') and evictions['value'] > 1, evictions
    assert evictions['details']['maxmemory_policy'] == 'allkeys-lru' and 'over 0.5' in evictions['reason']
    memory = named['cache.memory_used']
    assert memory['details']['maxmemory_bytes'] == 2 * 1024 * 1024
    assert memory['value'] > 85 and memory['status'] in ('warning', 'critical'), memory
    assert 'of maxmemory' in memory['reason'] and 'allkeys-lru' in memory['reason']
    # without sampling, the rate is averaged over the uptime
    checks, _server = cache_health.run_cache_checks(params(secured_redis), ['evictions'], THRESHOLDS, interval=0)
    assert checks[0]['value'] > 0 and 'averaged over the uptime' in checks[0]['reason']


def test_thresholds_force_warning_on_clients(secured_redis):
    extra = [secured_redis.client() for _index in range(3)]
    for client in extra:
        client.ping()
    thresholds = dict(THRESHOLDS, cache_connected_clients={'warning': 3, 'critical': 100, 'unit': 'clients'})
    checks, _server = cache_health.run_cache_checks(params(secured_redis), ['clients'], thresholds, interval=0)
    assert checks[0]['status'] == 'warning' and checks[0]['value'] >= 4


def test_wrong_password_is_critical_and_never_echoed(secured_redis):
    checks, server = cache_health.run_cache_checks(params(secured_redis, password='Wrong-redis-pw-xyz'), thresholds=THRESHOLDS)
    named = by_name(checks)
    assert server == {'reachable': False}
    assert named['cache.connection']['status'] == 'critical'
    assert 'authentication' in named['cache.connection']['reason']
    assert all(named[n]['status'] == 'unknown' for n in named if n != 'cache.connection')
    dumped = json.dumps(checks)
    assert 'Wrong-redis-pw-xyz' not in dumped and PASSWORD not in dumped


def test_redis_down_is_critical():
    with RedisServer() as server:
        coordinates = params(server)
    checks, _server = cache_health.run_cache_checks(coordinates, ['connection', 'memory'], THRESHOLDS)
    assert checks[0]['status'] == 'critical' and 'Connection refused' in checks[0]['reason']
    assert checks[1]['status'] == 'unknown' and checks[1]['name'] == 'cache.memory_used'


def test_server_that_never_answers_times_out():
    listener = socket.socket()
    listener.bind(('127.0.0.1', free_port()))
    listener.listen(5)  # accepts at the TCP level, never speaks
    try:
        host, port = listener.getsockname()
        checks, _server = cache_health.run_cache_checks({'host': host, 'port': port, 'timeout': 0.5}, ['connection'],
                                                        THRESHOLDS)
    finally:
        listener.close()
    assert checks[0]['status'] == 'critical' and 'timeout after 0.5 s' in checks[0]['reason']


@pytest.mark.parametrize('pieces, interval, message', [
    (['hits'], 1, 'unknown cache_check piece'),
    (['connection'], -1, 'interval must be between 0 and 60'),
    (['connection'], True, 'interval must be between 0 and 60'),
])
def test_bad_options_are_clear_errors(pieces, interval, message):
    with pytest.raises(MaintenanceError, match=message):
        cache_health.run_cache_checks({'host': '127.0.0.1', 'port': 1}, pieces, THRESHOLDS, interval)
