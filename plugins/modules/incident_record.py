#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: incident_record
short_description: Write an incident record with its timeline and record the incident in the outcome store
version_added: 0.1.0
description:
  - Writes a JSON incident record (id, kind, title, status, priority, summary, affected hosts and services, actions
    taken, evidence, timeline) to O(path), atomically.
  - Returns the check C(incident.<kind>) (C(incident.security) or C(incident.outage)) whose status is the incident's
    status; the C(autopilotcx.maintenance.outcomes) callback stores it, and the weekly review lists every
    C(incident.*) check.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  incident_id:
    description: Incident identifier (letters, digits, dots, dashes, underscores).
    type: str
    required: true
  kind:
    description: Kind of incident; names the check.
    type: str
    choices: [security, outage]
    required: true
  title:
    description: One-line title.
    type: str
    required: true
  status:
    description:
      - Status of the incident in the result model. C(critical) while it is open and unresolved, C(warning) when
        contained or degraded, C(ok) when resolved and verified.
    type: str
    choices: [ok, warning, critical, unknown]
    default: critical
  priority:
    description: Priority of the incident.
    type: str
    choices: [low, medium, high]
    default: high
  summary:
    description: What happened and where things stand.
    type: str
    default: ""
  affected:
    description: Affected hosts/services, free-form entries.
    type: list
    elements: raw
    default: []
  actions:
    description: Actions taken.
    type: list
    elements: raw
    default: []
  evidence:
    description: Evidence preserved (archive names and hashes).
    type: list
    elements: raw
    default: []
  timeline:
    description: Events, each a text or a dict with C(event) and optional C(at) (ISO 8601 UTC) and other keys.
    type: list
    elements: raw
    default: []
  details:
    description: Anything else worth keeping.
    type: dict
    default: {}
  path:
    description: Where the record is written; nothing is written when omitted.
    type: path
attributes:
  check_mode:
    support: full
    details: Returns the record and says whether the file would change; writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
'''

EXAMPLES = r'''
---
- name: Record the outage
  autopilotcx.maintenance.incident_record:
    incident_id: OUT-2026-11-24-1
    kind: outage
    title: API down on app1
    status: ok
    summary: nginx restarted, health checks pass again
    timeline:
      - {at: "2026-11-24T06:00:00Z", event: health checks failed}
      - {at: "2026-11-24T06:04:00Z", event: nginx restarted}
    path: /var/lib/autopilotcx/incidents/OUT-2026-11-24-1.json
  delegate_to: localhost
  register: incident

- name: The incident is resolved
  ansible.builtin.assert:
    that: incident.checks[0].status == 'ok'
'''

RETURN = r'''
record:
  description: The incident record as written.
  returned: always
  type: dict
  sample: {incident_id: OUT-2026-11-24-1, kind: outage, status: ok, timeline: [{at: "2026-11-24T06:00:00Z", event: health checks failed}]}
path:
  description: Where the record was written.
  returned: when O(path) is given
  type: str
  sample: /var/lib/autopilotcx/incidents/OUT-2026-11-24-1.json
checks:
  description: The C(incident.<kind>) check.
  returned: always
  type: list
  elements: dict
  sample: [{name: incident.outage, status: ok, value: OUT-2026-11-24-1, priority: high, reason: "outage incident ..."}]
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
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import incident_record


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            incident_id=dict(type='str', required=True),
            kind=dict(type='str', required=True, choices=list(incident_record.KINDS)),
            title=dict(type='str', required=True),
            status=dict(type='str', default='critical', choices=['ok', 'warning', 'critical', 'unknown']),
            priority=dict(type='str', default='high', choices=['low', 'medium', 'high']),
            summary=dict(type='str', default=''),
            affected=dict(type='list', elements='raw', default=[]),
            actions=dict(type='list', elements='raw', default=[]),
            evidence=dict(type='list', elements='raw', default=[]),
            timeline=dict(type='list', elements='raw', default=[]),
            details=dict(type='dict', default={}),
            path=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    report = run(module, incident_record.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
