#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: firewall_review
short_description: Review the live nftables ruleset against an inbound policy kept as data
version_added: 0.1.0
description:
  - Reads the ruleset with C(nft -j list ruleset) and holds every inbound accept against O(policy); returns the checks
    C(firewall.rules) and C(firewall.default_drop) (or C(firewall.ruleset) at C(unknown) when nft cannot be read).
  - "Reviewed: the base chains on the C(input) hook (families inet, ip, ip6) and the regular chains of their tables.
    The collection's own incident tables (C(autopilotcx_isolation), C(autopilotcx_block)) are left out and listed in
    RV(ignored_tables)."
  - "Critical: an any-any accept (no match, or only a protocol), an accept of a port not in the policy, an accept whose
    sources are wider than the policy's for that port, an accept of every port from some source, and an input chain
    with policy accept that does not end in an unconditional drop or reject (missing default drop; a warning when
    C(require_default_drop) is false). Loopback, C(ct state established,related) and ICMP (when C(allow_icmp)) accepts
    are expected; any other accept the review cannot read is a warning naming the rule."
  - It never changes the ruleset (C(nft list) only); check mode and a normal run do the same.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
  - autopilotcx.maintenance.checks
options:
  policy:
    description:
      - "The inbound policy (inventory data, normally C(firewall_review_policy)): C(allow), a list of mappings with
        C(port) (a port or C(low-high)), C(proto) (C(tcp), C(udp), C(sctp); default C(tcp)), C(sources) (networks;
        default any) and C(name); C(allow_icmp) (default true); C(require_default_drop) (default true)."
    type: dict
    required: true
  nft_command:
    description: The nft command (a list), for example C([ip, netns, exec, NS, nft]) for a network namespace.
    type: list
    elements: str
    default: [nft]
  ruleset_json:
    description: Captured C(nft -j list ruleset) output to judge instead of running O(nft_command).
    type: str
attributes:
  platform:
    platforms: linux
notes:
  - "Listing the ruleset needs root (C(become: true)); without it the result is C(firewall.ruleset) C(unknown) with nft's message."
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.nft_block
  - module: autopilotcx.maintenance.nft_isolation
'''

EXAMPLES = r'''
---
- name: Monthly firewall rules review
  autopilotcx.maintenance.firewall_review:
    policy:
      allow:
        - {name: ssh, port: 22, sources: [192.0.2.0/24]}
        - {name: https, port: 443}
    fail_on: never
  become: true
  register: firewall

- name: No any-any accept, a default drop
  ansible.builtin.assert:
    that: firewall.status == 'ok'
    fail_msg: "{{ firewall.findings | map(attribute='reason') | list }}"
'''

RETURN = r'''
findings:
  description: Every finding.
  returned: always
  type: list
  elements: dict
  sample: [{severity: critical, category: rules, subject: inet filter input handle 9,
            reason: "any-any accept: inet filter input handle 9 accepts any protocol from any source"}]
ignored_tables:
  description: The collection's incident tables present and left out of the review.
  returned: always
  type: list
  elements: str
  sample: [inet autopilotcx_block]
rules_reviewed:
  description: Number of rules read.
  returned: always
  type: int
  sample: 7
checks:
  description: C(firewall.rules) and C(firewall.default_drop); C(details.findings) holds their findings.
  returned: always
  type: list
  elements: dict
  sample: [{name: firewall.default_drop, status: ok, value: 0, unit: findings, threshold: null, priority: low,
            reason: "every input chain drops what it does not accept (inet filter input)", target: nft -j list ruleset}]
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
  sample: {ok: 2, warning: 0, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import check_argument_spec, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security import firewall_review


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            policy=dict(type='dict', required=True),
            nft_command=dict(type='list', elements='str', default=['nft']),
            ruleset_json=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    report = run(module, firewall_review.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
