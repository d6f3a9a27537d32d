"""The weekly configuration review and the monthly security audit, run as real playbooks on a planted root (accounts,
sudoers, keys made by ssh-keygen, sshd_config) and a real nftables ruleset in a network namespace; the outcome
callback records every check, and the audited root does not change."""

import os
import subprocess
import uuid

import pytest
import yaml

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.audit_root import build_root, tree_snapshot
from tests.harness.paths import ROOT, python_interpreter
from tests.harness.tier import needs_service

pytestmark = pytest.mark.slow

RULES = '''flush ruleset
table inet filter {
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "lo" accept
        tcp dport 22 accept
        accept
    }
}
'''


def write_inventory(tmp_path, host_vars):
    inventory = tmp_path / 'inventory.yml'
    host = {'ansible_connection': 'local', 'ansible_python_interpreter': python_interpreter()}
    host.update(host_vars)
    inventory.write_text(yaml.safe_dump({'all': {'hosts': {'app1': host}}}))
    return inventory


def checks_of(records, action_suffix):
    result = {}
    for record in records:
        if str(record.get('action', '')).endswith(action_suffix):
            for check in record.get('checks') or []:
                result[check['name']] = check
    return result


@pytest.fixture()
def planted(tmp_path):
    root = tmp_path / 'root'
    root.mkdir()
    (tmp_path / 'keys').mkdir()
    fingerprints = build_root(str(root), str(tmp_path / 'keys'))
    (root / 'etc' / 'ssh').mkdir()
    (root / 'etc' / 'ssh' / 'sshd_config').write_text('PermitRootLogin no\nPasswordAuthentication no\n')
    return root, fingerprints


def test_weekly_config_review_reports_drift_and_records_the_acceptance(planted, tmp_path):
    root, _fingerprints = planted
    playbook = os.path.join(ROOT, 'playbooks', 'weekly_config_review.yml')
    baseline = tmp_path / 'state' / 'config-baseline.json'
    host_vars = {'config_review_root': str(root), 'config_review_categories': ['files'], 'config_review_files': ['/etc/ssh/sshd_config'],
                 'config_review_baseline_file': str(baseline), 'config_review_become': False, 'config_review_notify': False}
    log = tmp_path / 'outcomes.jsonl'
    result = run_playbook(playbook, inventory=write_inventory(tmp_path, host_vars), outcome_log=log, args=['--check'])
    assert result.returncode == 0, result.stdout + result.stderr
    assert not baseline.exists()
    result = run_playbook(playbook, inventory=write_inventory(tmp_path, host_vars), outcome_log=log)
    assert result.returncode == 0, result.stdout + result.stderr
    assert baseline.exists()

    (root / 'etc' / 'ssh' / 'sshd_config').write_text('PermitRootLogin no\nPasswordAuthentication yes\n')
    before = tree_snapshot(str(root))
    result = run_playbook(playbook, inventory=write_inventory(tmp_path, host_vars), outcome_log=log)
    assert result.returncode == 0, result.stdout + result.stderr   # drift is a warning: recorded, not a failed job
    drift = checks_of(read_outcomes(log)[-6:], 'config_drift')['drift.files']
    assert drift['status'] == 'warning' and 'passwordauthentication no -> yes' in drift['reason']
    assert '+PasswordAuthentication yes' in drift['details']['drift'][0]['diff']   # the unified diff is recorded

    # a preview of the acceptance: --check --diff shows the unified diff of what would be accepted, writes nothing
    stored = baseline.read_text()
    preview = dict(host_vars, config_review_accept=True, config_review_accepted_by='alice', config_review_reason='preview')
    result = run_playbook(playbook, inventory=write_inventory(tmp_path, preview), outcome_log=log, args=['--check', '--diff'])
    assert result.returncode == 0, result.stdout + result.stderr
    assert '-PasswordAuthentication no' in result.stdout and '+PasswordAuthentication yes' in result.stdout
    assert baseline.read_text() == stored

    result = run_playbook(playbook, inventory=write_inventory(tmp_path, dict(host_vars, config_review_accept=True)), outcome_log=log)
    assert result.returncode != 0 and 'config_review_accepted_by and' in result.stdout   # who and why are required
    accept = dict(host_vars, config_review_accept=True, config_review_accepted_by='alice', config_review_reason='CHG-1234 migration')
    result = run_playbook(playbook, inventory=write_inventory(tmp_path, accept), outcome_log=log)
    assert result.returncode == 0, result.stdout + result.stderr
    accepted = checks_of(read_outcomes(log)[-6:], 'config_drift')['drift.accepted']
    assert accepted['details']['accepted_by'] == 'alice' and accepted['details']['reason'] == 'CHG-1234 migration'
    assert accepted['details']['changes'][0]['key'] == 'file:/etc/ssh/sshd_config'
    result = run_playbook(playbook, inventory=write_inventory(tmp_path, host_vars), outcome_log=log)
    assert result.returncode == 0
    assert checks_of(read_outcomes(log)[-6:], 'config_drift')['drift.files']['status'] == 'ok'
    assert tree_snapshot(str(root)) == before


def test_monthly_security_audit_on_a_planted_system(planted, tmp_path):
    needs_service('network namespaces')
    root, fingerprints = planted
    ns = 'apx-sa-%s' % uuid.uuid4().hex[:6]
    subprocess.run(['ip', 'netns', 'add', ns], check=True)
    try:
        rules = tmp_path / 'rules.nft'
        rules.write_text(RULES)
        subprocess.run(['ip', 'netns', 'exec', ns, 'nft', '-f', str(rules)], check=True)
        ruleset = subprocess.run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'ruleset'], capture_output=True, text=True, check=False).stdout
        (root / 'etc' / 'sudoers.d' / 'oncall').write_text('bob ALL=(ALL:ALL) ALL\n')   # an unapproved sudoer
        host_vars = {
            'security_audit_root': str(root), 'security_audit_become': False, 'security_audit_notify': False,
            'security_audit_scan': False, 'security_audit_state_file': str(tmp_path / 'access.json'),
            'security_audit_drift_baseline_file': str(tmp_path / 'config.json'), 'security_audit_drift_files': ['/etc/ssh/sshd_config'],
            'security_audit_nft_command': ['ip', 'netns', 'exec', ns, 'nft'],
            'security_audit_approved': {'sudo': ['root', 'alice', 'deploy'], 'sudo_nopasswd': ['deploy'], 'ssh_keys': fingerprints,
                                        'login_accounts': ['root', 'postgres', 'alice', 'bob', 'carol', 'deploy']},
        }
        before = tree_snapshot(str(root))
        log = tmp_path / 'outcomes.jsonl'
        result = run_playbook(os.path.join(ROOT, 'playbooks', 'monthly_security_audit.yml'),
                              inventory=write_inventory(tmp_path, host_vars), outcome_log=log)
        assert result.returncode != 0 and 'check(s) at or above critical' in result.stdout   # the verdict, after recording
        records = read_outcomes(log)
        access = checks_of(records, 'access_review')
        assert 'unapproved sudoer bob' in access['access.sudo']['reason']
        assert 'stale account carol' in access['access.accounts']['reason']
        firewall = checks_of(records, 'firewall_review')
        assert 'any-any accept' in firewall['firewall.rules']['reason']
        assert 'missing default drop' in firewall['firewall.default_drop']['reason']
        compliance = checks_of(records, 'compliance_check')
        assert compliance['compliance.5.2.1']['status'] == 'critical'
        assert compliance['compliance.3.5.2']['status'] == 'critical'
        assert compliance['compliance.5.1.20']['status'] == 'unknown'   # security_scan off: not assessed
        assert compliance['compliance.summary']['status'] == 'critical'
        assert tree_snapshot(str(root)) == before
        assert subprocess.run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'ruleset'], capture_output=True, text=True, check=False).stdout == ruleset
    finally:
        subprocess.run(['ip', 'netns', 'del', ns], check=False)
