"""notify's alertmanager channel: the /api/v2/alerts body, stable labels from firing to resolved, no secret in errors.

Routing by a real Alertmanager is in tests/integration/test_prometheus_stack.py."""

import datetime

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.alerts.notify import alertmanager_alerts, notify

LEVELS = [{'level': 1, 'role': 'System Administrator', 'response': '30m', 'contacts': ['sysadmin@example.test']},
          {'level': 2, 'role': 'Security Team Lead', 'response': '15m', 'contacts': []},
          {'level': 3, 'role': 'CTO', 'response': '5m', 'contacts': []}]
ROUTING = {'high': [1, 2], 'medium': [1], 'low': []}
T0 = datetime.datetime(2026, 11, 24, 5, 0, tzinfo=datetime.timezone.utc)
CHECKS = [{'name': 'security.suspicious_ip', 'status': 'critical', 'priority': 'high', 'target': 'https://u:pw@app.test/login?k=1',
           'reason': '40 failures from one IP'},
          {'name': 'security.api_error_rate', 'status': 'warning', 'priority': 'medium', 'target': 'app', 'reason': '2 % > 1 %'},
          {'name': 'security.failed_logins_per_minute', 'status': 'ok', 'priority': 'low', 'target': 'app', 'reason': 'fine'}]


def params(tmp_path, url, **kwargs):
    base = dict(title='Security monitoring', body='See the outcome log.', priority='auto', checks=CHECKS, state='firing',
                dedup_key='secmon:app1', repeat_after='1h', state_file=str(tmp_path / 'state.json'), source='app1',
                escalation_levels=LEVELS, routing=ROUTING, timeout=5,
                channels=[{'name': 'am', 'type': 'alertmanager', 'url': url}])
    base.update(kwargs)
    return base


def test_one_alert_per_firing_check_with_the_labels_and_annotations(tmp_path, webhook_receiver):
    # the receiver fixture only answers /hook: point the channel's base URL so that /api/v2/alerts lands there
    webhook_receiver.routes['/hook/api/v2/alerts'] = webhook_receiver.routes['/hook']
    checks, extra, changed = notify(params(tmp_path, webhook_receiver.url + '/hook'), now=T0)
    assert extra['deliveries'][0]['status'] == 'sent', extra
    body = webhook_receiver.received[0]['json']
    assert isinstance(body, list) and len(body) == 2   # the ok check is not an alert
    first = dict((a['labels']['check'], a) for a in body)['security.suspicious_ip']
    assert first['labels'] == {'alertname': 'AutopilotcxNotify', 'check': 'security.suspicious_ip', 'target': 'https://app.test/login',
                               'host': 'app1', 'priority': 'high', 'severity': 'critical', 'escalation_level': '2',
                               'dedup_key': 'secmon:app1'}
    assert first['annotations']['reason'] == '40 failures from one IP'
    assert first['annotations']['response_target'] == '15m'
    assert first['annotations']['escalation'] == 'Level 1 System Administrator (respond within 30m); Level 2 Security Team Lead (respond within 15m)'
    assert first['startsAt'] == '2026-11-24T05:00:00Z'
    assert first['endsAt'] == '2026-11-24T07:00:00Z'     # twice the repeat interval: kept alive between repeats
    assert 'pw' not in str(body) and 'k=1' not in str(body)


def test_resolve_ends_the_alerts_it_started_under_the_same_labels(tmp_path, webhook_receiver):
    webhook_receiver.routes['/hook/api/v2/alerts'] = webhook_receiver.routes['/hook']
    notify(params(tmp_path, webhook_receiver.url + '/hook'), now=T0)
    later = T0 + datetime.timedelta(minutes=20)
    checks, extra, changed = notify(params(tmp_path, webhook_receiver.url + '/hook', state='resolved', checks=[]), now=later)
    assert extra['action'] == 'resolved'
    fired, resolved = webhook_receiver.received[0]['json'], webhook_receiver.received[1]['json']
    assert sorted(tuple(sorted(a['labels'].items())) for a in resolved) == sorted(tuple(sorted(a['labels'].items())) for a in fired)
    assert set(a['endsAt'] for a in resolved) == {'2026-11-24T05:20:00Z'}
    assert all('startsAt' not in a for a in resolved)


def test_an_alert_without_checks_is_one_alert():
    alert = {'title': 'Outage declared', 'message': 'OUT-1', 'priority': 'low', 'state': 'firing', 'dedup_key': 'k', 'source': 'ops',
             'sent_at': '2026-11-24T05:00:00Z', 'first_sent': '2026-11-24T05:00:00Z', 'escalation': [], 'checks': []}
    body = alertmanager_alerts(alert)
    assert len(body) == 1 and 'check' not in body[0]['labels']
    assert body[0]['labels']['escalation_level'] == 'none' and body[0]['labels']['severity'] == 'info'
    assert body[0]['annotations']['reason'] == 'OUT-1'


def test_a_refusing_alertmanager_is_a_critical_check_without_the_secret_path(tmp_path, webhook_receiver):
    checks, extra, changed = notify(params(tmp_path, webhook_receiver.url + '/s3cr3t-path'), now=T0)
    assert [c['status'] for c in checks] == ['critical']
    assert 'HTTP 404' in checks[0]['reason'] and 's3cr3t' not in str(checks) + str(extra)


def test_missing_url_is_named_and_check_mode_sends_nothing(tmp_path, webhook_receiver):
    with pytest.raises(MaintenanceError, match='alertmanager channel needs a url'):
        notify(params(tmp_path, None), now=T0)
    checks, extra, changed = notify(params(tmp_path, webhook_receiver.url), check_mode=True, now=T0)
    assert extra['deliveries'][0]['status'] == 'would_send' and webhook_receiver.received == []
