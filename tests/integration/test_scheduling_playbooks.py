"""Scheduling: awx_configure.yml (dry run, checked against the awx.awx modules), install_timers.yml into a temporary
root (systemd units verified by systemd-analyze, cron.d), the execution-environment build context, and a cadence
playbook run through ansible-runner with the outcome callback beside runner's event callback.

No AWX server runs here: the objects the playbook would send are rendered to JSON and held against the awx.awx
modules' own argument specifications and against the tasks that send them.
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from dateutil import rrule as du

from tests.harness.ansible_run import ansible_env, read_outcomes, run_playbook
from tests.harness.paths import ROOT, python_interpreter

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling import cadence
pytestmark = pytest.mark.slow

VENV_BIN = os.path.dirname(python_interpreter())
AWX_MODULES = os.path.join(ROOT, '.venv', 'lib', 'python3.11', 'site-packages', 'ansible_collections', 'awx', 'awx',
                           'plugins', 'modules')
TABLE = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'maintenance', 'defaults', 'main.yml')))['maintenance_cadences']
SCHEDULED = [e for e in TABLE if e.get('rrule')]
UTC = datetime.timezone.utc


def awx_env():
    return {'ANSIBLE_COLLECTIONS_PATH': ansible_env()['ANSIBLE_COLLECTIONS_PATH'] + ':' + os.path.join(
        ROOT, '.venv', 'lib', 'python3.11', 'site-packages')}


# ------------------------------------------------------------------------------------------------ AWX
@pytest.fixture(scope='module')
def awx_dry_run(tmp_path_factory):
    path = tmp_path_factory.mktemp('awx') / 'objects.json'
    settings = {'organization': 'Ops', 'security_leads': ['alice', 'bob'], 'job_slice_count': {'service_health': 4},
                'timeout': {'weekly_patching': 7200}}
    proc = run_playbook(os.path.join(ROOT, 'playbooks', 'awx_configure.yml'), outcome_log=path.parent / 'o.jsonl',
                        extra_vars={'awx_configure_dry_run': True, 'awx_configure_dry_run_path': str(path),
                                    'awx_configure_settings': settings}, env=awx_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(path.read_text()), path.parent / 'o.jsonl'


def test_awx_configure_syntax_check():
    proc = run_playbook(os.path.join(ROOT, 'playbooks', 'awx_configure.yml'), args=['--syntax-check'], env=awx_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_awx_dry_run_sends_nothing_and_records_its_run(awx_dry_run):
    objects, outcome_log = awx_dry_run
    records = read_outcomes(outcome_log)
    sent = [r for r in records if r['action'].startswith('awx.awx.')]
    assert len(sent) == len(objects) and all(r['status'] == 'skipped' for r in sent)   # nothing went to a controller
    assert [r['status'] for r in records if r['action'] == 'ansible.builtin.copy'] == ['changed']
    assert objects['organization'] == [{'name': 'Ops', 'state': 'present'}]


def test_awx_one_job_template_per_cadence_playbook_with_outcome_callback(awx_dry_run):
    objects, _log = awx_dry_run
    templates = {t['name']: t for t in objects['job_template']}
    assert sorted(t['playbook'] for t in templates.values()) == sorted('playbooks/' + e['playbook'] for e in TABLE)
    (ctype,) = objects['credential_type']
    # AWX refuses ANSIBLE_* injectors: the callback is enabled by the project's ansible.cfg (test_awx_real.py)
    assert ctype['injectors']['env'] == {'AUTOPILOTCX_OUTCOME_DSN': '{{ dsn }}'}   # AWX templates it, Ansible must not
    assert [f['secret'] for f in ctype['inputs']['fields'] if f['id'] == 'dsn'] == [True]
    outcome_credential = next(c for c in objects['credential'] if c['credential_type'] == ctype['name'])
    for template in templates.values():
        assert any(c.startswith(outcome_credential['name'] + '++') for c in template['credentials'])
        assert template['notification_templates_error'] == ['AutopilotCX maintenance failures']
        assert template['ask_inventory_on_launch'] is True and template['project'] == objects['project'][0]['name']
    assert templates['maintenance service_health']['job_slice_count'] == 4
    assert templates['maintenance weekly_patching']['timeout'] == 7200
    # placeholders never overwrite secrets filled in by people
    assert all(c['update_secrets'] is False for c in objects['credential'])
    assert {i['name'] for i in objects['inventory']} == {'staging', 'production'}
    assert {s['source_path'] for s in objects['inventory_source']} == {'inventories/staging', 'inventories/production'}


def test_awx_schedules_come_from_the_table_and_fire_when_it_says(awx_dry_run):
    objects, _log = awx_dry_run
    schedules = {s['name']: s for s in objects['schedule']}
    assert len(schedules) == len(SCHEDULED)
    after = datetime.datetime(2026, 11, 24, 5, 0, 30, tzinfo=UTC)
    for entry in SCHEDULED:
        schedule = schedules['maintenance %s schedule' % entry['name']]
        assert schedule['rrule'].startswith('DTSTART;TZID=UTC:')
        assert cadence.awx_rrule_errors(schedule['rrule']) == []
        got = list(du.rrulestr(schedule['rrule']).xafter(after, count=6))
        assert got == cadence.occurrences(entry['rrule'], 6, after), entry['name']
    patching = schedules['maintenance weekly_patching schedule']
    assert patching['unified_job_template'] == 'maintenance weekly_patching workflow'
    monthly = du.rrulestr(schedules['maintenance monthly_os_updates schedule']['rrule'])
    got = monthly.between(datetime.datetime(2026, 11, 1, tzinfo=UTC), datetime.datetime(2027, 3, 1, tzinfo=UTC))
    expected = ['2026-11-29 02:00', '2026-12-27 02:00', '2027-01-31 02:00', '2027-02-28 02:00']
    assert [g.strftime('%Y-%m-%d %H:%M') for g in got] == expected
    assert not any('emergency' in name for name in schedules)


def test_awx_weekly_patching_workflow(awx_dry_run):
    objects, _log = awx_dry_run
    (workflow,) = objects['workflow_job_template']
    nodes = {n['identifier']: n for n in workflow['workflow_nodes']}
    chain, current = [], 'patch_staging'
    while current:
        chain.append(current)
        following = nodes[current].get('related', {}).get('success_nodes', [])
        current = following[0]['identifier'] if following else None
    assert chain == ['patch_staging', 'health_gate_staging', 'approve_production', 'patch_production',
                     'health_gate_production']
    assert nodes['patch_staging']['inventory']['name'] == 'staging'
    assert nodes['patch_production']['inventory']['name'] == 'production'
    assert nodes['health_gate_staging']['unified_job_template']['name'] == 'maintenance service_health'
    assert nodes['approve_production']['unified_job_template']['type'] == 'workflow_approval'
    assert nodes['approve_production']['unified_job_template']['timeout'] == 3600
    approval = [r for r in objects['role'] if r['role'] == 'approval']
    assert approval == [{'team': 'Security', 'role': 'approval', 'workflows': [workflow['name']],
                         'lookup_organization': 'Ops', 'state': 'present'}]


def test_awx_emergency_hotfix_survey_and_security_team_only(awx_dry_run):
    objects, _log = awx_dry_run
    hotfix = next(t for t in objects['job_template'] if t['name'] == 'maintenance emergency_hotfix')
    assert hotfix['survey_enabled'] is True
    questions = {q['variable']: q for q in hotfix['survey_spec']['spec']}
    assert set(questions) == {'emergency_approver', 'emergency_change_reference'}
    assert all(q['required'] for q in questions.values())
    assert questions['emergency_approver']['type'] == 'multiplechoice'
    assert questions['emergency_approver']['choices'] == 'alice\nbob'
    execute = [r for r in objects['role'] if r['role'] == 'execute']
    security = [r for r in execute if r['team'] == 'Security']
    assert len(security) == 1 and 'maintenance emergency_hotfix' in security[0]['job_templates']
    assert set(security[0]['job_templates']) == {'maintenance %s' % e['name'] for e in TABLE
                                                 if e.get('launched_by') == 'security_leads'}
    # nobody else gets execute on the emergency templates
    others = [r for r in execute if r['team'] != 'Security']
    assert not any('maintenance emergency_hotfix' in r['job_templates'] for r in others)


def _awx_spec(module):
    """The argument spec of an awx.awx module, built from its documentation (what the module validates)."""
    source = open(os.path.join(AWX_MODULES, module + '.py')).read()
    doc = yaml.safe_load(re.search(r"DOCUMENTATION = r?'''(.*?)'''", source, re.S).group(1))

    def convert(options):
        spec = {}
        for name, option in options.items():
            entry = {'type': option.get('type', 'str')}
            for key in ('choices', 'elements', 'aliases'):
                if key in option:
                    entry[key] = option[key]
            if 'suboptions' in option and option.get('type') in ('dict', 'list'):
                entry['options'] = convert(option['suboptions'])
            spec[name] = entry
        return spec
    return convert(doc['options'])


def test_awx_objects_are_valid_module_parameters(awx_dry_run):
    """Each object passes the argument validation of the awx.awx module it is sent to (types, choices, suboptions)."""
    objects, _log = awx_dry_run
    for kind, items in objects.items():
        validator = ArgumentSpecValidator(_awx_spec(kind))
        for item in items:
            result = validator.validate(dict(item))
            assert result.error_messages == [], (kind, item.get('name'))


def test_awx_tasks_pass_every_key_of_the_objects(awx_dry_run):
    """The send tasks map every rendered key to the module option of the same name, so the dry run is what is sent."""
    objects, _log = awx_dry_run
    play = yaml.safe_load(open(os.path.join(ROOT, 'playbooks', 'awx_configure.yml')))[0]
    block = next(t for t in play['tasks'] if t.get('name') == 'Send the objects to AWX')['block']
    tasks = {}
    for task in block:
        module = next(k for k in task if k.startswith('awx.awx.'))
        tasks[module.split('.')[-1]] = task
    assert set(tasks) == set(objects)
    for kind, items in objects.items():
        params = tasks[kind]['awx.awx.' + kind]
        assert tasks[kind]['loop'] == '{{ awx_configure_objects.%s }}' % kind
        for key in set(k for item in items for k in item):
            assert key in params, (kind, key)
            assert re.match(r'^\{\{ item\.%s( \| default\(omit\))? \}\}$' % key, params[key]), (kind, key, params[key])


# ------------------------------------------------------------------------------------------------ timers
def install_timers(root, mode, outcome_log, cadences=None, args=()):
    extra = {'install_timers_root': str(root), 'install_timers_mode': mode,
             'ansible_python_interpreter': python_interpreter(), 'install_timers_outcome_log': '/var/log/x/o.jsonl'}
    if cadences:
        extra['install_timers_cadences'] = cadences
    # the jobs use the inventory of this run (issue 17): the checkout's production inventory
    return run_playbook(os.path.join(ROOT, 'playbooks', 'install_timers.yml'), extra_vars=extra,
                        inventory=os.path.join(ROOT, 'inventories', 'production'), outcome_log=outcome_log,
                        args=list(args))


def _unit_value(path, key):
    for line in open(path):
        if line.startswith(key + '='):
            return line.strip().split('=', 1)[1]
    return None


@pytest.mark.skipif(shutil.which('systemd-analyze') is None, reason='systemd-analyze is not installed')
def test_install_timers_systemd_into_a_temporary_root(tmp_path):
    root = tmp_path / 'root'
    log = tmp_path / 'outcomes.jsonl'
    proc = install_timers(root, 'systemd', log)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # normal verbosity stays readable: one line per unit and task, not a result dump per loop item (issue 17)
    assert len(proc.stdout.splitlines()) < 300, len(proc.stdout.splitlines())
    unit_dir = root / 'etc' / 'systemd' / 'system'
    timers = sorted(p.name for p in unit_dir.glob('*.timer'))
    assert timers == sorted(cadence.unit_name(e['name']) + '.timer' for e in SCHEDULED)
    for entry in SCHEDULED:
        unit = cadence.unit_name(entry['name'])
        assert _unit_value(unit_dir / (unit + '.timer'), 'OnCalendar') == cadence.on_calendar(entry['rrule'])
        assert _unit_value(unit_dir / (unit + '.timer'), 'Persistent') == ('false' if entry.get('window') else 'true')
        assert _unit_value(unit_dir / (unit + '.service'), 'ExecStart').endswith('/playbooks/' + entry['playbook'])
        assert 'ANSIBLE_CALLBACKS_ENABLED=autopilotcx.maintenance.outcomes' in (unit_dir / (unit + '.service')).read_text()
    assert _unit_value(unit_dir / 'autopilotcx-monthly-os-updates.timer', 'OnCalendar') == 'Sun *-*~07/1 02:00:00 UTC'
    # the playbook compared systemd-analyze's elapses with dateutil for every timer, and ran systemd-analyze verify
    records = read_outcomes(log)
    compared = [r for r in records if r['task'] == 'Compare them with the table\'s RRULE (python-dateutil)']
    assert len(compared) == 1 and compared[0]['status'] == 'ok'
    # (task names are matched loosely: the outcome callback redacts extra-var values such as "systemd" in them)
    verify = [r for r in records if r['task'].startswith('Check the unit files with') and r['task'].endswith('verify')]
    assert [r['status'] for r in verify] == ['ok']
    assert not (tmp_path / 'etc').exists()           # nothing outside the given root


def test_install_timers_check_mode_writes_nothing_then_is_idempotent(tmp_path):
    root = tmp_path / 'root'
    subset = ['service_health', 'monthly_os_updates', 'review_quarterly']
    proc = install_timers(root, 'systemd', tmp_path / 'o.jsonl', subset, args=['--check'])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not root.exists()
    proc = install_timers(root, 'systemd', tmp_path / 'o.jsonl', subset)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list((root / 'etc' / 'systemd' / 'system').glob('*.timer'))) == 3
    unit_dir = root / 'etc' / 'systemd' / 'system'
    # a cadence dropped from the table loses its units on the next run; units of other table entries stay
    (unit_dir / 'autopilotcx-retired-job.timer').write_text('[Timer]\nOnCalendar=daily\n')
    (unit_dir / 'autopilotcx-tls-check.timer').write_text('[Timer]\nOnCalendar=daily\n')
    proc = install_timers(root, 'systemd', tmp_path / 'o.jsonl', subset)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (unit_dir / 'autopilotcx-retired-job.timer').exists()
    assert (unit_dir / 'autopilotcx-tls-check.timer').exists()
    assert re.search(r'localhost\s+: ok=\d+\s+changed=1\s', proc.stdout), proc.stdout[-600:]
    (unit_dir / 'autopilotcx-tls-check.timer').unlink()
    proc = install_timers(root, 'systemd', tmp_path / 'o.jsonl', subset)
    assert proc.returncode == 0 and re.search(r'localhost\s+: ok=\d+\s+changed=0\s', proc.stdout), proc.stdout[-600:]


def test_install_timers_cron_entries(tmp_path):
    root = tmp_path / 'root'
    proc = install_timers(root, 'cron', tmp_path / 'o.jsonl')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (root / 'etc' / 'systemd').exists()
    text = (root / 'etc' / 'cron.d' / 'autopilotcx-maintenance').read_text()
    assert 'CRON_TZ=UTC' in text and 'ANSIBLE_CALLBACKS_ENABLED=autopilotcx.maintenance.outcomes' in text
    lines = [line for line in text.splitlines() if line and not line.startswith('#') and '=' not in line.split()[0]]
    assert len(lines) == len(SCHEDULED)
    for entry, line in zip(SCHEDULED, lines):
        schedule = cadence.cron_schedule(entry['rrule'])
        assert line.startswith(schedule['line'] + ' root ')
        assert ('playbooks/%s ' % entry['playbook']) in line
        if schedule['guard']:
            assert (' root ' + schedule['guard'] + ' && ') in line
    last_sunday = next(line for entry, line in zip(SCHEDULED, lines) if entry['name'] == 'monthly_os_updates')
    assert last_sunday.startswith('0 2 * * 0 root [ "$(date -u -d +7days +\\%d)" -le 07 ] && ')
    # the guard really runs under sh: on the last Sunday of November 2026 it passes, a week earlier it does not
    guard = last_sunday.split(' root ', 1)[1].split(' && ')[0].replace('\\%', '%')
    for day, expected in (('2026-11-29', 0), ('2026-11-22', 1), ('2027-02-28', 0), ('2027-02-21', 1)):
        pinned = guard.replace('date -u -d +7days', 'date -u -d "%s +7days"' % day)   # "today" is that day
        rc = subprocess.run(['sh', '-c', pinned], check=False).returncode
        assert rc == expected, day


def test_install_timers_rejects_unknown_cadences(tmp_path):
    proc = install_timers(tmp_path / 'root', 'systemd', tmp_path / 'o.jsonl', ['no_such_job'])
    assert proc.returncode != 0
    assert 'no_such_job' in proc.stdout
    assert not (tmp_path / 'root').exists()


# ------------------------------------------------------------------------------------------------ EE
def test_execution_environment_context(tmp_path):
    proc = subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'ee-context.sh'), str(tmp_path / 'ee')],
                          capture_output=True, text=True, cwd=ROOT, check=False,
                          env=dict(os.environ, PATH=VENV_BIN + ':' + os.environ['PATH']))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    context = tmp_path / 'ee' / 'context'
    containerfile = (context / 'Containerfile').read_text()
    assert 'ansible-core==2.19.14' in containerfile and 'ansible-runner' in containerfile
    # the project's ansible.cfg enables the outcome callback; an ENV here would override the project's own list
    assert 'ANSIBLE_CALLBACKS_ENABLED' not in containerfile
    assert 'ansible-galaxy collection install' in containerfile
    assert (context / '_build' / 'requirements.txt').read_text() == open(os.path.join(ROOT, 'requirements.txt')).read()
    assert (context / '_build' / 'bindep.txt').read_text() == open(os.path.join(ROOT, 'bindep.txt')).read()
    galaxy = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
    assert galaxy == {'collections': [{'name': '/build/collections/autopilotcx-maintenance.tar.gz', 'type': 'file'}]}
    tarball = context / '_build' / 'collections' / 'autopilotcx-maintenance.tar.gz'
    # the collection installs from that tarball, and ansible-builder's introspection (what the image build runs)
    # finds its Python and system requirements through meta/execution-environment.yml
    collections = tmp_path / 'installed'
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-galaxy'), 'collection', 'install', '-p', str(collections),
                           str(tarball)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = collections / 'ansible_collections' / 'autopilotcx' / 'maintenance'
    for path in ('plugins/filter/cadence.py', 'plugins/module_utils/scheduling/cadence.py', 'playbooks/awx_configure.yml',
                 'playbooks/install_timers.yml', 'meta/execution-environment.yml'):
        assert (installed / path).exists(), path
    assert not (installed / '.venv').exists() and not (installed / '.tmp').exists()
    proc = subprocess.run([sys.executable, str(context / '_build' / 'scripts' / 'introspect.py'), 'introspect',
                           str(collections), '--write-pip', str(tmp_path / 'pip.txt'),
                           '--write-bindep', str(tmp_path / 'bindep.txt')], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pip = (tmp_path / 'pip.txt').read_text()
    assert 'psycopg[binary]>=3.1' in pip and 'python-dateutil>=2.8' in pip and 'autopilotcx.maintenance' in pip
    assert 'postgresql-client [platform:dpkg]' in (tmp_path / 'bindep.txt').read_text()


# ------------------------------------------------------------------------------------------------ runner
def test_cadence_playbook_through_ansible_runner(tmp_path, monkeypatch):
    """ansible-runner (AWX's engine) with its own event callback, and the outcome callback enabled beside it."""
    import ansible_runner
    monkeypatch.setenv('PATH', VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    data = tmp_path / 'runner'
    (data / 'project').mkdir(parents=True)
    (data / 'inventory').mkdir()
    (data / 'env').mkdir()
    shutil.copy(os.path.join(ROOT, 'tests', 'integration', 'playbooks', 'runner_cadence.yml'), data / 'project')
    (data / 'inventory' / 'hosts').write_text(
        'app1 runner_cadence_queue=3\napp2 runner_cadence_queue=50\n\n[all:vars]\nansible_connection=local\n'
        'ansible_python_interpreter=%s\nrunner_cadence_cores=4096\n' % python_interpreter())
    outcome_log = tmp_path / 'outcomes.jsonl'
    env = ansible_env(outcome_log)
    envvars = {key: env[key] for key in ('ANSIBLE_COLLECTIONS_PATH', 'ANSIBLE_CALLBACKS_ENABLED', 'AUTOPILOTCX_OUTCOME_LOG',
                                         'ANSIBLE_ROLES_PATH')}
    envvars['AUTOPILOTCX_OUTCOME_RUN_ID'] = 'runner-test'
    (data / 'env' / 'envvars').write_text(yaml.safe_dump(envvars))
    result = ansible_runner.run(private_data_dir=str(data), playbook='runner_cadence.yml', quiet=True,
                                settings={'suppress_ansible_output': True})
    assert result.status == 'successful', result.stdout.read() if result.stdout else result.status
    assert result.rc == 0
    # runner's own events (what AWX stores): the check task's results with the checks
    events = list(result.events)
    check_events = [e for e in events if e['event'] == 'runner_on_ok'
                    and e['event_data'].get('task') == 'Judge the load per core']
    assert sorted(e['event_data']['host'] for e in check_events) == ['app1', 'app2']
    runner_checks = {e['event_data']['host']: e['event_data']['res']['checks'] for e in check_events}
    assert {c['name']: c['status'] for c in runner_checks['app2']}['host.queue_depth'] == 'warning'
    assert result.stats['ok'] and set(result.stats['ok']) == {'app1', 'app2'}
    # the outcome records, written by our callback in the same run
    records = read_outcomes(outcome_log)
    judged = {r['host']: r for r in records if r['task'] == 'Judge the load per core'}
    assert set(judged) == {'app1', 'app2'}
    for host in ('app1', 'app2'):
        assert judged[host]['run_id'] == 'runner-test'
        assert judged[host]['cadence'] == 'resource_usage'
        assert judged[host]['action'] == 'autopilotcx.maintenance.metric_check'
        assert judged[host]['checks'] == runner_checks[host]
    assert judged['app2']['worst'] == 'warning' and judged['app1']['worst'] == 'ok'
    (run_record,) = read_outcomes(outcome_log, kind='run')
    assert set(run_record['hosts']) == {'app1', 'app2'}
