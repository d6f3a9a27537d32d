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

Each entry is exactly one statement (``pg_sql.split``): a text holding several is refused, never
split, because a guard and a backup belong to one statement the operator counted. Transaction control,
session settings, DO/CALL, COPY and (without ``allow_ddl``) DDL are refused before connecting. Behind
that, at the database: every user text is sent as a prepared statement (PostgreSQL refuses several
commands in one), a deferred foreign key on a temporary table makes any COMMIT but the module's own
fail, the transaction status and id are checked after every statement, validations run read-only, and
a check-mode session defaults to read-only so nothing can write outside the transaction.
"""

import binascii
import os
import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import sql as pg_sql
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import connect, set_timeouts
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report, make_check


class FixAborted(Exception):
    """Raised inside the transaction to roll it back; carries what to report."""

    def __init__(self, message, **details):
        super(FixAborted, self).__init__(message)
        self.message = message
        self.details = details


class _Rollback(Exception):
    """Rolls back a check-mode run after every step succeeded."""


class EscapedTransaction(Exception):
    """A statement ended the module's transaction; whatever it committed cannot be taken back here."""

    def __init__(self, index, how):
        super(EscapedTransaction, self).__init__(how)
        self.index = index
        self.how = how


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


def _read_sql_file(index, path):
    """The text of a statement file; binary content (NUL bytes, invalid UTF-8) is refused by name."""
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise MaintenanceError('statement %d: cannot read %s: %s' % (index, path, exc.strerror or exc))
    if b'\x00' in data:
        raise MaintenanceError('statement %d: file %s holds NUL bytes at offset %d: a SQL file must be text, '
                               'this looks like a binary file' % (index, path, data.index(b'\x00')))
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise MaintenanceError('statement %d: file %s is not UTF-8 text (byte 0x%s at offset %d cannot be decoded): '
                               'save the SQL file as UTF-8' % (index, path, binascii.hexlify(data[exc.start:exc.start + 1])
                                                               .decode('ascii'), exc.start))
    return text[1:] if text.startswith(u'\ufeff') else text


def load_statement_files(statements):
    """Statements given as ``file`` (one SQL statement per file) get their ``sql`` read here."""
    for index, statement in enumerate(statements, 1):
        if statement.get('file') and statement.get('sql'):
            raise MaintenanceError('statement %d: give sql or file, not both' % index)
        if statement.get('file'):
            statement['sql'] = _read_sql_file(index, statement['file']).strip()
        if not statement.get('sql'):
            raise MaintenanceError('statement %d: sql (or file) is required' % index)
    return statements


def _origin(statement):
    return 'file %s' % statement['file'] if statement.get('file') else 'sql'


def _short(text, limit=120):
    text = ' '.join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


def single_statement(text, label, allow_ddl=False, read_only=False):
    """The one statement of ``text`` (comments, spaces and semicolons around it dropped); refuses anything else.

    ``label`` names the entry in messages (``statement 2 (file /x.sql)``, ``validation 'orphans'``).
    """
    if '\x00' in text:
        raise MaintenanceError('%s holds a NUL character at offset %d: SQL text cannot contain NUL'
                               % (label, text.index('\x00')))
    try:
        statements = pg_sql.split(text)
    except pg_sql.SqlTextError as exc:
        raise MaintenanceError('%s cannot be read as SQL: %s' % (label, exc))
    if not statements:
        raise MaintenanceError('%s holds no SQL statement (only comments, spaces or semicolons)' % label)
    if len(statements) > 1:
        second = statements[1]
        raise MaintenanceError(
            '%s holds %d SQL statements (the 2nd, at %s: %s); pg_data_fix runs exactly one statement per entry, '
            'each with its own guard and backup: list each statement as its own entry'
            % (label, len(statements), pg_sql.position(text, second.start), _short(second.text)))
    reason = pg_sql.refusal(statements[0], allow_ddl=allow_ddl, read_only=read_only)
    if reason:
        raise MaintenanceError('%s refused: "%s" %s' % (label, _short(statements[0].text), reason))
    return statements[0]


def check_sql(validations, statements, allow_ddl=False):
    """Every SQL text is one statement that may run in a guarded transaction (see ``pg_sql.refusal``)."""
    for validation in validations:
        label = 'validation %r' % validation['name']
        validation['query'] = single_statement(validation['query'], label, read_only=True).text
    for index, statement in enumerate(statements, 1):
        parsed = single_statement(statement['sql'], 'statement %d (%s)' % (index, _origin(statement)), allow_ddl)
        statement['sql'] = parsed.text
        statement['ddl'] = bool(parsed.words(1)) and parsed.words(1)[0] in pg_sql.DDL
        where = (statement.get('backup') or {}).get('where')
        if where:
            label = 'statement %d: backup.where' % index
            try:
                tokens = pg_sql.tokenize(where)
            except pg_sql.SqlTextError as exc:
                raise MaintenanceError('%s cannot be read as SQL: %s' % (label, exc))
            if any(t.kind == 'semicolon' for t in tokens):
                raise MaintenanceError('%s is a condition, not statements: it must not contain ";"' % label)
            depth = 0
            for token in tokens:
                depth += {'(': 1, ')': -1}.get(token.text, 0) if token.kind == 'punct' else 0
                if depth < 0:
                    break
            if depth:
                raise MaintenanceError('%s has unbalanced parentheses' % label)
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
    """Each query runs read-only (``SET LOCAL transaction_read_only`` in a savepoint rolled back after it)."""
    values, checks = {}, []
    for validation in validations:
        cur.execute('SAVEPOINT data_fix_validation')
        cur.execute('SET LOCAL transaction_read_only = on')
        try:
            cur.execute(validation['query'], validation.get('params') or None, prepare=True)
        except deps.load('psycopg').errors.ReadOnlySqlTransaction as exc:
            raise FixAborted('validation %r tried to write (validations run read-only): %s'
                             % (validation['name'], _first_line(exc)))
        row = cur.fetchone() if cur.description else None
        cur.execute('ROLLBACK TO SAVEPOINT data_fix_validation')
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
        cur.execute(query, [change_ref, index, source_schema, source_table] + list(backup.get('params') or []), prepare=True)
        counts.append(cur.rowcount)
    return counts


def _arm_commit_trap(cur, sql):
    """A deferred foreign key that fails at COMMIT until ``_disarm_commit_trap``: no commit but ours can succeed.

    Returns the parent table; both tables are temporary, created in the transaction, gone with it.
    """
    suffix = binascii.hexlify(os.urandom(6)).decode('ascii')
    parent = sql.Identifier('pg_temp', 'data_fix_commit_guard_%s' % suffix)
    child = sql.Identifier('pg_temp', 'data_fix_commit_trap_%s' % suffix)
    cur.execute(sql.SQL('CREATE TEMPORARY TABLE {} (armed int PRIMARY KEY) ON COMMIT DROP').format(parent))
    cur.execute(sql.SQL('CREATE TEMPORARY TABLE {} (armed int REFERENCES {} DEFERRABLE INITIALLY DEFERRED) '
                        'ON COMMIT DROP').format(child, parent))
    cur.execute(sql.SQL('INSERT INTO {} VALUES (1)').format(child))
    return parent


def _disarm_commit_trap(cur, sql, parent):
    cur.execute(sql.SQL('INSERT INTO {} VALUES (1)').format(parent))


def _transaction_id(cur):
    cur.execute('SELECT txid_current()')
    return cur.fetchone()[0]


def _still_in_transaction(conn, cur, xid, index):
    """Raise when statement ``index`` ended the module's transaction (belt and braces behind the lexer)."""
    status = conn.info.transaction_status
    pq = deps.load('psycopg').pq
    if status != pq.TransactionStatus.INTRANS:
        raise EscapedTransaction(index, 'the session is no longer in the transaction (status %s)' % status.name)
    cur.execute('SELECT txid_current_if_assigned()')
    current = cur.fetchone()[0]
    if current != xid:
        raise EscapedTransaction(index, 'the transaction id changed from %s to %s' % (xid, current))


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def apply_fix(params, check_mode=False):
    """Run the whole correction; returns the result dict. Raises MaintenanceError when nothing was changed."""
    psycopg = deps.load('psycopg')
    sql = psycopg.sql
    validations = params.get('validations') or []
    validations = [dict(v) for v in validations]
    statements = load_statement_files([dict(s) for s in params['statements']])
    validate_spec(validations, statements)
    check_sql(validations, statements, allow_ddl=bool(params.get('allow_ddl')))
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
    conn = connection.conn
    try:
        with conn.cursor() as cur:
            if check_mode:
                # Anything that ever ran outside the transaction below would be read-only.
                cur.execute('SET default_transaction_read_only = on')
            try:
                with conn.transaction():
                    if check_mode:
                        cur.execute('SET TRANSACTION READ WRITE')
                    set_timeouts(cur, lock_timeout=params.get('lock_timeout'),
                                 statement_timeout=params.get('statement_timeout'), local=True)
                    cur.execute('SET LOCAL standard_conforming_strings = on')  # the lexer's reading of '...'
                    trap = _arm_commit_trap(cur, sql)
                    xid = _transaction_id(cur)
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
                        if statement.get('ddl'):
                            entry['ddl'] = True
                        result['statements'].append(entry)
                        try:
                            cur.execute(statement['sql'], statement.get('params') or None, prepare=True)
                        except psycopg.errors.LockNotAvailable as exc:
                            raise FixAborted('statement %d waited longer than lock_timeout %s for a lock: %s'
                                             % (index, params.get('lock_timeout'), _first_line(exc)))
                        except psycopg.errors.QueryCanceled as exc:
                            raise FixAborted('statement %d ran longer than statement_timeout %s: %s'
                                             % (index, params.get('statement_timeout'), _first_line(exc)))
                        except psycopg.errors.ForeignKeyViolation as exc:
                            if (exc.diag.table_name or '').startswith('data_fix_commit_trap_'):
                                raise FixAborted('statement %d tried to end the transaction; the commit trap refused '
                                                 'the COMMIT' % index)
                            raise FixAborted('statement %d failed: %s' % (index, _first_line(exc)))
                        except psycopg.Error as exc:
                            raise FixAborted('statement %d failed: %s' % (index, _first_line(exc)))
                        affected = max(cur.rowcount, 0)  # DDL reports no row count
                        _still_in_transaction(conn, cur, xid, index)
                        entry['affected_rows'] = affected
                        if not guard_ok(statement, affected):
                            raise FixAborted('statement %d affected %d row(s), expected %s: %s'
                                             % (index, affected, guard_text(statement), statement['sql']))
                    result['after'], after_checks = _run_validations(cur, validations, 'after')
                    result['checks'].extend(after_checks)
                    failing = [c for c in after_checks if c['status'] != 'ok']
                    if failing:
                        raise FixAborted('validation still fails after the correction: %s'
                                         % '; '.join(c['reason'] for c in failing))
                    _still_in_transaction(conn, cur, xid, 'validation')
                    if check_mode:
                        raise _Rollback()
                    _disarm_commit_trap(cur, sql, trap)
            except _Rollback:
                pass
            else:
                result['committed'] = True
    except EscapedTransaction as exc:
        result['duration'] = round(time.monotonic() - started, 3)
        result['escaped'] = True
        where = 'statement %s' % exc.index if exc.index != 'validation' else 'a validation'
        raise MaintenanceError('Correction %s stopped: %s ended the transaction (%s). The commit trap makes any '
                               'COMMIT other than the module\'s own fail, so nothing should have been committed; '
                               'check the data and the backup table %s.%s before trusting that' % (
                                   change_ref, where, exc.how, params['audit_schema'], params['backup_table']), **result)
    except FixAborted as exc:
        result['duration'] = round(time.monotonic() - started, 3)
        raise MaintenanceError('Correction %s rolled back, nothing was changed: %s' % (change_ref, exc.message), **result)
    except psycopg.Error as exc:
        result['duration'] = round(time.monotonic() - started, 3)
        raise MaintenanceError('Correction %s rolled back, nothing was changed: %s' % (change_ref, _first_line(exc)), **result)
    finally:
        connection.close()
    result['duration'] = round(time.monotonic() - started, 3)
    touched = any(s.get('affected_rows') or s.get('ddl') for s in result['statements'])
    result['changed'] = result['committed'] and touched
    result['would_change'] = check_mode and touched
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


def run(params, check_mode=False, host=None):
    """The pg_data_fix module's entry (``result.Report``): ``apply_fix`` or ``restore`` by ``state``.

    The module has no ``fail_on``: its checks are the validations before and after, returned as they are (a
    validation failing before the correction is what the correction is for); a failure raises instead.
    """
    action = apply_fix if params['state'] == 'applied' else restore
    return Report.from_result(action(params, check_mode=check_mode), judged=False)
