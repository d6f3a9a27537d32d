#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: evidence_verify
short_description: Verify an evidence archive against its hash, manifest and chain-of-custody log
version_added: 0.1.0
description:
  - Recomputes the SHA-256 of an archive made by M(autopilotcx.maintenance.evidence_collect) and compares it with
    O(expected_sha256), the C(.sha256) file beside it and the C(collected) event of its custody log; then checks
    every member against C(MANIFEST.sha256) and that no file was added or removed.
  - Appends a C(verified) (or C(verification_failed)) event to the custody log, with who verified it, when and where.
  - Returns the check C(incident.evidence_integrity), critical when anything does not match.
  - Usually runs on the control node after C(ansible.builtin.fetch).
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  archive:
    description: Path of the archive.
    type: path
    required: true
  expected_sha256:
    description: Archive hash to expect, for example the one the collecting task returned.
    type: str
  custody_log:
    description: Chain-of-custody log; defaults to C(<archive without .tar.gz>.custody.jsonl).
    type: path
  record:
    description: Append the verification to the custody log.
    type: bool
    default: true
  event:
    description: Name of the custody event appended on success.
    type: str
    default: verified
attributes:
  check_mode:
    support: full
    details: Verifies but does not append to the custody log.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.evidence_collect
'''

EXAMPLES = r'''
---
- name: Verify the fetched evidence on the control node
  autopilotcx.maintenance.evidence_verify:
    archive: "evidence/{{ evidence.archive | basename }}"
    expected_sha256: "{{ evidence.sha256 }}"
  delegate_to: localhost
  register: verified

- name: The evidence is intact
  ansible.builtin.assert:
    that: verified.status == 'ok'
    fail_msg: "{{ verified.problems }}"
'''

RETURN = r'''
verified:
  description: True when every hash matched.
  returned: always
  type: bool
  sample: true
problems:
  description: What did not match.
  returned: always
  type: list
  elements: str
  sample: ["logs/var_log_auth.log: sha256 1f... does not match the manifest (9a...)"]
sha256:
  description: SHA-256 of the archive as found.
  returned: always
  type: str
  sample: e395d3372a9ee40c3ce2db89f20e7dcc0cb9aff4496b09f50f5a63d94e4eac9a
files:
  description: Number of files checked against the manifest.
  returned: always
  type: int
  sample: 212
custody:
  description: The custody log's events, including the one appended by this run.
  returned: always
  type: list
  elements: dict
  sample: [{event: collected, at: "2026-11-24T06:15:00Z", by: root, "on": web1, sha256: e395d3...}]
checks:
  description: The C(incident.evidence_integrity) check.
  returned: always
  type: list
  elements: dict
  sample: [{name: incident.evidence_integrity, status: ok, value: true, priority: high, reason: "212 files verified"}]
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
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import evidence_verify


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            archive=dict(type='path', required=True),
            expected_sha256=dict(type='str'),
            custody_log=dict(type='path'),
            record=dict(type='bool', default=True),
            event=dict(type='str', default='verified'),
        ),
        supports_check_mode=True,
    )
    report = run(module, evidence_verify.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
