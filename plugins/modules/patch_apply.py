#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: patch_apply
short_description: Apply selected package updates through apt or dnf, with a before/after diff
version_added: 0.1.0
description:
  - Selects updates from what the package manager reports (the same data as M(autopilotcx.maintenance.patch_facts)) -
    security-only or all, narrowed by O(include) and O(exclude), or an exact O(packages) list.
  - Applies them with one exact C(name=version) list to C(apt-get install) (C(name-version) to C(dnf upgrade)).
    Holds are always respected; the module never passes C(--allow-change-held-packages) or C(--allow-downgrades),
    so apt refuses rather than breaking a hold.
  - With apt the command is first simulated (C(apt-get -s)); the package set is every package the simulation would
    install or upgrade (C(Inst) lines), so the dependencies apt pulls in are part of it, and the real run names each
    of them with that exact version. The promotion gate compares this full set, so production installs exactly what
    staging tested or is refused.
  - Returns each package's version before and after (from C(dpkg-query)/C(rpm) before and after the run), the full
    set as C(package_set) with a stable C(package_set_id) for the promotion gate, whether a reboot is now required,
    and the services and processes still using replaced programs or libraries.
  - Restart needs come from C(needrestart -b) where it is installed; otherwise from C(/proc/PID/maps) (mappings of
    deleted files under the library and program directories, as checkrestart does), counting only processes whose
    root directory is the module's own (with a chroot connection the machine's processes are not the target's),
    mapped to their systemd unit through C(/proc/PID/cgroup). When neither can see the processes (a chroot without
    C(/proc)) the C(patch.restart_needed) check is C(unknown) and the module warns; it never says "none".
  - The result uses no key Ansible reads for itself; the pending updates left alone are C(not_applied) (never
    C(skipped), which would make Ansible show a run that changed the host as skipped).
  - In check mode it returns the simulation as C(would_change) and the diff; nothing is installed.
  - A package-manager failure is a C(critical) C(patch.apply) check with apt's own message.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  mode:
    description: C(security) applies only updates whose candidate comes from a security archive; C(all) applies every update.
    type: str
    choices: [security, all]
    default: security
  include:
    description: Only packages matching one of these shell-style patterns.
    type: list
    elements: str
    default: []
  exclude:
    description: Never packages matching one of these shell-style patterns.
    type: list
    elements: str
    default: []
  packages:
    description:
      - Exact list instead of a selection by O(mode), C(name=version) or C(name) (the candidate version).
        Held and excluded packages are still left alone (RV(not_applied)). For hotfixes and pinned runtime versions.
    type: list
    elements: str
    default: []
  manager:
    description: Package manager; C(auto) picks apt when C(apt-get) exists, else dnf.
    type: str
    choices: [auto, apt, dnf]
    default: auto
  security_origins:
    description: As in M(autopilotcx.maintenance.patch_facts).
    type: list
    elements: dict
  update_cache:
    description: Refresh the package lists first (not in check mode).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: apt simulates the exact command (C(apt-get -s)); dnf returns the selection.
  diff_mode:
    support: full
    details: The diff lists each changed package (dependencies included) with its version before and after.
  platform:
    platforms: debian, ubuntu, rhel
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.patch_facts
  - module: ansible.builtin.apt
'''

EXAMPLES = r'''
---
- name: Apply the security updates only
  autopilotcx.maintenance.patch_apply:
    mode: security
    exclude: ["postgresql-*"]
  register: patched

- name: Show what changed
  ansible.builtin.assert:
    that: patched.changes | selectattr('name', 'equalto', 'apcx-tool') | list | length == 0
    success_msg: "{{ patched.changes }}"

- name: Emergency hotfix of one exact version
  autopilotcx.maintenance.patch_apply:
    packages: ["openssl=3.0.16-1~deb12u1", "libssl3=3.0.16-1~deb12u1"]
  register: hotfix

- name: Reboot when the update asked for it
  ansible.builtin.reboot:
  when: hotfix.reboot_required
'''

RETURN = r'''
changes:
  description: Packages whose installed version changed (dependencies included).
  returned: always
  type: list
  elements: dict
  sample: [{name: openssl, before: 3.0.15-1~deb12u1, after: 3.0.16-1~deb12u1}]
would_change:
  description: In check mode, the packages apt's simulation would change.
  returned: always
  type: list
  elements: dict
  sample: [{name: openssl, before: 3.0.15-1~deb12u1, after: 3.0.16-1~deb12u1}]
selected:
  description: The updates selected (name, version, security, installed).
  returned: always
  type: list
  elements: dict
  sample: [{name: openssl, version: 3.0.16-1~deb12u1, security: true, installed: 3.0.15-1~deb12u1}]
not_applied:
  description: Pending updates not applied, with the reason (held, excluded, not a security update ...).
  returned: always
  type: list
  elements: dict
  sample: [{name: postgresql-15, reason: "held (holds are always respected)"}]
package_set:
  description:
    - Every package the run installs or upgrades as sorted C(name=version) strings - with apt the C(Inst) lines of
      the simulation, so the dependencies apt pulls in are included (dnf - the selection).
  returned: always
  type: list
  elements: str
  sample: ["openssl=3.0.16-1~deb12u1"]
package_set_id:
  description: Short hash of RV(package_set) (null when empty).
  returned: always
  type: str
  sample: 3f1a9c0d2b7e4a11
services_needing_restart:
  description: Systemd units still running replaced code after the run (needrestart, or the units of the processes below).
  returned: always
  type: list
  elements: str
  sample: [nginx.service]
processes_needing_restart:
  description: Without needrestart, the processes of this root still mapping replaced files (pid, command, unit, files).
  returned: always
  type: list
  elements: dict
  sample: [{pid: 812, command: nginx, unit: nginx.service, files: [/usr/lib/x86_64-linux-gnu/libssl.so.3]}]
restart_method:
  description: How restart needs were found - C(needrestart), C(proc), or null when they are unknown (or nothing changed).
  returned: always
  type: str
  sample: proc
reboot_required:
  description: Whether the host needs a reboot after the run.
  returned: always
  type: bool
  sample: true
command:
  description: The package-manager command run (or simulated).
  returned: always
  type: list
  elements: str
  sample: [apt-get, -q, -y, install, openssl=3.0.16-1~deb12u1]
manager:
  description: The package manager used.
  returned: always
  type: str
  sample: apt
diff:
  description: Versions before and after (Ansible's diff - shown with C(--diff)), one C(name version) line per package.
  returned: always
  type: dict
  sample: {before: "openssl 3.0.15-1~deb12u1\n", after: "openssl 3.0.16-1~deb12u1\n"}
checks:
  description:
    - One C(patch.apply) check; its details hold the package set and the changes. After a run that changed
      packages, also C(patch.restart_needed) - C(warning) naming what still runs replaced code, C(unknown) when
      that cannot be seen.
  returned: always
  type: list
  elements: dict
  sample: [{name: patch.apply, status: ok, value: 2, reason: "2 package(s) changed; reboot required"}]
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
    ModuleHost,
    check_argument_spec,
    finish,
    run,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.patching import patch_apply


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            mode=dict(type='str', default='security', choices=['security', 'all']),
            include=dict(type='list', elements='str', default=[]),
            exclude=dict(type='list', elements='str', default=[]),
            packages=dict(type='list', elements='str', default=[]),
            manager=dict(type='str', default='auto', choices=['auto', 'apt', 'dnf']),
            security_origins=dict(type='list', elements='dict'),
            update_cache=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    report = run(module, patch_apply.run, module.params, module.check_mode, host=ModuleHost(module))
    finish(module, report)


if __name__ == '__main__':
    main()
