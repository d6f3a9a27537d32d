"""http_check: per-phase timings, fresh connections, and the compact result (issue 18), against real local servers."""

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health.http_check import (
    PHASES,
    check_endpoints,
    compact_result,
)

THRESHOLDS = {'http_response_time': {'warning': 2, 'unit': 's', 'priority': 'medium'}}


@pytest.fixture()
def ca(pki):
    return pki.ca_path


def test_phases_of_a_new_https_connection_add_up(https_server, ca):
    url = https_server.url.replace('127.0.0.1', 'localhost') + '/health'
    checks, records = check_endpoints([{'name': 'health', 'url': url, 'ca_path': ca}], THRESHOLDS, workers=1)
    phases = records[0]['phases']
    assert set(phases) == set(PHASES)
    assert all(isinstance(phases[k], float) and phases[k] >= 0 for k in PHASES), phases
    assert phases['tls'] > 0 and phases['connect'] > 0
    assert phases['dns'] + phases['connect'] + phases['tls'] + phases['first_byte'] + phases['transfer'] <= phases['total'] + 1e-6
    assert abs(phases['total'] - records[0]['response_time']) < 0.001
    assert records[0]['reused_connection'] is False


def test_kept_alive_requests_time_no_handshake_and_fresh_connections_time_every_one(https_server, ca):
    endpoints = [{'name': 'h%d' % i, 'url': https_server.url + '/health', 'ca_path': ca} for i in range(6)]
    checks, records = check_endpoints(endpoints, THRESHOLDS, workers=1)
    reused = [r for r in records if r['reused_connection']]
    assert len(reused) == 5, records      # one worker: one handshake, then the same connection
    assert all(r['phases']['tls'] is None and r['phases']['connect'] is None for r in reused)
    checks, records = check_endpoints(endpoints, THRESHOLDS, workers=1, defaults={'fresh_connection': True})
    assert [r['reused_connection'] for r in records] == [False] * 6
    assert all(r['phases']['tls'] > 0 and r['phases']['connect'] > 0 for r in records)
    # per endpoint, the endpoint's own setting wins over the default
    endpoints[0]['fresh_connection'] = False
    checks, records = check_endpoints(endpoints[:2] + [dict(endpoints[2], fresh_connection=True)], THRESHOLDS, workers=1)
    assert [r['reused_connection'] for r in records] == [False, True, False]


def test_plain_http_has_no_tls_phase(http_server):
    # a generous timeout: this once failed on a loaded CI machine with the record's error hidden behind a KeyError
    checks, records = check_endpoints([{'url': http_server.url + '/health', 'timeout': 60}], THRESHOLDS, workers=1)
    assert records[0]['error'] is None, records[0]
    assert records[0]['phases']['tls'] is None and records[0]['phases']['connect'] >= 0


def test_a_refused_connection_is_still_a_critical_check_with_its_reason():
    from tests.harness.net import free_port
    checks, records = check_endpoints([{'name': 'down', 'url': 'http://127.0.0.1:%d/' % free_port()}], THRESHOLDS,
                                      defaults={'fresh_connection': True})
    assert [(c['name'], c['status']) for c in checks] == [('http.reachable', 'critical')]
    assert records[0]['error_kind'] == 'refused' and 'phases' not in records[0]


def test_compact_keeps_every_problem_and_summarizes_the_rest(https_server, ca):
    endpoints = [{'name': 'h%d' % i, 'url': https_server.url + '/health', 'ca_path': ca} for i in range(20)]
    endpoints.append({'name': 'broken', 'url': https_server.url + '/error', 'ca_path': ca})
    checks, records = check_endpoints(endpoints, THRESHOLDS, workers=4)
    small, extra = compact_result(checks, records)
    assert extra['endpoint_count'] == 21 and extra['endpoints_ok'] == 20
    assert [r['name'] for r in extra['endpoints']] == ['broken']
    failing = [c for c in small if c['status'] != 'ok']
    assert failing == [c for c in checks if c['status'] != 'ok'] and failing[0]['target'] == 'broken'
    by_name = dict((c['name'], c) for c in small if c['status'] == 'ok')
    assert by_name['http.status']['reason'] == 'ok on 20 endpoint(s)'
    slowest = max((c for c in checks if c['name'] == 'http.response_time' and c['status'] == 'ok'), key=lambda c: c['value'])
    assert by_name['http.response_time']['value'] == slowest['value'] and by_name['http.response_time']['threshold'] == 2
    assert slowest['target'] in by_name['http.response_time']['reason']
    # the broken endpoint's own response time is still ok: counted in the summary, not lost
    assert 'ok on 21 endpoint(s)' in by_name['http.response_time']['reason']


def run_module(capsys, args):
    """The http_check module in-process, as Ansible runs it; returns its JSON result."""
    import json

    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.autopilotcx.maintenance.plugins.modules import http_check

    with patch_module_args(args):
        with pytest.raises(SystemExit):
            http_check.main()
    return json.loads(capsys.readouterr().out)


def test_the_module_returns_the_compact_result_by_default_and_every_record_on_request(http_server, capsys):
    """Breaking change of issue 18: ``detail`` defaults to ``compact``; ``detail: full`` gives every check and record."""
    endpoints = [{'name': 'h%d' % i, 'url': http_server.url + '/health'} for i in range(5)]
    endpoints.append({'name': 'broken', 'url': http_server.url + '/error'})
    args = dict(endpoints=endpoints, fail_on='never', thresholds=THRESHOLDS)
    result = run_module(capsys, args)
    assert result['endpoint_count'] == 6 and result['endpoints_ok'] == 5
    assert [r['name'] for r in result['endpoints']] == ['broken']
    assert result['status'] == 'critical' and result['failed_checks'] == ['http.status (broken)']
    assert [(c['name'], c['target']) for c in result['checks'] if c['status'] == 'ok'] == [
        ('http.status', '5 endpoint(s)'), ('http.response_time', '6 endpoint(s)')]
    assert result['invocation']['module_args']['endpoints'] == '6 endpoint(s), not echoed with detail=compact'

    full = run_module(capsys, dict(args, detail='full'))
    assert [r['name'] for r in full['endpoints']] == [e['name'] for e in endpoints]
    assert len(full['checks']) == 12 and 'endpoint_count' not in full
    assert full['status'] == result['status'] and full['failed_checks'] == result['failed_checks']
