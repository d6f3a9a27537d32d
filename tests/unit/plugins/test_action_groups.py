"""meta/runtime.yml action groups hold exactly the modules that accept what the group is for."""

import os

import yaml

from tests.harness.module_specs import argument_spec, module_names
from tests.harness.paths import ROOT

POSTGRES_OPTIONS = ('login_host', 'port', 'login_user', 'login_password')


def groups():
    with open(os.path.join(ROOT, 'meta', 'runtime.yml')) as handle:
        return yaml.safe_load(handle)['action_groups']


def test_checks_group_is_every_module_taking_fail_on_and_thresholds():
    specs = dict((name, argument_spec(name)) for name in module_names())
    expected = sorted(n for n, s in specs.items() if 'fail_on' in s and 'thresholds' in s)
    assert len(expected) >= 20
    assert sorted(groups()['checks']) == expected


def test_postgres_group_is_every_module_taking_the_connection_options():
    specs = dict((name, argument_spec(name)) for name in module_names())
    expected = sorted(n for n, s in specs.items() if all(o in s for o in POSTGRES_OPTIONS))
    assert expected and sorted(groups()['postgres']) == expected


def test_no_group_names_a_module_that_rejects_its_documented_defaults():
    """`all` used to list pg_data_fix and review_report, which reject fail_on/thresholds: the docs' recipe failed."""
    assert 'all' not in groups()
    fragment = open(os.path.join(ROOT, 'plugins', 'doc_fragments', 'checks.py')).read()
    for name in fragment.split('group/autopilotcx.maintenance.')[1:]:
        assert name.split()[0].rstrip('.,)') in groups()
