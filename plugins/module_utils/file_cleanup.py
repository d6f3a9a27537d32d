# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Careful clean-up of temporary and cache directories (``file_cleanup``, file sessions).

Safety rules, each tested:

* a path list must name at least one absolute directory; system directories (``/``, ``/etc``, ``/usr`` ...)
  are refused, also when reached through a symlink;
* the root path itself is never deleted, only what is inside it;
* symlinks are never followed: a link inside the tree is at most removed itself (``symlinks: true``);
* other filesystems mounted inside the tree are not entered unless ``cross_filesystems`` is set;
* right before each unlink the entry is looked up again and must still be the same inode, in a directory
  whose real path is still inside the tree (a directory swapped for a symlink is not followed);
* files a process holds open can be skipped (``skip_open``; default on).

Plain Python: unit tests call it without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import stat
import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import open_files_under
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.result import evaluate, make_check, ok, unknown

# Never cleaned, whatever the options say (the tree below them may be: /var/tmp, /var/cache/app ...).
PROTECTED_PATHS = frozenset([
    '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/media', '/mnt', '/opt',
    '/proc', '/root', '/run', '/sbin', '/snap', '/srv', '/sys', '/usr', '/usr/bin', '/usr/lib', '/usr/local',
    '/usr/sbin', '/usr/share', '/var', '/var/cache', '/var/lib', '/var/log', '/var/spool', '/var/mail', '/boot/efi',
])
AGE_FROM = ('mtime', 'atime', 'ctime')
# How many removed paths are listed in the result (the counts are always complete).
LIST_LIMIT = 1000
MB = 1024.0 * 1024.0


def validate_root(path):
    """The real path of a directory that may be cleaned, or ``MaintenanceError`` saying why not."""
    if path is None or not str(path).strip():
        raise MaintenanceError('an empty path was given; name the directory to clean')
    path = str(path)
    if not os.path.isabs(path):
        raise MaintenanceError('path %r must be absolute' % path)
    normal = os.path.normpath(path)
    real = os.path.realpath(path)
    for candidate in (normal, real):
        if candidate in PROTECTED_PATHS:
            raise MaintenanceError('refusing to clean %s%s: it is a system directory; name a directory below it'
                                   % (path, '' if candidate == normal else ' (a symlink to %s)' % real))
    return real


def validate_paths(paths):
    if not paths:
        raise MaintenanceError('paths is empty: name at least one directory to clean')
    return [validate_root(path) for path in paths]


def _matches(name, relative, patterns):
    return any(fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(relative, pattern) for pattern in patterns)


def _age_of(info, age_from):
    return getattr(info, 'st_' + age_from)


def scan(root, age=None, patterns=('*',), excludes=(), max_size=None, recurse=True, cross_filesystems=False,
         symlinks=False, skip_open=True, age_from='mtime', now=None, hidden=True):
    """Walk ``root`` (a validated real path) and decide what goes; nothing is deleted here."""
    if age_from not in AGE_FROM:
        raise MaintenanceError('age_from must be one of %s, not %r' % (', '.join(AGE_FROM), age_from))
    now = time.time() if now is None else now
    root_info = os.lstat(root)
    root_dev = root_info.st_dev
    patterns = list(patterns or ['*'])
    excludes = list(excludes or [])
    open_set, unreadable = (open_files_under(root) if skip_open else (set(), []))
    entries = []        # every regular file (and link) that counts toward the size: (path, info, matched)
    skipped = {'excluded': 0, 'open': 0, 'other_filesystem': 0, 'symlink': 0, 'hidden': 0}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, topdown=True, followlinks=False):
        keep_dirs = []
        for name in dirnames:
            full = os.path.join(dirpath, name)
            relative = os.path.relpath(full, root)
            try:
                info = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                filenames.append(name)  # a link to a directory: an entry, never a way in
                continue
            if excludes and _matches(name, relative, excludes):
                skipped['excluded'] += 1
                continue
            if info.st_dev != root_dev and not cross_filesystems:
                skipped['other_filesystem'] += 1
                continue
            if not hidden and name.startswith('.'):
                skipped['hidden'] += 1
                continue
            if recurse:
                keep_dirs.append(name)
        dirnames[:] = keep_dirs
        for name in filenames:
            full = os.path.join(dirpath, name)
            relative = os.path.relpath(full, root)
            try:
                info = os.lstat(full)
            except OSError:
                continue
            is_link = stat.S_ISLNK(info.st_mode)
            if not is_link and not stat.S_ISREG(info.st_mode):
                continue  # sockets, fifos, devices: never touched
            if not is_link:
                total += info.st_size
            if excludes and _matches(name, relative, excludes):
                skipped['excluded'] += 1
                continue
            if not hidden and name.startswith('.'):
                skipped['hidden'] += 1
                continue
            if not _matches(name, relative, patterns):
                continue
            if is_link and not symlinks:
                skipped['symlink'] += 1
                continue
            if (info.st_dev, info.st_ino) in open_set:
                skipped['open'] += 1
                continue
            entries.append((full, info, is_link))
    chosen = []
    chosen_ids = set()
    if age is not None:
        for full, info, is_link in entries:
            if now - _age_of(info, age_from) >= age:
                chosen.append((full, info, 'age'))
                chosen_ids.add(full)
    size_after = total - sum(info.st_size for _full, info, _why in chosen if not stat.S_ISLNK(info.st_mode))
    if max_size is not None and size_after > max_size:
        rest = sorted((e for e in entries if e[0] not in chosen_ids and not e[2]), key=lambda e: _age_of(e[1], age_from))
        for full, info, _is_link in rest:
            if size_after <= max_size:
                break
            chosen.append((full, info, 'size_budget'))
            size_after -= info.st_size
    return {'root': root, 'root_dev': root_dev, 'total_bytes': total, 'chosen': chosen, 'skipped': skipped,
            'unreadable_processes': len(unreadable), 'size_after': size_after}


def _still_inside(full, root, root_dev, info, cross_filesystems):
    """Re-check an entry right before removing it (guards against swaps since the scan)."""
    parent = os.path.realpath(os.path.dirname(full))
    prefix = root.rstrip(os.sep) + os.sep
    if parent != root and not parent.startswith(prefix):
        return False
    try:
        now_info = os.lstat(full)
    except OSError:
        return False
    if (now_info.st_dev, now_info.st_ino) != (info.st_dev, info.st_ino) or stat.S_ISDIR(now_info.st_mode):
        return False
    if now_info.st_dev != root_dev and not cross_filesystems:
        return False
    return True


def _remove_empty_dirs(root, root_dev, excludes, age, now, age_from, cross_filesystems, touched):
    """Remove empty directories below ``root`` (never ``root``); ``touched`` ones (emptied by this run) skip the age test."""
    removed = []
    for dirpath, dirnames, _filenames in os.walk(root, topdown=False, followlinks=False):
        if dirpath == root:
            continue
        relative = os.path.relpath(dirpath, root)
        if excludes and _matches(os.path.basename(dirpath), relative, excludes):
            continue
        try:
            info = os.lstat(dirpath)
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode) or (info.st_dev != root_dev and not cross_filesystems):
            continue
        if age is not None and dirpath not in touched and now - _age_of(info, age_from) < age:
            continue
        try:
            os.rmdir(dirpath)  # only succeeds when empty
            removed.append(dirpath)
            touched.add(os.path.dirname(dirpath))
        except OSError:
            pass
    return removed


def clean_path(path, age=None, patterns=('*',), excludes=(), max_size=None, recurse=True, cross_filesystems=False,
               symlinks=False, skip_open=True, age_from='mtime', remove_empty_dirs=False, hidden=True,
               check_mode=False, check_prefix='file_cleanup', thresholds=None, now=None):
    """Clean one directory; returns a result dict with ``checks`` (``validate_root`` errors are raised)."""
    if age is None and max_size is None:
        raise MaintenanceError('%s: give age, max_size or both, otherwise every matching file would go' % path)
    root = validate_root(path)
    result = {'directory': path, 'root': root, 'files': [], 'removed': 0, 'would_remove': 0, 'bytes_freed': 0,
              'would_free': 0, 'dirs_removed': [], 'errors': [], 'left_alone': {}, 'changed': False, 'checks': []}
    if not os.path.lexists(root):
        result['checks'].append(unknown(check_prefix + '.path', '%s does not exist' % path, target=path,
                                        priority='low'))
        return result
    if not os.path.isdir(root):
        result['checks'].append(unknown(check_prefix + '.path', '%s is not a directory' % path, target=path))
        return result
    now = time.time() if now is None else now
    plan = scan(root, age=age, patterns=patterns, excludes=excludes, max_size=max_size, recurse=recurse,
                cross_filesystems=cross_filesystems, symlinks=symlinks, skip_open=skip_open, age_from=age_from,
                now=now, hidden=hidden)
    result['left_alone'] = plan['skipped']
    result['total_bytes_before'] = plan['total_bytes']
    result['unreadable_processes'] = plan['unreadable_processes']
    freed = 0
    count = 0
    touched = set()
    for full, info, why in plan['chosen']:
        size = 0 if stat.S_ISLNK(info.st_mode) else info.st_size
        if check_mode:
            count += 1
            freed += size
            if len(result['files']) < LIST_LIMIT:
                result['files'].append({'path': full, 'bytes': size, 'reason': why})
            continue
        if not _still_inside(full, root, plan['root_dev'], info, cross_filesystems):
            result['errors'].append({'path': full, 'error': 'changed since the scan; left alone'})
            continue
        try:
            os.unlink(full)
        except OSError as exc:
            result['errors'].append({'path': full, 'error': exc.strerror or str(exc)})
            continue
        count += 1
        freed += size
        touched.add(os.path.dirname(full))
        if len(result['files']) < LIST_LIMIT:
            result['files'].append({'path': full, 'bytes': size, 'reason': why})
    if remove_empty_dirs and not check_mode:
        result['dirs_removed'] = _remove_empty_dirs(root, plan['root_dev'], list(excludes or []), age, now, age_from,
                                                    cross_filesystems, touched)
    if check_mode:
        result['would_remove'], result['would_free'] = count, freed
    else:
        result['removed'], result['bytes_freed'] = count, freed
    result['total_bytes_after'] = plan['total_bytes'] - freed
    result['files_truncated'] = count > len(result['files'])
    result['changed'] = bool(result['removed'] or result['dirs_removed'])
    result['checks'] = _checks(result, check_prefix, max_size, check_mode, path)
    return result


def _checks(result, prefix, max_size, check_mode, path):
    checks = []
    if check_mode:
        reason = 'check mode: %d file(s), %.1f MB would be removed' % (result['would_remove'], result['would_free'] / MB)
        value = result['would_remove']
    else:
        reason = 'removed %d file(s), freed %.1f MB' % (result['removed'], result['bytes_freed'] / MB)
        value = result['removed']
    skipped = dict((k, v) for k, v in result['left_alone'].items() if v)
    if skipped:
        reason += '; skipped ' + ', '.join('%d %s' % (v, k.replace('_', ' ')) for k, v in sorted(skipped.items()))
    if result['errors']:
        checks.append(make_check(prefix + '.removed', 'warning', reason + '; %d could not be removed (first: %s: %s)'
                                 % (len(result['errors']), result['errors'][0]['path'], result['errors'][0]['error']),
                                 value=value, unit='files', priority='medium', target=path))
    else:
        checks.append(ok(prefix + '.removed', reason, value=value, unit='files', target=path))
    if max_size is not None:
        after = result['total_bytes_after'] / MB
        checks.append(evaluate(prefix + '.size', after, {'warning': max_size / MB, 'unit': 'MB', 'priority': 'medium'},
                               label='size after clean-up', target=path))
    return checks


def cleanup(paths, **options):
    """Clean every path of ``paths``; returns ``(results, checks, changed)``. Refuses an empty list or a system path."""
    validate_paths(paths)
    results, checks = [], []
    for path in paths:
        outcome = clean_path(path, **options)
        checks.extend(outcome.pop('checks'))
        results.append(outcome)
    return results, checks, any(r['changed'] for r in results)
