"""alerts.policy: the one priority rule (roles, filter, notify's priority auto) and the one dedup key format."""

import datetime
import json

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.alerts.policy import (
    alert_priority,
    legacy_dedup_keys,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.alerts.notify import auto_priority, notify

PRIORITIES = ['low', 'medium', 'high']
STATUSES = ['ok', 'unknown', 'warning', 'critical']


def check(name, status, priority):
    return {'name': name, 'status': status, 'priority': priority, 'reason': name}


# The rules the collection had before issue 16, copied here as oracles so the one rule is held against each.
def old_notify_auto(checks, default='medium'):
    firing = [c for c in checks or [] if c.get('status') in ('warning', 'critical')]
    if not firing:
        return default
    return max((c.get('priority') or default for c in firing), key=lambda p: PRIORITIES.index(p) if p in PRIORITIES else 1)


def old_security_monitoring_jinja(checks, statuses):
    priorities = [c['priority'] for c in checks if c['status'] in statuses]
    return 'high' if 'high' in priorities else ('medium' if 'medium' in priorities else 'low')


model_checks = st.lists(st.builds(check, st.sampled_from(['a', 'b', 'c']), st.sampled_from(STATUSES),
                                  st.sampled_from(PRIORITIES)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(model_checks)
def test_same_priority_as_notifys_old_auto_rule(checks):
    assert alert_priority(checks) == old_notify_auto(checks) == auto_priority(checks)


@settings(max_examples=300, deadline=None)
@given(model_checks, st.sets(st.sampled_from(STATUSES), min_size=1))
def test_same_priority_as_security_monitorings_old_jinja_when_something_fires(checks, statuses):
    # the role alerts only when a check is at one of security_monitoring_notify_statuses
    if any(c['status'] in statuses for c in checks):
        assert alert_priority(checks, statuses=sorted(statuses)) == old_security_monitoring_jinja(checks, statuses)


@pytest.mark.parametrize('checks,statuses,default,expected', [
    ([check('a', 'critical', 'medium'), check('b', 'warning', 'high')], None, 'medium', 'high'),
    ([check('a', 'warning', 'low')], None, 'medium', 'low'),
    ([check('a', 'ok', 'high'), check('b', 'unknown', 'high')], None, 'medium', 'medium'),   # nothing fires
    ([check('a', 'ok', 'high')], None, 'low', 'low'),
    ([check('a', 'unknown', 'high'), check('b', 'warning', 'low')], ['unknown', 'warning', 'critical'], 'medium', 'high'),
    ([{'name': 'a', 'status': 'warning'}], None, 'low', 'low'),           # no priority: the default
    ([], None, 'medium', 'medium'),
    # backup_verification used to say high for any critical result: now the checks' (threshold data's) priority
    ([check('backup.growth', 'critical', 'medium')], None, 'medium', 'medium'),
])
def test_highest_priority_of_the_firing_checks(checks, statuses, default, expected):
    assert alert_priority(checks, statuses=statuses, default=default) == expected


@pytest.mark.parametrize('kwargs,message', [
    ({'checks': [check('disk', 'warning', 'urgent')]}, r'checks\[0\] \(disk\): priority must be one of'),
    ({'checks': ['disk']}, r'checks\[0\]: a check is a mapping'),
    ({'checks': [], 'statuses': ['firing']}, 'statuses: each must be one of'),
    ({'checks': [], 'default': 'urgent'}, 'default: must be one of'),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(MaintenanceError, match=message):
        alert_priority(**kwargs)


def test_an_unknown_priority_of_a_check_that_does_not_fire_is_ignored():
    assert alert_priority([check('a', 'ok', 'urgent'), check('b', 'warning', 'low')]) == 'low'


@pytest.mark.parametrize('key,old', [
    ('security_monitoring:web-1', ['security_monitoring/web-1']),
    ('patch_rollout:stopped:weekly:web-1', ['patch-rollout-stopped:weekly:web-1']),
    ('patch_summary:patch:2026-12-07T02:00:00Z', ['patch-summary:patch:2026-12-07T02:00:00Z']),
    ('emergency_approval:CHG-1', ['emergency:CHG-1']),
    ('maintenance_notice:quarterly:2027-01-16T02:00:00Z', ['maintenance-notice:quarterly:2027-01-16T02:00:00Z']),
    ('eda_respond:auth_log:web-1:203.0.113.9', ['eda-auth-log-web-1-203.0.113.9']),
    ('eda_respond:approval:web-1:2001:db8::9', ['eda-approval-web-1-2001:db8::9']),
    ('backup_verification:web-1', []),         # never renamed
    ('security_monitoring:', []),
    ('', []),
])
def test_legacy_dedup_keys(key, old):
    assert legacy_dedup_keys(key) == old


# ---------------------------------------------------------------- upgrade: state written under the old keys

T0 = datetime.datetime(2026, 12, 7, 5, 0, tzinfo=datetime.timezone.utc)
FIRING_CHECKS = [check('security.failed_logins_per_minute', 'critical', 'high')]


def notify_params(tmp_path, key, **kwargs):
    base = dict(title='Security monitoring on web-1: 1 finding(s)', body='attack', priority='high', checks=FIRING_CHECKS,
                state='firing', dedup_key=key, repeat_after='4h', state_file=str(tmp_path / 'notify-state.json'),
                state_dsn='', source='web-1', escalation_levels=[], routing={}, timeout=5, channels=[])
    base.update(kwargs)
    return base


@pytest.mark.parametrize('new_key,old_key', [
    ('security_monitoring:web-1', 'security_monitoring/web-1'),
    ('eda_respond:auth_log:web-1:203.0.113.9', 'eda-auth-log-web-1-203.0.113.9'),
])
def test_a_condition_that_fired_before_the_upgrade_does_not_alert_again(tmp_path, webhook_receiver, new_key, old_key):
    channels = [{'type': 'webhook', 'url': webhook_receiver.url + '/hook'}]
    # before the upgrade the role sent under the old key
    _c, extra, _ch = notify(notify_params(tmp_path, old_key, channels=channels), now=T0)
    assert extra['action'] == 'sent' and len(webhook_receiver.received) == 1

    # check mode after the upgrade: found under the old key, nothing written
    _c, extra, _ch = notify(notify_params(tmp_path, new_key, channels=channels), check_mode=True,
                            now=T0 + datetime.timedelta(minutes=5))
    assert extra['action'] == 'suppressed'
    assert list(json.loads((tmp_path / 'notify-state.json').read_text())['alerts']) == [old_key]

    # after the upgrade the same condition persists: suppressed, and the entry now lives under the new key only
    checks, extra, _ch = notify(notify_params(tmp_path, new_key, channels=channels), now=T0 + datetime.timedelta(minutes=5))
    assert extra['action'] == 'suppressed', extra['decision']
    assert checks[0]['name'] == 'notify.dedup' and len(webhook_receiver.received) == 1
    alerts = json.loads((tmp_path / 'notify-state.json').read_text())['alerts']
    assert list(alerts) == [new_key] and alerts[new_key]['first_sent'] == '2026-12-07T05:00:00Z'

    # it clears: one resolved message under the new key
    _c, extra, _ch = notify(notify_params(tmp_path, new_key, channels=channels, state='resolved', checks=[]),
                            now=T0 + datetime.timedelta(minutes=10))
    assert extra['action'] == 'resolved' and webhook_receiver.received[-1]['json']['state'] == 'resolved'


def test_a_condition_that_cleared_after_the_upgrade_is_resolved_once(tmp_path, webhook_receiver):
    channels = [{'type': 'webhook', 'url': webhook_receiver.url + '/hook'}]
    notify(notify_params(tmp_path, 'security_monitoring/web-1', channels=channels), now=T0)
    _c, extra, _ch = notify(notify_params(tmp_path, 'security_monitoring:web-1', channels=channels, state='resolved',
                                          checks=[]), now=T0 + datetime.timedelta(minutes=5))
    assert extra['action'] == 'resolved' and len(webhook_receiver.received) == 2
    alerts = json.loads((tmp_path / 'notify-state.json').read_text())['alerts']
    assert list(alerts) == ['security_monitoring:web-1'] and alerts['security_monitoring:web-1']['state'] == 'resolved'


def test_a_key_of_ones_own_is_never_taken_for_an_old_one(tmp_path):
    # a user's own key that looks like an old form is its own alert: both live side by side
    notify(notify_params(tmp_path, 'emergency:CHG-1'), now=T0)
    _c, extra, _ch = notify(notify_params(tmp_path, 'emergency:CHG-1'), now=T0 + datetime.timedelta(minutes=5))
    assert extra['action'] == 'suppressed'
    assert list(json.loads((tmp_path / 'notify-state.json').read_text())['alerts']) == ['emergency:CHG-1']
