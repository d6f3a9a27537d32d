#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: evidence_collect
short_description: Preserve forensic evidence of a host in a hashed archive with a chain-of-custody log
version_added: 0.1.0
description:
  - Collects in order of volatility (RFC 3227) -- running processes, network connections, logged-in users, open
    files, kernel modules -- then logs, shell histories, the installed package list and the SHA-256 of every
    running executable (read through C(/proc/<pid>/exe), so deleted binaries are hashed too).
  - Uses C(ps), C(ss), C(ip), C(who), C(w), C(last), C(lsof), C(lsmod), C(dpkg-query)/C(rpm) where installed, and reads
    C(/proc) directly as well, so a host missing those tools still yields processes, sockets and open files.
  - Packs everything into C(<incident_id>-<host>-<UTC time>.tar.gz) holding C(MANIFEST.sha256) (C(sha256sum) format)
    and C(collection.json) (each step, its time and exit code, what was skipped). Beside the archive it writes
    C(<archive>.sha256) and the chain-of-custody log C(<incident_id>-<host>-<time>.custody.jsonl) (who collected it,
    when, on which host, from which address, the archive hash).
  - Files larger than O(max_file_bytes) are not packed; their path, size and hash are recorded in C(collection.json).
  - Returns the check C(incident.evidence) in the collection's result model.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  incident_id:
    description: Incident identifier; names the archive.
    type: str
    required: true
  dest:
    description: Directory on the host where the archive is written (mode 0700).
    type: path
    default: /var/lib/autopilotcx/evidence
  categories:
    description: What to collect; collected in the order of volatility whatever the order given.
    type: list
    elements: str
    choices: [processes, network, users, open_files, kernel_modules, logs, shell_histories, packages, executable_hashes]
    default: [processes, network, users, open_files, kernel_modules, logs, shell_histories, packages, executable_hashes]
  log_paths:
    description: Log files or directories to copy.
    type: list
    elements: path
    default: [/var/log]
  history_patterns:
    description: Glob patterns of shell history files.
    type: list
    elements: str
    default: ['/root/.*history', '/home/*/.*history', /root/.local/share/fish/fish_history, /home/*/.local/share/fish/fish_history]
  extra_paths:
    description: Further files or directories to preserve (application config, a web root, a suspicious binary).
    type: list
    elements: path
    default: []
  max_file_bytes:
    description: Files larger than this are hashed but not packed.
    type: int
    default: 104857600
  reason:
    description: Why the evidence is collected; written to the custody log.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    details: Returns the plan (categories, commands, file counts) in RV(plan) and writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: linux
notes:
  - Run it with C(become) so every process, socket and log is readable.
  - Run it before any containment step changes the host; the C(security_incident) role does.
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.evidence_verify
'''

EXAMPLES = r'''
---
- name: Preserve evidence
  autopilotcx.maintenance.evidence_collect:
    incident_id: INC-2026-0042
    reason: "web shell found in /var/www"
    extra_paths: [/var/www/html/uploads]
  become: true
  register: evidence

- name: Fetch the archive, its hash and custody log
  ansible.builtin.fetch:
    src: "{{ item }}"
    dest: "evidence/"
    flat: true
  loop: ["{{ evidence.archive }}", "{{ evidence.checksum_file }}", "{{ evidence.custody_log }}"]

- name: The archive was written
  ansible.builtin.assert:
    that: evidence.sha256 | length == 64
'''

RETURN = r'''
archive:
  description: Path of the archive on the host.
  returned: when not in check mode
  type: str
  sample: /var/lib/autopilotcx/evidence/INC-2026-0042-web1-20261124T061500Z.tar.gz
sha256:
  description: SHA-256 of the archive.
  returned: when not in check mode
  type: str
  sample: e395d3372a9ee40c3ce2db89f20e7dcc0cb9aff4496b09f50f5a63d94e4eac9a
checksum_file:
  description: Path of the C(sha256sum -c) file beside the archive.
  returned: when not in check mode
  type: str
  sample: /var/lib/autopilotcx/evidence/INC-2026-0042-web1-20261124T061500Z.tar.gz.sha256
custody_log:
  description: Path of the chain-of-custody log (JSON lines).
  returned: when not in check mode
  type: str
  sample: /var/lib/autopilotcx/evidence/INC-2026-0042-web1-20261124T061500Z.custody.jsonl
files:
  description: Number of files in the archive's manifest.
  returned: when not in check mode
  type: int
  sample: 212
size:
  description: Archive size in bytes.
  returned: when not in check mode
  type: int
  sample: 1843221
not_collected:
  description: Steps skipped (tool not installed, file too large) or failed, with the reason.
  returned: when not in check mode
  type: list
  elements: dict
  sample: [{category: open_files, item: lsof.txt, skipped: not installed}]
plan:
  description: What would be collected.
  returned: in check mode
  type: list
  elements: dict
  sample: [{category: processes, commands: [ps auxwwf]}]
checks:
  description: The C(incident.evidence) check.
  returned: always
  type: list
  elements: dict
  sample: [{name: incident.evidence, status: ok, value: 212, unit: files, priority: high, reason: "212 files preserved"}]
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
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import evidence, evidence_collect


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            incident_id=dict(type='str', required=True),
            dest=dict(type='path', default='/var/lib/autopilotcx/evidence'),
            categories=dict(type='list', elements='str', choices=list(evidence.CATEGORIES),
                            default=list(evidence.CATEGORIES)),
            log_paths=dict(type='list', elements='path', default=['/var/log']),
            history_patterns=dict(type='list', elements='str', default=list(evidence.HISTORY_PATTERNS)),
            extra_paths=dict(type='list', elements='path', default=[]),
            max_file_bytes=dict(type='int', default=104857600),
            reason=dict(type='str', default=''),
        ),
        supports_check_mode=True,
    )
    report = run(module, evidence_collect.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
