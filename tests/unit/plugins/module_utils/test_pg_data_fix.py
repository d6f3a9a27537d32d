"""pg_data_fix on a real PostgreSQL: commit, guards, validation, check mode, backup/restore, lock timeout, quoting."""

import threading

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import pg_data_fix as fix
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

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


@pytest.mark.parametrize('text, stored', [
    ("UPDATE users SET note = 'a; DELETE FROM users; --' WHERE id = 7", 'a; DELETE FROM users; --'),
    ("UPDATE users SET note = E'it\\'s; \\\\ fine' WHERE id = 7", "it's; \\ fine"),
    ("UPDATE users SET note = $body$COMMIT; DROP TABLE victims; $x$ ' \" -- /*$body$ WHERE id = 7",
     "COMMIT; DROP TABLE victims; $x$ ' \" -- /*"),
    ("UPDATE users SET note = $$ROLLBACK;$$ WHERE id = 7", 'ROLLBACK;'),
    ('UPDATE users SET note = \'x\' WHERE id = 7 AND name <> \'"; COMMIT; "\'', 'x'),
    ("UPDATE users SET note = 'Zoë ☃; 日本' WHERE id = 7", 'Zoë ☃; 日本'),
    ("UPDATE users SET note = 'ok' WHERE id = 7;;  \n -- done; COMMIT\n ; /* COMMIT; */ \n", 'ok'),
    ("-- why: ticket 42; COMMIT\n/* nested /* ; */ ; */ UPDATE users SET note = 'c' WHERE id = 7", 'c'),
    ("UPDATE users SET note = 'like' WHERE id = 7 AND name LIKE 'user 7%'", 'like'),
    ("UPDATE users SET note = U&'d\\0061ta;' WHERE id = 7", 'data;'),
    ("WITH picked AS (SELECT id FROM users WHERE id = 7) UPDATE users u SET note = 'cte' FROM picked WHERE u.id = picked.id",
     'cte'),
])
@pytest.mark.parametrize('source', ['sql', 'file'])
def test_one_statement_with_semicolons_in_quotes_and_comments_runs(users, tmp_path, source, text, stored):
    postgres, db, params = users
    entry = {'expected_rows': 1, 'backup': {'table': 'users', 'where': 'id = 7'}}
    if source == 'file':
        script = tmp_path / 'fix.sql'
        script.write_bytes(text.encode('utf-8'))
        entry['file'] = str(script)
    else:
        entry['sql'] = text
    result = fix.apply_fix(dict(params, statements=[entry]))
    assert result['committed'] and result['statements'][0]['affected_rows'] == 1
    assert postgres.execute('SELECT note FROM users WHERE id = 7', dbname=db) == [(stored,)]
    assert postgres.execute('SELECT count(*) FROM users', dbname=db) == [(100,)]
    assert postgres.execute('SELECT count(*) FROM victims', dbname=db) == [(2,)]
    assert not result['statements'][0]['sql'].rstrip().endswith(';')


def test_a_file_saved_with_a_byte_order_mark_runs(users, tmp_path):
    postgres, db, params = users
    script = tmp_path / 'fix.sql'
    script.write_bytes(b'\xef\xbb\xbf' + RENAME_7.encode('utf-8') + b';\n')
    result = fix.apply_fix(dict(params, statements=[{'file': str(script), 'expected_rows': 1}]))
    assert result['committed'] and postgres.execute('SELECT name FROM users WHERE id = 7', dbname=db) == [('renamed',)]


@pytest.mark.parametrize('content, words', [
    (b'\x00\x01\x02UPDATE users SET name = 1', 'holds NUL bytes at offset 0'),
    (RENAME_7.encode('utf-8') + b'\x00; DELETE FROM users', 'holds NUL bytes at offset %d' % len(RENAME_7)),
    (b"UPDATE users SET name = '\xff\xfe' WHERE id = 7", 'is not UTF-8 text (byte 0xff at offset 25'),
    (b'\x89PNG\r\n\x1a\n', 'is not UTF-8 text (byte 0x89 at offset 0'),
])
def test_a_binary_sql_file_is_a_clear_error_naming_the_option(users, tmp_path, content, words):
    postgres, db, params = users
    script = tmp_path / 'fix.sql'
    script.write_bytes(content)
    before = snapshot(postgres, db)
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(dict(params, statements=[{'file': str(script), 'expected_rows': 1}]))
    assert raised.value.message.startswith('statement 1: file %s ' % script) and words in raised.value.message
    assert snapshot(postgres, db) == before


def test_a_nul_in_inline_sql_is_a_clear_error(users):
    _postgres, _db, params = users
    with pytest.raises(MaintenanceError, match=r'statement 1 \(sql\) holds a NUL character at offset 6'):
        fix.apply_fix(dict(params, statements=[{'sql': 'UPDATE\x00 users SET name = 1', 'expected_rows': 1}]))


@pytest.mark.parametrize('text, words', [
    ("UPDATE users SET name = 'x", 'unterminated string starting at line 1, column 25'),
    ('UPDATE users SET note = $a$ x', 'unterminated dollar-quoted string $a$ starting at line 1, column 25'),
    ('UPDATE users /* SET', 'unterminated /* comment starting at line 1, column 14'),
    ('UPDATE "users SET', 'unterminated quoted identifier starting at line 1, column 8'),
    (' ;; -- nothing\n;', 'holds no SQL statement'),
])
def test_unreadable_sql_is_refused_with_its_position(users, text, words):
    _postgres, _db, params = users
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(dict(params, statements=[{'sql': text, 'expected_rows': 1}]))
    assert 'statement 1 (sql)' in raised.value.message and words in raised.value.message


@pytest.mark.parametrize('query, words', [
    ('SELECT count(*) FROM users; DELETE FROM users', "validation 'v' holds 2 SQL statements"),
    ('DELETE FROM users RETURNING 1', "validation 'v' refused"),
    ('SELECT 1; COMMIT', "validation 'v' holds 2 SQL statements"),
    ('COMMIT', "validation 'v' refused"),
])
def test_validation_queries_are_single_queries(users, query, words):
    postgres, db, params = users
    before = snapshot(postgres, db)
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(dict(params, validations=[{'name': 'v', 'query': query}],
                           statements=[{'sql': RENAME_7, 'expected_rows': 1}]))
    assert words in raised.value.message
    assert snapshot(postgres, db) == before


def test_a_validation_that_writes_is_stopped_by_the_database(users):
    postgres, db, params = users
    before = snapshot(postgres, db)
    writer = 'WITH gone AS (DELETE FROM users RETURNING 1) SELECT count(*) = 0 FROM gone'
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(dict(params, validations=[{'name': 'sneaky', 'query': writer}],
                           statements=[{'sql': RENAME_7, 'expected_rows': 1}]))
    assert "validation 'sneaky' tried to write (validations run read-only)" in raised.value.message
    assert snapshot(postgres, db) == before


def test_validations_still_see_the_corrections_of_the_transaction(users):
    _postgres, _db, params = users
    result = fix.apply_fix(dict(params, validations=[
        {'name': 'renamed', 'query': "SELECT count(*) FROM users WHERE name = 'renamed'", 'expect': {'equals': 1}}],
        statements=[{'sql': RENAME_7, 'expected_rows': 1}]), check_mode=True)
    assert result['before'] == {'renamed': 0} and result['after'] == {'renamed': 1}


@pytest.mark.parametrize('where, words', [
    ('id = 7; DELETE FROM users', 'must not contain ";"'),
    ('id = 7) OR (true', 'unbalanced parentheses'),
    ("name = 'x", 'unterminated string'),
])
def test_backup_where_is_one_condition(users, where, words):
    postgres, db, params = users
    before = snapshot(postgres, db)
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(dict(params, statements=[
            {'sql': RENAME_7, 'expected_rows': 1, 'backup': {'table': 'users', 'where': where}}]))
    assert 'statement 1: backup.where' in raised.value.message and words in raised.value.message
    assert snapshot(postgres, db) == before


def test_ddl_runs_only_with_allow_ddl(users):
    postgres, db, params = users
    ddl = [{'sql': 'ALTER TABLE victims ADD COLUMN checked bool', 'expected_rows': 0}]
    with pytest.raises(MaintenanceError, match=r'refused unless allow_ddl is true'):
        fix.apply_fix(dict(params, statements=ddl))
    preview = fix.apply_fix(dict(params, statements=ddl, allow_ddl=True), check_mode=True)
    assert preview['would_change'] is True and preview['statements'][0]['ddl'] is True
    assert postgres.execute("SELECT count(*) FROM information_schema.columns WHERE column_name = 'checked'",
                            dbname=db) == [(0,)]
    result = fix.apply_fix(dict(params, statements=ddl, allow_ddl=True))
    assert result['committed'] and result['changed'] is True
    assert postgres.execute("SELECT count(*) FROM information_schema.columns WHERE column_name = 'checked'",
                            dbname=db) == [(1,)]


# Belt and braces: the same hostile texts with the lexer's check switched off must still change nothing,
# because the database itself refuses them (prepared statements, the commit trap, the transaction id check).

@pytest.fixture()
def lexer_bypassed(monkeypatch):
    monkeypatch.setattr(fix, 'check_sql', lambda validations, statements, allow_ddl=False: statements)


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.parametrize('statements, words', [
    ([{'sql': RENAME_7 + '; DELETE FROM users WHERE active', 'expected_rows': 1}],
     'statement 1 failed: cannot insert multiple commands into a prepared statement'),
    ([{'sql': 'BEGIN; ' + RENAME_7 + '; COMMIT;', 'expected_rows': 1}],
     'statement 1 failed: cannot insert multiple commands into a prepared statement'),
    ([{'sql': RENAME_7, 'expected_rows': 1}, {'sql': 'COMMIT', 'expected_rows': 0}],
     'statement 2 tried to end the transaction; the commit trap refused the COMMIT'),
    ([{'sql': RENAME_7, 'expected_rows': 1}, {'sql': 'END', 'expected_rows': 0}],
     'statement 2 tried to end the transaction; the commit trap refused the COMMIT'),
    ([{'sql': RENAME_7, 'expected_rows': 1}, {'sql': 'ROLLBACK', 'expected_rows': 0},
      {'sql': 'DELETE FROM users', 'max_rows': 100}],
     'statement 2 ended the transaction (the session is no longer in the transaction'),
    ([{'sql': RENAME_7, 'expected_rows': 1}, {'sql': 'CALL fix_users()', 'expected_rows': 0}],
     'statement 2 failed: invalid transaction termination'),
])
def test_the_database_refuses_what_the_lexer_would_have(users, lexer_bypassed, check_mode, statements, words):
    postgres, db, params = users
    before = snapshot(postgres, db)
    with pytest.raises(MaintenanceError) as raised:
        fix.apply_fix(dict(params, statements=statements), check_mode=check_mode)
    assert words in raised.value.message
    assert raised.value.details['committed'] is False
    assert snapshot(postgres, db) == before
