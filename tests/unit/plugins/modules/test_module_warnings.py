"""A module's warnings reach Ansible through ``module.warn`` (``Report.warnings``), never as a ``warnings`` result key.

Passing ``warnings`` to ``exit_json`` is deprecated in ansible-core 2.19: every such run also carried a deprecation
warning the user could do nothing about. The notify module is run in-process as Ansible runs it.
"""

import json

import pytest

from ansible.module_utils import _internal as _ansible_internal
from ansible.module_utils.common import warnings as _ansible_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.autopilotcx.maintenance.plugins.modules import notify


def test_notify_warns_about_a_corrupt_state_file_without_a_deprecation(tmp_path, capsys, monkeypatch):
    # as in a module process: a test process that imported controller code would send warnings to its display
    monkeypatch.setattr(_ansible_internal, 'is_controller', False)
    monkeypatch.setattr(_ansible_warnings, '_global_warnings', {})  # a module process starts with none
    monkeypatch.setattr(_ansible_warnings, '_global_deprecations', {})
    state = tmp_path / 'notify-state.json'
    state.write_text('{not json')
    args = dict(title='disk full', state_file=str(state), channels=[{'type': 'webhook', 'url': 'http://127.0.0.1:9/hook'}],
                _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            notify.main()
    result = json.loads(capsys.readouterr().out)
    assert exited.value.code == 0, result
    assert result['action'] == 'would_send'
    warnings = [w['event']['msg'] if isinstance(w, dict) else w for w in result.get('warnings', [])]
    assert any('starting afresh' in w for w in warnings), result
    assert 'deprecations' not in result, result['deprecations']
