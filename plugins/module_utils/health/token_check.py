# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""JWKS and sample-token checks for the ``token_check`` module.

* ``load_jwks`` reads a JWKS from a URL or a file; a failure is a critical
  ``jwks.reachable`` check, never an exception.
* ``inspect_keys`` parses every key with PyJWT (``jwt.PyJWK``, cryptography
  backend) and holds it against a policy: key types, RSA modulus size (the
  ``jwks_rsa_key_bits`` threshold), curves, algorithms, unique ``kid``s, no
  private or symmetric key material in a public key set.
* ``compare_key_sets`` compares RFC 7638 thumbprints with the previous run
  (state file): change detection and rotation overlap.
* ``inspect_token`` verifies a sample token with ``jwt.decode`` against the
  key set, then reports ``exp``/``nbf``/``iss``/``aud`` and the time to expiry.

Plain Python: unit tests call ``check_tokens()`` without Ansible.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import socket
import ssl

from urllib.error import HTTPError, URLError
from urllib.request import HTTPSHandler, Request, build_opener

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import duration_words, from_epoch, iso_utc, unit_seconds, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.settings import resolve as store_settings
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.redact import (
    NO_LOG_MIN_LENGTH,
    redact_url,
    scrub,
    url_secrets,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.state_store import open_state
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    OK,
    Report,
    WARNING,
    critical,
    evaluate,
    make_check,
    ok,
    threshold_for,
    unknown,
)

DEFAULT_ALGORITHMS = ('RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA')
DEFAULT_CURVES = ('P-256', 'P-384', 'P-521', 'Ed25519', 'Ed448')
PRIVATE_MEMBERS = ('d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k')
THUMBPRINT_MEMBERS = {'RSA': ('e', 'kty', 'n'), 'EC': ('crv', 'kty', 'x', 'y'), 'OKP': ('crv', 'kty', 'x')}
_B64URL = re.compile(r'^[A-Za-z0-9_-]+={0,2}$')


def b64url_decode(text):
    text = str(text)
    if not _B64URL.match(text):
        raise ValueError('not base64url')
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


# ------------------------------------------------------------------ loading

def request_headers(headers):
    """The extra HTTP headers as strings; a value that cannot be one is named, never shown (it may be a secret)."""
    result = {}
    for name, value in sorted((headers or {}).items()):
        if value is None or isinstance(value, (dict, list, bool)):
            raise MaintenanceError('headers: the value of %s must be a string' % name)
        value = str(value)
        if any(c in value for c in '\r\n\x00') or any(c in name for c in '\r\n\x00:'):
            raise MaintenanceError('headers: the value of %s may not contain CR, LF or NUL (nor the name a colon)'
                                   % name.replace('\r', '\\r').replace('\n', '\\n').replace('\x00', '\\0'))
        result[name] = value
    return result


def load_jwks(url=None, path=None, timeout=10, validate_certs=True, ca_path=None, headers=None):
    """Return ``(jwks_dict or None, check)``; the check is ``jwks.reachable``, naming the URL without its secrets."""
    target = redact_url(url) if url else path
    extra_headers = request_headers(headers)
    try:
        if url:
            context = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
            if not validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            request = Request(url, headers=dict({'Accept': 'application/json'}, **extra_headers))
            response = build_opener(HTTPSHandler(context=context)).open(request, timeout=timeout)
            raw = response.read(4 * 1024 * 1024 + 1)
            response.close()
        else:
            if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block the read
                raise IOError('%s is not a regular file' % path)
            with open(path, 'rb') as handle:
                raw = handle.read(4 * 1024 * 1024 + 1)
    except HTTPError as exc:
        return None, critical('jwks.reachable', 'JWKS endpoint answered HTTP %s %s' % (exc.code, exc.reason), target=target)
    except URLError as exc:
        return None, critical('jwks.reachable', 'cannot fetch the JWKS: %s' % scrub(getattr(exc, 'reason', exc), url_secrets(url)),
                              target=target)
    except (socket.timeout, ssl.SSLError, OSError, ValueError) as exc:
        what = 'read the JWKS file' if path and not url else 'fetch the JWKS'
        return None, critical('jwks.reachable', 'cannot %s: %s' % (what, scrub(exc, url_secrets(url))), target=target)
    if len(raw) > 4 * 1024 * 1024:
        return None, critical('jwks.reachable', 'JWKS is larger than 4 MiB; refusing to parse it', target=target)
    try:
        data = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, critical('jwks.reachable', 'JWKS is not valid JSON: %s' % exc, target=target,
                              details={'first_bytes': raw[:80].decode('utf-8', 'replace')})
    if not isinstance(data, dict) or not isinstance(data.get('keys'), list):
        return None, critical('jwks.reachable', 'JWKS must be a JSON object with a "keys" list', target=target)
    return data, ok('jwks.reachable', 'JWKS loaded: %d key(s)' % len(data['keys']), target=target, value=len(data['keys']),
                    unit='keys')


# ------------------------------------------------------------------ keys

def thumbprint(jwk):
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key; None for other key types."""
    members = THUMBPRINT_MEMBERS.get(jwk.get('kty'))
    if not members or any(m not in jwk for m in members):
        return None
    canonical = json.dumps(dict((m, jwk[m]) for m in members), sort_keys=True, separators=(',', ':'))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode('utf-8')).digest()).decode('ascii').rstrip('=')


def _label(jwk, index):
    return jwk.get('kid') if isinstance(jwk, dict) and jwk.get('kid') else 'key #%d' % (index + 1)


def parse_key(jwt, jwk):
    """Parse one JWK with PyJWT; return ``(PyJWK or None, facts dict, error or None)``."""
    facts = {'kid': jwk.get('kid'), 'kty': jwk.get('kty'), 'alg': jwk.get('alg'), 'use': jwk.get('use'),
             'crv': jwk.get('crv'), 'bits': None, 'thumbprint': thumbprint(jwk)}
    if jwk.get('kty') == 'RSA':
        # PyJWT is lenient with base64; a modulus that is not base64url, even, or absurdly small is not a key.
        try:
            modulus = b64url_decode(jwk.get('n', ''))
            exponent = b64url_decode(jwk.get('e', ''))
        except (ValueError, TypeError):
            return None, facts, 'RSA modulus or exponent is not base64url'
        n = int.from_bytes(modulus, 'big')
        if n < 3 or n % 2 == 0:
            return None, facts, 'RSA modulus is not a valid modulus (%s)' % ('even' if n and n % 2 == 0 else 'too small')
        e = int.from_bytes(exponent, 'big')
        if e < 3 or e % 2 == 0:
            return None, facts, 'RSA exponent %d is not valid' % e
    try:
        parsed = jwt.PyJWK(jwk)
    except jwt.exceptions.PyJWTError as exc:
        return None, facts, str(exc)
    except (ValueError, TypeError) as exc:
        return None, facts, 'invalid key: %s' % exc
    facts['alg_effective'] = parsed.algorithm_name
    key = parsed.key
    size = getattr(key, 'key_size', None)
    if size is None and hasattr(key, 'curve'):
        size = key.curve.key_size
    facts['bits'] = size
    if jwk.get('kty') == 'EC' and hasattr(key, 'curve'):
        facts['crv'] = jwk.get('crv')
    return parsed, facts, None


def inspect_keys(jwt, jwks, target, thresholds, allowed_algorithms, allowed_curves):
    """Checks on the key set; returns ``(checks, keys)`` where keys maps a label to ``(PyJWK, facts)``."""
    checks = []
    entries = jwks.get('keys') or []
    if not entries:
        checks.append(critical('jwks.keys', 'the JWKS holds no keys; no token can be verified', target=target, value=0, unit='keys'))
        return checks, {}
    parsed = {}
    parse_errors = []
    secrets = []
    strength = []
    algorithms = []
    sizes = {}
    usable = 0
    for index, jwk in enumerate(entries):
        if not isinstance(jwk, dict):
            parse_errors.append('key #%d is not a JSON object' % (index + 1))
            continue
        label = _label(jwk, index)
        leaked = [m for m in PRIVATE_MEMBERS if m in jwk]
        if jwk.get('kty') == 'oct':
            secrets.append('%s is a symmetric (oct) key: its secret is published' % label)
        elif leaked:
            secrets.append('%s carries private key members (%s)' % (label, ', '.join(leaked)))
        if jwk.get('use') not in (None, 'sig'):
            continue  # encryption keys are not signing keys; they are not held against the signing policy
        key, facts, error = parse_key(jwt, jwk)
        if error:
            parse_errors.append('%s: %s' % (label, error))
            continue
        usable += 1
        parsed[label] = (key, facts)
        if facts['kty'] == 'RSA':
            sizes[label] = facts['bits']
        elif facts['crv'] not in allowed_curves:
            strength.append('%s uses curve %s (allowed: %s)' % (label, facts['crv'], ', '.join(allowed_curves)))
        if facts['alg'] and facts['alg'] not in allowed_algorithms:
            algorithms.append('%s declares alg %s (allowed: %s)' % (label, facts['alg'], ', '.join(allowed_algorithms)))
        elif not facts['alg'] and facts.get('alg_effective') not in allowed_algorithms:
            algorithms.append('%s implies alg %s (allowed: %s)' % (label, facts.get('alg_effective'), ', '.join(allowed_algorithms)))
    if parse_errors:
        checks.append(critical('jwks.keys', '%d of %d key(s) do not parse: %s' % (len(parse_errors), len(entries), '; '.join(parse_errors)),
                               target=target, value=usable, unit='keys', details={'errors': parse_errors}))
    else:
        checks.append(ok('jwks.keys', '%d key(s) parse (%s)' % (len(entries), ', '.join(
            sorted(set('%s%s' % (f['kty'], '/' + f['crv'] if f.get('crv') else '') for _k, f in parsed.values())))),
            target=target, value=usable, unit='keys'))
    if secrets:
        checks.append(critical('jwks.secret_material', '; '.join(secrets), target=target))
    else:
        checks.append(ok('jwks.secret_material', 'no private or symmetric key material published', target=target))
    # RSA sizes against the jwks_rsa_key_bits threshold (direction below), the weakest key decides
    if sizes:
        weakest = min(sizes, key=lambda k: sizes[k])
        check = evaluate('jwks.key_size', sizes[weakest], threshold_for(thresholds, 'jwks_rsa_key_bits'),
                         label='weakest RSA key (%s)' % weakest, target=target, unit='bits',
                         details={'rsa_bits': sizes})
        if strength:
            check = critical('jwks.key_size', check['reason'] + '; ' + '; '.join(strength), target=target,
                             value=check['value'], unit='bits', threshold=check['threshold'], details={'rsa_bits': sizes})
        checks.append(check)
    elif strength:
        checks.append(critical('jwks.key_size', '; '.join(strength), target=target))
    elif parsed:
        checks.append(ok('jwks.key_size', 'all keys use allowed curves', target=target))
    if algorithms:
        checks.append(critical('jwks.algorithms', '; '.join(algorithms), target=target))
    elif parsed:
        checks.append(ok('jwks.algorithms', 'algorithms allowed: %s' % ', '.join(sorted(set(
            f['alg'] or f.get('alg_effective') for _k, f in parsed.values()))), target=target))
    kids = [jwk.get('kid') for jwk in entries if isinstance(jwk, dict)]
    missing = kids.count(None)
    duplicates = sorted(set(k for k in kids if k is not None and kids.count(k) > 1))
    if duplicates:
        checks.append(critical('jwks.kids', 'duplicate kid(s): %s; verifiers may pick the wrong key' % ', '.join(duplicates),
                               target=target, details={'kids': kids}))
    elif missing and len(kids) > 1:
        checks.append(make_check('jwks.kids', WARNING, '%d of %d keys have no kid; verifiers must try every key' % (missing, len(kids)),
                                 target=target, priority='medium', details={'kids': kids}))
    else:
        checks.append(ok('jwks.kids', 'kids unique: %s' % ', '.join(k or '(none)' for k in kids), target=target))
    return checks, parsed


def key_set_fingerprint(jwks):
    prints = sorted(t for t in (thumbprint(k) for k in jwks.get('keys') or [] if isinstance(k, dict)) if t)
    return hashlib.sha256('\n'.join(prints).encode('ascii')).hexdigest(), prints


def _kids_by_print(jwks):
    result = {}
    for jwk in jwks.get('keys') or []:
        if isinstance(jwk, dict) and thumbprint(jwk):
            result[thumbprint(jwk)] = jwk.get('kid') or '(no kid)'
    return result


def compare_key_sets(previous, fingerprint, prints, names, target, now):
    """``jwks.fingerprint`` (changed or not) and ``jwks.rotation`` (overlap kept or not)."""
    checks = []
    if not previous:
        checks.append(ok('jwks.fingerprint', 'first run: key set fingerprint %s recorded' % fingerprint[:16], target=target,
                         value=fingerprint[:16]))
        checks.append(ok('jwks.rotation', 'no previous key set to compare with', target=target))
        return checks
    if previous.get('fingerprint') == fingerprint:
        checks.append(ok('jwks.fingerprint', 'key set unchanged since %s' % previous.get('changed_at', previous.get('seen_at')),
                         target=target, value=fingerprint[:16]))
        checks.append(ok('jwks.rotation', 'no rotation since the last run (%d key(s))' % len(prints), target=target))
        return checks
    before = set(previous.get('thumbprints') or [])
    after = set(prints)
    old_names = previous.get('kids') or {}
    added = sorted(names.get(p, p[:12]) for p in after - before)
    removed = sorted(old_names.get(p, p[:12]) for p in before - after)
    kept = sorted(names.get(p, p[:12]) for p in after & before)
    details = {'added': added, 'removed': removed, 'kept': kept, 'previous_fingerprint': previous.get('fingerprint', '')[:16]}
    summary = 'key set changed since %s: added %s; removed %s' % (
        previous.get('seen_at'), ', '.join(added) or 'none', ', '.join(removed) or 'none')
    checks.append(make_check('jwks.fingerprint', WARNING, summary, target=target, value=fingerprint[:16], priority='low',
                             details=details))
    if before and not kept:
        checks.append(critical('jwks.rotation', 'no rotation overlap: all %d previous key(s) (%s) were replaced at once; '
                               'tokens signed with them fail verification until they expire'
                               % (len(before), ', '.join(removed)), target=target, details=details))
    elif added:
        checks.append(ok('jwks.rotation', 'rotation in progress with overlap: new %s beside previous %s'
                         % (', '.join(added), ', '.join(kept)), target=target, details=details))
    else:
        checks.append(ok('jwks.rotation', 'rotation completed: retired %s, still published %s'
                         % (', '.join(removed), ', '.join(kept)), target=target, details=details))
    return checks


# ------------------------------------------------------------------ sample token

def _claim_time(claims, name):
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError('claim %s must be a NumericDate (seconds since the epoch), got %r' % (name, value))
    return from_epoch(value)


def inspect_token(jwt, token, keys, target, thresholds, allowed_algorithms, issuer=None, audience=None,
                  leeway=60, expiry_threshold='token_days_to_expiry', require_exp=True, now=None):
    """Checks on the sample token: signature, iss/aud, nbf, exp and the time to expiry."""
    now = now or utc_now()
    checks = []
    target = 'sample token' if not target else 'sample token (%s)' % target
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={'verify_signature': False})
    except jwt.exceptions.PyJWTError as exc:
        return [critical('token.format', 'the sample token is not a well-formed JWT: %s' % exc, target=target)]
    alg = header.get('alg')
    kid = header.get('kid')
    # --- signature
    if alg not in allowed_algorithms:
        checks.append(critical('token.signature', 'token algorithm %r is not allowed (allowed: %s)'
                               % (alg, ', '.join(allowed_algorithms)), target=target))
    elif keys is None:
        checks.append(unknown('token.signature', 'no usable JWKS to verify the signature against', target=target))
    else:
        candidates = [(label, k) for label, (k, f) in keys.items() if kid is None or f.get('kid') == kid]
        if not candidates:
            checks.append(critical('token.signature', 'token kid %r is not in the JWKS (%s)'
                                   % (kid, ', '.join(sorted(keys)) or 'no usable keys'), target=target,
                                   details={'kid': kid, 'alg': alg}))
        else:
            verified = None
            errors = []
            for label, key in candidates:
                try:
                    jwt.decode(token, key=key.key, algorithms=[alg],
                               options={'verify_exp': False, 'verify_nbf': False, 'verify_iat': False,
                                        'verify_aud': False, 'verify_iss': False, 'require': []})
                except jwt.exceptions.InvalidSignatureError:
                    errors.append('%s: signature does not match' % label)
                except jwt.exceptions.PyJWTError as exc:
                    errors.append('%s: %s' % (label, exc))
                else:
                    verified = label
                    break
            if verified:
                checks.append(ok('token.signature', '%s signature verified with key %s' % (alg, verified), target=target,
                                 details={'kid': kid, 'alg': alg}))
            else:
                checks.append(critical('token.signature', 'signature verification failed: %s' % '; '.join(errors),
                                       target=target, details={'kid': kid, 'alg': alg}))
    # --- issuer and audience
    problems = []
    if issuer is not None and claims.get('iss') != issuer:
        problems.append('iss %r is not the expected %r' % (claims.get('iss'), issuer))
    if audience:
        token_aud = claims.get('aud')
        token_aud = [token_aud] if isinstance(token_aud, str) else list(token_aud or [])
        if not set(audience) & set(token_aud):
            problems.append('aud %s does not include %s' % (token_aud or 'missing', ' or '.join(audience)))
    if problems:
        checks.append(critical('token.claims', '; '.join(problems), target=target))
    elif issuer is not None or audience:
        checks.append(ok('token.claims', 'iss and aud as expected', target=target))
    # --- nbf and exp
    try:
        not_before = _claim_time(claims, 'nbf')
        expires = _claim_time(claims, 'exp')
    except ValueError as exc:
        checks.append(critical('token.expiry', str(exc), target=target))
        return checks
    skew = datetime.timedelta(seconds=leeway)
    if not_before is not None and now + skew < not_before:
        checks.append(critical('token.not_before', 'token is not valid yet: nbf %s is %ds in the future'
                               % (iso_utc(not_before), (not_before - now).total_seconds()), target=target))
    elif not_before is not None:
        checks.append(ok('token.not_before', 'nbf %s has passed' % iso_utc(not_before), target=target))
    spec = threshold_for(thresholds, expiry_threshold)
    unit = (spec or {}).get('unit') if isinstance(spec, dict) else None
    divisor = unit_seconds(unit or 'days', 86400)
    if expires is None:
        status = WARNING if require_exp else OK
        checks.append(make_check('token.expiry', status, 'token has no exp claim: it never expires', target=target,
                                 priority='medium'))
    elif now - skew >= expires:
        checks.append(critical('token.expiry', 'token expired at %s (%s ago)' % (
            iso_utc(expires), duration_words((now - expires).total_seconds())), target=target,
            value=round((expires - now).total_seconds() / divisor, 3), unit=unit or 'days'))
    else:
        remaining = (expires - now).total_seconds() / divisor
        checks.append(evaluate('token.expiry', round(remaining, 3), spec, label='time to expiry', target=target,
                               unit=unit or 'days', details={'exp': iso_utc(expires)}))
    return checks


# ------------------------------------------------------------------ state

# ------------------------------------------------------------------ the module's work

def check_tokens(params, check_mode=False, now=None):
    """Run every check; returns ``(checks, extra, changed)``."""
    jwt = deps.load('jwt')
    now = now or utc_now()
    thresholds = params.get('thresholds') or {}
    allowed_algorithms = list(params.get('allowed_algorithms') or DEFAULT_ALGORITHMS)
    if 'none' in [a.lower() for a in allowed_algorithms] or any(a.startswith('HS') for a in allowed_algorithms):
        raise MaintenanceError('allowed_algorithms may only name asymmetric algorithms (RS*, PS*, ES*, EdDSA), not %s'
                               % ', '.join(a for a in allowed_algorithms if a.lower() == 'none' or a.startswith('HS')))
    allowed_curves = list(params.get('allowed_curves') or DEFAULT_CURVES)
    url, path = params.get('jwks_url'), params.get('jwks_path')
    if not url and not path and not params.get('token'):
        raise MaintenanceError('give jwks_url or jwks_path (and optionally a sample token)')
    target = redact_url(url) if url else path
    checks = []
    keys = None
    extra = {'jwks': {}, 'changed_keys': {}}
    changed = False
    if target:
        jwks, reach = load_jwks(url=url, path=path, timeout=params.get('timeout') or 10,
                                validate_certs=params.get('validate_certs', True), ca_path=params.get('ca_path'),
                                headers=params.get('headers'))
        checks.append(reach)
        if jwks is not None:
            key_checks, keys = inspect_keys(jwt, jwks, target, thresholds, allowed_algorithms, allowed_curves)
            checks.extend(key_checks)
            fingerprint, prints = key_set_fingerprint(jwks)
            names = _kids_by_print(jwks)
            extra['jwks'] = {'fingerprint': fingerprint, 'keys': [f for _k, f in keys.values()]}
            state_file = params.get('state_file')
            if state_file:
                # locked from read to save (file lock, or a PostgreSQL row lock when the outcome store's DSN is set,
                # so the fingerprints outlive an AWX job's container): overlapping runs never lose each other's sources
                state_dsn = params.get('state_dsn')
                if state_dsn is None:
                    state_dsn = store_settings()['pg_dsn']
                with open_state('JWKS state', os.path.expanduser(state_file), dsn=state_dsn or None,
                                namespace='token_check', write=not check_mode) as stored:
                    state = stored.data if isinstance(stored.data, dict) else {}
                    previous = (state.get('sources') or {}).get(target)
                    checks.extend(compare_key_sets(previous, fingerprint, prints, names, target, now))
                    if not previous or previous.get('fingerprint') != fingerprint:
                        entry = {'fingerprint': fingerprint, 'thumbprints': prints, 'kids': names, 'seen_at': iso_utc(now),
                                 'changed_at': iso_utc(now)}
                        extra['changed_keys'] = {'previous': (previous or {}).get('fingerprint'), 'current': fingerprint}
                        changed = True
                        if not check_mode:
                            state.setdefault('sources', {})[target] = entry
                            stored.save(state)
    token = params.get('token')
    if token:
        checks.extend(inspect_token(jwt, token.strip(), keys, params.get('token_name') or '', thresholds,
                                    allowed_algorithms, issuer=params.get('issuer'),
                                    audience=params.get('audience') or [], leeway=params.get('leeway', 60),
                                    expiry_threshold=params.get('expiry_threshold') or 'token_days_to_expiry',
                                    require_exp=params.get('require_exp', True), now=now))
    return checks, extra, changed


def secrets(params):
    """What the token_check module hides before anything runs: the credentials in ``jwks_url``."""
    return url_secrets(params.get('jwks_url'), min_length=NO_LOG_MIN_LENGTH)


def run(params, check_mode=False, host=None):
    """The token_check module's entry (``result.Report``)."""
    checks, extra, changed = check_tokens(params, check_mode=check_mode)
    return Report(checks, changed=changed, data=extra)
