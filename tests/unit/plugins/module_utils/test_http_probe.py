"""http_probe against real HTTP(S) servers on loopback (tests/harness/http.py)."""

import json
import re
import select
import socket
import threading
import time

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health.http_check import check_endpoints, public_url

from tests.harness.http import VALID_TOKEN, HttpServer, reply
from tests.harness.net import free_port

THRESHOLDS = {
    'http_response_time': {'warning': 2, 'unit': 's', 'priority': 'medium'},
    'tls_days_to_expiry': {'warning': 30, 'critical': 7, 'direction': 'below', 'unit': 'days',
                           'priority': {'warning': 'medium', 'critical': 'high'}},
}


def by_name(checks, name, target=None):
    found = [c for c in checks if c['name'] == name and (target is None or c.get('target') == target)]
    assert found, 'no %s check for %s in %s' % (name, target, [(c['name'], c.get('target')) for c in checks])
    return found[0]


@pytest.fixture()
def ca(pki):
    return pki.ca_path


def test_healthy_https_endpoint_reports_status_time_bytes_and_certificate(https_server, ca):
    checks, records = check_endpoints([{'name': 'health', 'url': https_server.url + '/health', 'ca_path': ca,
                                        'json_query': 'checks.db', 'json_expected': 'up', 'body_regex': '"version"'}],
                                      THRESHOLDS)
    record = records[0]
    assert record['status'] == 'ok' and record['ok'] is True
    assert record['status_code'] == 200
    assert record['bytes'] == len(json.dumps({'status': 'ok', 'version': '1.4.2', 'checks': {'db': 'up'}}))
    assert 0 < record['response_time'] < 2
    assert record['tls_version'] in ('TLSv1.2', 'TLSv1.3')
    assert 360 < record['tls_days_to_expiry'] <= 365
    assert [c['status'] for c in checks] == ['ok'] * len(checks)
    assert {c['name'] for c in checks} == {'http.status', 'http.response_time', 'http.tls_expiry', 'http.body', 'http.json'}
    assert by_name(checks, 'http.json')['reason'] == "checks.db == 'up'"
    assert by_name(checks, 'http.response_time')['threshold'] == 2


def test_status_not_expected_is_critical_with_reason(https_server, ca):
    checks, _records = check_endpoints([
        {'name': 'error', 'url': https_server.url + '/error', 'ca_path': ca},
        {'name': 'maint', 'url': https_server.url + '/unavailable', 'ca_path': ca},
        {'name': 'maint-accepted', 'url': https_server.url + '/unavailable', 'ca_path': ca, 'status_code': [200, 503]},
    ], THRESHOLDS)
    assert by_name(checks, 'http.status', 'error')['reason'] == 'status 500 not in [200]'
    assert by_name(checks, 'http.status', 'error')['status'] == 'critical'
    assert by_name(checks, 'http.status', 'maint')['reason'] == 'status 503 not in [200]'
    assert by_name(checks, 'http.status', 'maint-accepted')['status'] == 'ok'


@pytest.mark.slow
def test_slow_endpoint_breaches_the_response_time_threshold(https_server, ca):
    checks, records = check_endpoints([{'name': 'slow', 'url': https_server.url + '/slow?s=3', 'ca_path': ca}], THRESHOLDS)
    check = by_name(checks, 'http.response_time')
    assert check['status'] == 'warning' and check['priority'] == 'medium'
    assert re.match(r'^response 3(\.\d+)? s > 2 s$', check['reason']), check['reason']
    assert records[0]['response_time'] >= 3


def test_wrong_body_fails_regex_and_json_assertions(http_server):
    checks, _records = check_endpoints([
        {'name': 'regex', 'url': http_server.url + '/wrong-body', 'body_regex': r'"status":\s*"ok"'},
        {'name': 'json', 'url': http_server.url + '/wrong-body', 'json_query': 'status', 'json_expected': 'ok'},
        {'name': 'value', 'url': http_server.url + '/health', 'json_query': 'status', 'json_expected': 'green'},
        {'name': 'type-error', 'url': http_server.url + '/health', 'json_query': 'length(checks.db.nothing) > `1`'},
    ], THRESHOLDS)
    assert by_name(checks, 'http.json', 'type-error')['status'] == 'critical'
    assert by_name(checks, 'http.body', 'regex')['reason'] == 'body does not match /"status":\\s*"ok"/'
    assert by_name(checks, 'http.json', 'json')['status'] == 'critical'
    assert by_name(checks, 'http.json', 'json')['reason'].startswith('response is not JSON')
    assert by_name(checks, 'http.json', 'value')['reason'] == "status is 'ok', expected 'green'"
    assert by_name(checks, 'http.status', 'regex')['status'] == 'ok'


def test_failures_are_critical_reasons_and_the_other_endpoints_still_run(http_server, https_server, ca):
    refused_port = free_port()
    endpoints = [
        {'name': 'refused', 'url': 'http://127.0.0.1:%d/health' % refused_port},
        {'name': 'dns', 'url': 'http://no-such-host.invalid/health'},
        {'name': 'timeout', 'url': http_server.url + '/slow?s=6', 'timeout': 1},
        {'name': 'handshake', 'url': http_server.url.replace('http://', 'https://') + '/health'},
        {'name': 'untrusted', 'url': https_server.url + '/health'},
        {'name': 'unverified', 'url': https_server.url + '/health', 'validate_certs': False},
        {'name': 'fine', 'url': https_server.url + '/health', 'ca_path': ca},
    ]
    started = time.monotonic()
    checks, records = check_endpoints(endpoints, THRESHOLDS, workers=8)
    assert time.monotonic() - started < 5  # the timeout endpoint gives up after 1 s, not after 6
    reasons = dict((c['target'], c['reason']) for c in checks if c['name'] == 'http.reachable')
    assert reasons['refused'] == 'connection refused'
    assert reasons['dns'].startswith('DNS lookup failed for no-such-host.invalid')
    assert reasons['timeout'] == 'timeout after 1 s'
    assert reasons['handshake'].startswith('TLS handshake failed')
    assert reasons['untrusted'].startswith('TLS certificate verification failed')
    assert all(c['status'] == 'critical' and c['priority'] == 'high' for c in checks if c['name'] == 'http.reachable')
    status = dict((r['name'], r['status']) for r in records)
    assert status['fine'] == 'ok' and status['unverified'] == 'ok'
    unverified = [r for r in records if r['name'] == 'unverified'][0]
    assert unverified['tls_days_to_expiry'] > 360  # read with cryptography although not verified
    assert [r['name'] for r in records] == [e['name'] for e in endpoints]


def test_login_flow_proves_login_and_token_acceptance_without_leaking_the_token(https_server, ca):
    secrets = []
    endpoints = [
        {'name': 'login', 'url': https_server.url + '/auth/login', 'method': 'POST', 'ca_path': ca,
         'body': {'username': 'monitor', 'password': '{secret}'}, 'secret': 'monitor-pw', 'token_query': 'access_token'},
        {'name': 'me', 'url': https_server.url + '/auth/me', 'use_token': 'token', 'ca_path': ca,
         'json_query': 'active', 'json_expected': True},
    ]
    checks, records = check_endpoints(endpoints, THRESHOLDS, on_secret=secrets.append)
    assert secrets == [VALID_TOKEN]
    assert by_name(checks, 'http.login')['status'] == 'ok'
    assert by_name(checks, 'http.auth')['reason'] == 'token from the login accepted'
    assert by_name(checks, 'http.json', 'me')['status'] == 'ok'
    sent = [r for r in https_server.requests if r.path == '/auth/me'][-1]
    assert sent.headers['Authorization'] == 'Bearer ' + VALID_TOKEN
    login = [r for r in https_server.requests if r.path == '/auth/login'][-1]
    assert login.json() == {'username': 'monitor', 'password': 'monitor-pw'}  # {secret} filled in when sent
    assert VALID_TOKEN not in json.dumps([checks, records])
    assert 'monitor-pw' not in json.dumps([checks, records])


def test_failed_login_marks_dependent_endpoints_not_requested(https_server, ca):
    endpoints = [
        {'name': 'login', 'url': https_server.url + '/auth/login', 'method': 'POST', 'ca_path': ca,
         'body': {'username': 'monitor', 'password': 'wrong'}, 'token_query': 'access_token'},
        {'name': 'me', 'url': https_server.url + '/auth/me', 'use_token': 'token', 'ca_path': ca},
    ]
    before = len([r for r in https_server.requests if r.path == '/auth/me'])
    checks, _records = check_endpoints(endpoints, THRESHOLDS)
    assert by_name(checks, 'http.status', 'login')['reason'] == 'status 401 not in [200] (login rejected)'
    assert by_name(checks, 'http.login')['reason'] == 'login failed with status 401'
    assert by_name(checks, 'http.auth', 'me')['reason'] == "not requested: the login that provides token 'token' failed"
    assert len([r for r in https_server.requests if r.path == '/auth/me']) == before


def test_token_rejected_by_the_service_is_reported():
    routes = {
        '/login': lambda req: reply(200, {'data': {'jwt': 'stale-token'}}),
        '/me': lambda req: reply(401, {'error': 'token rejected'}),
    }
    with HttpServer(routes=routes) as server:
        checks, _records = check_endpoints([
            {'name': 'login', 'url': server.url + '/login', 'method': 'POST', 'token_query': 'data.jwt', 'token_name': 'jwt'},
            {'name': 'me', 'url': server.url + '/me', 'use_token': 'jwt', 'token_header': 'X-Auth',
             'token_format': 'Token {token}'},
        ], THRESHOLDS)
        assert server.requests[-1].headers['X-Auth'] == 'Token stale-token'
    assert by_name(checks, 'http.login')['status'] == 'ok'
    assert by_name(checks, 'http.status', 'me')['reason'] == 'status 401 not in [200] (the token from the login was rejected)'


def test_login_without_token_in_answer_is_critical(http_server):
    checks, _records = check_endpoints([
        {'name': 'login', 'url': http_server.url + '/health', 'token_query': 'access_token'},
        {'name': 'me', 'url': http_server.url + '/auth/me', 'use_token': 'token'},
    ], THRESHOLDS)
    assert by_name(checks, 'http.login')['reason'] == 'login response has no token at access_token'
    assert by_name(checks, 'http.auth')['status'] == 'critical'


def test_request_method_headers_body_and_basic_or_bearer_auth_are_sent(http_server):
    checks, records = check_endpoints([
        {'name': 'apikey', 'url': http_server.url + '/echo?kind=apikey', 'headers': {'X-Api-Key': 'k-{secret}'},
         'secret': 'hidden-key'},
        {'name': 'post', 'url': http_server.url + '/echo', 'method': 'post', 'headers': {'X-Probe': 'yes'},
         'body': {'a': 1}, 'username': 'probe', 'password': 'pw'},
        {'name': 'bearer', 'url': http_server.url + '/echo?kind=bearer', 'bearer_token': 'static-tok'},
        {'name': 'form', 'url': http_server.url + '/echo?kind=form', 'method': 'PUT', 'body': {'x': 'y z'},
         'body_format': 'form'},
    ], THRESHOLDS, workers=1)
    post = [r for r in http_server.requests if r.path == '/echo' and r.method == 'POST'][-1]
    assert post.headers['X-Probe'] == 'yes'
    assert json.loads(post.body) == {'a': 1}
    assert post.headers['Content-Type'] == 'application/json'
    assert post.headers['Authorization'] == 'Basic cHJvYmU6cHc='  # probe:pw
    bearer = [r for r in http_server.requests if r.query.get('kind') == 'bearer'][-1]
    assert bearer.headers['Authorization'] == 'Bearer static-tok'
    apikey = [r for r in http_server.requests if r.query.get('kind') == 'apikey'][-1]
    assert apikey.headers['X-Api-Key'] == 'k-hidden-key'
    assert 'hidden-key' not in json.dumps([checks, records])
    form = [r for r in http_server.requests if r.query.get('kind') == 'form'][-1]
    assert form.method == 'PUT' and form.body == b'x=y+z'


def test_plain_http_through_a_proxy_sends_the_absolute_url(http_server):
    # The harness server answers any absolute-form request by its path, so it stands in for a forward proxy;
    # the .invalid host proves the probe never resolved the origin itself.
    checks, records = check_endpoints([{'name': 'via-proxy', 'url': 'http://origin.invalid/health', 'proxy': http_server.url}],
                                      THRESHOLDS)
    assert records[0]['status_code'] == 200, checks
    assert records[0]['status'] == 'ok'


class ConnectProxy:
    """A minimal HTTP CONNECT proxy (what squid does for HTTPS), counting tunnels and recording auth headers."""

    def __init__(self):
        self.port = free_port()
        self.tunnels = []
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', self.port))
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _address = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client):
        head = b''
        while b'\r\n\r\n' not in head:
            head += client.recv(4096)
        lines = head.decode().split('\r\n')
        _method, hostport, _version = lines[0].split(' ')
        self.tunnels.append({'target': hostport, 'headers': lines[1:]})
        host, port = hostport.rsplit(':', 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
        pair = {client: upstream, upstream: client}
        try:
            while True:
                ready, _writable, _errors = select.select(list(pair), [], [], 10)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self):
        self.sock.close()


def test_https_through_a_connect_proxy_with_proxy_auth(https_server, ca):
    proxy = ConnectProxy()
    try:
        checks, records = check_endpoints([
            {'name': 'a', 'url': https_server.url + '/health', 'ca_path': ca,
             'proxy': 'http://puser:ppass@127.0.0.1:%d' % proxy.port},
        ], THRESHOLDS)
    finally:
        proxy.close()
    assert records[0]['status'] == 'ok', checks
    assert proxy.tunnels[0]['target'] == '127.0.0.1:%d' % https_server.port
    assert 'Proxy-Authorization: Basic cHVzZXI6cHBhc3M=' in proxy.tunnels[0]['headers']
    assert 'ppass' not in json.dumps([checks, records])


def test_workers_bound_the_concurrency(http_server):
    endpoints = [{'name': 'slow%d' % i, 'url': http_server.url + '/slow?s=1'} for i in range(8)]
    started = time.monotonic()
    check_endpoints(endpoints, THRESHOLDS, workers=4)
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 6.5, elapsed  # two rounds of four: not eight at once (1 s) nor one by one (8 s)


def test_many_endpoints_reuse_connections(http_server):
    endpoints = [{'url': http_server.url + '/health?n=%d' % i} for i in range(200)]
    before = len(http_server.requests)
    checks, records = check_endpoints(endpoints, THRESHOLDS, workers=4)
    assert len(http_server.requests) - before == 200
    assert all(r['status'] == 'ok' for r in records)
    assert len(checks) == 400


def test_credentials_in_the_url_are_used_but_never_shown(http_server):
    url = http_server.url.replace('http://', 'http://user:s3cr3t@') + '/echo'
    checks, records = check_endpoints([{'url': url}], THRESHOLDS)
    assert http_server.requests[-1].headers['Authorization'] == 'Basic dXNlcjpzM2NyM3Q='
    assert 's3cr3t' not in json.dumps([checks, records])
    assert public_url(url) == http_server.url + '/echo'


@pytest.mark.parametrize('endpoint, message', [
    ({'url': 'ftp://example.com/x'}, "must start with http:// or https://"),
    ({'url': 'https:///nohost'}, 'has no host'),
    ({'url': 'http://exa mple.com/'}, 'contains white space'),
    ({'url': 'http://example.com:99999/'}, 'invalid port'),
    ({'url': ''}, 'url is empty'),
    ({'url': 'http://x.invalid/', 'body_regex': '('}, 'is not a valid regular expression'),
    ({'url': 'http://x.invalid/', 'json_query': 'a[?'}, 'is not a valid JMESPath expression'),
    ({'url': 'http://x.invalid/', 'json_expected': 1}, 'json_expected needs json_query'),
    ({'url': 'http://x.invalid/', 'timeout': 0}, 'timeout must be greater than 0'),
    ({'url': 'http://x.invalid/', 'status_code': [700]}, 'between 100 and 599'),
    ({'url': 'http://x.invalid/', 'use_token': 'token'}, "use_token 'token' names no token"),
    ({'url': 'http://x.invalid/', 'proxy': 'socks5://p:1080'}, 'must start with http:// or https://'),
    ({'url': 'http://x.invalid/', 'proxy': 'https://p:3128'}, 'only http:// proxies are supported'),
    ({'url': 'http://x.invalid/', 'username': 'u', 'bearer_token': 't'}, 'not both'),
    ({'url': 'http://x.invalid/', 'method': 'GE T'}, 'is not an HTTP method'),
    ({'url': 'https://x.invalid/', 'ca_path': '/nonexistent/ca.pem'}, 'ca_path /nonexistent/ca.pem does not exist'),
    ({'url': 'http://x.invalid/', 'body': {'password': '{secret}'}}, 'use {secret} but the endpoint has no secret'),
    ({'url': 'http://x.invalid/', 'headers': {'X-Key': '{secret}'}}, 'use {secret} but the endpoint has no secret'),
])
def test_invalid_endpoints_get_a_clear_error(endpoint, message):
    with pytest.raises(MaintenanceError) as info:
        check_endpoints([endpoint], THRESHOLDS)
    assert message in info.value.message
    assert info.value.message.startswith('endpoints[0]')


def test_invalid_workers_and_empty_list():
    with pytest.raises(MaintenanceError, match='workers must be at least 1'):
        check_endpoints([{'url': 'http://x.invalid/'}], THRESHOLDS, workers=0)
    with pytest.raises(MaintenanceError, match='at least one endpoint'):
        check_endpoints([], THRESHOLDS)


def test_no_threshold_configured_still_reports_the_time(http_server):
    checks, _records = check_endpoints([{'url': http_server.url + '/health'}], {})
    check = by_name(checks, 'http.response_time')
    assert check['status'] == 'ok' and check['reason'].endswith('(no threshold set)')


def test_query_tokens_are_hidden_in_names_records_and_details_unless_kept(http_server):
    base = http_server.url
    refused = 'http://u:FailPw-123@127.0.0.1:1/x?token=RefusedTok-1&page=3'
    checks, records = check_endpoints([
        {'url': base + '/health?api_key=QueryTok-1&page=2'},
        {'url': base + '/health?api_key=QueryTok-2&page=2', 'name': 'kept', 'record_query_params': ['page']},
        {'url': refused, 'timeout': 2},
    ], THRESHOLDS)
    text = json.dumps([checks, records])
    for secret in ('QueryTok-1', 'QueryTok-2', 'RefusedTok-1', 'FailPw-123'):
        assert secret not in text
    assert records[0]['name'] == records[0]['url'] == base + '/health?api_key=********&page=********'
    assert records[1]['url'] == base + '/health?api_key=********&page=2'
    reachable = [c for c in checks if c['name'] == 'http.reachable'][0]
    assert reachable['details']['url'] == 'http://127.0.0.1:1/x?token=********&page=********'
    assert http_server.requests[-1].query['api_key'] in ('QueryTok-1', 'QueryTok-2')  # the server got the real URL


def test_an_echoed_header_or_a_schemeless_url_never_reaches_a_reason_or_message(http_server):
    checks, _records = check_endpoints([{'url': http_server.url + '/echo', 'headers': {'X-Api-Key': 'HdrSecret-77'},
                                         'json_query': 'headers."X-Api-Key"'}], THRESHOLDS)
    json_check = [c for c in checks if c['name'] == 'http.json'][0]
    assert json_check['status'] == 'ok' and 'HdrSecret-77' not in json_check['reason']
    with pytest.raises(MaintenanceError) as info:
        check_endpoints([{'url': '127.0.0.1:1/x?token=NoScheme-88'}], THRESHOLDS)
    assert 'NoScheme-88' not in info.value.message
    assert 'endpoints[0]' in info.value.message and 'must start with http:// or https://' in info.value.message


def test_of_two_logins_with_the_same_token_name_the_later_one_in_the_list_wins():
    """Tokens are handed over in the order given, not in the order the logins answer (the first one answers last)."""

    def login(token, delay):
        def route(req):
            time.sleep(delay)
            return reply(200, {'access_token': token})
        return route

    def me(req):
        return reply(200 if req.headers.get('Authorization') == 'Bearer tok-second-login-xyz' else 401, {})

    with HttpServer(routes={'/first': login('tok-first-login-abc', 0.5), '/second': login('tok-second-login-xyz', 0),
                            '/me': me}) as server:
        checks, _records = check_endpoints([
            {'name': 'first', 'url': server.url + '/first', 'token_query': 'access_token'},
            {'name': 'second', 'url': server.url + '/second', 'token_query': 'access_token'},
            {'name': 'me', 'url': server.url + '/me', 'use_token': 'token'},
        ], THRESHOLDS, workers=2)
    assert by_name(checks, 'http.auth', 'me')['status'] == 'ok'
    assert by_name(checks, 'http.status', 'me')['value'] == 200


def test_an_error_inside_a_probe_stops_the_run_with_its_message(http_server, https_server, tmp_path):
    """A CA bundle that exists but cannot be loaded is an error of the run (MaintenanceError), raised to the caller
    from the worker thread that met it; the other workers stop taking endpoints."""
    bundle = tmp_path / 'not-a-bundle.pem'
    bundle.write_text('not a certificate\n')
    endpoints = [{'url': http_server.url + '/health?n=%d' % i} for i in range(40)]
    endpoints.insert(5, {'name': 'bad ca', 'url': https_server.url + '/health', 'ca_path': str(bundle)})
    with pytest.raises(MaintenanceError, match='Error while loading the CA bundle'):
        check_endpoints(endpoints, THRESHOLDS, workers=4)
