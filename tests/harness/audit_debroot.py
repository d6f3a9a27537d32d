"""A real Debian 12 root for the security audit tests and the demo: the patch tests' cached debootstrap root with
``openssh-server`` and ``sudo`` installed, accounts, sudoers and keys planted with the root's own tools.

* ``audit_tarball()``: the cached debootstrap root (``debroot.base_tarball()``, built with debootstrap on first use)
  plus ``AUDIT_PACKAGES`` installed with the root's own apt from the Debian mirror, cached next to it as
  ``debian-bookworm-minbase-python3-audit-<key>.tar.gz``. The key is a hash of the package list and of this
  build recipe's version, so a change of either builds a new tarball (the patch tests' tarball is never touched).
* ``extracted_audit_root()``: that tarball unpacked once in the cache (the lower layer of the per-test copies).
* ``AuditRoot(path)``: a per-test (or per-demo) copy, an overlay over the unpacked root where the machine allows
  overlayfs, ``cp -a`` otherwise; the cache stays clean. ``remove()`` unmounts and deletes it.
* ``plant_baseline(root, keydir)``: the approved state, made with the root's tools (``useradd``, ``usermod -aG
  sudo``, ``chage``, ``visudo -c``): alice (sudo group, a key), deploy (NOPASSWD for one command, a key), bob and
  carol (login accounts), a hardened ``sshd_config.d`` drop-in, lastlog records.
* ``plant_findings(root, keydir)``: the five findings the audit must report: carol stale (last login 200 days
  ago), bob an unapproved sudoer (``sudoers.d/oncall``), a new key in alice's ``authorized_keys``, and
  ``PasswordAuthentication yes`` in the drop-in. (The any-any firewall rule lives in a network namespace, see
  ``ANY_ANY_RULES``.)
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import time

from . import debroot
from .audit_root import keygen, write_lastlog

AUDIT_PACKAGES = ('openssh-server', 'sudo')
RECIPE_VERSION = 1   # raise when _build changes what ends up in the tarball
DAY = 86400

HARDENING = ('# approved hardening (CHG-0001)\nPermitRootLogin no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n'
             'X11Forwarding no\nMaxAuthTries 4\n')
DRIFTED = HARDENING.replace('PasswordAuthentication no', 'PasswordAuthentication yes')
DROP_IN = 'etc/ssh/sshd_config.d/50-hardening.conf'

# The inbound ruleset of the audited host: ssh allowed, then an accept of everything (an any-any rule), and the chain's
# policy accept. Loaded only inside a network namespace the test or the demo creates.
ANY_ANY_RULES = '''flush ruleset
table inet filter {
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "lo" accept
        ct state established,related accept
        tcp dport 22 accept
        accept
    }
}
'''


def root_snapshot(path):
    """Every entry under ``path`` without following links: files by content hash, mode, owner and mtime, links by target,
    directories by mode and owner (their mtime moves when a temporary file comes and goes)."""
    import stat
    result = {}
    for directory, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(directory, name)
            info = os.lstat(full)
            rel = os.path.relpath(full, path)
            if stat.S_ISLNK(info.st_mode):
                result[rel] = ('link', os.readlink(full))
            elif stat.S_ISDIR(info.st_mode):
                result[rel] = ('dir', info.st_mode, info.st_uid, info.st_gid)
            elif stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256()
                with open(full, 'rb') as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b''):
                        digest.update(chunk)
                result[rel] = ('file', digest.hexdigest(), info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns)
            else:
                result[rel] = ('special', info.st_mode, info.st_rdev)
    return result


def cache_key():
    return hashlib.sha256(('%d %s' % (RECIPE_VERSION, ' '.join(sorted(AUDIT_PACKAGES)))).encode()).hexdigest()[:10]


def tarball_path(suite=debroot.SUITE):
    return os.path.join(debroot.CACHE, 'debian-%s-minbase-python3-audit-%s.tar.gz' % (suite, cache_key()))


def cached(suite=debroot.SUITE):
    """Whether the audit root (or at least the debootstrap root it is made from) is already in the cache."""
    return os.path.exists(tarball_path(suite)), os.path.exists(os.path.join(debroot.CACHE, 'debian-%s-minbase-python3.tar.gz' % suite))


def audit_tarball(suite=debroot.SUITE):
    path = tarball_path(suite)
    if os.path.exists(path):
        return path
    base = debroot.base_tarball(suite)
    with open(os.path.join(debroot.CACHE, '.build-audit.lock'), 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            _build(base, path)
    return path


def _build(base, path):
    work = path + '.tmp'
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    started = time.monotonic()
    try:
        subprocess.run(['tar', '-C', work, '-xzf', base], check=True)
        shutil.copy('/etc/resolv.conf', os.path.join(work, 'etc/resolv.conf'))
        policy = os.path.join(work, 'usr/sbin/policy-rc.d')   # no service starts while installing
        with open(policy, 'w') as handle:
            handle.write('#!/bin/sh\nexit 101\n')
        os.chmod(policy, 0o755)
        result = debroot._chroot(work, 'sh', '-c', 'apt-get -q update && apt-get install -y -q --no-install-recommends %s'
                                 % ' '.join(AUDIT_PACKAGES), check=False)
        if result.returncode != 0:
            raise RuntimeError('installing %s into the audit root failed: %s' % (', '.join(AUDIT_PACKAGES), result.stderr[-2000:]))
        os.unlink(policy)
        debroot._chroot(work, 'apt-get', 'clean')
        shutil.rmtree(os.path.join(work, 'var/lib/apt/lists'), ignore_errors=True)
        os.makedirs(os.path.join(work, 'var/lib/apt/lists/partial'))
        partial = path + '.part'
        subprocess.run(['tar', '-C', work, '-czf', partial, '.'], check=True)
        os.rename(partial, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(path.replace('.tar.gz', '.seconds'), 'w') as handle:
        handle.write('%.1f\n' % (time.monotonic() - started))


def extracted_audit_root(suite=debroot.SUITE):
    tarball = audit_tarball(suite)
    path = tarball.replace('.tar.gz', '.root')
    stamp = path + '.ok'
    if os.path.exists(stamp):
        return path
    return debroot.extract_once(tarball, path, '.extract-audit.lock')


class AuditRoot(object):
    """A writable copy of the unpacked audit root at ``path`` (overlay if possible, else ``cp -a``)."""

    def __init__(self, path, scratch=None):
        self.path = path
        lower = extracted_audit_root()
        scratch = scratch or os.path.dirname(path)
        self.overlay = debroot.overlay_supported(scratch)
        if self.overlay:
            self.upper, self.work = path + '.upper', path + '.work'
            for directory in (path, self.upper, self.work):
                os.makedirs(directory)
            debroot._mount(lower, self.upper, self.work, path)
        else:
            subprocess.run(['cp', '-a', lower, path], check=True)

    def chroot(self, *command, check=True):
        return debroot._chroot(self.path, *command, check=check)

    def remove(self):
        if self.overlay:
            subprocess.run(['umount', self.path], check=False)
            shutil.rmtree(self.upper, ignore_errors=True)
            shutil.rmtree(self.work, ignore_errors=True)
            os.rmdir(self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def _add_key(root, keydir, user, name, **kwargs):
    line, fingerprint = keygen(keydir, name, **kwargs)
    ssh = os.path.join(root.path, 'home', user, '.ssh')
    os.makedirs(ssh, exist_ok=True)
    with open(os.path.join(ssh, 'authorized_keys'), 'a') as handle:
        handle.write(line + '\n')
    root.chroot('sh', '-c', 'chown -R %s: /home/%s/.ssh && chmod 700 /home/%s/.ssh && chmod 600 /home/%s/.ssh/authorized_keys'
                % (user, user, user, user))
    return fingerprint


def _uid(root, name):
    return int(root.chroot('id', '-u', name).stdout.strip())


def plant_baseline(root, keydir, now=None):
    """The approved state; returns ``{'ssh_keys': {user: [fingerprint]}, 'uids': {...}}``."""
    now = now or time.time()
    for name, shell in (('alice', '/bin/bash'), ('bob', '/bin/bash'), ('carol', '/bin/bash'), ('deploy', '/bin/sh')):
        root.chroot('useradd', '-m', '-s', shell, name)
        # a password hash (not a real password: the hash of nothing anyone knows), set with the root's chpasswd
        root.chroot('sh', '-c', 'echo %s:%s | chpasswd -e' % (name, "'$6$apcxdemo$" + hashlib.sha256(name.encode()).hexdigest() + "'"))
        root.chroot('chage', '-d', time.strftime('%Y-%m-%d', time.gmtime(now - 30 * DAY)), name)
    root.chroot('usermod', '-aG', 'sudo', 'alice')
    with open(os.path.join(root.path, 'etc/sudoers.d/deploy'), 'w') as handle:
        handle.write('deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart app\n')
    os.chmod(os.path.join(root.path, 'etc/sudoers.d/deploy'), 0o440)
    root.chroot('visudo', '-c')
    keys = {'alice': [_add_key(root, keydir, 'alice', 'alice', comment='alice@laptop')],
            'deploy': [_add_key(root, keydir, 'deploy', 'deploy', comment='deploy@ci')]}
    with open(os.path.join(root.path, DROP_IN), 'w') as handle:
        handle.write(HARDENING)
    os.makedirs(os.path.join(root.path, 'run/sshd'), exist_ok=True)   # made by systemd (RuntimeDirectory) on a booted host
    uids = dict((name, _uid(root, name)) for name in ('alice', 'bob', 'carol', 'deploy'))
    logins = {uids['alice']: 2, uids['bob']: 5, uids['carol']: 20, uids['deploy']: 1}
    write_lastlog(os.path.join(root.path, 'var/log/lastlog'), logins, now)
    return {'ssh_keys': keys, 'uids': uids}


def approved(planted):
    """The approved access list of the baseline (what the inventory would hold)."""
    return {'login_accounts': ['root', 'alice', 'bob', 'carol', 'deploy'], 'sudo': ['root', 'alice', 'deploy'],
            'sudo_nopasswd': ['deploy'], 'ssh_keys': planted['ssh_keys']}


def plant_findings(root, keydir, planted, now=None):
    """The four file findings (the firewall one is ``ANY_ANY_RULES`` in a namespace); returns the new key's fingerprint."""
    now = now or time.time()
    uids = planted['uids']
    logins = {uids['alice']: 2, uids['bob']: 5, uids['carol']: 200, uids['deploy']: 1}
    write_lastlog(os.path.join(root.path, 'var/log/lastlog'), logins, now)
    with open(os.path.join(root.path, 'etc/sudoers.d/oncall'), 'w') as handle:
        handle.write('bob ALL=(ALL:ALL) ALL\n')
    os.chmod(os.path.join(root.path, 'etc/sudoers.d/oncall'), 0o440)
    root.chroot('visudo', '-c')
    fingerprint = _add_key(root, keydir, 'alice', 'unknown', comment='root@jumpbox')
    with open(os.path.join(root.path, DROP_IN), 'w') as handle:
        handle.write(DRIFTED)
    return fingerprint
