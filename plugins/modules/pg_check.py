#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: pg_check
short_description: Check the health and query performance of a PostgreSQL server
version_added: 0.1.0
description:
  - Connects once (psycopg 3) and runs the selected checks, each returned in the collection's result model.
  - C(connection) tests the connection and its latency (threshold C(db_connect_time)).
  - C(connections) holds client connections against C(max_connections) (C(db_connections_used), percent).
  - C(long_running) finds active queries running longer than C(db_long_running_query) seconds;
    C(idle_in_transaction) sessions idle inside an open transaction longer than C(db_idle_in_transaction) seconds.
    Sessions are identified by pid, role, database, application and C(query_id); their query text is never returned.
  - C(lock_waits) counts sessions waiting on a lock (C(db_lock_waits)) and names the pids blocking them.
  - C(replication) reports the replay lag of every connected standby on a primary, or the replay lag of the server
    itself when it is a standby (C(db_replication_lag), seconds). A primary without standbys is reported as
    C(ok) with a reason saying that it does not replicate, unless O(expected_standbys) says standbys must be there.
  - C(cache_hit_ratio) is the shared buffer hit ratio over all databases (C(db_cache_hit_ratio), percent, lower is worse).
  - C(slow_statements) reads C(pg_stat_statements) when the extension exists in O(login_db) and reports the statements
    with the highest mean execution time by C(queryid) and normalised text, with calls, mean and total time
    (C(db_slow_statement_mean), milliseconds). Literals left in the text (utility statements keep theirs) are replaced
    by C(?), so parameter values never leave the server.
  - C(xid_age) is the age of the oldest unfrozen transaction ID of any database (C(db_xid_age)), the wraparound risk.
  - A missing privilege or extension gives an C(unknown) check with the reason; the other checks still run.
    An unreachable server or a rejected password gives a critical C(pg.connection) check (the password never
    appears in any output) and C(unknown) for the other selected checks.
  - Every statement is read-only and runs under O(statement_timeout) and a lock timeout.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
  - autopilotcx.maintenance.checks
  - autopilotcx.maintenance.postgres
options:
  checks:
    description:
      - The checks to run. The default runs all of them.
    type: list
    elements: str
    choices: [connection, connections, long_running, idle_in_transaction, lock_waits, replication, cache_hit_ratio,
              slow_statements, xid_age]
    default: [connection, connections, long_running, idle_in_transaction, lock_waits, replication, cache_hit_ratio,
              slow_statements, xid_age]
  top:
    description: How many sessions and statements to list in the details of a check.
    type: int
    default: 10
  min_calls:
    description: Statements from C(pg_stat_statements) with fewer calls are ignored.
    type: int
    default: 1
  all_databases:
    description:
      - List the statements of every database (C(true)) or only those run in O(login_db) (C(false)).
      - C(pg_stat_statements) must be installed in O(login_db) either way.
    type: bool
    default: true
  statement_length:
    description: Normalised statement texts are cut to this many characters.
    type: int
    default: 500
  expected_standbys:
    description:
      - Number of standbys a primary must have connected; fewer makes C(pg.replication_lag) critical.
      - C(0) means a primary without standbys is fine.
    type: int
    default: 0
  statement_timeout:
    description:
      - C(statement_timeout) of the checking session, a duration with a unit (C(10s), C(500ms), C(1min)).
      - A bare number is refused (other than C(0), no limit), since PostgreSQL reads one as milliseconds and the other
        modules of this collection as seconds, so it would be misread somewhere.
    type: str
    default: 10s
notes:
  - The role needs C(pg_monitor) (or at least C(pg_read_all_stats)) to see the sessions and statements of other roles;
    without it the session, lock, replication and statement checks are C(unknown) with a reason naming the grant.
  - Queries and their privileges are listed in the collection's C(docs/database_and_resources.md).
attributes:
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.resource_check
  - module: autopilotcx.maintenance.cache_check
  - name: The pg_stat_statements module
    description: How statements are normalised and counted.
    link: https://www.postgresql.org/docs/current/pgstatstatements.html
  - name: Preventing transaction ID wraparound failures
    description: Why C(xid_age) matters.
    link: https://www.postgresql.org/docs/current/routine-vacuuming.html#VACUUM-FOR-WRAPAROUND
'''

EXAMPLES = r'''
---
- name: Connection test every 15 minutes
  autopilotcx.maintenance.pg_check:
    login_host: db1.example.com
    login_user: monitor
    login_password: "{{ vault_pg_monitor_password }}"
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/internal-ca.pem
    checks: [connection, connections, replication, xid_age]
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
  register: pg_health

- name: Query performance every 6 hours, with the slow statements
  autopilotcx.maintenance.pg_check:
    login_host: db1.example.com
    login_user: monitor
    login_password: "{{ vault_pg_monitor_password }}"
    login_db: app
    checks: [long_running, idle_in_transaction, lock_waits, cache_hit_ratio, slow_statements]
    min_calls: 20
    thresholds: "{{ maintenance_checks_thresholds }}"
  register: pg_perf

- name: No check may be critical
  ansible.builtin.assert:
    that: pg_health.status != 'critical'
    fail_msg: "{{ pg_health.failed_checks | join(', ') }}"
'''

RETURN = r'''
checks:
  description:
    - One entry per check in the collection's result model; names are C(pg.connection), C(pg.connect_time),
      C(pg.connections_used), C(pg.long_running_queries), C(pg.idle_in_transaction), C(pg.lock_waits),
      C(pg.replication_lag), C(pg.cache_hit_ratio), C(pg.slow_statements) and C(pg.xid_age).
    - C(details) hold the sessions, standbys or statements behind a check.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Check name., type: str, returned: always, sample: pg.long_running_queries}
    status: {description: "C(ok), C(warning), C(critical) or C(unknown).", type: str, returned: always, sample: warning}
    value: {description: Measured value., type: raw, returned: always, sample: 412.5}
    unit: {description: Unit of the value., type: str, returned: always, sample: s}
    threshold: {description: The limit the value was held against., type: raw, returned: always, sample: 300}
    priority: {description: "C(low), C(medium) or C(high).", type: str, returned: always, sample: medium}
    reason: {description: One line saying why., type: str, returned: always,
             sample: "longest running query 412.5 s > 300 s; 1 active queries over 300 s (longest pid 4242, app)"}
    target: {description: "The server as C(user@host:port/db).", type: str, returned: always, sample: monitor@db1:5432/app}
    details: {description: "Sessions, standbys or statements behind the check.", type: dict, returned: when available,
              sample: {sessions: 1, over_threshold: 1, top: [{pid: 4242, user: app, database: app, seconds: 412.5}]}}
server:
  description: What was learned about the server.
  returned: always
  type: dict
  sample: {reachable: true, connect_seconds: 0.004, version: "15.8", version_num: 150008, in_recovery: false,
           role: monitor, database: app, can_read_all_stats: true}
status:
  description: The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);
    C(ok) when there is no check.
  returned: always
  type: str
  sample: warning
counts:
  description: Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.
  returned: always
  type: dict
  sample: {ok: 9, warning: 1, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: ["pg.long_running_queries (monitor@db1:5432/app)"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import check_argument_spec, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import postgres_argument_spec
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import pg_check


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(**postgres_argument_spec(
            checks=dict(type='list', elements='str', choices=list(pg_check.PIECES), default=list(pg_check.PIECES)),
            top=dict(type='int', default=10),
            min_calls=dict(type='int', default=1),
            all_databases=dict(type='bool', default=True),
            statement_length=dict(type='int', default=500),
            expected_standbys=dict(type='int', default=0),
            statement_timeout=dict(type='str', default='10s'),
        )),
        supports_check_mode=True,
    )
    deps.require(module, 'psycopg')
    report = run(module, pg_check.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
