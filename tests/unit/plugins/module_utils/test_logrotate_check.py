"""logrotate_check with the real logrotate (Debian package), a real configuration and a real state file."""

import datetime
import os

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import logrotate_check as lc
pytestmark = pytest.mark.skipif(lc.find_logrotate() is None, reason='logrotate is not installed (make deps installs it)')

THRESHOLDS = {'log_rotation_age': {'warning': 8, 'critical': 32, 'unit': 'days'},
              'log_file_size': {'warning': 0.5, 'critical': 100, 'unit': 'MB'}}


@pytest.fixture()
def setup(tmp_path):
    logs = tmp_path / 'logs'
    logs.mkdir()
    (logs / 'app.log').write_bytes(b'line\n' * 200000)      # ~1 MB: over the 0.5 MB warning
    (logs / 'worker.log').write_text('recent\n')
    (logs / 'debug.log').write_text('not covered by any rule\n')
    config = tmp_path / 'logrotate.conf'
    config.write_text('''
%(d)s/app.log {
    daily
    rotate 3
    missingok
}
%(d)s/worker.log %(d)s/gone.log {
    weekly
    rotate 2
}
''' % {'d': logs})
    state = tmp_path / 'status'
    old = datetime.datetime.now() - datetime.timedelta(days=40)
    recent = datetime.datetime.now() - datetime.timedelta(days=1)
    state.write_text('logrotate state -- version 2\n"%s/app.log" %s\n"%s/worker.log" %s\n' % (
        logs, old.strftime('%Y-%-m-%-d-%-H:%-M:%-S'), logs, recent.strftime('%Y-%-m-%-d-%-H:%-M:%-S')))
    os.chmod(config, 0o644)
    return tmp_path, logs, config, state


def _check(result, name):
    return [c for c in result['checks'] if c['name'] == name][0]


def test_checks_config_state_sizes_and_coverage(setup):
    _tmp, logs, config, state = setup
    result = lc.check_logrotate(str(config), str(state), watch=[str(logs / '*.log')], thresholds=THRESHOLDS)
    assert _check(result, 'logrotate.config')['status'] == 'ok'
    assert _check(result, 'logrotate.state')['value'] == 2
    unrotated = _check(result, 'logrotate.unrotated')
    assert unrotated['status'] == 'critical' and 39 < unrotated['value'] < 41
    size = _check(result, 'logrotate.log_size')
    assert size['status'] == 'warning' and 'app.log' in size['reason']
    coverage = _check(result, 'logrotate.coverage')
    assert coverage['status'] == 'warning'
    assert 'debug.log' in coverage['reason'] and 'gone.log' in coverage['reason']
    by_path = dict((e['path'], e) for e in result['logs'])
    assert by_path[str(logs / 'app.log')]['due'] is True
    assert by_path[str(logs / 'worker.log')]['due'] is False
    assert by_path[str(logs / 'debug.log')]['managed'] is False
    assert not result['changed'] and not os.path.exists(logs / 'app.log.1')


def test_config_error_is_critical(setup):
    tmp, logs, _config, state = setup
    bad = tmp / 'bad.conf'
    bad.write_text('%s/app.log {\n    dailyy\n}\n' % logs)
    os.chmod(bad, 0o644)
    result = lc.check_logrotate(str(bad), str(state), thresholds=THRESHOLDS)
    check = _check(result, 'logrotate.config')
    assert check['status'] == 'critical' and "unknown option 'dailyy'" in check['reason']


def test_forced_rotation_by_logrotate_itself_and_check_mode(setup):
    _tmp, logs, config, state = setup
    before = sorted(os.listdir(logs))
    state_before = state.read_text()
    result = lc.check_logrotate(str(config), str(state), rotate='force', check_mode=True, thresholds=THRESHOLDS)
    assert sorted(os.listdir(logs)) == before and state.read_text() == state_before
    assert not result['changed'] and result['rotate_output'] == 'check mode: not run'

    (logs / 'gone.log').write_text('')  # logrotate fails on a missing log without missingok
    result = lc.check_logrotate(str(config), str(state), rotate='force', thresholds=THRESHOLDS)
    assert result['rotated'] and result['changed'], result['rotate_output']
    assert _check(result, 'logrotate.rotation')['status'] == 'ok'
    assert os.path.exists(logs / 'app.log.1') and os.path.exists(logs / 'worker.log.1')
    assert not os.path.exists(logs / 'app.log') or os.path.getsize(logs / 'app.log') == 0
    rotated = lc.parse_state(state.read_text())
    assert (datetime.datetime.now() - rotated[str(logs / 'app.log')]).total_seconds() < 120
    # after the rotation nothing is overdue or oversized any more
    assert _check(result, 'logrotate.unrotated')['status'] == 'ok'
    assert _check(result, 'logrotate.log_size')['status'] == 'ok'


def test_failed_rotation_is_critical(setup):
    _tmp, logs, config, state = setup
    result = lc.check_logrotate(str(config), str(state), rotate='due', thresholds=THRESHOLDS)
    # gone.log is missing without missingok: logrotate exits non-zero, we say so
    assert _check(result, 'logrotate.rotation')['status'] == 'critical'


def test_missing_binary_and_config(setup, tmp_path):
    _tmp, _logs, config, state = setup
    result = lc.check_logrotate(str(config), str(state), binary=str(tmp_path / 'no-logrotate'))
    assert _check(result, 'logrotate.config')['status'] == 'unknown'
    result = lc.check_logrotate(str(tmp_path / 'absent.conf'), str(state))
    assert _check(result, 'logrotate.config')['status'] == 'critical'


def test_parse_state():
    text = 'logrotate state -- version 2\n"/var/log/a.log" 2026-1-31-4:0:0\n"/var/log/with \\"quote\\".log" 2025-12-1-0:0:0\n'
    parsed = lc.parse_state(text)
    assert parsed['/var/log/a.log'] == datetime.datetime(2026, 1, 31, 4, 0, 0)
    assert parsed['/var/log/with "quote".log'] == datetime.datetime(2025, 12, 1)


@pytest.mark.parametrize('kind', ['binary', 'fifo', 'directory'])
def test_a_state_file_that_is_not_text_is_unknown_with_the_reason(setup, tmp_path, kind):
    """Found by the fuzz test: a binary state file ended in UnicodeDecodeError; a FIFO would block the open."""
    _tmp, _logs, config, _state = setup
    state = tmp_path / ('state-' + kind)
    if kind == 'binary':
        state.write_bytes(b'\x00\xff\xfe' * 10)
    elif kind == 'fifo':
        os.mkfifo(str(state))
    else:
        state.mkdir()
    check = _check(lc.check_logrotate(str(config), str(state), timeout=20), 'logrotate.state')
    assert check['status'] == 'unknown' and check['reason'].startswith('cannot read the state file: ')


def test_a_config_that_is_a_fifo_is_critical_without_running_logrotate(setup, tmp_path):
    _tmp, _logs, _config, state = setup
    os.mkfifo(str(tmp_path / 'fifo.conf'))
    result = lc.check_logrotate(str(tmp_path / 'fifo.conf'), str(state), timeout=20)
    assert _check(result, 'logrotate.config')['reason'].endswith('is not a file or a directory')
    assert result['commands'] == []
