"""awx_configure.yml against a real AWX (../shared/awx: AWX 24.6.2.dev0 built from source, its own PostgreSQL).

Part of `make test` (scripts/run-tests.sh runs this module as a stage of its own, beside the others): the AWX is
started once for the module (`up.sh`; emptied first with `down.sh --wipe`) and stopped at the end with `down.sh`
(the schema dump and the venv stay for the next run). When AWX cannot start, every test here FAILS with up.sh's
reason; developers without the real AWX opt out with AUTOPILOTCX_AWX_TESTS=0 (documented in docs/scheduling.md).

Everything is asserted through AWX's REST API, never through the playbook's own output (except what it reports
changed). The tests run in file order and build on each other: one configure run shared by the read-back tests, a
rerun (changed=0), check mode, one run that changes a cadence and removes another, the refusals, the outcome
callback, and last a team project that pulls the collection through collections/requirements.yml.

AWX here runs no jobs (no containers on this machine): the job a template would start is run the way AWX runs it,
with ansible-runner in a fresh private data dir holding the project as AWX synced it, AWX's own credential injection
and the environment AWX gives a job (see test_outcome_callback_reaches_the_store_as_awx_runs_the_job).
"""

import base64
import datetime
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

from tests.harness.ansible_run import ansible_env, run_playbook
from tests.harness.paths import ROOT, python_interpreter
from tests.harness.tier import needs_service

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling import awx_config, cadence

# Runs in `make test`; AUTOPILOTCX_AWX_TESTS=0 is the developer's opt-out (a machine without the real AWX beside the
# repository). Anything else runs the tests, and a real AWX that cannot start fails them with the reason.
pytestmark = [pytest.mark.slow, pytest.mark.service,
              pytest.mark.skipif(os.environ.get('AUTOPILOTCX_AWX_TESTS') == '0',
                                 reason='real-AWX tests switched off with AUTOPILOTCX_AWX_TESTS=0')]


def _awx_dir():
    """../shared/awx beside the repository (CI runs from a clone with shared/ beside it), or beside a parent folder
    (a git worktree under the repository's sibling folder); AUTOPILOTCX_AWX_TEST_DIR overrides."""
    if os.environ.get('AUTOPILOTCX_AWX_TEST_DIR'):
        return os.environ['AUTOPILOTCX_AWX_TEST_DIR']
    here = os.path.abspath(ROOT)
    while os.path.dirname(here) != here:
        candidate = os.path.join(os.path.dirname(here), 'shared', 'awx')
        if os.path.exists(os.path.join(candidate, 'up.sh')):
            return candidate
        here = os.path.dirname(here)
    return os.path.join(ROOT, '..', 'shared', 'awx')


AWX_DIR = _awx_dir()
AWX_HOME = os.environ.get('AWX_TEST_HOME') or os.path.join(os.path.expanduser('~'), '.cache', 'awx-test')
SITE_PACKAGES = os.path.join(ROOT, '.venv', 'lib', 'python3.11', 'site-packages')
TABLE = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'maintenance', 'defaults', 'main.yml')))['maintenance_cadences']
TEAM_PROJECT = os.path.join(ROOT, 'docs', 'examples', 'team_project')
ORG = 'AutopilotCX'
# Real-looking addresses: the defaults' example.invalid placeholders are refused for a real run.
SETTINGS = {
    'project': {'scm_url': 'https://git.ops.test/autopilotcx/maintenance.git'},
    'execution_environment': {'image': 'registry.ops.test/autopilotcx/maintenance-ee:0.1.0'},
    'notifications': [{'name': 'AutopilotCX maintenance failures', 'notification_type': 'webhook',
                       'notification_configuration': {'url': 'https://alerts.ops.test/awx', 'http_method': 'POST',
                                                      'headers': {}, 'disable_ssl_verification': False}}],
    'security_leads': ['alice', 'bob'],
}
UTC = datetime.timezone.utc
MANAGED = ('job_templates', 'workflow_job_templates', 'schedules', 'projects', 'inventories', 'credentials',
           'credential_types', 'notification_templates', 'execution_environments', 'teams', 'labels',
           'workflow_job_template_nodes', 'inventory_sources', 'organizations')


def _project_tree(dest):
    """The repository as its git remote would serve it: tracked and new files of this checkout (not .venv/.tmp)."""
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split('\0')
    for name in files:
        if not name or not os.path.isfile(os.path.join(ROOT, name)):
            continue
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, name), target)
    return dest


class Awx(object):
    """AWX's REST API with one OAuth token for the session. Every request with a password costs AWX a password hash
    (and awx.awx logs in and out around every task with one): the token makes the runs several times faster. The
    password route is still run for real (check mode, the wrong-password refusal)."""

    def __init__(self, env):
        self.password_env = env
        self.host = env['CONTROLLER_HOST']
        self.auth = 'Basic ' + base64.b64encode(('%s:%s' % (env['CONTROLLER_USERNAME'],
                                                            env['CONTROLLER_PASSWORD'])).encode()).decode()
        token = self.request('POST', 'tokens/', {'description': 'autopilotcx tests', 'scope': 'write'})['token']
        self.auth = 'Bearer ' + token
        self.env = dict(env, CONTROLLER_OAUTH_TOKEN=token, CONTROLLER_USERNAME='', CONTROLLER_PASSWORD='')

    def request(self, method, path, body=None):
        url = path if path.startswith('http') else self.host + '/api/v2/' + path.lstrip('/')
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            'Authorization': self.auth, 'Content-Type': 'application/json'})
        with urllib.request.urlopen(req, timeout=60) as response:
            text = response.read().decode()
            return json.loads(text) if text else None

    def get(self, path, **query):
        if query:
            path += ('&' if '?' in path else '?') + urllib.parse.urlencode(query)
        return self.request('GET', path)

    def all(self, endpoint, **query):
        query.setdefault('page_size', 200)
        page = self.get(endpoint, **query)
        results = list(page['results'])
        while page.get('next'):
            page = self.request('GET', self.host + page['next'])
            results += page['results']
        return results

    def one(self, endpoint, name, **query):
        found = self.all(endpoint, name=name, **query)
        assert len(found) == 1, (endpoint, name, found)
        return found[0]

    def snapshot(self):
        """id -> modified of every object of the kinds awx_configure manages (to prove nothing changed)."""
        return dict((kind, dict((o['id'], o.get('modified')) for o in self.all(kind))) for kind in MANAGED)


def _down(*args):
    return subprocess.run(['bash', os.path.join(AWX_DIR, 'down.sh')] + list(args), capture_output=True, text=True,
                          check=False, timeout=600)


def _up(tree):
    """up.sh --project-tree TREE: starts AWX (idempotent), or restarts only the project-sync stand-in on TREE."""
    proc = subprocess.run(['bash', os.path.join(AWX_DIR, 'up.sh'), '--project-tree', tree], capture_output=True,
                          text=True, check=False, timeout=1800)
    assert proc.returncode == 0, 'the real AWX did not start (%s, exit %d): %s' % (
        os.path.join(AWX_DIR, 'up.sh'), proc.returncode, proc.stderr[-3000:])
    return dict(re.findall(r'(CONTROLLER_\w+)=(\S+)', proc.stdout))


@pytest.fixture(scope='module')
def awx(tmp_path_factory):
    """A real AWX, emptied, for this module (started once); stopped at the end, its database kept for the next
    start (which empties it again). A missing or failing up.sh fails the tests with its reason: never a skip."""
    needs_service('a real AWX (../shared/awx/up.sh)')
    up = os.path.join(AWX_DIR, 'up.sh')
    assert os.path.exists(up), ('the real AWX for tests is expected at %s (shared/ beside the repository; or set '
                                'AUTOPILOTCX_AWX_TEST_DIR, or AUTOPILOTCX_AWX_TESTS=0 to switch these tests off)' % AWX_DIR)
    tree = _project_tree(str(tmp_path_factory.mktemp('awx-project')))
    try:
        # an empty AWX: down.sh --wipe drops the database only while its PostgreSQL runs, and the previous session
        # ended with down.sh (everything stopped, data kept): start, wipe, start again (measured: a bare --wipe on a
        # stopped AWX left the previous run's objects, and the first run refused them as not its own)
        _up(tree)
        wiped = _down('--wipe')
        assert wiped.returncode == 0, wiped.stderr[-2000:]
        yield Awx(_up(tree))
    finally:
        stopped = _down()                                # never left running; not --wipe: the next start is fast
        assert stopped.returncode == 0, stopped.stderr[-2000:]


def configure(awx, settings=None, table=None, args=(), env=None, tmp=None, password=False):
    """Run `ansible-playbook autopilotcx.maintenance.awx_configure` as a team would (an OAuth token in
    CONTROLLER_OAUTH_TOKEN, or CONTROLLER_USERNAME/PASSWORD with ``password``); returns the process."""
    extra = {'awx_configure_settings': dict(SETTINGS, **(settings or {}))}
    if table is not None:
        extra['maintenance_cadences'] = table
    run_env = dict(awx.password_env if password else awx.env)
    run_env['ANSIBLE_COLLECTIONS_PATH'] = ansible_env()['ANSIBLE_COLLECTIONS_PATH'] + ':' + SITE_PACKAGES
    run_env.update(env or {})
    return run_playbook('autopilotcx.maintenance.awx_configure', extra_vars=extra, env=run_env, args=list(args),
                        outcome_log=os.path.join(str(tmp), 'outcomes.jsonl') if tmp else None, timeout=1200)


def changed_count(proc):
    match = re.search(r'localhost\s+: ok=\d+\s+changed=(\d+)\s', proc.stdout)
    assert match, proc.stdout[-2000:] + proc.stderr[-2000:]
    return int(match.group(1))


@pytest.fixture(scope='module')
def first_run(awx, tmp_path_factory):
    proc = configure(awx, tmp=tmp_path_factory.mktemp('run1'))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # the project update AWX queued on creation must be over before anything compares modified times
    _synced_project(awx, awx.one('projects', 'AutopilotCX maintenance'))
    return proc


# ------------------------------------------------------------------------------------------------ what AWX holds
def test_every_planned_object_exists_in_awx(awx, first_run):
    objects = awx_config.awx_objects(TABLE, SETTINGS)
    (ctype,) = awx.all('credential_types', name=objects['credential_type'][0]['name'])
    assert list(ctype['injectors']['env']) == ['AUTOPILOTCX_OUTCOME_DSN']
    assert ctype['inputs']['fields'][0]['secret'] is True
    project = awx.one('projects', objects['project'][0]['name'])
    assert project['scm_url'] == SETTINGS['project']['scm_url']
    ee = awx.one('execution_environments', objects['execution_environment'][0]['name'])
    assert ee['image'] == SETTINGS['execution_environment']['image']
    credentials = dict((c['name'], c['id']) for c in awx.all('credentials', organization__name=ORG))
    inventories = dict((i['name'], i['id']) for i in awx.all('inventories', organization__name=ORG))
    assert set(inventories) == {'staging', 'production'}
    sources = awx.all('inventory_sources', source='scm')
    assert sorted(s['source_path'] for s in sources) == ['inventories/production', 'inventories/staging']
    (notification,) = awx.all('notification_templates', organization__name=ORG)

    templates = dict((t['name'], t) for t in awx.all('job_templates', organization__name=ORG))
    assert sorted(templates) == sorted('maintenance %s' % e['name'] for e in TABLE)
    for entry in TABLE:
        template = templates['maintenance %s' % entry['name']]
        assert template['playbook'] == 'playbooks/' + entry['playbook']
        assert template['project'] == project['id'] and template['execution_environment'] == ee['id']
        assert template['inventory'] == inventories['production']
        assert template['ask_inventory_on_launch'] is True and template['ask_limit_on_launch'] is True
        assert awx_config.MANAGED_MARKER in template['description']
        creds = sorted(c['name'] for c in template['summary_fields']['credentials'])
        assert creds == sorted(['AutopilotCX maintenance SSH', 'AutopilotCX outcome recording'])
        assert set(credentials) >= set(creds)
        labels = sorted(lab['name'] for lab in template['summary_fields']['labels']['results'])
        assert labels == sorted(['maintenance', 'scheduled' if entry.get('rrule') else 'manual'])
        errors = awx.all('job_templates/%d/notification_templates_error/' % template['id'])
        assert [n['id'] for n in errors] == [notification['id']]
        survey = entry.get('launched_by') == 'security_leads'
        assert template['survey_enabled'] is survey, entry['name']
        if survey:
            spec = awx.get('job_templates/%d/survey_spec/' % template['id'])
            questions = dict((q['variable'], q) for q in spec['spec'])
            assert questions['emergency_approver']['choices'] in ('alice\nbob', ['alice', 'bob'])
            assert questions['emergency_approver']['required'] and questions['emergency_change_reference']['required']
            assert template['ask_variables_on_launch'] is False
            roles = awx.all('job_templates/%d/object_roles/' % template['id'])
            execute = next(r for r in roles if r['name'] == 'Execute')
            teams = [t['name'] for t in awx.all('roles/%d/teams/' % execute['id'])]
            assert teams == ['Security'], entry['name']
    outage = templates['maintenance system_outage']
    execute = next(r for r in awx.all('job_templates/%d/object_roles/' % outage['id']) if r['name'] == 'Execute')
    assert [t['name'] for t in awx.all('roles/%d/teams/' % execute['id'])] == ['Operations']


def test_weekly_patching_workflow_nodes_approval_and_edges(awx, first_run):
    flow = awx.one('workflow_job_templates', 'maintenance weekly_patching workflow')
    nodes = awx.all('workflow_job_template_nodes', workflow_job_template=flow['id'])
    by_id = dict((n['id'], n) for n in nodes)
    chain, current = [], next(n for n in nodes if n['identifier'] == 'patch_staging')
    while current:
        chain.append((current['identifier'], current['summary_fields']['unified_job_template']['name'],
                      (current['summary_fields'].get('inventory') or {}).get('name')))
        assert len(current['success_nodes']) <= 1 and not current['failure_nodes'] and not current['always_nodes']
        current = by_id[current['success_nodes'][0]] if current['success_nodes'] else None
    assert chain == [('patch_staging', 'maintenance weekly_patching', 'staging'),
                     ('health_gate_staging', 'maintenance service_health', 'staging'),
                     ('approve_production', 'Approve production patching', None),
                     ('patch_production', 'maintenance weekly_patching', 'production'),
                     ('health_gate_production', 'maintenance service_health', 'production')]
    assert len(nodes) == 5
    approval = next(n for n in nodes if n['identifier'] == 'approve_production')
    assert approval['summary_fields']['unified_job_template']['unified_job_type'] == 'workflow_approval'
    approval_template = awx.request('GET', awx.host + approval['related']['unified_job_template'])
    assert approval_template['timeout'] == 3600
    approvers = next(r for r in awx.all('workflow_job_templates/%d/object_roles/' % flow['id']) if r['name'] == 'Approve')
    assert [t['name'] for t in awx.all('roles/%d/teams/' % approvers['id'])] == ['Security']
    for kind in ('error', 'approvals'):
        attached = awx.all('workflow_job_templates/%d/notification_templates_%s/' % (flow['id'], kind))
        assert [n['name'] for n in attached] == ['AutopilotCX maintenance failures'], kind


def _next_occurrence(entry, now):
    return cadence.occurrences(entry['rrule'], 1, now)[0]


def test_schedules_and_the_next_run_awx_computes(awx, first_run):
    schedules = dict((s['name'], s) for s in awx.all('schedules', name__startswith='maintenance '))
    scheduled = [e for e in TABLE if e.get('rrule')]
    assert sorted(schedules) == sorted('maintenance %s schedule' % e['name'] for e in scheduled)
    flow = awx.one('workflow_job_templates', 'maintenance weekly_patching workflow')
    for entry in scheduled:
        schedule = schedules['maintenance %s schedule' % entry['name']]
        assert schedule['rrule'] == cadence.awx_rrule(entry['rrule']) and schedule['enabled'] is True
        if entry['name'] == 'weekly_patching':
            assert schedule['unified_job_template'] == flow['id']
        else:
            assert schedule['summary_fields']['unified_job_template']['name'] == 'maintenance %s' % entry['name']
    # AWX's own next run equals the table's next occurrence (AWX computed it when the schedule was saved)
    for name in ('weekly_patching', 'monthly_os_updates', 'review_quarterly', 'tls_check', 'review_monthly'):
        entry = next(e for e in TABLE if e['name'] == name)
        schedule = schedules['maintenance %s schedule' % name]
        saved = datetime.datetime.fromisoformat(schedule['modified'].replace('Z', '+00:00'))
        awx_next = datetime.datetime.fromisoformat(schedule['next_run'].replace('Z', '+00:00'))
        assert awx_next == _next_occurrence(entry, saved), name
        assert awx_next.tzinfo is not None and awx_next.utcoffset() == datetime.timedelta(0)


# ------------------------------------------------------------------------------------------------ reconciling
def test_second_run_changes_nothing(awx, first_run, tmp_path):
    credential = awx.one('credentials', 'AutopilotCX outcome recording')
    # what the team does once in AWX: fill the DSN into the placeholder; the rerun must leave it alone
    awx.request('PATCH', 'credentials/%d/' % credential['id'], {'inputs': {'dsn': 'host=db.ops.test dbname=outcomes'}})
    credential = awx.one('credentials', 'AutopilotCX outcome recording')
    before = awx.snapshot()
    proc = configure(awx, tmp=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert changed_count(proc) == 0, proc.stdout[-6000:]
    assert awx.snapshot() == before                                # not a node recreated, not a field rewritten
    assert awx.one('credentials', 'AutopilotCX outcome recording')['modified'] == credential['modified']
    assert awx.one('credentials', 'AutopilotCX outcome recording')['inputs'] == {'dsn': '$encrypted$'}


def _table_with(name, rrule):
    table = yaml.safe_load(yaml.safe_dump(TABLE))
    for entry in table:
        if entry['name'] == name:
            entry['rrule'] = rrule
    return table


def _changed_ids(before, after):
    return dict((kind, sorted(set(i for i in set(before[kind]) | set(after[kind])
                                  if before[kind].get(i) != after[kind].get(i))))
                for kind in before if before[kind] != after[kind])


CHANGED_RRULE = 'FREQ=DAILY;BYHOUR=6;BYMINUTE=15'


def _changed_table():
    """tls_check's cadence changed and cache_analysis removed: one run serves both tests (a run costs minutes)."""
    return [e for e in _table_with('tls_check', CHANGED_RRULE) if e['name'] != 'cache_analysis']


def _changed_items(proc):
    """The loop items the run reported changed (`changed: [localhost] => (item=<label>)`)."""
    return set(re.findall(r'^changed: \[localhost\] => \(item=(.+)\)$', proc.stdout, re.M))


def test_check_mode_shows_and_changes_nothing(awx, first_run, tmp_path):
    before = awx.snapshot()
    proc = configure(awx, table=_changed_table(), args=['--check', '--diff'], tmp=tmp_path, password=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # it says the schedule would change and the removed cadence's template would go
    assert {'maintenance tls_check schedule', 'maintenance cache_analysis'} <= _changed_items(proc), proc.stdout[-6000:]
    assert awx.snapshot() == before                   # and nothing changed: same objects, same modified times


@pytest.fixture(scope='module')
def changed_run(awx, first_run, tmp_path_factory):
    ids = {'tls_schedule': awx.one('schedules', 'maintenance tls_check schedule')['id'],
           'cache_template': awx.one('job_templates', 'maintenance cache_analysis')['id'],
           'cache_schedule': awx.one('schedules', 'maintenance cache_analysis schedule')['id']}
    before = awx.snapshot()
    proc = configure(awx, table=_changed_table(), tmp=tmp_path_factory.mktemp('changed'))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return {'proc': proc, 'ids': ids, 'changes': _changed_ids(before, awx.snapshot())}


def test_one_changed_cadence_changes_exactly_its_schedule(awx, changed_run):
    ids = changed_run['ids']
    # what changed besides the removed cadence's template and schedule: tls_check's schedule, nothing else
    changes = changed_run['changes']
    assert set(changes) == {'schedules', 'job_templates'}, changes
    assert set(changes['schedules']) - {ids['cache_schedule']} == {ids['tls_schedule']}
    changed = _changed_items(changed_run['proc'])
    assert changed - {'maintenance cache_analysis', 'maintenance cache_analysis schedule'} == \
        {'maintenance tls_check schedule'}, changed_run['proc'].stdout[-6000:]
    schedule = awx.one('schedules', 'maintenance tls_check schedule')
    assert schedule['id'] == ids['tls_schedule']                     # updated in place, not recreated
    assert schedule['rrule'] == cadence.awx_rrule(CHANGED_RRULE)
    saved = datetime.datetime.fromisoformat(schedule['modified'].replace('Z', '+00:00'))
    assert datetime.datetime.fromisoformat(schedule['next_run'].replace('Z', '+00:00')) == \
        cadence.occurrences(CHANGED_RRULE, 1, saved)[0]


def test_a_removed_cadence_loses_its_schedule_and_template(awx, changed_run):
    ids = changed_run['ids']
    assert awx.all('job_templates', name='maintenance cache_analysis') == []
    assert awx.all('schedules', name='maintenance cache_analysis schedule') == []
    changes = changed_run['changes']
    assert changes['job_templates'] == [ids['cache_template']]
    assert sorted(changes['schedules']) == sorted([ids['tls_schedule'], ids['cache_schedule']])
    assert 'maintenance cache_analysis' in _changed_items(changed_run['proc'])
    enabled = [s['name'] for s in awx.all('schedules', enabled='true', name__startswith='maintenance ')]
    assert sorted(enabled) == sorted('maintenance %s schedule' % e['name'] for e in _changed_table() if e.get('rrule'))


# ------------------------------------------------------------------------------------------------ refusals
def _refused(awx, proc, *needles, **kwargs):
    assert proc.returncode != 0, proc.stdout[-3000:]
    text = proc.stdout + proc.stderr
    for needle in needles:
        assert needle in text, text[-4000:]
    for secret in (awx.password_env['CONTROLLER_PASSWORD'], awx.env['CONTROLLER_OAUTH_TOKEN']) + \
            tuple(kwargs.get('secrets', ())):
        assert secret not in text                 # no password or token in the message


def test_errors_before_any_change(awx, first_run, tmp_path):
    before = awx.snapshot()
    # AWX unreachable
    _refused(awx, configure(awx, env={'CONTROLLER_HOST': 'http://127.0.0.1:9'}, tmp=tmp_path),
             'awx_configure changed nothing: could not log in to AWX at http://127.0.0.1:9')
    # wrong password, wrong token
    _refused(awx, configure(awx, env={'CONTROLLER_PASSWORD': 'wrong-password'}, password=True, tmp=tmp_path),
             'awx_configure changed nothing: could not log in to AWX', secrets=['wrong-password'])
    _refused(awx, configure(awx, env={'CONTROLLER_USERNAME': '', 'CONTROLLER_PASSWORD': '',
                                      'CONTROLLER_OAUTH_TOKEN': 'not-a-token'}, tmp=tmp_path),
             'awx_configure changed nothing: could not log in to AWX', secrets=['not-a-token'])
    # the collection's placeholder addresses still in the settings
    proc = configure(awx, settings={'project': {'scm_url': 'https://example.invalid/autopilotcx/maintenance.git'}},
                     tmp=tmp_path)
    _refused(awx, proc, "project 'AutopilotCX maintenance': scm_url still holds a placeholder address")
    assert awx.snapshot() == before


def test_refused_without_the_awx_collection(awx, first_run, tmp_path):
    before = awx.snapshot()
    # only this collection on the path: no awx.awx (not even the one in the venv's site-packages)
    proc = configure(awx, env={'ANSIBLE_COLLECTIONS_PATH': ansible_env()['ANSIBLE_COLLECTIONS_PATH'],
                               'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'False'}, tmp=tmp_path)
    _refused(awx, proc, 'awx.awx')
    assert awx.snapshot() == before


def test_refused_when_a_planned_name_belongs_to_someone_else(awx, first_run, tmp_path):
    flow = awx.one('workflow_job_templates', 'maintenance weekly_patching workflow')
    awx.request('PATCH', 'workflow_job_templates/%d/' % flow['id'], {'description': 'hand-made by the Ops team'})
    before = awx.snapshot()
    proc = configure(awx, tmp=tmp_path)
    _refused(awx, proc, "workflow_job_template 'maintenance weekly_patching workflow' (id %d) exists and is not managed"
             % flow['id'])
    assert awx.snapshot() == before
    assert awx.one('workflow_job_templates', flow['name'])['description'] == 'hand-made by the Ops team'


# ------------------------------------------------------------------------------------------------ the outcome callback
# Last in the file: launching jobs makes AWX update the project (scm_update_on_launch), which changes modified times.
# AWX's own code builds the job's extra vars, environment and credential injection (RunJob, as it does before handing
# the job to ansible-runner in the execution environment); printed as JSON for the test.
AWX_JOB_PARAMS = r'''
import json, os, sys
from awx.main.models import Job
from awx.main.tasks.jobs import RunJob
job = Job.objects.get(pk=int(os.environ['AWX_TEST_JOB_ID']))
pdd = os.environ['AWX_TEST_PDD']
task = RunJob()
task.instance = job
files, _key = task.build_private_data_files(job, pdd)
task.build_extra_vars_file(job, pdd)
env = task.build_env(job, pdd, private_data_files=files)
safe = {}
for credential in task.build_credentials_list(job):
    credential.credential_type.inject_credential(credential, env, safe, [], pdd)
print('AWX_JOB_PARAMS=' + json.dumps({'env': env, 'safe_env': safe, 'playbook': job.playbook}))
'''


def awx_job_params(job_id, private_data_dir):
    settings = os.path.join(AWX_HOME, 'settings.py')
    env = dict(os.environ, AWX_SETTINGS_FILE=settings, DJANGO_SETTINGS_MODULE='awx.settings.production',
               AWX_TEST_JOB_ID=str(job_id), AWX_TEST_PDD=str(private_data_dir))
    proc = subprocess.run([os.path.join(AWX_HOME, 'venv', 'bin', 'awx-manage'), 'shell', '-c', AWX_JOB_PARAMS],
                          env=env, capture_output=True, text=True, check=False, timeout=300)
    line = [x for x in proc.stdout.splitlines() if x.startswith('AWX_JOB_PARAMS=')]
    assert proc.returncode == 0 and line, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(line[-1].split('=', 1)[1])


def _synced_project(awx, project):
    """The project folder AWX's (stand-in) sync filled, once the update AWX queued has finished."""
    deadline = time.time() + 300
    while time.time() < deadline:
        project = awx.get('projects/%d/' % project['id'])
        if project['status'] == 'successful':
            break
        if project['status'] in ('failed', 'error', 'never updated', 'missing'):
            awx.request('POST', 'projects/%d/update/' % project['id'], {})
        time.sleep(3)
    assert project['status'] == 'successful', project['status']
    work = os.environ.get('AWX_TEST_WORK') or '/var/tmp/awx-test'
    return os.path.join(work, 'projects', project['local_path'])


def _run_like_awx(awx, postgres, dbname, tmp_path, monkeypatch, drop_project_config=False, org=ORG,
                  template='maintenance resource_usage', project='AutopilotCX maintenance'):
    import ansible_runner
    template = awx.one('job_templates', template, organization__name=org)
    credential = awx.one('credentials', 'AutopilotCX outcome recording', organization__name=org)
    # What the team does once in AWX: fill the outcome DSN into the credential placeholder
    awx.request('PATCH', 'credentials/%d/' % credential['id'], {'inputs': {'dsn': postgres.dsn(dbname)}})
    job = awx.request('POST', 'job_templates/%d/launch/' % template['id'], {'limit': 'localhost'})
    data = tmp_path / 'runner'
    (data / 'env').mkdir(parents=True)
    (data / 'inventory').mkdir()
    shutil.copytree(_synced_project(awx, awx.one('projects', project)), str(data / 'project'))
    if drop_project_config:
        os.unlink(str(data / 'project' / 'ansible.cfg'))
    params = awx_job_params(job['id'], data)
    env = params['env']
    assert not [k for k in env if k.startswith('ANSIBLE_CALLBACK') and k != 'ANSIBLE_CALLBACK_PLUGINS'], env
    assert env['AUTOPILOTCX_OUTCOME_DSN'] == postgres.dsn(dbname)            # AWX's injection of the secret
    assert params['safe_env']['AUTOPILOTCX_OUTCOME_DSN'] != postgres.dsn(dbname)   # and AWX hides it in its records
    # The execution environment: the collection installed in it (here: this checkout), its Python for local hosts.
    ee_collections = ansible_env()['ANSIBLE_COLLECTIONS_PATH'] + ':' + SITE_PACKAGES
    for key in ('ANSIBLE_COLLECTIONS_PATH', 'ANSIBLE_COLLECTIONS_PATHS'):
        env[key] = env[key].replace('/usr/share/ansible/collections', ee_collections)
    env['HOME'] = str(tmp_path)
    env['AUTOPILOTCX_OUTCOME_LOG'] = str(tmp_path / 'outcomes.jsonl')
    env['AUTOPILOTCX_OUTCOME_SPOOL'] = str(tmp_path / 'spool')
    # The hosts: AWX would write its inventory here; this machine has only itself to run on.
    (data / 'inventory' / 'hosts').write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n'
                                              % python_interpreter())
    for key in [k for k in os.environ if k.startswith('ANSIBLE_')]:
        monkeypatch.delenv(key)                 # nothing of the test harness's Ansible settings reaches the job
    # the EE's ansible-playbook and Python: the venv's
    monkeypatch.setenv('PATH', os.path.dirname(python_interpreter()) + os.pathsep + os.environ.get('PATH', ''))
    result = ansible_runner.run(private_data_dir=str(data), playbook=params['playbook'], envvars=env, quiet=True,
                                settings={'suppress_ansible_output': True}, limit='localhost')
    assert result.status in ('successful', 'failed'), result.status
    assert any(e['event'] == 'playbook_on_stats' for e in result.events)      # runner's own events, as AWX stores
    with postgres.connect(dbname) as conn:
        exists = conn.execute("select to_regclass('maintenance_outcomes')").fetchone()[0]
        if exists is None:
            return job, []
        # the task records; the run's own record (kind 'run', host NULL) is checked for its run id
        rows = conn.execute("select run_id, cadence, host, task from maintenance_outcomes where kind = 'task'").fetchall()
        runs = conn.execute("select run_id from maintenance_outcomes where kind = 'run'").fetchall()
        assert [r[0] for r in runs] == ['awx-job-%d' % job['id']] or not rows, runs
        return job, rows


def test_outcome_callback_reaches_the_store_as_awx_runs_the_job(awx, first_run, postgres, postgres_db, tmp_path,
                                                                monkeypatch):
    """A template's playbook run as AWX runs it (RunJob's env, extra vars and credential injection; the project as
    synced; ansible-runner in a fresh private data dir): the outcome records arrive in PostgreSQL."""
    job, rows = _run_like_awx(awx, postgres, postgres_db, tmp_path, monkeypatch)
    assert rows, 'no outcome record reached the store'
    assert {r[0] for r in rows} == {'awx-job-%d' % job['id']}
    assert {r[1] for r in rows} == {'resource_usage'} and {r[2] for r in rows} == {'localhost'}


def test_without_the_project_ansible_cfg_nothing_is_recorded(awx, first_run, postgres, postgres_db, tmp_path,
                                                             monkeypatch):
    """The control: the same job without the project's ansible.cfg records nothing (so the route above is the one)."""
    _job, rows = _run_like_awx(awx, postgres, postgres_db, tmp_path, monkeypatch, drop_project_config=True)
    assert rows == []


# ------------------------------------------------------------------------------------------------ a team's own project
# Last: the project-sync stand-in is restarted on the team's tree (every project update from here on copies it).
@pytest.fixture(scope='module')
def team_run(awx, tmp_path_factory):
    """docs/examples/team_project as a team's repository (it requires the collection in collections/requirements.yml
    and holds thin playbooks): awx_configure run from it exactly as the docs say, its own playbook wrapper and
    settings file, the collection (and awx.awx) installed beside it as the requirements file asks."""
    tree = str(tmp_path_factory.mktemp('team') / 'project')
    shutil.copytree(TEAM_PROJECT, tree)
    _up(tree)
    with open(os.path.join(tree, 'awx-settings.yml')) as handle:
        example = yaml.safe_load(handle)
    others = _other_organization(awx)
    env = dict(awx.env, ANSIBLE_CONFIG=os.path.join(tree, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=ansible_env()['ANSIBLE_COLLECTIONS_PATH'] + ':' + SITE_PACKAGES)
    proc = run_playbook('playbooks/awx_configure.yml', env=env, args=['-e', '@awx-settings.yml'], cwd=tree,
                        outcome_log=os.path.join(tree, '..', 'outcomes.jsonl'), timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return dict(example, others_before=others, others_after=_other_organization(awx))


def _other_organization(awx):
    """id -> modified of the AutopilotCX organization's templates, workflow, schedules, EE and the credential type."""
    kinds = ('job_templates', 'workflow_job_templates', 'execution_environments', 'credentials')
    found = dict((kind, dict((o['id'], o['modified']) for o in awx.all(kind, organization__name=ORG))) for kind in kinds)
    found['schedules'] = dict((o['id'], o['modified']) for o in awx.all('schedules', name__startswith='maintenance '))
    found['credential_types'] = dict((o['id'], o['modified']) for o in awx.all('credential_types', managed='false'))
    return found


def test_team_project_templates_run_the_teams_thin_and_own_playbooks(awx, team_run):
    settings = team_run['awx_configure_settings']
    org, prefix = settings['organization'], settings['name_prefix']
    project = awx.one('projects', settings['project']['name'])
    _synced_project(awx, project)
    listed = awx.get('projects/%d/playbooks/' % project['id'])          # what AWX found in the synced project
    templates = dict((t['name'], t) for t in awx.all('job_templates', organization__name=org))
    table = TABLE + team_run['awx_configure_extra_cadences']
    assert sorted(templates) == sorted('%s %s' % (prefix, e['name']) for e in table)
    for entry in table:
        template = templates['%s %s' % (prefix, entry['name'])]
        assert template['playbook'] == 'playbooks/' + entry['playbook'] and template['playbook'] in listed
        assert template['project'] == project['id']
    schedule = awx.one('schedules', '%s team_disk_report schedule' % prefix)
    assert schedule['rrule'] == cadence.awx_rrule('FREQ=DAILY;BYHOUR=7;BYMINUTE=0') and schedule['next_run']
    # the other organization's objects (same template names but for the prefix) and the shared credential type
    assert team_run['others_after'] == team_run['others_before'] and team_run['others_before']['job_templates']


def test_awx_refuses_a_collection_playbook_named_by_fqcn(awx, team_run):
    """Why the team project holds thin playbooks: AWX takes only a file of the project as a template's playbook."""
    project = awx.one('projects', team_run['awx_configure_settings']['project']['name'])
    inventory = awx.one('inventories', 'production', organization__name=team_run['awx_configure_settings']['organization'])
    with pytest.raises(urllib.error.HTTPError) as refused:
        awx.request('POST', 'job_templates/', {'name': 'fqcn playbook', 'project': project['id'],
                                               'inventory': inventory['id'],
                                               'playbook': 'autopilotcx.maintenance.tls_check'})
    assert refused.value.code == 400
    assert json.loads(refused.value.read().decode()) == {'playbook': ['Playbook not found for project.']}
    assert awx.all('job_templates', name='fqcn playbook') == []


def test_team_project_job_records_outcomes_through_the_collection(awx, team_run, postgres, postgres_db, tmp_path,
                                                                  monkeypatch):
    """A job of the team's template, run as AWX runs it: the thin playbook imports the collection's playbook from the
    execution environment, and the team's ansible.cfg enables the outcome callback."""
    settings = team_run['awx_configure_settings']
    job, rows = _run_like_awx(awx, postgres, postgres_db, tmp_path, monkeypatch, org=settings['organization'],
                              template='%s resource_usage' % settings['name_prefix'], project=settings['project']['name'])
    assert rows, 'no outcome record reached the store'
    assert {r[0] for r in rows} == {'awx-job-%d' % job['id']} and {r[1] for r in rows} == {'resource_usage'}
