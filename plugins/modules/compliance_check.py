#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: compliance_check
short_description: Compliance view - check results mapped to the named controls of a profile, pass or fail per control
version_added: 0.1.0
description:
  - Holds the checks of other modules (O(results), for example the registered results of
    M(autopilotcx.maintenance.security_scan), M(autopilotcx.maintenance.access_review),
    M(autopilotcx.maintenance.config_drift) and M(autopilotcx.maintenance.firewall_review)) against the controls of
    O(profile) and returns one check per control (C(compliance.<id>)) and C(compliance.summary) (the share of
    assessed controls that pass).
  - "A control passes when evidence exists and nothing in it fails; it fails (at its C(severity)) when a matching check
    is at warning or critical, or, with C(finding), when a warning or critical finding of a matching check matches the
    expression; it is C(unknown) when the evidence could not be measured, and C(not assessed) (also C(unknown)) when no
    result is evidence for it. A control never passes for want of evidence."
  - It reads nothing but its options and changes nothing; it runs where the results are (normally the control node).
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
  - autopilotcx.maintenance.checks
options:
  profile:
    description:
      - "The profile (data): C(name) and C(controls), each with C(id), C(title), C(checks) (check name patterns, fnmatch),
        optional C(finding) (a regular expression on the findings' reasons and subjects), C(severity) (C(critical) or
        C(warning)) and C(section). The C(autopilotcx.maintenance.security_audit) role ships a small CIS-style Debian
        profile as C(security_audit_compliance_profile)."
    type: dict
    required: true
  results:
    description: Module results (with C(checks)), lists of checks, or checks.
    type: list
    elements: raw
    required: true
attributes:
  platform:
    platforms: all
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.access_review
  - module: autopilotcx.maintenance.config_drift
  - module: autopilotcx.maintenance.firewall_review
'''

EXAMPLES = r'''
---
- name: Compliance view of this month's audit
  autopilotcx.maintenance.compliance_check:
    profile: "{{ security_audit_compliance_profile }}"
    results: ["{{ scan }}", "{{ access }}", "{{ drift }}", "{{ firewall }}"]
    fail_on: never
  delegate_to: localhost
  register: compliance

- name: Show the failed controls
  ansible.builtin.debug:
    msg: "{{ compliance.controls | selectattr('result', 'equalto', 'fail') | map(attribute='id') | list }}"
'''

RETURN = r'''
controls:
  description: One entry per control with C(id), C(title), C(section), C(result) (C(pass), C(fail), C(unknown), C(not_assessed)), C(reason), C(evidence).
  returned: always
  type: list
  elements: dict
  sample: [{id: "5.4.1", title: Sudo rights only for approved accounts, section: Access, result: fail,
            reason: "access.sudo: unapproved sudoer bob (direct at /etc/sudoers.d/oncall:1)", evidence: [access.sudo]}]
compliance:
  description: Number of controls per result.
  returned: always
  type: dict
  sample: {pass: 10, fail: 2, unknown: 0, not_assessed: 1}
score:
  description: Percentage of the assessed controls that pass (null when none was assessed).
  returned: always
  type: float
  sample: 83.3
profile:
  description: The profile's name.
  returned: always
  type: str
  sample: cis-debian-small
checks:
  description: C(compliance.<id>) per control and C(compliance.summary).
  returned: always
  type: list
  elements: dict
  sample: [{name: compliance.summary, status: critical, value: 83.3, unit: "%", threshold: null, priority: high,
            reason: "cis-debian-small: 10 of 13 control(s) pass, 2 fail, 0 unknown, 1 not assessed", target: cis-debian-small}]
status:
  description: The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);
    C(ok) when there is no check.
  returned: always
  type: str
  sample: critical
counts:
  description: Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.
  returned: always
  type: dict
  sample: {ok: 11, warning: 0, critical: 2, unknown: 1}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: ["compliance.5.4.1 (cis-debian-small)", "compliance.summary (cis-debian-small)"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import check_argument_spec, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security import compliance_check


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            profile=dict(type='dict', required=True),
            results=dict(type='list', elements='raw', required=True),
        ),
        supports_check_mode=True,
    )
    report = run(module, compliance_check.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
