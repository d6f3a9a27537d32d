"""A minimal system root built from real files for the audit tests: accounts, shadow, groups, sudoers, keys, lastlog.

No debootstrap root is cached on the test machines (building one takes minutes), so the root is built from the
files the audit reads: ``/etc/passwd``, ``/etc/shadow``, ``/etc/group``, ``/etc/sudoers`` (+ ``sudoers.d``),
home directories with ``authorized_keys`` made by the real ``ssh-keygen``, and a binary ``/var/log/lastlog``
in glibc's record layout (int32 time, 32-byte line, 256-byte host, one record per UID).
"""

import hashlib
import os
import struct
import subprocess
import time

LASTLOG_RECORD = 292
DAY = 86400

ACCOUNTS = [
    # name, uid, shell, days since last login (None: never)
    ('root', 0, '/bin/bash', None),
    ('daemon', 1, '/usr/sbin/nologin', None),
    ('postgres', 110, '/bin/bash', None),
    ('alice', 1000, '/bin/bash', 2),
    ('bob', 1001, '/bin/bash', 5),
    ('carol', 1002, '/bin/bash', 200),   # stale
    ('deploy', 1003, '/bin/sh', 1),
]


def keygen(directory, name, kind='ed25519', bits=None, comment=None):
    """A real key pair made by ssh-keygen; returns (public key line, SHA256 fingerprint as ssh-keygen prints it)."""
    path = os.path.join(directory, name)
    args = ['ssh-keygen', '-q', '-t', kind, '-N', '', '-f', path, '-C', comment or name]
    if bits:
        args += ['-b', str(bits)]
    subprocess.run(args, check=True, capture_output=True)
    line = open(path + '.pub').read().strip()
    out = subprocess.run(['ssh-keygen', '-l', '-E', 'sha256', '-f', path + '.pub'], check=True, capture_output=True, text=True).stdout
    return line, out.split()[1]


def write_lastlog(path, entries, now):
    """``entries``: uid -> days ago."""
    with open(path, 'wb') as out:
        for uid in range(max(entries) + 1):
            days = entries.get(uid)
            moment = int(now - days * DAY) if days is not None else 0
            out.write(struct.pack('<i', moment) + b'pts/0'.ljust(32, b'\0') + b'192.0.2.7'.ljust(256, b'\0'))


def build_root(root, keydir, now=None):
    """Build the root; returns a dict of fingerprints per account."""
    now = now or time.time()
    today = int(now // DAY)
    for sub in ('etc/sudoers.d', 'var/log', 'home', 'root', 'var/lib/postgresql'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    passwd, shadow = [], []
    for name, uid, shell, _days in ACCOUNTS:
        home = '/root' if uid == 0 else ('/var/lib/postgresql' if name == 'postgres' else
                                         ('/usr/sbin' if uid < 100 else '/home/%s' % name))
        passwd.append('%s:x:%d:%d:%s:%s:%s' % (name, uid, uid if uid >= 1000 or uid == 0 else 65534, name, home, shell))
        hashed = '$6$salt$' + hashlib.sha256(name.encode()).hexdigest() if uid >= 1000 else ('*' if uid else '$6$r$x')
        shadow.append('%s:%s:%d:0:99999:7:::' % (name, hashed, today - 400 if name == 'bob' else today - 30))
        if uid >= 1000:
            os.makedirs(os.path.join(root, 'home', name, '.ssh'), exist_ok=True)
    open(os.path.join(root, 'etc/passwd'), 'w').write('\n'.join(passwd) + '\n')
    open(os.path.join(root, 'etc/shadow'), 'w').write('\n'.join(shadow) + '\n')
    os.chmod(os.path.join(root, 'etc/shadow'), 0o640)
    open(os.path.join(root, 'etc/group'), 'w').write('\n'.join([
        'root:x:0:', 'sudo:x:27:alice', 'adm:x:4:', 'nogroup:x:65534:', 'alice:x:1000:', 'bob:x:1001:', 'carol:x:1002:',
        'deploy:x:1003:']) + '\n')
    open(os.path.join(root, 'etc/sudoers'), 'w').write(
        'Defaults\tenv_reset\n'
        'Defaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"\n'
        'root\tALL=(ALL:ALL) ALL\n'
        '%sudo\tALL=(ALL:ALL) ALL\n'
        '@includedir /etc/sudoers.d\n')
    open(os.path.join(root, 'etc/sudoers.d/deploy'), 'w').write(
        'deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart app\n')
    open(os.path.join(root, 'etc/sudoers.d/README.disabled'), 'w').write('bob ALL=(ALL) ALL\n')  # has a dot: sudo skips it
    fingerprints = {}
    for name in ('alice', 'deploy'):
        line, fingerprint = keygen(keydir, name, comment='%s@laptop' % name)
        path = os.path.join(root, 'home', name, '.ssh', 'authorized_keys')
        prefix = 'from="192.0.2.0/24",no-agent-forwarding ' if name == 'deploy' else ''
        open(path, 'w').write('# keys of %s\n%s%s\n' % (name, prefix, line))
        fingerprints[name] = [fingerprint]
    write_lastlog(os.path.join(root, 'var/log/lastlog'), dict((uid, days) for _n, uid, _s, days in ACCOUNTS if days is not None), now)
    return fingerprints


def add_key(root, keydir, user, name, **kwargs):
    line, fingerprint = keygen(keydir, name, **kwargs)
    with open(os.path.join(root, 'home', user, '.ssh', 'authorized_keys'), 'a') as out:
        out.write(line + '\n')
    return fingerprint


def tree_snapshot(root):
    """Every file under ``root`` with its content hash, mode and mtime: the audit must change none of them."""
    result = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            with open(path, 'rb') as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            result[os.path.relpath(path, root)] = (digest, info.st_mode, info.st_mtime_ns, info.st_uid)
    return result
