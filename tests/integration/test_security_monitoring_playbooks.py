"""playbooks/security_monitoring.yml run by real ansible-playbook on the demo data (real log files with an attack)."""

import json
import os
import shutil
import sys

import pytest

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.paths import ROOT

sys.path.insert(0, os.path.join(ROOT, 'scripts', 'demo_setup'))
import security_logs  # noqa: E402

pytestmark = pytest.mark.slow

PLAYBOOK = os.path.join(ROOT, 'playbooks', 'security_monitoring.yml')


@pytest.fixture()
def demo(tmp_path):
    """An inventory like the demo one (host demo-app, local), its group_vars file, and freshly written demo logs."""
    inventory = tmp_path / 'inventory'
    (inventory / 'group_vars' / 'all').mkdir(parents=True)
    (inventory / 'hosts.yml').write_text('all:\n  hosts:\n    demo-app:\n      ansible_connection: local\n')
    shutil.copy(os.path.join(ROOT, 'inventories', 'demo', 'group_vars', 'all', 'security_monitoring.yml'),
                str(inventory / 'group_vars' / 'all' / 'security_monitoring.yml'))
    # the notify role's deduplication state of this test only
    (inventory / 'group_vars' / 'all' / 'notify.yml').write_text('notify_state_file: %s\n' % (tmp_path / 'notify.json'))
    demo_dir = tmp_path / 'demo'
    demo_dir.mkdir()
    paths = security_logs.setup({'demo_dir': str(demo_dir)})
    return {'inventory': inventory, 'demo_dir': demo_dir, 'state': demo_dir / 'state' / 'log_scan.json',
            'outcomes': tmp_path / 'outcomes.jsonl', 'paths': paths}


def scan_record(records):
    found = [r for r in records if r.get('action', '').endswith('log_scan')]
    assert len(found) == 1, records
    return found[0]


def by_name(record):
    return dict((c['name'], c) for c in record['checks'] if c['name'] != 'log_scan.source')


def test_security_monitoring_playbook_finds_the_attack_and_alerts(demo):
    extra = {'demo_dir': str(demo['demo_dir'])}
    # check mode first: everything is judged, nothing is written
    dry = run_playbook(PLAYBOOK, inventory=demo['inventory'], extra_vars=extra, outcome_log=demo['outcomes'],
                       args=['--check'])
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert not demo['state'].exists()
    record = scan_record(read_outcomes(demo['outcomes']))
    assert record['check_mode'] is True
    assert by_name(record)['security.failed_logins_per_minute']['status'] == 'critical'
    os.unlink(str(demo['outcomes']))

    real = run_playbook(PLAYBOOK, inventory=demo['inventory'], extra_vars=extra, outcome_log=demo['outcomes'])
    assert real.returncode == 0, real.stdout + real.stderr
    records = read_outcomes(demo['outcomes'])
    record = scan_record(records)
    checks = by_name(record)
    failed = checks['security.failed_logins_per_minute']
    assert failed['status'] == 'critical' and failed['priority'] == 'high' and failed['value'] > 10
    suspicious = checks['security.suspicious_ips']
    assert suspicious['status'] == 'warning' and suspicious['priority'] == 'high'
    assert set(suspicious['details']['ips']) == {'203.0.113.66', '198.51.100.23', '198.51.100.77'}
    assert checks['security.request_rate_spike']['status'] == 'critical'
    assert checks['security.api_error_rate']['status'] == 'warning'
    assert checks['security.rate_limit_violations']['status'] == 'warning'
    assert checks['http.slow_request_share']['status'] == 'warning'
    assert all(c['status'] == 'ok' for c in record['checks'] if c['name'] == 'log_scan.source')
    # the allow-listed office network (10.0.0.0/8) made a few typos: never suspicious
    assert not [ip for ip in suspicious['details']['ips'] if ip.startswith('10.')]
    # the alert went through the notify role, with the highest priority of what fired
    include = [r for r in records if r.get('task') == 'Alert through the notify role']
    assert len(include) == 1 and include[0]['status'] == 'ok'
    assert [r for r in records if r.get('task') == 'Tell the notify role the condition cleared'][0]['status'] == 'skipped'
    notify_tasks = [r for r in records if (r.get('task') or '').startswith('autopilotcx.maintenance.notify :')]
    assert notify_tasks and all(r['status'] in ('ok', 'changed') for r in notify_tasks)
    if [r for r in notify_tasks if r['task'].endswith('Record the alert')]:   # the placeholder notify role prints it
        assert '[high] Security monitoring on demo-app' in real.stdout and '203.0.113.66' in real.stdout
    # the cursor moved to the end of both logs
    state = json.loads(demo['state'].read_text())
    offsets = dict((entry['path'], entry['offset']) for entry in state['files'].values())
    assert offsets == dict((path, os.path.getsize(path)) for path in demo['paths'].values())

    # a second run reads nothing new; the window still holds the attack, and with fail_on critical the job fails
    # (set in host_vars: the outcome callback masks every value that equals an extra var)
    os.unlink(str(demo['outcomes']))
    (demo['inventory'] / 'host_vars').mkdir()
    (demo['inventory'] / 'host_vars' / 'demo-app.yml').write_text('security_monitoring_fail_on: critical\n')
    again = run_playbook(PLAYBOOK, inventory=demo['inventory'], outcome_log=demo['outcomes'], extra_vars=extra)
    assert again.returncode != 0
    records = read_outcomes(demo['outcomes'])
    assert by_name(scan_record(records))['security.failed_logins_per_minute']['status'] == 'critical'
    verdict = [r for r in records if r['status'] == 'failed']
    assert len(verdict) == 1 and 'security.failed_logins_per_minute' in verdict[0]['msg']
    assert json.loads(demo['state'].read_text())['files'] == state['files']


def notify_checks(records):
    return dict((c['name'], c) for r in records if str(r.get('action', '')).endswith('.notify') for c in r.get('checks') or [])


def test_an_attack_alerted_before_the_dedup_key_changed_is_not_alerted_again(demo, tmp_path):
    """Issue 16: the key was security_monitoring/<host>, it is security_monitoring:<host>; a persisting attack that
    fired under the old key (a state file from before the upgrade) is suppressed, not sent a second time."""
    extra = {'demo_dir': str(demo['demo_dir'])}
    first = run_playbook(PLAYBOOK, inventory=demo['inventory'], extra_vars=extra, outcome_log=demo['outcomes'])
    assert first.returncode == 0, first.stdout + first.stderr
    assert notify_checks(read_outcomes(demo['outcomes']))['notify.recorded']['reason'].startswith('no channel takes high')
    state_path = tmp_path / 'notify.json'
    state = json.loads(state_path.read_text())
    assert list(state['alerts']) == ['security_monitoring:demo-app']
    # the state as the collection wrote it before the upgrade
    state['alerts'] = {'security_monitoring/demo-app': state['alerts']['security_monitoring:demo-app']}
    state_path.write_text(json.dumps(state))

    os.unlink(str(demo['outcomes']))
    again = run_playbook(PLAYBOOK, inventory=demo['inventory'], extra_vars=extra, outcome_log=demo['outcomes'])
    assert again.returncode == 0, again.stdout + again.stderr
    checks = notify_checks(read_outcomes(demo['outcomes']))
    assert 'notify.recorded' not in checks and checks['notify.dedup']['reason'].startswith('suppressed: same alert sent')
    alerts = json.loads(state_path.read_text())['alerts']
    assert list(alerts) == ['security_monitoring:demo-app'] and alerts['security_monitoring:demo-app']['suppressed'] == 1


def test_preflight_rejects_bad_sources(demo):
    result = run_playbook(PLAYBOOK, inventory=demo['inventory'], outcome_log=demo['outcomes'],
                          extra_vars={'demo_dir': str(demo['demo_dir']),
                                      'security_monitoring_sources': [{'type': 'syslog', 'path': '/var/log/x'}]})
    assert result.returncode != 0
    failed = [r for r in read_outcomes(demo['outcomes']) if r['status'] == 'failed']
    assert len(failed) == 1 and 'needs at least one source' in failed[0]['msg']
    assert not [r for r in read_outcomes(demo['outcomes']) if r.get('action', '').endswith('log_scan')]
