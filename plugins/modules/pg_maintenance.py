#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: pg_maintenance
short_description: VACUUM, ANALYZE and REINDEX CONCURRENTLY the PostgreSQL tables that need it, inside a time budget
version_added: 0.1.0
description:
  - Chooses tables from C(pg_stat_user_tables) by dead-tuple ratio (O(min_dead_ratio), O(min_dead_tuples)), time since
    the last (auto)vacuum and (auto)analyze (O(vacuum_age), O(analyze_age)) and transaction ID age (O(freeze_xid_age),
    which adds C(FREEZE)), and works on them most urgent first (wraparound risk, then the longest neglected).
  - Every statement runs with O(lock_timeout); a table that cannot be locked in time is skipped and reported, never waited for.
  - No new work starts once O(time_budget) (the maintenance window) is spent; with O(cancel_at_budget_end) the running
    statement is also cancelled at the end of the budget. What was left is reported for the next window.
  - With O(reindex), rebuilds btree indexes whose estimated bloat is over O(reindex_bloat_ratio) and which are larger than
    O(reindex_min_size), with C(REINDEX INDEX CONCURRENTLY) (writes continue meanwhile).
  - Reports dead tuples before and after per table, and the statements run. In check mode, reports the plan only.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
  - autopilotcx.maintenance.postgres
options:
  tables:
    description:
      - Limit the work to these tables (C(schema.table) or bare names); all user tables when empty.
      - A name that matches no table or materialized view (or whose schema does not exist) makes the check
        C(pg_maintenance.tables) critical, naming it and the closest existing table; the others are still maintained.
    type: list
    elements: str
    default: []
  operations:
    description: Which of C(vacuum) and C(analyze) may run.
    type: list
    elements: str
    choices: [vacuum, analyze]
    default: [vacuum, analyze]
  min_dead_ratio:
    description: Share of dead tuples (0 to 1) from which a table is vacuumed (with at least O(min_dead_tuples)).
    type: float
    default: 0.1
  min_dead_tuples:
    description: Minimum dead tuples (or changed rows, for analyze) before a table is considered.
    type: int
    default: 1000
  vacuum_age:
    description: Vacuum tables not (auto)vacuumed for this long (C(7d) ...); off when unset. A bare number is seconds.
    type: str
  analyze_age:
    description: Analyze tables not (auto)analyzed for this long (C(7d) ...); off when unset. A bare number is seconds.
    type: str
  freeze_xid_age:
    description: Transaction ID age from which a table is vacuumed with C(FREEZE), first; off when unset.
    type: int
  reindex:
    description: Rebuild bloated btree indexes with C(REINDEX INDEX CONCURRENTLY).
    type: bool
    default: false
  reindex_bloat_ratio:
    description: Estimated bloat (0 to 1) from which an index is rebuilt.
    type: float
    default: 0.5
  reindex_min_size:
    description: Smallest index worth rebuilding (C(10M), bytes).
    type: str
    default: 10M
  time_budget:
    description:
      - Time the work may take, normally the rest of the maintenance window (C(2h), C(90m)); unlimited when unset.
        A bare number is seconds.
    type: str
  started_at:
    description:
      - Unix time at which O(time_budget) began, when it is shared by several tasks (for example one per database in a
        maintenance window); the budget left is O(time_budget) minus the time since then. Now when unset.
    type: float
  cancel_at_budget_end:
    description: Cancel the statement still running when O(time_budget) ends (C(statement_timeout) set to the time left).
    type: bool
    default: true
  lock_timeout:
    description: C(lock_timeout) of every statement (C(5s), C(500ms)). A bare number is seconds. (PostgreSQL itself would read milliseconds.)
    type: str
    default: 5s
  statement_timeout:
    description:
      - C(statement_timeout) of every statement (C(30s), C(5min)); unlimited (within O(time_budget)) when unset.
        A bare number is seconds. (PostgreSQL itself would read milliseconds.)
    type: str
attributes:
  check_mode:
    support: full
    details: Returns the plan (tables, indexes, statements) and runs nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
notes:
  - "Thresholds read: C(db_xid_age) (oldest database transaction ID age) and C(db_dead_tuple_ratio) (worst dead-tuple share left unmaintained)."
  - The index bloat is an estimate from C(pg_stats) and C(pg_class) (no extension needed); C(pgstattuple) gives exact numbers if you need them.
  - A C(REINDEX CONCURRENTLY) that fails (lock timeout, end of the time budget, error) leaves an invalid C(*_ccnew) index
    (or C(*_ccold) when only its last step failed), never used by queries but updated by every write. The module drops
    the ones it left with C(DROP INDEX CONCURRENTLY IF EXISTS) (waiting at most O(lock_timeout), also after the time
    budget) and reports them; one it cannot drop is reported with the statement to run. Invalid indexes from earlier
    failures are left alone (one may be another session's rebuild in progress).
seealso:
  - module: autopilotcx.maintenance.session_cleanup
  - name: Routine vacuuming (PostgreSQL documentation)
    description: When and why tables need VACUUM and ANALYZE.
    link: https://www.postgresql.org/docs/current/routine-vacuuming.html
'''

EXAMPLES = r'''
---
- name: Monthly VACUUM/ANALYZE/REINDEX inside the window
  autopilotcx.maintenance.pg_maintenance:
    login_host: db.example.com
    login_user: postgres
    login_password: "{{ vault_pg_password }}"
    login_db: app
    min_dead_ratio: 0.05
    vacuum_age: 7d
    analyze_age: 7d
    freeze_xid_age: 500000000
    reindex: true
    time_budget: 2h
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
  register: maint

- name: Nothing was skipped
  ansible.builtin.assert:
    that: maint.tables | selectattr('status', 'equalto', 'skipped') | list | length == 0
'''

RETURN = r'''
tables:
  description: Per table the statement, why it was chosen, dead tuples before and after, and its status
    (C(planned) in check mode, C(done), C(skipped) lock timeout, C(cancelled), C(failed), C(pending) budget spent).
  returned: always
  type: list
  elements: dict
  sample: [{table: public.sessions, statement: "VACUUM (ANALYZE) \"public\".\"sessions\"", reasons: ["42.0 % dead tuples (420000)"],
            dead_before: 420000, dead_after: 0, dead_ratio_before: 42.0, xid_age: 1200, status: done, seconds: 3.1}]
indexes:
  description:
    - Per rebuilt (or planned) index its estimated bloat, size before and after and status (C(done), C(planned),
      C(pending), C(skipped), C(cancelled), C(failed)).
    - After a failed rebuild, C(dropped_invalid) lists the invalid indexes it left that were dropped, and
      C(left_invalid) those that could not be (C(index), C(statement) to drop it, C(error)).
  returned: always
  type: list
  elements: dict
  sample: [{index: public.sessions_pkey, table: public.sessions, bloat_estimate: 61.0, bytes_before: 90000000,
            bytes_after: 35000000, status: done, statement: "REINDEX INDEX CONCURRENTLY \"public\".\"sessions_pkey\""}]
statements:
  description: The maintenance statements run, in order.
  returned: always
  type: list
  elements: str
  sample: ["VACUUM (ANALYZE) \"public\".\"sessions\""]
time_budget:
  description: Seconds of time budget this run had (after O(started_at)), null when unlimited.
  returned: always
  type: float
  sample: 7200.0
duration:
  description: Seconds taken.
  returned: always
  type: float
  sample: 12.5
checks:
  description: The checks (C(pg_maintenance.work), C(pg_maintenance.pending), C(pg_maintenance.xid_age), C(pg_maintenance.dead_tuple_ratio)).
  returned: always
  type: list
  elements: dict
  sample: [{name: pg_maintenance.pending, status: ok, value: 0, unit: items, threshold: null, priority: low,
            reason: all planned work fit in the time budget}]
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
  sample: {ok: 4, warning: 0, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import check_argument_spec, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import postgres_argument_spec
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import pg_maintenance


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(**postgres_argument_spec(
            tables=dict(type='list', elements='str', default=[]),
            operations=dict(type='list', elements='str', default=['vacuum', 'analyze'], choices=['vacuum', 'analyze']),
            min_dead_ratio=dict(type='float', default=0.1), min_dead_tuples=dict(type='int', default=1000),
            vacuum_age=dict(type='str'), analyze_age=dict(type='str'), freeze_xid_age=dict(type='int'),
            reindex=dict(type='bool', default=False), reindex_bloat_ratio=dict(type='float', default=0.5),
            reindex_min_size=dict(type='str', default='10M'), time_budget=dict(type='str'),
            cancel_at_budget_end=dict(type='bool', default=True), started_at=dict(type='float'), lock_timeout=dict(type='str', default='5s'),
            statement_timeout=dict(type='str'),
        )),
        supports_check_mode=True,
    )
    deps.require(module, 'psycopg')
    report = run(module, pg_maintenance.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
