"""TLS test servers and certificates the collection's own PKI helper cannot make.

* ``TlsServer``: a bare TLS listener on loopback that completes handshakes with any certificate (OpenSSL security
  level 0, so 1024-bit keys and SHA-1 signatures are served as a badly configured real server would) and can be
  limited to old protocol versions.
* ``sha1_leaf``: cryptography >= 45 refuses to *sign* with SHA-1 or MD5, so the SHA-1 certificate is signed by the
  ``openssl`` command line tool (Debian package ``openssl``) with the test CA's key.
"""

import os
import socket
import ssl
import subprocess
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from .net import free_port
from .pki import new_key


class TlsServer:
    """``with TlsServer(cert, key) as srv:`` listens on ``srv.port``; each client gets a handshake, then EOF."""

    def __init__(self, cert_path, key_path, maximum_version=None, host='127.0.0.1'):
        self.host = host
        self.port = free_port(host)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.set_ciphers('ALL:@SECLEVEL=0')
        self.context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        if maximum_version is not None:
            self.context.maximum_version = maximum_version
        self.context.load_cert_chain(cert_path, key_path)
        self.sock = None
        self.thread = None
        self.handshakes = 0

    def _serve(self, sock):
        while True:
            try:
                conn, _addr = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        conn.settimeout(5)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.handshakes += 1
                try:
                    tls.recv(1)
                except (OSError, ssl.SSLError):
                    pass
        except (OSError, ssl.SSLError):
            conn.close()

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.sock.listen(128)
        self.thread = threading.Thread(target=self._serve, args=(self.sock,), daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def sha1_leaf(ca, name, hostnames=('localhost', '127.0.0.1'), days=365):
    """A leaf signed by ``ca`` (a ``CertificateAuthority``) with sha1WithRSAEncryption; returns (cert, key) paths."""
    directory = ca.directory
    ca_key = os.path.join(directory, 'ca-for-openssl.key')
    if not os.path.exists(ca_key):
        with open(ca_key, 'wb') as handle:
            handle.write(ca.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                              serialization.NoEncryption()))
        os.chmod(ca_key, 0o600)
    key = new_key()
    key_path = os.path.join(directory, name + '.key')
    with open(key_path, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
           .sign(key, hashes.SHA256()))
    csr_path = os.path.join(directory, name + '.csr')
    with open(csr_path, 'wb') as handle:
        handle.write(csr.public_bytes(serialization.Encoding.PEM))
    ext_path = os.path.join(directory, name + '.ext')
    sans = ','.join(('IP:%s' if _is_ip(h) else 'DNS:%s') % h for h in hostnames)
    with open(ext_path, 'w') as handle:
        handle.write('subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' % sans)
    cert_path = os.path.join(directory, name + '.crt')
    subprocess.run(['openssl', 'x509', '-req', '-in', csr_path, '-CA', ca.ca_path, '-CAkey', ca_key,
                    '-set_serial', str(x509.random_serial_number()), '-sha1', '-days', str(days), '-extfile', ext_path,
                    '-out', cert_path], check=True, capture_output=True)
    return cert_path, key_path


def _is_ip(text):
    import ipaddress
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
