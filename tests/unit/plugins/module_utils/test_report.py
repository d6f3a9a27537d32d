"""The one report every backend entry returns (``result.Report``) and ``module_support.finish``, which exits with it.

``finish`` runs in a real ``AnsibleModule`` (arguments handed over as Ansible does); the JSON it prints is the
module result.
"""

import json

import pytest

from ansible.module_utils import _internal as _ansible_internal
from ansible.module_utils.common import warnings as _ansible_warnings
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import (
    ModuleHost,
    check_argument_spec,
    finish,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    Report,
    ResultModelError,
    critical,
    make_check,
    ok,
)

OK_CHECK = ok('x.ok', 'fine', target='a')
WARN_CHECK = make_check('x.slow', 'warning', 'slow', target='b')
CRIT_CHECK = critical('x.down', 'down')


@pytest.fixture(autouse=True)
def _module_process(monkeypatch):
    """Warnings as a module process records them: a test process that imported controller code (xdist runs many tests
    in one process) would otherwise hand module.warn to the controller's display instead of the result."""
    monkeypatch.setattr(_ansible_internal, 'is_controller', False)
    monkeypatch.setattr(_ansible_warnings, '_global_warnings', {})  # a module process starts with none
    monkeypatch.setattr(_ansible_warnings, '_global_deprecations', {})


def _finish(report, spec=None, **args):
    """Run ``finish(module, report)`` in an AnsibleModule; returns (failed, result)."""
    diff = args.pop('diff', False)
    with patch_module_args(dict(args, _ansible_diff=diff)):
        module = AnsibleModule(argument_spec=spec if spec is not None else check_argument_spec(), supports_check_mode=True)
        with pytest.raises(SystemExit) as exited:
            finish(module, report)
    return exited.value.code != 0, module


def _output(capsys):
    return json.loads(capsys.readouterr().out)


def test_result_holds_checks_changed_data_and_the_summary():
    report = Report([OK_CHECK, WARN_CHECK], changed=True, data=dict(server={'version': 16}))
    assert report.result() == {
        'changed': True, 'checks': [OK_CHECK, WARN_CHECK], 'server': {'version': 16}, 'status': 'warning',
        'counts': {'ok': 1, 'unknown': 0, 'warning': 1, 'critical': 0}, 'failed_checks': ['x.slow (b)'],
    }


def test_a_report_without_checks_has_no_summary_and_is_never_judged():
    report = Report(data=dict(files={'html': '/r.html'}), changed=True)
    assert not report.judged
    assert report.result() == {'changed': True, 'files': {'html': '/r.html'}}


def test_unjudged_checks_are_returned_as_they_are():
    report = Report([CRIT_CHECK], data=dict(committed=False), judged=False)
    assert report.result() == {'changed': False, 'committed': False, 'checks': [CRIT_CHECK]}


def test_the_diff_field_is_returned_in_diff_mode_only():
    report = Report([OK_CHECK], diff=[{'prepared': '-a\n+b'}])
    assert 'diff' not in report.result()
    assert report.result(diff_mode=True)['diff'] == [{'prepared': '-a\n+b'}]


def test_from_result_splits_a_result_dict():
    source = {'checks': [OK_CHECK], 'changed': True, 'tables': ['t']}
    report = Report.from_result(source)
    assert (report.checks, report.changed, report.data) == ([OK_CHECK], True, {'tables': ['t']})
    assert source == {'checks': [OK_CHECK], 'changed': True, 'tables': ['t']}  # the backend's dict is left alone
    assert Report.from_result({'restored': {}}, judged=False).result() == {'changed': False, 'restored': {}}


@pytest.mark.parametrize('key', ['changed', 'checks'])
def test_data_cannot_shadow_a_field(key):
    with pytest.raises(ResultModelError, match=key):
        Report([], data={key: 1})


def test_finish_exits_with_the_report(capsys):
    failed, _module = _finish(Report([OK_CHECK], changed=True, data=dict(extra=[1, 2])))
    result = _output(capsys)
    assert not failed
    assert result['changed'] is True and result['extra'] == [1, 2] and result['status'] == 'ok'
    assert result['checks'] == [OK_CHECK]


def test_finish_fails_at_fail_on_naming_the_checks(capsys):
    failed, _module = _finish(Report([OK_CHECK, WARN_CHECK, CRIT_CHECK]), fail_on='warning')
    result = _output(capsys)
    assert failed and result['failed'] is True
    assert result['msg'] == 'critical check(s) at or above warning: x.slow (b), x.down'
    assert result['counts']['critical'] == 1  # a failed task still carries the whole result


def test_finish_never_fails_under_fail_on_never(capsys):
    failed, _module = _finish(Report([CRIT_CHECK]), fail_on='never')
    assert not failed and _output(capsys)['status'] == 'critical'


def test_finish_does_not_judge_a_module_without_fail_on(capsys):
    failed, _module = _finish(Report([CRIT_CHECK], judged=False, data=dict(committed=False)), spec=dict())
    result = _output(capsys)
    assert not failed
    assert 'status' not in result and result['checks'] == [CRIT_CHECK] and result['committed'] is False


def test_finish_shows_warnings_and_diffs_in_diff_mode(capsys):
    report = Report([OK_CHECK], warnings=['restart state unknown'], diff={'before': 'a', 'after': 'b'})
    failed, _module = _finish(report, diff=True)
    result = _output(capsys)
    assert not failed
    assert [w['event']['msg'] for w in result['warnings']] == ['restart state unknown']
    assert result['diff'] == {'before': 'a', 'after': 'b'}
    assert 'deprecations' not in result  # warnings go through module.warn, not a result key


def test_finish_refuses_anything_but_a_report():
    with patch_module_args({}):
        module = AnsibleModule(argument_spec=check_argument_spec(), supports_check_mode=True)
    with pytest.raises(TypeError, match='Report'):
        finish(module, ([OK_CHECK], {}, False))


def test_module_host_hides_what_a_backend_learns(capsys):
    with patch_module_args({}):
        module = AnsibleModule(argument_spec=check_argument_spec(), supports_check_mode=True)
        ModuleHost(module).hide('s3cr3t-token-value')
        with pytest.raises(SystemExit):
            finish(module, Report([ok('x.login', 'got s3cr3t-token-value')]))
    out = capsys.readouterr().out
    assert 's3cr3t-token-value' not in out and '********' in out
