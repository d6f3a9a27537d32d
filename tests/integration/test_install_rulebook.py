"""playbooks/install_rulebook.yml into a temporary root: the ansible-rulebook service unit and its variables file,
checked by a real systemd-analyze verify (issue 19)."""

import os
import shutil

import pytest
import yaml

from tests.harness.ansible_run import run_playbook
from tests.harness.paths import ROOT, python_interpreter


def _value(path, key):
    return [line.strip().split('=', 1)[1] for line in open(str(path)) if line.startswith(key + '=')]


@pytest.mark.skipif(shutil.which('systemd-analyze') is None, reason='systemd-analyze is not installed')
def test_install_rulebook_writes_a_verified_unit_into_a_temporary_root(tmp_path):
    root = tmp_path / 'root'
    extra = {'install_rulebook_root': str(root), 'ansible_python_interpreter': python_interpreter(),
             'install_rulebook_vars': {'auth_log_paths': ['/var/log/auth.log'],
                                       'auth_log_state_file': '/var/lib/autopilotcx/eda.json',
                                       'auth_log_allow_list': ['10.0.0.0/8']}}
    proc = run_playbook(os.path.join(ROOT, 'playbooks', 'install_rulebook.yml'), extra_vars=extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verified = proc.stdout.split('TASK [Check the unit file with systemd-analyze verify]', 1)[1].split('TASK [', 1)[0]
    assert 'ok: [localhost]' in verified, verified          # ran, and systemd-analyze accepted the unit
    unit = root / 'etc' / 'systemd' / 'system' / 'autopilotcx-rulebook.service'
    start = _value(unit, 'ExecStart')[0]
    assert '--rulebook autopilotcx.maintenance.auth_log_response' in start
    assert start.endswith('--vars /etc/autopilotcx/rulebook-vars.yml')
    assert _value(unit, 'Restart') == ['always']
    variables = yaml.safe_load((root / 'etc' / 'autopilotcx' / 'rulebook-vars.yml').read_text())
    assert variables['auth_log_allow_list'] == ['10.0.0.0/8']
    # a second run changes nothing
    again = run_playbook(os.path.join(ROOT, 'playbooks', 'install_rulebook.yml'), extra_vars=extra)
    assert again.returncode == 0 and 'changed=0' in again.stdout, again.stdout
    assert not (tmp_path / 'etc').exists()


def test_install_rulebook_refuses_a_relative_state_file(tmp_path):
    extra = {'install_rulebook_root': str(tmp_path / 'root'), 'ansible_python_interpreter': python_interpreter(),
             'install_rulebook_vars': {'auth_log_paths': ['/var/log/auth.log'], 'auth_log_state_file': 'eda.json'}}
    proc = run_playbook(os.path.join(ROOT, 'playbooks', 'install_rulebook.yml'), extra_vars=extra)
    assert proc.returncode != 0 and 'auth_log_state_file' in proc.stdout
    assert not (tmp_path / 'root').exists()
