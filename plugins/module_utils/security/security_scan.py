# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The daily security scan (``security_scan`` module); it only reads the system.

Categories, each one check in the result model with its findings in
``details.findings`` (every finding: severity, category, subject, reason):

* ``listeners``: listening TCP and bound UDP sockets from ``/proc/net/{tcp,tcp6,udp,udp6}``
  (process names from ``/proc/<pid>/fd`` when scanning the live root) against an allow-list.
* ``world_writable`` and ``suid``: a walk of the given paths (no symlinks
  followed, one filesystem, exclusions honoured); SUID/SGID binaries are held
  against an allow-list and the baseline.
* ``sshd``: ``sshd -T`` effective settings (or captured output) against a policy.
* ``accounts``: UID 0 accounts other than root, empty passwords (``passwd``/``shadow`` under ``root``).
* ``integrity``: SHA-256, mode and owner of given files against the baseline.
* ``updates``: pending security updates from patch facts given as input.

The baseline (SUID set and file hashes) is the only thing written, and only
when it does not exist yet or ``accept_changes`` is set, never in check mode.
Plain Python: unit tests call ``scan()`` without Ansible.
"""

import errno
import hashlib
import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import tempfile

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_utc, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.state_store import FileLock
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    CRITICAL,
    OK,
    Report,
    UNKNOWN,
    WARNING,
    evaluate,
    make_check,
    threshold_for,
    worst,
)

CATEGORIES = ('listeners', 'world_writable', 'suid', 'sshd', 'accounts', 'integrity', 'updates')
DEFAULT_SSHD_POLICY = {
    'permitrootlogin': ['no', 'prohibit-password', 'without-password'],
    'passwordauthentication': 'no',
    'permitemptypasswords': 'no',
    'kbdinteractiveauthentication': 'no',
    'hostbasedauthentication': 'no',
    'ignorerhosts': 'yes',
    'x11forwarding': 'no',
    'maxauthtries': '<=6',
}
PSEUDO_FILESYSTEMS = ('/proc', '/sys', '/dev', '/run')
MAX_FINDINGS_SHOWN = 10
TCP_LISTEN = '0A'
UDP_UNCONNECTED = '07'


def finding(severity, category, subject, reason, **extra):
    item = {'severity': severity, 'category': category, 'subject': subject, 'reason': reason}
    item.update(extra)
    return item


def category_check(name, findings, ok_reason, target=None, details=None, priority=None):
    """One check per category: the worst finding decides the status; the first findings name the reason."""
    details = dict(details or {})
    details['findings'] = findings
    if not findings:
        return make_check(name, OK, ok_reason, value=0, unit='findings', priority=priority or 'low', target=target,
                          details=details)
    status = worst(f['severity'] for f in findings)
    shown = '; '.join(f['reason'] for f in findings[:MAX_FINDINGS_SHOWN])
    more = ' (and %d more)' % (len(findings) - MAX_FINDINGS_SHOWN) if len(findings) > MAX_FINDINGS_SHOWN else ''
    prio = priority or ('high' if status == CRITICAL else 'medium')
    return make_check(name, status, '%d finding(s): %s%s' % (len(findings), shown, more), value=len(findings),
                      unit='findings', priority=prio, target=target, details=details)


def _under(root, path):
    """``path`` (absolute, as on the scanned system) under the alternative ``root``."""
    if not root or root == '/':
        return path
    return os.path.join(root, path.lstrip('/'))


# ------------------------------------------------------------------ listeners

def _hex_address(text, family):
    address, port = text.split(':')
    raw = bytes.fromhex(address)
    if family == socket.AF_INET:
        packed = struct.pack('<I', struct.unpack('>I', raw)[0])
    else:
        packed = b''.join(struct.pack('<I', struct.unpack('>I', raw[i:i + 4])[0]) for i in range(0, 16, 4))
    return socket.inet_ntop(family, packed), int(port, 16)


def read_listeners(root='/'):
    """Listening TCP and bound, unconnected UDP sockets: dicts proto, address, port, inode."""
    result = []
    found_any = False
    for name, proto, family, state in (('tcp', 'tcp', socket.AF_INET, TCP_LISTEN), ('tcp6', 'tcp', socket.AF_INET6, TCP_LISTEN),
                                       ('udp', 'udp', socket.AF_INET, UDP_UNCONNECTED),
                                       ('udp6', 'udp', socket.AF_INET6, UDP_UNCONNECTED)):
        path = _under(root, '/proc/net/%s' % name)
        try:
            with open(path) as handle:
                lines = handle.read().splitlines()[1:]
        except (IOError, OSError):
            continue
        found_any = True
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != state:
                continue
            try:
                address, port = _hex_address(fields[1], family)
            except (ValueError, struct.error, OSError):
                continue
            if family == socket.AF_INET6 and address.startswith('::ffff:'):
                address = address[7:]
            result.append({'proto': proto, 'address': address, 'port': port, 'inode': fields[9]})
    if not found_any:
        return None
    seen = set()
    unique = []
    for item in result:
        key = (item['proto'], item['address'], item['port'])
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return sorted(unique, key=lambda i: (i['proto'], i['port'], i['address']))


def socket_processes():
    """inode -> process name, from /proc/<pid>/fd (only what this user may read)."""
    result = {}
    try:
        pids = [p for p in os.listdir('/proc') if p.isdigit()]
    except OSError:
        return result
    for pid in pids:
        try:
            with open('/proc/%s/comm' % pid) as handle:
                comm = handle.read().strip()
            for fd in os.listdir('/proc/%s/fd' % pid):
                try:
                    link = os.readlink('/proc/%s/fd/%s' % (pid, fd))
                except OSError:
                    continue
                if link.startswith('socket:['):
                    result.setdefault(link[8:-1], '%s[%s]' % (comm, pid))
        except (IOError, OSError):
            continue
    return result


def parse_allow_entry(entry):
    """``tcp:22``, ``tcp:127.0.0.1:5432``, ``udp:[::1]:53``, ``*:8080`` or a dict proto/address/port/process."""
    if isinstance(entry, dict):
        port = entry.get('port')
        return {'proto': entry.get('proto') or '*', 'address': entry.get('address') or '*',
                'port': int(port) if port not in (None, '*') else '*', 'process': entry.get('process')}
    text = str(entry).strip()
    try:
        proto, rest = text.split(':', 1)
        if rest.startswith('['):
            address, port = rest[1:].split(']:', 1)
        elif ':' in rest:
            address, port = rest.rsplit(':', 1)
        else:
            address, port = '*', rest
        port = '*' if port == '*' else int(port)
    except ValueError:
        raise MaintenanceError('listen_allow entry %r must look like tcp:22, tcp:127.0.0.1:5432, udp:[::1]:53 or *:8080' % text)
    if proto not in ('tcp', 'udp', '*'):
        raise MaintenanceError('listen_allow entry %r: protocol must be tcp, udp or *' % text)
    return {'proto': proto, 'address': address, 'port': port, 'process': None}


def _allowed(listener, rules):
    for rule in rules:
        if rule['proto'] not in ('*', listener['proto']):
            continue
        if rule['port'] != '*' and rule['port'] != listener['port']:
            continue
        if rule['address'] != '*' and rule['address'] != listener['address']:
            continue
        if rule.get('process') and not str(listener.get('process') or '').startswith(rule['process']):
            continue
        return True
    return False


def _is_loopback(address):
    return address.startswith('127.') or address == '::1'


def check_listeners(params):
    root = params.get('root') or '/'
    listeners = read_listeners(root)
    if listeners is None:
        return make_check('security.listeners', UNKNOWN, 'cannot read %s' % _under(root, '/proc/net/tcp'), priority='medium')
    if root == '/':
        names = socket_processes()
        for item in listeners:
            item['process'] = names.get(item['inode'])
    for item in listeners:
        item.pop('inode', None)
    allow = params.get('listen_allow')
    if allow is None:
        return make_check('security.listeners', OK, '%d listening socket(s); no allow-list given' % len(listeners),
                          value=len(listeners), unit='sockets', priority='low', details={'listeners': listeners})
    rules = [parse_allow_entry(e) for e in allow]
    findings = []
    for item in listeners:
        if params.get('listen_ignore_loopback') and _is_loopback(item['address']):
            continue
        if _allowed(item, rules):
            continue
        where = '%s %s:%d' % (item['proto'], '[%s]' % item['address'] if ':' in item['address'] else item['address'], item['port'])
        who = ' (%s)' % item['process'] if item.get('process') else ''
        severity = WARNING if _is_loopback(item['address']) else CRITICAL
        findings.append(finding(severity, 'listeners', where, 'unexpected listener %s%s' % (where, who),
                                address=item['address'], port=item['port'], proto=item['proto']))
    return category_check('security.listeners', findings, '%d listening socket(s), all in the allow-list' % len(listeners),
                          details={'listeners': listeners})


# ------------------------------------------------------------------ file walks

def walk(paths, excludes, one_filesystem=True, root='/'):
    """Yield ``(system_path, real_path, lstat)`` for every entry under ``paths``; never follows symlinks."""
    excludes = [e.rstrip('/') or '/' for e in excludes or []]
    for top in paths:
        real_top = _under(root, top)
        try:
            top_stat = os.lstat(real_top)
        except OSError:
            continue
        device = top_stat.st_dev
        stack = [(top, real_top)]
        while stack:
            system_path, real_path = stack.pop()
            if any(system_path == e or system_path.startswith(e + '/') for e in excludes):
                continue
            if root in ('/', None) and any(system_path == p or system_path.startswith(p + '/') for p in PSEUDO_FILESYSTEMS) \
                    and not any(t == system_path or system_path.startswith(t.rstrip('/') + '/') for t in paths if t in PSEUDO_FILESYSTEMS):
                continue
            try:
                info = os.lstat(real_path)
            except OSError:
                continue
            yield system_path, real_path, info
            if stat.S_ISDIR(info.st_mode) and not stat.S_ISLNK(info.st_mode):
                if one_filesystem and info.st_dev != device:
                    continue
                try:
                    names = os.listdir(real_path)
                except OSError:
                    continue
                for name in sorted(names, reverse=True):
                    stack.append((system_path.rstrip('/') + '/' + name, os.path.join(real_path, name)))


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        while True:
            chunk = handle.read(1024 * 1024)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def scan_files(params):
    """World-writable entries and SUID/SGID files under ``scan_paths``: ``(world_writable, suid)`` lists."""
    writable = []
    privileged = []
    for system_path, real_path, info in walk(params.get('scan_paths') or [], params.get('exclude_paths'),
                                             params.get('one_filesystem', True), params.get('root') or '/'):
        mode = info.st_mode
        if stat.S_ISLNK(mode):
            continue
        if mode & stat.S_IWOTH:
            if stat.S_ISDIR(mode):
                if not mode & stat.S_ISVTX:
                    writable.append({'path': system_path, 'mode': '%04o' % stat.S_IMODE(mode), 'type': 'directory'})
            elif stat.S_ISREG(mode):
                writable.append({'path': system_path, 'mode': '%04o' % stat.S_IMODE(mode), 'type': 'file'})
        if stat.S_ISREG(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
            try:
                digest = sha256_file(real_path)
            except (IOError, OSError):
                digest = None
            privileged.append({'path': system_path, 'mode': '%04o' % stat.S_IMODE(mode), 'uid': info.st_uid,
                               'gid': info.st_gid, 'suid': bool(mode & stat.S_ISUID), 'sgid': bool(mode & stat.S_ISGID),
                               'sha256': digest})
    return writable, privileged


def check_world_writable(params, writable):
    allowed = set(params.get('world_writable_allow') or [])
    findings = []
    for item in writable:
        if item['path'] in allowed:
            continue
        if item['type'] == 'file':
            findings.append(finding(CRITICAL, 'world_writable', item['path'], 'world-writable file %s (mode %s)'
                                    % (item['path'], item['mode']), mode=item['mode']))
        else:
            findings.append(finding(WARNING, 'world_writable', item['path'], 'world-writable directory without sticky bit %s '
                                    '(mode %s)' % (item['path'], item['mode']), mode=item['mode']))
    return category_check('security.world_writable', findings, 'no world-writable files under %s'
                          % ', '.join(params.get('scan_paths') or []), target=', '.join(params.get('scan_paths') or []))


def check_suid(params, privileged, baseline):
    allowed = set(params.get('suid_allow') or [])
    known = (baseline or {}).get('suid') or {}
    findings = []
    for item in privileged:
        kind = 'SUID' if item['suid'] else 'SGID'
        if item['suid'] and item['sgid']:
            kind = 'SUID+SGID'
        previous = known.get(item['path'])
        if item['path'] in allowed and (previous is None or previous.get('sha256') == item['sha256']):
            continue
        if previous is None:
            if baseline is None and params.get('suid_allow') is None:
                continue  # first run without an allow-list: the current set becomes the baseline (trust on first use)
            findings.append(finding(CRITICAL if item['suid'] else WARNING, 'suid', item['path'],
                                    'unexpected %s binary %s (mode %s, uid %d) not in the %s'
                                    % (kind, item['path'], item['mode'], item['uid'],
                                       'allow-list' if baseline is None else 'baseline or allow-list'), mode=item['mode']))
        elif previous.get('sha256') != item['sha256']:
            findings.append(finding(CRITICAL, 'suid', item['path'], '%s binary %s changed content since the baseline'
                                    % (kind, item['path']), mode=item['mode']))
        elif previous.get('mode') != item['mode'] or previous.get('uid') != item['uid']:
            findings.append(finding(WARNING, 'suid', item['path'], '%s binary %s changed mode/owner (%s uid %s -> %s uid %s)'
                                    % (kind, item['path'], previous.get('mode'), previous.get('uid'), item['mode'], item['uid'])))
    first = ' (baseline created now)' if baseline is None else ''
    return category_check('security.suid_sgid', findings, '%d SUID/SGID file(s), all expected%s' % (len(privileged), first),
                          target=', '.join(params.get('scan_paths') or []),
                          details={'suid_sgid': [i['path'] for i in privileged]})


# ------------------------------------------------------------------ sshd

def run_sshd(params):
    """``(settings dict or None, error or None)`` from ``sshd -T`` or the captured ``sshd_output``."""
    output = params.get('sshd_output')
    if output is None:
        command = list(params.get('sshd_command') or ['sshd', '-T'])
        binary = command[0]
        if not os.path.isabs(binary):
            found = shutil.which(binary) or next((p for p in (os.path.join(d, binary) for d in ('/usr/sbin', '/sbin'))
                                                  if os.path.exists(p)), None)
            if found is None:
                return None, 'not installed'
            command[0] = found
        if params.get('sshd_config'):
            command += ['-f', params['sshd_config']]
        try:
            proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, 'cannot run %s: %s' % (' '.join(command), exc)
        if proc.returncode != 0:
            message = proc.stderr.decode('utf-8', 'replace').strip().splitlines()
            return None, '%s exited %d: %s' % (' '.join(command), proc.returncode, '; '.join(message[-3:]) or 'no message')
        output = proc.stdout.decode('utf-8', 'replace')
    settings = {}
    for line in output.splitlines():
        parts = line.strip().split(None, 1)
        if not parts or parts[0].startswith('#'):
            continue
        key = parts[0].lower()
        value = parts[1].strip() if len(parts) > 1 else ''
        settings[key] = value if key not in settings else settings[key] + ' ' + value
    if not settings:
        return None, 'sshd -T gave no settings'
    return settings, None


def _policy_ok(actual, expected):
    if actual is None:
        return False
    if isinstance(expected, (list, tuple)):
        return any(_policy_ok(actual, e) for e in expected)
    expected = str(expected).strip()
    for op in ('<=', '>='):
        if expected.startswith(op):
            try:
                number = float(actual.split()[0])
                limit = float(expected[2:])
            except (ValueError, IndexError):
                return False
            return number <= limit if op == '<=' else number >= limit
    return actual.lower() == expected.lower()


def check_sshd(params):
    settings, error = run_sshd(params)
    if error == 'not installed':
        return make_check('security.sshd', OK, 'sshd is not installed; no SSH server settings to check', priority='low')
    if error:
        return make_check('security.sshd', UNKNOWN, error, priority='medium')
    policy = params.get('sshd_policy')
    if policy is None:
        policy = DEFAULT_SSHD_POLICY
    findings = []
    for key in sorted(policy):
        expected = policy[key]
        actual = settings.get(key.lower())
        if not _policy_ok(actual, expected):
            shown = ' or '.join(expected) if isinstance(expected, (list, tuple)) else expected
            findings.append(finding(CRITICAL, 'sshd', key, 'sshd %s is %s, policy wants %s' % (key, actual or 'unset', shown),
                                    actual=actual, expected=expected))
    return category_check('security.sshd', findings, 'sshd effective settings match the policy (%d settings)' % len(policy),
                          target=params.get('sshd_config') or 'sshd -T',
                          details={'effective': dict((k.lower(), settings.get(k.lower())) for k in policy)})


# ------------------------------------------------------------------ accounts

def check_accounts(params):
    root = params.get('root') or '/'
    passwd_path, shadow_path = _under(root, '/etc/passwd'), _under(root, '/etc/shadow')
    allowed_uid0 = set(params.get('uid0_allow') or ['root'])
    findings = []
    users = []
    try:
        with open(passwd_path) as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError) as exc:
        return make_check('security.accounts', UNKNOWN, 'cannot read %s: %s' % (passwd_path, exc), priority='medium')
    for line in lines:
        fields = line.split(':')
        if len(fields) < 7 or line.startswith('#'):
            continue
        name, password, uid = fields[0], fields[1], fields[2]
        users.append(name)
        if uid == '0' and name not in allowed_uid0:
            findings.append(finding(CRITICAL, 'accounts', name, 'account %s has UID 0 (root privileges)' % name))
        if password == '':
            findings.append(finding(CRITICAL, 'accounts', name, 'account %s has an empty password in passwd' % name))
    shadow_error = None
    try:
        with open(shadow_path) as handle:
            shadow = handle.read().splitlines()
    except (IOError, OSError) as exc:
        shadow = []
        shadow_error = 'cannot read %s: %s' % (shadow_path, exc.strerror or exc)
    for line in shadow:
        fields = line.split(':')
        if len(fields) < 2:
            continue
        if fields[1] == '':
            findings.append(finding(CRITICAL, 'accounts', fields[0], 'account %s has an empty password (shadow)' % fields[0]))
    check = category_check('security.accounts', findings, '%d account(s): no extra UID 0, no empty password' % len(users),
                           target=passwd_path)
    if shadow_error and not findings:
        return make_check('security.accounts', UNKNOWN, 'no extra UID 0 account; ' + shadow_error, priority='medium',
                          target=passwd_path)
    return check


# ------------------------------------------------------------------ integrity

def integrity_snapshot(params):
    root = params.get('root') or '/'
    result = {}
    errors = []
    files = []
    for path in params.get('integrity_paths') or []:
        real = _under(root, path)
        if os.path.isdir(real) and not os.path.islink(real):
            for system_path, real_path, info in walk([path], params.get('exclude_paths'), True, root):
                if stat.S_ISREG(info.st_mode):
                    files.append((system_path, real_path))
        else:
            files.append((path, real))
    limit = params.get('integrity_max_files') or 20000
    for system_path, real_path in files[:limit]:
        try:
            info = os.lstat(real_path)
            if stat.S_ISLNK(info.st_mode):
                result[system_path] = {'link': os.readlink(real_path), 'mode': 'link', 'uid': info.st_uid, 'gid': info.st_gid}
                continue
            result[system_path] = {'sha256': sha256_file(real_path), 'mode': '%04o' % stat.S_IMODE(info.st_mode),
                                   'uid': info.st_uid, 'gid': info.st_gid, 'size': info.st_size}
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                continue
            errors.append('%s: %s' % (system_path, exc.strerror or exc))
    return result, errors, len(files) > limit


def check_integrity(params, snapshot, errors, truncated, baseline):
    known = (baseline or {}).get('integrity')
    findings = []
    if known is not None:
        for path in sorted(set(known) | set(snapshot)):
            before, after = known.get(path), snapshot.get(path)
            if before is None:
                findings.append(finding(WARNING, 'integrity', path, '%s is new since the baseline' % path))
            elif after is None:
                findings.append(finding(WARNING, 'integrity', path, '%s was removed since the baseline' % path))
            elif before.get('sha256') != after.get('sha256') or before.get('link') != after.get('link'):
                findings.append(finding(WARNING, 'integrity', path, '%s content changed since the baseline' % path,
                                        before=before.get('sha256'), after=after.get('sha256')))
            elif (before.get('mode'), before.get('uid'), before.get('gid')) != (after.get('mode'), after.get('uid'), after.get('gid')):
                findings.append(finding(WARNING, 'integrity', path, '%s mode/owner changed (%s %s:%s -> %s %s:%s)' % (
                    path, before.get('mode'), before.get('uid'), before.get('gid'), after.get('mode'), after.get('uid'),
                    after.get('gid'))))
    for error in errors:
        findings.append(finding(UNKNOWN, 'integrity', error.split(':')[0], 'cannot hash %s' % error))
    suffix = ' (baseline created now)' if known is None else ''
    if truncated:
        suffix += '; only the first %d files were hashed' % (params.get('integrity_max_files') or 20000)
    return category_check('security.integrity', findings, '%d file(s) unchanged since the baseline%s' % (len(snapshot), suffix),
                          priority='high' if findings else None, details={'files': len(snapshot)})


# ------------------------------------------------------------------ updates

def check_updates(params):
    pending = params.get('pending_security_updates')
    names = []
    for entry in pending:
        if isinstance(entry, dict):
            if entry.get('security', True):
                names.append(str(entry.get('name') or entry.get('package') or entry))
        else:
            names.append(str(entry))
    check = evaluate('security.pending_updates', len(names), threshold_for(params.get('thresholds'), 'security_pending_updates'),
                     label='pending security updates', unit='updates', details={'packages': names[:200]})
    if names and check['status'] != OK:
        check['reason'] += ': ' + ', '.join(names[:MAX_FINDINGS_SHOWN]) + (' ...' if len(names) > MAX_FINDINGS_SHOWN else '')
    return check


# ------------------------------------------------------------------ baseline

def read_baseline(path):
    if not path:
        return None
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise MaintenanceError('Cannot read the security baseline %s: %s' % (path, exc))
    except ValueError as exc:
        raise MaintenanceError('The security baseline %s is not valid JSON (%s); move it away to create a new one' % (path, exc))
    if not isinstance(data, dict):
        raise MaintenanceError('The security baseline %s must hold a JSON object' % path)
    return data


def write_baseline(path, data):
    directory = os.path.dirname(path) or '.'
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        handle, temp = tempfile.mkstemp(prefix='.security-baseline-', dir=directory)
        with os.fdopen(handle, 'w') as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except (IOError, OSError) as exc:
        raise MaintenanceError('Cannot write the security baseline %s: %s' % (path, exc))


# ------------------------------------------------------------------ the module's work

def scan(params, check_mode=False, now=None):
    """Run the enabled categories; returns ``(checks, extra, changed)``.

    The baseline (state of the scanned host) is locked from read to write: an overlapping scan waits for this one
    and compares with the baseline it wrote, instead of both creating or accepting one and the last write winning.
    """
    baseline_path = params.get('baseline_file')
    lock = None
    if baseline_path and not check_mode:
        lock = FileLock(os.path.expanduser(baseline_path), 'security baseline').acquire()
    try:
        return _scan(params, check_mode, now)
    finally:
        if lock is not None:
            lock.release()


def _scan(params, check_mode=False, now=None):
    now = now or utc_now()
    enabled = list(params.get('categories') or CATEGORIES)
    for path in (params.get('scan_paths') or []) + (params.get('integrity_paths') or []):
        if not str(path).startswith('/'):
            raise MaintenanceError('scan_paths and integrity_paths must be absolute paths, not %r' % path)
    baseline_path = params.get('baseline_file')
    baseline_path = os.path.expanduser(baseline_path) if baseline_path else None
    baseline = read_baseline(baseline_path)
    checks = []
    new_baseline = dict(baseline or {})
    if 'listeners' in enabled:
        checks.append(check_listeners(params))
    if ('world_writable' in enabled or 'suid' in enabled) and params.get('scan_paths'):
        writable, privileged = scan_files(params)
        if 'world_writable' in enabled:
            checks.append(check_world_writable(params, writable))
        if 'suid' in enabled:
            suid_baseline = baseline if baseline is not None and 'suid' in baseline else None
            checks.append(check_suid(params, privileged, suid_baseline if baseline_path else {'suid': {}}))
            new_baseline['suid'] = dict((i['path'], {'mode': i['mode'], 'uid': i['uid'], 'sha256': i['sha256']})
                                        for i in privileged)
    if 'sshd' in enabled:
        checks.append(check_sshd(params))
    if 'accounts' in enabled:
        checks.append(check_accounts(params))
    if 'integrity' in enabled and params.get('integrity_paths'):
        snapshot, errors, truncated = integrity_snapshot(params)
        integrity_baseline = baseline if baseline is not None and 'integrity' in baseline else None
        checks.append(check_integrity(params, snapshot, errors, truncated,
                                      integrity_baseline if baseline_path else {'integrity': snapshot}))
        new_baseline['integrity'] = snapshot
    if 'updates' in enabled and params.get('pending_security_updates') is not None:
        checks.append(check_updates(params))

    changed = False
    baseline_action = 'none'
    if baseline_path:
        missing = [k for k in ('suid', 'integrity') if k in new_baseline and (baseline is None or k not in baseline)]
        if params.get('accept_changes') and baseline is not None:
            differs = any(new_baseline.get(k) != baseline.get(k) for k in ('suid', 'integrity') if k in new_baseline)
        else:
            differs = False
        if missing or differs:
            baseline_action = 'created' if baseline is None else ('updated' if differs else 'extended')
            new_baseline['version'] = 1
            new_baseline['updated_at'] = iso_utc(now)
            new_baseline.setdefault('created_at', iso_utc(now))
            changed = True
            if not check_mode:
                write_baseline(baseline_path, new_baseline)
    findings = []
    for check in checks:
        findings.extend((check.get('details') or {}).get('findings') or [])
    extra = {'findings': findings, 'baseline': {'path': baseline_path, 'action': baseline_action}}
    return checks, extra, changed


def run(params, check_mode=False, host=None):
    """The security_scan module's entry (``result.Report``)."""
    checks, extra, changed = scan(params, check_mode=check_mode)
    return Report(checks, changed=changed, data=extra)
