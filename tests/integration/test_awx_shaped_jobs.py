"""AWX-shaped jobs (issue 17): every job run by ansible-runner in its own fresh private data dir and fresh HOME, both
removed afterwards, as an execution-environment container is; the only thing that outlives a job is PostgreSQL.

On the old code the promotion gate read only a JSON-lines file under the job's HOME, so production never saw
staging's record, and notify's dedup state died with the job, so a persisting condition alerted every job and
never resolved.
"""

import os
import shutil

import pytest
import yaml

from tests.harness.ansible_run import ansible_env
from tests.harness.paths import ROOT, python_interpreter

PLAYBOOKS = os.path.join(ROOT, 'tests', 'integration', 'playbooks')
VENV_BIN = os.path.dirname(python_interpreter())
PACKAGE_SET = ['apcx-openssl=3.0.16-1', 'apcx-kernel=6.1.119-1']
STORE_ENV = ('AUTOPILOTCX_OUTCOME_LOG', 'AUTOPILOTCX_OUTCOME_DSN', 'AUTOPILOTCX_OUTCOME_TABLE', 'AUTOPILOTCX_OUTCOME_SCHEMA',
             'AUTOPILOTCX_OUTCOME_SPOOL', 'ANSIBLE_CONFIG')


class Awx(object):
    """Runs each job like AWX: a new private data dir and HOME per job, deleted when the job ends."""

    def __init__(self, base, dsn):
        self.base = base
        self.dsn = dsn
        self.jobs = 0

    def job(self, playbook, extravars, inventory='localhost ansible_connection=local\n'):
        import ansible_runner
        self.jobs += 1
        data = self.base / ('job-%d' % self.jobs)
        home = self.base / ('home-%d' % self.jobs)
        for directory in (data / 'project', data / 'inventory', data / 'env', home):
            directory.mkdir(parents=True)
        shutil.copy(os.path.join(PLAYBOOKS, playbook), str(data / 'project'))
        (data / 'inventory' / 'hosts').write_text(inventory + '\n[all:vars]\nansible_connection=local\n'
                                                  'ansible_python_interpreter=%s\n' % python_interpreter())
        env = ansible_env()
        envvars = dict((key, env[key]) for key in ('ANSIBLE_COLLECTIONS_PATH', 'ANSIBLE_CALLBACKS_ENABLED', 'ANSIBLE_ROLES_PATH'))
        envvars.update({'HOME': str(home), 'AUTOPILOTCX_OUTCOME_DSN': self.dsn, 'JOB_ID': str(self.jobs),
                        'PATH': VENV_BIN + os.pathsep + os.environ.get('PATH', ''), 'ANSIBLE_LOCAL_TEMP': str(home / 'tmp'),
                        'ANSIBLE_REMOTE_TEMP': str(home / 'tmp')})
        (data / 'env' / 'envvars').write_text(yaml.safe_dump(envvars))
        result = ansible_runner.run(private_data_dir=str(data), playbook=playbook, extravars=extravars, quiet=True,
                                    settings={'suppress_ansible_output': True})
        stdout = result.stdout.read() if result.stdout else ''
        events = list(result.events)
        status = result.status
        shutil.rmtree(str(data))   # the container is gone: nothing of this job survives but PostgreSQL
        shutil.rmtree(str(home))
        return status, stdout, events


@pytest.fixture()
def awx(tmp_path, postgres, postgres_db, monkeypatch):
    for name in STORE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))
    return Awx(tmp_path, postgres.dsn(postgres_db))


def gate_result(events):
    found = [e['event_data']['res'] for e in events if e['event'] in ('runner_on_ok', 'runner_on_failed')
             and e['event_data'].get('task') == 'Require a recent staging verification of the same package set']
    assert len(found) == 1, [e['event'] for e in events]
    return found[0]


def test_production_job_sees_staging_jobs_record_in_postgres(awx, postgres):
    status, out, _events = awx.job('awx_patch_staging.yml', {'awx_package_set': PACKAGE_SET}, '[staging]\nstg1\n')
    assert status == 'successful', out[-3000:]
    status, out, events = awx.job('awx_patch_production.yml', {'awx_package_set': PACKAGE_SET}, '[production]\nprod1\n')
    assert status == 'successful', out[-3000:]
    gate = gate_result(events)
    assert gate['checks'][0]['status'] == 'ok' and gate['evidence'][0]['host'] == 'stg1'
    assert gate['evidence'][0]['run_id'] == 'awx-job-1'
    assert postgres.password not in out


def test_failed_staging_job_means_production_is_refused(awx):
    status, out, _events = awx.job('awx_patch_staging.yml', {'awx_package_set': PACKAGE_SET, 'awx_staging_health_fails': True},
                                   '[staging]\nstg1\n')
    assert status == 'failed', out[-3000:]
    status, out, events = awx.job('awx_patch_production.yml', {'awx_package_set': PACKAGE_SET}, '[production]\nprod1\n')
    assert status == 'failed'
    gate = gate_result(events)
    assert gate['checks'][0]['status'] == 'critical' and gate['evidence'] == []


def test_persisting_condition_alerts_once_then_resolves_once(awx, webhook_receiver, tmp_path):
    condition = tmp_path / 'disk-full'
    condition.write_text('97%')
    extravars = {'awx_condition_file': str(condition), 'awx_channels': [{'type': 'webhook', 'url': webhook_receiver.url + '/hook'}]}
    for index in range(3):
        status, out, _events = awx.job('awx_condition.yml', extravars)
        assert status == 'successful', out[-3000:]
    firing = [r for r in webhook_receiver.received if 'json' in r]
    assert len(firing) == 1, [r['json'].get('title') for r in firing]
    condition.unlink()
    status, out, _events = awx.job('awx_condition.yml', extravars)
    assert status == 'successful', out[-3000:]
    status, out, _events = awx.job('awx_condition.yml', extravars)    # still clear: nothing more
    assert status == 'successful', out[-3000:]
    bodies = [r['json'] for r in webhook_receiver.received if 'json' in r]
    assert len(bodies) == 2
    assert 'resolved' in str(bodies[1]).lower()
