#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: nft_isolation
short_description: Isolate a host during a security incident, keeping the management network reachable
version_added: 0.1.0
description:
  - Loads a dedicated nftables table (C(inet autopilotcx_isolation)) whose input, output and forward chains drop every
    packet except loopback, the management network(s), the control node and O(allow). Traffic to and from those
    networks passes in both directions whatever its connection state, so open management SSH sessions survive.
  - The ruleset is validated with C(nft -c -f) before it is loaded, and replaces any earlier isolation atomically.
  - With O(timeout), a revert timer (a transient systemd timer, or a detached C(sleep) process where systemd does not
    run) is armed B(before) the rules are loaded and deletes the table when it fires; O(state=released) disarms it.
    An isolation mistake therefore cannot lock the responders out for good.
  - On hosts without C(nft), O(backend=auto) falls back to iptables/ip6tables chains C(AUTOPILOTCX_ISOL_IN) and
    C(AUTOPILOTCX_ISOL_OUT) jumped to first from INPUT, OUTPUT and FORWARD.
  - The module refuses to isolate without a management network, and refuses a management network, O(control_node) or
    O(allow) entry wider than a C(/8) (C(0.0.0.0/0), C(::/0), C(0.0.0.0/1) ...); keeping it reachable would isolate
    nothing. The refusal comes before any firewall command.
  - Returns the check C(incident.isolation) in the collection's result model.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  state:
    description: C(isolated) loads the isolation; C(released) removes it and disarms the revert timer.
    type: str
    choices: [isolated, released]
    default: isolated
  management_networks:
    description:
      - Networks (CIDR) or addresses that stay reachable. Required with O(state=isolated).
    type: list
    elements: str
    default: []
  control_node:
    description: Address of the control node; kept reachable too.
    type: str
  allow:
    description: Further networks or addresses to keep reachable (a jump host, the evidence store).
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds after which the isolation reverts by itself; C(0) keeps it until released.
    type: int
    default: 0
  backend:
    description: Firewall tool. C(auto) uses nftables when C(nft) is installed, else iptables.
    type: str
    choices: [auto, nftables, iptables]
    default: auto
  state_dir:
    description: Directory holding the revert timer's state (its process id or systemd unit).
    type: path
    default: /run/autopilotcx
  command_prefix:
    description:
      - Words put before every firewall command, for example C([ip, netns, exec, ns1]) to act inside a network
        namespace or C([nsenter, -t, 1234, -n]) for a container's network.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    details: Validates the ruleset with C(nft -c) and returns it in RV(ruleset) without loading it or arming a timer.
  diff_mode:
    support: none
  platform:
    platforms: linux
notes:
  - Needs root (CAP_NET_ADMIN); use C(become).
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.nft_block
  - module: autopilotcx.maintenance.evidence_collect
'''

EXAMPLES = r'''
---
- name: Isolate the host, reverting by itself after 2 hours
  autopilotcx.maintenance.nft_isolation:
    state: isolated
    management_networks: [10.20.0.0/24]
    control_node: 10.20.0.5
    timeout: 7200
  become: true
  register: isolation

- name: Show what was loaded
  ansible.builtin.assert:
    that: isolation.status == 'ok'
    success_msg: "{{ isolation.ruleset }}"

- name: Release it
  autopilotcx.maintenance.nft_isolation:
    state: released
  become: true
'''

RETURN = r'''
ruleset:
  description: The nftables ruleset (or iptables commands) loaded, or that would be loaded in check mode.
  returned: when O(state=isolated)
  type: str
  sample: "table inet autopilotcx_isolation { ... }"
backend:
  description: The firewall tool used.
  returned: always
  type: str
  sample: nftables
allow:
  description: The networks kept reachable.
  returned: when O(state=isolated)
  type: list
  elements: str
  sample: [10.20.0.0/24, 10.20.0.5/32]
timer:
  description: The armed revert timer (kind, pid or unit, due time as a UNIX timestamp).
  returned: when a timer was armed
  type: dict
  sample: {kind: process, pid: 4242, due: 1795000000.0, description: background process 4242}
commands:
  description: The commands run.
  returned: always
  type: list
  elements: str
  sample: [nft -c -f /tmp/autopilotcx-nft-x.nft, nft -f /tmp/autopilotcx-nft-x.nft]
checks:
  description: The C(incident.isolation) check.
  returned: always
  type: list
  elements: dict
  sample: [{name: incident.isolation, status: ok, value: isolated, priority: high, reason: "host isolated; ..."}]
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
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import nft_isolation


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            state=dict(type='str', default='isolated', choices=['isolated', 'released']),
            management_networks=dict(type='list', elements='str', default=[]),
            control_node=dict(type='str'),
            allow=dict(type='list', elements='str', default=[]),
            timeout=dict(type='int', default=0),
            backend=dict(type='str', default='auto', choices=['auto', 'nftables', 'iptables']),
            state_dir=dict(type='path', default='/run/autopilotcx'),
            command_prefix=dict(type='list', elements='str', default=[]),
        ),
        required_if=[('state', 'isolated', ['management_networks'])],
        supports_check_mode=True,
    )
    report = run(module, nft_isolation.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
