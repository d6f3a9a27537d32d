"""plugin_utils.in_process: when a check runs inside the controller's worker, and that it then returns what its module
would (validation messages, masking, failure, JSON types), without running Ansible."""

import os
import sys

import pytest

from tests.harness.paths import ensure_collection_link

ensure_collection_link()

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError  # noqa: E402
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import (  # noqa: E402
    check_argument_spec,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report, critical, ok  # noqa: E402
from ansible_collections.autopilotcx.maintenance.plugins.plugin_utils import in_process  # noqa: E402

NAME = 'autopilotcx.maintenance.example'
SPEC = check_argument_spec(
    url=dict(type='str', required=True),
    token=dict(type='str', no_log=True),
    timeout=dict(type='float', default=10),
    in_process=dict(type='bool', default=True),
)


class _Task(object):
    def __init__(self, args=None, async_val=0, environment=None, delegate_to=None):
        self.args = dict(args or {})
        self.delegate_to = delegate_to
        self.async_val = async_val
        self.environment = environment


class _Action(object):
    def __init__(self, transport='local', become=False, **task):
        self._task = _Task(**task)
        self._connection = type('Connection', (), {'transport': transport})()
        self._play_context = type('PlayContext', (), {'become': become})()
        self._templar = None


OWN = {'ansible_python_interpreter': sys.executable}


@pytest.mark.parametrize('action,task_vars,expected', [
    (_Action(), OWN, True),
    (_Action(), {'ansible_python_interpreter': 'auto_silent'}, True),
    (_Action(), {'ansible_python_interpreter': os.path.join(os.path.dirname(sys.executable), 'python3')}, True),
    (_Action(transport='ssh'), OWN, False),
    (_Action(transport='ansible.builtin.local'), OWN, True),
    (_Action(become=True), OWN, False),
    (_Action(async_val=30), OWN, False),
    (_Action(environment=[{'HTTPS_PROXY': 'http://proxy:3128'}]), OWN, False),
    (_Action(environment=[{}]), OWN, True),
    (_Action(args={'in_process': False}), OWN, False),
    (_Action(args={'in_process': 'no'}), OWN, False),
    (_Action(), {'ansible_python_interpreter': '/opt/other/bin/python3'}, False),
    # delegated: the delegated host's interpreter counts (implicit localhost's is the controller's own Python)
    (_Action(delegate_to='localhost'), {'ansible_python_interpreter': '/opt/other/bin/python3',
                                        'ansible_delegated_vars': {'localhost': OWN}}, True),
    (_Action(delegate_to='probe1'), dict(OWN, ansible_delegated_vars={
        'probe1': {'ansible_python_interpreter': '/usr/bin/python3'}}), False),
])
def test_applies_only_on_the_controller_with_its_own_python(action, task_vars, expected):
    assert in_process.applies(action, task_vars) is expected


def test_a_system_python_is_not_the_venv_it_links_to(tmp_path):
    """A venv's python links to the system one, whose libraries differ: the same file, not the same interpreter."""
    link = tmp_path / 'python3'
    link.symlink_to(os.path.realpath(sys.executable))
    assert in_process.applies(_Action(), {'ansible_python_interpreter': str(link)}) is False


def _entry(checks, warnings=(), data=None, raises=None, seen=None):
    def run(params, check_mode=False, host=None):
        if seen is not None:
            seen.update(params=params, check_mode=check_mode)
        if raises:
            raise raises
        if host is not None:
            host.hide('obtained-Secret-77')
        report = Report(checks, data=data)
        report.warnings.extend(warnings)
        return report
    return run


def test_result_is_the_modules_with_secrets_masked_and_json_types():
    seen = {}
    checks = [ok('example.reach', 'answered with token tok-Secret-1234 and obtained-Secret-77', target='api')]
    result = in_process.run_backend(NAME, SPEC, {'url': 'https://api.example', 'token': 'tok-Secret-1234'},
                                    _entry(checks, warnings=['slow DNS'], data={'pair': (1, 2)}, seen=seen),
                                    check_mode=True)
    assert seen == {'params': dict(url='https://api.example', token='tok-Secret-1234', timeout=10.0, in_process=True,
                                   fail_on='critical', thresholds={}), 'check_mode': True}
    assert result['status'] == 'ok' and result.get('failed') is not True
    assert 'tok-Secret-1234' not in str(result) and 'obtained-Secret-77' not in str(result)
    assert result['invocation']['module_args']['token'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert result['warnings'] == ['slow DNS']
    assert result['pair'] == [1, 2]  # a tuple comes back as the list a module's JSON gives


def test_fail_on_fails_the_task_with_the_modules_message():
    checks = [critical('example.reach', 'connection refused', target='api')]
    result = in_process.run_backend(NAME, SPEC, {'url': 'https://api.example'}, _entry(checks))
    assert result['failed'] is True
    assert result['msg'] == 'critical check(s) at or above critical: example.reach (api)'
    never = in_process.run_backend(NAME, SPEC, {'url': 'https://api.example', 'fail_on': 'never'}, _entry(checks))
    assert never.get('failed') is not True and never['status'] == 'critical'


@pytest.mark.parametrize('args,message', [
    ({'url': 'x', 'tiemout': 3}, 'Unsupported parameters for (%s) module: tiemout. Supported parameters include:' % NAME),
    ({}, 'missing required arguments: url'),
    ({'url': 'x', 'timeout': 'soon'}, "argument 'timeout' is of type str"),
    ({'url': 'x', 'timeout': -1}, 'Invalid parameters: timeout'),
    ({'url': 'x', 'fail_on': 'sometimes'}, 'value of fail_on must be one of'),
])
def test_bad_input_fails_with_a_message_naming_the_option(args, message):
    seen = {}
    result = in_process.run_backend(NAME, SPEC, args, _entry([], seen=seen))
    assert result['failed'] is True and message in result['msg'], result['msg']
    assert seen == {}  # the backend never ran


def test_a_backend_refusal_is_a_task_failure_not_a_traceback():
    result = in_process.run_backend(NAME, SPEC, {'url': 'x', 'token': 'tok-Secret-1234'},
                                    _entry([], raises=MaintenanceError('url x: no scheme (token tok-Secret-1234)')))
    assert result['failed'] is True and result['msg'].startswith('url x: no scheme')
    assert 'tok-Secret-1234' not in result['msg']
