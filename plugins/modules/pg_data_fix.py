#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: pg_data_fix
short_description: Correct bad data in PostgreSQL in one guarded, verified transaction with a way back
version_added: 0.1.0
description:
  - Runs validation queries, backs up the rows the correction will touch into an audit table, runs the correction
    statements each guarded by its expected number of affected rows, re-runs the validations, and commits only when
    every guard held and every validation passes. Anything else rolls back the whole transaction, backup included.
  - All of it runs in one transaction with O(lock_timeout) and O(statement_timeout), so a statement that waits on a
    lock held by another session times out cleanly and nothing is changed.
  - O(state=restored) puts the backed-up rows of a change reference back (deleted rows re-inserted, changed rows reset,
    by primary key).
  - Validations are reported as checks of the collection's result model (C(data.before.<name>), C(data.after.<name>)).
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.postgres
options:
  state:
    description:
      - C(applied) runs the correction; C(restored) puts the backup of O(change_ref) back.
    type: str
    choices: [applied, restored]
    default: applied
  change_ref:
    description: Change or incident reference; stored with every backed-up row and required to restore.
    type: str
    required: true
  validations:
    description:
      - Queries returning one value (a count or a boolean) in their first column, with the healthy value.
      - Without O(validations[].expect) a truthy value is healthy.
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: Name of the validation (used in the check name)., type: str, required: true}
      query:
        description:
          - One query (C(SELECT), C(WITH), C(VALUES) or C(TABLE)) returning one row; values as C(%s) placeholders.
          - It runs read-only (C(SET LOCAL transaction_read_only) in a savepoint), so a query that writes is stopped.
        type: str
        required: true
      params: {description: Values for the placeholders., type: list, elements: raw, default: []}
      expect:
        description: Healthy value, C(equals), and/or a range C(min)/C(max).
        type: dict
        suboptions:
          equals: {description: Exact healthy value., type: raw}
          min: {description: Smallest healthy value., type: float}
          max: {description: Largest healthy value., type: float}
  statements:
    description:
      - The correction script, in order. Each statement is guarded by O(statements[].expected_rows) or by
        O(statements[].min_rows)/O(statements[].max_rows).
      - Required when O(state=applied).
      - Each entry is exactly B(one) statement. A text holding several (V(UPDATE ...; DELETE ...)) is refused, never
        split, because a guard and a backup belong to one statement. Semicolons inside strings, quoted identifiers, dollar quotes
        and comments do not count; trailing semicolons, comments and spaces are fine.
      - Refused before connecting, with the statement named - transaction control (C(BEGIN), C(START), C(COMMIT),
        C(END), C(ROLLBACK), C(ABORT), C(SAVEPOINT), C(RELEASE), C(PREPARE TRANSACTION), C(COMMIT PREPARED)),
        session settings (C(SET) other than C(SET LOCAL), C(RESET), C(SET SESSION CHARACTERISTICS)), C(SET LOCAL) of a
        setting that guards the transaction, C(DO) and C(CALL), C(COPY), C(EXPLAIN), calls of C(set_config) and
        C(dblink), and DDL (C(CREATE), C(ALTER), C(DROP), C(TRUNCATE), C(GRANT), C(REVOKE), C(VACUUM), C(SELECT INTO), ...)
        unless O(allow_ddl=true).
    type: list
    elements: dict
    default: []
    suboptions:
      sql: {description: Exactly one SQL statement; values as C(%s) placeholders., type: str}
      file:
        description:
          - A UTF-8 text file on the target holding exactly one SQL statement (instead of O(statements[].sql)).
          - A file with NUL bytes or bytes that are not UTF-8 is refused with its offset.
        type: path
      params: {description: Values for the placeholders., type: list, elements: raw, default: []}
      expected_rows: {description: Exact number of rows the statement must affect., type: int}
      min_rows: {description: Fewest rows the statement may affect., type: int}
      max_rows: {description: Most rows the statement may affect., type: int}
      backup:
        description: The rows this statement touches, copied before anything changes.
        type: dict
        suboptions:
          table:
            description: Table (C(schema.table)) whose rows are backed up; quoted as an identifier.
            type: str
            required: true
          where:
            description: SQL condition selecting the rows (the statement's own WHERE clause); one condition, no C(;).
            type: str
          params:
            description: Values for placeholders in O(statements[].backup.where).
            type: list
            elements: raw
            default: []
  audit_schema:
    description: Schema of the backup table (created when missing).
    type: str
    default: audit
  backup_table:
    description: Backup table (created when missing) holding C(change_ref), statement number, source table and the row as JSON.
    type: str
    default: data_fix_backup
  lock_timeout:
    description:
      - PostgreSQL C(lock_timeout) for the transaction, a duration with a unit (C(5s), C(500ms)).
      - A bare number is refused (other than C(0), no limit), since PostgreSQL reads one as milliseconds and the other
        modules of this collection as seconds, so it would be misread somewhere.
    type: str
    default: 5s
  statement_timeout:
    description:
      - PostgreSQL C(statement_timeout) for the transaction, a duration with a unit (C(5min), C(30s)).
      - A bare number is refused (other than C(0), no limit), as for O(lock_timeout).
    type: str
    default: 5min
  require_failing_validation:
    description: Refuse to run when every validation already passes before the correction (nothing to fix).
    type: bool
    default: false
  allow_ddl:
    description:
      - Allow DDL statements (C(CREATE), C(ALTER), C(DROP), C(TRUNCATE), C(GRANT), C(REVOKE), C(COMMENT), C(SELECT INTO), ...).
      - DDL reports no row count; its guard counts 0 rows (V(expected_rows=0)). C(TRUNCATE) removes rows without
        counting them, so back them up. Transaction control, session settings, C(DO), C(CALL) and C(COPY) stay refused.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - Runs every step (validations, backup, statements, guards, re-validation) and rolls back; reports what would change.
      - The transaction cannot commit (a deferred foreign key on a temporary table fails any COMMIT), and the session
        defaults to read-only, so nothing can write outside it. Sequence values consumed by C(nextval) are not given back
        (PostgreSQL sequences are not transactional).
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Identifiers from inventory (O(audit_schema), O(backup_table), O(statements[].backup.table)) are quoted with C(psycopg.sql);
    values always travel as parameters. The statements and conditions themselves are SQL you wrote and are run as given.
  - The module fails (and changes nothing) when a guard, a timeout or a validation stops the correction; the result
    still holds every value measured, so the run is recorded by the outcome callback.
  - Behind the statement check, the database guards too - every SQL text is sent as a prepared statement (PostgreSQL
    refuses several commands in one), a deferred foreign key on a temporary table makes every COMMIT but the module's
    own fail, and the transaction status and id are checked after every statement. The transaction runs with
    C(standard_conforming_strings=on).
  - Functions called by a statement run as written; besides C(set_config) and C(dblink), which are refused, a function
    with effects outside the database (C(lo_export), an extension writing files) is not undone by a rollback.
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - name: Emergency data corrections
    description: The playbook, its approval and the restore procedure.
    link: https://example.invalid/autopilotcx/maintenance/docs/data_fixes.md
'''

EXAMPLES = r'''
---
- name: Fix orders that point at deleted customers
  autopilotcx.maintenance.pg_data_fix:
    login_host: db1.example.com
    login_db: shop
    change_ref: CHG-2042
    validations:
      - name: orphan_orders
        query: SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id)
        expect: {equals: 0}
    statements:
      - sql: UPDATE orders SET customer_id = %s WHERE customer_id = %s
        params: [1001, 999]
        expected_rows: 3
        backup: {table: public.orders, where: "customer_id = %s", params: [999]}
  register: fix

- name: Show what changed
  ansible.builtin.assert:
    that:
      - fix.committed
      - fix.after.orphan_orders == 0

- name: Undo it
  autopilotcx.maintenance.pg_data_fix:
    login_host: db1.example.com
    login_db: shop
    change_ref: CHG-2042
    state: restored
'''

RETURN = r'''
committed:
  description: Whether the transaction was committed (never in check mode).
  returned: always
  type: bool
  sample: true
before:
  description: Validation values before the correction, by name.
  returned: state=applied
  type: dict
  sample: {orphan_orders: 3}
after:
  description: Validation values after the correction (inside the transaction), by name.
  returned: state=applied and the statements ran
  type: dict
  sample: {orphan_orders: 0}
statements:
  description: The statements run, with their guard and the rows they affected and backed up.
  returned: state=applied
  type: list
  elements: dict
  sample: [{number: 1, sql: "UPDATE orders SET customer_id = %s WHERE customer_id = %s", guard: exactly 3, affected_rows: 3, backed_up_rows: 3}]
escaped:
  description: Set when a statement ended the module's transaction (should never happen; check the data).
  returned: when a statement ended the transaction
  type: bool
  sample: true
backup:
  description: Where the backed-up rows are, and how many.
  returned: always
  type: dict
  sample: {schema: audit, table: data_fix_backup, rows: 3}
restored:
  description: Rows put back per table.
  returned: state=restored
  type: dict
  sample: {public.orders: 3}
checks:
  description: The validations before and after, in the collection's result model.
  returned: state=applied
  type: list
  elements: dict
  sample: [{name: data.after.orphan_orders, status: ok, value: 0, unit: null, threshold: "= 0", priority: high, reason: "orphan_orders = 0, expected = 0"}]
duration:
  description: Seconds the transaction took.
  returned: state=applied
  type: float
  sample: 0.042
would_change:
  description: In check mode, whether the correction would change rows.
  returned: state=applied
  type: bool
  sample: false
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import postgres_argument_spec
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import pg_data_fix


def main():
    module = AnsibleModule(
        argument_spec=postgres_argument_spec(
            state=dict(type='str', default='applied', choices=['applied', 'restored']),
            change_ref=dict(type='str', required=True),
            validations=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                query=dict(type='str', required=True),
                params=dict(type='list', elements='raw', default=[]),
                expect=dict(type='dict', options=dict(equals=dict(type='raw'), min=dict(type='float'), max=dict(type='float'))),
            )),
            statements=dict(type='list', elements='dict', default=[], options=dict(
                sql=dict(type='str'),
                file=dict(type='path'),
                params=dict(type='list', elements='raw', default=[]),
                expected_rows=dict(type='int'),
                min_rows=dict(type='int'),
                max_rows=dict(type='int'),
                backup=dict(type='dict', options=dict(
                    table=dict(type='str', required=True),
                    where=dict(type='str'),
                    params=dict(type='list', elements='raw', default=[]),
                )),
            )),
            audit_schema=dict(type='str', default='audit'),
            backup_table=dict(type='str', default='data_fix_backup'),
            lock_timeout=dict(type='str', default='5s'),
            statement_timeout=dict(type='str', default='5min'),
            require_failing_validation=dict(type='bool', default=False),
            allow_ddl=dict(type='bool', default=False),
        ),
        required_if=[('state', 'applied', ['statements'])],
        supports_check_mode=True,
    )
    deps.require(module, 'psycopg')
    report = run(module, pg_data_fix.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
