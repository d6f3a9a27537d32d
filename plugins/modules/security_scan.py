#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: security_scan
short_description: Daily host security scan - listeners, file permissions, SUID, sshd, accounts, file integrity, updates
version_added: 0.1.0
description:
  - Reads the host and reports findings, each with a severity, in one check per category
    (C(security.listeners), C(security.world_writable), C(security.suid_sgid), C(security.sshd), C(security.accounts),
    C(security.integrity), C(security.pending_updates)); every finding is also in RV(findings).
  - "Listening sockets: TCP sockets in LISTEN and unconnected UDP sockets from C(/proc/net/tcp), C(tcp6), C(udp), C(udp6)
    (with the owning process when readable), against O(listen_allow)."
  - "World-writable files (and world-writable directories without the sticky bit) and SUID/SGID binaries under
    O(scan_paths) only: symlinks are never followed, the walk stays on each path's filesystem, O(exclude_paths) are skipped.
    SUID/SGID binaries are held against O(suid_allow) and the baseline (a new one, or a changed hash, is a finding)."
  - "C(sshd -T) effective settings (the configuration after Match-less defaults and includes) against O(sshd_policy)."
  - "Accounts with UID 0 other than O(uid0_allow) and accounts with an empty password (C(/etc/passwd), C(/etc/shadow))."
  - "File integrity: SHA-256, mode and owner of O(integrity_paths) against the baseline, like AIDE or Tripwire;
    changes are reported on every run until accepted with O(accept_changes)."
  - "Pending security updates when patch facts are given (O(pending_security_updates)), against the
    C(security_pending_updates) threshold."
  - It never modifies the system. The only file it writes is O(baseline_file), when it does not exist yet or
    O(accept_changes) is set, and never in check mode.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  categories:
    description: Categories to run; a category without its input (O(scan_paths), O(integrity_paths), O(pending_security_updates)) is skipped.
    type: list
    elements: str
    choices: [listeners, world_writable, suid, sshd, accounts, integrity, updates]
    default: [listeners, world_writable, suid, sshd, accounts, integrity, updates]
  root:
    description:
      - Root of the system to read C(/etc/passwd), C(/etc/shadow), C(/proc/net/*), O(scan_paths) and O(integrity_paths)
        under; paths in findings are shown as on that system. For images, chroots and tests.
    type: path
    default: /
  listen_allow:
    description:
      - Allowed listeners, as C(tcp:22) (any address), C(tcp:127.0.0.1:5432), C(udp:[::1]:53), C(*:8080), or mappings
        with C(proto), C(address), C(port), C(process) (a prefix of the process name).
      - Unset - the listeners are reported without judgement.
      - An unexpected listener on a non-loopback address is critical, on loopback a warning.
    type: list
    elements: raw
  listen_ignore_loopback:
    description: Ignore listeners bound to loopback addresses.
    type: bool
    default: false
  scan_paths:
    description: Absolute paths walked for world-writable and SUID/SGID files (for example C(/usr), C(/etc), C(/opt/app)).
    type: list
    elements: path
    default: []
  exclude_paths:
    description: Absolute paths not walked.
    type: list
    elements: path
    default: []
  one_filesystem:
    description: Do not descend into other filesystems below a scan path.
    type: bool
    default: true
  world_writable_allow:
    description: World-writable paths that are expected.
    type: list
    elements: path
    default: []
  suid_allow:
    description:
      - SUID/SGID binaries that are expected. When set, every other SUID/SGID binary is a finding even on the first run;
        when unset, the first run trusts what it finds and records it in the baseline.
    type: list
    elements: path
  sshd_policy:
    description:
      - Expected C(sshd -T) settings (lower-case keys). A value is a string (compared case-insensitively), a list of
        acceptable strings, or C(<=N)/C(>=N) for numbers.
      - Defaults to PermitRootLogin no/prohibit-password, PasswordAuthentication no, PermitEmptyPasswords no,
        KbdInteractiveAuthentication no, HostbasedAuthentication no, IgnoreRhosts yes, X11Forwarding no, MaxAuthTries <=6.
    type: dict
  sshd_command:
    description: Command printing the effective sshd settings.
    type: list
    elements: str
    default: [sshd, -T]
  sshd_config:
    description: Configuration file passed to O(sshd_command) with C(-f).
    type: path
  sshd_output:
    description: Captured C(sshd -T) output to judge instead of running O(sshd_command).
    type: str
  uid0_allow:
    description: Accounts allowed to have UID 0.
    type: list
    elements: str
    default: [root]
  integrity_paths:
    description: Files (or directories, walked like O(scan_paths)) whose SHA-256, mode and owner are held against the baseline.
    type: list
    elements: path
    default: []
  integrity_max_files:
    description: Most files hashed in one run.
    type: int
    default: 20000
  baseline_file:
    description:
      - JSON file with the SUID/SGID set and the file hashes, on the scanned host. Created by the first run.
      - Empty disables the baseline (SUID/SGID binaries are then held against O(suid_allow) only).
    type: path
    default: /var/lib/autopilotcx/security-baseline.json
  accept_changes:
    description: Record the current state as the new baseline after reporting the differences.
    type: bool
    default: false
  pending_security_updates:
    description:
      - Pending security updates from patch facts (package names, or mappings with C(name) and C(security)).
        Unset skips the category.
    type: list
    elements: raw
attributes:
  check_mode:
    support: full
    details: Every category runs; the baseline file is not written.
  diff_mode:
    support: none
  platform:
    platforms: linux
notes:
  - "Thresholds read: C(security_pending_updates). The other categories carry the severity of their worst finding."
  - "Reading C(/etc/shadow), other users' C(/proc/<pid>/fd) and C(sshd -T) needs root (C(become: true)); without it the
    affected checks are C(unknown) with the reason."
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.notify
'''

EXAMPLES = r'''
---
- name: Daily security scan
  autopilotcx.maintenance.security_scan:
    listen_allow: [tcp:22, tcp:443, tcp:127.0.0.1:5432, udp:127.0.0.53:53]
    scan_paths: [/usr/bin, /usr/sbin, /usr/local, /etc, /opt/app]
    exclude_paths: [/opt/app/tmp]
    integrity_paths: [/etc/passwd, /etc/group, /etc/sudoers, /etc/ssh/sshd_config, /etc/sudoers.d]
    pending_security_updates: "{{ patch_facts.security_updates | default(omit) }}"
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
  become: true
  register: scan

- name: Show the findings
  ansible.builtin.assert:
    that: scan.status != 'critical'
    fail_msg: "{{ scan.findings | map(attribute='reason') | list }}"
'''

RETURN = r'''
findings:
  description: Every finding of every category.
  returned: always
  type: list
  elements: dict
  contains:
    severity: {description: "C(critical), C(warning) or C(unknown).", type: str, returned: always, sample: critical}
    category: {description: The category., type: str, returned: always, sample: suid}
    subject: {description: "Path, account, setting or socket.", type: str, returned: always, sample: /usr/local/bin/helper}
    reason:
      description: One line.
      type: str
      returned: always
      sample: "unexpected SUID binary /usr/local/bin/helper (mode 4755, uid 0) not in the baseline or allow-list"
  sample: []
baseline:
  description: The baseline file and what happened to it (C(none), C(created), C(extended), C(updated)); in check mode what would happen.
  returned: always
  type: dict
  sample: {path: /var/lib/autopilotcx/security-baseline.json, action: none}
checks:
  description: One check per category; C(details.findings) holds its findings.
  returned: always
  type: list
  elements: dict
  sample: [{name: security.sshd, status: critical, value: 1, unit: findings, threshold: null, priority: high,
            reason: "1 finding(s): sshd passwordauthentication is yes, policy wants no", target: sshd -T}]
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
  sample: {ok: 5, warning: 0, critical: 1, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: ["security.sshd (sshd -T)"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import (
    check_argument_spec,
    finish,
    run,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security import security_scan


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            categories=dict(type='list', elements='str', choices=list(security_scan.CATEGORIES), default=list(security_scan.CATEGORIES)),
            root=dict(type='path', default='/'),
            listen_allow=dict(type='list', elements='raw'),
            listen_ignore_loopback=dict(type='bool', default=False),
            scan_paths=dict(type='list', elements='path', default=[]),
            exclude_paths=dict(type='list', elements='path', default=[]),
            one_filesystem=dict(type='bool', default=True),
            world_writable_allow=dict(type='list', elements='path', default=[]),
            suid_allow=dict(type='list', elements='path'),
            sshd_policy=dict(type='dict'),
            sshd_command=dict(type='list', elements='str', default=['sshd', '-T']),
            sshd_config=dict(type='path'),
            sshd_output=dict(type='str'),
            uid0_allow=dict(type='list', elements='str', default=['root']),
            integrity_paths=dict(type='list', elements='path', default=[]),
            integrity_max_files=dict(type='int', default=20000),
            baseline_file=dict(type='path', default='/var/lib/autopilotcx/security-baseline.json'),
            accept_changes=dict(type='bool', default=False),
            pending_security_updates=dict(type='list', elements='raw'),
        ),
        supports_check_mode=True,
    )
    report = run(module, security_scan.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
