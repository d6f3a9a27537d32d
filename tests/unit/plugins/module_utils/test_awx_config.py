"""awx_config: the AWX objects built from the cadence table (settings handling; the full object set is checked
against the awx.awx modules in tests/integration/test_scheduling_playbooks.py)."""

import os

import pytest
import yaml

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling import awx_config
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
TABLE = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'maintenance', 'defaults', 'main.yml')))['maintenance_cadences']


def test_objects_in_creation_order_refer_only_to_earlier_objects():
    objects = awx_config.awx_objects(TABLE)
    assert list(awx_config.CREATION_ORDER) == [k for k in awx_config.CREATION_ORDER if k in objects]
    assert set(objects) == set(awx_config.CREATION_ORDER)

    def names(kind):
        return {o['name'] for o in objects[kind]}
    for template in objects['job_template']:
        assert template['project'] in names('project')
        # named URLs (AWX's <name>++<organization> forms): awx.awx resolves a bare name across all organizations and
        # fails on "returned 2 items" as soon as a second organization holds a 'production' inventory (measured)
        assert template['inventory'] in {'%s++AutopilotCX' % n for n in names('inventory')}
        assert set(template['credentials']) == {'AutopilotCX maintenance SSH++Machine+ssh++AutopilotCX',
                                                'AutopilotCX outcome recording++AutopilotCX outcome recording+cloud++AutopilotCX'}
        assert set(template['labels']) <= names('label')
        assert template['execution_environment'] in names('execution_environment')
    for schedule in objects['schedule']:
        assert schedule['unified_job_template'] in names('job_template') | names('workflow_job_template')
    for role in objects['role']:
        assert role['team'] in names('team')
        assert set(role.get('job_templates', [])) <= names('job_template')


def test_text_survey_without_named_leads():
    hotfix = next(t for t in awx_config.awx_objects(TABLE)['job_template'] if t['name'] == 'maintenance emergency_hotfix')
    approver = hotfix['survey_spec']['spec'][0]
    assert approver['type'] == 'text' and approver['required'] is True


def test_settings_merge_one_level_deep():
    objects = awx_config.awx_objects(TABLE, {'project': {'scm_url': 'https://git.example.invalid/x.git'}})
    (project,) = objects['project']
    assert project['scm_url'] == 'https://git.example.invalid/x.git' and project['scm_branch'] == 'main'
    assert 'credential' not in project          # no SCM credential unless one is named


@pytest.mark.parametrize('settings, message', [
    ({'organisation': 'x'}, "unknown key 'organisation'"),
    ({'default_inventory': 'qa'}, "default_inventory 'qa'"),
    ({'workflow': {'staging_inventory': 'qa'}}, "staging_inventory 'qa'"),
    ({'workflow': {'health_gate': 'nope'}}, "health_gate 'nope'"),
])
def test_bad_settings_are_named(settings, message):
    with pytest.raises(MaintenanceError, match=message):
        awx_config.awx_objects(TABLE, settings)


def test_a_table_without_the_patching_workflow_cadence_still_builds():
    table = [e for e in TABLE if e['name'] != 'weekly_patching']
    objects = awx_config.awx_objects(table)
    assert objects['workflow_job_template'] == []
    assert not any(s['unified_job_template'].endswith('workflow') for s in objects['schedule'])
    assert not any(r['role'] == 'approval' for r in objects['role'])


# AWX's CredentialTypeInjectorField (awx/main/fields.py, 24.6.2.dev0) refuses every env injector whose name starts with
# ANSIBLE_ ("may affect Ansible configuration so its use is not allowed in credentials"), and the names in
# awx/main/constants.py ENV_BLOCKLIST. On main the outcome credential type injected ANSIBLE_CALLBACKS_ENABLED: AWX
# answered HTTP 400 and nothing after it was created.
AWX_ENV_BLOCKLIST = ('VIRTUAL_ENV', 'PATH', 'PYTHONPATH', 'JOB_ID', 'INVENTORY_ID', 'INVENTORY_SOURCE_ID',
                     'INVENTORY_UPDATE_ID', 'AD_HOC_COMMAND_ID', 'REST_API_URL', 'REST_API_TOKEN', 'MAX_EVENT_RES',
                     'CALLBACK_QUEUE', 'CALLBACK_CONNECTION', 'CACHE', 'JOB_CALLBACK_DEBUG', 'INVENTORY_HOSTVARS',
                     'AWX_HOST', 'PROJECT_REVISION', 'SUPERVISOR_CONFIG_PATH')


def test_outcome_credential_type_injects_only_what_awx_allows():
    (ctype,) = awx_config.awx_objects(TABLE)['credential_type']
    env = ctype['injectors']['env']
    refused = [name for name in env if name.startswith('ANSIBLE_') or name in AWX_ENV_BLOCKLIST]
    assert refused == [], 'AWX refuses these credential env injectors: %s' % refused
    assert all(name.startswith('AUTOPILOTCX_') for name in env)
    assert env['AUTOPILOTCX_OUTCOME_DSN'] == '{{ dsn }}'
    assert [f['secret'] for f in ctype['inputs']['fields'] if f['id'] == 'dsn'] == [True]


def test_every_owned_object_carries_the_marker_and_teams_do_not():
    objects = awx_config.awx_objects(TABLE)
    for kind in awx_config.MANAGED_KINDS:
        assert all(o['description'].endswith(awx_config.MANAGED_MARKER) for o in objects[kind]), kind
    assert not any(awx_config.MANAGED_MARKER in t['description'] for t in objects['team'])


def test_preflight_refuses_placeholders_and_old_or_missing_awx_collection():
    objects = awx_config.awx_objects(TABLE)
    found = awx_config.placeholders(objects)
    assert "project 'AutopilotCX maintenance': scm_url" in found
    assert "execution_environment 'AutopilotCX maintenance EE': image" in found
    real = awx_config.awx_objects(TABLE, {
        'project': {'scm_url': 'https://git.ops.test/m.git'},
        'execution_environment': {'image': 'registry.ops.test/ee:1'},
        'notifications': [{'name': 'n', 'notification_type': 'webhook',
                           'notification_configuration': {'url': 'https://alerts.ops.test/x'}}]})
    assert awx_config.placeholders(real) == []
    assert 'not installed' in awx_config.collection_problem('')
    assert 'too old' in awx_config.collection_problem('23.9.0')
    assert awx_config.collection_problem('24.6.1') is None
    assert awx_config.collection_problem('25.0.0') is None


def _api_nodes(objects):
    """The planned workflow nodes as AWX's API returns them (ids, summary_fields, success_nodes as ids)."""
    nodes = objects['workflow_job_template'][0]['workflow_nodes']
    ids = dict((n['identifier'], i + 1) for i, n in enumerate(nodes))
    records = []
    for n in nodes:
        ujt = n['unified_job_template']
        summary = {'unified_job_template': {'name': ujt['name'], 'unified_job_type':
                                            'job' if ujt['type'] == 'job_template' else ujt['type']}}
        if ujt['type'] == 'workflow_approval':
            summary['unified_job_template'].update(description=ujt['description'], timeout=ujt['timeout'])
        if n.get('inventory'):
            summary['inventory'] = {'name': n['inventory']['name']}
        records.append({'id': ids[n['identifier']], 'identifier': n['identifier'], 'summary_fields': summary,
                        'success_nodes': [ids[x['identifier']] for x in n.get('related', {}).get('success_nodes', [])]})
    return records


def test_reconcile_keeps_matching_workflow_nodes_and_rebuilds_changed_ones():
    objects = awx_config.awx_objects(TABLE)
    records = _api_nodes(objects)
    plan = awx_config.awx_reconcile(objects, {'workflow_node': records})
    assert plan['workflow_nodes'] == 'unchanged' and plan['conflicts'] == [] and plan['removed'] == []
    assert 'workflow_nodes' not in plan['objects']['workflow_job_template'][0]
    assert 'workflow_nodes' in objects['workflow_job_template'][0]                 # the input is left alone
    records[0]['summary_fields']['inventory']['name'] = 'production'
    assert awx_config.awx_reconcile(objects, {'workflow_node': records})['workflow_nodes'] == 'rebuilt'
    assert awx_config.awx_reconcile(objects, {})['workflow_nodes'] == 'rebuilt'


def test_reconcile_refuses_foreign_objects_and_removes_only_its_own_stale_ones():
    objects = awx_config.awx_objects(TABLE)
    org = {'summary_fields': {'organization': {'name': 'AutopilotCX'}}}
    existing = {
        'job_template': [dict(org, id=1, name='maintenance tls_check', description='made by hand'),
                         dict(org, id=2, name='maintenance retired', description='x ' + awx_config.MANAGED_MARKER),
                         dict(org, id=3, name='maintenance someone_elses', description='made by hand'),
                         {'id': 4, 'name': 'maintenance tls_check', 'description': 'other org',
                          'summary_fields': {'organization': {'name': 'Finance'}}}],
        'schedule': [{'id': 5, 'name': 'maintenance retired schedule', 'description': awx_config.MANAGED_MARKER}],
    }
    plan = awx_config.awx_reconcile(objects, existing)
    assert len(plan['conflicts']) == 1 and "'maintenance tls_check' (id 1)" in plan['conflicts'][0]
    assert plan['removed'] == ["job_template 'maintenance retired'", "schedule 'maintenance retired schedule'"]
    absent = [o['name'] for kind in ('job_template', 'schedule') for o in plan['objects'][kind] if o['state'] == 'absent']
    assert absent == ['maintenance retired', 'maintenance retired schedule']


def test_reconcile_never_sends_placeholder_inputs_to_an_existing_credential():
    """Sent again, the placeholder inputs ({} or the SSH user alone) would replace the DSN or key people filled in."""
    objects = awx_config.awx_objects(TABLE)
    org = {'summary_fields': {'organization': {'name': 'AutopilotCX'}}}
    existing = {'credential': [dict(org, id=9, name='AutopilotCX outcome recording', description=awx_config.MANAGED_MARKER,
                                    inputs={'dsn': '$encrypted$'})]}
    plan = awx_config.awx_reconcile(objects, existing)
    sent = dict((c['name'], c) for c in plan['objects']['credential'])
    assert 'inputs' not in sent['AutopilotCX outcome recording']
    assert sent['AutopilotCX maintenance SSH']['inputs'] == {'username': 'ansible'}      # not there yet: created with it


def test_reconcile_resends_a_notification_configuration_only_when_a_value_differs():
    """Measured on the real AWX: awx.awx PATCHed the webhook template at every run (modified moved, changed=0)."""
    objects = awx_config.awx_objects(TABLE)
    planned = objects['notification_template'][0]
    held = dict(planned['notification_configuration'], username='', password='$encrypted$')
    record = {'id': 1, 'name': planned['name'], 'description': awx_config.MANAGED_MARKER,
              'notification_type': 'webhook', 'notification_configuration': held,
              'summary_fields': {'organization': {'name': 'AutopilotCX'}}}
    sent = awx_config.awx_reconcile(objects, {'notification_template': [record]})['objects']['notification_template'][0]
    assert 'notification_configuration' not in sent
    record['notification_configuration'] = dict(held, url='https://old.example.test/hook')
    sent = awx_config.awx_reconcile(objects, {'notification_template': [record]})['objects']['notification_template'][0]
    assert sent['notification_configuration'] == planned['notification_configuration']


def test_reconcile_sends_an_existing_inventory_what_awx_holds_for_kind_and_host_filter():
    """Measured on the real AWX: every rerun PATCHed both inventories (awx.awx sends kind=None, which differs from
    AWX's '' for a regular inventory, and the PATCH turned host_filter null into ''), so a second run was not
    changed=0. awx.awx compares each key it sends with the record: kind and host_filter must equal AWX's."""
    objects = awx_config.awx_objects(TABLE)
    assert all(i['kind'] == '' for i in objects['inventory'])
    org = {'summary_fields': {'organization': {'name': 'AutopilotCX'}}}
    existing = {'inventory': [dict(org, id=1, name='staging', kind='', host_filter=None, description=awx_config.MANAGED_MARKER),
                              dict(org, id=2, name='production', kind='', host_filter='', description=awx_config.MANAGED_MARKER)]}
    sent = dict((i['name'], i) for i in awx_config.awx_reconcile(objects, existing)['objects']['inventory'])
    for record in existing['inventory']:
        assert sent[record['name']]['kind'] == record['kind']
        assert sent[record['name']]['host_filter'] == record['host_filter']


# ------------------------------------------------------------------------------------------------ a team's project
TEAM_PROJECT = os.path.join(ROOT, 'docs', 'examples', 'team_project')


def _requirement(name):
    with open(os.path.join(TEAM_PROJECT, 'collections', 'requirements.yml')) as handle:
        found = [c for c in yaml.safe_load(handle)['collections'] if c['name'] == name]
    assert len(found) == 1, name
    return found[0]


def test_team_project_requires_the_awx_collection_that_awx_configure_checks():
    """The team's collections/requirements.yml declares awx.awx with exactly the lower bound awx_preflight enforces;
    galaxy.yml keeps it out of the dependencies (an execution environment build would pull it) and says the same."""
    version = _requirement('awx.awx')['version']
    assert version == '>=%s' % awx_config.AWX_COLLECTION_MIN_VERSION
    minimum = version[2:]
    assert awx_config.collection_problem(minimum) is None
    major, minor, patch = (int(x) for x in minimum.split('.'))
    below = '%d.%d.%d' % ((major - 1, 99, 99) if not (minor or patch) else (major, minor - 1 if minor else 0, 0))
    assert 'too old' in awx_config.collection_problem(below)
    assert _requirement('autopilotcx.maintenance')['version'].startswith('>=')
    with open(os.path.join(ROOT, 'galaxy.yml')) as handle:
        text = handle.read()
    assert 'awx.awx' not in (yaml.safe_load(text).get('dependencies') or {})
    assert 'awx.awx (%s)' % version.replace('>=', '>= ') in text


def test_team_project_has_a_thin_playbook_for_every_cadence():
    """AWX accepts as a template's playbook only a file of the project: the team's project holds, per cadence of the
    collection's table, a file of the same path that imports the collection's playbook by its FQCN."""
    for name in sorted(set(e['playbook'] for e in TABLE)) + ['awx_configure.yml']:
        with open(os.path.join(TEAM_PROJECT, 'playbooks', name)) as handle:
            plays = yaml.safe_load(handle)
        stem = name[:-len('.yml')]
        assert plays == [{'name': 'Run autopilotcx.maintenance.%s' % stem,
                          'ansible.builtin.import_playbook': 'autopilotcx.maintenance.%s' % stem}], name
        assert os.path.exists(os.path.join(ROOT, 'playbooks', name)), name


def test_team_project_settings_build_without_placeholders():
    with open(os.path.join(TEAM_PROJECT, 'awx-settings.yml')) as handle:
        example = yaml.safe_load(handle)
    objects = awx_config.awx_objects(TABLE + example['awx_configure_extra_cadences'], example['awx_configure_settings'])
    assert awx_config.placeholders(objects) == []
    own = [t for t in objects['job_template'] if t['playbook'] == 'playbooks/team_disk_report.yml']
    assert len(own) == 1 and os.path.exists(os.path.join(TEAM_PROJECT, own[0]['playbook']))
    names = set(e['name'] for e in objects['execution_environment'] + objects['project'] + objects['notification_template'])
    assert not names & set(e['name'] for kind in ('execution_environment', 'project', 'notification_template')
                           for e in awx_config.awx_objects(TABLE)[kind])   # a second organization beside the default one
