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
        assert template['inventory'] in names('inventory')
        assert set(template['credentials']) <= names('credential')
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
