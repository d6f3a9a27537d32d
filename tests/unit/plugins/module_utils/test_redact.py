"""redact: what a URL, a header set, a DSN or a message may show."""

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.redact import (
    REDACTED,
    dsn_secrets,
    header_secrets,
    redact_headers,
    redact_text,
    redact_url,
    scrub,
    secret_name,
    url_secrets,
)


@pytest.mark.parametrize('url, keep, expected', [
    ('https://api.example.com/health', (), 'https://api.example.com/health'),
    ('https://u:pw@api.example.com:8443/h?api_key=K1&page=2', (), 'https://api.example.com:8443/h?api_key=********&page=********'),
    ('https://api.example.com/h?api_key=K1&page=2', ('page',), 'https://api.example.com/h?api_key=********&page=2'),
    ('https://api.example.com/h?bare&empty=', (), 'https://api.example.com/h?********&empty='),
    ('https://api.example.com/h#access_token=T', (), 'https://api.example.com/h#********'),
    ('http://[::1]:8080/x?t=1', (), 'http://[::1]:8080/x?t=********'),
    ('hooks.example.com/services/T0/SECRET', (), REDACTED),
    ('http://[::1/x', (), REDACTED),
    ('http://h:99999/x', (), REDACTED),
])
def test_redact_url(url, keep, expected):
    assert redact_url(url, keep) == expected


def test_redact_url_without_the_path_shows_scheme_host_and_port_only():
    assert redact_url('https://hooks.slack.com/services/T000/B000/XXXX', keep_path=False) == 'https://hooks.slack.com/...'
    assert redact_url('http://u:p@127.0.0.1:9/?token=X', keep_path=False) == 'http://127.0.0.1:9/...'
    assert redact_url('https://h', keep_path=False) == 'https://h'


def test_url_secrets_cover_password_query_fragment_and_encoded_forms():
    secrets = url_secrets('https://u:p%40ss@h/x?api_key=a%2Bb&page=2&sig=zz#frag')
    assert {'p%40ss', 'p@ss', 'a%2Bb', 'a+b', '2', 'zz', 'frag'} <= set(secrets)
    assert 'u' not in secrets and 'h' not in secrets
    # short values under harmless names are left to the URL redaction only
    assert url_secrets('https://h/x?page=2&key=ab&s=abcdefghijklmnop', min_length=12) == ['ab', 'abcdefghijklmnop']
    assert url_secrets('https://h/x?page=2', keep_params=('page',)) == []
    assert 'hooks.example/NoScheme-Token' in url_secrets('hooks.example/NoScheme-Token')
    assert 'T0KEN-path' in url_secrets('https://hooks.example/services/T0KEN-path', keep_path=False)


def test_headers_are_redacted_except_the_allow_list():
    headers = {'Authorization': 'Bearer abc123', 'accept': 'application/json', 'X-Api-Key': 'k-1', 'User-Agent': 'me'}
    assert redact_headers(headers) == {'Authorization': REDACTED, 'accept': 'application/json', 'X-Api-Key': REDACTED,
                                       'User-Agent': 'me'}
    assert redact_headers(headers, allow=()) == dict((k, REDACTED) for k in headers)
    assert set(header_secrets(headers)) == {'Bearer abc123', 'abc123', 'k-1'}


@pytest.mark.parametrize('dsn, secrets', [
    ('host=x password=abc def user=y', {'abc def', 'abc', 'def'}),
    ("host=x password='a b\\'c' user=y", {"a b'c"}),
    ('host=x user=y password=plain', {'plain'}),
    ('host=x password = spaced user=y', {'spaced'}),
    ('postgresql://u:p%40w@h:5432/db?sslmode=require', {'p%40w', 'p@w'}),
    ('postgres://h/db?password=qpw', {'qpw'}),
    ('host=x user=y', set()),
])
def test_dsn_secrets_read_leniently(dsn, secrets):
    assert secrets <= set(dsn_secrets(dsn))
    if not secrets:
        assert dsn_secrets(dsn) == []


def test_scrub_replaces_longest_first_and_ignores_tiny_strings():
    assert scrub('abcdef abc t', ['abc', 'abcdef', 't']) == '******** ******** t'
    assert scrub(None, ['x']) is None


def test_redact_text_hides_url_passwords_and_secret_parameters_only():
    text = 'GET https://u:pw@h/x?token=abc&page=1 failed; password=foo user=bar api_key = "k k"'
    assert redact_text(text) == 'GET https://u:********@h/x?token=********&page=1 failed; password=******** user=bar api_key = ********'
    assert redact_text('status 200 in [200]') == 'status 200 in [200]'


@pytest.mark.parametrize('name, secret', [
    ('api_key', True), ('key', True), ('X-Auth-Token', True), ('sig', True), ('access_token', True), ('dsn', True),
    ('page', False), ('monkey', False), ('author', False), ('format', False), ('s', False),
])
def test_secret_name(name, secret):
    assert secret_name(name) is secret
