"""The checks every module's parameters get in ``module_support.run`` before the backend sees them.

Each case is an input the fuzz test (tests/unit/plugins/modules/test_fuzz_params.py) found reaching a
backend and ending in a traceback: a port out of range (redis-py ValueError), a NUL byte in a path or URL
(``embedded null byte`` from open/lstat, http.client InvalidURL), a negative or huge timeout (OverflowError
from the socket layer), a non-finite float (OverflowError converting inf).
"""

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import module_support as ms
SPEC = dict(
    port=dict(type='int', default=5432),
    redis_port=dict(type='int'),
    timeout=dict(type='float', default=10),
    connect_timeout=dict(type='int', default=5),
    now=dict(type='float'),
    dest=dict(type='path'),
    paths=dict(type='list', elements='path'),
    url=dict(type='str'),
    body=dict(type='raw'),
    count=dict(type='int'),
    targets=dict(type='list', elements='dict', options=dict(
        host=dict(type='str'), port=dict(type='int'), timeout=dict(type='float'), path=dict(type='path'))),
    restore=dict(type='dict', options=dict(timeout=dict(type='int'))),
)


def _errors(**params):
    full = dict((name, None) for name in SPEC)
    full.update(params)
    return ms.parameter_errors(SPEC, full)


def test_good_parameters_pass():
    assert _errors(port=5432, redis_port=6379, timeout=0, connect_timeout=5, now=1.5e9, dest='/tmp/x',
                   paths=['/a', 'b'], url='http://127.0.0.1/', body='a\x00b', count=-3,
                   targets=[dict(host='h', port=443, timeout=2.5, path='p')], restore=dict(timeout=0)) == []


@pytest.mark.parametrize('params, expected', [
    (dict(port=99999), 'port must be a port number between 1 and 65535, not 99999'),
    (dict(port=0), 'port must be a port number between 1 and 65535, not 0'),
    (dict(redis_port=-1), 'redis_port must be a port number between 1 and 65535, not -1'),
    (dict(targets=[dict(port=70000)]), 'targets[0].port must be a port number between 1 and 65535, not 70000'),
    (dict(timeout=-1.0), 'timeout must be a number of seconds between 0 and 2147483647, not -1.0'),
    (dict(timeout=1e20), 'timeout must be a number of seconds between 0 and 2147483647, not 1e+20'),
    (dict(connect_timeout=-5), 'connect_timeout must be a number of seconds between 0 and 2147483647, not -5'),
    (dict(restore=dict(timeout=-1)), 'restore.timeout must be a number of seconds between 0 and 2147483647, not -1'),
    (dict(now=float('inf')), 'now must be a finite number, not inf'),
    (dict(targets=[dict(timeout=float('nan'))]), 'targets[0].timeout must be a finite number, not nan'),
    (dict(dest='/tmp/a\x00b'), 'dest: contains a NUL byte'),
    (dict(paths=['ok', 'bad\x00']), 'paths[1]: contains a NUL byte'),
    (dict(url='http://127.0.0.1/\x00'), 'url: contains a NUL byte'),
    (dict(targets=[dict(path='x\x00')]), 'targets[0].path: contains a NUL byte'),
])
def test_bad_parameters_are_named(params, expected):
    assert _errors(**params) == [expected]


def test_every_error_is_reported():
    assert _errors(port=0, dest='\x00') == ['dest: contains a NUL byte', 'port must be a port number between 1 and 65535, not 0']


class _Failed(Exception):
    pass


class _Module(object):
    """The two attributes and the one method of AnsibleModule that ``run`` uses (no Ansible arguments to parse)."""

    def __init__(self, params):
        self.argument_spec = SPEC
        self.params = params

    def fail_json(self, msg, **kwargs):
        raise _Failed(msg)


def test_run_refuses_before_the_backend_is_called():
    calls = []
    with pytest.raises(_Failed, match=r'^Invalid parameters: port must be a port number between 1 and 65535, not 70000$'):
        ms.run(_Module(dict(port=70000)), calls.append, 'called')
    assert calls == []
    assert ms.run(_Module(dict(port=5432)), lambda: 'result') == 'result'


def test_a_path_naming_a_fifo_is_refused_before_anything_blocks_on_it(tmp_path):
    """Found by the fuzz test: token_check's ca_path (ssl.create_default_context) and log_scan's state_file
    naming a FIFO blocked the module until it was killed."""
    import os
    fifo = str(tmp_path / 'fifo')
    os.mkfifo(fifo)
    assert _errors(dest=fifo) == ['dest: %s is a FIFO, not a file' % fifo]
    assert _errors(paths=[str(tmp_path), fifo]) == ['paths[1]: %s is a FIFO, not a file' % fifo]
    assert _errors(targets=[dict(path=fifo)]) == ['targets[0].path: %s is a FIFO, not a file' % fifo]
    assert _errors(dest=str(tmp_path), paths=[str(tmp_path / 'missing'), '/dev/null']) == []


# ------------------------------------------------------------------ one validator (issue 16)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import option_checks  # noqa: E402
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError  # noqa: E402


def _checked(check, value, name):
    try:
        check(value, name)
    except MaintenanceError as exc:
        return exc.message
    return None


@pytest.mark.parametrize('name, value, check', [
    ('port', 99999, option_checks.port),
    ('port', 0, option_checks.port),
    ('redis_port', -1, option_checks.port),
    ('timeout', -1.0, option_checks.seconds),
    ('timeout', 1e20, option_checks.seconds),
    ('connect_timeout', 2147483648, option_checks.seconds),
    ('now', float('inf'), option_checks.finite),
    ('timeout', float('nan'), option_checks.finite),
])
def test_spec_options_and_free_form_values_get_the_same_message(name, value, check):
    """``parameter_errors`` (options of the argument spec) and ``option_checks`` (values inside free-form dicts,
    such as a notify channel's port) hold the ranges once: the same bad value gives the same message."""
    expected = _checked(check, value, name)
    assert expected and name in expected
    assert _errors(**{name: value}) == [expected]


@pytest.mark.parametrize('name, value', [('port', 1), ('port', 65535), ('timeout', 0), ('timeout', 2147483647.0)])
def test_the_range_ends_pass_both_paths(name, value):
    check = option_checks.port if name == 'port' else option_checks.seconds
    assert _checked(check, value, name) is None
    assert _errors(**{name: value}) == []
