#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: nft_block
short_description: Block suspicious addresses in an nftables set with a timeout, never the management network
version_added: 0.1.0
description:
  - Adds addresses or networks to the timeout sets C(blocked_v4)/C(blocked_v6) of the table C(inet autopilotcx_block),
    whose chains drop traffic from and to them. Each entry expires after O(timeout) seconds (like a fail2ban ban).
  - Refuses, and reports in RV(refused) with the reason, any address inside the management networks, the allow-list
    or the control node address, loopback, link-local or multicast addresses, any network wider than a C(/8)
    (C(0.0.0.0/0), C(0.0.0.0/1) ...), and anything that is not an address. A refusal makes the C(incident.blocked_ips) check a warning so the responder sees it.
  - Feed it the C(suspicious_ips) list of the C(autopilotcx.maintenance.log_scan) module, or addresses a responder
    names. Overlapping entries are merged; addresses already covered by a blocked network are not added again.
  - O(state=absent) removes the given addresses, or the whole block table when O(addresses) is empty.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  addresses:
    description: Addresses or CIDR networks to block (or unblock). Entries may be dicts with an C(ip) key.
    type: list
    elements: raw
    default: []
  state:
    description: C(present) blocks, C(absent) unblocks.
    type: str
    choices: [present, absent]
    default: present
  timeout:
    description: Seconds each new entry stays blocked.
    type: int
    default: 86400
  management_networks:
    description:
      - Networks that are never blocked. Required with O(state=present).
      - One wider than a C(/8) (C(0.0.0.0/0), C(::/0) ...) is refused, it would protect everything.
    type: list
    elements: str
    default: []
  allow:
    description: Further addresses or networks that are never blocked (partners, monitoring, the office).
    type: list
    elements: str
    default: []
  control_node:
    description: Address of the control node; never blocked.
    type: str
  command_prefix:
    description: Words put before every C(nft) command, for example C([ip, netns, exec, ns1]).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    details: Validates the ruleset with C(nft -c) and returns it in RV(ruleset) without loading it.
  diff_mode:
    support: none
  platform:
    platforms: linux
notes:
  - Needs nftables and root (CAP_NET_ADMIN).
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.nft_isolation
'''

EXAMPLES = r'''
---
- name: Block what the log scan found, for a day
  autopilotcx.maintenance.nft_block:
    addresses: "{{ scan.suspicious_ips }}"
    management_networks: [10.20.0.0/24]
    allow: [198.51.100.0/24]
    timeout: 86400
  become: true
  register: blocked

- name: Nothing protected was blocked
  ansible.builtin.assert:
    that: blocked.refused | length == 0
    fail_msg: "{{ blocked.refused }}"
'''

RETURN = r'''
blocked:
  description: Networks added to the block sets by this run.
  returned: always
  type: list
  elements: str
  sample: [203.0.113.7/32]
already_blocked:
  description: Requested networks already covered by the block sets.
  returned: when O(state=present)
  type: list
  elements: str
  sample: []
refused:
  description: Addresses not blocked, each with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{address: 10.20.0.9/32, reason: overlaps the management network 10.20.0.0/24}]
unblocked:
  description: Networks removed by O(state=absent).
  returned: when O(state=absent)
  type: list
  elements: str
  sample: [203.0.113.7/32]
ruleset:
  description: The nftables text loaded (or validated only, in check mode).
  returned: when O(state=present)
  type: str
  sample: "add element inet autopilotcx_block blocked_v4 { 203.0.113.7/32 timeout 86400s }"
commands:
  description: The commands run.
  returned: always
  type: list
  elements: str
  sample: [nft -j list set inet autopilotcx_block blocked_v4]
checks:
  description: The C(incident.blocked_ips) check; value is the number of networks blocked now.
  returned: always
  type: list
  elements: dict
  sample: [{name: incident.blocked_ips, status: ok, value: 1, priority: high, reason: "1 blocked for 86400 s"}]
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
  sample: {ok: 1, warning: 0, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import (
    check_argument_spec,
    finish,
    run,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import nft_block


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            addresses=dict(type='list', elements='raw', default=[]),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            timeout=dict(type='int', default=86400),
            management_networks=dict(type='list', elements='str', default=[]),
            allow=dict(type='list', elements='str', default=[]),
            control_node=dict(type='str'),
            command_prefix=dict(type='list', elements='str', default=[]),
        ),
        required_if=[('state', 'present', ['management_networks'])],
        supports_check_mode=True,
    )
    report = run(module, nft_block.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
