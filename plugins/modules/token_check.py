#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: token_check
short_description: Check a JWKS (keys, policy, rotation) and a sample JWT (signature, claims, expiry)
version_added: 0.1.0
description:
  - Fetches a JSON Web Key Set from an endpoint (O(jwks_url)) or reads it from a file (O(jwks_path)) and checks that
    every signing key parses (RSA, EC, OKP, with PyJWT and cryptography), that RSA keys are at least as large as the
    C(jwks_rsa_key_bits) threshold, that curves and algorithms are allowed, that C(kid)s are unique, and that no
    private or symmetric key material is published.
  - Keeps an RFC 7638 thumbprint fingerprint of the key set in O(state_file) and reports a change since the previous run
    (C(jwks.fingerprint), warning, low priority) and whether the rotation kept an overlap (C(jwks.rotation) is critical
    when every previous key was replaced at once, so tokens signed with them fail).
  - Verifies a sample token (O(token), never logged) against the key set with PyJWT, checks C(iss) and C(aud),
    C(nbf), C(exp) and holds the time to expiry against a threshold (O(expiry_threshold)).
  - An unreachable endpoint, a JWKS that is not JSON or a key that does not parse is a critical check with its reason;
    the other checks still run (the sample token's claims are still checked without a key set).
  - "Runs anywhere PyJWT is installed; the roles run it on the control node (C(delegate_to: localhost))."
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  jwks_url:
    description: URL of the JWKS (for example C(https://idp.example.com/.well-known/jwks.json)).
    type: str
  jwks_path:
    description: Path of a JWKS file.
    type: path
  headers:
    description: Extra HTTP headers for O(jwks_url); never logged.
    type: dict
  validate_certs:
    description: Verify the TLS certificate of O(jwks_url).
    type: bool
    default: true
  ca_path:
    description: CA bundle to verify O(jwks_url) with.
    type: path
  timeout:
    description: Seconds to wait for O(jwks_url).
    type: float
    default: 10
  allowed_algorithms:
    description:
      - Signing algorithms the policy allows, for the keys' C(alg) (or the algorithm their type implies) and the token header.
      - Only asymmetric algorithms; C(none) and C(HS*) are refused.
    type: list
    elements: str
    default: [RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA]
  allowed_curves:
    description: Curves allowed for EC and OKP keys.
    type: list
    elements: str
    default: [P-256, P-384, P-521, Ed25519, Ed448]
  state_file:
    description:
      - JSON file keeping the key-set fingerprint per source between runs. Empty disables change detection.
      - Not written in check mode. Locked from read to save (C(<state_file>.lock)) and written atomically, so
        overlapping runs never lose each other's sources.
      - With a PostgreSQL DSN (O(state_dsn)) the fingerprints live in the C(autopilotcx_state) table instead (row
        named after this file's base name), so they outlive the job's container under AWX.
    type: str
    default: ~/.ansible/autopilotcx-jwks-state.json
  state_dsn:
    description:
      - libpq DSN of the PostgreSQL database keeping the fingerprints (table C(autopilotcx_state)).
      - Unset - the outcome store's DSN (E(AUTOPILOTCX_OUTCOME_DSN), else the C(ansible.cfg) C([autopilotcx_outcomes]
        pg_dsn)); when there is none, O(state_file). An empty string keeps them in O(state_file).
    type: str
  token:
    description: A sample JWT to verify. Never logged or returned.
    type: str
  token_name:
    description: Name of the sample token shown as the check target (never the token itself).
    type: str
    default: ""
  issuer:
    description: Expected C(iss) claim of the sample token.
    type: str
  audience:
    description: Accepted C(aud) values; the token must name at least one.
    type: list
    elements: str
    default: []
  leeway:
    description: Clock skew in seconds allowed for C(nbf) and C(exp).
    type: int
    default: 60
  require_exp:
    description: A token without C(exp) is a warning.
    type: bool
    default: true
  expiry_threshold:
    description:
      - Name of the threshold in O(thresholds) the sample token's time to expiry is held against; its unit (C(days), C(h),
        C(min), C(s)) is the unit of the value.
      - C(token_days_to_expiry) suits long-lived service tokens, C(token_hours_to_expiry) short-lived access tokens.
    type: str
    default: token_days_to_expiry
attributes:
  check_mode:
    support: full
    details: Every check runs; the fingerprint state file is not written.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - PyJWT >= 2.8 with cryptography on the host running the task (see docs/support-matrix.md)
notes:
  - "Thresholds read: C(jwks_rsa_key_bits), and the one named by O(expiry_threshold)."
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.notify
  - name: RFC 7638 JWK thumbprint
    description: How the key-set fingerprint is computed.
    link: https://www.rfc-editor.org/rfc/rfc7638
'''

EXAMPLES = r'''
---
- name: Check the identity provider's keys and a monitoring token
  autopilotcx.maintenance.token_check:
    jwks_url: https://idp.example.com/.well-known/jwks.json
    token: "{{ vault_monitoring_token }}"
    token_name: monitoring service token
    issuer: https://idp.example.com/
    audience: [api.example.com]
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
  delegate_to: localhost
  register: tokens

- name: Fail on a critical finding
  ansible.builtin.assert:
    that: tokens.status != 'critical'
    fail_msg: "{{ tokens.failed_checks | join(', ') }}"
'''

RETURN = r'''
jwks:
  description: The key-set fingerprint and the facts of every usable key (never key material).
  returned: when the JWKS was loaded
  type: dict
  sample: {fingerprint: 3b1f..., keys: [{kid: k1, kty: RSA, alg: RS256, bits: 2048, thumbprint: NzbL...}]}
changed_keys:
  description: Previous and current fingerprint when the key set changed (or was seen for the first time).
  returned: always
  type: dict
  sample: {previous: 9a0c..., current: 3b1f...}
checks:
  description:
    - "C(jwks.reachable), C(jwks.keys), C(jwks.secret_material), C(jwks.key_size), C(jwks.algorithms), C(jwks.kids),
      C(jwks.fingerprint), C(jwks.rotation); with a sample token C(token.format), C(token.signature), C(token.claims),
      C(token.not_before), C(token.expiry)."
  returned: always
  type: list
  elements: dict
  sample: [{name: token.expiry, status: warning, value: 3.5, unit: days, threshold: 7, priority: medium,
            reason: "time to expiry 3.5 days < 7 days", target: sample token (monitoring)}]
status:
  description: The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);
    C(ok) when there is no check.
  returned: always
  type: str
  sample: ok
counts:
  description: Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.
  returned: always
  type: dict
  sample: {ok: 9, warning: 0, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import (
    check_argument_spec,
    finish,
    run,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import token_check


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            jwks_url=dict(type='str'),
            jwks_path=dict(type='path'),
            headers=dict(type='dict', no_log=True),
            validate_certs=dict(type='bool', default=True),
            ca_path=dict(type='path'),
            timeout=dict(type='float', default=10),
            allowed_algorithms=dict(type='list', elements='str', default=list(token_check.DEFAULT_ALGORITHMS)),
            allowed_curves=dict(type='list', elements='str', default=list(token_check.DEFAULT_CURVES)),
            state_file=dict(type='str', default='~/.ansible/autopilotcx-jwks-state.json'),
            state_dsn=dict(type='str', no_log=True),
            token=dict(type='str', no_log=True),
            token_name=dict(type='str', default=''),
            issuer=dict(type='str'),
            audience=dict(type='list', elements='str', default=[]),
            leeway=dict(type='int', default=60),
            require_exp=dict(type='bool', default=True),
            expiry_threshold=dict(type='str', default='token_days_to_expiry'),
        ),
        mutually_exclusive=[('jwks_url', 'jwks_path')],
        required_one_of=[('jwks_url', 'jwks_path', 'token')],
        supports_check_mode=True,
    )
    module.no_log_values.update(token_check.secrets(module.params))
    deps.require(module, 'jwt', 'cryptography')
    report = run(module, token_check.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
