"""Demo data for the TLS certificate checks: a certificate file that expires in 20 days (a planted warning)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.harness.pki import CertificateAuthority  # noqa: E402


def setup(env):
    directory = os.path.join(env['demo_dir'], 'tls')
    os.makedirs(directory, exist_ok=True)
    ca = CertificateAuthority(name='AutopilotCX Demo Legacy CA', directory=directory)
    os.replace(ca.ca_path, os.path.join(directory, 'legacy-ca.crt'))
    ca.ca_path = os.path.join(directory, 'legacy-ca.crt')
    ca.write_leaf('legacy', hostnames=('legacy.localhost',), days=20)
