"""The monthly security audit on a real Debian 12 root: the patch tests' cached debootstrap root with openssh-server and
sudo (tests/harness/audit_debroot.py), one overlay copy per test so the cache stays clean. Accounts, sudo rights and
keys are made with the root's own useradd, usermod, chage, visudo; sshd settings come from the root's real ``sshd -T``.

* over a local connection with ``security_audit_root`` (the firewall in a network namespace made here);
* through the chroot connection (community.general.chroot), as a managed host would be audited.

Before/after snapshots of the whole root prove the audit changes nothing in it (the chroot run may write only its
documented state files and Ansible's remote temporary directory, both named here)."""

import os
import subprocess
import uuid

import pytest
import yaml

from tests.harness import audit_debroot
from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.paths import ROOT, python_interpreter
from tests.harness.tier import needs_service

pytestmark = pytest.mark.slow

PLAYBOOK = os.path.join(ROOT, 'playbooks', 'monthly_security_audit.yml')


@pytest.fixture()
def debian_root(tmp_path):
    needs_service('a Debian root')
    (tmp_path / 'keys').mkdir()
    root = audit_debroot.AuditRoot(str(tmp_path / 'root'))
    try:
        planted = audit_debroot.plant_baseline(root, str(tmp_path / 'keys'))
        yield root, planted
    finally:
        root.remove()


@pytest.fixture()
def netns():
    needs_service('network namespaces')
    name = 'apx-sad-%s' % uuid.uuid4().hex[:6]
    subprocess.run(['ip', 'netns', 'add', name], check=True)
    try:
        yield name
    finally:
        subprocess.run(['ip', 'netns', 'del', name], check=False)


def write_inventory(tmp_path, host):
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': {'audited': host}}}))
    return inventory


def checks_of(records):
    result = {}
    for record in records:
        for check in record.get('checks') or []:
            result[check['name']] = check
    return result


def messages(check):
    return [f['reason'] for f in (check.get('details') or {}).get('findings') or []]


def assert_planted_findings(checks, new_key):
    """The four findings planted in the root, each with its reason."""
    assert any(m.startswith('stale account carol: last login') and '200 days ago' in m for m in messages(checks['access.accounts']))
    assert checks['access.sudo']['status'] == 'critical'
    assert any('unapproved sudoer bob' in m for m in messages(checks['access.sudo']))
    assert any(m.startswith('unapproved SSH key for alice') and new_key in m and 'root@jumpbox' in m
               for m in messages(checks['access.ssh_keys']))
    assert any('new SSH key since the review' in m and new_key in m for m in messages(checks['access.changes']))
    assert any('new sudoer since the review' in m and 'bob' in m for m in messages(checks['access.changes']))
    drift = checks['drift.files']
    assert 'passwordauthentication no -> yes' in drift['reason'] and audit_debroot.DROP_IN.rsplit('/', maxsplit=1)[-1] in drift['reason']
    sshd = checks['security.sshd']
    # the root's own sshd -T: its drop-in (MaxAuthTries 4, X11Forwarding no), not this machine's sshd configuration
    assert sshd['details']['effective']['maxauthtries'] == '4' and sshd['details']['effective']['x11forwarding'] == 'no'
    assert messages(sshd) == ['sshd passwordauthentication is yes, policy wants no']


def test_audit_of_a_debian_root_over_a_local_connection(debian_root, netns, tmp_path):
    root, planted = debian_root
    state = tmp_path / 'state'
    host = {'ansible_connection': 'local', 'ansible_python_interpreter': python_interpreter(),
            'security_audit_root': root.path, 'security_audit_become': False, 'security_audit_notify': False,
            'security_audit_state_file': str(state / 'access.json'), 'security_audit_drift_baseline_file': str(state / 'config.json'),
            'security_audit_drift_files': ['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d/*.conf', '/etc/sudoers', '/etc/sudoers.d/*'],
            'security_audit_nft_command': ['ip', 'netns', 'exec', netns, 'nft'],
            'security_audit_approved': audit_debroot.approved(planted), 'maintenance_fail_on': 'never'}
    inventory = write_inventory(tmp_path, host)
    log = tmp_path / 'outcomes.jsonl'
    result = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=log)   # last month's review: records state and baseline
    assert result.returncode == 0, result.stdout + result.stderr
    first = checks_of(read_outcomes(log))
    assert first['access.sudo']['status'] == 'ok' and first['access.ssh_keys']['status'] == 'ok', first['access.sudo']
    assert first['security.sshd']['status'] == 'ok', first['security.sshd']['reason']

    new_key = audit_debroot.plant_findings(root, str(tmp_path / 'keys'), planted)
    rules = tmp_path / 'rules.nft'
    rules.write_text(audit_debroot.ANY_ANY_RULES)
    subprocess.run(['ip', 'netns', 'exec', netns, 'nft', '-f', str(rules)], check=True)
    ruleset = subprocess.run(['ip', 'netns', 'exec', netns, 'nft', 'list', 'ruleset'], capture_output=True, text=True, check=True).stdout
    before = audit_debroot.root_snapshot(root.path)
    count = len(read_outcomes(log))
    result = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=log)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = checks_of(read_outcomes(log)[count:])
    assert_planted_findings(checks, new_key)
    assert any(m.startswith('any-any accept') for m in messages(checks['firewall.rules'])), checks['firewall.rules']
    assert checks['compliance.5.2.1']['status'] == 'critical' and checks['compliance.3.5.2']['status'] == 'critical'
    assert checks['compliance.5.1.16']['status'] == 'critical'   # PasswordAuthentication, from the root's sshd -T
    assert audit_debroot.root_snapshot(root.path) == before
    assert subprocess.run(['ip', 'netns', 'exec', netns, 'nft', 'list', 'ruleset'], capture_output=True, text=True,
                          check=True).stdout == ruleset


def test_audit_of_a_debian_root_through_the_chroot_connection(debian_root, tmp_path):
    root, planted = debian_root
    host = {'ansible_connection': 'community.general.chroot', 'ansible_host': root.path,
            'ansible_python_interpreter': '/usr/bin/python3', 'ansible_remote_tmp': '/tmp/.ansible-audit',
            'security_audit_become': False, 'security_audit_notify': False, 'security_audit_firewall': False,
            'security_audit_drift_files': ['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d/*.conf', '/etc/sudoers', '/etc/sudoers.d/*'],
            'security_audit_approved': audit_debroot.approved(planted), 'maintenance_fail_on': 'never'}
    inventory = write_inventory(tmp_path, host)
    log = tmp_path / 'outcomes.jsonl'
    result = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=log)
    assert result.returncode == 0, result.stdout + result.stderr
    state = os.path.join(root.path, 'var/lib/autopilotcx')
    # the role's default state files (and their lock files), inside the audited root
    assert sorted(os.listdir(state)) == ['access-review.json', 'access-review.json.lock', 'config-baseline.json',
                                         'config-baseline.json.lock']

    new_key = audit_debroot.plant_findings(root, str(tmp_path / 'keys'), planted)
    before = audit_debroot.root_snapshot(root.path)
    count = len(read_outcomes(log))
    result = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=log)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = checks_of(read_outcomes(log)[count:])
    assert_planted_findings(checks, new_key)
    after = audit_debroot.root_snapshot(root.path)
    changed = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
    # only the review state (the new sudoer and key are recorded) and nothing else: Ansible's temporary files are gone
    assert changed == ['var/lib/autopilotcx/access-review.json'], changed
