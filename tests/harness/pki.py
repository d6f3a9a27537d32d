"""Certificates made with ``cryptography``: a CA, an intermediate, and leaves of every kind the checks must judge."""

import datetime
import ipaddress
import os
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'AutopilotCX test'),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def new_key(kind='rsa', size=2048):
    if kind == 'ec':
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


class Issued:
    """A certificate with its key, written to PEM files on demand."""

    def __init__(self, cert, key, chain=()):
        self.cert = cert
        self.key = key
        self.chain = list(chain)  # issuers, nearest first (excluding the root when it is the trust anchor)

    def cert_pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self):
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption())

    def write(self, directory, name, with_chain=True):
        """Write ``name.crt`` (leaf plus chain unless told otherwise) and ``name.key``; return both paths."""
        cert_path = os.path.join(directory, name + '.crt')
        key_path = os.path.join(directory, name + '.key')
        with open(cert_path, 'wb') as handle:
            handle.write(self.cert_pem())
            if with_chain:
                for issuer in self.chain:
                    handle.write(issuer.public_bytes(serialization.Encoding.PEM))
        with open(key_path, 'wb') as handle:
            handle.write(self.key_pem())
        os.chmod(key_path, 0o600)
        return cert_path, key_path


class CertificateAuthority:
    """A root CA (and optionally an intermediate) issuing leaf certificates."""

    def __init__(self, name='AutopilotCX Test Root CA', directory=None):
        self.directory = directory or tempfile.mkdtemp(prefix='apcx-pki-')
        os.makedirs(self.directory, exist_ok=True)
        self.key = new_key()
        now = _now()
        self.cert = (x509.CertificateBuilder()
                     .subject_name(_name(name)).issuer_name(_name(name))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                                  crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.ca_path = os.path.join(self.directory, 'ca.crt')
        with open(self.ca_path, 'wb') as handle:
            handle.write(self.cert.public_bytes(serialization.Encoding.PEM))
        self._intermediate = None

    def intermediate(self):
        """An intermediate CA signed by the root (created once)."""
        if self._intermediate is None:
            key = new_key()
            now = _now()
            cert = (x509.CertificateBuilder()
                    .subject_name(_name('AutopilotCX Test Intermediate CA')).issuer_name(self.cert.subject)
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1825))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                    .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                                 data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                                 crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
                    .sign(self.key, hashes.SHA256()))
            self._intermediate = (cert, key)
        return self._intermediate

    def issue(self, hostnames=('localhost', '127.0.0.1'), days=365, not_before_days=-1, key_kind='rsa', key_size=2048,
              hash_alg=None, via_intermediate=False, self_signed=False, common_name=None):
        """A leaf certificate. ``days`` may be negative (already expired)."""
        key = new_key(key_kind, key_size)
        now = _now()
        sans = []
        for entry in hostnames:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                sans.append(x509.DNSName(entry))
        subject = _name(common_name or hostnames[0])
        if self_signed:
            issuer_name, issuer_key, chain = subject, key, []
        elif via_intermediate:
            inter_cert, inter_key = self.intermediate()
            issuer_name, issuer_key, chain = inter_cert.subject, inter_key, [inter_cert]
        else:
            issuer_name, issuer_key, chain = self.cert.subject, self.key, []
        builder = (x509.CertificateBuilder()
                   .subject_name(subject).issuer_name(issuer_name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now + datetime.timedelta(days=not_before_days))
                   .not_valid_after(now + datetime.timedelta(days=days))
                   .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        if not self_signed:
            builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                            critical=False)
        cert = builder.sign(issuer_key, hash_alg or hashes.SHA256())
        return Issued(cert, key, chain)

    def write_leaf(self, name, **kwargs):
        """Issue and write a leaf; returns ``(cert_path, key_path, Issued)``."""
        with_chain = kwargs.pop('with_chain', True)
        issued = self.issue(**kwargs)
        cert_path, key_path = issued.write(self.directory, name, with_chain=with_chain)
        return cert_path, key_path, issued
