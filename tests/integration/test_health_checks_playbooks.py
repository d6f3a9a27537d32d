"""health_check.yml, tls_check.yml and the two modules through real ansible-playbook runs, against real servers."""

import json
import os

import pytest

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.http import VALID_TOKEN
from tests.harness.net import free_port
from tests.harness.paths import ROOT
from tests.harness.services import SmtpServer
from tests.harness.tls import TlsServer

HERE = os.path.dirname(os.path.abspath(__file__))
LOGIN_PASSWORD = 'monitor-pw'
BASIC_PASSWORD = 'basic-Secret-7731'


def write_inventory(path, variables, hosts=('app1', 'app2')):
    inventory = {'all': {'hosts': dict((h, {'ansible_connection': 'local'}) for h in hosts), 'vars': variables}}
    path.write_text(json.dumps(inventory))  # JSON is YAML
    return str(path)


def probe_records(log, action):
    return [r for r in read_outcomes(log) if r.get('action') == action]


def assert_no_secret(texts, *secrets):
    for text in texts:
        for secret in secrets:
            assert secret not in text, 'secret %r leaked' % secret


@pytest.mark.slow
def test_modules_check_mode_no_log_and_bad_input(tmp_path, https_server, pki, localhost_cert):
    result_file = tmp_path / 'result.json'
    log = tmp_path / 'outcomes.jsonl'
    inventory = tmp_path / 'inv'
    inventory.write_text('app ansible_connection=local\n')
    run = run_playbook(os.path.join(HERE, 'playbooks', 'http_tls_modules.yml'), inventory=str(inventory), outcome_log=log,
                       extra_vars={'result_file': str(result_file), 'base_url': https_server.url, 'ca_path': pki.ca_path,
                                   'port': https_server.port, 'cert_path': localhost_cert[0],
                                   'refused_port': free_port(), 'login_password': LOGIN_PASSWORD,
                                   'basic_password': BASIC_PASSWORD},
                       args=['-vvv'])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    results = json.loads(result_file.read_text())

    http_cm = results['http_check_mode']
    assert http_cm['changed'] is False and http_cm['status'] == 'ok', http_cm
    names = dict(((c['name'], c['target']), c) for c in http_cm['checks'])
    assert names[('http.login', 'login')]['status'] == 'ok'
    assert names[('http.auth', 'me')]['reason'] == 'token from the login accepted'
    tls_cm = results['tls_check_mode']
    assert tls_cm['changed'] is False and tls_cm['status'] == 'ok', tls_cm
    assert [c['name'] for c in tls_cm['checks'] if c['target'] == 'localhost:%d' % https_server.port] == [
        'tls.handshake', 'tls.chain', 'tls.hostname', 'tls.expiry', 'tls.key', 'tls.signature', 'tls.protocol']

    failing = results['http_failing']
    assert failing['failed'] is True
    assert failing['msg'] == 'critical check(s) at or above critical: http.reachable (refused)'
    assert [e['status'] for e in failing['endpoints']] == ['critical', 'ok']
    assert failing['endpoints'][0]['error'] == 'connection refused'

    assert 'endpoints[0] (ftp://example.invalid/file): url' in results['http_bad_url']['msg']
    assert 'must start with http:// or https://' in results['http_bad_url']['msg']
    assert 'body_format' in results['http_bad_option']['msg'] and 'raw, json, form' in results['http_bad_option']['msg']
    assert 'starttls' in results['tls_bad_starttls']['msg'] and 'none, postgres, smtp' in results['tls_bad_starttls']['msg']
    assert 'targets' in results['tls_nothing']['msg'] and 'files' in results['tls_nothing']['msg']
    for key in ('http_bad_url', 'http_bad_option', 'tls_bad_starttls', 'tls_nothing'):
        assert 'Traceback' not in json.dumps(results[key])

    # no_log: neither the passwords nor the token obtained at run time appear anywhere, even at -vvv
    assert_no_secret([run.stdout, run.stderr, log.read_text(), result_file.read_text()],
                     LOGIN_PASSWORD, BASIC_PASSWORD, VALID_TOKEN)
    records = dict((r['task'], r) for r in read_outcomes(log))
    assert records['Probe in check mode, with a login whose password and token must stay hidden']['check_mode'] is True
    sent = [r for r in https_server.requests if r.path == '/auth/me'][-1]
    assert sent.headers['Authorization'] == 'Bearer ' + VALID_TOKEN  # the token was really used


@pytest.mark.slow
def test_health_check_playbook_records_every_check_and_fails_on_critical(tmp_path, https_server, pki):
    refused = free_port()
    endpoints = [
        {'name': 'api health', 'url': https_server.url + '/health', 'json_query': 'status', 'json_expected': 'ok'},
        {'name': 'auth login', 'url': https_server.url + '/auth/login', 'method': 'POST',
         'body': {'username': 'monitor', 'password': '{secret}'}, 'secret': LOGIN_PASSWORD, 'token_query': 'access_token'},
        {'name': 'auth me', 'url': https_server.url + '/auth/me', 'use_token': 'token'},
        {'name': 'api error', 'url': https_server.url + '/error'},
        {'name': 'api down', 'url': 'http://127.0.0.1:%d/health' % refused},
    ]
    inventory = write_inventory(tmp_path / 'inv.yml', {'service_health_endpoints': endpoints,
                                                       'service_health_ca_path': pki.ca_path})
    log = tmp_path / 'outcomes.jsonl'
    run = run_playbook(os.path.join(ROOT, 'playbooks', 'health_check.yml'), inventory=inventory, outcome_log=log,
                       args=['-v'])
    assert run.returncode != 0, run.stdout[-3000:]
    probes = probe_records(log, 'autopilotcx.maintenance.http_check')
    assert len(probes) == 1  # scope play: the shared endpoints are probed once, not once per host
    probe = probes[0]
    assert probe['cadence'] == 'service_health' and probe['worst'] == 'critical'
    reasons = dict(((c['name'], c['target']), c['reason']) for c in probe['checks'])
    assert reasons[('http.json', 'api health')] == "status == 'ok'"
    assert reasons[('http.login', 'auth login')] == 'login returned a token at access_token'
    assert reasons[('http.auth', 'auth me')] == 'token from the login accepted'
    assert reasons[('http.status', 'api error')] == 'status 500 not in [200]'
    assert reasons[('http.reachable', 'api down')] == 'connection refused'
    verdicts = [r for r in read_outcomes(log) if r['task'].startswith('autopilotcx.maintenance.maintenance : Judge')]
    assert sorted(r['status'] for r in verdicts) == ['failed', 'failed']
    assert '2 check(s) at or above critical' in run.stdout
    assert_no_secret([run.stdout, run.stderr, log.read_text()], LOGIN_PASSWORD, VALID_TOKEN)

    # the same data without the failing endpoints: the job succeeds
    inventory = write_inventory(tmp_path / 'inv2.yml', {'service_health_endpoints': endpoints[:3],
                                                        'service_health_ca_path': pki.ca_path})
    run = run_playbook(os.path.join(ROOT, 'playbooks', 'health_check.yml'), inventory=inventory,
                       outcome_log=tmp_path / 'ok.jsonl')
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.mark.slow
def test_tls_check_playbook_covers_https_postgres_smtp_and_files(tmp_path, https_server, postgres, pki, localhost_cert):
    expired_cert, expired_key, _issued = pki.write_leaf('it-expired', days=-2, not_before_days=-90)
    with SmtpServer(tls=localhost_cert) as smtp, TlsServer(expired_cert, expired_key) as expired:
        variables = {
            'tls_certificates_ca_path': pki.ca_path,
            'tls_certificates_targets': [
                {'name': 'api', 'host': 'localhost', 'port': https_server.port},
                {'name': 'postgres', 'host': 'localhost', 'port': postgres.port, 'starttls': 'postgres'},
                {'name': 'smtp', 'host': '127.0.0.1', 'port': smtp.port, 'starttls': 'smtp', 'hostname': 'localhost'},
                {'name': 'expired', 'host': '127.0.0.1', 'port': expired.port, 'hostname': 'localhost'},
            ],
            'tls_certificates_files': [{'name': 'api file', 'path': localhost_cert[0], 'hostname': 'localhost'}],
        }
        inventory = write_inventory(tmp_path / 'inv.yml', variables, hosts=('app1',))
        log = tmp_path / 'outcomes.jsonl'
        run = run_playbook(os.path.join(ROOT, 'playbooks', 'tls_check.yml'), inventory=inventory, outcome_log=log)
    assert run.returncode != 0, run.stdout[-3000:]
    probe = probe_records(log, 'autopilotcx.maintenance.tls_check')
    assert len(probe) == 2  # network targets, files
    assert all(r['cadence'] == 'tls_check' for r in probe)
    checks = [c for r in probe for c in r['checks']]
    by = dict(((c['name'], c['target']), c) for c in checks)
    for target in ('api', 'postgres', 'smtp', 'api file'):
        bad = [c for c in checks if c['target'] == target and c['status'] != 'ok']
        assert bad == [], bad
    assert by[('tls.handshake', 'postgres')]['reason'].endswith('after postgres STARTTLS')
    assert by[('tls.handshake', 'smtp')]['reason'].endswith('after smtp STARTTLS')
    assert by[('tls.expiry', 'expired')]['status'] == 'critical'
    assert by[('tls.expiry', 'expired')]['reason'].startswith('certificate expired 2 days ago')
    assert '2 check(s) at or above critical' in run.stdout  # expiry and chain of the expired certificate


@pytest.mark.slow
def test_roles_reject_bad_inventory_data_with_a_clear_message(tmp_path):
    inventory = write_inventory(tmp_path / 'inv.yml', {
        'service_health_endpoints': [{'name': 'ftp', 'url': 'ftp://files.example.invalid/x', 'secret': 'never-shown-91'}],
    }, hosts=('app1',))
    run = run_playbook(os.path.join(ROOT, 'playbooks', 'health_check.yml'), inventory=inventory,
                       outcome_log=tmp_path / 'bad.jsonl')
    assert run.returncode != 0
    assert 'each with a url starting with http:// or https://' in run.stdout
    assert 'never-shown-91' not in run.stdout + run.stderr
    inventory = write_inventory(tmp_path / 'inv2.yml', {'tls_certificates_targets': [{'host': 'db', 'starttls': 'ldap'}]},
                                hosts=('app1',))
    run = run_playbook(os.path.join(ROOT, 'playbooks', 'tls_check.yml'), inventory=inventory,
                       outcome_log=tmp_path / 'bad2.jsonl')
    assert run.returncode != 0
    assert 'starttls one of none, postgres, smtp' in run.stdout
