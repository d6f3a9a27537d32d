"""pg_data_fix on a real PostgreSQL: commit, guards, validation, check mode, backup/restore, lock timeout, quoting."""

import threading

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils import pg_data_fix as fix
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.errors import MaintenanceError

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric NOT NULL, note text);
INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace');
INSERT INTO orders VALUES (10, 1, 5, 'ok'), (11, 2, 7, 'ok'), (12, 999, 3, 'orphan a'), (13, 999, 4, 'orphan b'),
                          (14, 998, -1, 'orphan, negative');
"""
ORPHANS = 'SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id)'


@pytest.fixture()
def shop(postgres, postgres_db):
    with postgres.connect(postgres_db) as conn:
        conn.execute(SCHEMA)
    params = dict(postgres.params, login_db=postgres_db, change_ref='CHG-1', audit_schema='audit',
                  backup_table='data_fix_backup', lock_timeout='1s', statement_timeout='30s',
                  validations=[{'name': 'orphan_orders', 'query': ORPHANS, 'expect': {'equals': 0}}])
    return postgres, postgres_db, params


def orders(postgres, db):
    return postgres.execute('SELECT id, customer_id, total, note FROM orders ORDER BY id', dbname=db)


def reassign(expected_rows=3):
    return [{'sql': 'UPDATE orders SET customer_id = %s WHERE customer_id > %s', 'params': [1, 900],
             'expected_rows': expected_rows,
             'backup': {'table': 'public.orders', 'where': 'customer_id > %s', 'params': [900]}}]


def test_correction_commits_when_guards_hold_and_validation_passes(shop):
    postgres, db, params = shop
    result = fix.apply_fix(dict(params, statements=reassign()))
    assert result['committed'] is True and result['changed'] is True
    assert result['before'] == {'orphan_orders': 3} and result['after'] == {'orphan_orders': 0}
    assert [c['status'] for c in result['checks']] == ['critical', 'ok']
    assert result['statements'][0]['affected_rows'] == 3 and result['statements'][0]['backed_up_rows'] == 3
    assert result['backup'] == {'schema': 'audit', 'table': 'data_fix_backup', 'rows': 3}
    assert postgres.execute(ORPHANS, dbname=db) == [(0,)]
    backups = postgres.execute("SELECT change_ref, source_schema, source_table, row_data->>'id' FROM audit.data_fix_backup "
                               "ORDER BY 4", dbname=db)
    assert backups == [('CHG-1', 'public', 'orders', '12'), ('CHG-1', 'public', 'orders', '13'),
                       ('CHG-1', 'public', 'orders', '14')]


def test_guard_mismatch_rolls_everything_back(shop):
    postgres, db, params = shop
    before = orders(postgres, db)
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(dict(params, statements=reassign(expected_rows=2)))
    assert 'statement 1 affected 3 row(s), expected exactly 2' in raised.value.message
    assert 'UPDATE orders SET customer_id' in raised.value.message
    assert raised.value.details['committed'] is False
    assert orders(postgres, db) == before
    # the backup was rolled back with the rest: no half-done trace
    assert postgres.execute("SELECT to_regclass('audit.data_fix_backup') IS NULL", dbname=db) == [(True,)]


def test_correction_that_leaves_validation_failing_rolls_back(shop):
    postgres, db, params = shop
    before = orders(postgres, db)
    partial = [{'sql': 'UPDATE orders SET customer_id = 1 WHERE customer_id = 999', 'expected_rows': 2}]
    with pytest.raises(MaintenanceError, match='validation still fails after the correction: orphan_orders = 1'):
        fix.apply_fix(dict(params, statements=partial))
    assert orders(postgres, db) == before


def test_check_mode_reports_and_changes_nothing(shop):
    postgres, db, params = shop
    before = orders(postgres, db)
    result = fix.apply_fix(dict(params, statements=reassign()), check_mode=True)
    assert result['committed'] is False and result['would_change'] is True and result['changed'] is False
    assert result['after'] == {'orphan_orders': 0}  # what it would be
    assert orders(postgres, db) == before
    assert postgres.execute("SELECT to_regclass('audit.data_fix_backup') IS NULL", dbname=db) == [(True,)]


def test_backup_rows_restore_the_original_data(shop):
    postgres, db, params = shop
    before = orders(postgres, db)
    statements = reassign() + [{'sql': 'DELETE FROM orders WHERE total < 0', 'expected_rows': 1,
                                'backup': {'table': 'orders', 'where': 'total < 0'}}]
    result = fix.apply_fix(dict(params, statements=statements))
    assert result['committed'] and result['backup']['rows'] == 4
    assert len(orders(postgres, db)) == 4
    restored = fix.restore(dict(params, change_ref='CHG-1'))
    assert restored['committed'] is True and restored['restored'] == {'public.orders': 3}
    assert orders(postgres, db) == before  # the changed rows reset and the deleted row back


def test_restore_without_backup_is_a_clear_error(shop):
    _postgres, _db, params = shop
    with pytest.raises(MaintenanceError, match='Restore of NOPE rolled back'):
        fix.restore(dict(params, change_ref='NOPE'))


def test_statement_waiting_on_a_lock_times_out_cleanly(shop):
    postgres, db, params = shop
    before = orders(postgres, db)
    holder = postgres.connect(db, autocommit=False)
    holder.execute('SELECT * FROM orders WHERE id = 12 FOR UPDATE')
    try:
        with pytest.raises(MaintenanceError) as raised:
            fix.apply_fix(dict(params, lock_timeout='300ms', statements=reassign()))
        assert 'waited longer than lock_timeout 300ms for a lock' in raised.value.message
    finally:
        holder.rollback()
        holder.close()
    assert orders(postgres, db) == before
    active = postgres.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                              (db, 'autopilotcx.maintenance'))
    assert active == [(0,)]  # the module's session is gone, nothing left holding locks


@pytest.mark.parametrize('schema, table', [
    ('audit"; DROP TABLE orders; --', 'bk'),
    ('audit', 'backup table with spaces'),
    ("o'brien", 'x"y'),
])
def test_identifiers_from_inventory_are_quoted(shop, schema, table):
    postgres, db, params = shop
    result = fix.apply_fix(dict(params, audit_schema=schema, backup_table=table, statements=reassign()))
    assert result['committed']
    assert postgres.execute('SELECT count(*) FROM orders', dbname=db) == [(5,)]  # nothing dropped
    assert postgres.execute('SELECT count(*) FROM pg_namespace WHERE nspname = %s', (schema,), dbname=db) == [(1,)]


def test_backup_table_name_cannot_inject_through_source_table(shop):
    postgres, db, params = shop
    statements = [dict(reassign()[0], backup={'table': 'orders; DROP TABLE customers', 'where': None})]
    with pytest.raises(MaintenanceError, match='backup table orders; DROP TABLE customers'):
        fix.apply_fix(dict(params, statements=statements))
    assert postgres.execute('SELECT count(*) FROM customers', dbname=db) == [(2,)]


@pytest.mark.parametrize('statements, message', [
    ([], 'statements is empty'),
    ([{'sql': 'DELETE FROM orders'}], 'statement 1 has no guard'),
    ([{'sql': 'DELETE FROM orders', 'expected_rows': 1, 'min_rows': 1}], 'expected_rows excludes'),
    ([{'sql': 'DELETE FROM orders', 'min_rows': 5, 'max_rows': 1}], 'min_rows 5 is greater than max_rows 1'),
    ([{'expected_rows': 1}], 'sql (or file) is required'),
    ([{'file': '/nonexistent/fix.sql', 'expected_rows': 1}], 'cannot read /nonexistent/fix.sql'),
])
def test_bad_input_is_refused_before_connecting(statements, message):
    params = {'login_host': '127.0.0.1', 'port': 1, 'change_ref': 'X', 'statements': statements, 'validations': []}
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(params)
    assert message in raised.value.message


def test_unreachable_server_changes_nothing_and_says_why():
    params = {'login_host': '127.0.0.1', 'port': 1, 'login_user': 'postgres', 'login_password': 'pw-never-shown',
              'audit_schema': 'audit', 'backup_table': 'b',
              'login_db': 'x', 'connect_timeout': 2, 'change_ref': 'X', 'validations': [],
              'statements': [{'sql': 'SELECT 1', 'expected_rows': 1}]}
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(params)
    assert 'Cannot connect to postgres@127.0.0.1:1/x' in raised.value.message
    assert 'pw-never-shown' not in raised.value.message


def test_range_guard_and_sql_file(shop, tmp_path):
    postgres, db, params = shop
    script = tmp_path / 'fix.sql'
    script.write_text("UPDATE orders SET note = note || ' (checked)' WHERE customer_id > 900\n")
    result = fix.apply_fix(dict(params, validations=[], statements=[
        {'file': str(script), 'min_rows': 1, 'max_rows': 5}]))
    assert result['statements'][0]['guard'] == 'between 1 and 5'
    assert result['statements'][0]['affected_rows'] == 3
    notes = [row[3] for row in orders(postgres, db) if row[1] > 900]
    assert all(n.endswith('(checked)') for n in notes)


def test_concurrent_readers_are_not_blocked_by_a_check_mode_run(shop):
    postgres, db, params = shop
    seen = []

    def reader():
        seen.append(postgres.execute('SELECT count(*) FROM orders', dbname=db)[0][0])

    thread = threading.Thread(target=reader)
    fix.apply_fix(dict(params, statements=reassign()), check_mode=True)
    thread.start()
    thread.join(10)
    assert seen == [5]


# --------------------------------------------------------------------------------------------------------------
# Issue 15: one statement per guarded entry; no transaction control, session settings, procedural code or DDL;
# check mode provably changes nothing. "users" has 100 rows, ids 1..100, all active; "victims" must survive.

USERS = """
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, active bool NOT NULL, note text);
INSERT INTO users SELECT g, 'user ' || g, true, NULL FROM generate_series(1, 100) g;
CREATE TABLE victims (id int PRIMARY KEY);
INSERT INTO victims VALUES (1), (2);
CREATE PROCEDURE fix_users() LANGUAGE plpgsql AS $$BEGIN UPDATE users SET name = 'proc' WHERE id = 7; COMMIT; END$$;
"""
RENAME_7 = "UPDATE users SET name = 'renamed' WHERE id = 7"


@pytest.fixture()
def users(postgres, postgres_db):
    with postgres.connect(postgres_db) as conn:
        conn.execute(USERS)
    params = dict(postgres.params, login_db=postgres_db, change_ref='CHG-15', audit_schema='audit',
                  backup_table='data_fix_backup', lock_timeout='1s', statement_timeout='30s', validations=[])
    return postgres, postgres_db, params


def snapshot(postgres, db):
    """Every row with its xmin (a committed change gives a row a new xmin), the tables, and the backup table."""
    return {
        'users': postgres.execute('SELECT xmin::text, id, name, active, note FROM users ORDER BY id', dbname=db),
        'victims': postgres.execute("SELECT xmin::text, id FROM victims ORDER BY id" if postgres.execute(
            "SELECT to_regclass('victims') IS NOT NULL", dbname=db)[0][0] else 'SELECT 0', dbname=db),
        'tables': postgres.execute("SELECT relname, relkind::text FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                                   "ORDER BY 1", dbname=db),
        'backup': postgres.execute("SELECT to_regclass('audit.data_fix_backup') IS NULL", dbname=db),
    }


def tuple_stats(postgres, db):
    """n_tup_ins/upd/del of the user tables, read once the module's own session has ended (its stats flushed)."""
    import time
    deadline = time.monotonic() + 60
    while postgres.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                           (db, 'autopilotcx.maintenance'))[0][0]:
        assert time.monotonic() < deadline, 'the module session never ended'
        time.sleep(0.05)
    return postgres.execute('SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables ORDER BY 1',
                            dbname=db)


def test_second_statement_of_a_file_is_refused_not_run_unguarded(users, tmp_path):
    postgres, db, params = users
    script = tmp_path / 'fix.sql'
    script.write_text(RENAME_7 + ';\nDELETE FROM users WHERE active;\n')
    before = snapshot(postgres, db)
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(dict(params, statements=[
            {'file': str(script), 'expected_rows': 1, 'backup': {'table': 'users', 'where': 'id = 7'}}]))
    message = raised.value.message
    assert 'statement 1' in message and str(script) in message and 'holds 2 SQL statements' in message
    assert 'DELETE FROM users WHERE active' in message and 'line 2, column 1' in message
    assert snapshot(postgres, db) == before
    assert postgres.execute('SELECT count(*) FROM users', dbname=db) == [(100,)]


def test_inline_second_statement_cannot_drop_a_table(users):
    postgres, db, params = users
    before = snapshot(postgres, db)
    with pytest.raises(MaintenanceError, match=r'statement 1 \(sql\) holds 2 SQL statements'):
        fix.apply_fix(dict(params, statements=[{'sql': RENAME_7 + '; DROP TABLE victims', 'expected_rows': 1}]))
    assert snapshot(postgres, db) == before


def test_check_mode_with_a_commit_inside_the_file_changes_nothing(users, tmp_path):
    postgres, db, params = users
    script = tmp_path / 'fix.sql'
    script.write_text('BEGIN;\n' + RENAME_7 + ';\nCOMMIT;\n')
    before, stats = snapshot(postgres, db), tuple_stats(postgres, db)
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(dict(params, statements=[{'file': str(script), 'expected_rows': 1}]), check_mode=True)
    assert 'holds 3 SQL statements' in raised.value.message
    assert snapshot(postgres, db) == before and tuple_stats(postgres, db) == stats
    assert postgres.execute('SELECT name FROM users WHERE id = 7', dbname=db) == [('user 7',)]


HOSTILE = [
    # (text, words the refusal must contain)
    (RENAME_7 + '; DELETE FROM users WHERE active', 'holds 2 SQL statements'),
    (RENAME_7 + '; DROP TABLE victims', 'holds 2 SQL statements'),
    ('BEGIN; ' + RENAME_7 + '; COMMIT;', 'holds 3 SQL statements'),
    (RENAME_7 + ' /* ; */ ; COMMIT', 'holds 2 SQL statements'),
    (RENAME_7 + ' /* nested /* */ still a comment ; */ ; COMMIT', 'holds 2 SQL statements'),
    (RENAME_7 + ' -- a comment ; \n; DELETE FROM users', 'holds 2 SQL statements'),
    (RENAME_7 + ' --\n;DELETE FROM users', 'holds 2 SQL statements'),
    (RENAME_7 + ";\u00a0DELETE FROM users", 'holds 2 SQL statements'),
    ("UPDATE users SET name = E'it\\'s' WHERE id = 7; DELETE FROM users", 'holds 2 SQL statements'),
    ('UPDATE users SET note = $x$ $y$ ; $x$; DELETE FROM users', 'holds 2 SQL statements'),
    ('COMMIT', 'transaction control (COMMIT)'),
    ('commit work', 'transaction control (COMMIT)'),
    ('END', 'transaction control (END)'),
    ('ABORT', 'transaction control (ABORT)'),
    ('ROLLBACK', 'transaction control (ROLLBACK)'),
    ('BEGIN', 'transaction control (BEGIN)'),
    ('START TRANSACTION', 'transaction control (START)'),
    ('SAVEPOINT s1', 'transaction control (SAVEPOINT)'),
    ('RELEASE SAVEPOINT s1', 'transaction control (RELEASE)'),
    ("PREPARE TRANSACTION 'x'", 'transaction control (PREPARE)'),
    ("COMMIT PREPARED 'x'", 'transaction control (COMMIT)'),
    ('  /* hide */ -- and hide\n  CoMmIt', 'transaction control (COMMIT)'),
    ('SET statement_timeout = 0', 'session setting (SET)'),
    ('SET SESSION statement_timeout = 0', 'session setting (SET)'),
    ('SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', 'session setting (SET)'),
    ('SET TRANSACTION READ WRITE', 'session setting (SET)'),
    ('SET CONSTRAINTS ALL IMMEDIATE', 'session setting (SET)'),
    ('RESET ALL', 'session setting (RESET)'),
    ('SET LOCAL session_replication_role = replica', 'SET LOCAL session_replication_role'),
    ('SET LOCAL statement_timeout = 0', 'SET LOCAL statement_timeout'),
    ("DO $$BEGIN UPDATE users SET name = 'x' WHERE id = 7; COMMIT; END$$", 'procedural code (DO)'),
    ('CALL fix_users()', 'procedural code (CALL)'),
    ("COPY users TO PROGRAM 'true'", 'COPY'),
    ('DROP TABLE victims', 'DDL (DROP)'),
    ('TRUNCATE victims', 'DDL (TRUNCATE)'),
    ('ALTER TABLE victims ADD COLUMN x int', 'DDL (ALTER)'),
    ('GRANT ALL ON victims TO PUBLIC', 'DDL (GRANT)'),
    ('REVOKE ALL ON victims FROM PUBLIC', 'DDL (REVOKE)'),
    ('CREATE TABLE intruder ()', 'DDL (CREATE)'),
    ('VACUUM users', 'DDL (VACUUM)'),
    ('SELECT * INTO intruder FROM users', 'SELECT INTO'),
    ('EXPLAIN ANALYZE DELETE FROM users', 'EXPLAIN'),
    ("SELECT set_config('session_replication_role', 'replica', false)", 'set_config'),
]


@pytest.mark.parametrize('source', ['sql', 'file'])
@pytest.mark.parametrize('text, words', HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_text_is_refused_and_check_mode_changes_nothing(users, tmp_path, source, text, words):
    postgres, db, params = users
    entry = {'expected_rows': 1}
    if source == 'file':
        script = tmp_path / 'hostile.sql'
        script.write_text(text, encoding='utf-8')
        entry['file'] = str(script)
    else:
        entry['sql'] = text
    before, stats = snapshot(postgres, db), tuple_stats(postgres, db)
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(dict(params, statements=[{'sql': RENAME_7, 'expected_rows': 1}, entry]), check_mode=True)
    assert 'statement 2' in raised.value.message and words in raised.value.message
    assert 'pg_data_fix runs' in raised.value.message or 'refused' in raised.value.message
    assert snapshot(postgres, db) == before and tuple_stats(postgres, db) == stats
