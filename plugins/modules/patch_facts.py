#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: patch_facts
short_description: Pending package updates with origin, security classification, holds and reboot needs
version_added: 0.1.0
description:
  - Reads what the system package manager reports about pending updates; it never re-implements version logic.
  - "apt (Debian, Ubuntu): C(apt list --upgradable) for installed and candidate versions, C(apt-cache policy) for the
    origin of each candidate (origin, label, archive, codename, component, site), C(apt-mark showhold) for holds,
    C(/var/run/reboot-required) (and its C(.pkgs) list) for reboots, and C(needrestart -b) where it is installed
    for the services that need a restart."
  - An apt update is a security update when one of the sources of its candidate version matches O(security_origins)
    (by default Debian's security archive, label C(Debian-Security), or any C(*-security) suite, which also covers
    Ubuntu).
  - "dnf (RHEL family): C(dnf check-update), C(dnf updateinfo list --security) for the classification and the
    advisory ids, C(dnf versionlock list) for holds, C(needs-restarting -r) and C(-s) for reboots and services.
    dnf is tested with Debian's dnf 4 against a real rpm repository with updateinfo, not on a RHEL host
    (see docs/patching.md)."
  - A package-manager command that fails becomes a C(critical) check with its error; the task fails only as
    O(fail_on) says.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  manager:
    description: Package manager; C(auto) picks apt when C(apt-get) exists, else dnf.
    type: str
    choices: [auto, apt, dnf]
    default: auto
  security_origins:
    description:
      - Release attributes that make an apt source a security archive. Each entry is a mapping of C(origin),
        C(label), C(archive), C(codename), C(component), C(site) to shell-style patterns; all keys of an entry
        must match. The default matches Debian's and Ubuntu's security archives.
    type: list
    elements: dict
  update_cache:
    description: Refresh the package lists first (C(apt-get update); for dnf, use the network instead of the cache).
      Not done in check mode.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Only reads; O(update_cache) is skipped in check mode.
  diff_mode:
    support: none
  platform:
    platforms: debian, ubuntu, rhel
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.patch_apply
  - module: ansible.builtin.package_facts
'''

EXAMPLES = r'''
---
- name: What is pending?
  autopilotcx.maintenance.patch_facts:
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
  register: pending

- name: Show the security updates
  ansible.builtin.debug:
    msg: "{{ pending.updates | selectattr('security') | map(attribute='name') | list }}"

- name: Count an internal mirror of the security archive as security
  autopilotcx.maintenance.patch_facts:
    security_origins:
      - {label: Debian-Security}
      - {origin: "ACME mirror", archive: "*-security"}
  register: pending

- name: Nothing held may be pending for too long
  ansible.builtin.assert:
    that: pending.reboot_required is not none
'''

RETURN = r'''
manager:
  description: The package manager used.
  returned: always
  type: str
  sample: apt
updates:
  description: One entry per upgradable package.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Package name., type: str, returned: always, sample: openssl}
    arch: {description: Architecture., type: str, returned: always, sample: amd64}
    installed: {description: Installed version., type: str, returned: always, sample: 3.0.15-1~deb12u1}
    candidate: {description: Version the package manager would install., type: str, returned: always, sample: 3.0.16-1~deb12u1}
    suites: {description: Suites (apt) or repositories (dnf) offering the candidate., type: list, returned: always, sample: [bookworm-security]}
    origins: {description: Release attributes of each source of the candidate., type: list, returned: always,
              sample: [{origin: Debian, label: Debian-Security, archive: stable-security, codename: bookworm-security}]}
    security: {description: Whether it is a security update., type: bool, returned: always, sample: true}
    held: {description: "Whether the package is held (apt-mark hold, dnf versionlock).", type: bool, returned: always, sample: false}
    advisories: {description: Security advisories (dnf only)., type: list, returned: dnf, sample: ["RHSA-2024:3501"]}
security_updates:
  description: Names of the security updates (held ones included).
  returned: always
  type: list
  elements: str
  sample: [openssl, libssl3]
held:
  description: Held packages.
  returned: always
  type: list
  elements: str
  sample: [postgresql-15]
pending:
  description: Number of pending updates.
  returned: always
  type: int
  sample: 4
pending_security:
  description: Number of pending security updates that are not held.
  returned: always
  type: int
  sample: 2
reboot_required:
  description: Whether the host needs a reboot now.
  returned: always
  type: bool
  sample: false
reboot_packages:
  description: Packages that asked for the reboot (apt, C(/var/run/reboot-required.pkgs)).
  returned: always
  type: list
  elements: str
  sample: [linux-image-6.1.0-28-amd64]
needrestart_available:
  description: Whether C(needrestart) (apt) or C(needs-restarting) (dnf) reported on services.
  returned: always
  type: bool
  sample: true
services_needing_restart:
  description: Services running outdated code.
  returned: always
  type: list
  elements: str
  sample: [nginx.service]
kernel_restart_pending:
  description: needrestart reports a newer kernel than the running one.
  returned: always
  type: bool
  sample: false
checks:
  description: C(patch.pending_security), C(patch.pending_updates) and C(patch.reboot_required), in the collection's result model.
  returned: always
  type: list
  elements: dict
  sample: [{name: patch.pending_security, status: warning, value: 2, reason: "pending security updates 2 > 1"}]
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
  sample: {ok: 3, warning: 0, critical: 0, unknown: 0}
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
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.patching import patch_facts


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            manager=dict(type='str', default='auto', choices=['auto', 'apt', 'dnf']),
            security_origins=dict(type='list', elements='dict'),
            update_cache=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    report = run(module, patch_facts.run, module.params, module.check_mode, host=ModuleHost(module))
    finish(module, report)


if __name__ == '__main__':
    main()
