"""A project that installed the collection from its built tarball (issue 17), not a checkout of this repository:
its own directory, ansible.cfg (collections path, outcome callback, store) and inventory.

- install_timers: the units run the project's inventory, with its ansible.cfg, in its directory, by FQCN; on the
  old code they pointed into the collection (``<collection>/inventories/production``, the collection as working
  directory, ``<collection>/playbooks/...``) and ignored the project's ansible.cfg.
- The done-when test of the issue: the store set once, in the project's ansible.cfg (PostgreSQL); cadence jobs and a
  review run by ansible-runner as AWX runs them in an execution environment (a fresh private data dir and HOME per
  job, both gone afterwards, the project copied in as a project sync does); a persisting condition alerts once,
  clears with one "resolved", and the weekly review names the check that was not ok.
"""

import json
import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from tests.harness.http import HttpServer, reply
from tests.harness.paths import python_interpreter
from tests.harness.project import VENV_BIN, built_tarball, clean_env, make_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    return built_tarball(tmp_path_factory.mktemp('build'))


def run_in(project, args, home, extra_env=None):
    return subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook')] + list(args), capture_output=True, text=True,
                          check=False, cwd=str(project), env=clean_env(home, extra_env), timeout=900)


def unit_values(path, key):
    return [line.split('=', 1)[1] for line in path.read_text().splitlines() if line.startswith(key + '=')]


def timers_args(root, *more):
    return ['-i', 'inventories/production', 'autopilotcx.maintenance.install_timers',
            '-e', 'install_timers_root=%s' % root, '-e', 'install_timers_mode=systemd',
            '-e', 'install_timers_ansible_playbook=%s' % os.path.join(VENV_BIN, 'ansible-playbook')] + list(more)


@pytest.mark.skipif(shutil.which('systemd-analyze') is None, reason='systemd-analyze is not installed')
def test_install_timers_from_a_tarball_project_points_at_the_project(tmp_path, tarball):
    project = make_project(tmp_path, tarball, config='[autopilotcx_outcomes]\npath = outcomes.jsonl\n')
    root = tmp_path / 'root'
    proc = run_in(project, timers_args(root, '-e', '{"install_timers_cadences": ["service_health", "review_weekly"]}'),
                  tmp_path / 'home')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    # short: one line per unit and task at normal verbosity
    assert len(proc.stdout.splitlines()) < 120, len(proc.stdout.splitlines())
    unit_dir = root / 'etc' / 'systemd' / 'system'
    service = unit_dir / 'autopilotcx-service-health.service'
    assert unit_values(service, 'WorkingDirectory') == [str(project)]
    environment = dict(v.split('=', 1) for v in unit_values(service, 'Environment'))
    assert environment['ANSIBLE_CONFIG'] == str(project / 'ansible.cfg')
    assert environment['ANSIBLE_CALLBACKS_ENABLED'] == 'autopilotcx.maintenance.outcomes'
    assert 'AUTOPILOTCX_OUTCOME_LOG' not in environment        # the store is the project's ansible.cfg's
    (exec_start,) = unit_values(service, 'ExecStart')
    argv = shlex.split(exec_start)
    assert argv == [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', str(project / 'inventories' / 'production'),
                    'autopilotcx.maintenance.health_check']
    review = unit_values(unit_dir / 'autopilotcx-review-weekly.service', 'ExecStart')[0]
    assert review.endswith(' autopilotcx.maintenance.review_weekly')
    # the units are valid for systemd
    verify = subprocess.run(['systemd-analyze', 'verify'] + [str(p) for p in sorted(unit_dir.glob('*.timer'))],
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stderr
    # what the unit runs works as the unit runs it: its directory, its environment, nothing else
    proc = subprocess.run(argv + ['--syntax-check'], capture_output=True, text=True, check=False, cwd=str(project),
                          env=clean_env(tmp_path / 'home', environment))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # the install run itself recorded into the project's store (its ansible.cfg, relative to it)
    records = [json.loads(line) for line in (project / 'outcomes.jsonl').read_text().splitlines()]
    assert any(r['kind'] == 'run' for r in records) and any(r.get('task') == 'Write the timer units' for r in records)


def test_install_timers_cron_from_a_tarball_project(tmp_path, tarball):
    project = make_project(tmp_path, tarball)
    root = tmp_path / 'root'
    args = timers_args(root, '-e', '{"install_timers_cadences": ["service_health"]}')
    args[args.index('install_timers_mode=systemd')] = 'install_timers_mode=cron'
    proc = run_in(project, args, tmp_path / 'home')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    text = (root / 'etc' / 'cron.d' / 'autopilotcx-maintenance').read_text()
    assert 'ANSIBLE_CONFIG=%s\n' % (project / 'ansible.cfg') in text
    assert re.search(r' cd %s && flock -n \S+ \S+ -i %s autopilotcx\.maintenance\.health_check >> '
                     % (re.escape(str(project)), re.escape(str(project / 'inventories' / 'production'))), text), text


def test_install_timers_without_an_inventory_fails_naming_the_variable(tmp_path, tarball):
    project = make_project(tmp_path, tarball)
    args = timers_args(tmp_path / 'root')[2:]            # no -i, and the ansible.cfg names none
    proc = run_in(project, args, tmp_path / 'home')
    assert proc.returncode != 0
    assert 'install_timers_inventory' in proc.stdout and '-i' in proc.stdout, proc.stdout[-2000:]
    assert not (tmp_path / 'root').exists()


def test_install_timers_without_a_project_ansible_cfg_fails_naming_the_variable(tmp_path, tarball):
    project = make_project(tmp_path, tarball, config=None)
    proc = run_in(project, timers_args(tmp_path / 'root'), tmp_path / 'home',
                  {'ANSIBLE_COLLECTIONS_PATH': str(project / 'collections')})
    assert proc.returncode != 0
    assert 'install_timers_project_dir' in proc.stdout and 'ansible.cfg' in proc.stdout, proc.stdout[-2000:]
    assert not (tmp_path / 'root').exists()
    # naming it works
    proc = run_in(project, timers_args(tmp_path / 'root', '-e', 'install_timers_project_dir=%s' % project,
                                       '-e', '{"install_timers_cadences": ["service_health"]}'),
                  tmp_path / 'home', {'ANSIBLE_COLLECTIONS_PATH': str(project / 'collections')})
    assert proc.returncode == 0, proc.stdout[-3000:]
    service = tmp_path / 'root' / 'etc' / 'systemd' / 'system' / 'autopilotcx-service-health.service'
    assert unit_values(service, 'WorkingDirectory') == [str(project)]
    assert unit_values(service, 'Environment')[0].startswith('ANSIBLE_CALLBACKS_ENABLED=')   # no ANSIBLE_CONFIG


# ------------------------------------------------------------------------------------------------ done when
def runner_job(base, project, number, playbook, inventory, extravars=None):
    """One AWX-shaped job: the project copied into a new private data dir, a new HOME, both removed afterwards.
    Nothing of the store is in the job's environment: the project's ansible.cfg is the one setting."""
    import ansible_runner
    data = base / ('job-%d' % number)
    home = base / ('home-%d' % number)
    shutil.copytree(str(project), str(data / 'project'), symlinks=True)
    (data / 'inventory').mkdir()
    (data / 'env').mkdir()
    home.mkdir()
    (data / 'inventory' / 'hosts.yml').write_text(yaml.safe_dump(inventory))
    (data / 'env' / 'envvars').write_text(yaml.safe_dump({
        'HOME': str(home), 'JOB_ID': str(number), 'PATH': VENV_BIN + os.pathsep + os.environ.get('PATH', ''),
        'ANSIBLE_LOCAL_TEMP': str(home / 'tmp'), 'ANSIBLE_REMOTE_TEMP': str(home / 'tmp')}))
    result = ansible_runner.run(private_data_dir=str(data), playbook=playbook, extravars=extravars or {}, quiet=True,
                                settings={'suppress_ansible_output': True})
    stdout = result.stdout.read() if result.stdout else ''
    status = result.status
    shutil.rmtree(str(data))     # the container is gone
    shutil.rmtree(str(home))
    return status, stdout


def test_done_when_store_once_alert_once_resolve_once_review_names_it(tmp_path, tarball, postgres, postgres_db,
                                                                      webhook_receiver, monkeypatch):
    for name in list(os.environ):
        if name.startswith(('ANSIBLE_', 'AUTOPILOTCX_', 'PG')):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))
    # the one setting: the store, in the project's ansible.cfg
    project = make_project(tmp_path, tarball, config='[autopilotcx_outcomes]\npg_dsn = %s\n' % postgres.dsn(postgres_db))
    jwks = {'keys': [{'kty': 'RSA', 'kid': 'k1', 'alg': 'RS256', 'use': 'sig', 'n': 'x' * 342, 'e': 'AQAB'}]}
    idp = {'status': 503}
    routes = {'/jwks.json': lambda req: reply(idp['status'], jwks if idp['status'] == 200 else {'error': 'down'})}
    jobs = []

    def job(playbook, extravars=None):
        jobs.append(playbook)
        return runner_job(tmp_path, project, len(jobs), playbook, inventory, extravars)

    def token_alerts():
        return [r['json'] for r in webhook_receiver.received
                if 'json' in r and 'Token validation' in str(r['json'].get('title', ''))]

    with HttpServer(routes=routes) as server:
        inventory = {'all': {'hosts': {'idp-check': {
            'ansible_connection': 'local', 'ansible_python_interpreter': python_interpreter(),
            'token_validation_jwks_url': server.url + '/jwks.json',
            'notify_channels': [{'name': 'hook', 'type': 'webhook', 'url': webhook_receiver.url + '/hook'}]}}}}
        # the identity provider is down for three jobs: one alert, the verdict fails each job
        for _index in range(3):
            status, out = job('autopilotcx.maintenance.token_check')
            assert status == 'failed' and 'check(s) at or above critical' in out, out[-3000:]
        assert len(token_alerts()) == 1, [a.get('title') for a in token_alerts()]
        assert token_alerts()[0]['state'] == 'firing'
        # it recovers: one "resolved", then nothing more
        idp['status'] = 200
        for _index in range(2):
            status, out = job('autopilotcx.maintenance.token_check')
            assert status == 'successful', out[-3000:]
        alerts = token_alerts()
        assert [a['state'] for a in alerts] == ['firing', 'resolved'], alerts
    # the weekly review, another fresh job, reads the same store and names what was not ok
    reviews = tmp_path / 'reviews'
    status, out = job('autopilotcx.maintenance.review_weekly', {'review_output_dir': str(reviews)})
    assert status == 'successful', out[-3000:]
    (report,) = list(reviews.rglob('*.md'))
    text = report.read_text()
    # on the old code the review role named the callback's file, so a job with a DSN read only its own first records
    assert 'idp-check' in text, text[:1500]
    failing = set()
    for row in postgres.execute("SELECT record FROM maintenance_outcomes WHERE record->>'kind' = 'task'", dbname=postgres_db):
        failing.update(c['name'] for c in row[0].get('checks') or [] if c.get('status') not in ('ok', None))
    assert failing, 'no non-ok check in the store'
    not_ok = text.split('## Checks not ok during the period', 1)[1].split('\n## ', 1)[0]
    assert any(name in not_ok for name in failing), (failing, text[:3000])
    assert len(jobs) == 6
