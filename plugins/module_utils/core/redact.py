# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place that decides what a URL, a header set, a DSN or a message may show.

Every module or plugin that records, returns or prints a URL, request headers or
a message built from an exception passes it through here:

* ``redact_url(url, keep_params=(), keep_path=True)``: no user info, every
  query value (except the parameters named in ``keep_params``) and the fragment
  replaced by ``********``; ``keep_path=False`` also hides the path (a Slack
  webhook's path is its secret). Text that is not an absolute URL with a host
  (``hooks.example.com/T0/secret``) is hidden whole.
* ``redact_headers(headers, allow=SAFE_HEADERS)``: every value replaced except
  those of the allow-listed, harmless headers.
* ``url_secrets``, ``header_secrets``, ``dsn_secrets``: the secret strings a
  URL, a header set or a libpq connection string holds, for ``scrub`` and for a
  module's ``no_log_values``.
* ``scrub(text, secrets)``: a message with every secret replaced.
* ``redact_text(text)``: a last line of defence for free text (records): URL
  passwords and the values of secret-looking query or ``key=value`` parameters.

Plain Python (standard library only), Python 3.8 compatible: it runs on targets.
"""

import re
from typing import Any, Iterable, List, Mapping, Optional, Tuple, overload

from urllib.parse import SplitResult, unquote, urlsplit

REDACTED = '********'

# Request headers whose values are never secrets; every other header value is treated as one.
SAFE_HEADERS = ('accept', 'accept-encoding', 'accept-language', 'cache-control', 'content-type', 'content-length',
                'user-agent', 'host', 'connection', 'pragma')

# Names of query parameters that hold secrets: any name containing one of SECRET_NAME_PARTS, or with one of
# SECRET_NAME_WORDS as a whole word (``key``, ``api_key``, ``X-Auth`` but not ``monkey`` or ``author``).
SECRET_NAME_PARTS = ('password', 'passwd', 'passphrase', 'secret', 'token', 'apikey', 'private_key', 'credential',
                     'cookie', 'signature', 'dsn')
SECRET_NAME_WORDS = ('key', 'sig', 'auth', 'pwd', 'pass', 'session', 'sid', 'vault', 'jwt', 'otp', 'code')

# Query values shorter than this whose parameter name does not look secret are not given to Ansible's no_log
# masking (it would hide every ``2`` or ``json`` in the whole result); they are still redacted in every record.
NO_LOG_MIN_LENGTH = 12

# ``scrub`` leaves strings shorter than this alone: hiding every ``t`` of a message protects nothing.
SCRUB_MIN_LENGTH = 3

_URL_IN_TEXT = re.compile(r'''[A-Za-z][A-Za-z0-9+.-]*://[^\s'"<>`]+''')
_KEY_VALUE_IN_TEXT = re.compile(r'''(?i)\b([A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api_?key|apikey|dsn|signature)'''
                                r'''[A-Za-z0-9_.-]*)(\s*=\s*)('[^']*'|"[^"]*"|[^\s&,;'"]+)''')


def secret_name(name: object) -> bool:
    """True when ``name`` (a query parameter or a ``key=value`` name) looks like it holds a secret."""
    lowered = str(name).lower()
    if any(part in lowered for part in SECRET_NAME_PARTS):
        return True
    return any(word in SECRET_NAME_WORDS for word in re.split(r'[^a-z0-9]+', lowered))


def _split(url: object) -> Optional[SplitResult]:
    """``urlsplit`` of an absolute URL with a host, or None."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc or not parts.hostname or (port is not None and port < 0):
        return None
    return parts


def _query_items(query: str) -> List[Tuple[str, Optional[str]]]:
    """``(name, value)`` pairs of a raw query string; ``value`` is None for an item without ``=``."""
    items: List[Tuple[str, Optional[str]]] = []
    for item in query.split('&'):
        if not item:
            continue
        name, sep, value = item.partition('=')
        items.append((name, value if sep else None))
    return items


@overload
def redact_url(url: str, keep_params: Iterable[str] = (), keep_path: bool = True) -> str: ...


@overload
def redact_url(url: Optional[str], keep_params: Iterable[str] = (), keep_path: bool = True) -> Optional[str]: ...


def redact_url(url: Optional[str], keep_params: Iterable[str] = (), keep_path: bool = True) -> Optional[str]:
    """``url`` fit to be recorded or shown (see the module docstring)."""
    if url is None:
        return None
    parts = _split(url)
    if parts is None:
        return REDACTED
    keep = set(keep_params or ())
    netloc = parts.netloc.rpartition('@')[2]
    if not keep_path:
        suffix = '/...' if parts.path not in ('', '/') or parts.query or parts.fragment else ''
        return '%s://%s%s' % (parts.scheme, netloc, suffix)
    text = '%s://%s%s' % (parts.scheme, netloc, parts.path)
    if parts.query:
        shown = []
        for name, value in _query_items(parts.query):
            if value is None:
                shown.append(name if unquote(name) in keep else REDACTED)
            elif unquote(name) in keep or value == '':
                shown.append('%s=%s' % (name, value))
            else:
                shown.append('%s=%s' % (name, REDACTED))
        text += '?' + '&'.join(shown)
    if parts.fragment:
        text += '#' + REDACTED
    return text


def _with_unquoted(values: Iterable[Optional[str]]) -> List[str]:
    result = []
    for value in values:
        if value:
            result.append(value)
            decoded = unquote(value)
            if decoded != value:
                result.append(decoded)
    return result


def url_secrets(url: object, keep_params: Iterable[str] = (), keep_path: bool = True, min_length: int = 1) -> List[str]:
    """The secret strings in ``url``: the user info password, query values not kept, the fragment, and with
    ``keep_path=False`` the path. Text that is not an absolute URL with a host is a secret whole.

    ``min_length`` drops query values shorter than it unless their parameter name looks secret.
    """
    if not isinstance(url, str) or not url.strip():
        return []
    parts = _split(url)
    if parts is None:
        return _with_unquoted([url.strip()] + [p for p in re.split(r'[/?&=#@:]', url.strip()) if len(p) >= 4])
    secrets: List[Optional[str]] = [parts.password, parts.fragment]
    keep = set(keep_params or ())
    for name, value in _query_items(parts.query):
        if unquote(name) in keep:
            continue
        if value is None:
            value, name = name, ''
        if value and (len(value) >= min_length or secret_name(unquote(name))):
            secrets.append(value)
    if not keep_path:
        secrets.append(parts.path if parts.path not in ('', '/') else None)
        secrets.extend(p for p in parts.path.split('/') if len(p) >= 4)
        secrets.append(parts.query)
    return _with_unquoted([s for s in secrets if s])


def redact_location(location: Any) -> Any:
    """A place that may be a URL behind a tool prefix (restic's ``rest:https://user:pw@host/repo``, ``s3:https://...``)
    or a plain path: URLs lose their user info and query values, paths and other text stay as they are."""
    if not isinstance(location, str) or '://' not in location:
        return location
    start = location.index('://')
    prefix_end = location.rfind(':', 0, start)
    prefix, url = (location[:prefix_end + 1], location[prefix_end + 1:]) if prefix_end >= 0 else ('', location)
    return prefix + redact_url(url)


def location_secrets(location: object, min_length: int = 1) -> List[str]:
    """The secret strings of a location that ``redact_location`` hides (none for a plain path)."""
    if not isinstance(location, str) or '://' not in location:
        return []
    start = location.index('://')
    prefix_end = location.rfind(':', 0, start)
    return url_secrets(location[prefix_end + 1:], min_length=min_length)


def redact_headers(headers: Optional[Mapping[Any, Any]], allow: Iterable[str] = SAFE_HEADERS) -> dict:
    """A copy of ``headers`` with every value replaced except those of the ``allow`` (case-insensitive) headers."""
    allowed = set(str(name).lower() for name in allow or ())
    return dict((key, value if str(key).lower() in allowed else REDACTED) for key, value in (headers or {}).items())


def header_secrets(headers: Optional[Mapping[Any, Any]], allow: Iterable[str] = SAFE_HEADERS) -> List[str]:
    """The values of ``headers`` that ``redact_headers`` hides (``Bearer x`` also gives ``x``)."""
    allowed = set(str(name).lower() for name in allow or ())
    secrets: List[str] = []
    for key, value in (headers or {}).items():
        if str(key).lower() in allowed or value in (None, ''):
            continue
        text = str(value)
        secrets.append(text)
        scheme, _sep, credentials = text.partition(' ')
        if credentials.strip() and scheme.isalpha():
            secrets.append(credentials.strip())
    return secrets


_CONNINFO_PASSWORD = re.compile(r"""(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|.*?)(?=\s+[A-Za-z_]+\s*=|\s*$)""", re.DOTALL)


def dsn_secrets(dsn: object) -> List[str]:
    """The password of a libpq connection string or URI, read leniently.

    A password with an unquoted space (``password=abc def user=x``) is not valid libpq and libpq's own error
    echoes its second half: the whole value and each of its words are returned.
    """
    if not isinstance(dsn, str) or not dsn.strip():
        return []
    values: List[str] = []
    text = dsn.strip()
    if re.match(r'^postgres(?:ql)?://', text):
        parts = _split(text)
        if parts is not None and parts.password:
            values.append(parts.password)
        if parts is None:
            values.extend(p for p in re.split(r'[/?&=#@:]', text) if len(p) >= 4)
        for name, value in _query_items(urlsplit(text).query if parts is not None else ''):
            if unquote(name) == 'password' and value:
                values.append(value)
    else:
        for match in _CONNINFO_PASSWORD.finditer(text):
            value = match.group(1).strip()
            if value.startswith("'") and value.endswith("'") and len(value) >= 2:
                inner = value[1:-1]
                values.extend([value, inner, re.sub(r"\\(.)", r'\1', inner)])
            else:  # libpq reads only the first word and complains about the next ones: hide each word too
                values.append(value)
                values.extend(w for w in value.split() if len(w) >= 3 and w != value)
    return _with_unquoted(values)


def scrub(text: object, secrets: Optional[Iterable[Optional[str]]], min_length: int = SCRUB_MIN_LENGTH) -> Optional[str]:
    """``text`` with every string of ``secrets`` (``min_length`` characters or longer) replaced by ``********``."""
    if text is None:
        return None
    text = str(text)
    for secret in sorted(set(s for s in secrets or () if s and len(s) >= min_length), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_url_in_text(match: 're.Match[str]') -> str:
    url = match.group(0)
    parts = _split(url)
    if parts is None:
        return url
    if parts.password is not None:
        url = url.replace(':%s@' % parts.password, ':%s@' % REDACTED, 1)
    if parts.query:
        for name, value in _query_items(parts.query):
            if value and secret_name(unquote(name)):
                url = url.replace('%s=%s' % (name, value), '%s=%s' % (name, REDACTED), 1)
    return url


def redact_text(text: Any) -> Any:
    """Free text with the passwords of URLs and the values of secret-looking query or ``key=value`` parameters
    replaced. Meant for messages whose origin is unknown (the outcome records); modules redact precisely."""
    if not isinstance(text, str) or ('://' not in text and '=' not in text):
        return text
    if '://' in text:
        text = _URL_IN_TEXT.sub(_redact_url_in_text, text)
    if '=' in text:
        text = _KEY_VALUE_IN_TEXT.sub(lambda m: m.group(1) + m.group(2) + (REDACTED if m.group(3) != REDACTED else m.group(3)), text)
    return text
