"""playbooks/token_check.yml and playbooks/security_scan.yml run by real ansible-playbook against real parts:
a rotating JWKS server, the webhook receiver, the SMTP server (STARTTLS + AUTH), a temp file tree."""

import datetime
import json
import os

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.http import HttpServer, reply
from tests.harness.net import free_port
from tests.harness.paths import ROOT, python_interpreter

pytestmark = pytest.mark.slow

PLAYBOOKS = os.path.join(ROOT, 'playbooks')
SMTP_PASSWORD = 'smtp-Secret-pw'


def make_key(kid):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid, alg='RS256', use='sig')
    return private, jwk


def make_token(private, kid, days=30):
    now = datetime.datetime.now(datetime.timezone.utc)
    return jwt.encode({'iss': 'https://idp.test/', 'aud': 'api.test', 'sub': 'monitor', 'iat': int(now.timestamp()),
                       'exp': int((now + datetime.timedelta(days=days)).timestamp())}, private, algorithm='RS256',
                      headers={'kid': kid})


def write_inventory(tmp_path, host_vars):
    inventory = tmp_path / 'inventory.yml'
    host = {'ansible_connection': 'local', 'ansible_python_interpreter': python_interpreter()}
    host.update(host_vars)
    inventory.write_text(yaml.safe_dump({'all': {'hosts': {'app1': host}}}))
    return inventory


def channels(webhook_receiver, smtp_server, pki):
    return [
        {'name': 'hook', 'type': 'webhook', 'url': webhook_receiver.url + '/hook'},
        {'name': 'mail', 'type': 'email', 'host': smtp_server.host, 'port': smtp_server.port, 'username': 'alerts',
         'password': SMTP_PASSWORD, 'ca_path': pki.ca_path, 'sender': 'maint@example.test', 'to': ['ops@example.test'],
         'priorities': ['high']},
    ]


LEVELS = [{'level': 1, 'role': 'System Administrator', 'response': '30m', 'contacts': ['sysadmin@example.test']},
          {'level': 2, 'role': 'Security Team Lead', 'response': '15m', 'contacts': ['lead@example.test']},
          {'level': 3, 'role': 'CTO', 'response': '5m', 'contacts': ['cto@example.test']}]


def checks_of(records, action_suffix):
    result = {}
    for record in records:
        if str(record.get('action', '')).endswith(action_suffix):
            for check in record.get('checks') or []:
                result[check['name']] = check
    return result


def test_token_check_playbook_rotation_alert_dedup_resolved(tmp_path, webhook_receiver, smtp_server, pki):
    key_a, jwk_a = make_key('key-a')
    key_b, jwk_b = make_key('key-b')
    served = {'keys': [jwk_a]}
    good_token = make_token(key_a, 'key-a')
    with HttpServer(routes={'/jwks.json': lambda req: reply(200, served)}) as idp:
        host_vars = {
            'token_validation_jwks_url': idp.url + '/jwks.json',
            'token_validation_token': good_token,
            'token_validation_token_name': 'monitoring token',
            'token_validation_issuer': 'https://idp.test/',
            'token_validation_audience': ['api.test'],
            'token_validation_state_file': str(tmp_path / 'jwks-state.json'),
            'notify_state_file': str(tmp_path / 'notify-state.json'),
            'notify_channels': channels(webhook_receiver, smtp_server, pki),
            'maintenance_escalation_levels': LEVELS,
        }
        playbook = os.path.join(PLAYBOOKS, 'token_check.yml')
        log = tmp_path / 'outcomes.jsonl'

        # check mode first: nothing sent, no state written
        result = run_playbook(playbook, inventory=write_inventory(tmp_path, host_vars), outcome_log=log, args=['--check'])
        assert result.returncode == 0, result.stdout + result.stderr
        assert not (tmp_path / 'jwks-state.json').exists() and not (tmp_path / 'notify-state.json').exists()
        assert webhook_receiver.received == [] and smtp_server.messages == []

        # run 1: healthy, baseline recorded, nothing to alert
        result = run_playbook(playbook, inventory=write_inventory(tmp_path, host_vars), outcome_log=log)
        assert result.returncode == 0, result.stdout + result.stderr
        checks = checks_of(read_outcomes(log)[-10:], 'token_check')
        assert checks['token.signature']['status'] == 'ok' and checks['jwks.rotation']['status'] == 'ok'
        assert webhook_receiver.received == []

        # the IdP swaps key-a for key-b at once: the monitoring token (key-a) no longer verifies
        served['keys'] = [jwk_b]
        log.write_text('')
        result = run_playbook(playbook, inventory=write_inventory(tmp_path, host_vars), outcome_log=log)
        assert result.returncode != 0  # the verdict fails the job (maintenance_fail_on: critical) ...
        assert 'check(s) at or above critical' in result.stdout
        records = read_outcomes(log)
        checks = checks_of(records, 'token_check')  # ... after every check was recorded
        assert checks['jwks.rotation']['status'] == 'critical'
        assert checks['token.signature']['status'] == 'critical'
        assert checks['jwks.fingerprint']['status'] == 'warning'
        assert len(webhook_receiver.received) == 1
        alert = webhook_receiver.received[0]['json']
        assert alert['state'] == 'firing' and alert['priority'] == 'high'
        assert [level['level'] for level in alert['escalation']] == [1, 2]
        assert 'no rotation overlap' in alert['text'] and 'respond within 15m' in alert['text']
        mails = smtp_server.wait_for(1)
        assert len(mails) == 1 and mails[0]['authenticated']
        assert sorted(mails[0]['to']) == ['lead@example.test', 'ops@example.test', 'sysadmin@example.test']
        delivery = checks_of(records, 'notify')
        assert delivery['notify.delivery']['status'] == 'ok'

        # run 2: same condition persists: deduplicated, nothing new sent
        result = run_playbook(playbook, inventory=write_inventory(tmp_path, host_vars), outcome_log=log)
        assert len(webhook_receiver.received) == 1 and len(smtp_server.messages) == 1
        assert checks_of(read_outcomes(log)[-6:], 'notify')['notify.dedup']['reason'].startswith('suppressed')

        # run 3: the token is renewed with key-b: everything clears -> one resolved message (medium: webhook only)
        host_vars['token_validation_token'] = make_token(key_b, 'key-b')
        result = run_playbook(playbook, inventory=write_inventory(tmp_path, host_vars), outcome_log=log)
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(webhook_receiver.received) == 2
        resolved = webhook_receiver.received[1]['json']
        assert resolved['state'] == 'resolved' and 'RESOLVED' in resolved['text']

    # secrets: the sample tokens and the SMTP password are in no output and no record
    text = result.stdout + result.stderr + log.read_text() + json.dumps([r['json'] for r in webhook_receiver.received])
    for secret in (good_token, host_vars['token_validation_token'], SMTP_PASSWORD):
        assert secret not in text
    assert good_token.split('.')[2] not in log.read_text()


def test_security_scan_playbook_baseline_findings_and_check_mode(tmp_path, webhook_receiver):
    tree = tmp_path / 'tree'
    (tree / 'bin').mkdir(parents=True)
    (tree / 'etc').mkdir()
    helper = tree / 'bin' / 'helper'
    helper.write_text('#!/bin/sh\n')
    os.chmod(helper, 0o4755)
    (tree / 'etc' / 'hosts').write_text('127.0.0.1 localhost\n')
    sysroot = tmp_path / 'sysroot'
    (sysroot / 'etc').mkdir(parents=True)
    (sysroot / 'etc' / 'passwd').write_text('root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n')
    (sysroot / 'etc' / 'shadow').write_text('root:$y$j9T$x:19000:0:99999:7:::\napp:!:19000::::::\n')
    baseline = tmp_path / 'baseline.json'
    host_vars = {
        'security_scan_become': False,
        'security_scan_categories': ['world_writable', 'suid', 'accounts', 'integrity', 'updates'],
        'security_scan_root': '/',
        'security_scan_paths': [str(tree)],
        'security_scan_integrity_paths': [str(tree / 'etc')],
        'security_scan_baseline_file': str(baseline),
        'security_scan_pending_updates': [],
        'notify_state_file': str(tmp_path / 'notify-state.json'),
        'notify_channels': [{'name': 'hook', 'type': 'webhook', 'url': webhook_receiver.url + '/hook'}],
    }
    playbook = os.path.join(PLAYBOOKS, 'security_scan.yml')
    log = tmp_path / 'outcomes.jsonl'
    inventory = write_inventory(tmp_path, host_vars)

    result = run_playbook(playbook, inventory=inventory, outcome_log=log, args=['--check'])
    assert result.returncode == 0, result.stdout + result.stderr
    assert not baseline.exists() and webhook_receiver.received == []

    result = run_playbook(playbook, inventory=inventory, outcome_log=log)
    assert result.returncode == 0, result.stdout + result.stderr
    assert baseline.exists() and webhook_receiver.received == []

    # overnight: a rogue SUID binary, a world-writable file, a changed watched file
    rogue = tree / 'bin' / 'rogue'
    rogue.write_text('#!/bin/sh\nexec sh -p\n')
    os.chmod(rogue, 0o4755)
    loose = tree / 'etc' / 'app.conf'
    loose.write_text('x=1\n')
    os.chmod(loose, 0o666)
    (tree / 'etc' / 'hosts').write_text('203.0.113.9 bank.example\n')
    baseline_before = baseline.read_text()
    log.write_text('')
    result = run_playbook(playbook, inventory=inventory, outcome_log=log)
    assert result.returncode != 0
    checks = checks_of(read_outcomes(log), 'security_scan')
    assert checks['security.suid_sgid']['status'] == 'critical'
    assert checks['security.world_writable']['status'] == 'critical'
    assert checks['security.integrity']['status'] == 'warning'
    assert checks['security.accounts']['status'] == 'ok'
    assert checks['security.pending_updates']['status'] == 'ok'
    assert baseline.read_text() == baseline_before  # findings are not silently accepted
    assert len(webhook_receiver.received) == 1
    alert = webhook_receiver.received[0]['json']
    assert alert['priority'] == 'high' and alert['title'].startswith('Security scan: ')
    assert 'bin/rogue' in alert['text'] and 'app.conf' in alert['text']


def test_unreachable_webhook_is_recorded_and_does_not_crash(tmp_path):
    host_vars = {'notify_state_file': str(tmp_path / 'notify-state.json'),
                 'notify_channels': [{'name': 'dead', 'type': 'webhook', 'url': 'http://127.0.0.1:%d/hook' % free_port()}]}
    playbook = tmp_path / 'alert.yml'
    playbook.write_text(yaml.safe_dump([{
        'name': 'Alert', 'hosts': 'all', 'gather_facts': False,
        'tasks': [{'name': 'Send', 'ansible.builtin.include_role': {'name': 'autopilotcx.maintenance.notify'},
                   'vars': {'notify_title': 'Disk almost full', 'notify_priority': 'high', 'notify_dedup_key': 'disk'}},
                  {'name': 'Still running', 'ansible.builtin.debug': {'msg': 'after the alert'}}]}]))
    log = tmp_path / 'outcomes.jsonl'
    result = run_playbook(playbook, inventory=write_inventory(tmp_path, host_vars), outcome_log=log)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'after the alert' in result.stdout
    delivery = checks_of(read_outcomes(log), 'notify')['notify.delivery']
    assert delivery['status'] == 'critical' and 'refused' in delivery['reason'].lower()


def test_bad_input_gives_clear_messages_not_tracebacks(tmp_path):
    tasks = [
        {'name': 'notify with a routing to an undefined level', 'autopilotcx.maintenance.notify': {
            'title': 't', 'priority': 'high', 'routing': {'high': [9]}, 'escalation_levels': [{'level': 1}],
            'state_file': str(tmp_path / 's.json')}},
        {'name': 'token_check with a symmetric algorithm policy', 'autopilotcx.maintenance.token_check': {
            'jwks_path': str(tmp_path / 'none.json'), 'allowed_algorithms': ['HS256']}},
        {'name': 'security_scan with a relative path', 'autopilotcx.maintenance.security_scan': {
            'categories': ['world_writable'], 'scan_paths': ['etc'], 'baseline_file': ''}},
        {'name': 'security_scan with a bad allow-list entry', 'autopilotcx.maintenance.security_scan': {
            'categories': ['listeners'], 'listen_allow': ['ssh'], 'baseline_file': ''}},
    ]
    for task in tasks:
        task['ignore_errors'] = True
    playbook = tmp_path / 'bad.yml'
    playbook.write_text(yaml.safe_dump([{'name': 'Bad input', 'hosts': 'all', 'gather_facts': False, 'tasks': tasks}]))
    result = run_playbook(playbook, inventory=write_inventory(tmp_path, {}), outcome_log=tmp_path / 'o.jsonl')
    output = result.stdout + result.stderr
    assert 'Traceback' not in output and 'MODULE FAILURE' not in output
    assert 'names escalation level 9, which is not defined' in output
    assert 'allowed_algorithms may only name asymmetric algorithms' in output
    assert "must be absolute paths, not 'etc'" in output
    assert "listen_allow entry 'ssh' must look like" in output
