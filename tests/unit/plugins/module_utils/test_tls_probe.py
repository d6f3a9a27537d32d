"""tls_probe against real TLS servers, STARTTLS servers (SMTP, PostgreSQL) and PEM files."""

import json
import os
import re
import socket
import ssl
import time

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health.tls_check import (
    _verify_issued_by,
    build_path,
    check_tls,
    hostname_matches,
    parse_pem_bundle,
    parse_target,
)

from tests.harness.http import HttpServer
from tests.harness.net import free_port
from tests.harness.services import SmtpServer
from tests.harness.tls import TlsServer, sha1_leaf

THRESHOLDS = {'tls_days_to_expiry': {'warning': 30, 'critical': 7, 'direction': 'below', 'unit': 'days',
                                     'priority': {'warning': 'medium', 'critical': 'high'}}}


def checks_of(checks, target):
    return dict((c['name'], c) for c in checks if c.get('target') == target)


@pytest.fixture(scope='module')
def leaves(pki):
    """Every kind of certificate the checks must judge, issued by the session test CA."""
    return {
        'good': pki.write_leaf('t-good')[:2],
        'expired': pki.write_leaf('t-expired', days=-3, not_before_days=-60)[:2],
        'soon': pki.write_leaf('t-soon', days=20)[:2],
        'very-soon': pki.write_leaf('t-very-soon', days=3)[:2],
        'other-host': pki.write_leaf('t-other', hostnames=('other.example.com',))[:2],
        'self-signed': pki.write_leaf('t-self', self_signed=True)[:2],
        'incomplete': pki.write_leaf('t-incomplete', via_intermediate=True, with_chain=False)[:2],
        'full-chain': pki.write_leaf('t-full', via_intermediate=True)[:2],
        'rsa1024': pki.write_leaf('t-rsa1024', key_size=1024)[:2],
        'sha1': sha1_leaf(pki, 't-sha1'),
        'ec': pki.write_leaf('t-ec', key_kind='ec')[:2],
    }


@pytest.fixture(scope='module')
def servers(leaves):
    started = dict((kind, TlsServer(*paths).start()) for kind, paths in leaves.items())
    yield started
    for server in started.values():
        server.stop()


def run_kinds(servers, pki, kinds, **extra):
    targets = [dict({'name': kind, 'host': '127.0.0.1', 'port': servers[kind].port, 'hostname': 'localhost',
                     'ca_path': pki.ca_path}, **extra) for kind in kinds]
    return check_tls(targets, [], THRESHOLDS)


def test_a_good_certificate_passes_every_check_and_reports_its_facts(servers, pki):
    checks, records = run_kinds(servers, pki, ['good', 'ec', 'full-chain'])
    assert [c for c in checks if c['status'] != 'ok'] == []
    good = records[0]
    assert good['subject'] == 'CN=localhost,O=AutopilotCX test'
    assert good['issuer'] == 'CN=AutopilotCX Test Root CA,O=AutopilotCX test'
    assert good['sans'] == ['localhost', '127.0.0.1']
    assert good['key_type'] == 'RSA' and good['key_size'] == 2048
    assert good['signature_algorithm'] == 'sha256WithRSAEncryption'
    assert good['tls_version'] in ('TLSv1.2', 'TLSv1.3')
    assert good['chain_length'] == 1 and good['chain_verified'] is True
    assert 364 <= good['days_to_expiry'] <= 365
    assert good['not_after'].endswith('Z')
    assert set(checks_of(checks, 'good')) == {'tls.handshake', 'tls.chain', 'tls.hostname', 'tls.expiry', 'tls.key',
                                              'tls.signature', 'tls.protocol'}
    assert records[1]['key_type'] == 'EC secp256r1' and records[1]['key_size'] == 256
    full = records[2]
    assert full['chain_length'] == 2 and full['chain_source'] == 'presented chain'
    assert full['chain'][1]['subject'] == 'CN=AutopilotCX Test Intermediate CA,O=AutopilotCX test'


def test_bad_certificates_are_critical_with_their_reason(servers, pki):
    kinds = ['expired', 'other-host', 'self-signed', 'incomplete', 'rsa1024', 'sha1']
    checks, records = run_kinds(servers, pki, kinds)
    status = dict((r['name'], r['status']) for r in records)
    assert set(status.values()) == {'critical'}, status

    expired = checks_of(checks, 'expired')
    assert expired['tls.expiry']['status'] == 'critical'
    assert expired['tls.expiry']['reason'].startswith('certificate expired 3 days ago')
    assert expired['tls.chain']['reason'] == 'chain not trusted: certificate has expired'

    other = checks_of(checks, 'other-host')
    assert other['tls.hostname']['reason'] == 'localhost does not match the certificate names other.example.com'
    assert other['tls.chain']['status'] == 'ok'  # trusted, just for another name

    assert checks_of(checks, 'self-signed')['tls.chain']['reason'] == \
        'chain not trusted: self-signed certificate (not issued by a trusted CA)'

    incomplete = checks_of(checks, 'incomplete')['tls.chain']
    assert incomplete['reason'].startswith('chain not trusted: incomplete chain: the server sends 1 certificate(s)')
    assert 'CN=AutopilotCX Test Intermediate CA' in incomplete['reason']

    weak = checks_of(checks, 'rsa1024')
    assert weak['tls.key']['status'] == 'critical' and weak['tls.key']['value'] == 1024
    assert weak['tls.key']['reason'].startswith('RSA 1024 bits key is too weak')

    sha1 = checks_of(checks, 'sha1')
    assert sha1['tls.signature']['status'] == 'critical'
    assert sha1['tls.signature']['reason'] == 'weak signature: CN=localhost signed with sha1WithRSAEncryption'
    assert sha1['tls.key']['status'] == 'ok'  # only what is wrong is critical


def test_expiry_warning_and_critical_thresholds(servers, pki):
    checks, _records = run_kinds(servers, pki, ['soon', 'very-soon'])
    soon = checks_of(checks, 'soon')['tls.expiry']
    assert soon['status'] == 'warning' and soon['threshold'] == 30 and soon['priority'] == 'medium'
    assert re.match(r'^certificate expires in (19\.\d+|20) days < 30 days$', soon['reason']), soon['reason']
    very = checks_of(checks, 'very-soon')['tls.expiry']
    assert very['status'] == 'critical' and very['threshold'] == 7 and very['priority'] == 'high'


def test_sni_is_sent_and_decides_the_hostname_check(servers, pki):
    target = {'name': 'sni', 'host': '127.0.0.1', 'port': servers['good'].port, 'server_name': 'localhost',
              'ca_path': pki.ca_path}
    checks, records = check_tls([target], [], THRESHOLDS)
    assert records[0]['server_name'] == 'localhost' and records[0]['hostname'] == 'localhost'
    assert checks_of(checks, 'sni')['tls.hostname']['status'] == 'ok'
    # an IP target without a hostname is checked against the IP SAN
    checks, records = check_tls(['127.0.0.1:%d' % servers['good'].port], [], THRESHOLDS, defaults={'ca_path': pki.ca_path})
    assert records[0]['server_name'] is None
    assert [c['status'] for c in checks] == ['ok'] * len(checks)


def test_wildcard_certificate_matches_one_label_only(pki):
    cert, key, _issued = pki.write_leaf('t-wild', hostnames=('*.example.test',))
    with TlsServer(cert, key) as wild:
        base = {'host': '127.0.0.1', 'port': wild.port, 'ca_path': pki.ca_path}
        checks, _records = check_tls([
            dict(base, name='one-label', server_name='api.example.test'),
            dict(base, name='two-labels', server_name='a.api.example.test'),
            dict(base, name='apex', server_name='example.test'),
        ], [], THRESHOLDS)
    assert checks_of(checks, 'one-label')['tls.hostname']['reason'] == 'api.example.test matches the certificate'
    assert checks_of(checks, 'two-labels')['tls.hostname']['status'] == 'critical'
    assert checks_of(checks, 'apex')['tls.hostname']['reason'] == \
        'example.test does not match the certificate names *.example.test'


def test_system_trust_store_does_not_trust_the_test_ca(servers):
    checks, _records = check_tls([{'name': 'sys', 'host': '127.0.0.1', 'port': servers['good'].port,
                                   'hostname': 'localhost'}], [], THRESHOLDS)
    chain = checks_of(checks, 'sys')['tls.chain']
    assert chain['status'] == 'critical'
    assert 'unable to get local issuer certificate' in chain['reason']


def test_old_protocol_version_is_critical(leaves, pki):
    with TlsServer(*leaves['good'], maximum_version=ssl.TLSVersion.TLSv1_1) as old:
        checks, records = check_tls([{'name': 'old', 'host': '127.0.0.1', 'port': old.port, 'hostname': 'localhost',
                                      'ca_path': pki.ca_path}], [], THRESHOLDS)
    found = checks_of(checks, 'old')
    assert records[0]['tls_version'] == 'TLSv1.1'
    assert found['tls.protocol']['reason'] == 'TLSv1.1 is obsolete (TLSv1.2 or later required)'
    # OpenSSL refused the verifying handshake (protocol); the path was still built from what the server sent
    assert found['tls.chain']['status'] == 'ok'
    assert 'path built from the presented certificates' in found['tls.chain']['reason']


def test_smtp_starttls(localhost_cert, pki):
    with SmtpServer(tls=localhost_cert) as smtp, SmtpServer() as plain:
        checks, records = check_tls([
            {'name': 'smtp', 'host': '127.0.0.1', 'port': smtp.port, 'starttls': 'smtp', 'hostname': 'localhost',
             'ca_path': pki.ca_path},
            {'name': 'plain', 'host': '127.0.0.1', 'port': plain.port, 'starttls': 'smtp', 'ca_path': pki.ca_path},
        ], [], THRESHOLDS)
    smtp_checks = checks_of(checks, 'smtp')
    assert smtp_checks['tls.handshake']['reason'].endswith('after smtp STARTTLS')
    assert all(c['status'] == 'ok' for c in smtp_checks.values()), smtp_checks
    assert records[0]['subject'] == 'CN=localhost,O=AutopilotCX test'
    assert checks_of(checks, 'plain')['tls.handshake']['reason'] == \
        'STARTTLS failed: the SMTP server does not offer STARTTLS'


def test_postgres_starttls(postgres, pki):
    checks, records = check_tls([{'name': 'pg', 'host': '127.0.0.1', 'port': postgres.port, 'starttls': 'postgres',
                                  'hostname': 'localhost', 'ca_path': pki.ca_path}], [], THRESHOLDS)
    found = checks_of(checks, 'pg')
    assert all(c['status'] == 'ok' for c in found.values()), found
    assert found['tls.handshake']['reason'].endswith('after postgres STARTTLS')
    assert records[0]['sans'] == ['localhost', '127.0.0.1']


def test_postgres_starttls_against_a_non_postgres_port(leaves):
    with HttpServer() as http:
        checks, _records = check_tls([{'name': 'nopg', 'host': '127.0.0.1', 'port': http.port, 'starttls': 'postgres',
                                       'timeout': 2}], [], THRESHOLDS)
    reason = checks_of(checks, 'nopg')['tls.handshake']['reason']
    assert reason.startswith('STARTTLS failed'), reason


def test_network_failures_are_critical_and_do_not_stop_the_others(servers, pki):
    silent = socket.socket()
    silent.bind(('127.0.0.1', 0))
    silent.listen(1)  # accepts the TCP connection, never answers the ClientHello
    try:
        with HttpServer() as http:
            started = time.monotonic()
            checks, records = check_tls([
                {'name': 'refused', 'host': '127.0.0.1', 'port': free_port()},
                {'name': 'dns', 'host': 'no-such-host.invalid', 'port': 443},
                {'name': 'timeout', 'host': '127.0.0.1', 'port': silent.getsockname()[1], 'timeout': 1},
                {'name': 'not-tls', 'host': '127.0.0.1', 'port': http.port},
                {'name': 'good', 'host': '127.0.0.1', 'port': servers['good'].port, 'ca_path': pki.ca_path},
            ], [], THRESHOLDS)
            elapsed = time.monotonic() - started
    finally:
        silent.close()
    reasons = dict((c['target'], c['reason']) for c in checks if c['name'] == 'tls.handshake' and c['status'] == 'critical')
    assert reasons['refused'] == 'connection refused'
    assert reasons['dns'].startswith('DNS lookup failed for no-such-host.invalid')
    assert reasons['timeout'] == 'TLS handshake failed: timeout after 1 s'
    assert reasons['not-tls'].startswith('TLS handshake failed')
    assert records[-1]['status'] == 'ok'
    assert elapsed < 5


def test_pem_files(leaves, pki, tmp_path):
    garbage = tmp_path / 'garbage.pem'
    garbage.write_text('not a certificate')
    checks, records = check_tls([], [
        {'path': leaves['full-chain'][0], 'hostname': 'localhost', 'ca_path': pki.ca_path, 'name': 'full'},
        {'path': leaves['incomplete'][0], 'ca_path': pki.ca_path, 'name': 'incomplete'},
        {'path': leaves['expired'][0], 'ca_path': pki.ca_path, 'name': 'expired'},
        {'path': leaves['self-signed'][0], 'ca_path': pki.ca_path, 'name': 'self'},
        {'path': leaves['sha1'][0], 'ca_path': pki.ca_path, 'name': 'sha1'},
        {'path': str(tmp_path / 'missing.pem'), 'name': 'missing'},
        {'path': str(garbage), 'name': 'garbage'},
    ], THRESHOLDS)
    full = checks_of(checks, 'full')
    assert all(c['status'] == 'ok' for c in full.values()), full
    assert full['tls.chain']['reason'] == 'chain verified to trusted CN=AutopilotCX Test Root CA,O=AutopilotCX test'
    assert records[0]['chain_length'] == 2
    assert checks_of(checks, 'incomplete')['tls.chain']['reason'].startswith('incomplete chain: the issuer CN=AutopilotCX Test Intermediate CA')
    assert checks_of(checks, 'expired')['tls.chain']['reason'].endswith('has expired')
    assert checks_of(checks, 'self')['tls.chain']['reason'] == 'self-signed certificate (not issued by a trusted CA)'
    assert checks_of(checks, 'sha1')['tls.signature']['status'] == 'critical'
    # cryptography refuses to verify SHA-1 signatures (as OpenSSL at security level 2 refuses them): said plainly
    assert checks_of(checks, 'sha1')['tls.chain']['reason'] == (
        'the signature of CN=localhost by CN=AutopilotCX Test Root CA,O=AutopilotCX test cannot be verified '
        '(unsupported signature algorithm)')
    assert checks_of(checks, 'missing')['tls.file']['reason'].startswith('cannot read')
    assert 'holds no PEM certificate' in checks_of(checks, 'garbage')['tls.file']['reason']
    assert 'tls.protocol' not in full and 'tls.handshake' not in full


@pytest.mark.parametrize('hostname, dns, ips, expected', [
    ('www.example.com', ['www.example.com'], [], True),
    ('WWW.Example.COM', ['www.example.com'], [], True),
    ('www.example.com.', ['www.example.com'], [], True),
    ('www.example.com', ['*.example.com'], [], True),
    ('a.b.example.com', ['*.example.com'], [], False),        # one label only
    ('example.com', ['*.example.com'], [], False),            # the wildcard needs a label
    ('www.example.com', ['w*.example.com'], [], False),       # partial wildcards are not honoured
    ('www.example.com', ['www.*.com'], [], False),            # only the left-most label
    ('example.com', ['*.com'], [], False),                    # not over a bare public suffix
    ('xn--bcher-kva.example.com', ['*.example.com'], [], False),  # not an A-label
    ('127.0.0.1', ['127.0.0.1'], [], False),                  # an IP only matches an IP SAN
    ('127.0.0.1', [], ['127.0.0.1'], True),
    ('::1', [], ['0:0:0:0:0:0:0:1'], True),
    ('www.example.com', ['other.example.com'], ['127.0.0.1'], False),
])
def test_hostname_matching_rfc6125(hostname, dns, ips, expected):
    assert hostname_matches(hostname, dns, ips) is expected


@pytest.mark.parametrize('target, message', [
    ({'host': 'a b'}, 'is not a host name'),
    ({'host': 'x.invalid', 'port': 70000}, 'out of range'),
    ({'host': 'x.invalid', 'starttls': 'imap'}, 'starttls must be one of none, postgres, smtp'),
    ({'host': 'x.invalid', 'timeout': 0}, 'timeout must be greater than 0'),
    ({'host': 'x.invalid', 'ca_path': '/nonexistent/ca.pem'}, 'ca_path /nonexistent/ca.pem does not exist'),
    ({'host': 'x.invalid:notaport'}, 'is not host, host:port'),
    ({'port': 443}, 'is not a host name'),
])
def test_invalid_targets_get_a_clear_error(target, message):
    with pytest.raises(MaintenanceError) as info:
        check_tls([target], [], THRESHOLDS)
    assert message in info.value.message


def test_host_port_forms():
    assert parse_target('www.example.com:8443', 0, {})['port'] == 8443
    assert parse_target({'host': '[2001:db8::1]:993'}, 0, {})['host'] == '2001:db8::1'
    assert parse_target({'host': '2001:db8::1'}, 0, {})['port'] == 443
    assert parse_target({'host': 'example.com'}, 0, {})['server_name'] == 'example.com'
    with pytest.raises(MaintenanceError, match='targets or files'):
        check_tls([], [], THRESHOLDS)


def test_results_are_json_serialisable(servers, pki):
    checks, records = run_kinds(servers, pki, ['good'])
    json.dumps([checks, records])
    assert os.path.isfile(pki.ca_path)


# ------------------------------------------------------------------ cryptography as the distributions ship it
class _OldCertificate(object):
    """A certificate as cryptography < 40 (Debian 11/12, Ubuntu 22.04, RHEL 9) offers it: no verify_directly_issued_by.

    The real versions run in tests/integration/test_support_matrix.py; this drives the by-hand path on every run.
    """

    def __init__(self, cert):
        self._cert = cert

    def __getattr__(self, name):
        if name == 'verify_directly_issued_by':
            raise AttributeError(name)
        return getattr(self._cert, name)


def _load(path):
    with open(path, 'rb') as handle:
        return parse_pem_bundle(handle.read())


def test_pem_bundle_is_split_by_hand(leaves, pki, tmp_path):
    certs = _load(leaves['full-chain'][0])
    assert len(certs) == 2 and certs[0].issuer == certs[1].subject
    noisy = tmp_path / 'noisy.pem'
    with open(leaves['full-chain'][0], 'rb') as handle:
        data = handle.read()
    noisy.write_bytes(b'subject=CN = localhost\n' + data.replace(b'-----END CERTIFICATE-----\n', b'-----END CERTIFICATE-----\nsome text\n'))
    assert [c.serial_number for c in _load(str(noisy))] == [c.serial_number for c in certs]
    with pytest.raises(ValueError):
        parse_pem_bundle(b'no certificate here')
    broken = data.replace(data[100:140], b'A' * 40)
    with pytest.raises(ValueError):
        parse_pem_bundle(broken)


def test_signatures_checked_by_hand_without_verify_directly_issued_by(leaves, pki):
    leaf, intermediate = [_OldCertificate(c) for c in _load(leaves['full-chain'][0])]
    root = _OldCertificate(_load(pki.ca_path)[0])
    _verify_issued_by(leaf, intermediate)  # RSA PKCS#1 v1.5
    _verify_issued_by(intermediate, root)
    with pytest.raises(Exception) as refused:  # signed by someone else: InvalidSignature
        _verify_issued_by(leaf, root)
    assert refused.type.__name__ == 'InvalidSignature'
    ec_self = _OldCertificate(_load(pki.write_leaf('t-ec-self', key_kind='ec', self_signed=True)[0])[0])
    _verify_issued_by(ec_self, ec_self)  # ECDSA
    sha1 = _OldCertificate(_load(leaves['sha1'][0])[0])
    with pytest.raises(ValueError, match='unsupported signature algorithm'):  # as cryptography >= 40 refuses it
        _verify_issued_by(sha1, root)
    ok_path, reason, path = build_path([leaf, intermediate], [root])
    assert ok_path and reason.startswith('chain verified to trusted CN=AutopilotCX Test Root CA') and len(path) == 3
    ok_path, reason, _path = build_path([leaf], [root])
    assert not ok_path and reason.startswith('incomplete chain')
