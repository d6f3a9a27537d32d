"""The SQL lexer behind pg_data_fix: statement counting, first words, refusals, and agreement with PostgreSQL itself."""

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import sql as pg_sql


def texts(sql):
    return [s.text for s in pg_sql.split(sql)]


@pytest.mark.parametrize('sql, expected', [
    ('SELECT 1', ['SELECT 1']),
    ('SELECT 1;', ['SELECT 1']),
    (';;SELECT 1;;\n;  ', ['SELECT 1']),
    ("SELECT ';'", ["SELECT ';'"]),
    ("SELECT 'it''s; fine'", ["SELECT 'it''s; fine'"]),
    ("SELECT E'\\';'", ["SELECT E'\\';'"]),
    ("SELECT e'\\\\'; SELECT 2", ["SELECT e'\\\\'", 'SELECT 2']),
    ("SELECT '\\'; SELECT 2", ["SELECT '\\'", 'SELECT 2']),  # standard_conforming_strings: \ is a character
    ('SELECT "a;b" FROM "x""; y"', ['SELECT "a;b" FROM "x""; y"']),
    ('SELECT $$;$$', ['SELECT $$;$$']),
    ('SELECT $a$ $b$ ; $b$ ; $a$', ['SELECT $a$ $b$ ; $b$ ; $a$']),
    ('SELECT $A$ ; $a$ ; $A$', ['SELECT $A$ ; $a$ ; $A$']),  # tags are case sensitive
    ('SELECT a$b$ ; SELECT 2', ['SELECT a$b$', 'SELECT 2']),  # $ inside an identifier starts nothing
    ('SELECT $1; SELECT 2', ['SELECT $1', 'SELECT 2']),
    ('SELECT 1 -- ; SELECT 2\n', ['SELECT 1']),
    ('SELECT 1 --\n; SELECT 2', ['SELECT 1', 'SELECT 2']),
    ('SELECT 1 /* /* ; */ ; */ + 1', ['SELECT 1  + 1'.replace('  ', ' /* /* ; */ ; */ ')]),
    ('SELECT 1 */ 2', ['SELECT 1 */ 2']),
    ("SELECT U&'\\0041;' , U&\"a;\"", ["SELECT U&'\\0041;' , U&\"a;\""]),
    ("SELECT B'01', X'1F', N'n;'", ["SELECT B'01', X'1F', N'n;'"]),
    ('SELECT 1 ---;\n+1', ['SELECT 1 ---;\n+1']),
    ('SELECT 1 +/*;*/1', ['SELECT 1 +/*;*/1']),
    ("SELECT 'Zoë ☃; 日本'; SELECT 2", ["SELECT 'Zoë ☃; 日本'", 'SELECT 2']),
    ('SELECT 1\r; SELECT 2', ['SELECT 1', 'SELECT 2']),
    ('-- only a comment', []),
])
def test_split(sql, expected):
    assert texts(sql) == expected


@pytest.mark.parametrize('sql, message', [
    ("SELECT 'a", 'unterminated string starting at line 1, column 8'),
    ("SELECT E'\\'", 'unterminated string starting at line 1, column 9'),
    ('SELECT\n  "a', 'unterminated quoted identifier starting at line 2, column 3'),
    ('SELECT /* /* */', 'unterminated /* comment starting at line 1, column 8'),
    ('SELECT $x$ $X$', 'unterminated dollar-quoted string $x$ starting at line 1, column 8'),
])
def test_unterminated_text_is_an_error_with_its_position(sql, message):
    with pytest.raises(pg_sql.SqlTextError) as raised:
        pg_sql.split(sql)
    assert str(raised.value) == message


@pytest.mark.parametrize('sql, reason', [
    ('UPDATE t SET a = 1', None),
    ('(SELECT 1) UNION SELECT 2', None),
    ('WITH x AS (DELETE FROM t RETURNING *) SELECT count(*) FROM x', None),
    ('INSERT INTO t SELECT * FROM u', None),
    ('MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE', None),
    ('LOCK TABLE t IN SHARE MODE', None),
    ("SET LOCAL work_mem = '64MB'", None),
    ("SET LOCAL search_path = audit, public", None),
    ('COMMIT', 'transaction control (COMMIT)'),
    ('commit', 'transaction control (COMMIT)'),
    ('/* x */ ROLLBACK', 'transaction control (ROLLBACK)'),
    ('SET search_path = x', 'session setting (SET)'),
    ('SET LOCAL session_replication_role = replica', 'SET LOCAL session_replication_role'),
    ('SET LOCAL "lock_timeout" = 0', 'SET LOCAL lock_timeout'),
    ('SET LOCAL SESSION AUTHORIZATION bob', 'SET LOCAL session'),
    ('RESET search_path', 'session setting (RESET)'),
    ('DO $$ BEGIN COMMIT; END $$', 'procedural code (DO)'),
    ('CALL p()', 'procedural code (CALL)'),
    ("COPY t FROM PROGRAM 'x'", 'is COPY'),
    ('CREATE INDEX ON t (a)', 'DDL (CREATE)'),
    ('SELECT * INTO new_t FROM t', 'SELECT INTO'),
    ('SELECT * FROM t WHERE a IN (SELECT b FROM u)', None),
    ('EXPLAIN ANALYZE DELETE FROM t', 'EXPLAIN'),
    ('LISTEN x', 'is LISTEN, not a data correction'),
    ("SELECT dblink_exec('db', 'DELETE FROM t')", 'calls dblink_exec'),
    ("SELECT pg_catalog.set_config('role', 'x', false)", 'calls set_config'),
])
def test_refusal(sql, reason):
    found = pg_sql.refusal(pg_sql.split(sql)[0])
    if reason is None:
        assert found is None
    else:
        assert reason in found


def test_ddl_allowed_only_when_asked():
    statement = pg_sql.split('ALTER TABLE t ADD COLUMN c int')[0]
    assert 'refused unless allow_ddl' in pg_sql.refusal(statement)
    assert pg_sql.refusal(statement, allow_ddl=True) is None
    assert 'transaction control' in pg_sql.refusal(pg_sql.split('COMMIT')[0], allow_ddl=True)


def test_validations_are_read_only_queries():
    assert pg_sql.refusal(pg_sql.split('SELECT count(*) FROM t')[0], read_only=True) is None
    assert 'a validation must be a SELECT' in pg_sql.refusal(pg_sql.split('DELETE FROM t')[0], read_only=True)


# Differential: texts built from literals, comments and semicolons; the lexer's count of statements must be
# what PostgreSQL's own parser finds (one statement prepares and returns the literal; several are refused).

CONTENT = st.text(st.characters(blacklist_categories=('Cs',), blacklist_characters='\x00'), max_size=12)


@st.composite
def literal(draw):
    value = draw(CONTENT)
    form = draw(st.sampled_from(['plain', 'escape', 'dollar', 'ident']))
    if form == 'plain':
        return "'%s'" % value.replace("'", "''"), value
    if form == 'escape':
        return "E'%s'" % value.replace('\\', '\\\\').replace("'", "\\'"), value
    if form == 'dollar':
        tag = draw(st.sampled_from(['', 'x', 'Body_1']))
        if '$%s$' % tag in value + '$' or value.endswith('$'):
            value = value.replace('$', '')
        return '$%s$%s$%s$' % (tag, value, tag), value
    return '"%s"' % (value or 'q').replace('"', '""'), None  # PostgreSQL refuses an empty quoted identifier


FILLER = st.sampled_from([' ', '\n', '\t', '-- ; COMMIT\n', '/* ; */', '/* /* ; */ ; */', ''])


@st.composite
def script(draw):
    statements = []
    parts = [draw(FILLER)]
    for _index in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            text, value = draw(literal())
            if value is None:  # a quoted identifier as a column alias
                text = "SELECT 'v' AS %s" % text
                value = 'v'
            parts.append(text if text.startswith('SELECT') else 'SELECT %s' % text)
            statements.append(value)
        parts.append(draw(FILLER))
        parts.append(';')
        parts.append(draw(FILLER))
    if draw(st.booleans()):
        parts.pop()  # no filler after the last semicolon
    return ''.join(parts), statements


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=script())
def test_statement_count_agrees_with_postgresql(postgres, case):
    text, values = case
    found = pg_sql.split(text)
    assert len(found) == len(values), text
    with postgres.connect() as conn:
        conn.execute("SET standard_conforming_strings = on")
        if len(values) == 1:
            assert conn.execute(text, prepare=True).fetchone()[0] == values[0]
            assert conn.execute(found[0].text, prepare=True).fetchone()[0] == values[0]
        elif len(values) > 1:
            with pytest.raises(psycopg.errors.SyntaxError, match='cannot insert multiple commands'):
                conn.execute(text, prepare=True)
            for statement, value in zip(found, values):
                assert conn.execute(statement.text, prepare=True).fetchone()[0] == value
