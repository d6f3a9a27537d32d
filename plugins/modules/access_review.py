#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: access_review
short_description: Access review - OS accounts, sudo rights, SSH keys and PostgreSQL roles against an approved access list
version_added: 0.1.0
description:
  - Reads who may do what on a host and holds it against O(approved), the approved access list kept as inventory data.
    One check per category (C(access.accounts), C(access.sudo), C(access.ssh_keys), C(access.postgres_roles),
    C(access.postgres_public)) plus C(access.changes); every finding is also in RV(findings).
  - "Accounts (C(/etc/passwd), C(/etc/shadow), last logins from C(/var/log/lastlog) or lastlog2's
    C(/var/lib/lastlog/lastlog2.db)): login accounts not in C(approved.login_accounts), stale accounts (no login for
    O(stale_days); never logged in and a password older than that), passwords older than O(max_password_age), empty
    passwords. Locked and expired accounts are listed in RV(inventory) and not judged."
  - "Sudo rights: C(/etc/sudoers) and its C(#include)/C(@includedir) files (files with a dot or ending in C(~) are
    skipped, as sudo does), User_Alias and C(%group) entries expanded through C(/etc/group) and primary groups.
    A sudoer not in C(approved.sudo) is critical; NOPASSWD rights of an account not in C(approved.sudo_nopasswd) warn."
  - "SSH keys: every account's O(authorized_keys_files) with key type, size, SHA-256 fingerprint (as C(ssh-keygen -l)
    prints it), comment and options. A key whose fingerprint is not in C(approved.ssh_keys) for its account is
    critical; DSA keys and RSA keys under O(min_rsa_bits) warn."
  - "PostgreSQL (category C(postgres)): roles with superuser, createrole, replication or bypassrls and members of
    superusers or privileged predefined roles (C(pg_read_all_data), C(pg_write_all_data), C(pg_execute_server_program)
    ...) against C(approved.postgres_roles); login roles without C(VALID UNTIL); privileges granted to PUBLIC on
    schemas (CREATE) and relations."
  - "What changed since the last review (a new sudoer, login account, SSH key, superuser or PostgreSQL privilege) is
    the C(access.changes) check, from O(state_file)."
  - A category whose approved list is not given is C(unknown) with what was found, never C(ok) with nothing said.
  - It never modifies the audited system (nor the database); the only file it writes is O(state_file), locked and
    atomically, never in check mode.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
  - autopilotcx.maintenance.postgres
options:
  categories:
    description:
      - Categories to review. C(postgres) connects with the PostgreSQL connection options; an unreachable server is a
        critical check with its reason. Reading every role needs no privilege.
    type: list
    elements: str
    choices: [accounts, sudo, ssh_keys, postgres]
    default: [accounts, sudo, ssh_keys]
  root:
    description: Path prefix of the audited system (a chroot or debootstrap root); C(/) is the host itself.
    type: path
    default: /
  approved:
    description:
      - The approved access list (inventory data, normally C(access_review_approved)).
      - "C(login_accounts): accounts that may have a login shell. C(sudo): accounts that may hold sudo rights.
        C(sudo_nopasswd): accounts that may hold NOPASSWD rights. C(ssh_keys): account -> list of approved SHA-256
        fingerprints (C(SHA256:...)). C(postgres_roles): role -> list of approved privileges among C(superuser),
        C(createrole), C(replication), C(bypassrls) and C(member:<role>) for membership of a privileged role.
        C(postgres_no_expiry): login roles that may have no password expiry. C(postgres_public_grants): C(object) or
        C(object:PRIVILEGE) granted to PUBLIC that is approved."
    type: dict
    default: {}
  stale_days:
    description: An account with a login shell and no login for longer than this is stale.
    type: int
    default: 90
  stale_ignore:
    description: Accounts never reported as stale (service accounts that never log in interactively).
    type: list
    elements: str
    default: [root]
  max_password_age:
    description: Passwords older than this many days are a warning; unset does not judge the password age.
    type: int
  authorized_keys_files:
    description: Authorized keys files as in sshd's C(AuthorizedKeysFile) (C(%h) home, C(%u) user; relative to the home).
    type: list
    elements: str
    default: [.ssh/authorized_keys, .ssh/authorized_keys2]
  min_rsa_bits:
    description: RSA keys shorter than this warn.
    type: int
    default: 2048
  state_file:
    description: JSON file keeping what the last review saw, to report what changed since; empty disables it.
    type: path
    default: /var/lib/autopilotcx/access-review.json
attributes:
  check_mode:
    support: full
    details: Every category runs; O(state_file) is not written.
  diff_mode:
    support: none
  platform:
    platforms: linux
notes:
  - "Reading C(/etc/shadow), other users' home directories and C(sudoers) needs root (C(become: true)); without it
    the affected checks are C(unknown) with the reason."
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.security_scan
  - module: autopilotcx.maintenance.config_drift
'''

EXAMPLES = r'''
---
- name: Monthly access review
  autopilotcx.maintenance.access_review:
    approved: "{{ access_review_approved }}"
    stale_days: 90
    max_password_age: 365
    categories: [accounts, sudo, ssh_keys, postgres]
    login_host: 127.0.0.1
    login_user: postgres
    login_password: "{{ vault_pg_password }}"
    fail_on: never
  become: true
  register: access

- name: Show the findings
  ansible.builtin.assert:
    that: access.status != 'critical'
    fail_msg: "{{ access.findings | map(attribute='reason') | list }}"
'''

RETURN = r'''
findings:
  description: Every finding of every category.
  returned: always
  type: list
  elements: dict
  sample: [{severity: critical, category: sudo, subject: bob, reason: "unapproved sudoer bob (direct at /etc/sudoers.d/oncall:1)"}]
inventory:
  description: What was found (accounts with password age and last login, sudoers with their sources, SSH keys, PostgreSQL roles).
  returned: always
  type: dict
  sample: {sudoers: {alice: [{how: group sudo, source: "/etc/sudoers:4", nopasswd: false, commands: "ALL=(ALL:ALL) ALL"}]}}
state:
  description: The review state file and what happened to it (C(none), C(created), C(updated)); in check mode what would happen.
  returned: always
  type: dict
  sample: {path: /var/lib/autopilotcx/access-review.json, action: updated}
checks:
  description: One check per category and C(access.changes); C(details.findings) holds its findings.
  returned: always
  type: list
  elements: dict
  sample: [{name: access.sudo, status: critical, value: 1, unit: findings, threshold: null, priority: high,
            reason: "1 finding(s): unapproved sudoer bob (direct at /etc/sudoers.d/oncall:1)", target: /etc/sudoers}]
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
  sample: {ok: 4, warning: 0, critical: 1, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: ["access.sudo (/etc/sudoers)"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import check_argument_spec, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import postgres_argument_spec
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security import access_review


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(**postgres_argument_spec(
            categories=dict(type='list', elements='str', choices=list(access_review.CATEGORIES), default=list(access_review.DEFAULT_CATEGORIES)),
            root=dict(type='path', default='/'),
            approved=dict(type='dict', default={}),
            stale_days=dict(type='int', default=90),
            stale_ignore=dict(type='list', elements='str', default=['root']),
            max_password_age=dict(type='int', no_log=False),
            authorized_keys_files=dict(type='list', elements='str', no_log=False, default=['.ssh/authorized_keys', '.ssh/authorized_keys2']),
            min_rsa_bits=dict(type='int', default=2048),
            state_file=dict(type='path', default=access_review.DEFAULT_STATE_FILE),
        )),
        supports_check_mode=True,
    )
    report = run(module, access_review.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
