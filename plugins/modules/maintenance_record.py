#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: maintenance_record
short_description: Record an event (approval, verification, configuration change) in the outcome log
version_added: 0.1.0
description:
  - Returns the event as one check of the collection's result model with its O(details), so the
    C(autopilotcx.maintenance.outcomes) callback stores it in the outcome log (and the PostgreSQL sink) like any check.
  - Optionally also writes the record as a JSON file (atomically; not in check mode).
  - Used by the patch rollout (C(patch.staging_verified), the evidence the promotion gate looks for), the
    C(emergency_approval) role (incident records) and the dependency-update role (configuration diffs).
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  name:
    description: Check name of the event, for example C(emergency.approval).
    type: str
    required: true
  status:
    description: Status of the check.
    type: str
    choices: [ok, warning, critical, unknown]
    default: ok
  reason:
    description: One line saying what happened.
    type: str
    default: ''
  details:
    description: Data kept with the event (JSON-serialisable).
    type: dict
    default: {}
  target:
    description: What the event concerns (host, change reference ...).
    type: str
  priority:
    description: Priority of the check.
    type: str
    choices: [low, medium, high]
    default: low
  path:
    description: Also write the record to this JSON file (directories are created).
    type: path
attributes:
  check_mode:
    support: full
    details: The record is returned; the file is not written.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.outcome_query
'''

EXAMPLES = r'''
---
- name: Record that staging verified this package set
  autopilotcx.maintenance.maintenance_record:
    name: patch.staging_verified
    reason: "health gate passed after patching"
    details:
      environment: staging
      package_set: "{{ patched.package_set }}"
  register: verified

- name: The record carries its timestamp
  ansible.builtin.assert:
    that: verified.record.details.recorded_at is defined
'''

RETURN = r'''
record:
  description: The event as a check (name, status, reason, details with C(recorded_at)).
  returned: always
  type: dict
  sample: {name: emergency.approval, status: ok, reason: "approved by alice", details: {recorded_at: "2026-11-24T05:00:00.000000Z"}}
path:
  description: The JSON file written, or null.
  returned: always
  type: str
  sample: /var/lib/autopilotcx/incidents/CHG-1234.json
checks:
  description: The record as the only check.
  returned: always
  type: list
  elements: dict
  sample: [{name: emergency.approval, status: ok}]
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
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import maintenance_record


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            name=dict(type='str', required=True),
            status=dict(type='str', default='ok', choices=['ok', 'warning', 'critical', 'unknown']),
            reason=dict(type='str', default=''),
            details=dict(type='dict', default={}),
            target=dict(type='str'),
            priority=dict(type='str', default='low', choices=['low', 'medium', 'high']),
            path=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    report = run(module, maintenance_record.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
