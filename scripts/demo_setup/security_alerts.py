"""Demo data for token validation and the security scan (security-alerts, issue 4).

* A JWKS served over HTTP on loopback (``demo_jwks_url`` in env.yml). Yesterday's run saw key
  ``demo-2026-10``; since then the IdP replaced it with ``demo-2026-11`` at once (no rotation overlap).
  A sample token signed by the new key expires in 3 days (warning against token_days_to_expiry).
* A small file tree under ``<demo_dir>/security/scan``: a world-writable config file and a SUID helper;
  yesterday's baseline is taken by the real scan code, then a rogue SUID binary appears and a watched
  file changes, so today's scan reports them.
"""

import datetime
import json
import os

from tests.harness.http import HttpServer, reply
from tests.harness.paths import ensure_collection_link

ensure_collection_link()


def _jwk(private, kid):
    from jwt.algorithms import RSAAlgorithm
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid, alg='RS256', use='sig')
    return jwk


def setup(env):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.security_scan import scan
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health.token_check import check_tokens

    base = os.path.join(env['demo_dir'], 'security')
    os.makedirs(base, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    # --- JWKS: yesterday's key set recorded by a real token_check run, then rotated without overlap
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    served = {'keys': [_jwk(old, 'demo-2026-10')]}
    server = HttpServer(routes={'/.well-known/jwks.json': lambda req: reply(200, served)}).start()
    env['demo_jwks_url'] = server.url + '/.well-known/jwks.json'
    state_file = os.path.join(base, 'jwks-state.json')
    check_tokens({'jwks_url': env['demo_jwks_url'], 'state_file': state_file, 'thresholds': {}},
                 now=now - datetime.timedelta(days=1))
    served['keys'] = [_jwk(new, 'demo-2026-11')]
    token = jwt.encode({'iss': 'https://idp.demo.test/', 'aud': 'api.demo.test', 'sub': 'monitoring',
                        'iat': int(now.timestamp()), 'exp': int((now + datetime.timedelta(days=3)).timestamp())},
                       new, algorithm='RS256', headers={'kid': 'demo-2026-11'})
    with open(os.path.join(base, 'sample_token.jwt'), 'w') as handle:
        handle.write(token)
    os.chmod(os.path.join(base, 'sample_token.jwt'), 0o600)

    # --- scan tree: yesterday's baseline by the real scan code, then today's changes
    tree = os.path.join(base, 'scan')
    for sub in ('bin', 'etc', 'shared'):
        os.makedirs(os.path.join(tree, sub), exist_ok=True)
    helper = os.path.join(tree, 'bin', 'helper')
    with open(helper, 'w') as handle:
        handle.write('#!/bin/sh\necho helper\n')
    os.chmod(helper, 0o4755)
    conf = os.path.join(tree, 'etc', 'app.conf')
    with open(conf, 'w') as handle:
        handle.write('db_password_file=/run/secrets/db\n')
    os.chmod(conf, 0o666)
    hosts = os.path.join(tree, 'etc', 'hosts')
    with open(hosts, 'w') as handle:
        handle.write('127.0.0.1 localhost\n')
    os.chmod(os.path.join(tree, 'shared'), 0o1777)
    scan({'categories': ['suid', 'integrity'], 'scan_paths': [tree], 'integrity_paths': [os.path.join(tree, 'etc')],
          'baseline_file': os.path.join(base, 'baseline.json')})
    rogue = os.path.join(tree, 'bin', 'rogue')
    with open(rogue, 'w') as handle:
        handle.write('#!/bin/sh\nexec /bin/sh -p\n')
    os.chmod(rogue, 0o4755)
    with open(hosts, 'a') as handle:
        handle.write('203.0.113.66 api.bank.example\n')
