"""The shipped Prometheus rules: generated from the cadence and threshold tables, valid, and firing when they should."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import prometheus as prom
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
RULES = os.path.join(ROOT, 'extensions', 'prometheus', 'rules.yml')
SCRIPT = os.path.join(ROOT, 'scripts', 'gen_prometheus_rules.py')
DEFAULTS = os.path.join(ROOT, 'roles', 'maintenance', 'defaults', 'main.yml')
PROMTOOL = shutil.which('promtool')
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason='promtool missing: install the prometheus package (tests/system-packages.txt)')


def test_shipped_rules_are_regenerated_identically():
    proc = subprocess.run([sys.executable, SCRIPT, '--check'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout.decode()


def test_a_changed_table_changes_the_rules(tmp_path):
    """The check is not vacuous: a site's own cadence or threshold gives other rules."""
    site = tmp_path / 'site.yml'
    site.write_text(yaml.safe_dump({'maintenance_threshold_overrides': {'http_response_time': {'warning': 1.5}},
                                    'maintenance_cadences': [{'name': 'service_health', 'rrule': 'FREQ=MINUTELY;INTERVAL=10'}]}))
    out = tmp_path / 'rules.yml'
    subprocess.run([sys.executable, SCRIPT, '--vars', str(site), '--output', str(out)], check=True, timeout=120)
    text = out.read_text()
    assert 'autopilotcx_check_value_seconds{check="http.response_time"} > 1.5' in text
    assert 'autopilotcx_cadence_last_success_timestamp_seconds{cadence="service_health"} > 1200' in text
    assert 'cadence="db_connection"' not in text
    proc = subprocess.run([sys.executable, SCRIPT, '--check', '--output', str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    assert proc.returncode == 1 and b'out of date' in proc.stdout


def test_every_scheduled_cadence_has_a_dead_mans_switch_at_twice_its_interval():
    with open(DEFAULTS) as handle:
        cadences = yaml.safe_load(handle)['maintenance_cadences']
    with open(RULES) as handle:
        rules = yaml.safe_load(handle)
    stale = dict((r['labels']['cadence'], r['expr']) for g in rules['groups'] for r in g['rules'] if r['alert'] == 'AutopilotcxCadenceStale')
    scheduled = [c['name'] for c in cadences if c.get('rrule')]
    assert sorted(stale) == sorted(scheduled)
    assert stale['service_health'].endswith('> 600')          # every 5 minutes
    assert stale['token_validation'].endswith('> 7200')        # hourly
    assert stale['tls_check'].endswith('> 172800')             # daily
    assert stale['weekly_patching'].endswith('> 1209600')      # weekly
    assert prom.cadence_interval('FREQ=MONTHLY;BYDAY=-1SU;BYHOUR=2;BYMINUTE=0') == 35 * 86400  # the longest month gap


@needs_promtool
def test_promtool_check_rules():
    proc = subprocess.run([PROMTOOL, 'check', 'rules', RULES], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout.decode()


@needs_promtool
def test_promtool_test_rules(tmp_path):
    """promtool evaluates the shipped rules on series shaped like the callback's (rendered by the same code)."""
    text = prom.render('web1', 'service_health', [
        {'name': 'http.response_time', 'status': 'warning', 'value': 3.1, 'unit': 's', 'threshold': 2, 'priority': 'medium',
         'target': 'https://app.example/health'},
        {'name': 'disk.used', 'status': 'critical', 'value': 95, 'unit': '%', 'threshold': 90, 'priority': 'high', 'target': '/var'},
        {'name': 'http.status', 'status': 'ok', 'value': 200, 'priority': 'low', 'target': 'https://app.example/health'},
    ], {'started': 0, 'duration': 1, 'success': True, 'last_success': 0})
    series = []
    for line in text.splitlines():
        if line.startswith('#'):
            continue
        name_labels, value = line.rsplit(' ', 1)
        series.append({'series': name_labels, 'values': '%sx20' % value})
    tests = {'rule_files': [RULES], 'evaluation_interval': '1m', 'tests': [{
        'interval': '1m', 'input_series': series,
        'alert_rule_test': [
            {'eval_time': '5m', 'alertname': 'AutopilotcxCheckCritical', 'exp_alerts': [{
                'exp_labels': {'severity': 'critical', 'priority': 'high', 'check': 'disk.used', 'target': '/var', 'host': 'web1',
                               'cadence': 'service_health'},
                'exp_annotations': {'summary': 'disk.used on web1 (/var) is critical',
                                    'description': 'cadence service_health, priority high; the reason is in the outcome records'}}]},
            {'eval_time': '5m', 'alertname': 'AutopilotcxCheckWarning', 'exp_alerts': []},  # http.response_time: the guide rule
            {'eval_time': '5m', 'alertname': 'AutopilotcxHttpResponseTimeWarning', 'exp_alerts': [{
                'exp_labels': {'severity': 'warning', 'priority': 'medium', 'threshold': 'http_response_time', 'check': 'http.response_time',
                               'target': 'https://app.example/health', 'host': 'web1', 'cadence': 'service_health'},
                'exp_annotations': {'summary': 'http.response_time on web1 (https://app.example/health) is 3.1',
                                    'description': 'http_response_time: http.response_time > 2s (guide: response time > 2 s)'}}]},
            {'eval_time': '9m', 'alertname': 'AutopilotcxCadenceStale', 'exp_alerts': []},
            {'eval_time': '11m', 'alertname': 'AutopilotcxCadenceStale', 'exp_alerts': [{
                'exp_labels': {'severity': 'critical', 'priority': 'high', 'cadence': 'service_health', 'host': 'web1'},
                'exp_annotations': {'summary': 'cadence service_health has not succeeded on web1 for over 10m (twice its interval)',
                                    'description': 'Service health check (guide: every 5 minutes)'}}]},
        ]}]}
    path = tmp_path / 'test.yml'
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    proc = subprocess.run([PROMTOOL, 'test', 'rules', str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout.decode()
