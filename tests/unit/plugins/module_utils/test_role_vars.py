"""Role variables nobody defines and threshold overrides for thresholds that do not exist (issue 17)."""

import glob
import os

import pytest
import yaml

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import role_vars
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
ROLES = role_vars.collection_roles(os.path.join(ROOT, 'roles'))
ALLOWED = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'maintenance', 'defaults', 'main.yml')))['maintenance_known_variables']


@pytest.mark.parametrize('name,role,hint', [
    ('service_health_endpoint', 'service_health', 'service_health_endpoints'),
    ('maintenance_fail_onn', 'maintenance', 'maintenance_fail_on'),
    ('maintenance_notice_window', 'maintenance_notice', 'maintenance_notice_windows'),  # the longest prefix owns it
    ('backup_verification_set', 'backup_verification', 'backup_verification_sets'),
])
def test_typo_is_found_with_the_closest_valid_name(name, role, hint):
    assert hint in ROLES[role], 'fixture: %s must be a real option' % hint
    assert role_vars.unknown_role_variables([name], ROLES) == [(name, role, hint)]


def test_known_names_registered_results_and_other_prefixes_pass():
    names = ['service_health_endpoints', 'maintenance_thresholds', 'patch_rollout_plan', 'ansible_host', 'app_port',
             'patch_staging_hosts', 'maintenance_cadence']
    assert role_vars.unknown_role_variables(names, ROLES, ALLOWED) == []


def test_threshold_override_typo_lists_the_closest_name():
    thresholds = {'http_response_time': {}, 'db_replication_lag': {}}
    found = role_vars.unknown_thresholds({'http_respons_time': {'warning': 1}, 'db_replication_lag': {}}, thresholds)
    assert found == [('http_respons_time', 'http_response_time')]
    message = role_vars.describe([], found, thresholds)
    assert 'did you mean http_response_time' in message and 'db_replication_lag, http_response_time' in message


def _variables_set_in(path):
    """Top-level keys of inventory files and the vars: blocks of playbook plays."""
    data = yaml.safe_load(open(path))
    names = set()
    if isinstance(data, list):
        for play in data:
            if isinstance(play, dict):
                names |= set(play.get('vars') or {})
                for role in play.get('roles') or []:
                    if isinstance(role, dict):
                        names |= set((role.get('vars') or {}))
    elif isinstance(data, dict):
        names |= set(data)
    return names


def test_every_variable_the_collection_itself_sets_is_known():
    """No false alarm on the shipped playbooks and inventories."""
    files = glob.glob(os.path.join(ROOT, 'playbooks', '*.yml')) + [
        p for p in glob.glob(os.path.join(ROOT, 'inventories', '**', '*'), recursive=True)
        if os.path.isfile(p) and p.endswith(('.yml', '.yaml')) or os.path.basename(os.path.dirname(p)) in ('group_vars', 'host_vars')]
    names = set()
    for path in files:
        if os.path.isfile(path):
            try:
                names |= _variables_set_in(path)
            except yaml.YAMLError:
                continue
    assert names, 'no variables found: the test would be vacuous'
    assert role_vars.unknown_role_variables(names, ROLES, ALLOWED) == []


def test_bad_value_gives_one_short_line():
    options, _defaults = role_vars.role_options(os.path.join(ROOT, 'roles', 'service_health'))
    messages = role_vars.validate_values({'service_health_scope': 'plya', 'service_health_workers': 'many'}, options)
    assert len(messages) == 2 and all(len(m) < 200 for m in messages), messages
    assert role_vars.validate_values({'service_health_scope': 'host'}, options) == []
