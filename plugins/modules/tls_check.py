#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: tls_check
short_description: Validate TLS certificates of many servers (direct TLS or STARTTLS) and of local PEM files
version_added: 0.1.0
description:
  - Connects to every O(targets) entry concurrently (a bounded pool of O(workers) threads), optionally after a
    PostgreSQL (C(SSLRequest)) or SMTP (C(EHLO)/C(STARTTLS)) negotiation, sends SNI, and judges what the server
    presents; reads O(files) (PEM certificates, leaf first, then its chain) the same way.
  - "Checks per target or file: C(tls.handshake) (network targets), C(tls.chain) (trusted by the system store or
    O(ca_path); an incomplete chain, a self-signed or expired certificate is critical), C(tls.hostname)
    (subjectAltName per RFC 6125, wildcards only as the whole left-most label), C(tls.expiry) (days to expiry of the
    leaf or an earlier-expiring intermediate, against the C(tls_days_to_expiry) threshold), C(tls.key) (RSA or DSA
    under 2048 bits, EC under 256 bits, and DSA at all are critical), C(tls.signature) (MD5 or SHA-1 signatures on the
    leaf or an intermediate are critical) and C(tls.protocol) (TLS 1.1 or older is critical)."
  - Network targets are verified by OpenSSL during the handshake. When verification fails, a second handshake without
    verification, at OpenSSL security level 0, reads the certificates so weak keys and signatures are still reported.
  - A DNS failure, refused connection, timeout, failed STARTTLS or failed handshake is a critical C(tls.handshake)
    check with its reason; the other targets are still checked.
  - Meant to run on the control node or a probe host (C(delegate_to)).
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
  - autopilotcx.maintenance.checks
options:
  targets:
    description:
      - Servers to connect to.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name shown as the checks' target; defaults to C(host:port).
        type: str
      host:
        description:
          - Host name or IP address to connect to.
          - May carry the port (C(www.example.com:8443), C([2001:db8::1]:443)) when O(targets[].port) is not set.
        type: str
        required: true
      port:
        description: TCP port; 443 when neither given here nor in O(targets[].host).
        type: int
      server_name:
        description: SNI name sent in the handshake; defaults to O(targets[].host) when it is a name (no SNI for an IP address).
        type: str
      hostname:
        description: Name the certificate must be valid for; defaults to O(targets[].server_name), then O(targets[].host).
        type: str
      starttls:
        description: Protocol negotiation before the TLS handshake.
        type: str
        choices: [none, postgres, smtp]
        default: none
      ca_path:
        description: CA bundle to verify against; defaults to O(ca_path).
        type: path
      timeout:
        description: Seconds for connecting and each step; defaults to O(timeout).
        type: float
  files:
    description:
      - Local PEM files, leaf first, then its intermediates.
      - The chain is built with C(cryptography) (signatures and validity of each link; name constraints and key usages
        are not evaluated for files).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: PEM (or DER) certificate file on the host running the task.
        type: path
        required: true
      name:
        description: Name shown as the checks' target; defaults to the path.
        type: str
      hostname:
        description: Name the certificate must be valid for; no host name check when unset.
        type: str
      ca_path:
        description: CA bundle to build the chain to; defaults to O(ca_path).
        type: path
  workers:
    description: Targets checked at the same time.
    type: int
    default: 16
  timeout:
    description: Default seconds for each target.
    type: float
    default: 10
  ca_path:
    description: CA bundle to verify against instead of the system trust store (default for targets and files).
    type: path
requirements:
  - cryptography >= 3.3 on the host running the task (the distribution's C(python3-cryptography) is enough on Debian 11-13,
    Ubuntu 22.04/24.04 and RHEL 9; see docs/support-matrix.md).
notes:
  - "Threshold read: C(tls_days_to_expiry) (days, direction below; the collection default warns at 30 and is critical at 7)."
  - The certificates the server presents are read with C(SSLSocket._sslobj.get_unverified_chain()), available in CPython
    3.10 and later (public in 3.13). On older interpreters only the leaf is read (RV(certificates[].chain_source) says
    C(leaf only)); the chain is still verified by OpenSSL.
attributes:
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.http_check
  - module: community.crypto.get_certificate
  - module: community.crypto.x509_certificate_info
'''

EXAMPLES = r'''
---
- name: Check the certificates of the web, database and mail servers
  autopilotcx.maintenance.tls_check:
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
    targets:
      - host: www.example.com
      - {host: db1.example.com, port: 5432, starttls: postgres}
      - {host: mail.example.com, port: 587, starttls: smtp}
      - {host: 10.0.0.5, port: 8443, hostname: api.internal.example.com, ca_path: /etc/pki/internal-ca.pem}
    files:
      - path: /etc/nginx/tls/www.example.com.pem
        hostname: www.example.com
  delegate_to: localhost
  register: tls

- name: No certificate is critical
  ansible.builtin.assert:
    that: tls.status != 'critical'
    fail_msg: "{{ tls.checks | selectattr('status', 'eq', 'critical') | map(attribute='reason') | join('; ') }}"
'''

RETURN = r'''
checks:
  description: Checks in the collection's result model (C(tls.handshake), C(tls.chain), C(tls.hostname), C(tls.expiry),
    C(tls.key), C(tls.signature), C(tls.protocol), C(tls.file)); target = the target's or file's name.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: tls.expiry, status: warning, value: 21.4, unit: days, threshold: 30, priority: medium,
       reason: "certificate expires in 21.4 days < 30 days", target: "www.example.com:443"}
certificates:
  description: One record per target, then per file.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Target or file name., type: str, returned: always, sample: "www.example.com:443"}
    error: {description: Why nothing could be read (null otherwise)., type: str, returned: always, sample: connection refused}
    status: {description: Worst status of its checks., type: str, returned: always, sample: ok}
    subject: {description: Subject of the leaf (RFC 4514)., type: str, returned: success, sample: "CN=www.example.com"}
    issuer: {description: Issuer of the leaf (RFC 4514)., type: str, returned: success, sample: "CN=R11,O=Let's Encrypt,C=US"}
    sans: {description: subjectAltName DNS names and IP addresses., type: list, elements: str, returned: success, sample: [www.example.com]}
    not_before: {description: Start of validity (UTC)., type: str, returned: success, sample: "2026-10-01T00:00:00Z"}
    not_after: {description: End of validity (UTC)., type: str, returned: success, sample: "2026-12-30T00:00:00Z"}
    days_to_expiry: {description: Days until the leaf or an earlier-expiring intermediate expires., type: float, returned: success, sample: 36.2}
    key_type: {description: Public key type., type: str, returned: success, sample: RSA}
    key_size: {description: Key size in bits., type: int, returned: success, sample: 2048}
    signature_algorithm: {description: Signature algorithm of the leaf., type: str, returned: success, sample: sha256WithRSAEncryption}
    fingerprint_sha256: {description: SHA-256 fingerprint of the leaf., type: str, returned: success, sample: "3f1c..."}
    serial: {description: Serial number of the leaf (hexadecimal)., type: str, returned: success, sample: "4a3f0c"}
    is_ca: {description: Whether the leaf is a CA certificate (null without basicConstraints)., type: bool, returned: success,
            sample: false}
    hostname: {description: Name the certificate was checked against., type: str, returned: success, sample: www.example.com}
    host: {description: Host connected to., type: str, returned: network targets, sample: www.example.com}
    port: {description: Port connected to., type: int, returned: network targets, sample: 443}
    server_name: {description: SNI name sent (null for none)., type: str, returned: network targets, sample: www.example.com}
    starttls: {description: STARTTLS protocol used., type: str, returned: network targets, sample: none}
    path: {description: Certificate file., type: str, returned: files, sample: /etc/nginx/tls/www.pem}
    chain_length: {description: Certificates presented by the server (or found in the file)., type: int, returned: success, sample: 2}
    chain: {description: "Subject, issuer and not_after of each presented certificate.", type: list, elements: dict, returned: success}
    chain_verified: {description: Whether the chain is trusted., type: bool, returned: success, sample: true}
    verify_error: {description: Why the chain is not trusted., type: str, returned: success, sample: "unable to get local issuer certificate"}
    chain_source: {description: "C(presented chain), or C(leaf only) when the interpreter cannot read the chain.", type: str,
                   returned: network targets, sample: presented chain}
    tls_version: {description: Negotiated protocol., type: str, returned: network targets, sample: TLSv1.3}
    cipher: {description: Negotiated cipher suite., type: str, returned: network targets, sample: TLS_AES_256_GCM_SHA384}
status:
  description: The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);
    C(ok) when there is no check.
  returned: always
  type: str
  sample: warning
counts:
  description: Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.
  returned: always
  type: dict
  sample: {ok: 6, warning: 1, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: ["tls.expiry (www.example.com:443)"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import (
    check_argument_spec,
    finish,
    run,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import tls_check


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            targets=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str'),
                host=dict(type='str', required=True),
                port=dict(type='int'),
                server_name=dict(type='str'),
                hostname=dict(type='str'),
                starttls=dict(type='str', default='none', choices=['none', 'postgres', 'smtp']),
                ca_path=dict(type='path'),
                timeout=dict(type='float'),
            )),
            files=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                name=dict(type='str'),
                hostname=dict(type='str'),
                ca_path=dict(type='path'),
            )),
            workers=dict(type='int', default=16),
            timeout=dict(type='float', default=10),
            ca_path=dict(type='path'),
        ),
        required_one_of=[('targets', 'files')],
        supports_check_mode=True,
    )
    deps.require(module, 'cryptography')
    report = run(module, tls_check.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
