#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: review_report
short_description: Weekly, monthly and quarterly review reports from the outcome records
version_added: 0.1.0
description:
  - Reads the outcome records (the JSON-lines files of the C(autopilotcx.maintenance.outcomes) callback and/or its
    PostgreSQL sink) for a period and writes a self-contained HTML report (charts as inline SVG, no external assets),
    the same numbers as JSON, and a Markdown summary.
  - Text from the records (task names, check reasons, targets) cannot change the reports' structure - it is
    HTML-escaped in the page, escaped as C(\u003c) etc. in the page's JSON data island (so C(</script>) or
    C(<!--<script>) in a reason cannot swallow the rest of the page), and in Markdown tables pipes are escaped and
    line breaks become C(<br>), so every row keeps its columns.
  - C(weekly) - response time and error-rate trends per service, resource usage patterns, failed-login and suspicious-IP
    totals, incidents, and the most frequent failures by task and host.
  - C(monthly) - capacity (disk growth and projected days until full, connection saturation), long-term trends,
    access and permission audit findings from the security scans, incidents.
  - C(quarterly) - patch compliance (share of hosts with no pending security update), backup verification and
    test-restore success rates and restore times, certificates expiring in the next quarter, open findings.
  - Runs where the records are, normally the control node (delegated to C(localhost)).
  - Reads the same store the callback writes to - the module option, else E(AUTOPILOTCX_OUTCOME_LOG) /
    E(AUTOPILOTCX_OUTCOME_DSN), else the C([autopilotcx_outcomes]) section of the C(ansible.cfg) in effect, else the
    default (see docs/outcomes.md).
  - Fails, naming the source, when an outcome file does not exist or the period holds no record at all; a review of
    nothing is never a green report.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.postgres
options:
  period:
    description: Which review.
    type: str
    required: true
    choices: [weekly, monthly, quarterly]
  until:
    description: End of the period (ISO 8601, UTC when no offset); now when unset.
    type: str
  since:
    description: Start of the period; O(until) minus 7, 30 or 91 days when unset.
    type: str
  outcome_logs:
    description:
      - JSON-lines outcome files to read; a file that does not exist fails the task.
      - Empty - the file the outcomes callback writes to (E(AUTOPILOTCX_OUTCOME_LOG), else the C(ansible.cfg)
        C([autopilotcx_outcomes] path), else C(~/.ansible/autopilotcx-outcomes.jsonl)).
    type: list
    elements: path
    default: []
  source:
    description:
      - Where the records come from; C(postgres) and C(both) read the sink table, through O(pg_dsn) (or the callback's
        DSN) when set, else with the connection options.
      - C(auto) - C(jsonl) when O(outcome_logs) names files; otherwise C(postgres) when a DSN is set (option,
        E(AUTOPILOTCX_OUTCOME_DSN) or the C(ansible.cfg) C([autopilotcx_outcomes] pg_dsn)), C(jsonl) otherwise.
    type: str
    choices: [auto, jsonl, postgres, both]
    default: auto
  pg_dsn:
    description: libpq DSN of the outcome table; the callback's own (E(AUTOPILOTCX_OUTCOME_DSN), C(ansible.cfg)) when unset.
    type: str
  pg_schema:
    description: Schema of the sink table.
    type: str
  pg_table:
    description: Sink table; the callback's own (E(AUTOPILOTCX_OUTCOME_TABLE), C(ansible.cfg)) when unset, else C(maintenance_outcomes).
    type: str
  output_dir:
    description: Directory the report files are written to (created when missing); C(reviews/) beside the outcome file when unset.
    type: path
  title:
    description: Report title; defaults to C(AutopilotCX <period> review <end date>).
    type: str
  selectors:
    description:
      - Override which check names (fnmatch patterns) feed a part of the review, for example
        C(response_time) mapped to the list C(http.response_time), C(app.latency).
      - Keys are C(response_time), C(error_rate), C(resources), C(disk), C(connections), C(failed_logins),
        C(suspicious_ips), C(incidents), C(audit), C(patch), C(backup), C(restore), C(certificates).
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    details: Computes the review and returns it; writes no file.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - name: Outcome records
    description: What the callback records.
    link: https://example.invalid/autopilotcx/maintenance/docs/outcomes.md
'''

EXAMPLES = r'''
---
- name: Weekly review of the last seven days
  autopilotcx.maintenance.review_report:
    period: weekly
    outcome_logs: [/var/log/ansible/outcomes.jsonl]
    output_dir: /srv/reports/weekly
  delegate_to: localhost
  run_once: true
  register: weekly

- name: Fail the job when a certificate expires within the quarter
  ansible.builtin.assert:
    that: weekly.review.summary.failed_tasks == 0
'''

RETURN = r'''
review:
  description: The review's numbers (the same as the JSON file).
  returned: always
  type: dict
  sample: {period: weekly, summary: {records: 1200, hosts: 12, failed_tasks: 3, checks: {ok: 4000, warning: 12, critical: 2}}}
files:
  description: Paths of the files written (none in check mode).
  returned: always
  type: dict
  sample: {html: /srv/reports/weekly/review-weekly-2026-11-24.html, json: /srv/reports/weekly/review-weekly-2026-11-24.json,
           markdown: /srv/reports/weekly/review-weekly-2026-11-24.md}
records_read:
  description: Number of outcome records read for the period.
  returned: always
  type: int
  sample: 1200
sources:
  description: The files and tables the records were read from.
  returned: always
  type: list
  elements: str
  sample: [/var/log/autopilotcx/outcomes.jsonl]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import ModuleHost, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import postgres_argument_spec
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import review_report


def main():
    module = AnsibleModule(
        argument_spec=postgres_argument_spec(
            period=dict(type='str', required=True, choices=['weekly', 'monthly', 'quarterly']),
            until=dict(type='str'),
            since=dict(type='str'),
            outcome_logs=dict(type='list', elements='path', default=[]),
            source=dict(type='str', default='auto', choices=['auto', 'jsonl', 'postgres', 'both']),
            pg_dsn=dict(type='str', no_log=True),
            pg_schema=dict(type='str'),
            pg_table=dict(type='str'),
            output_dir=dict(type='path'),
            title=dict(type='str'),
            selectors=dict(type='dict', default={}),
        ),
        supports_check_mode=True,
    )
    report = run(module, review_report.run, module.params, module.check_mode, host=ModuleHost(module))
    finish(module, report)


if __name__ == '__main__':
    main()
