"""Demo data for the monthly security audit (issue 20): a planted Debian root and a firewall in a network namespace.

The audited root is a copy of a real Debian 12 root: the debootstrap root the patch tests cache in
``~/.cache/autopilotcx-maintenance/debroot`` with openssh-server and sudo installed (``tests/harness/audit_debroot.py``;
built from the cached debootstrap root in about a minute when only that is cached), mounted as an overlay (or
copied) under ``<demo_dir>/audit/root``, so the cache stays clean. Without a cached debootstrap root (building one
takes about four minutes, longer than the rest of the demo) the demo plants into a small root built from real files
(``tests/harness/audit_root.py``) and says so; AUTOPILOTCX_DEMO_DEBROOT=build builds the debootstrap root instead.

Yesterday's state is approved and recorded by the real modules' code (the access review's first review and the
configuration baseline); then five findings are planted:

* carol: last login 200 days ago (stale account);
* bob: ``/etc/sudoers.d/oncall`` grants him sudo (unapproved sudoer);
* alice: a new key ``root@jumpbox`` in ``authorized_keys`` (unapproved, new since the last review);
* ``PasswordAuthentication yes`` in ``/etc/ssh/sshd_config.d/50-hardening.conf`` (drift, and ``sshd -T`` of the root);
* an ``accept`` of everything in the input chain, loaded with ``nft`` into the network namespace ``apcx-demo-audit``
  that this hook creates and removes (the host's own firewall is never touched).
"""

import os
import subprocess
import sys
import time

from tests.harness import audit_debroot, audit_root
from tests.harness.paths import ensure_collection_link

ensure_collection_link()

NETNS = 'apcx-demo-audit'
DRIFT_FILES = ['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d/*.conf', '/etc/sudoers', '/etc/sudoers.d/*']


class FileRoot(object):
    """The small root built from real files (no debootstrap root cached): no sshd in it."""

    def __init__(self, path):
        self.path = path
        os.makedirs(path)

    def remove(self):
        pass   # under the demo directory; the next demo removes it


def _file_root(path, keydir, now):
    root = FileRoot(path)
    fingerprints = audit_root.build_root(path, keydir, now=now - 86400)
    os.makedirs(os.path.join(path, 'etc/ssh/sshd_config.d'))
    with open(os.path.join(path, 'etc/ssh/sshd_config'), 'w') as handle:
        handle.write('Include /etc/ssh/sshd_config.d/*.conf\n')
    with open(os.path.join(path, audit_debroot.DROP_IN), 'w') as handle:
        handle.write(audit_debroot.HARDENING)
    # the same approved state as the Debian root: carol seen 20 days ago (build_root's 200 is the finding planted below)
    audit_root.write_lastlog(os.path.join(path, 'var/log/lastlog'), {0: None, 1000: 2, 1001: 5, 1002: 20, 1003: 1}, now)
    approved = {'login_accounts': ['root', 'postgres', 'alice', 'bob', 'carol', 'deploy'], 'sudo': ['root', 'alice', 'deploy'],
                'sudo_nopasswd': ['deploy'], 'ssh_keys': fingerprints}
    return root, approved


def _file_findings(root, keydir, now):
    audit_root.write_lastlog(os.path.join(root.path, 'var/log/lastlog'), {0: None, 1000: 2, 1001: 5, 1002: 200, 1003: 1}, now)
    with open(os.path.join(root.path, 'etc/sudoers.d/oncall'), 'w') as handle:
        handle.write('bob ALL=(ALL:ALL) ALL\n')
    audit_root.add_key(root.path, keydir, 'alice', 'unknown', comment='root@jumpbox')
    with open(os.path.join(root.path, audit_debroot.DROP_IN), 'w') as handle:
        handle.write(audit_debroot.DRIFTED)


def _netns(name, rules_path):
    subprocess.run(['ip', 'netns', 'del', name], capture_output=True, check=False)   # left by an interrupted demo
    subprocess.run(['ip', 'netns', 'add', name], check=True)
    subprocess.run(['ip', 'netns', 'exec', name, 'nft', '-f', rules_path], check=True)


def setup(env):
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.access_review import review
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.config_drift import DEFAULT_CATEGORIES, drift

    base = os.path.join(env['demo_dir'], 'audit')
    keydir = os.path.join(base, 'keys')
    os.makedirs(keydir)
    now = time.time()
    started = time.monotonic()
    audit_cached, debootstrap_cached = audit_debroot.cached()
    if audit_cached or debootstrap_cached or os.environ.get('AUTOPILOTCX_DEMO_DEBROOT') == 'build':
        if not audit_cached:
            print('demo: building the audit root from the debootstrap root (openssh-server, sudo; once, cached in %s)'
                  % audit_debroot.tarball_path(), flush=True)
        root = audit_debroot.AuditRoot(os.path.join(base, 'root'))
        planted = audit_debroot.plant_baseline(root, keydir, now=now)
        approved = audit_debroot.approved(planted)
        kind = 'a copy (%s) of the cached debootstrap Debian 12 root with openssh-server and sudo' % (
            'overlay' if root.overlay else 'cp -a')
        sshd_command = ['chroot', root.path, '/usr/sbin/sshd', '-T']
    else:
        root, approved = _file_root(os.path.join(base, 'root'), keydir, now)
        planted = None
        kind = ('a small root built from real files (no debootstrap root cached in %s; building one takes minutes: '
                'AUTOPILOTCX_DEMO_DEBROOT=build make demo builds and caches it); no sshd in it' % audit_debroot.debroot.CACHE)
        sshd_command = ['chroot', root.path, '/usr/sbin/sshd', '-T']   # absent in this root: "sshd is not installed"

    # Yesterday's review and the approved configuration, recorded by the real modules' code
    state_file = os.path.join(base, 'access-review.json')
    baseline_file = os.path.join(base, 'config-baseline.json')
    review({'root': root.path, 'approved': approved, 'state_file': state_file})
    drift({'root': root.path, 'files': DRIFT_FILES, 'baseline_file': baseline_file, 'categories': list(DEFAULT_CATEGORIES)})

    if planted is not None:
        new_key = audit_debroot.plant_findings(root, keydir, planted, now=now)
    else:
        new_key = None
        _file_findings(root, keydir, now)
    netns = env.get('demo_audit_netns') or NETNS   # a test passes its own name
    rules = os.path.join(base, 'rules.nft')
    with open(rules, 'w') as handle:
        handle.write(audit_debroot.ANY_ANY_RULES)
    try:
        _netns(netns, rules)
    except (OSError, subprocess.CalledProcessError) as exc:
        root.remove()
        raise RuntimeError('demo: cannot create the network namespace %s for the firewall finding (needs root, ip, nft): %s'
                           % (netns, exc))
    print('demo: security audit root %s: %s (%.1f s); firewall rules in network namespace %s'
          % (root.path, kind, time.monotonic() - started, netns), flush=True)
    env.update(demo_audit_root=root.path, demo_audit_root_kind=kind, demo_audit_approved=approved,
               demo_audit_state_file=state_file, demo_audit_baseline_file=baseline_file, demo_audit_drift_files=DRIFT_FILES,
               demo_audit_nft_command=['ip', 'netns', 'exec', netns, 'nft'], demo_audit_sshd_command=sshd_command,
               demo_audit_new_key=new_key)

    def cleanup():
        subprocess.run(['ip', 'netns', 'del', netns], capture_output=True, check=False)
        root.remove()
        print('demo: removed network namespace %s and the audit root' % netns, file=sys.stderr)
    return cleanup
