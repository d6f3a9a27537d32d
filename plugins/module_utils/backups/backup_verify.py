# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Backup verification (``backup_verify``): completion, size, integrity, storage, test restore.

``verify_sets(sets, thresholds, ...)`` returns ``(checks, report)``: the checks in
the collection's result model and a report per set (what was found, the restore
evidence). Every check of every set runs; a broken set never stops the others.
Thresholds come from ``maintenance_thresholds`` by name (``backup_age``,
``backup_shrink``, ``backup_volume_used``, ``backup_growth``,
``backup_restore_duration``, ``backup_row_count_drift``); no limit is hard-coded here.
"""

import json
import math
import os
import tempfile
import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_from_epoch_exact
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups import files as bf
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups import restore as br
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups.tools import check_pgbackrest, check_restic
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.redact import NO_LOG_MIN_LENGTH, location_secrets
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.state_store import FileLock
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    OK,
    Report,
    WARNING,
    critical,
    evaluate,
    make_check,
    ok,
    unknown,
)

SET_DEFAULTS = {
    'pattern': '*',
    'files': None,
    'kind': 'auto',
    'manifest': None,
    'checksum_suffix': None,
    'completion_marker': None,
    'partial_patterns': list(bf.DEFAULT_PARTIAL_PATTERNS),
    'exclude': [],
    'min_size': 1,
    'integrity_scope': 'all',
    'read_through': True,
    'age_threshold': 'backup_age',
    'shrink_threshold': 'backup_shrink',
    'volume_threshold': 'backup_volume_used',
    'growth_threshold': 'backup_growth',
    'retention': None,
    'restore': None,
}

RESTORE_DEFAULTS = {
    'enabled': True,
    'scratch_prefix': 'apcx_restore_',
    'jobs': 1,
    'no_owner': True,
    'skip_extensions': [],
    'map_roles': {},
    'timeout': 3600,
    'validations': [],
    'row_counts_file': None,
    'source_db': None,
    'scratch_dir': None,
    'duration_threshold': 'backup_restore_duration',
    'drift_threshold': 'backup_row_count_drift',
}


def normalize_set(spec):
    """Fill defaults and validate one set description (raises ``MaintenanceError`` with a clear message)."""
    if not isinstance(spec, dict):
        raise MaintenanceError('each backup set must be a mapping, not %r' % (spec,))
    result = dict(SET_DEFAULTS)
    result.update(dict((k, v) for k, v in spec.items() if v is not None))
    if not result.get('name'):
        raise MaintenanceError('a backup set needs a name')
    if not result.get('path') and not result.get('files'):
        raise MaintenanceError('backup set %s: give path (a directory) or files (explicit paths)' % result['name'])
    if result['kind'] not in bf.KINDS:
        raise MaintenanceError('backup set %s: kind must be one of %s, not %r'
                               % (result['name'], ', '.join(bf.KINDS), result['kind']))
    if result['integrity_scope'] not in ('all', 'newest'):
        raise MaintenanceError('backup set %s: integrity_scope must be all or newest' % result['name'])
    if not result.get('path'):
        result['path'] = os.path.dirname(os.path.abspath(result['files'][0]))
    for option, value in (('manifest', result.get('manifest')), ('completion_marker', result.get('completion_marker')),
                          ('restore.row_counts_file', (result.get('restore') or {}).get('row_counts_file'))):
        if value and bf.unsafe_name(value):
            raise MaintenanceError('backup set %s: sets[].%s must name a file inside sets[].path (relative, no ..),'
                                   ' not %r (%s)' % (result['name'], option, value, bf.unsafe_name(value)))
    if result.get('checksum_suffix') and ('/' in result['checksum_suffix'] or '\0' in result['checksum_suffix']):
        raise MaintenanceError('backup set %s: sets[].checksum_suffix is a file name suffix (like .sha256), not %r'
                               % (result['name'], result['checksum_suffix']))
    for key, value in sorted((result.get('retention') or {}).items()):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value)
                                  or value in (float('inf'), float('-inf'))):
            # NaN compares false: a NaN limit would never be breached
            raise MaintenanceError('backup set %s: sets[].retention.%s must be a finite number, not %r'
                                   % (result['name'], key, value))
    if result.get('restore') is not None:
        restore = dict(RESTORE_DEFAULTS)
        restore.update(dict((k, v) for k, v in result['restore'].items() if v is not None))
        if restore['jobs'] < 1:
            raise MaintenanceError('backup set %s: restore.jobs must be at least 1' % result['name'])
        skip = restore['skip_extensions']
        if not isinstance(skip, list) or not all(isinstance(n, str) and n.strip() for n in skip):
            raise MaintenanceError('backup set %s: restore.skip_extensions must be a list of extension names (or all)'
                                   % result['name'])
        roles = restore['map_roles']
        if not isinstance(roles, dict) or not all(isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip()
                                                  for k, v in roles.items()):
            raise MaintenanceError('backup set %s: restore.map_roles must map role names of the dump to roles of the'
                                   ' restore server (or CURRENT_USER), like {app_owner: CURRENT_USER}; "*" maps every'
                                   ' role the server lacks, not %r' % (result['name'], roles))
        result['restore'] = restore
    return result


def _roles_said(roles):
    """One sentence on what the role filter of a restore mapped and left out; '' when it did nothing."""
    if not roles:
        return ''
    parts = []
    if roles['mapped']:
        parts.append('mapped roles of the dump: %s' % ', '.join(
            '%s -> %s (%d statement%s)' % (name, item['to'], item['statements'], '' if item['statements'] == 1 else 's')
            for name, item in sorted(roles['mapped'].items())))
    left = roles['left_out']
    if left['owner'] or left['privileges']:
        parts.append('left out %d owner and %d privilege statement(s) (no_owner)' % (left['owner'], left['privileges']))
    return '; '.join(parts)


def _threshold(thresholds, name):
    return (thresholds or {}).get(name) if name else None


# ------------------------------------------------------------------ state
def load_state(path):
    if not path or not os.path.exists(path):
        return {}
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise MaintenanceError('Error while reading the backup state file %s: %s' % (path, exc))
    return data if isinstance(data, dict) else {}


def save_state(path, state):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix='.backup-state-', dir=directory)
    try:
        with os.fdopen(handle, 'w') as out:
            json.dump(state, out, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise MaintenanceError('Error while writing the backup state file %s: %s' % (path, exc))


# ------------------------------------------------------------------ one set
class SetVerifier(object):
    """Runs every check of one backup set; ``checks`` and ``report`` collect the outcome."""

    def __init__(self, spec, thresholds, now, previous=None, pg_params=None, pg_bindir=None,
                 run_restore=True, zstd='zstd'):
        self.spec = spec
        self.name = spec['name']
        self.thresholds = thresholds or {}
        self.now = now
        self.previous = previous or {}
        self.pg_params = pg_params
        self.pg_bindir = pg_bindir
        self.run_restore = run_restore
        self.zstd = zstd
        self.checks = []
        self.report = {'name': self.name, 'path': spec['path']}
        self.unreadable = set()
        self.failed_integrity = set()
        self.expected = {}
        self.refused = []

    def add(self, check):
        self.checks.append(check)

    # -------------------------------------------------------------- entry point
    def run(self):
        spec = self.spec
        exclude = list(spec['exclude'])
        if spec.get('manifest'):
            exclude.append(os.path.basename(spec['manifest']))
        if spec.get('checksum_suffix'):
            exclude.append('*' + spec['checksum_suffix'])
        if spec.get('completion_marker'):
            exclude.append(spec['completion_marker'].replace('{file}', '*').replace('{name}', '*'))
        restore = spec.get('restore') or {}
        if restore.get('row_counts_file'):
            exclude.append(restore['row_counts_file'].replace('{file}', '*'))
        backups, partials, error = bf.discover(spec['path'], spec['pattern'], spec.get('files'), exclude,
                                               spec['partial_patterns'])
        self.backups = backups
        self.report.update(count=len(backups), total_size=sum(b.size or 0 for b in backups),
                           files=[b.name for b in backups])
        if error:
            self.add(critical('backup.completion.newest', 'cannot list the backup directory %s' % error,
                              target=self.name))
            self.storage()
            return
        # entries that vanished or cannot be stat'ed (a dangling link, pruning racing with us) have no time:
        # they are reported as unreadable and never taken for the newest or the oldest backup
        dated = [b for b in backups if b.mtime is not None]
        if not dated:
            reason = 'no backup matching %s in %s' % (spec['pattern'], spec['path'])
            if backups:
                reason += ' that can be read: %s' % '; '.join('%s: %s' % (b.name, b.error) for b in backups)
            self.add(critical('backup.completion.newest', reason, target=self.name))
            self.storage()
            return
        newest = dated[-1]
        self.newest = newest
        self.report['newest'] = {'name': newest.name, 'size': newest.size, 'mtime': iso_from_epoch_exact(newest.mtime),
                                 'age_hours': round((self.now - newest.mtime) / 3600.0, 3) if newest.mtime else None}
        self.completion(newest, partials)
        self.sizes(dated)
        self.readability(backups)
        self.manifest(backups)
        scope = backups if spec['integrity_scope'] == 'all' else [newest]
        self.checksums(scope)
        if spec['read_through']:
            self.archives(scope)
        self.storage()
        self.retention(dated)
        if restore and restore.get('enabled'):
            self.test_restore(newest)

    # -------------------------------------------------------------- completion
    def completion(self, newest, partials):
        age = (self.now - newest.mtime) / 3600.0
        self.add(evaluate('backup.completion.age', round(age, 3), _threshold(self.thresholds, self.spec['age_threshold']),
                          label='newest backup %s age' % newest.name, target=self.name, unit='h',
                          details={'file': newest.path, 'mtime': iso_from_epoch_exact(newest.mtime)}))
        marker = self.spec.get('completion_marker')
        if marker:
            path = os.path.join(self.spec['path'], marker.replace('{file}', newest.name).replace('{name}', self.name))
            try:
                mtime = os.stat(path).st_mtime
            except OSError:
                self.add(critical('backup.completion.marker', 'completion marker %s of the newest backup %s is missing:'
                                  ' the backup tool did not report success' % (os.path.basename(path), newest.name),
                                  target=self.name))
            else:
                if mtime + 1 < newest.mtime:
                    self.add(critical('backup.completion.marker', 'completion marker %s is older than %s: the backup'
                                      ' was rewritten after it finished' % (os.path.basename(path), newest.name),
                                      target=self.name))
                else:
                    self.add(ok('backup.completion.marker', 'completion marker %s present' % os.path.basename(path),
                                target=self.name))
        newer = [p for p in partials if p.mtime is not None and p.mtime >= newest.mtime]
        older = [p for p in partials if p not in newer]
        if newer:
            self.add(critical('backup.completion.partial', 'partial/temporary file(s) newer than the newest backup: %s;'
                              ' a later backup run did not finish' % ', '.join(p.name for p in newer),
                              target=self.name, value=len(newer), details={'files': [p.path for p in newer]}))
        elif older:
            self.add(make_check('backup.completion.partial', WARNING, 'leftover partial/temporary file(s) from earlier'
                                ' runs: %s' % ', '.join(p.name for p in older), priority='low', target=self.name,
                                value=len(older), details={'files': [p.path for p in older]}))
        else:
            self.add(ok('backup.completion.partial', 'no partial or temporary files', target=self.name, value=0))

    # -------------------------------------------------------------- sizes
    def sizes(self, backups):
        minimum = self.spec['min_size'] or 0
        empty = [b for b in backups if b.size == 0]
        small = [b for b in backups if b.size is not None and 0 < b.size < minimum]
        newest = backups[-1]
        if empty or small:
            parts = []
            if empty:
                parts.append('empty: %s' % ', '.join(b.name for b in empty))
            if small:
                listed = ', '.join('%s (%d bytes)' % (b.name, b.size) for b in small)
                parts.append('smaller than %d bytes: %s' % (minimum, listed))
            self.add(critical('backup.size', '; '.join(parts), target=self.name, value=newest.size, unit='B',
                              threshold=minimum, details={'empty': [b.name for b in empty],
                                                          'too_small': [b.name for b in small]}))
        else:
            self.add(ok('backup.size', 'no empty backup; newest %s is %d bytes (minimum %d)'
                        % (newest.name, newest.size or 0, minimum), target=self.name, value=newest.size, unit='B',
                        threshold=minimum))
        if len(backups) >= 2:
            previous = backups[-2]
            if previous.size:
                drop = (previous.size - (newest.size or 0)) * 100.0 / previous.size
                self.add(evaluate('backup.size.shrink', round(max(drop, 0.0), 2),
                                  _threshold(self.thresholds, self.spec['shrink_threshold']),
                                  label='size drop of %s against %s (%d -> %d bytes)'
                                  % (newest.name, previous.name, previous.size, newest.size or 0),
                                  target=self.name, unit='%',
                                  details={'previous': previous.name, 'previous_size': previous.size,
                                           'newest_size': newest.size, 'change_percent': round(-drop, 2)}))

    # -------------------------------------------------------------- integrity
    def readability(self, backups):
        problems = []
        for entry in backups:
            reason = bf.probe_readable(entry)
            if reason:
                problems.append('%s: %s' % (entry.name, reason))
                self.unreadable.add(entry.path)
        if problems:
            self.add(critical('backup.integrity.readable', 'cannot read %d backup(s): %s'
                              % (len(problems), '; '.join(problems)), target=self.name, value=len(problems),
                              details={'unreadable': problems}))
        else:
            self.add(ok('backup.integrity.readable', 'all %d backup(s) readable' % len(backups), target=self.name,
                        value=0))

    def _manifest_entries(self):
        """``({absolute path: sha256}, problems)`` from the manifest and/or the per-backup checksum files."""
        spec = self.spec
        expected, problems = {}, []
        self.refused = []
        if spec.get('manifest'):
            path = os.path.join(spec['path'], spec['manifest'])
            leads = bf.outside_reason(path, spec['path'])
            if leads:
                problems.append('manifest %s is a %s: not read' % (spec['manifest'], leads))
                return None, problems
            try:
                entries, bad = bf.parse_checksums(bf.read_text(path))
            except (OSError, ValueError) as exc:
                problems.append('cannot read manifest %s: %s' % (path, bf.read_error(exc) if isinstance(exc, OSError)
                                                                 else exc))
                return None, problems
            if bad:
                problems.append('manifest %s has %d malformed line(s) (%s)' % (os.path.basename(path), len(bad),
                                                                               ', '.join(str(n) for n in bad[:5])))
            base = os.path.dirname(path)
            for name, digest in entries.items():
                # an entry naming a file outside the set (/etc/shadow, ../../etc/hostname, a link leading out) is
                # refused and reported: it is never stat'ed through, opened or hashed
                reason = bf.unsafe_name(name)
                full = None if reason else os.path.normpath(os.path.join(base, name))
                if full is not None:
                    reason = bf.outside_reason(full, spec['path'])
                if reason:
                    self.refused.append('%s (%s)' % (bf.shown_name(name), reason))
                    continue
                expected[full] = digest
            self.report['manifest_entries'] = len(entries)
        return expected, problems

    def manifest(self, backups):
        spec = self.spec
        if not spec.get('manifest') and not spec.get('checksum_suffix'):
            return
        expected, problems = self._manifest_entries()
        if expected is None:
            self.add(critical('backup.integrity.manifest', '; '.join(problems), target=self.name))
            self.expected = {}
            return
        payload = {}
        for entry in backups:
            if entry.path in self.unreadable and entry.is_dir:
                continue
            for _rel, path in entry.payload():
                payload[os.path.normpath(path)] = entry
        unlisted = []
        if spec.get('checksum_suffix'):
            for path, entry in sorted(payload.items()):
                sums = path + spec['checksum_suffix']
                leads = bf.outside(sums, os.path.dirname(entry.path))
                if leads is not None:
                    unlisted.append('%s (%s file is a symbolic link to %s, outside the backup set: not read)'
                                    % (os.path.basename(path), spec['checksum_suffix'], leads))
                    continue
                try:
                    entries, _bad = bf.parse_checksums(bf.read_text(sums))
                except (OSError, ValueError):
                    if path not in expected:
                        unlisted.append('%s (no %s file)' % (os.path.basename(path), spec['checksum_suffix']))
                    continue
                if entries:
                    expected[path] = list(entries.values())[0] if len(entries) == 1 else entries.get(
                        os.path.basename(path), list(entries.values())[0])
        if spec.get('manifest'):
            unlisted += [os.path.relpath(p, spec['path']) for p in sorted(payload) if p not in expected]
        orphans = sorted(p for p in expected if p not in payload and not os.path.exists(p))
        self.expected = expected
        if self.refused:
            problems.append('%d manifest entr%s outside the backup set refused (never read): %s' % (
                len(self.refused), 'y' if len(self.refused) == 1 else 'ies', '; '.join(self.refused)))
        if unlisted:
            problems.append('%d backup file(s) not covered by a checksum: %s' % (len(unlisted), ', '.join(unlisted)))
        if orphans:
            problems.append('%d manifest entr%s without its file: %s' % (
                len(orphans), 'y' if len(orphans) == 1 else 'ies',
                ', '.join(os.path.relpath(p, spec['path']) for p in orphans)))
        details = {'entries': len(expected), 'unlisted': unlisted, 'refused': self.refused,
                   'missing': [os.path.relpath(p, spec['path']) for p in orphans]}
        if problems:
            self.add(critical('backup.integrity.manifest', '; '.join(problems), target=self.name,
                              value=len(unlisted) + len(orphans) + len(self.refused), details=details))
        else:
            self.add(ok('backup.integrity.manifest', 'every backup file is listed and every one of %d entries exists'
                        % len(expected), target=self.name, value=0, details=details))

    def checksums(self, scope):
        if not self.expected:
            return
        verified, mismatches, skipped = 0, [], []
        started = time.monotonic()
        read = 0
        for entry in scope:
            if entry.path in self.unreadable:
                skipped.append(entry.name)
                continue
            for rel, path in entry.payload():
                want = self.expected.get(os.path.normpath(path))
                if want is None:
                    continue
                try:
                    got = bf.sha256_file(path)
                except OSError as exc:
                    mismatches.append('%s: %s' % (rel, bf.read_error(exc)))
                    self.failed_integrity.add(entry.path)
                    continue
                read += os.path.getsize(path)
                verified += 1
                if got != want:
                    mismatches.append('%s: sha256 %s, manifest says %s' % (rel, got, want))
                    self.failed_integrity.add(entry.path)
        seconds = time.monotonic() - started
        details = {'verified': verified, 'bytes': read, 'seconds': round(seconds, 3),
                   'mib_per_s': round(read / 1048576.0 / seconds, 1) if seconds > 0 else None,
                   'mismatches': mismatches}
        if mismatches:
            self.add(critical('backup.integrity.checksum', 'checksum mismatch in %d file(s): %s'
                              % (len(mismatches), '; '.join(mismatches)), target=self.name, value=len(mismatches),
                              details=details))
        else:
            self.add(ok('backup.integrity.checksum', '%d file(s) match their sha256 checksums' % verified,
                        target=self.name, value=0, details=details))

    def archives(self, scope):
        results, problems = [], []
        self.kinds = {}
        for entry in scope:
            if entry.path in self.unreadable:
                continue
            kind, detail = bf.resolve_kind(entry, self.spec['kind'])
            self.kinds[entry.path] = (kind, detail)
            info = {'file': entry.name, 'kind': kind, 'format': detail}
            try:
                error = self._read_through(entry, kind, detail, info)
            except bf.ReadThroughError as exc:
                error = str(exc)
            except OSError as exc:
                error = bf.read_error(exc)
            if error:
                problems.append('%s: %s' % (entry.name, error))
                info['error'] = error
                self.failed_integrity.add(entry.path)
            results.append(info)
        self.report['archives'] = results
        checked = [r for r in results if r.get('read') or r.get('error')]
        if problems:
            self.add(critical('backup.integrity.archive', 'archive read-through failed for %d backup(s): %s'
                              % (len(problems), '; '.join(problems)), target=self.name, value=len(problems),
                              details={'archives': results}))
        elif checked:
            self.add(ok('backup.integrity.archive', '%d archive(s) read through to the end without error'
                        % len(checked), target=self.name, value=0, details={'archives': results}))

    def _read_through(self, entry, kind, detail, info):
        if kind == 'pg_dump':
            if detail in ('custom', 'directory', 'tar'):
                toc, error = br.pg_list(entry.path, self.pg_bindir)
                if error:
                    return error
                info['toc'] = toc
                info['read'] = 'pg_restore'
                return br.pg_read_through(entry.path, self.pg_bindir)
            if detail == 'plain-gzip':
                info['stream'], tail = bf.read_gzip(entry.path)
            elif detail == 'plain-zstd':
                info['stream'], tail = bf.read_zstd(entry.path, self.zstd)
            else:
                tail = bf.tail_bytes(entry.path)
            info['read'] = detail
            if bf.PG_DUMP_TRAILER not in tail:
                return 'plain SQL dump does not end with "%s": the dump was cut short' % bf.PG_DUMP_TRAILER.decode()
            return None
        if kind == 'tar':
            info['stream'] = bf.read_tar(entry.path, detail, self.zstd)
            info['read'] = 'tar'
        elif kind == 'gzip':
            info['stream'] = bf.read_gzip(entry.path)[0]
            info['read'] = 'gzip'
        elif kind == 'zstd':
            info['stream'] = bf.read_zstd(entry.path, self.zstd)[0]
            info['read'] = 'zstd'
        return None

    # -------------------------------------------------------------- storage
    def storage(self):
        path = self.spec['path']
        try:
            st = os.statvfs(path)
        except OSError as exc:
            self.add(critical('backup.storage.volume_used', 'cannot stat the backup volume at %s: %s'
                              % (path, bf.read_error(exc)), target=self.name))
            return
        used_blocks = st.f_blocks - st.f_bfree
        usable = used_blocks + st.f_bavail
        used_pct = used_blocks * 100.0 / usable if usable else 0.0
        spec = _threshold(self.thresholds, self.spec['volume_threshold'])
        free = st.f_bavail * st.f_frsize
        self.add(evaluate('backup.storage.volume_used', round(used_pct, 2), spec, label='backup volume used',
                          target=self.name, unit='%',
                          details={'path': path, 'free_bytes': free, 'size_bytes': st.f_blocks * st.f_frsize}))
        if st.f_files:
            inodes_pct = (st.f_files - st.f_ffree) * 100.0 / st.f_files
            self.add(evaluate('backup.storage.inodes_used', round(inodes_pct, 2), spec,
                              label='backup volume inodes used', target=self.name, unit='%',
                              details={'free_inodes': st.f_favail}))
        total = self.report.get('total_size', 0)
        self.report.update(volume_used_percent=round(used_pct, 2), volume_free_bytes=free)
        self.add(ok('backup.storage.total_size', 'set holds %d backup(s), %d bytes' % (self.report.get('count', 0), total),
                    target=self.name, value=total, unit='B'))
        previous = self.previous.get('total_size')
        if previous:
            growth = (total - previous) * 100.0 / previous
            self.add(evaluate('backup.storage.growth', round(growth, 2),
                              _threshold(self.thresholds, self.spec['growth_threshold']),
                              label='set size growth since %s (%d -> %d bytes)'
                              % (self.previous.get('time'), previous, total),
                              target=self.name, unit='%', details={'previous_total': previous,
                                                                   'previous_time': self.previous.get('time')}))
        else:
            self.add(ok('backup.storage.growth', 'first run: no previous size to compare with', target=self.name))

    def retention(self, backups):
        policy = self.spec.get('retention') or {}
        oldest = backups[0]
        oldest_days = round((self.now - oldest.mtime) / 86400.0, 3)
        self.report['oldest'] = {'name': oldest.name, 'age_days': oldest_days}
        problems = []
        count = len(backups)
        if policy.get('min_count') is not None and count < policy['min_count']:
            problems.append('%d backup(s) kept, fewer than %d' % (count, policy['min_count']))
        if policy.get('max_count') is not None and count > policy['max_count']:
            problems.append('%d backup(s) kept, more than %d: pruning does not run' % (count, policy['max_count']))
        if policy.get('min_oldest_days') is not None and oldest_days < policy['min_oldest_days']:
            problems.append('oldest backup is %.1f days old, retention promises %s days'
                            % (oldest_days, policy['min_oldest_days']))
        if policy.get('max_oldest_days') is not None and oldest_days > policy['max_oldest_days']:
            problems.append('oldest backup %s is %.1f days old, older than the %s days allowed'
                            % (oldest.name, oldest_days, policy['max_oldest_days']))
        details = {'count': count, 'oldest': oldest.name, 'oldest_days': oldest_days, 'policy': policy}
        if problems:
            self.add(make_check('backup.retention', WARNING, '; '.join(problems), value=count, priority='medium',
                                target=self.name, details=details))
        else:
            self.add(ok('backup.retention', '%d backup(s), oldest %s is %.1f days old' % (count, oldest.name, oldest_days),
                        target=self.name, value=count, details=details))

    # -------------------------------------------------------------- test restore
    def test_restore(self, newest):
        restore = self.spec['restore']
        if not self.run_restore:
            self.add(unknown('backup.restore', 'test restore of %s skipped in check mode (restore_in_check_mode is'
                             ' false)' % newest.name, target=self.name, priority='low'))
            self.report['restore'] = {'skipped': 'check mode'}
            return
        if newest.path in self.unreadable or newest.path in self.failed_integrity:
            self.add(critical('backup.restore', 'test restore of %s not attempted: it failed the integrity checks'
                              % newest.name, target=self.name))
            self.report['restore'] = {'skipped': 'integrity'}
            return
        kind, detail = getattr(self, 'kinds', {}).get(newest.path) or bf.resolve_kind(newest, self.spec['kind'])
        if kind == 'pg_dump':
            self._restore_database(newest, detail, restore)
        else:
            self._restore_files(newest, kind, detail, restore)

    def _restore_database(self, newest, detail, restore):
        if not self.pg_params:
            raise MaintenanceError('backup set %s: restore of a pg_dump archive needs the PostgreSQL connection'
                                   ' options (login_host, port, login_user ...)' % self.name)
        row_counts = None
        if restore.get('row_counts_file'):
            path = os.path.join(self.spec['path'], restore['row_counts_file'].replace('{file}', newest.name))
            try:
                row_counts = br.load_row_counts(path)
            except (OSError, ValueError) as exc:
                self.add(critical('backup.restore.row_counts', 'cannot read the row-count manifest %s: %s'
                                  % (path, bf.read_error(exc) if isinstance(exc, OSError) else exc), target=self.name))
                row_counts = None
        result = br.restore_database(newest.path, detail, self.pg_params, prefix=restore['scratch_prefix'],
                                     bindir=self.pg_bindir, jobs=restore['jobs'], no_owner=restore['no_owner'],
                                     timeout=restore['timeout'], validations=restore['validations'],
                                     row_counts=row_counts, source_db=restore.get('source_db'), now=self.now,
                                     skip_extensions=restore.get('skip_extensions'), map_roles=restore.get('map_roles'))
        evidence = result.as_dict()
        self.report['restore'] = evidence
        target = self.name
        if result.restore_error:
            self.add(critical('backup.restore', 'test restore of %s into %s failed: %s'
                              % (newest.name, result.database, result.restore_error), target=target,
                              value=result.duration, unit='s', details=evidence))
        else:
            self.add(evaluate('backup.restore', result.duration,
                              _threshold(self.thresholds, restore['duration_threshold']),
                              label='test restore of %s took' % newest.name, target=target, unit='s',
                              details=evidence))
            for item in result.validations:
                check = ok if item['ok'] else critical
                self.add(check('backup.restore.validation', item['reason'], target='%s:%s' % (target, item['label']),
                               value=item['value'], details={'expected': item['expected']}))
            counts = result.row_counts
            if counts is not None:
                if counts.get('error'):
                    self.add(critical('backup.restore.row_counts', counts['error'], target=target))
                elif counts['source'] == 'manifest':
                    if counts['mismatches']:
                        self.add(critical('backup.restore.row_counts', 'row counts differ from the manifest: %s'
                                          % '; '.join(counts['mismatches']), target=target,
                                          value=len(counts['mismatches']), details=counts))
                    else:
                        self.add(ok('backup.restore.row_counts', 'row counts of %d table(s) match the manifest'
                                    % len(counts['tables']), target=target, value=0, details=counts))
                else:
                    self.add(evaluate('backup.restore.row_counts', counts['max_drift'],
                                      _threshold(self.thresholds, restore['drift_threshold']),
                                      label='largest row-count difference against the source database',
                                      target=target, unit='%', details=counts))
        if result.skipped and not result.restore_error:
            # what the restore left out is said, not only kept in the evidence (issue 17)
            names = sorted(set(line.split()[-1] for line in result.skipped))
            self.add(ok('backup.restore.skipped', 'left out %d extension entr%s the login may not create: %s'
                        % (len(result.skipped), 'y' if len(result.skipped) == 1 else 'ies', ', '.join(names)),
                        target=target, details={'skipped': result.skipped}))
        said = _roles_said(result.roles)
        if said and not result.restore_error:
            # owners and role references the restore server cannot have are said, not only kept in the evidence
            self.add(ok('backup.restore.roles', said, target=target, details=result.roles))
        if result.drop_error or not result.dropped:
            self.add(critical('backup.restore.cleanup', result.drop_error or 'scratch database %s was not dropped'
                              % result.database, target=target, details={'database': result.database}))
        else:
            reason = 'scratch database %s dropped' % result.database if result.created else 'no scratch database created'
            if result.swept:
                reason += '; swept %d leftover scratch database(s): %s' % (len(result.swept), ', '.join(result.swept))
            status = WARNING if result.sweep_errors else OK
            if result.sweep_errors:
                reason += '; could not drop leftovers: %s' % '; '.join(result.sweep_errors)
            self.add(make_check('backup.restore.cleanup', status, reason, target=target, priority='medium',
                                details={'database': result.database, 'swept': result.swept}))

    def _restore_files(self, newest, kind, detail, restore):
        want = self.expected.get(os.path.normpath(newest.path)) if not newest.is_dir else None
        outcome = br.restore_files(newest, kind, detail, expected_sha256=want, scratch_root=restore.get('scratch_dir'),
                                   zstd=self.zstd)
        self.report['restore'] = outcome
        if outcome['error'] or outcome['mismatches']:
            reason = outcome['error'] or 'checksum comparison failed: %s' % '; '.join(outcome['mismatches'])
            self.add(critical('backup.restore', 'file restore of %s into a scratch directory failed: %s'
                              % (newest.name, reason), target=self.name, value=outcome['duration'], unit='s',
                              details=outcome))
        else:
            self.add(evaluate('backup.restore', outcome['duration'],
                              _threshold(self.thresholds, restore['duration_threshold']),
                              label='file restore of %s (%d files, checksums match) took' % (newest.name, outcome['files']),
                              target=self.name, unit='s', details=outcome))
        if outcome['removed']:
            self.add(ok('backup.restore.cleanup', 'scratch directory %s removed' % outcome['directory'],
                        target=self.name))
        else:
            self.add(critical('backup.restore.cleanup', 'scratch directory %s still exists' % outcome['directory'],
                              target=self.name))


# ------------------------------------------------------------------ all sets
def verify_sets(sets, thresholds, pg_params=None, pg_bindir=None, state_file=None, check_mode=False,
                restore_in_check_mode=False, now=None, zstd='zstd'):
    """Verify every set; returns ``(checks, report)``. ``report['state_written']`` says if the state file changed."""
    now = time.time() if now is None else now
    specs = [normalize_set(spec) for spec in sets or []]
    names = [spec['name'] for spec in specs]
    duplicates = sorted(set(n for n in names if names.count(n) > 1))
    if duplicates:
        raise MaintenanceError('backup set names must be unique: %s' % ', '.join(duplicates))
    # the state is locked from read to save: an overlapping run waits, then compares with what this one saved
    lock = FileLock(state_file, 'backup state file').acquire() if state_file and not check_mode else None
    try:
        return _verify_sets(specs, thresholds, pg_params, pg_bindir, state_file, check_mode, restore_in_check_mode, now, zstd)
    finally:
        if lock is not None:
            lock.release()


def _verify_sets(specs, thresholds, pg_params, pg_bindir, state_file, check_mode, restore_in_check_mode, now, zstd):
    state = load_state(state_file)
    checks, report = [], {'sets': [], 'state_written': False}
    new_state = dict(state)
    for spec in specs:
        verifier = SetVerifier(spec, thresholds, now, previous=state.get(spec['name']), pg_params=pg_params,
                               pg_bindir=pg_bindir, run_restore=(not check_mode) or restore_in_check_mode, zstd=zstd)
        verifier.run()
        checks.extend(verifier.checks)
        report['sets'].append(verifier.report)
        new_state[spec['name']] = {'total_size': verifier.report.get('total_size', 0),
                                   'count': verifier.report.get('count', 0),
                                   'newest': (verifier.report.get('newest') or {}).get('name'),
                                   'time': iso_from_epoch_exact(now)}
    if state_file and not check_mode:
        save_state(state_file, new_state)
        report['state_written'] = True
    return checks, report


def verify_all(params, check_mode=False):
    """The backup_verify module's work: the sets, then the pgBackRest and restic repositories; ``(checks, report)``.

    Refuses to run when there is nothing to verify: a verification job that verifies nothing must not be green.
    """
    if not (params.get('sets') or params.get('pgbackrest') or params.get('restic')):
        raise MaintenanceError('nothing to verify: sets, pgbackrest and restic are all empty; describe at least one'
                               ' backup set or repository (a verification that verifies nothing is not green)')
    checks, report = verify_sets(params.get('sets'), params['thresholds'], pg_params=params,
                                 pg_bindir=params.get('pg_bindir'), state_file=params.get('state_file'),
                                 check_mode=check_mode, restore_in_check_mode=params.get('restore_in_check_mode'))
    for repo in params.get('pgbackrest') or []:
        checks += check_pgbackrest(repo, params['thresholds'])
    for repo in params.get('restic') or []:
        checks += check_restic(repo, params['thresholds'])
    return checks, report


def secrets(params):
    """What the backup_verify module hides before anything runs: the credentials in restic repository locations."""
    values = []
    for repo in params.get('restic') or []:
        values.extend(location_secrets(repo.get('repository'), min_length=NO_LOG_MIN_LENGTH))
    return values


def run(params, check_mode=False, host=None):
    """The backup_verify module's entry (``result.Report``); it never changes anything."""
    checks, verified = verify_all(params, check_mode)
    return Report(checks, data=dict(sets=verified['sets'], state_written=verified['state_written']))
