"""The shipped rulebooks against ansible-rulebook's own schema (ansible-rulebook from PyPI,
requirements-dev.txt): the controller variant cannot run here (no controller), so at least it must be a rulebook
ansible-rulebook accepts, with the same source, condition and throttle as the one tested for real."""

import os

import pytest
import yaml

from tests.harness.paths import ROOT

from ansible_rulebook.validators import Validate   # requirements-dev.txt: part of the setup, never skipped

RULEBOOKS = os.path.join(ROOT, 'extensions', 'eda', 'rulebooks')


@pytest.mark.parametrize('name, action', [('auth_log_response.yml', 'run_playbook'),
                                          ('auth_log_response_controller.yml', 'run_job_template')])
def test_the_rulebook_is_valid_and_throttled_per_address(name, action):
    with open(os.path.join(RULEBOOKS, name)) as handle:
        data = yaml.safe_load(handle)
    Validate.rulebook(data)
    assert len(data) == 1
    rule = data[0]['rules'][0]
    assert rule['throttle']['group_by_attributes'] == ['event.autopilotcx_log_scan.address']
    assert rule['throttle']['once_within'] == '10 minutes'
    assert list(rule['action']) == [action]
    assert list(data[0]['sources'][0])[-1] == 'autopilotcx.maintenance.auth_log'
