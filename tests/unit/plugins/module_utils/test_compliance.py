"""The compliance view: the shipped CIS-style profile held against real results of access_review, config_drift and
firewall_review on a planted root and a real nftables ruleset in a network namespace."""

import os
import subprocess
import uuid

import pytest
import yaml

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security import access_review

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security import config_drift

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security import firewall_review
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.compliance_check import evaluate_profile
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from tests.harness.audit_root import build_root
from tests.harness.paths import ROOT
from tests.harness.tier import needs_service

DEFAULTS = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'security_audit', 'defaults', 'main.yml')))
PROFILE = DEFAULTS['security_audit_compliance_profile']
RULES = '''flush ruleset
table inet filter {
    chain input {
        type filter hook input priority 0; policy %s;
        iifname "lo" accept
        ct state established,related accept
        tcp dport 22 accept
        tcp dport 443 accept
        %s
    }
}
'''


def result(checks, extra, _changed):
    return dict(extra, checks=checks)


@pytest.fixture()
def planted(tmp_path):
    needs_service('network namespaces')
    root = tmp_path / 'root'
    root.mkdir()
    (tmp_path / 'keys').mkdir()
    fingerprints = build_root(str(root), str(tmp_path / 'keys'))
    (root / 'etc' / 'ssh').mkdir()
    (root / 'etc' / 'ssh' / 'sshd_config').write_text('PermitRootLogin no\nPasswordAuthentication no\n')
    ns = 'apx-cp-%s' % uuid.uuid4().hex[:6]
    subprocess.run(['ip', 'netns', 'add', ns], check=True)
    try:
        yield root, fingerprints, ns, tmp_path
    finally:
        subprocess.run(['ip', 'netns', 'del', ns], check=False)


def audit(root, fingerprints, ns, tmp_path, rules):
    path = tmp_path / 'rules.nft'
    path.write_text(rules)
    subprocess.run(['ip', 'netns', 'exec', ns, 'nft', '-f', str(path)], check=True)
    approved = {'sudo': ['root', 'alice', 'deploy'], 'sudo_nopasswd': ['deploy'], 'ssh_keys': fingerprints,
                'login_accounts': ['root', 'postgres', 'alice', 'bob', 'carol', 'deploy']}
    access = result(*access_review.review(dict(root=str(root), approved=approved, stale_days=90, max_password_age=365,
                                               stale_ignore=['root', 'postgres'], state_file=str(tmp_path / 'access.json'))))
    drift = result(*config_drift.drift(dict(root=str(root), categories=['files'], files=['/etc/ssh/sshd_config'],
                                            baseline_file=str(tmp_path / 'config.json'))))
    firewall = result(*firewall_review.review(dict(policy=DEFAULTS['security_audit_firewall_policy'],
                                                   nft_command=['ip', 'netns', 'exec', ns, 'nft'])))
    checks, extra, _changed = evaluate_profile(PROFILE, [access, drift, firewall])
    return dict((c['name'], c) for c in checks), dict((c['id'], c) for c in extra['controls']), extra


def test_shipped_profile_on_a_clean_then_a_planted_system(planted):
    root, fingerprints, ns, tmp_path = planted
    checks, controls, extra = audit(root, fingerprints, ns, tmp_path, RULES % ('drop', ''))
    assert controls['3.5.1']['result'] == 'pass' and controls['3.5.2']['result'] == 'pass'
    assert controls['5.2.1']['result'] == 'pass' and controls['5.1.4']['result'] == 'pass'
    assert controls['5.1.1']['result'] == 'pass'   # the baseline was recorded now
    # the planted root has a stale account (carol) and an old password (bob) from the start
    assert controls['5.4.1.5']['result'] == 'fail' and 'stale account carol' in controls['5.4.1.5']['reason']
    assert controls['5.4.1.1']['result'] == 'fail' and 'password of bob' in controls['5.4.1.1']['reason']
    # no security_scan result and no PostgreSQL in this run: not assessed, never a pass
    assert controls['5.1.20']['result'] == 'not_assessed'
    assert checks['compliance.5.1.20']['status'] == 'unknown'
    assert controls['DB-1']['result'] == 'not_assessed'

    # plant: an unapproved sudoer, an any-any accept without a default drop, a drifted sshd setting
    (root / 'etc' / 'sudoers.d' / 'oncall').write_text('bob ALL=(ALL:ALL) ALL\n')
    (root / 'etc' / 'ssh' / 'sshd_config').write_text('PermitRootLogin no\nPasswordAuthentication yes\n')
    checks, controls, extra = audit(root, fingerprints, ns, tmp_path, RULES % ('accept', 'accept'))
    assert controls['5.2.1']['result'] == 'fail' and 'unapproved sudoer bob' in controls['5.2.1']['reason']
    assert controls['3.5.2']['result'] == 'fail' and 'any-any accept' in controls['3.5.2']['reason']
    assert controls['3.5.1']['result'] == 'fail' and 'missing default drop' in controls['3.5.1']['reason']
    assert controls['5.1.1']['result'] == 'fail' and 'passwordauthentication no -> yes' in controls['5.1.1']['reason']
    assert checks['compliance.5.2.1']['status'] == 'critical'
    assert checks['compliance.5.4.1.5']['status'] == 'warning'
    summary = checks['compliance.summary']
    assert summary['status'] == 'critical'
    assert extra['compliance']['fail'] >= 6 and summary['value'] == extra['score']
    assert 'cis-debian-small: %d of %d control(s) pass' % (extra['compliance']['pass'], len(PROFILE['controls'])) in summary['reason']


def test_unknown_evidence_is_unknown_not_pass():
    checks = [{'name': 'access.sudo', 'status': 'unknown', 'reason': 'cannot read /etc/sudoers: Permission denied'}]
    out, extra, _changed = evaluate_profile({'name': 'p', 'controls': [
        {'id': 'a', 'title': 'sudo', 'checks': ['access.sudo'], 'finding': 'unapproved sudoer'},
        {'id': 'b', 'title': 'sudo any', 'checks': ['access.*']}]}, [{'checks': checks}])
    assert [c['result'] for c in extra['controls']] == ['unknown', 'unknown']
    assert 'Permission denied' in extra['controls'][0]['reason']
    assert extra['score'] is None and out[-1]['status'] == 'unknown'


@pytest.mark.parametrize('profile, message', [
    ({'controls': []}, 'non-empty list of controls'),
    ({'controls': [{'id': 'a', 'title': 't'}]}, r'profile.controls\[0\] needs checks'),
    ({'controls': [{'id': 'a', 'title': 't', 'checks': ['x'], 'finding': '('}]}, 'finding is not a regular expression'),
    ({'controls': [{'id': 'a', 'title': 't', 'checks': ['x'], 'severity': 'low'}]}, 'severity must be warning or critical'),
    ({'controls': [{'id': 'a', 'title': 't', 'checks': ['x']}, {'id': 'a', 'title': 't', 'checks': ['y']}]}, 'id a is used twice'),
])
def test_bad_profile_names_the_control(profile, message):
    with pytest.raises(MaintenanceError, match=message):
        evaluate_profile(profile, [])
