"""Lynis side by side with the security audit on the same planted Debian root (docs/security_audit.md, "Compared
with Lynis"): Debian 12's ``lynis`` (tests/system-packages.txt) runs ``audit system --rootdir ROOT/`` with its
authentication, firewall and SSH groups inside the network namespace that holds the any-any rule; the audit's code
reads the same root and the same namespace. The assertions are what was measured: which of the planted findings
Lynis reports and which only the audit reports. Neither changes the root."""

import os
import shutil
import subprocess
import time
import uuid

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security import access_review, firewall_review, security_scan
from tests.harness import audit_debroot
from tests.harness.tier import needs_service

pytestmark = pytest.mark.slow

POLICY = {'allow': [{'name': 'ssh', 'proto': 'tcp', 'port': 22}], 'allow_icmp': True, 'require_default_drop': True}


def read_report(path):
    """Lynis' report.dat: ``key=value`` and ``key[]=value`` lines; returns key -> list of values."""
    report = {}
    with open(path) as handle:
        for line in handle:
            if '=' in line and not line.startswith('#'):
                key, value = line.rstrip('\n').split('=', 1)
                report.setdefault(key.replace('[]', ''), []).append(value)
    return report


def test_lynis_and_the_audit_on_the_same_planted_root(tmp_path):
    needs_service('a Debian root, a network namespace and lynis')
    if not shutil.which('lynis'):
        pytest.fail('lynis is not installed: tests/system-packages.txt lists it (make deps installs it)')
    (tmp_path / 'keys').mkdir()
    root = audit_debroot.AuditRoot(str(tmp_path / 'root'))
    netns = 'apx-lyn-%s' % uuid.uuid4().hex[:6]
    subprocess.run(['ip', 'netns', 'add', netns], check=True)
    try:
        planted = audit_debroot.plant_baseline(root, str(tmp_path / 'keys'))
        new_key = audit_debroot.plant_findings(root, str(tmp_path / 'keys'), planted)
        (tmp_path / 'rules.nft').write_text(audit_debroot.ANY_ANY_RULES)
        subprocess.run(['ip', 'netns', 'exec', netns, 'nft', '-f', str(tmp_path / 'rules.nft')], check=True)
        before = audit_debroot.root_snapshot(root.path)

        started = time.monotonic()
        lynis = subprocess.run(['ip', 'netns', 'exec', netns, 'lynis', 'audit', 'system', '--quick', '--no-colors', '--no-plugins',
                                '--rootdir', root.path + '/',   # Lynis 3.0.8 joins ROOTDIR and etc/... without a slash
                                '--tests-from-group', 'authentication firewalls ssh',
                                '--logfile', str(tmp_path / 'lynis.log'), '--report-file', str(tmp_path / 'report.dat')],
                               capture_output=True, text=True, check=False, timeout=900)
        lynis_seconds = time.monotonic() - started
        assert lynis.returncode == 0, lynis.stdout[-2000:] + lynis.stderr
        report = read_report(str(tmp_path / 'report.dat'))
        log = (tmp_path / 'lynis.log').read_text()

        started = time.monotonic()
        access, _extra, _changed = access_review.review({'root': root.path, 'approved': audit_debroot.approved(planted)})
        firewall, _extra, _changed = firewall_review.review({'policy': POLICY, 'nft_command': ['ip', 'netns', 'exec', netns, 'nft']})
        sshd = security_scan.check_sshd({'sshd_command': ['chroot', root.path, '/usr/sbin/sshd', '-T']})
        audit_seconds = time.monotonic() - started
        assert audit_debroot.root_snapshot(root.path) == before   # neither changed the root
    finally:
        subprocess.run(['ip', 'netns', 'del', netns], check=False)
        root.remove()
    print('lynis %s: %.1f s; audit code: %.1f s; load average %s' % (report.get('lynis_version'), lynis_seconds, audit_seconds,
                                                                     os.getloadavg()))
    findings = [f['reason'] for check in access + firewall + [sshd] for f in (check.get('details') or {}).get('findings') or []]

    # What Lynis reports of the planted state, read from the root: the sudoers file and the root's accounts
    assert 'Result: sudoers file found (%s/etc/sudoers)' % root.path in log
    assert 'Performing test ID AUTH-9288 (Checking for expired passwords)' in log
    assert 'Result: found 4 rules in nftables configuration' in log   # FIRE-4540 counts the rules of the namespace
    # ... and what it does not: none of its warnings or suggestions names the planted sudoer, the stale account, the
    # new key, the password logins or the any-any accept
    said = ' '.join(report.get('warning', []) + report.get('suggestion', []))
    for planted_item in ('bob', 'carol', 'oncall', 'authorized_keys', new_key, 'PasswordAuthentication', 'accept'):
        assert planted_item not in said, planted_item
    assert [w.split('|')[0] for w in report.get('warning', [])] == ['FIRE-4512']   # iptables empty: the nft rules not read
    assert 'Skipped test SSH-7408' in log   # no sshd listening in the namespace: the sshd options are not checked
    users = [u.split(',')[0] for u in report.get('real_user', [])]
    assert not set(users) & {'alice', 'bob', 'carol', 'deploy'}   # AUTH-9234 lists this machine's users, not the root's

    # The same root and namespace through the audit's code: all five, each with its reason
    assert any(r.startswith('stale account carol') for r in findings)
    assert any(r.startswith('unapproved sudoer bob') for r in findings)
    assert any(r.startswith('unapproved SSH key for alice') and new_key in r for r in findings)
    assert 'sshd passwordauthentication is yes, policy wants no' in findings
    assert any(r.startswith('any-any accept') for r in findings)
