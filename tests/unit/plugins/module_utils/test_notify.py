"""notify: routing, dedup, resolved, webhook/Slack/SMTP delivery against real local receivers."""

import datetime
import json
import os

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.alerts.notify import (
    decide,
    notify,
    parse_duration,
    route,
    safe_url,
)
from tests.harness.net import free_port

LEVELS = [
    {'level': 1, 'role': 'System Administrator', 'response': '30m', 'contacts': ['sysadmin@example.test']},
    {'level': 2, 'role': 'Security Team Lead', 'response': '15m',
     'contacts': [{'name': 'Sam Lead', 'email': 'lead@example.test'}]},
    {'level': 3, 'role': 'CTO', 'response': '5m', 'contacts': ['cto@example.test']},
]
ROUTING = {'high': [1, 2], 'medium': [1], 'low': []}
T0 = datetime.datetime(2026, 11, 24, 5, 0, tzinfo=datetime.timezone.utc)
FAILING = [{'name': 'token.expiry', 'status': 'critical', 'priority': 'high', 'reason': 'token expires in 0.5 days < 1 days',
            'target': 'https://idp.test/jwks', 'value': 0.5, 'unit': 'days', 'threshold': 1},
           {'name': 'token.signature', 'status': 'ok', 'priority': 'low', 'reason': 'valid', 'value': None,
            'unit': None, 'threshold': None}]


def params(tmp_path, **kwargs):
    base = dict(title='Token validation failed', body='Look at the IdP.', priority='high', checks=FAILING,
                state='firing', dedup_key='token_check:app1', repeat_after='1h',
                state_file=str(tmp_path / 'notify-state.json'), source='app1', escalation_levels=LEVELS,
                routing=ROUTING, timeout=5, channels=[])
    base.update(kwargs)
    return base


def smtp_channel(smtp_server, ca_path, **kwargs):
    channel = dict(name='mail', type='email', host=smtp_server.host, port=smtp_server.port, security='starttls',
                   username='alerts', password='smtp-Secret-pw', sender='alerts@example.test', to=['ops@example.test'],
                   ca_path=ca_path, validate_certs=True, route_to_contacts=True)
    channel.update(kwargs)
    return channel


def test_route_picks_levels_contacts_and_response_targets():
    high = route('high', LEVELS, ROUTING)
    assert [level['level'] for level in high] == [1, 2]
    assert high[1]['response'] == '15m'
    assert high[1]['emails'] == ['lead@example.test']
    assert high[1]['contacts'] == ['Sam Lead <lead@example.test>']
    assert route('low', LEVELS, ROUTING) == []
    with pytest.raises(MaintenanceError, match='level 4'):
        route('high', LEVELS, {'high': [4]})


@pytest.mark.parametrize('text,seconds', [('90', 90), ('30m', 1800), ('4h', 14400), ('1d', 86400), (300, 300)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage():
    with pytest.raises(MaintenanceError, match='duration'):
        parse_duration('soon')


def test_safe_url_hides_webhook_secret_path():
    assert safe_url('https://hooks.slack.com/services/T000/B000/XXXXSECRET') == 'https://hooks.slack.com/...'
    assert 'SECRET' not in safe_url('http://127.0.0.1:9/hook?token=SECRET')


def test_webhook_generic_payload_routing_and_escalation_targets(tmp_path, webhook_receiver):
    hook = {'name': 'hook', 'type': 'webhook', 'url': webhook_receiver.url + '/hook'}
    checks, extra, changed = notify(params(tmp_path, channels=[hook]), now=T0)
    assert changed and extra['action'] == 'sent'
    assert [c['status'] for c in checks] == ['ok']
    assert len(webhook_receiver.received) == 1
    body = webhook_receiver.received[0]['json']
    assert body['title'] == 'Token validation failed'
    assert body['priority'] == 'high' and body['state'] == 'firing' and body['status'] == 'critical'
    assert [lvl['level'] for lvl in body['escalation']] == [1, 2]
    assert 'Level 2 Security Team Lead - respond within 15m: Sam Lead <lead@example.test>' in body['text']
    assert 'CRITICAL token.expiry (https://idp.test/jwks): token expires in 0.5 days < 1 days' in body['text']
    assert body['dedup_key'] == 'token_check:app1' and body['sequence'] == 1
    assert body['message'] == 'Look at the IdP.' and '\nLook at the IdP.\n' in body['text']


def test_medium_priority_routes_to_level_one_only(tmp_path, webhook_receiver):
    notify(params(tmp_path, priority='medium', channels=[{'type': 'webhook', 'url': webhook_receiver.url + '/hook'}]), now=T0)
    body = webhook_receiver.received[0]['json']
    assert [lvl['role'] for lvl in body['escalation']] == ['System Administrator']
    assert 'respond within 30m' in body['text'] and 'Security Team Lead' not in body['text']


def test_auto_priority_takes_highest_firing_check(tmp_path, webhook_receiver):
    _c, extra, _ch = notify(params(tmp_path, priority='auto', channels=[{'type': 'webhook', 'url': webhook_receiver.url + '/hook'}]),
                            now=T0)
    assert extra['priority'] == 'high'


def test_slack_payload_shape(tmp_path, webhook_receiver):
    notify(params(tmp_path, channels=[{'type': 'slack', 'url': webhook_receiver.url + '/slack'}]), now=T0)
    body = webhook_receiver.received[0]['json']
    assert body['text'] == '[HIGH] FIRING: Token validation failed'
    attachment = body['attachments'][0]
    assert attachment['color'] == '#a30200'
    assert attachment['fields'][0]['title'] == 'Level 1 System Administrator (within 30m)'
    assert 'token.expiry' in attachment['text']


def test_channel_priorities_filter(tmp_path, webhook_receiver):
    channels = [{'name': 'pager', 'type': 'webhook', 'url': webhook_receiver.url + '/hook', 'priorities': ['high']}]
    _c, extra, _ch = notify(params(tmp_path, priority='low', dedup_key='low1', channels=channels), now=T0)
    assert webhook_receiver.received == []
    assert extra['skipped_channels'] == ['pager']
    _c, extra, _ch = notify(params(tmp_path, priority='high', dedup_key='high1', channels=channels), now=T0)
    assert len(webhook_receiver.received) == 1


def test_dedup_repeat_interval_escalation_and_resolved(tmp_path, webhook_receiver):
    channels = [{'type': 'webhook', 'url': webhook_receiver.url + '/hook'}]
    p = params(tmp_path, priority='medium', channels=channels)
    notify(p, now=T0)
    # 5 minutes later: the same condition persists -> suppressed, nothing sent
    checks, extra, _changed = notify(p, now=T0 + datetime.timedelta(minutes=5))
    assert extra['action'] == 'suppressed' and checks[0]['name'] == 'notify.dedup'
    assert 'repeats after 1h' in extra['decision']
    assert len(webhook_receiver.received) == 1
    # the priority rises -> sent at once
    _c, extra, _ch = notify(dict(p, priority='high'), now=T0 + datetime.timedelta(minutes=10))
    assert extra['action'] == 'sent' and 'priority rose' in extra['decision']
    assert len(webhook_receiver.received) == 2
    # after the repeat interval -> sent again with a sequence number
    _c, extra, _ch = notify(dict(p, priority='high'), now=T0 + datetime.timedelta(minutes=75))
    assert extra['action'] == 'sent'
    assert webhook_receiver.received[-1]['json']['sequence'] == 3
    assert webhook_receiver.received[-1]['json']['first_sent'] == '2026-11-24T05:00:00Z'
    # cleared -> one resolved message, then nothing
    _c, extra, _ch = notify(dict(p, state='resolved', checks=[]), now=T0 + datetime.timedelta(minutes=80))
    assert extra['action'] == 'resolved'
    resolved = webhook_receiver.received[-1]['json']
    assert resolved['state'] == 'resolved' and resolved['status'] == 'ok'
    assert 'RESOLVED' in resolved['text']
    _c, extra, _ch = notify(dict(p, state='resolved', checks=[]), now=T0 + datetime.timedelta(minutes=85))
    assert extra['action'] == 'none' and len(webhook_receiver.received) == 4
    state = json.loads((tmp_path / 'notify-state.json').read_text())
    assert state['alerts']['token_check:app1']['state'] == 'resolved'
    assert oct(os.stat(tmp_path / 'notify-state.json').st_mode & 0o777) == '0o600'


def test_a_newly_firing_check_is_sent_at_once_a_clearing_one_is_not(tmp_path):
    entry = {'state': 'firing', 'last_sent': '2026-11-24T05:00:00Z', 'priority': 'high', 'firing': ['a|', 'c|']}
    checks = [{'name': 'a', 'status': 'critical'}, {'name': 'b', 'status': 'critical'}]
    assert decide(entry, 'firing', 'high', checks, T0 + datetime.timedelta(minutes=5), 3600) == (
        'send', 'new firing check(s): b')
    assert decide(entry, 'firing', 'high', [{'name': 'a', 'status': 'warning'}], T0 + datetime.timedelta(minutes=5),
                  3600)[0] == 'suppress'


def test_check_mode_sends_nothing_and_writes_no_state(tmp_path, webhook_receiver, smtp_server, pki):
    channels = [{'name': 'hook', 'type': 'webhook', 'url': webhook_receiver.url + '/hook'},
                smtp_channel(smtp_server, pki.ca_path)]
    checks, extra, changed = notify(params(tmp_path, channels=channels), check_mode=True, now=T0)
    assert extra['action'] == 'would_send' and changed
    assert [d['status'] for d in extra['deliveries']] == ['would_send', 'would_send']
    assert extra['deliveries'][1]['recipients'] == ['ops@example.test', 'sysadmin@example.test', 'lead@example.test']
    assert 'FIRING' in extra['text']
    assert webhook_receiver.received == [] and smtp_server.messages == []
    assert not (tmp_path / 'notify-state.json').exists()
    assert all(c['status'] == 'ok' for c in checks)


def test_smtp_starttls_auth_routing_and_no_password(tmp_path, smtp_server, pki):
    checks, extra, _changed = notify(params(tmp_path, channels=[smtp_channel(smtp_server, pki.ca_path)]), now=T0)
    assert extra['action'] == 'sent', extra
    messages = smtp_server.wait_for(1)
    assert len(messages) == 1
    message = messages[0]
    assert message['authenticated'] is True
    assert sorted(message['to']) == ['lead@example.test', 'ops@example.test', 'sysadmin@example.test']
    assert 'Subject: [HIGH] FIRING: Token validation failed' in message['data']
    assert 'X-Autopilotcx-Dedup-Key: token_check:app1' in message['data']
    assert 'respond within 15m' in message['data']
    assert 'smtp-Secret-pw' not in json.dumps([checks, extra]) + message['data']


def test_smtp_wrong_password_is_a_failed_delivery_without_the_password(tmp_path, smtp_server, pki):
    channel = smtp_channel(smtp_server, pki.ca_path, password='Wrong-Secret-pw')
    checks, extra, _changed = notify(params(tmp_path, channels=[channel]), now=T0)
    assert extra['action'] == 'failed'
    assert checks[0]['status'] == 'critical' and 'authentication as alerts failed' in checks[0]['reason']
    assert 'Wrong-Secret-pw' not in json.dumps([checks, extra])
    assert smtp_server.messages == []
    # a failed delivery is not remembered: the next run tries again
    state_file = tmp_path / 'notify-state.json'
    assert not state_file.exists() or not json.loads(state_file.read_text())['alerts']


def test_smtp_untrusted_certificate_fails_delivery(tmp_path, smtp_server):
    checks, _extra, _changed = notify(params(tmp_path, channels=[smtp_channel(smtp_server, None)]), now=T0)
    assert checks[0]['status'] == 'critical' and 'certificate' in checks[0]['reason'].lower()


def test_unreachable_webhook_and_smtp_are_critical_and_others_still_delivered(tmp_path, webhook_receiver):
    dead = free_port()
    channels = [{'name': 'dead-hook', 'type': 'webhook', 'url': 'http://127.0.0.1:%d/hook' % dead},
                {'name': 'dead-mail', 'type': 'email', 'host': '127.0.0.1', 'port': dead, 'to': ['x@example.test']},
                {'name': 'live', 'type': 'webhook', 'url': webhook_receiver.url + '/hook'}]
    checks, extra, _changed = notify(params(tmp_path, channels=channels, timeout=2), now=T0)
    by_target = dict((c['target'], c) for c in checks)
    assert by_target['dead-hook']['status'] == 'critical'
    assert 'refused' in by_target['dead-hook']['reason'].lower()
    assert by_target['dead-mail']['status'] == 'critical'
    assert 'cannot reach SMTP server' in by_target['dead-mail']['reason']
    assert by_target['live']['status'] == 'ok'
    assert extra['action'] == 'sent' and len(webhook_receiver.received) == 1


def test_webhook_error_status_is_failed_delivery(tmp_path):
    from tests.harness.http import WebhookReceiver
    with WebhookReceiver(status=500) as failing:
        checks, extra, _changed = notify(params(tmp_path, channels=[{'type': 'webhook', 'url': failing.url + '/hook'}]), now=T0)
    assert extra['action'] == 'failed' and checks[0]['reason'].endswith('HTTP 500 Internal Server Error')


def test_no_channels_records_only(tmp_path):
    checks, extra, _changed = notify(params(tmp_path, priority='low'), now=T0)
    assert checks[0]['name'] == 'notify.recorded' and extra['escalation'] == []
    # no silent green (issue 17): an alert nobody receives is a warning the summary shows, not an ok
    assert checks[0]['status'] == 'warning' and 'no channel' in checks[0]['reason']
    assert 'Escalation: none for priority low' in extra['text']


@pytest.mark.parametrize('bad,message', [
    (dict(channels=[{'type': 'webhook'}]), 'needs a url'),
    (dict(channels=[{'type': 'pager', 'url': 'x'}]), 'type must be one of'),
    (dict(repeat_after='later'), 'repeat_after'),
    (dict(title='  '), 'needs a title'),
    (dict(routing={'high': [9]}), 'level 9'),
])
def test_bad_input_is_a_clear_error(tmp_path, bad, message):
    with pytest.raises(MaintenanceError, match=message):
        notify(params(tmp_path, **bad), now=T0)


def test_corrupt_state_file_starts_afresh(tmp_path, webhook_receiver):
    (tmp_path / 'notify-state.json').write_text('{not json')
    _c, extra, _ch = notify(params(tmp_path, channels=[{'type': 'webhook', 'url': webhook_receiver.url + '/hook'}]), now=T0)
    assert extra['action'] == 'sent' and 'starting afresh' in extra['warnings'][0]


# ---------------------------------------------------------------- bad input: clear errors, one bad channel stops no other

@pytest.mark.parametrize('port', [99999, 65536, 0, -25])
def test_smtp_port_out_of_range_is_a_clear_error_naming_the_option(tmp_path, port):
    channel = {'name': 'mail', 'type': 'email', 'host': '127.0.0.1', 'port': port, 'to': ['ops@example.test']}
    with pytest.raises(MaintenanceError, match=r'channel 1 \(mail\): port must be a port number between 1 and 65535'):
        notify(params(tmp_path, channels=[channel]), now=T0)


@pytest.mark.parametrize('timeout', [-5, 0, float('nan'), float('inf')])
def test_timeout_not_positive_is_a_clear_error_naming_the_option(tmp_path, timeout, webhook_receiver):
    hook = {'name': 'hook', 'type': 'webhook', 'url': webhook_receiver.url + '/hook'}
    with pytest.raises(MaintenanceError, match='timeout must be'):
        notify(params(tmp_path, channels=[hook], timeout=timeout), now=T0)
    assert webhook_receiver.received == []


def test_cr_lf_in_the_title_reaches_the_webhook_and_a_folded_subject_reaches_smtp(tmp_path, webhook_receiver,
                                                                                  smtp_server, pki):
    import email
    import email.policy
    title = 'Disk full\r\nBcc: victim@example.test\nX-Injected: yes'
    channels = [smtp_channel(smtp_server, pki.ca_path), {'name': 'hook', 'type': 'webhook', 'url': webhook_receiver.url + '/hook'}]
    checks, extra, _changed = notify(params(tmp_path, title=title, channels=channels), now=T0)
    assert [d['status'] for d in extra['deliveries']] == ['sent', 'sent'], extra['deliveries']
    assert all(c['status'] == 'ok' for c in checks), checks
    assert webhook_receiver.received[0]['json']['title'] == title
    message = email.message_from_string(smtp_server.wait_for(1)[0]['data'], policy=email.policy.default)
    assert message['Subject'] == '[HIGH] FIRING: Disk full Bcc: victim@example.test X-Injected: yes'
    assert message['Bcc'] is None and message['X-Injected'] is None
    assert 'victim@example.test' not in smtp_server.messages[0]['to']


def test_a_channel_that_raises_is_recorded_and_the_others_still_send(tmp_path, webhook_receiver, smtp_server, pki):
    """A sender with a line break makes the e-mail library raise (not a DeliveryError): that channel fails, alone."""
    channels = [smtp_channel(smtp_server, pki.ca_path, sender='alerts@example.test\r\nBcc: victim@example.test'),
                {'name': 'hook', 'type': 'webhook', 'url': webhook_receiver.url + '/hook'}]
    checks, extra, _changed = notify(params(tmp_path, channels=channels), now=T0)
    by_target = dict((c['target'], c) for c in checks)
    assert by_target['mail']['status'] == 'critical' and 'ValueError' in by_target['mail']['reason']
    assert by_target['hook']['status'] == 'ok'
    assert [d['status'] for d in extra['deliveries']] == ['failed', 'sent']
    assert len(webhook_receiver.received) == 1 and smtp_server.messages == []


def test_a_schemeless_webhook_url_is_bad_input_named_without_its_token(tmp_path):
    hook = {'type': 'slack', 'url': 'hooks.slack.invalid/services/T0/NoSchemeTok-99'}
    with pytest.raises(MaintenanceError) as info:
        notify(params(tmp_path, channels=[hook]), now=T0)
    assert 'channel 1' in info.value.message and 'http://' in info.value.message
    assert 'NoSchemeTok-99' not in info.value.message


def test_failed_webhook_delivery_never_shows_path_query_or_headers(tmp_path):
    port = free_port()
    hook = {'name': 'hook', 'type': 'webhook', 'url': 'http://u:UrlPw-5@127.0.0.1:%d/hook/PathTok-5?token=QueryTok-5' % port,
            'headers': {'Authorization': 'Bearer HdrTok-5'}}
    checks, extra, _changed = notify(params(tmp_path, channels=[hook]), now=T0)
    assert checks[0]['status'] == 'critical' and extra['deliveries'][0]['status'] == 'failed'
    text = json.dumps([checks, extra])
    for secret in ('UrlPw-5', 'PathTok-5', 'QueryTok-5', 'HdrTok-5'):
        assert secret not in text
    assert 'http://127.0.0.1:%d/...' % port in text


@pytest.mark.parametrize('checks, words', [
    ([{}], "checks[0]: a check needs a name and a status"),
    ([{'name': 'x', 'status': 'bad'}], "checks[0] (x): status must be one of ok, unknown, warning, critical, not 'bad'"),
    (['text'], 'checks[0]: a check is a mapping'),
])
def test_checks_that_are_not_checks_are_named(tmp_path, checks, words):
    """Found by the fuzz test: checks=[{}] ended in KeyError 'status' inside result.worst."""
    with pytest.raises(MaintenanceError) as info:
        notify(params(tmp_path, checks=checks, priority='auto'), now=T0)
    assert words in info.value.message
