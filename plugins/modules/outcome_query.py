#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: outcome_query
short_description: Promotion gate - was this package set verified in staging recently?
version_added: 0.1.0
description:
  - Reads the outcome records of the C(autopilotcx.maintenance.outcomes) callback - its PostgreSQL store when a DSN
    is set (so the production job of an AWX workflow, in a fresh container, sees what staging's job recorded), its
    JSON-lines file otherwise - and looks for an C(ok) C(patch.staging_verified) check of the given environment,
    recorded within O(within_days), whose package set covers O(package_set) (O(match=subset)) or equals it
    (O(match=exact)).
  - Returns one C(patch.promotion_gate) check, C(critical) when no such verification exists, so with the default
    O(fail_on=critical) the task fails and production is not touched. A refusal names only the packages that differ
    from the closest recent verification (C(details.not_verified)).
  - Lines of the outcome file that cannot be read (not a JSON record, or no readable C(recorded_at)) are left out and
    named in a second check, C(patch.outcome_log), with status C(warning); the gate's verdict is that of the lines read.
  - In check mode a refusal is a preview, not a failure - a dry run of staging verifies nothing, so production could
    never pass - an C(ok) check that says production would wait for a real staging verification of the packages
    named, with C(details.would_wait=true).
  - Runs on the control node (delegated to C(localhost)), where the outcome log is.
  - The store is the callback's - the module option, else E(AUTOPILOTCX_OUTCOME_LOG) / E(AUTOPILOTCX_OUTCOME_DSN),
    else the C([autopilotcx_outcomes]) section of the C(ansible.cfg) in effect, else the default (see docs/outcomes.md).
    A missing file or an unreadable table is a C(critical) check naming it.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
  - autopilotcx.maintenance.checks
options:
  path:
    description: The outcome log; the callback's (E(AUTOPILOTCX_OUTCOME_LOG), C(ansible.cfg) C([autopilotcx_outcomes] path)) when unset.
    type: path
  pg_dsn:
    description:
      - libpq DSN of the PostgreSQL outcome store; when set (here, in E(AUTOPILOTCX_OUTCOME_DSN) or in the C(ansible.cfg)
        C([autopilotcx_outcomes] pg_dsn)) the records are read from there and O(path) is not used.
    type: str
  pg_table:
    description: Table of the PostgreSQL store; E(AUTOPILOTCX_OUTCOME_TABLE), C(ansible.cfg), then C(maintenance_outcomes).
    type: str
  pg_schema:
    description: Schema of that table; E(AUTOPILOTCX_OUTCOME_SCHEMA), C(ansible.cfg), then the search path.
    type: str
  package_set:
    description: C(name=version) strings production is about to apply (RV(autopilotcx.maintenance.patch_apply#module:package_set)).
    type: list
    elements: str
    required: true
  within_days:
    description: How recent the staging verification must be.
    type: int
    default: 7
  environment:
    description: Environment whose verification counts.
    type: str
    default: staging
  match:
    description: C(subset) - every package of the set was verified; C(exact) - the same set was verified.
    type: str
    choices: [subset, exact]
    default: subset
  min_hosts:
    description: Verified on at least this many hosts.
    type: int
    default: 1
  now:
    description: Evaluate at this moment (ISO 8601, for tests); the current time when unset.
    type: str
attributes:
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.maintenance_record
  - module: autopilotcx.maintenance.patch_apply
'''

EXAMPLES = r'''
---
- name: Production only gets what staging verified this week
  autopilotcx.maintenance.outcome_query:
    package_set: "{{ planned.package_set }}"
    within_days: 7
  delegate_to: localhost
  register: promotion

- name: Show the evidence
  ansible.builtin.assert:
    that: promotion.status == 'ok'
    success_msg: "{{ promotion.checks[0].reason }}"
'''

RETURN = r'''
evidence:
  description: The matching verifications (package_set, host, run_id, recorded_at, playbook).
  returned: always
  type: list
  elements: dict
  sample: [{host: staging-1, run_id: 5f0c..., recorded_at: "2026-11-29T02:20:00.000000Z", package_set: ["openssl=3.0.16-1"]}]
checks:
  description: One C(patch.promotion_gate) check, and a C(patch.outcome_log) warning when damaged lines were left out.
  returned: always
  type: list
  elements: dict
  sample: [{name: patch.promotion_gate, status: ok, value: 2, reason: "staging verified the same package set on 2 host(s) ..."}]
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
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import outcome_query


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            path=dict(type='path'),
            pg_dsn=dict(type='str', no_log=True),
            pg_table=dict(type='str'),
            pg_schema=dict(type='str'),
            package_set=dict(type='list', elements='str', required=True),
            within_days=dict(type='int', default=7),
            environment=dict(type='str', default='staging'),
            match=dict(type='str', default='subset', choices=['subset', 'exact']),
            min_hosts=dict(type='int', default=1),
            now=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    report = run(module, outcome_query.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
