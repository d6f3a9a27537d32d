#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: logrotate_check
short_description: Check logrotate's configuration, state and logs; optionally let logrotate rotate
version_added: 0.1.0
description:
  - Does not re-implement logrotate. Runs C(logrotate -d) (debug mode, which rotates nothing) with O(config) and
    O(state_file) to validate the configuration and learn, per log, whether logrotate considers it due.
  - Reads the state file for the last rotation of each log and reports due logs that have gone unrotated for long
    (threshold C(log_rotation_age)), the largest log (threshold C(log_file_size)), logs matched by O(watch) that no
    logrotate rule covers, and configured logs that are missing without C(missingok).
  - With O(rotate=due) runs C(logrotate) itself; with O(rotate=force) runs C(logrotate -f). The checks then describe the
    state after the rotation. In check mode logrotate is only run with C(-d).
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  config:
    description: logrotate configuration file.
    type: path
    default: /etc/logrotate.conf
  state_file:
    description: logrotate state file (the distribution's default on Debian is shown).
    type: path
    default: /var/lib/logrotate/status
  watch:
    description: Glob patterns of logs that must be covered by a logrotate rule (checked for size too).
    type: list
    elements: str
    default: []
  rotate:
    description: C(never) only checks; C(due) runs logrotate (rotates what is due); C(force) runs C(logrotate -f).
    type: str
    choices: [never, due, force]
    default: never
  binary:
    description: Path of the logrotate program; found on C(PATH) or in C(/usr/sbin) when unset.
    type: path
  timeout:
    description: Seconds each logrotate run may take.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    details: Only C(logrotate -d) runs; no rotation.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
requirements:
  - logrotate (the Debian/RHEL package) on the target
notes:
  - "Thresholds read: C(log_rotation_age) (days a due log has gone unrotated), C(log_file_size) (MB of the largest log)."
seealso:
  - module: autopilotcx.maintenance.file_cleanup
'''

EXAMPLES = r'''
---
- name: Check log rotation; application logs must be covered
  autopilotcx.maintenance.logrotate_check:
    watch: [/var/log/app/*.log]
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
  register: logs

- name: No configuration errors
  ansible.builtin.assert:
    that: logs.config_errors | length == 0
    fail_msg: "{{ logs.config_errors | join('; ') }}"
'''

RETURN = r'''
logs:
  description: Per log whether it is managed by a rule, due, missing, its size and last rotation.
  returned: always
  type: list
  elements: dict
  sample: [{path: /var/log/app/app.log, managed: true, due: false, missing: false, bytes: 10240,
            last_rotated: "2026-11-23T00:00:00", days_since_rotation: 1.2}]
config_errors:
  description: Configuration errors reported by C(logrotate -d).
  returned: always
  type: list
  elements: str
  sample: ["/etc/logrotate.d/app:3 unknown option 'dailyy' -- ignoring line"]
errors:
  description: Other errors reported by C(logrotate -d) (missing logs, state problems).
  returned: always
  type: list
  elements: str
  sample: []
unmanaged:
  description: Logs matched by O(watch) that no logrotate rule covers.
  returned: always
  type: list
  elements: str
  sample: [/var/log/app/debug.log]
rotated:
  description: Whether logrotate rotated (O(rotate) other than C(never), outside check mode).
  returned: always
  type: bool
  sample: false
commands:
  description: The logrotate command lines run.
  returned: always
  type: list
  elements: str
  sample: ["/usr/sbin/logrotate -d -s /var/lib/logrotate/status /etc/logrotate.conf"]
checks:
  description:
    - The checks (C(logrotate.config), C(logrotate.state), C(logrotate.unrotated), C(logrotate.log_size),
      C(logrotate.coverage), C(logrotate.rotation)).
  returned: always
  type: list
  elements: dict
  sample: [{name: logrotate.config, status: ok, value: 0, unit: errors, threshold: null, priority: low,
            reason: "logrotate -d read the configuration without errors (12 log(s))"}]
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
  sample: {ok: 5, warning: 0, critical: 0, unknown: 0}
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
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import logrotate_check


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            config=dict(type='path', default='/etc/logrotate.conf'),
            state_file=dict(type='path', default='/var/lib/logrotate/status'),
            watch=dict(type='list', elements='str', default=[]),
            rotate=dict(type='str', default='never', choices=['never', 'due', 'force']),
            binary=dict(type='path'), timeout=dict(type='int', default=120),
        ),
        supports_check_mode=True,
    )
    report = run(module, logrotate_check.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
