"""Checks as Prometheus metrics: exposition format (checked by Debian's promtool), atomic files, bounded labels."""

import os
import shutil
import subprocess

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import prometheus as prom
PROMTOOL = shutil.which('promtool')
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason='promtool missing: install the prometheus package (tests/system-packages.txt)')


def promtool_metrics(text):
    proc = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text.encode(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60, check=False)
    return proc.returncode, proc.stdout.decode()


def sample_checks():
    return [
        {'name': 'http.response_time', 'status': 'warning', 'value': 2.5, 'unit': 's', 'threshold': 2, 'priority': 'medium',
         'target': 'https://user:pw@api.example.com/health?token=abc', 'reason': 'slow'},
        {'name': 'http.status', 'status': 'ok', 'value': 200, 'unit': None, 'threshold': None, 'priority': 'low',
         'target': 'https://api.example.com/health', 'reason': 'ok'},
        {'name': 'disk.used', 'status': 'critical', 'value': 93.5, 'unit': '%', 'threshold': 90, 'priority': 'high', 'target': '/var'},
        {'name': 'db.lock_waits', 'status': 'ok', 'value': 1, 'unit': 'sessions', 'threshold': 5, 'priority': 'low', 'target': 'app"db\\x\n'},
        {'name': 'security.suspicious_ip', 'status': 'critical', 'value': 40, 'unit': 'failures', 'threshold': 20,
         'priority': 'high', 'target': '203.0.113.9'},
        {'name': 'tls.expiry', 'status': 'unknown', 'value': None, 'unit': 'days', 'threshold': 7, 'priority': 'medium', 'target': 'x:443'},
        {'name': 'cache.ok', 'status': 'ok', 'value': True, 'priority': 'low'},
    ]


def lines_of(text, name):
    return [line for line in text.splitlines() if line.startswith(name + '{')]


@needs_promtool
def test_rendered_text_passes_promtool_and_has_every_series():
    run = {'started': 1800000000.5, 'duration': 3.25, 'success': True, 'last_success': 1800000003.75}
    text = prom.render('web1', 'service_health', sample_checks(), run)
    code, out = promtool_metrics(text)
    assert code == 0 and not out.strip(), out + text
    status = lines_of(text, 'autopilotcx_check_status')
    assert 'autopilotcx_check_status{check="disk.used",target="/var",host="web1",priority="high",cadence="service_health"} 3' in status
    assert any('check="http.response_time"' in line and line.endswith(' 2') for line in status)
    assert any('check="tls.expiry"' in line and line.endswith(' 1') for line in status)
    # unit in the name where it is fixed, converted to the base unit
    assert any(line.startswith('autopilotcx_check_value_seconds{check="http.response_time"') and line.endswith(' 2.5')
               for line in text.splitlines())
    assert any(line.startswith('autopilotcx_check_threshold_seconds{check="tls.expiry"') and line.endswith(' 604800')
               for line in text.splitlines())
    assert any(line.startswith('autopilotcx_check_value_percent{check="disk.used"') and line.endswith(' 93.5') for line in text.splitlines())
    assert any(line.startswith('autopilotcx_check_value{check="db.lock_waits"') and 'unit="sessions"' in line for line in text.splitlines())
    assert 'autopilotcx_cadence_run_success{cadence="service_health",host="web1"} 1' in text
    assert 'autopilotcx_cadence_last_success_timestamp_seconds{cadence="service_health",host="web1"} 1800000003.75' in text
    assert 'autopilotcx_cadence_run_duration_seconds{cadence="service_health",host="web1"} 3.25' in text


def test_no_ip_user_or_secret_in_labels():
    text = prom.render('web1', 'security_monitoring', sample_checks(), None)
    assert '203.0.113.9' not in text
    assert 'user' not in text and 'pw@' not in text and 'token=abc' not in text
    assert 'target="https://api.example.com/health"' in text
    assert 'autopilotcx_check_status{check="security.suspicious_ip",target="_other"' in text
    assert prom.target_label('alice@db.example.com') == 'db.example.com'
    assert prom.target_label('10.0.0.0/8') is None
    assert prom.target_label('[2001:db8::1]') is None
    assert prom.target_label('x' * 500).startswith('x' * 100) and len(prom.target_label('x' * 500)) <= prom.MAX_LABEL


@needs_promtool
def test_targets_are_capped_and_duplicates_keep_the_worst():
    checks = [{'name': 'http.status', 'status': 'ok', 'value': 200, 'priority': 'low', 'target': 'https://h%d.example/' % i}
              for i in range(30)]
    checks.append({'name': 'http.status', 'status': 'critical', 'value': 500, 'priority': 'high', 'target': 'https://h29.example/'})
    checks.append({'name': 'http.status', 'status': 'warning', 'value': 0, 'priority': 'medium', 'target': 'https://h0.example/'})
    text = prom.render('web1', 'c', checks, {'started': 1, 'duration': 1, 'success': True, 'last_success': 1}, max_targets=10)
    assert promtool_metrics(text)[0] == 0, text
    status = lines_of(text, 'autopilotcx_check_status')
    assert len(status) == 11  # 10 targets and _other
    other = [line for line in status if 'target="_other"' in line]
    assert other == ['autopilotcx_check_status{check="http.status",target="_other",host="web1",priority="high",cadence="c"} 3']
    assert any('target="https://h0.example/"' in line and line.endswith(' 2') for line in status)
    assert 'autopilotcx_cadence_folded_targets{cadence="c",host="web1"} 21' in text


def test_write_is_atomic_and_a_disappeared_check_goes_away(tmp_path):
    clock = iter([100.0, 105.0, 200.0, 203.0, 300.0, 301.0]).__next__
    collector = prom.MetricsCollector(str(tmp_path), clock=clock)
    collector.add('web1', 'service_health', 'ok', sample_checks()[:3])
    collector.add('web2', 'service_health', 'ok', sample_checks()[2:3])
    assert collector.finish() == []
    files = sorted(os.listdir(str(tmp_path)))
    assert files == ['autopilotcx_service_health__web1.prom', 'autopilotcx_service_health__web2.prom']
    first = (tmp_path / files[0]).read_text()
    assert 'check="http.status"' in first
    # second run: http.status is gone and the run fails: the last success stays that of the first run
    collector = prom.MetricsCollector(str(tmp_path), clock=clock)
    collector.add('web1', 'service_health', 'failed', sample_checks()[:1])
    assert collector.finish() == []
    second = (tmp_path / files[0]).read_text()
    assert 'check="http.status"' not in second
    assert 'autopilotcx_cadence_last_success_timestamp_seconds{cadence="service_health",host="web1"} 105' in second
    assert 'autopilotcx_cadence_run_success{cadence="service_health",host="web1"} 0' in second
    assert 'autopilotcx_cadence_last_run_timestamp_seconds{cadence="service_health",host="web1"} 200' in second
    # a later success moves it on; other cadences' files are never touched
    collector = prom.MetricsCollector(str(tmp_path), clock=clock)
    collector.add('web1', 'db_connection', 'ok', [])
    collector.finish()
    assert (tmp_path / files[0]).read_text() == second
    assert sorted(os.listdir(str(tmp_path))) == sorted(files + ['autopilotcx_db_connection__web1.prom'])  # no temp file left


def test_unwritable_or_missing_dir_is_a_problem_not_an_exception(tmp_path):
    collector = prom.MetricsCollector(str(tmp_path / 'missing'))
    collector.add('web1', 'c', 'ok', sample_checks())
    problems = collector.finish()
    assert len(problems) == 1 and 'is not a directory' in problems[0]


def test_file_names_are_safe_and_distinct():
    assert prom.textfile_path('/d', 'service_health', 'web1.example.com') == '/d/autopilotcx_service_health__web1.example.com.prom'
    weird = prom.textfile_path('/d', 'c', '../etc/x')
    assert os.path.dirname(weird) == '/d' and '..' not in os.path.basename(weird).replace('.prom', '').split('_')[-1][:2]
    assert prom.safe_name('a/b') != prom.safe_name('a_b')


def test_pushgateway_url_encodes_odd_values():
    assert prom.pushgateway_group_url('http://pg:9091/', 'service_health', 'web1') == \
        'http://pg:9091/metrics/job/autopilotcx/cadence/service_health/host/web1'
    assert '/host@base64/' in prom.pushgateway_group_url('http://pg:9091', 'c', 'a/b c')


def test_unreachable_pushgateway_is_a_problem_without_credentials(tmp_path):
    collector = prom.MetricsCollector(pushgateway_url='http://u:secretpw@127.0.0.1:9/')
    collector.add('web1', 'c', 'ok', [])
    problems = collector.finish()
    assert len(problems) == 1 and 'Pushgateway' in problems[0] and 'secretpw' not in problems[0]


def test_a_full_disk_keeps_the_previous_file_whole_and_leaves_no_temporary_file(tmp_path):
    """A real full filesystem (a small tmpfs): the previous file stays as it was, node_exporter never reads half a file."""
    from tests.harness.tmpfs import fill, small_tmpfs
    with small_tmpfs(tmp_path / 'small', '64k') as mount:
        collector = prom.MetricsCollector(mount, clock=iter([1.0, 2.0]).__next__)
        collector.add('web1', 'c', 'ok', sample_checks()[:1])
        assert collector.finish() == []
        path = prom.textfile_path(mount, 'c', 'web1')
        with open(path) as handle:
            before = handle.read()
        fill(mount, leave=0)
        many = [{'name': 'n%d' % i, 'status': 'ok', 'value': i, 'priority': 'low', 'target': 't' * 150} for i in range(400)]
        collector = prom.MetricsCollector(mount, clock=iter([3.0, 4.0]).__next__)
        collector.add('web1', 'c', 'ok', many)
        problems = collector.finish()
        assert len(problems) == 1 and path in problems[0] and 'No space left' in problems[0], problems
        with open(path) as handle:
            assert handle.read() == before
        assert sorted(os.listdir(mount)) == sorted(['filler', os.path.basename(path)])


def test_a_stray_surrogate_in_a_label_is_replaced_not_raised(tmp_path):
    collector = prom.MetricsCollector(str(tmp_path))
    collector.add('web1', 'c', 'ok', [{'name': 'odd', 'status': 'ok', 'priority': 'low', 'target': 'bad\udcffbyte'}])
    assert collector.finish() == []
    assert 'target="bad?byte"' in (tmp_path / 'autopilotcx_c__web1.prom').read_text()


def test_a_value_with_no_float_is_no_sample_not_an_exception():
    """numbers.Number takes complex, which float() refuses (found by mypy): no value sample, the status is still there."""
    assert prom.numeric(complex(1, 2)) is None
    text = prom.render('web1', 'c', [{'name': 'odd', 'status': 'ok', 'priority': 'low', 'value': complex(1, 2), 'threshold': 3}])
    assert lines_of(text, 'autopilotcx_check_status') and lines_of(text, 'autopilotcx_check_threshold')
    assert not lines_of(text, 'autopilotcx_check_value')


def test_a_unit_that_is_not_text_is_a_label_not_an_exception():
    """A check whose unit is a list or a mapping (a third party's result, a hand-made record) raised TypeError
    (unhashable) out of the textfile writer; it is now an unknown unit, shown as a label."""
    assert prom.unit_suffix(['s']) == (None, 1) and prom.unit_suffix({'u': 's'}) == (None, 1)
    text = prom.render('web1', 'c', [{'name': 'odd', 'status': 'ok', 'priority': 'low', 'value': 3, 'unit': ['s']}])
    assert lines_of(text, 'autopilotcx_check_value') == [
        'autopilotcx_check_value{check="odd",target="",host="web1",cadence="c",unit="[\'s\']"} 3']
