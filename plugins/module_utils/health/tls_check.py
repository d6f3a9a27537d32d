# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS certificate probes for the ``tls_check`` module.

Network targets (``host:port``, optionally after a PostgreSQL or SMTP STARTTLS
negotiation) and local PEM files are judged the same way: chain trust, host
name (RFC 6125), days to expiry, key type and size, signature algorithm and,
for network targets, the negotiated TLS version.

How the chain is verified
-------------------------
* Network targets: OpenSSL verifies the chain during a first handshake
  (``CERT_REQUIRED`` against the given CA bundle or the system trust store).
  When verification fails, a second handshake without verification (and at
  OpenSSL security level 0, so weak keys and SHA-1 can still be inspected)
  fetches the certificates to report on. The certificates the server presents
  are read with ``SSLSocket._sslobj.get_unverified_chain()``, which CPython has
  had privately since 3.10 and publicly (``SSLSocket.get_unverified_chain``)
  since 3.13. On an interpreter without it only the leaf is available; the
  chain is still verified by OpenSSL, but ``chain_length`` is reported as 1
  and ``chain_source`` says ``leaf only``.
* PEM files: no handshake is possible, so the path is built with
  ``cryptography``: each certificate must be signed by the next one found
  (in the file or among the trust anchors) and be valid now. Name
  constraints, policies and key usages are not evaluated for files.
"""

import importlib
import ipaddress
import os
import re
import socket
import ssl
import struct
import threading

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import UTC, iso_utc, readable_utc, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    Report,
    critical,
    evaluate,
    format_value,
    ok,
    threshold_for,
    worst,
)

EXPIRY_THRESHOLD = 'tls_days_to_expiry'
STARTTLS = ('none', 'postgres', 'smtp')
WEAK_HASHES = ('md5', 'sha1', 'md2', 'md4')
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
OLD_PROTOCOLS = ('SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1')
PG_SSL_REQUEST = struct.pack('!II', 8, 80877103)

TARGET_DEFAULTS = dict(name=None, host=None, port=None, server_name=None, hostname=None, starttls='none',
                       ca_path=None, timeout=None)
FILE_DEFAULTS = dict(name=None, path=None, hostname=None, ca_path=None)


class ProbeFailure(Exception):
    def __init__(self, reason, kind):
        super(ProbeFailure, self).__init__(reason)
        self.reason = reason
        self.kind = kind


# ---------------------------------------------------------------- input

def parse_target(raw, index, defaults):
    """A target mapping, or a ``host:port`` / ``[v6]:port`` string."""
    if isinstance(raw, str):
        raw = {'host': raw}
    if isinstance(raw, dict) and raw.get('port') is None and isinstance(raw.get('host'), str) \
            and (':' in raw['host'] and not _is_ip(raw['host'])):
        text = raw['host'].strip()
        match = re.match(r'^\[([^\]]+)\](?::(\d+))?$', text) or re.match(r'^([^:\s]+):(\d+)$', text)
        if not match:
            raise MaintenanceError('targets[%d]: %r is not host, host:port or [ipv6]:port' % (index, raw['host']))
        raw = dict(raw, host=match.group(1), port=int(match.group(2)) if match.group(2) else None)
    if not isinstance(raw, dict):
        raise MaintenanceError('targets[%d] must be a mapping or a host:port string, not %r' % (index, raw))
    target = dict(TARGET_DEFAULTS)
    target.update(dict((k, v) for k, v in raw.items() if v is not None))
    for key in ('ca_path', 'timeout'):
        if target.get(key) is None:
            target[key] = defaults.get(key)
    if target['timeout'] is None:
        target['timeout'] = 10.0
    host = target.get('host')
    if not host or not isinstance(host, str) or any(ch.isspace() or ch in '/@' for ch in host):
        raise MaintenanceError('targets[%d]: host %r is not a host name or IP address' % (index, host))
    if target['port'] is None:
        target['port'] = 443
    try:
        target['port'] = int(target['port'])
    except (TypeError, ValueError):
        raise MaintenanceError('targets[%d] (%s): port must be an integer, not %r' % (index, host, target['port']))
    if not 0 < target['port'] < 65536:
        raise MaintenanceError('targets[%d] (%s): port %s is out of range' % (index, host, target['port']))
    if target['starttls'] not in STARTTLS:
        raise MaintenanceError('targets[%d] (%s): starttls must be one of %s, not %r'
                               % (index, host, ', '.join(STARTTLS), target['starttls']))
    try:
        target['timeout'] = float(target['timeout'])
    except (TypeError, ValueError):
        raise MaintenanceError('targets[%d] (%s): timeout must be a number of seconds' % (index, host))
    if target['timeout'] <= 0:
        raise MaintenanceError('targets[%d] (%s): timeout must be greater than 0' % (index, host))
    if target.get('ca_path') and not os.path.isfile(target['ca_path']):
        raise MaintenanceError('targets[%d] (%s): ca_path %s does not exist' % (index, host, target['ca_path']))
    target['server_name'] = target.get('server_name') or (None if _is_ip(host) else host)
    target['hostname'] = target.get('hostname') or target['server_name'] or host
    target['name'] = target.get('name') or _hostport(host, target['port'])
    return target


def parse_file(raw, index, defaults):
    if isinstance(raw, str):
        raw = {'path': raw}
    if not isinstance(raw, dict) or not raw.get('path'):
        raise MaintenanceError('files[%d] must be a path or a mapping with a path, not %r' % (index, raw))
    entry = dict(FILE_DEFAULTS)
    entry.update(dict((k, v) for k, v in raw.items() if v is not None))
    if entry.get('ca_path') is None:
        entry['ca_path'] = defaults.get('ca_path')
    if entry.get('ca_path') and not os.path.isfile(entry['ca_path']):
        raise MaintenanceError('files[%d] (%s): ca_path %s does not exist' % (index, entry['path'], entry['ca_path']))
    entry['name'] = entry.get('name') or entry['path']
    return entry


def _hostport(host, port):
    return '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- host names (RFC 6125)

def hostname_matches(hostname, dns_names, ip_addresses):
    """True when ``hostname`` matches a SAN.

    RFC 6125 section 6.4: an IP address only matches an IP SAN; a DNS name
    matches case-insensitively; a wildcard is allowed only as the complete
    left-most label (``*.example.com``), matches exactly one label, never a bare
    public-suffix-like name (at least two labels must follow it) and never an
    IDNA A-label.
    """
    host = hostname.rstrip('.').lower()
    try:
        address = ipaddress.ip_address(host.strip('[]'))
    except ValueError:
        address = None
    if address is not None:
        return any(ipaddress.ip_address(ip) == address for ip in ip_addresses)
    for pattern in dns_names:
        pattern = pattern.rstrip('.').lower()
        if '*' not in pattern:
            if pattern == host:
                return True
            continue
        labels = pattern.split('.')
        if labels[0] != '*' or '*' in '.'.join(labels[1:]) or len(labels) < 3:
            continue  # partial (f*o.example.com) or misplaced wildcards are not honoured
        host_labels = host.split('.')
        if len(host_labels) != len(labels) or host_labels[0].startswith('xn--') or not host_labels[0]:
            continue
        if host_labels[1:] == labels[1:]:
            return True
    return False


# ---------------------------------------------------------------- STARTTLS

def _recv_line(sock, buffer):
    while b'\n' not in buffer[0]:
        chunk = sock.recv(4096)
        if not chunk:
            raise ProbeFailure('STARTTLS failed: server closed the connection', 'starttls')
        buffer[0] += chunk
    line, buffer[0] = buffer[0].split(b'\n', 1)
    return line.rstrip(b'\r').decode('utf-8', 'replace')


def _smtp_reply(sock, buffer):
    lines = []
    while True:
        line = _recv_line(sock, buffer)
        lines.append(line)
        if len(line) < 4 or line[3] != '-':
            break
    code = int(lines[-1][:3]) if lines[-1][:3].isdigit() else 0
    return code, lines


def starttls_smtp(sock):
    buffer = [b'']
    code, lines = _smtp_reply(sock, buffer)
    if code != 220:
        raise ProbeFailure('STARTTLS failed: SMTP greeting %s' % (lines[-1][:80]), 'starttls')
    sock.sendall(b'EHLO autopilotcx-tls-check\r\n')
    code, lines = _smtp_reply(sock, buffer)
    if code != 250:
        raise ProbeFailure('STARTTLS failed: EHLO answered %s' % lines[-1][:80], 'starttls')
    if not any(line[4:].strip().upper().startswith('STARTTLS') for line in lines):
        raise ProbeFailure('STARTTLS failed: the SMTP server does not offer STARTTLS', 'starttls')
    sock.sendall(b'STARTTLS\r\n')
    code, lines = _smtp_reply(sock, buffer)
    if code != 220:
        raise ProbeFailure('STARTTLS failed: STARTTLS answered %s' % lines[-1][:80], 'starttls')


def starttls_postgres(sock):
    sock.sendall(PG_SSL_REQUEST)
    answer = sock.recv(1)
    if answer == b'N':
        raise ProbeFailure('STARTTLS failed: the PostgreSQL server refuses TLS (SSLRequest answered N)', 'starttls')
    if answer != b'S':
        raise ProbeFailure('STARTTLS failed: unexpected answer %r to the PostgreSQL SSLRequest' % answer, 'starttls')


# ---------------------------------------------------------------- handshakes

class _Contexts(object):
    def __init__(self):
        self.lock = threading.Lock()
        self.cache = {}

    def verifying(self, ca_path):
        key = ('verify', ca_path)
        with self.lock:
            if key not in self.cache:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False  # judged separately (RFC 6125), so a wrong name still shows the rest
                context.verify_mode = ssl.CERT_REQUIRED
                try:
                    if ca_path:
                        context.load_verify_locations(cafile=ca_path)
                    else:
                        context.load_default_certs()
                except (IOError, OSError, ssl.SSLError) as exc:
                    raise MaintenanceError('Error while loading the CA bundle %s: %s' % (ca_path or 'of the system', exc))
                self.cache[key] = context
            return self.cache[key]

    def inspecting(self):
        with self.lock:
            if 'inspect' not in self.cache:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                try:  # accept what a weak server offers, so it can be reported rather than refused
                    context.set_ciphers('ALL:@SECLEVEL=0')
                    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
                except (ssl.SSLError, ValueError, AttributeError):
                    pass
                self.cache['inspect'] = context
            return self.cache['inspect']


def _connect(target):
    host, port, timeout = target['host'], target['port'], target['timeout']
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise ProbeFailure('DNS lookup failed for %s: %s' % (host, exc.strerror or exc), 'dns')
    except socket.timeout:
        raise ProbeFailure('timeout after %s' % format_value(timeout, 's'), 'timeout')
    except ConnectionRefusedError:
        raise ProbeFailure('connection refused', 'refused')
    except OSError as exc:
        raise ProbeFailure('connection failed: %s' % (exc.strerror or exc), 'network')
    try:
        if target['starttls'] == 'postgres':
            starttls_postgres(sock)
        elif target['starttls'] == 'smtp':
            starttls_smtp(sock)
    except ProbeFailure:
        sock.close()
        raise
    except socket.timeout:
        sock.close()
        raise ProbeFailure('STARTTLS failed: timeout after %s' % format_value(timeout, 's'), 'timeout')
    except OSError as exc:
        sock.close()
        raise ProbeFailure('STARTTLS failed: %s' % (exc.strerror or exc), 'starttls')
    return sock


def _handshake(target, context):
    sock = _connect(target)
    try:
        return context.wrap_socket(sock, server_hostname=target['server_name'])
    except Exception:
        sock.close()
        raise


def _chains(tls):
    """``(presented DER list, verified DER list or None, source)``."""
    sslobj = getattr(tls, '_sslobj', None)
    presented = verified = None
    getter = getattr(tls, 'get_unverified_chain', None) or getattr(sslobj, 'get_unverified_chain', None)
    if getter is not None:
        try:
            presented = [_der(cert) for cert in (getter() or [])]
        except (ssl.SSLError, ValueError, TypeError):
            presented = None
    vgetter = getattr(tls, 'get_verified_chain', None) or getattr(sslobj, 'get_verified_chain', None)
    if vgetter is not None:
        try:
            verified = [_der(cert) for cert in (vgetter() or [])]
        except (ssl.SSLError, ValueError, TypeError):
            verified = None
    if presented:
        return presented, verified, 'presented chain'
    leaf = tls.getpeercert(binary_form=True)
    return ([leaf] if leaf else []), verified, 'leaf only'


def _der(cert):
    if isinstance(cert, bytes):
        return cert
    return cert.public_bytes(2)  # _ssl.ENCODING_DER


_VERIFY_HINTS = {
    10: 'certificate has expired',
    18: 'self-signed certificate (not issued by a trusted CA)',
    19: 'self-signed certificate in the chain (root not trusted)',
    20: 'unable to get local issuer certificate',
    21: 'unable to verify the first certificate',
}


def probe_target(contexts, target):
    """Handshake with ``target``; return the raw observation dict. Raises ProbeFailure when no handshake succeeds."""
    observed = {'verified': False, 'verify_error': None, 'verify_code': None}
    tls = None
    try:
        tls = _handshake(target, contexts.verifying(target.get('ca_path')))
        observed['verified'] = True
    except ssl.SSLCertVerificationError as exc:
        observed['verify_code'] = exc.verify_code
        observed['verify_error'] = exc.verify_message or str(exc.reason)
    except ssl.SSLError as exc:
        observed['verify_error'] = 'handshake with verification failed: %s' % (exc.reason or exc)
    except socket.timeout:
        raise ProbeFailure('TLS handshake failed: timeout after %s' % format_value(target['timeout'], 's'), 'timeout')
    except (ConnectionResetError, BrokenPipeError) as exc:
        observed['verify_error'] = 'connection reset during the handshake (%s)' % exc.__class__.__name__
    if tls is None:
        try:
            tls = _handshake(target, contexts.inspecting())
        except ssl.SSLError as exc:
            raise ProbeFailure('TLS handshake failed: %s' % (exc.reason or exc.strerror or exc), 'tls')
        except socket.timeout:
            raise ProbeFailure('TLS handshake failed: timeout after %s' % format_value(target['timeout'], 's'), 'timeout')
        except OSError as exc:
            raise ProbeFailure('TLS handshake failed: %s' % (exc.strerror or exc), 'tls')
    try:
        presented, verified, source = _chains(tls)
        observed.update(presented=presented, verified_chain=verified, chain_source=source,
                        tls_version=tls.version(), cipher=(tls.cipher() or (None,))[0])
    finally:
        try:
            tls.close()
        except OSError:
            pass
    if not observed['presented']:
        raise ProbeFailure('TLS handshake completed but the server presented no certificate', 'tls')
    return observed


# ---------------------------------------------------------------- certificates

def _x509():
    deps.load('cryptography')  # fails with what to install when missing
    return importlib.import_module('cryptography.x509')


def _utc(cert, attr):
    value = getattr(cert, attr + '_utc', None)
    if value is None:
        value = getattr(cert, attr).replace(tzinfo=UTC)
    return value


def _name(name):
    try:
        return name.rfc4514_string()
    except Exception:  # malformed names: show what we can
        return str(name)


def describe(cert):
    """Facts about one certificate (no judgement)."""
    x509 = _x509()
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    dns, ips = [], []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_type, key_size = 'RSA', key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type, key_size = 'EC %s' % key.curve.name, key.curve.key_size
    elif isinstance(key, dsa.DSAPublicKey):
        key_type, key_size = 'DSA', key.key_size
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key_type, key_size = 'Ed25519', 256
    elif isinstance(key, ed448.Ed448PublicKey):
        key_type, key_size = 'Ed448', 456
    else:
        key_type, key_size = key.__class__.__name__, None
    try:
        hash_alg = cert.signature_hash_algorithm
        hash_name = hash_alg.name if hash_alg is not None else None
    except Exception:  # UnsupportedAlgorithm for exotic signatures
        hash_name = None
    oid = cert.signature_algorithm_oid
    sig_name = getattr(oid, '_name', None) or oid.dotted_string
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = None
    return {
        'subject': _name(cert.subject),
        'issuer': _name(cert.issuer),
        'serial': format(cert.serial_number, 'x'),
        'not_before': iso_utc(_utc(cert, 'not_valid_before')),
        'not_after': iso_utc(_utc(cert, 'not_valid_after')),
        'sans': list(dns) + ips,
        'dns_names': list(dns),
        'ip_addresses': ips,
        'key_type': key_type,
        'key_size': key_size,
        'signature_algorithm': sig_name,
        'signature_hash': hash_name,
        'fingerprint_sha256': cert.fingerprint(hashes.SHA256()).hex(),
        'is_ca': ca,
        'self_issued': cert.subject == cert.issuer,
    }


PEM_BLOCK = re.compile(br'-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----', re.DOTALL)


def parse_pem_bundle(data):
    """Every certificate of a PEM bundle, in order.

    The bundle is split here and each block loaded with ``load_pem_x509_certificate``: that works with the
    cryptography the distributions ship (3.3 on Debian 11, 3.4.8 on Ubuntu 22.04), where the one-call
    ``load_pem_x509_certificates`` (cryptography 39) does not exist. Raises ``ValueError`` when there is no
    certificate block or a block does not parse.
    """
    x509 = _x509()
    blocks = PEM_BLOCK.findall(data)
    if not blocks:
        raise ValueError('no "BEGIN CERTIFICATE" block')
    return [x509.load_pem_x509_certificate(block) for block in blocks]


def load_pem_chain(path):
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise ProbeFailure('cannot read %s: %s' % (path, exc.strerror or exc), 'file')
    x509 = _x509()
    try:
        certs = parse_pem_bundle(data)
    except ValueError as exc:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise ProbeFailure('%s holds no PEM certificate (%s)' % (path, exc), 'file')
    return certs


_ANCHORS = {}
_ANCHORS_LOCK = threading.Lock()


def trust_anchors(ca_path):
    """Certificates of ``ca_path`` or of the system trust store (file and directory), cached."""
    key = ca_path or ''
    with _ANCHORS_LOCK:
        if key in _ANCHORS:
            return _ANCHORS[key]
        _x509()  # fails with the package to install before any file is read
        anchors = []
        sources = []
        if ca_path:
            sources.append(ca_path)
        else:
            paths = ssl.get_default_verify_paths()
            for candidate in (paths.cafile, paths.openssl_cafile):
                if candidate and os.path.isfile(candidate):
                    sources.append(candidate)
                    break
            if not sources:
                for directory in (paths.capath, paths.openssl_capath):
                    if directory and os.path.isdir(directory):
                        sources.extend(os.path.join(directory, n) for n in sorted(os.listdir(directory))
                                       if n.endswith(('.pem', '.crt')) or re.match(r'^[0-9a-f]{8}\.\d+$', n))
                        break
        for source in sources:
            try:
                with open(source, 'rb') as handle:
                    anchors.extend(parse_pem_bundle(handle.read()))
            except (IOError, OSError, ValueError):
                continue
        _ANCHORS[key] = anchors
        return anchors


def _signed_by(cert, issuer, problems=None):
    """True when ``issuer`` signed ``cert``; a signature that cannot be checked is noted in ``problems``."""
    if cert.issuer != issuer.subject:
        return False
    try:
        _verify_issued_by(cert, issuer)
        return True
    except ValueError as exc:  # an algorithm cryptography refuses to verify (SHA-1, MD5)
        if problems is not None:
            problems.append('the signature of %s by %s cannot be verified (%s)'
                            % (_name(cert.subject), _name(issuer.subject), str(exc).lower()))
        return False
    except Exception:  # InvalidSignature, TypeError (key type mismatch)
        return False


def _verify_issued_by(cert, issuer):
    """``cert.verify_directly_issued_by(issuer)`` (cryptography 40), or the same check by hand on older versions.

    By hand: the issuer's public key verifies the signature over the TBS bytes with the certificate's hash; MD5 and
    SHA-1 are refused as cryptography 40+ refuses them, RSASSA-PSS (whose parameters older versions do not expose)
    raises ``ValueError`` so the chain check says it could not verify rather than guessing.
    """
    native = getattr(cert, 'verify_directly_issued_by', None)
    if native is not None:
        native(issuer)
        return
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
    if cert.signature_algorithm_oid.dotted_string == '1.2.840.113549.1.1.10':
        raise ValueError('RSASSA-PSS signatures need cryptography >= 40 to verify')
    try:
        hash_alg = cert.signature_hash_algorithm
    except Exception:  # UnsupportedAlgorithm
        raise ValueError('unsupported signature algorithm')
    if hash_alg is not None and hash_alg.name.lower() in WEAK_HASHES:
        raise ValueError('unsupported signature algorithm')
    key = issuer.public_key()
    signature, data = cert.signature, cert.tbs_certificate_bytes
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), hash_alg)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(hash_alg))
    elif isinstance(key, dsa.DSAPublicKey):
        key.verify(signature, data, hash_alg)
    elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        key.verify(signature, data)
    else:
        raise ValueError('unsupported signature algorithm')


def build_path(certs, anchors, now=None):
    """Walk from the leaf through ``certs`` to a trust anchor; return ``(ok, reason, path)``."""
    now = now or utc_now()
    path = [certs[0]]
    pool = list(certs[1:])
    current = certs[0]
    problems = []
    for _depth in range(10):
        if _utc(current, 'not_valid_after') < now:
            return False, 'certificate %s has expired' % _name(current.subject), path
        if _utc(current, 'not_valid_before') > now:
            return False, 'certificate %s is not yet valid' % _name(current.subject), path
        for anchor in anchors:
            if anchor.subject == current.subject and anchor.public_key().public_bytes(*_spki()) == \
                    current.public_key().public_bytes(*_spki()):
                return True, 'chain verified to trusted %s' % _name(anchor.subject), path
            if _signed_by(current, anchor, problems):
                path.append(anchor)
                return True, 'chain verified to trusted %s' % _name(anchor.subject), path
        if current.subject == current.issuer and _signed_by(current, current):
            if len(path) == 1:
                return False, 'self-signed certificate (not issued by a trusted CA)', path
            return False, 'self-signed certificate in the chain (root not trusted)', path
        issuer = next((c for c in pool if _signed_by(current, c, problems)), None)
        if issuer is None:
            if problems:
                return False, problems[0], path
            return False, ('incomplete chain: the issuer %s of %s is neither in the file nor trusted'
                           % (_name(current.issuer), _name(current.subject))), path
        pool.remove(issuer)
        path.append(issuer)
        current = issuer
    return False, 'chain longer than 10 certificates', path


def _spki():
    from cryptography.hazmat.primitives import serialization
    return serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


# ---------------------------------------------------------------- judging

def judge(target_name, certs, hostname, thresholds, chain_ok, chain_reason, tls_version=None, now=None):
    """Checks for one leaf (``certs[0]``) and the certificates that came with it."""
    now = now or utc_now()
    leaf = certs[0]
    facts = describe(leaf)
    checks = []
    if chain_ok:
        checks.append(ok('tls.chain', chain_reason, target=target_name, value=True))
    else:
        checks.append(critical('tls.chain', chain_reason, target=target_name, value=False))
    if hostname:
        if not facts['dns_names'] and not facts['ip_addresses']:
            checks.append(critical('tls.hostname', 'certificate has no subjectAltName; %s cannot match' % hostname,
                                   target=target_name, value=hostname))
        elif hostname_matches(hostname, facts['dns_names'], facts['ip_addresses']):
            checks.append(ok('tls.hostname', '%s matches the certificate' % hostname, target=target_name, value=hostname))
        else:
            checks.append(critical('tls.hostname', '%s does not match the certificate names %s'
                                   % (hostname, ', '.join(facts['sans'])), target=target_name, value=hostname,
                                   details={'sans': facts['sans']}))
    # expiry: the earliest of the leaf and the intermediates that came with it (not self-signed roots)
    considered = [c for c in certs if c is leaf or c.subject != c.issuer]
    soonest = min(considered, key=lambda c: _utc(c, 'not_valid_after'))
    not_after = _utc(soonest, 'not_valid_after')
    days = round((not_after - now).total_seconds() / 86400.0, 2)
    who = 'certificate' if soonest is leaf else 'intermediate %s' % _name(soonest.subject)
    check = evaluate('tls.expiry', days, threshold_for(thresholds, EXPIRY_THRESHOLD), label='%s expires in' % who,
                     target=target_name, unit='days', details={'not_after': iso_utc(not_after)})
    if days < 0:
        when = readable_utc(not_after)
        check = critical('tls.expiry', '%s expired %s ago (%s)' % (who, format_value(-days, 'days'), when),
                         target=target_name, value=days, unit='days', threshold=check['threshold'],
                         details=check.get('details'))
    not_before = _utc(leaf, 'not_valid_before')
    if not_before > now:
        check = critical('tls.expiry', 'certificate not valid before %s' % readable_utc(not_before),
                         target=target_name, value=days, unit='days')
    checks.append(check)
    # key
    weak_key = ((facts['key_type'] in ('RSA', 'DSA') and (facts['key_size'] or 0) < MIN_RSA_BITS)
                or (facts['key_type'].startswith('EC ') and (facts['key_size'] or 0) < MIN_EC_BITS)
                or facts['key_type'] == 'DSA')
    key_text = '%s %s bits' % (facts['key_type'], facts['key_size'])
    if weak_key:
        checks.append(critical('tls.key', '%s key is too weak (RSA needs at least %d bits, EC %d, DSA is not accepted)'
                               % (key_text, MIN_RSA_BITS, MIN_EC_BITS), target=target_name, value=facts['key_size'],
                               unit='bits', details={'key_type': facts['key_type']}))
    else:
        checks.append(ok('tls.key', '%s key' % key_text, target=target_name, value=facts['key_size'], unit='bits',
                         details={'key_type': facts['key_type']}))
    # signatures of the leaf and of the intermediates (a root's self-signature is not relied on)
    weak = []
    for cert in considered:
        info = describe(cert) if cert is not leaf else facts
        if (info['signature_hash'] or '').lower() in WEAK_HASHES:
            weak.append('%s signed with %s' % (info['subject'], info['signature_algorithm']))
    if weak:
        checks.append(critical('tls.signature', 'weak signature: %s' % '; '.join(weak), target=target_name,
                               value=facts['signature_algorithm']))
    else:
        checks.append(ok('tls.signature', 'signature %s' % facts['signature_algorithm'], target=target_name,
                         value=facts['signature_algorithm']))
    if tls_version is not None:
        if tls_version in OLD_PROTOCOLS:
            checks.append(critical('tls.protocol', '%s is obsolete (TLSv1.2 or later required)' % tls_version,
                                   target=target_name, value=tls_version))
        else:
            checks.append(ok('tls.protocol', 'negotiated %s' % tls_version, target=target_name, value=tls_version))
    return facts, checks, days


def _public_facts(facts):
    """The facts returned per certificate (the others only serve the judgement)."""
    return dict((k, v) for k, v in facts.items() if k not in ('dns_names', 'ip_addresses', 'signature_hash', 'self_issued'))


def _chain_summary(certs):
    result = []
    for cert in certs:
        result.append({'subject': _name(cert.subject), 'issuer': _name(cert.issuer),
                       'not_after': iso_utc(_utc(cert, 'not_valid_after'))})
    return result


def check_target(contexts, target, thresholds):
    record = {'name': target['name'], 'host': target['host'], 'port': target['port'],
              'server_name': target['server_name'], 'starttls': target['starttls'], 'error': None}
    try:
        observed = probe_target(contexts, target)
    except ProbeFailure as failure:
        record['error'] = failure.reason
        return record, [critical('tls.handshake', failure.reason, target=target['name'],
                                 details={'error': failure.kind})]
    x509 = _x509()
    certs = [x509.load_der_x509_certificate(der) for der in observed['presented']]
    if observed['verified']:
        reason = 'chain verified against %s' % ('the CA bundle %s' % target['ca_path'] if target.get('ca_path')
                                                else 'the system trust store')
        chain_ok = True
    else:
        chain_ok = False
        reason = observed['verify_error'] or 'chain not verified'
        code = observed['verify_code']
        last = certs[-1]
        if code in (20, 21) and last.subject != last.issuer:
            reason = ('incomplete chain: the server sends %d certificate(s) and the issuer %s of %s is missing (%s)'
                      % (len(certs), _name(last.issuer), _name(last.subject), reason))
        elif code in _VERIFY_HINTS:
            hint = _VERIFY_HINTS[code]
            reason = hint if hint.startswith(reason) else '%s (%s)' % (reason, hint)
        if code is None:
            # OpenSSL refused the verifying handshake for another reason (an old protocol, a cipher): build the
            # path with cryptography from what the server presented instead
            chain_ok, path_reason, _path = build_path(certs, trust_anchors(target.get('ca_path')))
            reason = '%s (%s; path built from the presented certificates)' % (path_reason, reason)
        if not chain_ok:
            reason = 'chain not trusted: %s' % reason
    facts, checks, days = judge(target['name'], certs, target['hostname'], thresholds, chain_ok, reason,
                                tls_version=observed['tls_version'])
    checks.insert(0, ok('tls.handshake', 'TLS handshake with %s%s' % (
        target['name'], ' after %s STARTTLS' % target['starttls'] if target['starttls'] != 'none' else ''),
        target=target['name'], value=observed['tls_version']))
    record.update(_public_facts(facts))
    record.update(days_to_expiry=days, tls_version=observed['tls_version'], cipher=observed['cipher'],
                  chain_length=len(certs), chain_source=observed['chain_source'], chain=_chain_summary(certs),
                  chain_verified=chain_ok, verify_error=None if chain_ok else observed['verify_error'],
                  hostname=target['hostname'])
    return record, checks


def check_file(entry, thresholds):
    record = {'name': entry['name'], 'path': entry['path'], 'error': None}
    try:
        certs = load_pem_chain(entry['path'])
    except ProbeFailure as failure:
        record['error'] = failure.reason
        return record, [critical('tls.file', failure.reason, target=entry['name'])]
    chain_ok, reason, path = build_path(certs, trust_anchors(entry.get('ca_path')))
    facts, checks, days = judge(entry['name'], certs, entry.get('hostname'), thresholds, chain_ok, reason)
    record.update(_public_facts(facts))
    record.update(days_to_expiry=days, chain_length=len(certs), chain=_chain_summary(certs), chain_verified=chain_ok,
                  verify_error=None if chain_ok else reason, hostname=entry.get('hostname'))
    return record, checks


def check_tls(targets=None, files=None, thresholds=None, workers=16, defaults=None):
    """Judge every target and file; return ``(checks, records)`` in the order given (targets first)."""
    defaults = defaults or {}
    targets = [parse_target(raw, i, defaults) for i, raw in enumerate(targets or [])]
    files = [parse_file(raw, i, defaults) for i, raw in enumerate(files or [])]
    if not targets and not files:
        raise MaintenanceError('give at least one entry in targets or files')
    try:
        workers = int(workers)
    except (TypeError, ValueError):
        raise MaintenanceError('workers must be an integer, not %r' % (workers,))
    if workers < 1:
        raise MaintenanceError('workers must be at least 1, not %d' % workers)
    deps.load('cryptography')
    thresholds = thresholds or {}
    contexts = _Contexts()
    results = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets) + len(files)))) as executor:
        futures = [executor.submit(check_target, contexts, t, thresholds) for t in targets]
        futures += [executor.submit(check_file, f, thresholds) for f in files]
        results = [future.result() for future in futures]
    checks, records = [], []
    for record, entry_checks in results:
        checks.extend(entry_checks)
        record['status'] = worst(entry_checks)
        records.append(record)
    return checks, records


def run(params, check_mode=False, host=None):
    """The tls_check module's entry (``result.Report``): every target and file."""
    checks, records = check_tls(params['targets'], params['files'], params['thresholds'], workers=params['workers'],
                                defaults=dict(timeout=params['timeout'], ca_path=params['ca_path']))
    return Report(checks, data=dict(certificates=records))
