#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: dependency_audit
short_description: Audit application dependencies with pip-audit and npm audit
version_added: 0.1.0
description:
  - Runs C(pip-audit -f json) and C(npm audit --json) where they are installed on the host and judges the number of
    known vulnerabilities against the C(dependency_vulnerabilities) and C(dependency_vulnerabilities_high) thresholds.
  - Both tools exit 1 when they find something; what counts is their JSON. Output that is not the tool's JSON (no
    network, a broken project) is a C(critical) check with the tail of what the tool said.
  - A C(dependency.tools) check says which of the two tools is installed, so a host without them is visible.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
  - autopilotcx.maintenance.checks
options:
  pip_audit:
    description: Run pip-audit when it is installed.
    type: bool
    default: true
  pip_audit_args:
    description: Extra arguments to pip-audit, for example C([-r, /srv/app/requirements.txt]); none audits the environment pip-audit runs in.
    type: list
    elements: str
    default: []
  npm_projects:
    description: Directories with a C(package-lock.json) to run C(npm audit --json) in (when npm is installed).
    type: list
    elements: path
    default: []
  target:
    description: What the pip-audit and tools checks name as their target; defaults to the host's name.
    type: str
attributes:
  platform:
    platforms: posix
notes:
  - Thresholds read are C(dependency_vulnerabilities) and C(dependency_vulnerabilities_high).
author:
  - AutopilotCX operations engineering (@autopilotcx)
'''

EXAMPLES = r'''
---
- name: Audit the application's dependencies
  autopilotcx.maintenance.dependency_audit:
    pip_audit_args: [-r, /srv/app/requirements.txt]
    npm_projects: [/srv/app/web]
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
  register: audit

- name: Nothing high or critical
  ansible.builtin.assert:
    that: audit.checks | selectattr('name', 'equalto', 'dependency.npm_audit_high') | selectattr('status', 'equalto', 'critical') | list | length == 0
'''

RETURN = r'''
checks:
  description: One entry per audit (and one for the tools found), in the collection's result model.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Check name., type: str, returned: always, sample: dependency.pip_audit}
    status: {description: "C(ok), C(warning), C(critical) or C(unknown).", type: str, returned: always, sample: warning}
    value: {description: Number of known vulnerabilities., type: raw, returned: always, sample: 2}
    unit: {description: Unit of the value., type: str, returned: always, sample: ""}
    threshold: {description: The limit the value was held against., type: raw, returned: always, sample: 0}
    priority: {description: "C(low), C(medium) or C(high).", type: str, returned: always, sample: medium}
    reason: {description: One line saying why., type: str, returned: always, sample: "known vulnerabilities (pip-audit) 2 > 0"}
    target: {description: The host or the npm project., type: str, returned: always, sample: /srv/app/web}
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
  sample: {ok: 2, warning: 1, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: ["dependency.pip_audit (app1)"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import ModuleHost, check_argument_spec, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security import dependency_audit


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            pip_audit=dict(type='bool', default=True),
            pip_audit_args=dict(type='list', elements='str', default=[]),
            npm_projects=dict(type='list', elements='path', default=[]),
            target=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    report = run(module, dependency_audit.run, module.params, module.check_mode, host=ModuleHost(module))
    finish(module, report)


if __name__ == '__main__':
    main()
