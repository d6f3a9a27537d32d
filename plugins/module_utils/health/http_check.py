# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTP(S) endpoint probes for the ``http_check`` module.

Plain Python (standard library ``http.client`` and ``ssl``; ``jmespath`` only
for JSON assertions and token extraction). Endpoints are probed concurrently in
a bounded thread pool; each worker thread keeps one persistent connection per
origin, so many endpoints on the same server cost one TCP/TLS handshake per
worker instead of one per request.

Login flows: an endpoint with ``token_query`` is a login request; the token it
extracts is handed to the endpoints that name it in ``use_token``. Login
endpoints run first, the others after. Tokens are passed to ``on_secret`` (the
module registers them as ``no_log`` values) and never appear in a result.

Secrets: URLs are returned through ``redact.redact_url`` (no user info, query
values hidden except the parameters named in ``record_query_params``), and
every message built from an exception is scrubbed of the endpoint's secrets
(URL password and query values, header values, password, tokens).
"""

import base64
import importlib
import json
import os
import re
import socket
import ssl
import threading
import time

import http.client as http_client

from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import UTC, from_epoch, iso_utc, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import check_argument_spec
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.redact import (
    NO_LOG_MIN_LENGTH,
    SCRUB_MIN_LENGTH,
    header_secrets,
    redact_url,
    scrub,
    url_secrets,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    Report,
    critical,
    evaluate,
    format_value,
    ok,
    threshold_for,
    worst,
)

RESPONSE_TIME_THRESHOLD = 'http_response_time'
EXPIRY_THRESHOLD = 'tls_days_to_expiry'
MAX_BODY = 4 * 1024 * 1024
USER_AGENT = 'autopilotcx.maintenance-http_check/0.1'

ENDPOINT_DEFAULTS = dict(
    name=None, method='GET', headers=None, body=None, body_format='raw', username=None, password=None,
    bearer_token=None, status_code=None, body_regex=None, json_query=None, json_expected=None,
    timeout=None, validate_certs=None, ca_path=None, proxy=None, token_query=None, token_name='token',
    use_token=None, token_header='Authorization', token_format='Bearer {token}', secret=None,
    record_query_params=None, fresh_connection=None,
)
PHASES = ('dns', 'connect', 'tls', 'first_byte', 'transfer', 'total')
SECRET_PLACEHOLDER = '{secret}'
_SPACE = re.compile(r'\s')
_METHOD = re.compile(r'^[A-Z]+$')


# ---------------------------------------------------------------- validation

def _fail(index, endpoint, message):
    label = endpoint.get('name') or public_url(endpoint.get('url') or '', endpoint.get('record_query_params'))
    raise MaintenanceError(scrub('endpoints[%d] (%s): %s' % (index, label, message), endpoint_secrets(endpoint)))


def _split_url(url, what='url'):
    """The parts of an http(s) URL; messages never show the URL itself (it may hold a token), only its redacted form."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError('%s is empty' % what)
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ValueError('%s is not a valid URL (%s)' % (what, scrub(exc, url_secrets(url))))
    if parts.scheme not in ('http', 'https'):
        raise ValueError('%s must start with http:// or https:// (got %s)' % (what, redact_url(url)))
    if not parts.hostname:
        raise ValueError('%s %s has no host' % (what, redact_url(url)))
    try:
        parts.port  # noqa: B018 -- reading the property validates the port (ValueError when out of range)
    except ValueError:
        raise ValueError('%s %s has an invalid port' % (what, redact_url(url)))
    if _SPACE.search(url.strip()):
        raise ValueError('%s %s contains white space' % (what, redact_url(url)))
    return parts


def public_url(url, keep_params=()):
    """``url`` as it may be shown: no user info, query values hidden except ``keep_params`` (``redact.redact_url``)."""
    return redact_url(url, keep_params)


def endpoint_secrets(endpoint, min_length=NO_LOG_MIN_LENGTH):
    """The secret strings an endpoint (raw or normalized) carries: URL password and query values, proxy password,
    header values (except harmless ones), password, bearer token and secret.

    ``min_length`` drops short query values whose parameter name does not look secret (``?s=3``, ``?page=2``): they
    are hidden in the URLs shown, but replacing every ``3`` in a message would make it unreadable.
    """
    secrets = url_secrets(endpoint.get('url'), endpoint.get('record_query_params') or (), min_length=min_length)
    if endpoint.get('proxy'):
        secrets += url_secrets(endpoint['proxy'], min_length=min_length)
    if isinstance(endpoint.get('headers'), dict):  # a value with the {secret} placeholder is a template, not a secret
        secrets += [v for v in header_secrets(endpoint['headers']) if SECRET_PLACEHOLDER not in v]
    secrets += [str(endpoint[k]) for k in ('password', 'bearer_token', 'secret') if endpoint.get(k)]
    return secrets


def no_log_values(endpoints):
    """What the module hides from Ansible's output (``-vvv`` shows the arguments): URL passwords, query values
    whose names look secret or that are long enough to be tokens (``redact.NO_LOG_MIN_LENGTH``), proxy passwords."""
    values = []
    for endpoint in endpoints or []:
        if isinstance(endpoint, dict):
            values += url_secrets(endpoint.get('url'), endpoint.get('record_query_params') or (), min_length=NO_LOG_MIN_LENGTH)
            values += url_secrets(endpoint.get('proxy'), min_length=NO_LOG_MIN_LENGTH)
    return [v for v in values if len(v) >= SCRUB_MIN_LENGTH]


def normalize_endpoints(endpoints, defaults=None):
    """Validate the endpoint list; return full endpoint dicts. Raises ``MaintenanceError`` on bad input."""
    defaults = defaults or {}
    if not endpoints:
        raise MaintenanceError('endpoints: give at least one endpoint')
    result = []
    token_names = set()
    for index, raw in enumerate(endpoints):
        if not isinstance(raw, dict):
            raise MaintenanceError('endpoints[%d] must be a mapping with at least a url, not %r' % (index, raw))
        endpoint = dict(ENDPOINT_DEFAULTS)
        endpoint.update(dict((k, v) for k, v in raw.items() if v is not None))
        for key in ('timeout', 'validate_certs', 'ca_path', 'proxy', 'fresh_connection'):
            if endpoint.get(key) is None:
                endpoint[key] = defaults.get(key)
        if endpoint['timeout'] is None:
            endpoint['timeout'] = 10.0
        if endpoint['validate_certs'] is None:
            endpoint['validate_certs'] = True
        try:
            parts = _split_url(endpoint.get('url'))
            if endpoint.get('proxy'):
                proxy = _split_url(endpoint['proxy'], 'proxy')
                if proxy.scheme != 'http':
                    raise ValueError('proxy %s: only http:// proxies are supported' % public_url(endpoint['proxy']))
        except ValueError as exc:
            _fail(index, raw, str(exc))
        endpoint['url'] = endpoint['url'].strip()
        keep = endpoint.get('record_query_params') or []
        if not isinstance(keep, (list, tuple)) or not all(isinstance(k, str) for k in keep):
            _fail(index, raw, 'record_query_params must be a list of query parameter names')
        endpoint['record_query_params'] = list(keep)
        endpoint['_secrets'] = endpoint_secrets(endpoint)
        endpoint['_public_url'] = public_url(endpoint['url'], keep)
        endpoint['name'] = endpoint.get('name') or endpoint['_public_url']
        endpoint['method'] = str(endpoint['method']).upper()
        if not _METHOD.match(endpoint['method']):
            _fail(index, raw, 'method %r is not an HTTP method' % endpoint['method'])
        try:
            endpoint['timeout'] = float(endpoint['timeout'])
        except (TypeError, ValueError):
            _fail(index, raw, 'timeout must be a number of seconds, not %r' % (endpoint['timeout'],))
        if endpoint['timeout'] <= 0:
            _fail(index, raw, 'timeout must be greater than 0, not %s' % format_value(endpoint['timeout']))
        codes = endpoint.get('status_code') or [200]
        if not isinstance(codes, (list, tuple)):
            codes = [codes]
        try:
            codes = [int(code) for code in codes]
        except (TypeError, ValueError):
            _fail(index, raw, 'status_code must be a list of integers, not %r' % (endpoint.get('status_code'),))
        if any(code < 100 or code > 599 for code in codes):
            _fail(index, raw, 'status_code values must be between 100 and 599, not %s' % codes)
        endpoint['status_code'] = codes
        if endpoint['body_format'] not in ('raw', 'json', 'form'):
            _fail(index, raw, 'body_format must be raw, json or form, not %r' % endpoint['body_format'])
        if endpoint.get('headers') is not None and not isinstance(endpoint['headers'], dict):
            _fail(index, raw, 'headers must be a mapping')
        if endpoint.get('body_regex'):
            try:
                endpoint['_body_regex'] = re.compile(endpoint['body_regex'])
            except re.error as exc:
                _fail(index, raw, 'body_regex %r is not a valid regular expression: %s' % (endpoint['body_regex'], exc))
        for key in ('json_query', 'token_query'):
            if endpoint.get(key):
                jmespath = deps.load('jmespath')
                try:
                    endpoint['_' + key] = jmespath.compile(endpoint[key])
                except Exception as exc:  # jmespath raises its own ParseError / LexerError
                    _fail(index, raw, '%s %r is not a valid JMESPath expression: %s' % (key, endpoint[key], exc))
        if endpoint.get('json_expected') is not None and not endpoint.get('json_query'):
            _fail(index, raw, 'json_expected needs json_query')
        if endpoint.get('username') and endpoint.get('bearer_token'):
            _fail(index, raw, 'give either username/password (basic auth) or bearer_token, not both')
        if endpoint.get('password') is not None and not endpoint.get('username'):
            _fail(index, raw, 'password needs username')
        if endpoint.get('secret') is None and _mentions_secret([endpoint.get('body'), endpoint.get('headers')]):
            _fail(index, raw, 'body or headers use {secret} but the endpoint has no secret')
        if endpoint.get('use_token'):
            if endpoint.get('token_query'):
                _fail(index, raw, 'an endpoint cannot both obtain a token (token_query) and use one (use_token)')
            if '{token}' not in endpoint['token_format']:
                _fail(index, raw, 'token_format must contain {token}')
        if endpoint.get('ca_path') and endpoint['validate_certs'] and not os.path.isfile(endpoint['ca_path']):
            _fail(index, raw, 'ca_path %s does not exist' % endpoint['ca_path'])
        endpoint['_parts'] = parts
        if endpoint.get('token_query'):
            token_names.add(endpoint['token_name'])
        result.append(endpoint)
    for index, endpoint in enumerate(result):
        if endpoint.get('use_token') and endpoint['use_token'] not in token_names:
            _fail(index, endpoint, 'use_token %r names no token; set token_query (and token_name) on the login endpoint'
                  % endpoint['use_token'])
    return result


# ---------------------------------------------------------------- connections

class _Contexts(object):
    """SSL contexts are costly to build (trust store loading): one per (verify, CA) pair, shared by all threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cache = {}

    def get(self, verify, ca_path):
        key = (bool(verify), ca_path)
        with self._lock:
            context = self._cache.get(key)
            if context is None:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                if verify:
                    context.check_hostname = True
                    context.verify_mode = ssl.CERT_REQUIRED
                    if ca_path:
                        try:
                            context.load_verify_locations(cafile=ca_path)
                        except (IOError, OSError, ssl.SSLError) as exc:
                            raise MaintenanceError('Error while loading the CA bundle %s: %s' % (ca_path, exc))
                    else:
                        context.load_default_certs()
                else:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._cache[key] = context
            return context


def _connect_timed(conn):
    """Resolve, then connect to the first address that answers, timing both (``conn._apcx_phases``)."""
    phases = conn._apcx_phases = {'dns': None, 'connect': None, 'tls': None}
    started = time.monotonic()
    infos = socket.getaddrinfo(conn.host, conn.port, 0, socket.SOCK_STREAM)
    resolved = time.monotonic()
    phases['dns'] = resolved - started
    error = None
    for family, kind, proto, _canonical, address in infos:
        sock = None
        try:
            sock = socket.socket(family, kind, proto)
            sock.settimeout(conn.timeout)
            sock.connect(address)
            break
        except OSError as exc:
            error = exc
            if sock is not None:
                sock.close()
            sock = None
    if sock is None:
        raise error or OSError('no address for %s' % conn.host)
    phases['connect'] = time.monotonic() - resolved
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    conn.sock = sock


class _TimedHTTPConnection(http_client.HTTPConnection):
    """``connect`` records the DNS and connect phases (a proxy tunnel keeps the standard connect, untimed)."""

    def connect(self):
        if self._tunnel_host:
            self._apcx_phases = {'dns': None, 'connect': None, 'tls': None}
            return http_client.HTTPConnection.connect(self)
        _connect_timed(self)


class _TimedHTTPSConnection(http_client.HTTPSConnection):
    """``connect`` records the DNS, connect and TLS handshake phases."""

    def connect(self):
        if self._tunnel_host:
            self._apcx_phases = {'dns': None, 'connect': None, 'tls': None}
            return http_client.HTTPSConnection.connect(self)
        _connect_timed(self)
        started = time.monotonic()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)
        self._apcx_phases['tls'] = time.monotonic() - started


class _Pool(object):
    """Persistent connections per worker thread and origin."""

    def __init__(self, contexts):
        self.contexts = contexts
        self.local = threading.local()
        self.lock = threading.Lock()
        self.all = []

    def _key(self, endpoint):
        parts = endpoint['_parts']
        return (parts.scheme, parts.hostname, parts.port, endpoint.get('proxy'), bool(endpoint['validate_certs']),
                endpoint.get('ca_path'))

    def take(self, endpoint):
        """Return ``(connection, reused)``; an endpoint with ``fresh_connection`` always gets a new one."""
        if endpoint.get('fresh_connection'):
            return self._new(endpoint), False
        conns = getattr(self.local, 'conns', None)
        if conns is None:
            conns = self.local.conns = {}
        key = self._key(endpoint)
        conn = conns.pop(key, None)
        if conn is not None and conn.sock is not None:
            return conn, True
        return self._new(endpoint), False

    def give_back(self, endpoint, conn):
        self.local.conns[self._key(endpoint)] = conn

    def _new(self, endpoint):
        parts = endpoint['_parts']
        port = parts.port or (443 if parts.scheme == 'https' else 80)
        timeout = endpoint['timeout']
        proxy = urlsplit(endpoint['proxy']) if endpoint.get('proxy') else None
        host, conn_port = (proxy.hostname, proxy.port or 8080) if proxy else (parts.hostname, port)
        if parts.scheme == 'https':
            context = self.contexts.get(endpoint['validate_certs'], endpoint.get('ca_path'))
            conn = _TimedHTTPSConnection(host, conn_port, timeout=timeout, context=context)
            if proxy:
                conn.set_tunnel(parts.hostname, port, headers=_proxy_headers(proxy))
        else:
            conn = _TimedHTTPConnection(host, conn_port, timeout=timeout)
        conn._apcx_tls = None
        conn._apcx_phases = None
        with self.lock:
            self.all.append(conn)
        return conn

    def close(self):
        with self.lock:
            for conn in self.all:
                try:
                    conn.close()
                except Exception:  # closing is best effort
                    pass
            self.all = []


def _proxy_headers(proxy):
    if proxy.username is None:
        return {}
    creds = '%s:%s' % (unquote(proxy.username), unquote(proxy.password or ''))
    return {'Proxy-Authorization': 'Basic ' + base64.b64encode(creds.encode('utf-8')).decode('ascii')}


def _tls_info(conn):
    """Days to expiry and notAfter of the certificate the connection's server presented (cached per connection)."""
    if conn._apcx_tls is not None:
        return conn._apcx_tls
    info = {}
    sock = conn.sock
    if isinstance(sock, ssl.SSLSocket):
        info['tls_version'] = sock.version()
        not_after = None
        der = sock.getpeercert(binary_form=True)
        if der and deps.available('cryptography'):
            x509 = importlib.import_module('cryptography.x509')
            cert = x509.load_der_x509_certificate(der)
            stamp = getattr(cert, 'not_valid_after_utc', None)
            if stamp is None:
                stamp = cert.not_valid_after.replace(tzinfo=UTC)
            not_after = stamp
        else:
            peer = sock.getpeercert() or {}
            if peer.get('notAfter'):
                not_after = from_epoch(ssl.cert_time_to_seconds(peer['notAfter']))
        if not_after is not None:
            now = utc_now()
            info['tls_not_after'] = iso_utc(not_after)
            info['tls_days_to_expiry'] = round((not_after - now).total_seconds() / 86400.0, 2)
    conn._apcx_tls = info
    return info


# ---------------------------------------------------------------- one request

class ProbeFailure(Exception):
    """The request could not complete; ``reason`` is the one-line explanation."""

    def __init__(self, reason, kind):
        super(ProbeFailure, self).__init__(reason)
        self.reason = reason
        self.kind = kind


def describe_error(exc, endpoint):
    """Map a socket/TLS/HTTP exception to ``(kind, reason)``; the reason never holds the endpoint's secrets."""
    kind, reason = _describe_error(exc, endpoint)
    return kind, scrub(reason, endpoint.get('_secrets') or endpoint_secrets(endpoint))


def _describe_error(exc, endpoint):
    host = endpoint['_parts'].hostname
    timeout = format_value(endpoint['timeout'], 's')
    if isinstance(exc, socket.gaierror):
        return 'dns', 'DNS lookup failed for %s: %s' % (host, exc.strerror or exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return 'tls', 'TLS certificate verification failed: %s' % (exc.verify_message or exc.reason or exc)
    if isinstance(exc, ssl.SSLError):
        return 'tls', 'TLS handshake failed: %s' % (exc.reason or exc.strerror or exc)
    if isinstance(exc, socket.timeout):
        return 'timeout', 'timeout after %s' % timeout
    if isinstance(exc, ConnectionRefusedError):
        return 'refused', 'connection refused'
    if isinstance(exc, ConnectionResetError):
        return 'reset', 'connection reset by peer'
    if isinstance(exc, http_client.RemoteDisconnected):
        return 'closed', 'server closed the connection without a response'
    if isinstance(exc, http_client.HTTPException):
        return 'protocol', 'invalid HTTP response: %s' % (exc.__class__.__name__ if not str(exc) else exc)
    if isinstance(exc, OSError) and getattr(exc, 'errno', None) is not None:
        text = exc.strerror or str(exc)
        if 'tunnel' in str(exc).lower():
            text = str(exc)
        return 'network', text[:1].lower() + text[1:]
    return 'error', '%s: %s' % (exc.__class__.__name__, exc)


def _mentions_secret(value):
    if isinstance(value, str):
        return SECRET_PLACEHOLDER in value
    if isinstance(value, dict):
        return any(_mentions_secret(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_mentions_secret(v) for v in value)
    return False


def _fill_secret(value, secret):
    """Replace ``{secret}`` in every string of a body or header structure (before any serialisation)."""
    if secret is None:
        return value
    if isinstance(value, str):
        return value.replace(SECRET_PLACEHOLDER, secret)
    if isinstance(value, dict):
        return dict((k, _fill_secret(v, secret)) for k, v in value.items())
    if isinstance(value, list):
        return [_fill_secret(v, secret) for v in value]
    return value


def _request_body(endpoint):
    body = _fill_secret(endpoint.get('body'), endpoint.get('secret'))
    headers = {}
    if body is None:
        return None, headers
    fmt = endpoint['body_format']
    if fmt == 'json' or (fmt == 'raw' and isinstance(body, (dict, list))):
        data = json.dumps(body) if not isinstance(body, str) else body
        headers['Content-Type'] = 'application/json'
    elif fmt == 'form':
        data = urlencode(body) if isinstance(body, dict) else str(body)
        headers['Content-Type'] = 'application/x-www-form-urlencoded'
    else:
        data = body if isinstance(body, str) else json.dumps(body)
    return data.encode('utf-8'), headers


def _headers(endpoint, tokens):
    parts = endpoint['_parts']
    headers = {'User-Agent': USER_AGENT, 'Accept': '*/*'}
    body, body_headers = _request_body(endpoint)
    headers.update(body_headers)
    username, password = endpoint.get('username'), endpoint.get('password')
    if not username and parts.username is not None:
        username, password = unquote(parts.username), unquote(parts.password or '')
    if username:
        creds = '%s:%s' % (username, password or '')
        headers['Authorization'] = 'Basic ' + base64.b64encode(creds.encode('utf-8')).decode('ascii')
    if endpoint.get('bearer_token'):
        headers['Authorization'] = 'Bearer %s' % endpoint['bearer_token']
    if endpoint.get('use_token'):
        headers[endpoint['token_header']] = endpoint['token_format'].replace('{token}', tokens[endpoint['use_token']])
    for key, value in (endpoint.get('headers') or {}).items():
        headers[str(key)] = _fill_secret(str(value), endpoint.get('secret'))
    return body, headers


def _path(endpoint):
    parts = endpoint['_parts']
    if endpoint.get('proxy') and parts.scheme == 'http':
        netloc = parts.hostname if ':' not in parts.hostname else '[%s]' % parts.hostname
        if parts.port:
            netloc += ':%d' % parts.port
        return urlunsplit((parts.scheme, netloc, parts.path or '/', parts.query, ''))
    path = parts.path or '/'
    if parts.query:
        path += '?' + parts.query
    return path


def _quick_ack(sock):
    """Acknowledge at once (Linux): servers that write headers and body in two segments without TCP_NODELAY
    would otherwise wait for the client's delayed ACK (about 40 ms) on every kept-alive request."""
    option = getattr(socket, 'TCP_QUICKACK', None)
    if option is not None and sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, option, 1)
        except (OSError, AttributeError):
            pass


def fetch(pool, endpoint, tokens):
    """Send one request; return a dict with status_code, seconds, bytes, body, tls info. Raises ProbeFailure."""
    body, headers = _headers(endpoint, tokens)
    path = _path(endpoint)
    if endpoint.get('proxy') and endpoint['_parts'].scheme == 'http':
        headers.update(_proxy_headers(urlsplit(endpoint['proxy'])))
    attempts = 2
    while True:
        conn, reused = pool.take(endpoint)
        started = time.monotonic()
        try:
            conn.timeout = endpoint['timeout']
            if conn.sock is not None:
                conn.sock.settimeout(endpoint['timeout'])
            else:
                conn.connect()  # here, not inside request(), so that its phases are timed apart
            connected = time.monotonic()
            conn.request(endpoint['method'], path, body=body, headers=headers)
            _quick_ack(conn.sock)
            response = conn.getresponse()
            first_byte = time.monotonic()
            payload = response.read(MAX_BODY + 1)
            ended = time.monotonic()
            seconds = ended - started
        except Exception as exc:  # every failure becomes a reason; the other endpoints go on
            conn.close()
            attempts -= 1
            # a kept-alive connection the server closed meanwhile: retry once on a fresh one
            stale = (http_client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http_client.BadStatusLine)
            if reused and attempts > 0 and isinstance(exc, stale):
                continue
            kind, reason = describe_error(exc, endpoint)
            raise ProbeFailure(reason, kind)
        truncated = len(payload) > MAX_BODY
        phases = dict(conn._apcx_phases or {'dns': None, 'connect': None, 'tls': None}) if not reused else \
            {'dns': None, 'connect': None, 'tls': None}
        phases.update(first_byte=first_byte - connected, transfer=ended - first_byte, total=seconds)
        if truncated or response.will_close or not response.isclosed() or endpoint.get('fresh_connection'):
            conn.close()
        else:
            pool.give_back(endpoint, conn)
        result = {
            'status_code': response.status,
            'seconds': seconds,
            'bytes': int(response.getheader('Content-Length') or len(payload)) if truncated else len(payload),
            'body': payload[:MAX_BODY],
            'content_type': response.getheader('Content-Type'),
            'reused_connection': reused,
            'phases': dict((k, None if v is None else round(v, 6)) for k, v in phases.items()),
        }
        if endpoint['_parts'].scheme == 'https':
            result.update(_tls_info(conn))
        return result


# ---------------------------------------------------------------- judging

def _decode_json(raw):
    try:
        return json.loads(raw.decode('utf-8')), None
    except (ValueError, UnicodeDecodeError) as exc:
        return None, 'response is not JSON (%s)' % str(exc).split(':', maxsplit=1)[0]


def _same(actual, expected):
    if actual == expected:
        return True
    # inventory data often carries numbers and booleans as strings
    if isinstance(expected, str) and not isinstance(actual, str) and actual is not None:
        return json.dumps(actual) == expected or str(actual) == expected
    return False


def _short(value, limit=80):
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def probe_endpoint(pool, endpoint, thresholds, tokens, on_secret=None):
    """Probe one endpoint; return ``(record, checks, token)``."""
    target = endpoint['name']
    url = endpoint.get('_public_url') or public_url(endpoint['url'], endpoint.get('record_query_params'))
    record = {'name': target, 'url': url, 'method': endpoint['method'], 'status_code': None, 'response_time': None,
              'bytes': None, 'ok': False, 'error': None}
    checks = []
    if endpoint.get('use_token') and not tokens.get(endpoint['use_token']):
        reason = 'not requested: the login that provides token %r failed' % endpoint['use_token']
        record['error'] = reason
        checks.append(critical('http.auth', reason, target=target))
        return record, checks, None
    try:
        response = fetch(pool, endpoint, tokens)
    except ProbeFailure as failure:
        record['error'] = failure.reason
        record['error_kind'] = failure.kind
        checks.append(critical('http.reachable', failure.reason, target=target, details={'url': url, 'error': failure.kind}))
        return record, checks, None
    seconds = round(response['seconds'], 3)
    record.update(status_code=response['status_code'], response_time=seconds, bytes=response['bytes'],
                  phases=response['phases'], reused_connection=response['reused_connection'])
    for key in ('tls_version', 'tls_not_after', 'tls_days_to_expiry'):
        if key in response:
            record[key] = response[key]
    status = response['status_code']
    expected = endpoint['status_code']
    if status in expected:
        checks.append(ok('http.status', 'status %d in %s' % (status, _codes(expected)), target=target, value=status))
    else:
        hint = ''
        if endpoint.get('use_token') and status in (401, 403):
            hint = ' (the token from the login was rejected)'
        elif endpoint.get('token_query') and status in (401, 403):
            hint = ' (login rejected)'
        checks.append(critical('http.status', 'status %d not in %s%s' % (status, _codes(expected), hint), target=target,
                               value=status, details={'url': url}))
    checks.append(evaluate('http.response_time', seconds, threshold_for(thresholds, RESPONSE_TIME_THRESHOLD),
                           label='response', target=target, unit='s'))
    if 'tls_days_to_expiry' in response:
        checks.append(evaluate('http.tls_expiry', response['tls_days_to_expiry'],
                               threshold_for(thresholds, EXPIRY_THRESHOLD), label='certificate expires in',
                               target=target, unit='days', details={'not_after': response.get('tls_not_after')}))
    body = response['body']
    if endpoint.get('_body_regex') is not None:
        text = body.decode('utf-8', 'replace')
        if endpoint['_body_regex'].search(text):
            checks.append(ok('http.body', 'body matches /%s/' % endpoint['body_regex'], target=target))
        else:
            checks.append(critical('http.body', 'body does not match /%s/' % endpoint['body_regex'], target=target,
                                   details={'bytes': response['bytes'], 'content_type': response['content_type']}))
    document = None
    if endpoint.get('_json_query') is not None or endpoint.get('_token_query') is not None:
        document, error = _decode_json(body)
        if error:
            for key, name in (('_json_query', 'http.json'), ('_token_query', 'http.login')):
                if endpoint.get(key) is not None:
                    checks.append(critical(name, error, target=target, details={'content_type': response['content_type']}))
    if document is not None and endpoint.get('_json_query') is not None:
        query = endpoint['json_query']
        try:
            actual = endpoint['_json_query'].search(document)
        except Exception as exc:  # jmespath type errors on unexpected documents
            actual, error = None, '%s failed on the response: %s' % (query, exc)
        else:
            error = None
        if error:
            checks.append(critical('http.json', error, target=target))
        elif endpoint.get('json_expected') is None:
            if actual not in (None, False, [], {}, ''):
                checks.append(ok('http.json', '%s is %s' % (query, _short(actual)), target=target))
            else:
                checks.append(critical('http.json', '%s is %s (expected a value)' % (query, _short(actual)), target=target))
        elif _same(actual, endpoint['json_expected']):
            checks.append(ok('http.json', '%s == %s' % (query, _short(endpoint['json_expected'])), target=target))
        else:
            checks.append(critical('http.json', '%s is %s, expected %s' % (query, _short(actual), _short(endpoint['json_expected'])),
                                   target=target))
    token = None
    if document is not None and endpoint.get('_token_query') is not None:
        try:
            value = endpoint['_token_query'].search(document)
        except Exception:  # jmespath type errors on unexpected documents
            value = None
        if status not in expected:
            checks.append(critical('http.login', 'login failed with status %d' % status, target=target))
        elif isinstance(value, (str, int)) and str(value):
            token = str(value)
            if on_secret is not None:
                on_secret(token)
            checks.append(ok('http.login', 'login returned a token at %s' % endpoint['token_query'], target=target))
        else:
            checks.append(critical('http.login', 'login response has no token at %s' % endpoint['token_query'],
                                   target=target))
    if endpoint.get('use_token') and status in expected:
        checks.append(ok('http.auth', 'token from the login accepted', target=target))
    record['ok'] = all(c['status'] == 'ok' for c in checks)
    # a body that echoes the request (an error page, a JSON assertion's value) must not carry its secrets out
    secrets = endpoint.get('_secrets') or []
    if endpoint.get('use_token'):
        secrets = secrets + [tokens[endpoint['use_token']]]
    for check in checks:
        check['reason'] = scrub(check['reason'], secrets)
    return record, checks, token


def _codes(codes):
    return '[%s]' % ', '.join(str(c) for c in codes)


# ---------------------------------------------------------------- many endpoints

def _run_phases(phases, work, results, workers, between=None):
    """``results[i] = work(i)`` for every index of each phase in turn, on at most ``workers`` threads that take the
    next index as they finish (a thread keeps its kept-alive connections from one phase to the next).

    ``between`` runs once after the first phase ends and before the second starts. The first exception raised by
    ``work`` stops the threads (an index already taken still finishes) and is raised here.
    """
    count = min(workers, max(len(phase) for phase in phases)) if any(phases) else 0
    if count == 0:
        return
    lock = threading.Lock()
    queues = [iter(phase) for phase in phases]
    errors = []
    barrier = threading.Barrier(count, action=between)

    def worker():
        try:
            for number, queue in enumerate(queues):
                if number:
                    barrier.wait()
                while True:
                    with lock:
                        index = None if errors else next(queue, None)
                    if index is None:
                        break
                    results[index] = work(index)
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:  # handed to the caller below
            with lock:
                errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, name='http_check-%d' % number, daemon=True) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def check_endpoints(endpoints, thresholds=None, workers=16, defaults=None, on_secret=None):
    """Probe every endpoint; return ``(checks, records)``. Login endpoints run first, their users after."""
    endpoints = normalize_endpoints(endpoints, defaults)
    try:
        workers = int(workers)
    except (TypeError, ValueError):
        raise MaintenanceError('workers must be an integer, not %r' % (workers,))
    if workers < 1:
        raise MaintenanceError('workers must be at least 1, not %d' % workers)
    thresholds = thresholds or {}
    results = [None] * len(endpoints)
    tokens = {}
    pool = _Pool(_Contexts())
    logins = [i for i, e in enumerate(endpoints) if e.get('token_query')]
    others = [i for i, e in enumerate(endpoints) if not e.get('token_query')]

    def probe(index):
        return probe_endpoint(pool, endpoints[index], thresholds, tokens, on_secret)

    def hand_over_tokens():  # in the order given: of two logins with the same token_name, the later one wins
        for index in logins:
            if results[index][2] is not None:
                tokens[endpoints[index]['token_name']] = results[index][2]

    try:
        _run_phases((logins, others), probe, results, workers, between=hand_over_tokens)
    finally:
        pool.close()
    checks, records = [], []
    for record, endpoint_checks, _token in results:
        checks.extend(endpoint_checks)
        record['status'] = worst(endpoint_checks)
        records.append(record)
    return checks, records


# ---------------------------------------------------------------- compact result

def compact_result(checks, records):
    """``detail: compact``: what a large probe run needs to return, a small fraction of the full result.

    Every check that is not ok is kept as it is (with its endpoint as target), and so is every endpoint record that is
    not ok. The ok checks of each name collapse into one ok check saying on how many endpoints it held; for
    ``http.response_time`` its value is the slowest ok response, against the same threshold. Returns
    ``(checks, extra)`` where extra has ``endpoints`` (the records that are not ok), ``endpoint_count`` and
    ``endpoints_ok``.
    """
    kept = [c for c in checks if c['status'] != 'ok']
    order = []
    groups = {}
    for check in checks:
        if check['status'] != 'ok':
            continue
        if check['name'] not in groups:
            order.append(check['name'])
            groups[check['name']] = []
        groups[check['name']].append(check)
    for name in order:
        group = groups[name]
        slowest = None
        if name in ('http.response_time', 'http.tls_expiry'):
            numbers = [c for c in group if isinstance(c.get('value'), (int, float))]
            if numbers:
                pick = max if name == 'http.response_time' else min
                slowest = pick(numbers, key=lambda c: c['value'])
        kwargs = dict(priority='low', target='%d endpoint(s)' % len(group))
        if slowest is not None:
            kwargs.update(value=slowest['value'], unit=slowest.get('unit'), threshold=slowest.get('threshold'))
            what = 'slowest' if name == 'http.response_time' else 'closest'
            reason = 'ok on %d endpoint(s); %s: %s (%s)' % (len(group), what, format_value(slowest['value'], slowest.get('unit')),
                                                            slowest.get('target'))
        else:
            reason = 'ok on %d endpoint(s)' % len(group)
        kept.append(ok(name, reason, **kwargs))
    failing = [r for r in records if r.get('status') != 'ok']
    return kept, {'endpoints': failing, 'endpoint_count': len(records), 'endpoints_ok': len(records) - len(failing)}


def argument_spec():
    """The options of the http_check module, which its action plugin validates with the same spec when it probes in
    the controller's process."""
    return check_argument_spec(
        endpoints=dict(type='list', elements='dict', required=True, options=dict(
            name=dict(type='str'),
            url=dict(type='str', required=True),
            method=dict(type='str', default='GET'),
            headers=dict(type='dict', no_log=True),
            body=dict(type='raw'),
            body_format=dict(type='str', default='raw', choices=['raw', 'json', 'form']),
            username=dict(type='str'),
            password=dict(type='str', no_log=True),
            bearer_token=dict(type='str', no_log=True),
            secret=dict(type='str', no_log=True),
            status_code=dict(type='list', elements='int', default=[200]),
            body_regex=dict(type='str'),
            json_query=dict(type='str'),
            json_expected=dict(type='raw'),
            timeout=dict(type='float'),
            validate_certs=dict(type='bool'),
            ca_path=dict(type='path'),
            proxy=dict(type='str'),
            token_query=dict(type='str', no_log=False),
            token_name=dict(type='str', default='token', no_log=False),
            use_token=dict(type='str', no_log=False),
            token_header=dict(type='str', default='Authorization', no_log=False),
            token_format=dict(type='str', default='Bearer {token}', no_log=False),
            record_query_params=dict(type='list', elements='str', default=[]),
            fresh_connection=dict(type='bool'),
        )),
        fresh_connections=dict(type='bool', default=False),
        detail=dict(type='str', default='compact', choices=['full', 'compact']),
        workers=dict(type='int', default=16),
        timeout=dict(type='float', default=10),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        proxy=dict(type='str'),
        in_process=dict(type='bool', default=True),
    )


def secrets(params):
    """What the http_check module hides before anything runs: every secret its endpoints carry."""
    return no_log_values(params['endpoints'])


def run(params, check_mode=False, host=None):
    """The http_check module's entry (``result.Report``); ``host.hide`` learns the secrets the probes obtain.

    ``detail: compact`` returns ``compact_result`` and echoes the module arguments without the endpoints.
    """
    defaults = dict((key, params[key]) for key in ('timeout', 'validate_certs', 'ca_path', 'proxy'))
    defaults['fresh_connection'] = params['fresh_connections']
    checks, records = check_endpoints(params['endpoints'], params['thresholds'], workers=params['workers'],
                                      defaults=defaults, on_secret=host.hide if host is not None else None)
    if params['detail'] != 'compact':
        return Report(checks, data=dict(endpoints=records))
    checks, extra = compact_result(checks, records)
    echoed = dict((key, value) for key, value in params.items() if key != 'endpoints')
    echoed['endpoints'] = '%d endpoint(s), not echoed with detail=compact' % len(params['endpoints'])
    extra['invocation'] = {'module_args': echoed}
    return Report(checks, data=extra)
