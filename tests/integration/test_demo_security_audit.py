"""The security audit part of `make demo`: the demo's own setup hook (scripts/demo_setup/security_audit.py) plants
the five findings, the monthly security audit runs with the demo inventory, and the demo's summary
(scripts/demo_summary.sh) shows each finding with its reason. The whole demo takes minutes; this runs its audit part.

Nothing on this machine changes: its firewall ruleset, its network namespaces and mounts are the same after the
hook's cleanup, and the audited root is the same after the audit as before it."""

import importlib.util
import json
import os
import subprocess
import uuid

import pytest

from tests.harness import audit_debroot
from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.paths import ROOT
from tests.harness.tier import needs_service

pytestmark = pytest.mark.slow


def load_hook():
    spec = importlib.util.spec_from_file_location('demo_setup_security_audit', os.path.join(ROOT, 'scripts', 'demo_setup', 'security_audit.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def host_state(netns, directory):
    """This machine's own ruleset, whether the demo's namespace exists, the mounts under the demo directory (other
    tests running at the same time make namespaces and mounts of their own)."""
    ruleset = subprocess.run(['nft', 'list', 'ruleset'], capture_output=True, text=True, check=True).stdout
    names = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True, check=True).stdout.split()
    with open('/proc/self/mounts') as handle:
        mounts = sorted(line.split()[1] for line in handle if line.split()[1].startswith(str(directory)))
    return ruleset, netns in names, mounts


@pytest.mark.parametrize('cache', ['debootstrap', 'none'])
def test_demo_plants_the_five_findings_and_shows_each_with_its_reason(tmp_path, monkeypatch, cache):
    """``none``: a fresh machine without a cached debootstrap root, where the demo plants into a root built from files."""
    needs_service('a Debian root and a network namespace')
    if cache == 'none':
        monkeypatch.setattr(audit_debroot, 'cached', lambda *a: (False, False))
    hook = load_hook()
    netns = 'apx-demo-%s' % uuid.uuid4().hex[:6]
    host = host_state(netns, tmp_path)
    demo_dir = tmp_path / 'demo'
    demo_dir.mkdir()
    env = {'demo_dir': str(demo_dir), 'demo_audit_netns': netns}
    cleanup = hook.setup(env)
    try:
        assert host_state(netns, tmp_path)[1]   # the firewall rule lives in the demo's own namespace
        assert ('debootstrap' if cache == 'debootstrap' else 'real files') in env['demo_audit_root_kind']
        with open(demo_dir / 'env.yml', 'w') as handle:
            json.dump(env, handle)
        with open(demo_dir / 'env-inventory.yml', 'w') as handle:
            json.dump({'all': {'vars': env}}, handle)
        before = audit_debroot.root_snapshot(env['demo_audit_root'])
        log = demo_dir / 'outcomes.jsonl'
        result = run_playbook(os.path.join(ROOT, 'playbooks', 'monthly_security_audit.yml'),
                              inventory=os.path.join(ROOT, 'inventories', 'demo'),
                              args=['-i', str(demo_dir / 'env-inventory.yml'), '-e', 'security_audit_notify=false'],
                              outcome_log=log)
        assert result.returncode == 0, result.stdout + result.stderr   # the demo's maintenance_fail_on: never
        assert audit_debroot.root_snapshot(env['demo_audit_root']) == before
        assert any(r.get('cadence') == 'monthly_security_audit' for r in read_outcomes(log))
        summary = subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'demo_summary.sh'), str(demo_dir), '0'],
                                 capture_output=True, text=True, check=True).stdout
    finally:
        cleanup()
    audit = summary[summary.index('Security audit of %s' % env['demo_audit_root']):]
    lines = audit.splitlines()

    def reason_under(check, text):
        start = next(i for i, line in enumerate(lines) if line.split()[1:2] == [check])
        block = []
        for line in lines[start + 1:]:
            if not line.startswith('           - '):
                break
            block.append(line)
        return [line for line in block if text in line]

    assert reason_under('access.accounts', 'stale account carol: last login')   # 1. the stale account
    assert reason_under('access.accounts', '200 days ago (more than 90)')
    assert reason_under('access.sudo', 'unapproved sudoer bob (direct at /etc/sudoers.d/oncall:1)')   # 2. the sudoer
    assert reason_under('access.ssh_keys', 'unapproved SSH key for alice')   # 3. the new key, also new since the review
    assert reason_under('access.ssh_keys', 'root@jumpbox')
    assert reason_under('access.changes', 'new SSH key since the review')
    assert reason_under('drift.files', 'passwordauthentication no -> yes')   # 4. the drifted sshd setting
    if cache == 'debootstrap':
        assert reason_under('security.sshd', 'sshd passwordauthentication is yes, policy wants no')   # the root's own sshd -T
    else:   # no sshd in a root built from files: said, not passed
        assert reason_under('security.sshd', 'sshd -T exited 127')
    assert reason_under('firewall.rules', 'any-any accept: inet filter input')   # 5. the any-any rule
    assert 'failed controls:' in audit and '5.2.1' in audit and '3.5.2' in audit
    assert host_state(netns, tmp_path) == host   # the namespace, the overlay and the host's ruleset: as before
    if cache == 'debootstrap':
        assert not os.path.exists(env['demo_audit_root'])   # the copy is gone, the cache untouched
