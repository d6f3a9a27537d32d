# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Forensic evidence preservation: collect, pack, hash, record custody, verify.

Order of collection follows the order of volatility (RFC 3227): processes,
network connections, logged-in users, open files, kernel modules first; then
logs, shell histories, the package list and hashes of the running executables.

The archive ``<name>.tar.gz`` holds the collected files plus ``MANIFEST.sha256``
(``sha256sum`` format, relative paths) and ``collection.json`` (what was run,
when, exit codes, skipped items). Beside it:

* ``<name>.tar.gz.sha256`` -- the archive hash in ``sha256sum -c`` format;
* ``<name>.custody.jsonl`` -- the chain-of-custody log, one JSON object per event
  (collected, fetched, verified): who, when (UTC), where from, the archive hash.

``verify_archive`` recomputes every hash; a changed, added or missing byte fails.
Plain Python: unit tests import it without Ansible.
"""

import functools
import getpass
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import basic_utc, iso_utc, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

MANIFEST = 'MANIFEST.sha256'
COLLECTION_LOG = 'collection.json'
CATEGORIES = ('processes', 'network', 'users', 'open_files', 'kernel_modules',
              'logs', 'shell_histories', 'packages', 'executable_hashes')
"""In order of volatility: the first five are volatile."""

HISTORY_PATTERNS = ('/root/.*history', '/home/*/.*history', '/root/.local/share/fish/fish_history',
                    '/home/*/.local/share/fish/fish_history')

# Each volatile category: commands tried in order (all that exist run), plus a /proc fallback.
COMMANDS = {
    'processes': [('ps.txt', ['ps', 'auxwwf'])],
    'network': [('ss.txt', ['ss', '-tunapeo']), ('ip_addr.txt', ['ip', 'addr']), ('ip_route.txt', ['ip', 'route']),
                ('ip_neigh.txt', ['ip', 'neigh']), ('netstat.txt', ['netstat', '-tunap'])],
    'users': [('who.txt', ['who', '-a']), ('w.txt', ['w']), ('last.txt', ['last', '-n', '200'])],
    'open_files': [('lsof.txt', ['lsof', '-n', '-P'])],
    'kernel_modules': [('lsmod.txt', ['lsmod'])],
    'packages': [('dpkg.txt', ['dpkg-query', '-W', '-f', '${Package}\t${Version}\t${Architecture}\n']),
                 ('rpm.txt', ['rpm', '-qa', '--queryformat', '%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n']),
                 ('apk.txt', ['apk', 'info', '-v'])],
}
PROC_COPIES = {
    'network': ['/proc/net/tcp', '/proc/net/tcp6', '/proc/net/udp', '/proc/net/udp6', '/proc/net/unix'],
    'users': ['/var/run/utmp', '/var/log/wtmp'],
    'kernel_modules': ['/proc/modules'],
}


def sha256_file(path, chunk=1024 * 1024):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def _who():
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry for the uid (containers)
        user = str(os.getuid())
    return {'user': user, 'uid': os.getuid(), 'sudo_user': os.environ.get('SUDO_USER'),
            'host': socket.gethostname(), 'from': (os.environ.get('SSH_CLIENT') or 'local').split(' ')[0]}


class Collector(object):
    """Writes the evidence of one host into a staging directory, logging every step."""

    def __init__(self, staging, proc='/proc', max_file_bytes=100 * 1024 * 1024, command_timeout=60):
        self.staging = staging
        self.proc = proc
        self.max_file_bytes = max_file_bytes
        self.command_timeout = command_timeout
        self.log = []

    def _path(self, category, name):
        directory = os.path.join(self.staging, category)
        if not os.path.isdir(directory):
            os.makedirs(directory)
        return os.path.join(directory, name)

    def command(self, category, name, argv):
        if not shutil.which(argv[0]):
            self.log.append({'category': category, 'item': name, 'command': argv, 'skipped': 'not installed'})
            return
        started = iso_utc(utc_now())
        try:
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=self.command_timeout,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.log.append({'category': category, 'item': name, 'command': argv, 'at': started, 'error': str(exc)})
            return
        with open(self._path(category, name), 'wb') as out:
            out.write(proc.stdout)
            if proc.stderr:
                out.write(b'\n# stderr:\n' + proc.stderr)
        self.log.append({'category': category, 'item': '%s/%s' % (category, name), 'command': argv, 'at': started,
                         'rc': proc.returncode})

    def copy(self, category, source, name=None):
        name = name or source.strip('/').replace('/', '_')
        try:
            size = os.path.getsize(source) if not source.startswith('/proc/') else None
        except OSError as exc:
            self.log.append({'category': category, 'item': source, 'error': str(exc)})
            return
        if size is not None and size > self.max_file_bytes:
            # too large to pack: its hash still pins the original
            self.log.append({'category': category, 'item': source, 'skipped': 'larger than max_file_bytes',
                             'size': size, 'sha256': _safe_hash(source)})
            return
        try:
            with open(source, 'rb') as src, open(self._path(category, name), 'wb') as out:
                shutil.copyfileobj(src, out)
            try:
                stat = os.stat(source)
                meta = {'mtime': stat.st_mtime, 'mode': oct(stat.st_mode), 'uid': stat.st_uid}
            except OSError:
                meta = {}
        except (IOError, OSError) as exc:
            self.log.append({'category': category, 'item': source, 'error': str(exc)})
            return
        entry = {'category': category, 'item': '%s/%s' % (category, name), 'source': source, 'at': iso_utc(utc_now())}
        entry.update(meta)
        self.log.append(entry)

    def write_json(self, category, name, data):
        with open(self._path(category, name), 'w') as out:
            json.dump(data, out, indent=1, sort_keys=True, default=str)
        self.log.append({'category': category, 'item': '%s/%s' % (category, name), 'at': iso_utc(utc_now()), 'source': 'python'})

    # -- the /proc readers (work where ps/ss/lsof are missing)
    def _pids(self):
        return sorted(int(p) for p in os.listdir(self.proc) if p.isdigit())

    def proc_processes(self):
        rows = []
        for pid in self._pids():
            base = os.path.join(self.proc, str(pid))
            row = {'pid': pid}
            try:
                with open(os.path.join(base, 'cmdline'), 'rb') as handle:
                    row['cmdline'] = handle.read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
                with open(os.path.join(base, 'status')) as handle:
                    for line in handle:
                        key, _sep, value = line.partition(':')
                        if key in ('Name', 'PPid', 'Uid', 'State'):
                            row[key.lower()] = value.strip()
                row['exe'] = _readlink(os.path.join(base, 'exe'))
                row['cwd'] = _readlink(os.path.join(base, 'cwd'))
            except (IOError, OSError):
                continue  # the process ended meanwhile
            rows.append(row)
        return rows

    def proc_open_files(self):
        rows = []
        for pid in self._pids():
            fd_dir = os.path.join(self.proc, str(pid), 'fd')
            try:
                fds = os.listdir(fd_dir)
            except OSError:
                continue
            for fd in fds:
                target = _readlink(os.path.join(fd_dir, fd))
                if target:
                    rows.append({'pid': pid, 'fd': int(fd), 'target': target})
        return rows

    def executable_hashes(self):
        seen = {}
        for pid in self._pids():
            exe = _readlink(os.path.join(self.proc, str(pid), 'exe'))
            if not exe:
                continue
            entry = seen.setdefault(exe, {'path': exe, 'pids': []})
            entry['pids'].append(pid)
            if 'sha256' not in entry and 'error' not in entry:
                # read through /proc/<pid>/exe: works even when the file was deleted from disk
                try:
                    entry['sha256'] = sha256_file(os.path.join(self.proc, str(pid), 'exe'))
                except (IOError, OSError) as exc:
                    entry['error'] = str(exc)
                entry['deleted'] = exe.endswith(' (deleted)')
        return sorted(seen.values(), key=lambda e: e['path'])

    def collect(self, categories, log_paths, history_patterns=HISTORY_PATTERNS, extra_paths=None):
        for category in CATEGORIES:
            if category not in categories:
                continue
            for name, argv in COMMANDS.get(category, []):
                self.command(category, name, argv)
            for source in PROC_COPIES.get(category, []):
                if os.path.exists(source):
                    self.copy(category, source)
            if category == 'processes':
                self.write_json(category, 'proc_processes.json', self.proc_processes())
            elif category == 'open_files':
                self.write_json(category, 'proc_fds.json', self.proc_open_files())
            elif category == 'logs':
                for root in log_paths:
                    for path in _walk(root):
                        self.copy('logs', path)
            elif category == 'shell_histories':
                for pattern in history_patterns:
                    for path in sorted(glob.glob(pattern)):
                        if os.path.isfile(path):
                            self.copy('shell_histories', path)
            elif category == 'executable_hashes':
                self.write_json(category, 'running_executables.json', self.executable_hashes())
        for path in extra_paths or []:
            for item in _walk(path):
                self.copy('extra', item)
        return self.log


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return None


def _safe_hash(path):
    try:
        return sha256_file(path)
    except (IOError, OSError):
        return None


def _walk(root):
    if os.path.isfile(root):
        return [root]
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                found.append(path)
    return sorted(found)


def write_manifest(staging):
    """``MANIFEST.sha256`` over every file in ``staging`` (sha256sum format). Returns {relpath: hash}."""
    hashes = {}
    for path in _walk(staging):
        rel = os.path.relpath(path, staging)
        if rel == MANIFEST:
            continue
        hashes[rel] = sha256_file(path)
    with open(os.path.join(staging, MANIFEST), 'w') as out:
        for rel in sorted(hashes):
            out.write('%s  %s\n' % (hashes[rel], rel))
    return hashes


def _add_custody(path, event):
    try:
        with open(path, 'a') as out:
            out.write(json.dumps(event, sort_keys=True) + '\n')
    except (IOError, OSError) as exc:
        raise MaintenanceError('cannot append to the custody log %s: %s' % (path, exc))


def _read_custody(custody_log):
    """``(events, problems)``: the JSON events of the log, and a sentence for each line that is not one."""
    events, problems = [], []
    if not os.path.isfile(custody_log):
        return events, problems
    with open(custody_log, 'rb') as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line.decode('utf-8'))
            except ValueError:
                event = None
            if isinstance(event, dict):
                events.append(event)
            else:
                problems.append('line %d of the custody log %s is not JSON' % (number, custody_log))
    return events, problems


def collect_evidence(dest_dir, incident_id, categories=CATEGORIES, log_paths=('/var/log',),
                     history_patterns=HISTORY_PATTERNS, extra_paths=None, max_file_bytes=100 * 1024 * 1024,
                     host=None, proc='/proc', reason='', stamp=None):
    """Collect, pack, hash; return the paths, archive hash and collection log."""
    if not incident_id or '/' in incident_id or incident_id.startswith('.'):
        raise MaintenanceError('incident_id %r must be a plain name (letters, digits, dashes)' % incident_id)
    host = host or socket.gethostname()
    name = '-'.join(p for p in (incident_id, host, stamp) if p)
    if not os.path.isdir(dest_dir):
        try:
            os.makedirs(dest_dir, 0o700)
        except (IOError, OSError) as exc:
            raise MaintenanceError('cannot create the evidence directory %s: %s' % (dest_dir, exc))
    archive = os.path.join(dest_dir, name + '.tar.gz')
    started = iso_utc(utc_now())
    staging = tempfile.mkdtemp(prefix='evidence-', dir=dest_dir)
    try:
        root = os.path.join(staging, name)
        os.makedirs(root)
        collector = Collector(root, proc=proc, max_file_bytes=max_file_bytes)
        log = collector.collect(categories, log_paths, history_patterns, extra_paths)
        with open(os.path.join(root, COLLECTION_LOG), 'w') as out:
            json.dump({'incident_id': incident_id, 'host': host, 'started': started, 'finished': iso_utc(utc_now()),
                       'collected_by': _who(), 'categories': [c for c in CATEGORIES if c in categories],
                       'reason': reason, 'steps': log}, out, indent=1, sort_keys=True, default=str)
        hashes = write_manifest(root)
        partial = archive + '.partial'
        with tarfile.open(partial, 'w:gz') as tar:
            tar.add(root, arcname=name)
        os.chmod(partial, 0o600)
        os.rename(partial, archive)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    digest = sha256_file(archive)
    with open(archive + '.sha256', 'w') as out:
        out.write('%s  %s\n' % (digest, os.path.basename(archive)))
    custody = os.path.join(dest_dir, name + '.custody.jsonl')
    who = _who()
    _add_custody(custody, {'event': 'collected', 'at': iso_utc(utc_now()), 'by': who['user'], 'sudo_user': who['sudo_user'],
                           'on': host, 'from': who['from'], 'archive': os.path.basename(archive),
                           'sha256': digest, 'files': len(hashes), 'reason': reason})
    return {'archive': archive, 'sha256': digest, 'checksum_file': archive + '.sha256', 'custody_log': custody,
            'files': len(hashes), 'size': os.path.getsize(archive),
            'not_collected': [s for s in log if 'skipped' in s or 'error' in s]}


def plan_evidence(categories, log_paths, history_patterns=HISTORY_PATTERNS):
    """What a collection would gather (check mode): commands and files per category."""
    plan = []
    for category in CATEGORIES:
        if category not in categories:
            continue
        item = {'category': category,
                'commands': [' '.join(a) for _n, a in COMMANDS.get(category, []) if shutil.which(a[0])]}
        if category == 'logs':
            item['files'] = sum(len(_walk(p)) for p in log_paths)
        elif category == 'shell_histories':
            item['files'] = sum(len(glob.glob(p)) for p in history_patterns)
        plan.append(item)
    return plan


def read_manifest(text):
    entries = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, rel = line.partition('  ')
        if not sep or len(digest) != 64:
            raise ValueError('manifest line %d is not "<sha256>  <path>"' % number)
        entries[rel] = digest
    return entries


def verify_archive(archive, expected_sha256=None, custody_log=None):
    """Verify an evidence archive. Returns ``{'ok': bool, 'problems': [...], 'sha256':, 'files':}``.

    Checks: the archive hash against ``expected_sha256`` (or the ``.sha256`` file beside it, and the
    ``collected`` event of the custody log), then every member against ``MANIFEST.sha256``, and that no
    member is missing from or added to the manifest.
    """
    problems = []
    if not os.path.isfile(archive):
        return {'ok': False, 'problems': ['archive %s does not exist' % archive], 'sha256': None, 'files': 0}
    digest = sha256_file(archive)
    expected = []
    if expected_sha256:
        expected.append(('given hash', expected_sha256.strip().lower()))
    side = archive + '.sha256'
    if os.path.isfile(side):
        with open(side) as handle:
            expected.append(('%s' % os.path.basename(side), handle.read().split()[0].lower()))
    if custody_log:
        events, unreadable = _read_custody(custody_log)
        problems.extend(unreadable)
        for event in events:
            if event.get('event') == 'collected':
                expected.append(('custody log', event.get('sha256')))
    if not expected:
        problems.append('no expected archive hash: give one, or keep the .sha256 file or custody log beside it')
    for label, value in expected:
        if value != digest:
            problems.append('archive hash %s does not match the %s (%s)' % (digest, label, value))
    files = 0
    try:
        with tarfile.open(archive, 'r:gz') as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            manifest_member = [m for m in members if os.path.basename(m.name) == MANIFEST]
            if len(manifest_member) != 1:
                problems.append('the archive holds %d %s files, expected 1' % (len(manifest_member), MANIFEST))
                return {'ok': False, 'problems': problems, 'sha256': digest, 'files': 0}
            top = os.path.dirname(manifest_member[0].name)
            manifest = read_manifest(tar.extractfile(manifest_member[0]).read().decode('utf-8'))
            seen = set()
            for member in members:
                if member is manifest_member[0]:
                    continue
                rel = os.path.relpath(member.name, top)
                seen.add(rel)
                handle = tar.extractfile(member)
                actual = hashlib.sha256()
                for block in iter(functools.partial(handle.read, 1024 * 1024), b''):
                    actual.update(block)
                files += 1
                if rel not in manifest:
                    problems.append('%s is in the archive but not in the manifest' % rel)
                elif manifest[rel] != actual.hexdigest():
                    problems.append('%s: sha256 %s does not match the manifest (%s)'
                                    % (rel, actual.hexdigest(), manifest[rel]))
            for rel in sorted(set(manifest) - seen):
                problems.append('%s is in the manifest but missing from the archive' % rel)
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError) as exc:
        problems.append('cannot read the archive: %s' % exc)
    return {'ok': not problems, 'problems': problems, 'sha256': digest, 'files': files}


def record_custody(custody_log, event, archive, sha256, **extra):
    who = _who()
    entry = {'event': event, 'at': iso_utc(utc_now()), 'by': who['user'], 'sudo_user': who['sudo_user'], 'on': who['host'],
             'from': who['from'], 'archive': os.path.basename(archive), 'sha256': sha256}
    entry.update(extra)
    _add_custody(custody_log, entry)
    return entry


def custody_events(custody_log):
    """The events of the custody log (lines that are not JSON are left out: verify_archive reports them)."""
    return _read_custody(custody_log)[0]


def collect_result(params, check_mode=False):
    """The evidence_collect module's work: (result dict, ``incident.evidence`` check)."""
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import make_check
    if params['max_file_bytes'] <= 0:
        raise MaintenanceError('max_file_bytes must be positive, not %d' % params['max_file_bytes'])
    stamp = basic_utc(utc_now())
    incident_id = params['incident_id']
    if check_mode:
        plan = plan_evidence(params['categories'], params['log_paths'], params['history_patterns'])
        check = make_check('incident.evidence', 'ok', 'would preserve %s into %s' % (
            ', '.join(p['category'] for p in plan), params['dest']), value=None, priority='high',
            target=params['dest'])
        return {'plan': plan}, check
    result = collect_evidence(params['dest'], '%s' % incident_id, categories=params['categories'],
                              log_paths=params['log_paths'], history_patterns=params['history_patterns'],
                              extra_paths=params['extra_paths'], max_file_bytes=params['max_file_bytes'],
                              reason=params['reason'], stamp=stamp)
    errors = [s for s in result['not_collected'] if 'error' in s]
    status = 'warning' if errors else 'ok'
    reason = '%d files preserved in %s (sha256 %s)' % (result['files'], os.path.basename(result['archive']),
                                                       result['sha256'][:16])
    if errors:
        reason += '; %d item(s) could not be read: %s' % (len(errors), ', '.join(str(e['item']) for e in errors[:5]))
    check = make_check('incident.evidence', status, reason, value=result['files'], unit='files', priority='high',
                       target=result['archive'], details={'sha256': result['sha256'], 'size': result['size']})
    return result, check


def default_custody_log(archive):
    base = archive[:-len('.tar.gz')] if archive.endswith('.tar.gz') else archive
    return base + '.custody.jsonl'


def verify_result(params, check_mode=False):
    """The evidence_verify module's work: (result dict, ``incident.evidence_integrity`` check, changed)."""
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import make_check
    archive = params['archive']
    custody_log = params.get('custody_log') or default_custody_log(archive)
    outcome = verify_archive(archive, params.get('expected_sha256'), custody_log)
    changed = False
    if params.get('record', True) and os.path.isfile(archive) and not check_mode:
        record_custody(custody_log, (params.get('event') or 'verified') if outcome['ok'] else 'verification_failed',
                       archive, outcome['sha256'], files=outcome['files'], problems=outcome['problems'][:20])
        changed = True
    if outcome['ok']:
        check = make_check('incident.evidence_integrity', 'ok', '%d files verified against the manifest; archive '
                           'sha256 %s matches' % (outcome['files'], outcome['sha256'][:16]), value=True,
                           priority='high', target=archive)
    else:
        check = make_check('incident.evidence_integrity', 'critical', 'evidence does not verify: %s' % '; '.join(
            outcome['problems'][:5]), value=False, priority='high', target=archive,
            details={'problems': outcome['problems'][:50]})
    return {'verified': outcome['ok'], 'problems': outcome['problems'], 'sha256': outcome['sha256'],
            'files': outcome['files'], 'custody': custody_events(custody_log)}, check, changed
