#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: config_drift
short_description: Configuration drift against an approved baseline, with documented acceptance of changes
version_added: 0.1.0
description:
  - Records a baseline of settings once and reports every change since, one check per category (C(drift.files),
    C(drift.postgres), C(drift.packages), C(drift.services)); every change is in RV(drift) and, for files, a unified
    diff is in C(drift[].diff) (and in C(--diff) output).
  - "Files (O(files), globs allowed): SHA-256 and the content (values of secret-looking keys such as C(db_password)
    redacted, never stored or shown), with a parsed view for C(sshd_config) (first value wins, as in sshd), nginx
    (directives flattened by block) and sysctl, so a change reads C(passwordauthentication no -> yes)."
  - "PostgreSQL (category C(postgres), with the connection options): C(pg_settings) except client and session values;
    a setting waiting for a restart (C(pending_restart)) is a warning on every run."
  - "Packages: installed versions from the dpkg status file. Services: units enabled in C(/etc/systemd/system/*.wants)
    and masked units."
  - "O(state=accepted) takes the current value of the drifted items (all, or those in O(accept)) into the baseline and
    records who (O(accepted_by)) accepted which change and why (O(reason)) in the baseline's history and as the
    C(drift.accepted) check, which the outcome callback records like any other check."
  - It never modifies the audited system. The only file it writes is O(baseline_file) (locked from read to write,
    written atomically, never in check mode), when it is created, extended by a new category, or on acceptance.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
  - autopilotcx.maintenance.postgres
options:
  state:
    description: C(present) reports drift; C(accepted) accepts it into the baseline (needs O(accepted_by) and O(reason)).
    type: str
    choices: [present, accepted]
    default: present
  categories:
    description: Categories to compare. C(postgres) connects with the PostgreSQL connection options.
    type: list
    elements: str
    choices: [files, postgres, packages, services]
    default: [files, packages, services]
  root:
    description: Path prefix of the audited system (a chroot or debootstrap root); C(/) is the host itself.
    type: path
    default: /
  files:
    description:
      - Files to watch, as paths on the audited system (globs allowed), or mappings with C(path) and C(parser)
        (C(auto), C(sshd), C(nginx), C(sysctl), C(none)); C(auto) picks by name.
    type: list
    elements: raw
    default: [/etc/ssh/sshd_config, /etc/ssh/sshd_config.d/*.conf, /etc/sysctl.conf, /etc/sysctl.d/*.conf,
              /etc/nginx/nginx.conf, /etc/nginx/conf.d/*.conf, /etc/nginx/sites-enabled/*]
  max_file_bytes:
    description: Files larger than this are compared by hash only (no diff, no parsed view).
    type: int
    default: 262144
  baseline_file:
    description: The approved baseline (JSON) on the audited host.
    type: path
    default: /var/lib/autopilotcx/config-baseline.json
  accepted_by:
    description: Who accepts the change (with O(state=accepted)); recorded in the baseline and the C(drift.accepted) check.
    type: str
  reason:
    description: Why the change is accepted (a change ticket, a sentence); recorded with O(accepted_by).
    type: str
  accept:
    description: Items to accept (C(/etc/ssh/sshd_config), C(file:/etc/ssh/sshd_config), C(pg:work_mem), C(package:nginx));
      unset accepts every drifted item.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    details: Everything is compared (and what an acceptance would record is returned); the baseline is not written.
  diff_mode:
    support: full
    details: File changes are returned as unified diffs.
  platform:
    platforms: linux
notes:
  - "Reading some configuration files needs root (C(become: true)); an unreadable file is an C(unknown) finding."
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.access_review
  - module: autopilotcx.maintenance.security_scan
'''

EXAMPLES = r'''
---
- name: Weekly configuration review
  autopilotcx.maintenance.config_drift:
    files: [/etc/ssh/sshd_config, /etc/sysctl.d/*.conf, /etc/nginx/nginx.conf, /opt/app/config/*.yml]
    fail_on: never
  become: true
  register: drift

- name: Accept the sshd change of ticket CHG-1234
  autopilotcx.maintenance.config_drift:
    state: accepted
    accept: [/etc/ssh/sshd_config]
    accepted_by: alice
    reason: "CHG-1234: password logins during the migration, until 2027-01-31"
  become: true
'''

RETURN = r'''
drift:
  description: Every difference from the baseline (before an acceptance, what is accepted is included).
  returned: always
  type: list
  elements: dict
  sample: [{key: "file:/etc/ssh/sshd_config", change: changed, before: "9f2c...", after: "1ab4...",
            summary: "file /etc/ssh/sshd_config changed: passwordauthentication no -> yes",
            diff: "--- baseline/etc/ssh/sshd_config\n+++ current/etc/ssh/sshd_config\n..."}]
accepted:
  description: The changes accepted into the baseline by this run (with O(state=accepted)).
  returned: always
  type: list
  elements: dict
  sample: []
findings:
  description: Every finding of every category.
  returned: always
  type: list
  elements: dict
  sample: []
baseline:
  description: The baseline file and what happened to it (C(none), C(created), C(updated)); in check mode what would happen.
  returned: always
  type: dict
  sample: {path: /var/lib/autopilotcx/config-baseline.json, action: none}
checks:
  description: One check per category, and C(drift.accepted) with O(state=accepted) (C(details.accepted_by), C(details.reason), C(details.changes)).
  returned: always
  type: list
  elements: dict
  sample: [{name: drift.files, status: warning, value: 1, unit: findings, threshold: null, priority: medium,
            reason: "1 finding(s): file /etc/ssh/sshd_config changed: passwordauthentication no -> yes since the approved baseline of 2026-11-02T07:00:00Z",
            target: /}]
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
  sample: ["drift.files (/)"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import check_argument_spec, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import postgres_argument_spec
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security import config_drift


DEFAULT_FILES = ['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d/*.conf', '/etc/sysctl.conf', '/etc/sysctl.d/*.conf',
                 '/etc/nginx/nginx.conf', '/etc/nginx/conf.d/*.conf', '/etc/nginx/sites-enabled/*']


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(**postgres_argument_spec(
            state=dict(type='str', choices=['present', 'accepted'], default='present'),
            categories=dict(type='list', elements='str', choices=list(config_drift.CATEGORIES), default=list(config_drift.DEFAULT_CATEGORIES)),
            root=dict(type='path', default='/'),
            files=dict(type='list', elements='raw', default=DEFAULT_FILES),
            max_file_bytes=dict(type='int', default=262144),
            baseline_file=dict(type='path', default=config_drift.DEFAULT_BASELINE),
            accepted_by=dict(type='str'),
            reason=dict(type='str'),
            accept=dict(type='list', elements='str'),
        )),
        supports_check_mode=True,
    )
    report = run(module, config_drift.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
