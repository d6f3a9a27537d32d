# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Emergency data corrections in one guarded transaction (``pg_data_fix``).

Order of work, all inside one transaction with ``lock_timeout``/``statement_timeout``:

1. validation queries (``before``) - reported as checks;
2. backup: the rows each statement will touch are copied, as JSON, into
   ``<audit_schema>.<backup_table>`` with the change reference;
3. the correction statements, each guarded by its expected affected-row count;
4. validation queries (``after``) - the fix is committed only if they all pass.

Any guard, lock timeout or failed validation rolls everything back (backup included:
nothing half-done remains). Check mode runs every step and rolls back.
``restore(...)`` puts the backed-up rows of a change reference back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.postgres import connect, set_timeouts
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.result import make_check


class FixAborted(Exception):
    """Raised inside the transaction to roll it back; carries what to report."""

    def __init__(self, message, **details):
        super(FixAborted, self).__init__(message)
        self.message = message
        self.details = details


class _Rollback(Exception):
    """Rolls back a check-mode run after every step succeeded."""


def expectation_text(expect):
    parts = []
    if 'equals' in expect and expect['equals'] is not None:
        parts.append('= %r' % (expect['equals'],))
    if expect.get('min') is not None:
        parts.append('>= %s' % expect['min'])
    if expect.get('max') is not None:
        parts.append('<= %s' % expect['max'])
    return ' and '.join(parts) or 'true'


def meets(value, expect):
    """True when a validation value satisfies its expectation (equals / min / max; bare: truthy)."""
    if not any(expect.get(k) is not None for k in ('equals', 'min', 'max')):
        return bool(value)
    if expect.get('equals') is not None and value != expect['equals']:
        return False
    try:
        if expect.get('min') is not None and not value >= expect['min']:
            return False
        if expect.get('max') is not None and not value <= expect['max']:
            return False
    except TypeError:
        return False
    return True


def load_statement_files(statements):
    """Statements given as ``file`` (one SQL statement per file) get their ``sql`` read here."""
    for index, statement in enumerate(statements, 1):
        if statement.get('file') and statement.get('sql'):
            raise MaintenanceError('statement %d: give sql or file, not both' % index)
        if statement.get('file'):
            try:
                with open(statement['file']) as handle:
                    statement['sql'] = handle.read().strip()
            except (IOError, OSError) as exc:
                raise MaintenanceError('statement %d: cannot read %s: %s' % (index, statement['file'], exc.strerror or exc))
        if not statement.get('sql'):
            raise MaintenanceError('statement %d: sql (or file) is required' % index)
    return statements


def validate_spec(validations, statements):
    """Reject malformed input before connecting; messages name the offending entry."""
    if not statements:
        raise MaintenanceError('statements is empty: a correction needs at least one statement')
    names = set()
    for validation in validations:
        if validation['name'] in names:
            raise MaintenanceError('validation %r is listed twice' % validation['name'])
        names.add(validation['name'])
    for index, statement in enumerate(statements, 1):
        rows = statement.get('expected_rows')
        low, high = statement.get('min_rows'), statement.get('max_rows')
        if rows is None and low is None and high is None:
            raise MaintenanceError('statement %d has no guard: give expected_rows, or min_rows/max_rows' % index)
        if rows is not None and (low is not None or high is not None):
            raise MaintenanceError('statement %d: expected_rows excludes min_rows/max_rows' % index)
        if low is not None and high is not None and low > high:
            raise MaintenanceError('statement %d: min_rows %s is greater than max_rows %s' % (index, low, high))
        backup = statement.get('backup')
        if backup and not backup.get('table'):
            raise MaintenanceError('statement %d: backup needs the table whose rows the statement touches' % index)


def guard_text(statement):
    if statement.get('expected_rows') is not None:
        return 'exactly %d' % statement['expected_rows']
    low, high = statement.get('min_rows'), statement.get('max_rows')
    if low is not None and high is not None:
        return 'between %d and %d' % (low, high)
    if low is not None:
        return 'at least %d' % low
    return 'at most %d' % high


def guard_ok(statement, count):
    if statement.get('expected_rows') is not None:
        return count == statement['expected_rows']
    if statement.get('min_rows') is not None and count < statement['min_rows']:
        return False
    if statement.get('max_rows') is not None and count > statement['max_rows']:
        return False
    return True


def _run_validations(cur, validations, phase):
    values, checks = {}, []
    for validation in validations:
        cur.execute(validation['query'], validation.get('params') or None)
        row = cur.fetchone()
        value = row[0] if row else None
        expect = validation.get('expect') or {}
        passed = meets(value, expect)
        values[validation['name']] = value
        checks.append(make_check(
            'data.%s.%s' % (phase, validation['name']), 'ok' if passed else 'critical',
            '%s = %r, expected %s' % (validation['name'], value, expectation_text(expect)),
            value=value if isinstance(value, (int, float, str, bool)) or value is None else str(value),
            threshold=expectation_text(expect), priority='high'))
    return values, checks


def _ensure_backup_table(cur, sql, schema, table):
    cur.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(schema)))
    cur.execute(sql.SQL(
        'CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, change_ref text NOT NULL, '
        'backed_up_at timestamptz NOT NULL DEFAULT now(), statement_no int NOT NULL, '
        'source_schema text NOT NULL, source_table text NOT NULL, row_data jsonb NOT NULL)'
    ).format(sql.Identifier(schema, table)))


def _source_parts(cur, name):
    """(schema, table) of a source table, resolved by PostgreSQL (search_path honoured)."""
    cur.execute('SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace '
                'WHERE c.oid = %s::regclass', (_regclass_text(name),))
    row = cur.fetchone()
    return row[0], row[1]


def _regclass_text(name):
    """Text for a ``::regclass`` cast with every part quoted (the value is passed as a parameter)."""
    parts = list(name) if isinstance(name, (list, tuple)) else (str(name).split('.', 1) if '.' in str(name) else [str(name)])
    return '.'.join('"%s"' % part.replace('"', '""') for part in parts)


def _backup(cur, sql, params, change_ref, statements):
    schema, table = params['audit_schema'], params['backup_table']
    if any(statement.get('backup') for statement in statements):
        _ensure_backup_table(cur, sql, schema, table)
    counts = []
    for index, statement in enumerate(statements, 1):
        backup = statement.get('backup')
        if not backup:
            counts.append(None)
            continue
        try:
            source_schema, source_table = _source_parts(cur, backup['table'])
        except deps.load('psycopg').Error as exc:
            raise FixAborted('statement %d: backup table %s: %s' % (index, backup['table'], _first_line(exc)))
        query = sql.SQL('INSERT INTO {} (change_ref, statement_no, source_schema, source_table, row_data) '
                        'SELECT %s, %s, %s, %s, to_jsonb(t) FROM {} AS t').format(
            sql.Identifier(schema, table), sql.Identifier(source_schema, source_table))
        if backup.get('where'):
            query = sql.Composed([query, sql.SQL(' WHERE '), sql.SQL(backup['where'])])
        cur.execute(query, [change_ref, index, source_schema, source_table] + list(backup.get('params') or []))
        counts.append(cur.rowcount)
    return counts


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def apply_fix(params, check_mode=False):
    """Run the whole correction; returns the result dict. Raises MaintenanceError when nothing was changed."""
    psycopg = deps.load('psycopg')
    sql = psycopg.sql
    validations = params.get('validations') or []
    statements = load_statement_files([dict(s) for s in params['statements']])
    validate_spec(validations, statements)
    change_ref = params['change_ref']
    result = {
        'change_ref': change_ref, 'committed': False, 'check_mode': check_mode,
        'backup': {'schema': params['audit_schema'], 'table': params['backup_table'], 'rows': 0},
        'statements': [], 'before': {}, 'after': {}, 'checks': [],
    }
    connection = connect(params)
    if not connection.ok:
        raise MaintenanceError('Cannot connect to %s: %s' % (connection.target, connection.error), **result)
    started = time.monotonic()
    try:
        with connection.conn.cursor() as cur:
            try:
                with connection.conn.transaction():
                    set_timeouts(cur, lock_timeout=params.get('lock_timeout'),
                                 statement_timeout=params.get('statement_timeout'), local=True)
                    result['before'], before_checks = _run_validations(cur, validations, 'before')
                    result['checks'].extend(before_checks)
                    if params.get('require_failing_validation') and validations and \
                            all(c['status'] == 'ok' for c in before_checks):
                        raise FixAborted('every validation already passes before the correction; nothing to fix')
                    counts = _backup(cur, sql, params, change_ref, statements)
                    result['backup']['rows'] = sum(c for c in counts if c)
                    for index, statement in enumerate(statements, 1):
                        entry = {'number': index, 'sql': statement['sql'], 'guard': guard_text(statement),
                                 'backed_up_rows': counts[index - 1]}
                        result['statements'].append(entry)
                        try:
                            cur.execute(statement['sql'], statement.get('params') or None)
                        except psycopg.errors.LockNotAvailable as exc:
                            raise FixAborted('statement %d waited longer than lock_timeout %s for a lock: %s'
                                             % (index, params.get('lock_timeout'), _first_line(exc)))
                        except psycopg.errors.QueryCanceled as exc:
                            raise FixAborted('statement %d ran longer than statement_timeout %s: %s'
                                             % (index, params.get('statement_timeout'), _first_line(exc)))
                        except psycopg.Error as exc:
                            raise FixAborted('statement %d failed: %s' % (index, _first_line(exc)))
                        entry['affected_rows'] = cur.rowcount
                        if not guard_ok(statement, cur.rowcount):
                            raise FixAborted('statement %d affected %d row(s), expected %s: %s'
                                             % (index, cur.rowcount, guard_text(statement), statement['sql']))
                    result['after'], after_checks = _run_validations(cur, validations, 'after')
                    result['checks'].extend(after_checks)
                    failing = [c for c in after_checks if c['status'] != 'ok']
                    if failing:
                        raise FixAborted('validation still fails after the correction: %s'
                                         % '; '.join(c['reason'] for c in failing))
                    if check_mode:
                        raise _Rollback()
            except _Rollback:
                pass
            else:
                result['committed'] = True
    except FixAborted as exc:
        result['duration'] = round(time.monotonic() - started, 3)
        raise MaintenanceError('Correction %s rolled back, nothing was changed: %s' % (change_ref, exc.message), **result)
    except psycopg.Error as exc:
        result['duration'] = round(time.monotonic() - started, 3)
        raise MaintenanceError('Correction %s rolled back, nothing was changed: %s' % (change_ref, _first_line(exc)), **result)
    finally:
        connection.close()
    result['duration'] = round(time.monotonic() - started, 3)
    result['changed'] = result['committed'] and any(s.get('affected_rows') for s in result['statements'])
    result['would_change'] = check_mode and any(s.get('affected_rows') for s in result['statements'])
    return result


def _primary_key(cur, schema, table):
    cur.execute('SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid '
                'AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attnum',
                (_regclass_text([schema, table]),))
    return [row[0] for row in cur.fetchall()]


def _columns(cur, schema, table):
    cur.execute('SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s '
                'ORDER BY ordinal_position', (schema, table))
    return [row[0] for row in cur.fetchall()]


def restore(params, check_mode=False):
    """Put back the rows backed up under ``change_ref``: deleted rows re-inserted, changed rows reset (by primary key)."""
    psycopg = deps.load('psycopg')
    sql = psycopg.sql
    change_ref = params['change_ref']
    result = {'change_ref': change_ref, 'restored': {}, 'committed': False, 'check_mode': check_mode,
              'backup': {'schema': params['audit_schema'], 'table': params['backup_table']}}
    connection = connect(params)
    if not connection.ok:
        raise MaintenanceError('Cannot connect to %s: %s' % (connection.target, connection.error), **result)
    backup = sql.Identifier(params['audit_schema'], params['backup_table'])
    try:
        with connection.conn.cursor() as cur:
            try:
                with connection.conn.transaction():
                    set_timeouts(cur, lock_timeout=params.get('lock_timeout'),
                                 statement_timeout=params.get('statement_timeout'), local=True)
                    cur.execute(sql.SQL('SELECT DISTINCT source_schema, source_table FROM {} WHERE change_ref = %s')
                                .format(backup), (change_ref,))
                    sources = cur.fetchall()
                    if not sources:
                        raise FixAborted('no backup rows for change %s in %s.%s'
                                         % (change_ref, params['audit_schema'], params['backup_table']))
                    for schema, table in sources:
                        keys = _primary_key(cur, schema, table)
                        if not keys:
                            raise FixAborted('%s.%s has no primary key; restore its rows by hand from %s.%s'
                                             % (schema, table, params['audit_schema'], params['backup_table']))
                        columns = _columns(cur, schema, table)
                        target = sql.Identifier(schema, table)
                        updates = [c for c in columns if c not in keys]
                        conflict = sql.SQL('DO NOTHING') if not updates else sql.SQL('DO UPDATE SET {}').format(
                            sql.SQL(', ').join(sql.SQL('{} = EXCLUDED.{}').format(sql.Identifier(c), sql.Identifier(c))
                                               for c in updates))
                        # The earliest backup of each row is its state before the change.
                        statement = sql.SQL(
                            'INSERT INTO {target} ({cols}) SELECT {cols} FROM ('
                            'SELECT DISTINCT ON ({keys}) r.* FROM {backup} b, '
                            'LATERAL jsonb_populate_record(NULL::{target}, b.row_data) r '
                            'WHERE b.change_ref = %s AND b.source_schema = %s AND b.source_table = %s '
                            'ORDER BY {keys}, b.id) AS original '
                            'ON CONFLICT ({keys}) {conflict}').format(
                            target=target, backup=backup, conflict=conflict,
                            cols=sql.SQL(', ').join(sql.Identifier(c) for c in columns),
                            keys=sql.SQL(', ').join(sql.Identifier(k) for k in keys))
                        cur.execute(statement, (change_ref, schema, table))
                        result['restored']['%s.%s' % (schema, table)] = cur.rowcount
                    if check_mode:
                        raise _Rollback()
            except _Rollback:
                pass
            else:
                result['committed'] = True
    except FixAborted as exc:
        raise MaintenanceError('Restore of %s rolled back: %s' % (change_ref, exc.message), **result)
    except psycopg.Error as exc:
        raise MaintenanceError('Restore of %s rolled back: %s' % (change_ref, _first_line(exc)), **result)
    finally:
        connection.close()
    result['changed'] = result['committed'] and any(result['restored'].values())
    return result

