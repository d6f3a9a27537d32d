"""The PostgreSQL timeout options read units the way every duration option of the collection does (issue 16).

pg_check's ``statement_timeout`` and pg_data_fix's ``lock_timeout``/``statement_timeout`` went to PostgreSQL as
written, so ``30`` was 30 milliseconds there and 30 seconds for pg_maintenance and session_cleanup. A bare number
other than 0 is now refused with a message naming the option; unit strings (including ``1h30m``, which PostgreSQL
itself does not read) are converted to milliseconds. Runs against the real PostgreSQL of the test fixtures.
"""

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import postgres as pg
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import pg_check
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import pg_data_fix


def _session_settings(postgres, **timeouts):
    import psycopg
    with psycopg.connect(postgres.dsn()) as conn:
        with conn.cursor() as cur:
            pg.set_timeouts(cur, **timeouts)
            cur.execute("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')")
            return cur.fetchone()


@pytest.mark.parametrize('timeouts, shown', [
    (dict(lock_timeout='5s', statement_timeout='5min'), ('5s', '5min')),
    (dict(lock_timeout='500ms', statement_timeout='1h30m'), ('500ms', '90min')),
    (dict(lock_timeout='2 s', statement_timeout='0'), ('2s', '0')),
    (dict(lock_timeout='1500ms', statement_timeout=0), ('1500ms', '0')),
])
def test_unit_strings_reach_postgresql_as_meant(postgres, timeouts, shown):
    assert _session_settings(postgres, **timeouts) == shown


@pytest.mark.parametrize('name', ['lock_timeout', 'statement_timeout'])
@pytest.mark.parametrize('value', ['30', 30, '5000', 2.5])
def test_a_bare_number_is_refused_naming_the_option(postgres, name, value):
    with pytest.raises(MaintenanceError, match=r'^%s must be a duration .*a bare number is refused, give a unit' % name):
        _session_settings(postgres, **{name: value})


def test_pg_check_refuses_a_bare_statement_timeout(postgres):
    with pytest.raises(MaintenanceError, match='^statement_timeout must be a duration'):
        pg_check.run_pg_checks(postgres.params, ['connection'], options={'statement_timeout': '10000'})
    checks, _server = pg_check.run_pg_checks(postgres.params, ['connection'], options={'statement_timeout': '10s'})
    assert checks[0]['status'] == 'ok', checks


def test_pg_data_fix_refuses_a_bare_lock_timeout_and_changes_nothing(postgres, postgres_db):
    postgres.execute('CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 1)', dbname=postgres_db)
    params = dict(postgres.params, login_db=postgres_db, change_ref='CHG-16', state='applied',
                  statements=[{'sql': 'UPDATE t SET v = 2 WHERE id = 1', 'expected_rows': 1}], validations=[],
                  audit_schema='audit', backup_table='data_fix_backup', lock_timeout='5000', statement_timeout='5min',
                  require_failing_validation=False, allow_ddl=False)
    with pytest.raises(MaintenanceError, match='^lock_timeout must be a duration'):
        pg_data_fix.apply_fix(params)
    assert postgres.execute('SELECT v FROM t', dbname=postgres_db) == [(1,)]
