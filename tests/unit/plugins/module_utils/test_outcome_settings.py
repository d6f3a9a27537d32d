"""One store: the callback's settings (env > ansible.cfg [autopilotcx_outcomes] > default) are what every reader reads.

Finding of issue 17: with the README's ansible.cfg the callback wrote to the configured file while reviews and the
promotion gate read ~/.ansible/autopilotcx-outcomes.jsonl, and a review of nothing ended green.
"""

import datetime

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import settings as outcome_settings

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import review_report
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import store
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.outcome_query import promotion_gate
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.maintenance_record import build_record

NOW = datetime.datetime(2026, 11, 29, 3, 0, tzinfo=datetime.timezone.utc)
SET = ['apcx-kernel=1.1', 'apcx-openssl=1.1']
STORE_ENV = ('AUTOPILOTCX_OUTCOME_LOG', 'AUTOPILOTCX_OUTCOME_DSN', 'AUTOPILOTCX_OUTCOME_TABLE', 'AUTOPILOTCX_OUTCOME_SCHEMA')


@pytest.fixture()
def clean_env(monkeypatch, tmp_path):
    """No store variable from the caller's environment, a HOME of our own, and a cwd without ansible.cfg."""
    for name in STORE_ENV + ('ANSIBLE_CONFIG', outcome_settings.CONTROLLER_CONFIG_ENV):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / 'home'
    home.mkdir()
    monkeypatch.setenv('HOME', str(home))
    work = tmp_path / 'work'
    work.mkdir()
    work.chmod(0o755)
    monkeypatch.chdir(work)
    return tmp_path


def readme_config(directory, path_line='path = outcomes/outcomes.jsonl', name='ansible.cfg'):
    cfg = directory / name
    cfg.write_text('[defaults]\ncallbacks_enabled = autopilotcx.maintenance.outcomes\n\n'
                   '[autopilotcx_outcomes]\n%s   ; where the records go\n' % path_line)
    return str(cfg)


def verified(host, when, environment='staging'):
    check = build_record('patch.staging_verified', status='ok', details={'environment': environment, 'package_set': SET})
    return {'id': 'run-%s:000001' % host, 'kind': 'task', 'host': host, 'status': 'ok', 'run_id': 'run-%s' % host,
            'recorded_at': store.iso(when), 'checks': [check]}


def test_precedence_option_env_config_default(clean_env, monkeypatch):
    cfg = readme_config(clean_env)
    monkeypatch.setenv('ANSIBLE_CONFIG', cfg)
    settings = outcome_settings.resolve()
    assert settings['path'] == str(clean_env / 'outcomes' / 'outcomes.jsonl')  # relative to the cfg, as Ansible does
    assert settings['origin']['path'].endswith('[autopilotcx_outcomes] path')
    monkeypatch.setenv('AUTOPILOTCX_OUTCOME_LOG', str(clean_env / 'env.jsonl'))
    assert outcome_settings.resolve()['path'] == str(clean_env / 'env.jsonl')
    assert outcome_settings.resolve({'path': str(clean_env / 'opt.jsonl')})['path'] == str(clean_env / 'opt.jsonl')
    monkeypatch.delenv('AUTOPILOTCX_OUTCOME_LOG')
    monkeypatch.delenv('ANSIBLE_CONFIG')
    default = outcome_settings.resolve()
    assert default['path'] == str(clean_env / 'home' / '.ansible' / 'autopilotcx-outcomes.jsonl')
    assert default['origin']['path'] == 'default' and default['pg_dsn'] is None


def test_cwd_and_home_config_files_are_found_like_ansible_does(clean_env):
    readme_config(clean_env / 'home', 'path = /srv/home.jsonl', name='.ansible.cfg')
    assert outcome_settings.resolve()['path'] == '/srv/home.jsonl'
    readme_config(clean_env / 'work', 'path = /srv/cwd.jsonl')  # ./ansible.cfg wins over ~/.ansible.cfg
    assert outcome_settings.resolve()['path'] == '/srv/cwd.jsonl'


def test_modules_on_the_controller_read_the_controllers_config_not_the_playbook_directory(clean_env, monkeypatch):
    """A module run by the local connection has the playbook's directory as its cwd (Ansible changes to it), not the
    directory ansible-playbook ran in: with the store set only in the project's ansible.cfg, notify's dedup state,
    token_check's fingerprints and the review read the default file on the old code (issue 17, found by
    test_installed_project.py). The controller (outcome callback, outcome_settings lookup) exports the ansible.cfg
    it uses; a module on the controller resolves that one."""
    project = clean_env / 'project'
    project.mkdir()
    cfg = readme_config(project, 'pg_dsn = host=db.example dbname=ops')
    playbooks = clean_env / 'work'                                       # the module's cwd: no ansible.cfg there
    environ = {'HOME': str(clean_env / 'home')}
    assert outcome_settings.resolve(environ=environ, cwd=str(playbooks))['pg_dsn'] is None   # what the old code read
    outcome_settings.export_controller_config(cfg, environ)
    assert environ[outcome_settings.CONTROLLER_CONFIG_ENV] == cfg
    settings = outcome_settings.resolve(environ=environ, cwd=str(playbooks))
    assert settings['pg_dsn'] == 'host=db.example dbname=ops' and settings['config_file'] == cfg
    # a controller without an ansible.cfg: a stray ansible.cfg in the playbook directory is not the controller's
    readme_config(playbooks, 'path = /srv/stray.jsonl')
    outcome_settings.export_controller_config(None, environ)
    assert outcome_settings.resolve(environ=environ, cwd=str(playbooks))['origin']['path'] == 'default'
    # ANSIBLE_CONFIG set for the module itself still wins
    environ['ANSIBLE_CONFIG'] = str(playbooks / 'ansible.cfg')
    assert outcome_settings.resolve(environ=environ, cwd=str(playbooks))['path'] == '/srv/stray.jsonl'


def test_review_reads_where_the_readme_config_makes_the_callback_write(clean_env, monkeypatch):
    monkeypatch.setenv('ANSIBLE_CONFIG', readme_config(clean_env))
    (clean_env / 'outcomes').mkdir()
    writer = store.JsonlWriter(str(clean_env / 'outcomes' / 'outcomes.jsonl'))
    writer.write(verified('stg1', NOW - datetime.timedelta(hours=2)))
    writer.close()
    params = {'period': 'weekly', 'until': store.iso(NOW), 'outcome_logs': [], 'source': 'jsonl',
              'output_dir': str(clean_env / 'reports')}
    result = review_report.produce(params, write=True)
    assert result['records_read'] == 1
    assert result['files']['html'].startswith(str(clean_env / 'reports'))


@pytest.mark.parametrize('content', [None, '', '{"kind": "task", "recorded_at": "2020-01-01T00:00:00Z"}\n'])
def test_review_of_a_missing_or_empty_source_fails_with_the_path(clean_env, content):
    path = clean_env / 'outcomes.jsonl'
    if content is not None:
        path.write_text(content)
    params = {'period': 'weekly', 'until': store.iso(NOW), 'outcome_logs': [str(path)], 'source': 'jsonl',
              'output_dir': str(clean_env / 'reports')}
    with pytest.raises(MaintenanceError, match=str(path)):
        review_report.produce(params, write=True)
    assert not (clean_env / 'reports').exists()


def test_promotion_gate_on_a_missing_log_says_so(clean_env):
    checks, evidence = promotion_gate(str(clean_env / 'nowhere.jsonl'), SET, now=store.iso(NOW))
    assert checks[0]['status'] == 'critical' and evidence == []
    assert 'does not exist' in checks[0]['reason'] and 'nowhere.jsonl' in checks[0]['reason']


def test_promotion_gate_reads_the_postgresql_store(clean_env, postgres, postgres_db):
    dsn = postgres.dsn(postgres_db)
    with postgres.connect(postgres_db) as conn:
        store.ensure_table(conn, None, 'maintenance_outcomes')
        store.insert_records(conn, None, 'maintenance_outcomes', [verified('stg1', NOW - datetime.timedelta(hours=1))])
    checks, evidence = promotion_gate(None, SET, now=store.iso(NOW), dsn=dsn)
    assert checks[0]['status'] == 'ok', checks[0]['reason']
    assert [e['host'] for e in evidence] == ['stg1']
    assert postgres.password not in str(checks)
    refused, evidence = promotion_gate(None, SET + ['apcx-other=2'], now=store.iso(NOW), dsn=dsn)
    assert refused[0]['status'] == 'critical' and evidence == []


def test_promotion_gate_on_an_unreachable_or_missing_table_is_critical(clean_env, postgres, postgres_db):
    checks, _evidence = promotion_gate(None, SET, now=store.iso(NOW), dsn=postgres.dsn(postgres_db), pg_table='no_such_table')
    assert checks[0]['status'] == 'critical' and 'no_such_table' in checks[0]['reason']
    assert postgres.password not in checks[0]['reason']
