"""token_check against a real local JWKS server (keys made with cryptography) that rotates keys between runs."""

import datetime
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health.token_check import check_tokens, thumbprint
from tests.harness.http import HttpServer, reply
from tests.harness.net import free_port

NOW = datetime.datetime(2026, 11, 24, 5, 0, tzinfo=datetime.timezone.utc)
THRESHOLDS = {
    'token_days_to_expiry': {'warning': 7, 'critical': 1, 'direction': 'below', 'unit': 'days',
                             'priority': {'warning': 'medium', 'critical': 'high'}},
    'token_hours_to_expiry': {'warning': 0.5, 'critical': 0.1, 'direction': 'below', 'unit': 'h'},
    'jwks_rsa_key_bits': {'critical': 2048, 'direction': 'below', 'unit': 'bits', 'priority': 'high'},
}


class Key:
    """A signing key made with cryptography and its public JWK."""

    def __init__(self, kid, kind='rsa', bits=2048):
        self.kid = kind
        if kind == 'rsa':
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            self.alg, algorithm = 'RS256', RSAAlgorithm
        elif kind == 'ec':
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.alg, algorithm = 'ES256', ECAlgorithm
        else:
            self.private = ed25519.Ed25519PrivateKey.generate()
            self.alg, algorithm = 'EdDSA', OKPAlgorithm
        self.kid = kid
        self.jwk = json.loads(algorithm.to_jwk(self.private.public_key()))
        self.jwk.update(kid=kid, alg=self.alg, use='sig')

    def token(self, **claims):
        base = {'iss': 'https://idp.test/', 'aud': 'api.test', 'sub': 'monitor',
                'iat': int(NOW.timestamp()) - 60, 'exp': int((NOW + datetime.timedelta(days=30)).timestamp())}
        base.update(claims)
        base = dict((k, v) for k, v in base.items() if v is not None)
        return jwt.encode(base, self.private, algorithm=self.alg, headers={'kid': self.kid})


@pytest.fixture(scope='module')
def keys():
    return {'a': Key('key-a'), 'b': Key('key-b'), 'ec': Key('key-ec', 'ec'), 'ed': Key('key-ed', 'okp'),
            'c': Key('key-c')}


class JwksServer(HttpServer):
    """A real HTTP JWKS endpoint whose key set the test changes between runs (a rotating IdP)."""

    def __init__(self):
        self.body = {'keys': []}
        super().__init__(routes={'/jwks.json': lambda req: reply(200, self.body),
                                 '/broken.json': lambda req: reply(200, '<html>login page</html>', 'text/html')})


@pytest.fixture()
def jwks_server():
    with JwksServer() as server:
        yield server


def run(tmp_path, check_mode=False, now=NOW, **params):
    base = dict(thresholds=THRESHOLDS, state_file=str(tmp_path / 'jwks-state.json'), timeout=5, leeway=60,
                issuer='https://idp.test/', audience=['api.test'])
    base.update(params)
    checks, extra, changed = check_tokens(base, check_mode=check_mode, now=now)
    return dict((c['name'], c) for c in checks), extra, changed


def statuses(by_name):
    return dict((name, c['status']) for name, c in by_name.items())


def test_served_jwks_all_key_types_and_valid_token(tmp_path, jwks_server, keys):
    jwks_server.body = {'keys': [keys['a'].jwk, keys['ec'].jwk, keys['ed'].jwk]}
    checks, extra, changed = run(tmp_path, jwks_url=jwks_server.url + '/jwks.json', token=keys['ec'].token())
    assert set(c['status'] for c in checks.values()) == {'ok'}, checks
    assert checks['jwks.keys']['value'] == 3
    assert 'EC/P-256' in checks['jwks.keys']['reason'] and 'OKP/Ed25519' in checks['jwks.keys']['reason']
    assert checks['jwks.key_size']['value'] == 2048
    assert checks['token.signature']['reason'] == 'ES256 signature verified with key key-ec'
    assert checks['token.expiry']['value'] == 30 and checks['token.expiry']['unit'] == 'days'
    assert changed and extra['jwks']['keys'][0]['thumbprint'] == thumbprint(keys['a'].jwk)


def test_rotation_between_runs_with_and_without_overlap(tmp_path, jwks_server, keys):
    url = jwks_server.url + '/jwks.json'
    jwks_server.body = {'keys': [keys['a'].jwk]}
    checks, _extra, _changed = run(tmp_path, jwks_url=url)
    assert 'first run' in checks['jwks.fingerprint']['reason']
    checks, _extra, changed = run(tmp_path, jwks_url=url)
    assert checks['jwks.fingerprint']['status'] == 'ok' and 'unchanged' in checks['jwks.fingerprint']['reason']
    assert not changed
    # the IdP publishes key-b beside key-a: change reported, overlap kept
    jwks_server.body = {'keys': [keys['a'].jwk, keys['b'].jwk]}
    checks, extra, changed = run(tmp_path, jwks_url=url)
    assert changed and extra['changed_keys']['previous'] != extra['changed_keys']['current']
    assert checks['jwks.fingerprint']['status'] == 'warning'
    assert checks['jwks.fingerprint']['details']['added'] == ['key-b']
    assert checks['jwks.rotation']['status'] == 'ok' and 'with overlap' in checks['jwks.rotation']['reason']
    # key-a retired, key-b stays: a clean end of the rotation
    jwks_server.body = {'keys': [keys['b'].jwk]}
    checks, _extra, _changed = run(tmp_path, jwks_url=url)
    assert checks['jwks.rotation']['status'] == 'ok' and 'retired key-a' in checks['jwks.rotation']['reason']
    # key-b replaced by key-c at once: no overlap, tokens signed with key-b now fail
    jwks_server.body = {'keys': [keys['c'].jwk]}
    checks, _extra, _changed = run(tmp_path, jwks_url=url, token=keys['b'].token())
    assert checks['jwks.rotation']['status'] == 'critical'
    assert 'no rotation overlap' in checks['jwks.rotation']['reason']
    assert checks['token.signature']['status'] == 'critical'
    assert "kid 'key-b' is not in the JWKS" in checks['token.signature']['reason']


def test_check_mode_does_not_write_the_state(tmp_path, jwks_server, keys):
    jwks_server.body = {'keys': [keys['a'].jwk]}
    _checks, _extra, changed = run(tmp_path, check_mode=True, jwks_url=jwks_server.url + '/jwks.json')
    assert changed and not (tmp_path / 'jwks-state.json').exists()


@pytest.mark.parametrize('claims,name,status,words', [
    ({'exp': int((NOW - datetime.timedelta(hours=2)).timestamp())}, 'token.expiry', 'critical', 'token expired at 2026-11-24T03:00:00Z'),
    ({'exp': int((NOW + datetime.timedelta(days=3)).timestamp())}, 'token.expiry', 'warning', 'time to expiry 3 days < 7 days'),
    ({'exp': int((NOW + datetime.timedelta(hours=12)).timestamp())}, 'token.expiry', 'critical', 'time to expiry 0.5 days < 1 days'),
    ({'nbf': int((NOW + datetime.timedelta(hours=1)).timestamp())}, 'token.not_before', 'critical', 'not valid yet'),
    ({'iss': 'https://evil.test/'}, 'token.claims', 'critical', "iss 'https://evil.test/' is not the expected"),
    ({'aud': 'other.test'}, 'token.claims', 'critical', 'does not include api.test'),
    ({'exp': None}, 'token.expiry', 'warning', 'no exp claim'),
])
def test_token_claims(tmp_path, keys, claims, name, status, words):
    path = tmp_path / 'jwks.json'
    path.write_text(json.dumps({'keys': [keys['a'].jwk]}))
    checks, _extra, _changed = run(tmp_path, jwks_path=str(path), token=keys['a'].token(**claims))
    assert checks[name]['status'] == status, checks[name]
    assert words in checks[name]['reason']
    assert checks['token.signature']['status'] == 'ok'


def test_hours_threshold_for_short_tokens(tmp_path, keys):
    path = tmp_path / 'jwks.json'
    path.write_text(json.dumps({'keys': [keys['a'].jwk]}))
    token = keys['a'].token(exp=int((NOW + datetime.timedelta(minutes=20)).timestamp()))
    checks, _extra, _changed = run(tmp_path, jwks_path=str(path), token=token, expiry_threshold='token_hours_to_expiry')
    assert checks['token.expiry']['status'] == 'warning' and checks['token.expiry']['unit'] == 'h'
    assert checks['token.expiry']['value'] == pytest.approx(0.333, abs=0.001)


def test_tampered_token_fails_signature(tmp_path, keys):
    path = tmp_path / 'jwks.json'
    path.write_text(json.dumps({'keys': [keys['a'].jwk]}))
    header, payload, signature = keys['a'].token().split('.')
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims['sub'] = 'admin'
    forged = '.'.join([header, jwt.utils.base64url_encode(json.dumps(claims).encode()).decode(), signature])
    checks, _extra, _changed = run(tmp_path, jwks_path=str(path), token=forged)
    assert checks['token.signature']['status'] == 'critical'
    assert 'signature does not match' in checks['token.signature']['reason']
    # a token signed by another key under the same kid
    impostor = Key('key-a')
    checks, _extra, _changed = run(tmp_path, jwks_path=str(path), token=impostor.token())
    assert checks['token.signature']['status'] == 'critical'


def test_alg_none_and_hs256_tokens_are_refused(tmp_path, keys):
    path = tmp_path / 'jwks.json'
    path.write_text(json.dumps({'keys': [keys['a'].jwk]}))
    unsigned = jwt.encode({'sub': 'x', 'exp': int(NOW.timestamp()) + 86400 * 30}, None, algorithm='none',
                          headers={'kid': 'key-a'})
    checks, _extra, _changed = run(tmp_path, jwks_path=str(path), token=unsigned)
    assert checks['token.signature']['status'] == 'critical' and "'none' is not allowed" in checks['token.signature']['reason']
    with pytest.raises(MaintenanceError, match='asymmetric'):
        run(tmp_path, jwks_path=str(path), allowed_algorithms=['HS256'])


def test_garbage_token_is_critical_not_a_traceback(tmp_path, keys):
    path = tmp_path / 'jwks.json'
    path.write_text(json.dumps({'keys': [keys['a'].jwk]}))
    checks, _extra, _changed = run(tmp_path, jwks_path=str(path), token='not.a.jwt')
    assert checks['token.format']['status'] == 'critical'


def test_jwks_not_json(tmp_path, jwks_server):
    checks, _extra, _changed = run(tmp_path, jwks_url=jwks_server.url + '/broken.json')
    assert checks['jwks.reachable']['status'] == 'critical' and 'not valid JSON' in checks['jwks.reachable']['reason']


def test_unreachable_jwks_still_checks_token_claims(tmp_path, keys):
    url = 'http://127.0.0.1:%d/jwks.json' % free_port()
    token = keys['a'].token(exp=int((NOW - datetime.timedelta(days=1)).timestamp()))
    checks, _extra, _changed = run(tmp_path, jwks_url=url, token=token)
    assert checks['jwks.reachable']['status'] == 'critical' and 'refused' in checks['jwks.reachable']['reason'].lower()
    assert checks['token.signature']['status'] == 'unknown'
    assert checks['token.expiry']['status'] == 'critical'


@pytest.mark.parametrize('change,words', [
    ({'n': 'AAAA'}, 'too small'),
    ({'n': '!!!not-base64!!!'}, 'not base64url'),
    ({'n': 'AQID_g'}, 'even'),
])
def test_key_with_bad_modulus(tmp_path, keys, change, words):
    bad = dict(keys['b'].jwk, **change)
    path = tmp_path / 'jwks.json'
    path.write_text(json.dumps({'keys': [keys['a'].jwk, bad]}))
    checks, _extra, _changed = run(tmp_path, jwks_path=str(path), token=keys['a'].token())
    assert checks['jwks.keys']['status'] == 'critical' and words in checks['jwks.keys']['reason']
    assert 'key-b' in checks['jwks.keys']['reason']
    assert checks['token.signature']['status'] == 'ok'  # the good key still verifies


def test_policy_weak_rsa_duplicate_kids_private_material_and_bad_alg(tmp_path, keys):
    weak = Key('weak', bits=1024)
    leaked = json.loads(RSAAlgorithm.to_jwk(keys['c'].private))
    leaked.update(kid='key-c', alg='RS256')
    duplicate = dict(keys['b'].jwk, kid='key-a')
    odd_alg = dict(keys['ec'].jwk, alg='ES256K')
    path = tmp_path / 'jwks.json'
    path.write_text(json.dumps({'keys': [keys['a'].jwk, weak.jwk, leaked, duplicate, odd_alg,
                                         {'kty': 'oct', 'k': 'c2VjcmV0', 'kid': 'hmac'}]}))
    checks, _extra, _changed = run(tmp_path, jwks_path=str(path))
    assert checks['jwks.key_size']['status'] == 'critical'
    assert checks['jwks.key_size']['value'] == 1024 and 'weak' in checks['jwks.key_size']['reason']
    assert checks['jwks.kids']['status'] == 'critical' and 'key-a' in checks['jwks.kids']['reason']
    assert checks['jwks.secret_material']['status'] == 'critical'
    assert 'key-c carries private key members' in checks['jwks.secret_material']['reason']
    assert 'hmac is a symmetric (oct) key' in checks['jwks.secret_material']['reason']
    assert checks['jwks.algorithms']['status'] == 'critical' and 'ES256K' in checks['jwks.algorithms']['reason']


def test_empty_key_set_and_missing_file(tmp_path):
    path = tmp_path / 'jwks.json'
    path.write_text('{"keys": []}')
    checks, _extra, _changed = run(tmp_path, jwks_path=str(path))
    assert checks['jwks.keys']['status'] == 'critical'
    checks, _extra, _changed = run(tmp_path, jwks_path=str(tmp_path / 'missing.json'))
    assert checks['jwks.reachable']['status'] == 'critical' and 'No such file' in checks['jwks.reachable']['reason']


def test_a_token_in_the_jwks_url_query_never_reaches_checks_extra_or_the_state(tmp_path, jwks_server, keys):
    """An IdP reached with ``?api_key=...``: the checks (recorded by the callback), the result and the state file
    name the JWKS by its redacted URL."""
    secret = 'jwks-QueryToken-5521'
    jwks_server.body = {'keys': [keys['a'].jwk]}
    url = jwks_server.url + '/jwks.json?api_key=' + secret
    checks, extra, _changed = run(tmp_path, jwks_url=url)
    assert checks['jwks.reachable']['status'] == 'ok' if 'jwks.reachable' in checks else True
    assert checks['jwks.keys']['value'] == 1
    assert secret not in json.dumps([checks, extra])
    assert secret not in (tmp_path / 'jwks-state.json').read_text()
    assert 'api_key=********' in json.dumps(checks)
    # the state is keyed by the redacted URL, so the next run finds it
    checks, _extra, changed = run(tmp_path, jwks_url=url)
    assert not changed and 'unchanged' in checks['jwks.fingerprint']['reason']


@pytest.mark.parametrize('value, words', [(None, 'must be a string'), ({'a': 1}, 'must be a string'),
                                          ('secret-value\r\nX-Injected: 1', 'may not contain CR, LF or NUL')])
def test_bad_header_values_are_named_without_the_value(tmp_path, value, words):
    """Found by the fuzz test: headers {'a': None} ended in a TypeError traceback inside http.client."""
    with pytest.raises(MaintenanceError) as raised:
        run(tmp_path, jwks_url='http://127.0.0.1:%d/jwks' % free_port(), headers={'X-Api-Key': value})
    assert 'headers: the value of X-Api-Key %s' % words in str(raised.value)
    assert 'secret-value' not in str(raised.value)


def test_a_jwks_path_that_is_a_fifo_is_critical_not_a_hang(tmp_path):
    import os
    os.mkfifo(str(tmp_path / 'fifo'))
    checks, _extra, _changed = run(tmp_path, jwks_path=str(tmp_path / 'fifo'))
    assert checks['jwks.reachable']['status'] == 'critical'
    assert 'not a regular file' in checks['jwks.reachable']['reason']
