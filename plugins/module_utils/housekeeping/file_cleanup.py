# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Careful clean-up of temporary and cache directories (``file_cleanup``, file sessions).

Safety rules, each tested:

* a path list must name at least one absolute directory; system directories (``/``, ``/etc``, ``/usr`` ...)
  are refused, also when reached through a symlink;
* the root path itself is never deleted, only what is inside it;
* the tree is walked, and every entry removed, relative to open directory descriptors (``openat`` with
  ``O_DIRECTORY|O_NOFOLLOW``, ``scandir(fd)``, ``unlinkat``/``rmdir`` with ``dir_fd``, as ``shutil.rmtree`` does):
  a directory swapped for a symlink at any moment is never followed, because no path is resolved again;
* symlinks are never followed: a link inside the tree is at most removed itself (``symlinks: true``);
* other filesystems and bind mounts inside the tree are not entered unless ``cross_filesystems`` is set (a
  different ``st_dev``, or a different mount ID of the opened directory, read from ``/proc/self/fdinfo``);
* right before each unlink the entry is looked up again relative to its directory's descriptor (which is itself
  checked to still be the directory the scan saw): a file replaced, rewritten or touched since the scan (other
  inode, size, mtime or age timestamp) is kept and counted as ``changed_since_scan``;
* files a process holds open can be skipped (``skip_open``; default on);
* an error on one entry is recorded in ``errors`` and the run goes on.

What remains: a file renamed over the scanned one in the microseconds between the last look-up and ``unlinkat``
is removed in its place; it is always a file inside the same directory of the tree, never anything outside it.

Plain Python: unit tests call it without Ansible.
"""

import errno
import fnmatch
import os
import re
import stat
import sys
import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping.common import open_files_under
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import parse_duration
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.units import parse_size
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    Report,
    critical,
    evaluate,
    make_check,
    ok,
    unknown,
)

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
# A directory is only ever opened as a directory, never through a symlink.
DIR_FLAGS = os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
LEFT_ALONE = ('excluded', 'open', 'other_filesystem', 'symlink', 'hidden', 'changed_since_scan', 'vanished')
_OCTAL_ESCAPE = re.compile(r'\\([0-7]{3})')


def validate_root(path):
    """The real path of a directory that may be cleaned, or ``MaintenanceError`` saying why not."""
    if path is None or not str(path).strip():
        raise MaintenanceError('an empty path was given; name the directory to clean')
    path = str(path)
    if not os.path.isabs(path):
        raise MaintenanceError('path %r must be absolute' % path)
    normal = os.path.normpath(path)
    try:
        real = os.path.realpath(path)
    except OSError as exc:  # a component changed while it was resolved (EINVAL from readlink)
        raise MaintenanceError('could not resolve %s: %s' % (path, exc.strerror or exc))
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


def _identity(info):
    return (info.st_dev, info.st_ino)


def _require_dir_fd():
    if not (os.open in os.supports_dir_fd and os.unlink in os.supports_dir_fd and os.rmdir in os.supports_dir_fd
            and os.stat in os.supports_dir_fd and os.scandir in os.supports_fd):
        raise MaintenanceError('file_cleanup removes files only relative to directory descriptors (openat, unlinkat, '
                               'fdopendir), which Python does not offer on this platform (%s)' % sys.platform)


def _mount_id(fd):
    """The mount ID of an open descriptor (``mnt_id`` of ``/proc/self/fdinfo``, Linux 3.15+), or None."""
    try:
        with open('/proc/self/fdinfo/%d' % fd) as handle:
            for line in handle:
                if line.startswith('mnt_id:'):
                    return int(line.split(':', 1)[1])
    except (OSError, ValueError):
        pass
    return None


def _mount_roots(root, mountinfo='/proc/self/mountinfo'):
    """``(st_dev, st_ino)`` of every mount point below ``root`` listed in ``mountinfo`` (empty when unreadable).

    Only used where mount IDs cannot be read: a bind mount's root has the same ``st_dev`` as its source, but the
    inode of the mounted directory, so the inode comparison sees it (and also keeps the walk out of the source
    directory when that is inside the tree too: cautious, never wrong in the dangerous direction).
    """
    found = set()
    prefix = root.rstrip(os.sep) + os.sep
    try:
        with open(mountinfo) as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeError):
        return found
    for line in lines:
        fields = line.split(' ')
        if len(fields) < 5:
            continue
        point = _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), fields[4])
        if not point.startswith(prefix):
            continue
        try:
            found.add(_identity(os.lstat(point)))
        except OSError:
            continue
    return found


class _Changed(Exception):
    """A directory is not the one the scan saw (replaced, or a mount point now)."""


class _Tree(object):
    """The root directory opened once, and the one way to open a directory below it."""

    def __init__(self, root, cross_filesystems, expected=None):
        self.root = root
        self.cross_filesystems = cross_filesystems
        self.fd = os.open(root, DIR_FLAGS)
        try:
            info = os.fstat(self.fd)
            if not stat.S_ISDIR(info.st_mode) or (expected is not None and _identity(info) != expected):
                raise _Changed('%s is no longer the directory that was scanned' % root)
        except Exception:
            os.close(self.fd)
            raise
        self.info = info
        self.dev = info.st_dev
        self.mount_id = _mount_id(self.fd)
        self.mount_roots = _mount_roots(root) if self.mount_id is None and not cross_filesystems else set()

    def close(self):
        os.close(self.fd)

    def is_mount(self, fd, info):
        """True for a directory on another filesystem or another mount (a bind mount) than the root."""
        if info.st_dev != self.dev:
            return True
        if self.mount_id is not None:
            mount_id = _mount_id(fd)
            if mount_id is not None:
                return mount_id != self.mount_id
        return _identity(info) in self.mount_roots

    def open_dir(self, parent_fd, name, expected=None):
        """``(fd, info)`` of directory ``name`` in ``parent_fd``, or None for a mount point not to enter.

        Never follows a symlink (``ELOOP``/``ENOTDIR``); raises ``_Changed`` when the directory is not ``expected``.
        """
        fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
        try:
            info = os.fstat(fd)
            if expected is not None and _identity(info) != expected:
                raise _Changed('replaced since the scan')
            if not self.cross_filesystems and self.is_mount(fd, info):
                os.close(fd)
                return None
        except Exception:
            os.close(fd)
            raise
        return fd, info

    def open_chain(self, parts, ids):
        """The descriptor of the directory ``parts`` below the root, each level checked against ``ids``."""
        fd = self.fd
        try:
            for name, ident in zip(parts, ids):
                opened = self.open_dir(fd, name, ident)
                if fd != self.fd:
                    os.close(fd)
                fd = self.fd
                if opened is None:
                    raise _Changed('a mount point now')
                fd = opened[0]
        except Exception:
            if fd != self.fd:
                os.close(fd)
            raise
        return fd

    def path(self, parts, name=None):
        return os.path.join(self.root, *(parts + ((name,) if name else ())))


def _error_text(exc, what='directory'):
    if isinstance(exc, _Changed):
        return '%s %s; left alone' % (what, exc)
    if getattr(exc, 'errno', None) in (errno.ELOOP, errno.ENOTDIR):
        return '%s is no longer a directory (a symlink now?); not followed' % what
    return (getattr(exc, 'strerror', None) or str(exc)) + '; left alone'


def _walk(tree, enter, skipped, errors):
    """Walk the tree top-down through directory descriptors; yields ``(parts, ids, fd, entries)`` per directory.

    ``entries`` are ``(name, lstat info)``; ``enter(parts, name, info)`` says whether to go into a subdirectory.
    One descriptor is open per level (no recursion, so depth is bounded by the descriptor limit only).
    """
    stack = []
    frame = [(), (), tree.fd, None]
    try:
        while frame is not None:
            parts, ids, fd, todo = frame
            if todo is None:
                entries = []
                try:
                    with os.scandir(fd) as listing:
                        for entry in listing:
                            try:
                                entries.append((entry.name, entry.stat(follow_symlinks=False)))
                            except OSError as exc:
                                if exc.errno == errno.ENOENT:
                                    skipped['vanished'] += 1
                                else:
                                    errors.append({'path': tree.path(parts, entry.name), 'error': _error_text(exc, 'entry')})
                except OSError as exc:
                    errors.append({'path': tree.path(parts), 'error': _error_text(exc)})
                yield parts, ids, fd, entries
                todo = frame[3] = iter([(name, info) for name, info in entries
                                        if stat.S_ISDIR(info.st_mode) and enter(parts, name, info)])
            following = next(todo, None)
            if following is None:
                if fd != tree.fd:
                    os.close(fd)
                frame = stack.pop() if stack else None
                continue
            name, info = following
            try:
                opened = tree.open_dir(fd, name, _identity(info))
            except (OSError, _Changed) as exc:
                errors.append({'path': tree.path(parts, name), 'error': _error_text(exc)})
                continue
            if opened is None:
                skipped['other_filesystem'] += 1
                continue
            stack.append(frame)
            frame = [parts + (name,), ids + (_identity(opened[1]),), opened[0], None]
    finally:
        for left in stack + ([frame] if frame is not None else []):
            if left[2] != tree.fd:
                os.close(left[2])


def scan(root, age=None, patterns=('*',), excludes=(), max_size=None, recurse=True, cross_filesystems=False,
         symlinks=False, skip_open=True, age_from='mtime', now=None, hidden=True):
    """Walk ``root`` (a validated real path) and decide what goes; nothing is deleted here.

    ``chosen`` holds ``(parts, ids, name, info, reason)``: the directory as names below the root with the
    ``(st_dev, st_ino)`` the scan saw for each, the entry's name and its ``lstat``. ``dirs`` lists the
    directories that ``remove_empty_dirs`` may remove, the same way.
    """
    if age_from not in AGE_FROM:
        raise MaintenanceError('age_from must be one of %s, not %r' % (', '.join(AGE_FROM), age_from))
    _require_dir_fd()
    now = time.time() if now is None else now
    patterns = list(patterns or ['*'])
    excludes = list(excludes or [])
    open_set, unreadable = (open_files_under(root) if skip_open else (set(), []))
    entries = []        # every regular file (and link) that counts toward the size: (parts, ids, name, info)
    dirs = []           # directories below the root that may go when empty: (parts, ids, name, info)
    skipped = dict((key, 0) for key in LEFT_ALONE)
    errors = []
    total = 0

    def enter(parts, name, info):
        relative = os.path.join(*(parts + (name,)))
        if excludes and _matches(name, relative, excludes):
            skipped['excluded'] += 1
            return False
        if not hidden and name.startswith('.'):
            skipped['hidden'] += 1
            return False
        return recurse

    tree = _Tree(root, cross_filesystems)
    try:
        for parts, ids, _fd, listing in _walk(tree, enter, skipped, errors):
            for name, info in listing:
                relative = os.path.join(*(parts + (name,)))
                if stat.S_ISDIR(info.st_mode):
                    if not (excludes and _matches(name, relative, excludes)) and (hidden or not name.startswith('.')):
                        dirs.append((parts, ids, name, info))
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
                if _identity(info) in open_set:
                    skipped['open'] += 1
                    continue
                entries.append((parts, ids, name, info))
    finally:
        root_ident = _identity(tree.info)
        tree.close()
    chosen = []
    chosen_ids = set()
    if age is not None:
        for parts, ids, name, info in entries:
            if now - _age_of(info, age_from) >= age:
                chosen.append((parts, ids, name, info, 'age'))
                chosen_ids.add((parts, name))
    size_after = total - sum(e[3].st_size for e in chosen if not stat.S_ISLNK(e[3].st_mode))
    if max_size is not None and size_after > max_size:
        rest = sorted((e for e in entries if (e[0], e[2]) not in chosen_ids and not stat.S_ISLNK(e[3].st_mode)),
                      key=lambda e: _age_of(e[3], age_from))
        for parts, ids, name, info in rest:
            if size_after <= max_size:
                break
            chosen.append((parts, ids, name, info, 'size_budget'))
            size_after -= info.st_size
    return {'root': root, 'root_id': root_ident, 'root_dev': root_ident[0], 'total_bytes': total, 'chosen': chosen,
            'dirs': dirs, 'skipped': skipped, 'errors': errors, 'unreadable_processes': len(unreadable),
            'size_after': size_after, 'age_from': age_from}


def _unchanged(now_info, info, age_from):
    """True when an entry is still the inode the scan chose, with the same size and timestamps."""
    return (_identity(now_info) == _identity(info) and stat.S_IFMT(now_info.st_mode) == stat.S_IFMT(info.st_mode)
            and now_info.st_size == info.st_size and now_info.st_mtime_ns == info.st_mtime_ns
            and getattr(now_info, 'st_%s_ns' % age_from) == getattr(info, 'st_%s_ns' % age_from))


def unlink_unchanged(dir_fd, name, info, age_from='mtime'):
    """Remove ``name`` from the open directory ``dir_fd`` only if it is still what ``info`` describes.

    Returns ``'removed'``, ``'changed'`` (another inode, or written or touched since ``info`` was taken: kept) or
    ``'vanished'``; other ``OSError`` are raised. Never follows a symlink, never removes a directory.
    """
    try:
        now_info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return 'vanished'
        raise
    if stat.S_ISDIR(now_info.st_mode) or not _unchanged(now_info, info, age_from):
        return 'changed'
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return 'vanished'
        raise
    return 'removed'


def _groups(chosen):
    """``chosen`` grouped by directory, in scan order: ``[(parts, ids, [(name, info, reason), ...]), ...]``."""
    groups, index = [], {}
    for parts, ids, name, info, why in chosen:
        if parts not in index:
            index[parts] = len(groups)
            groups.append((parts, ids, []))
        groups[index[parts]][2].append((name, info, why))
    return groups


def _remove_chosen(tree, plan, result, touched):
    """Remove the chosen files, each directory opened level by level from the root, each file checked again."""
    freed = count = 0
    for parts, ids, files in _groups(plan['chosen']):
        try:
            fd = tree.open_chain(parts, ids)
        except (OSError, _Changed) as exc:
            text = _error_text(exc, 'directory %s' % tree.path(parts))
            result['errors'].extend({'path': tree.path(parts, name), 'error': text} for name, _info, _why in files)
            continue
        try:
            for name, info, why in files:
                full = tree.path(parts, name)
                try:
                    outcome = unlink_unchanged(fd, name, info, plan['age_from'])
                except OSError as exc:
                    result['errors'].append({'path': full, 'error': exc.strerror or str(exc)})
                    continue
                if outcome == 'changed':
                    result['left_alone']['changed_since_scan'] += 1
                    continue
                if outcome == 'vanished':
                    result['left_alone']['vanished'] += 1
                    continue
                size = 0 if stat.S_ISLNK(info.st_mode) else info.st_size
                count += 1
                freed += size
                touched.add(ids[-1] if ids else plan['root_id'])
                if len(result['files']) < LIST_LIMIT:
                    result['files'].append({'path': full, 'bytes': size, 'reason': why})
        finally:
            if fd != tree.fd:
                os.close(fd)
    return count, freed


def _remove_empty_dirs(tree, plan, age, now, age_from, touched):
    """Remove empty directories below the root (never the root), deepest first; ``touched`` ones (emptied by this
    run) skip the age test. Each is opened from the root level by level and checked like a file's directory."""
    removed = []
    for parts, ids, name, info in sorted(plan['dirs'], key=lambda d: -len(d[0])):
        try:
            fd = tree.open_chain(parts, ids)
        except (OSError, _Changed):
            continue  # its parent changed: reported for the files in it if any; nothing to remove here
        try:
            try:
                opened = tree.open_dir(fd, name, _identity(info))
            except (OSError, _Changed):
                continue
            if opened is None:
                continue  # a mount point
            os.close(opened[0])
            ident = _identity(opened[1])
            if age is not None and ident not in touched and now - _age_of(opened[1], age_from) < age:
                continue
            try:
                os.rmdir(name, dir_fd=fd)  # only succeeds when empty
            except OSError:
                continue
            removed.append(tree.path(parts, name))
            touched.add(ids[-1] if ids else plan['root_id'])
        finally:
            if fd != tree.fd:
                os.close(fd)
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
    try:
        plan = scan(root, age=age, patterns=patterns, excludes=excludes, max_size=max_size, recurse=recurse,
                    cross_filesystems=cross_filesystems, symlinks=symlinks, skip_open=skip_open, age_from=age_from,
                    now=now, hidden=hidden)
    except (OSError, _Changed) as exc:  # the root itself could not be opened as a directory (never through a link)
        result['checks'].append(critical(check_prefix + '.path', 'could not open %s: %s' % (path, _error_text(exc, 'the root')),
                                         target=path))
        return result
    result['left_alone'] = plan['skipped']
    result['errors'] = plan['errors']
    result['total_bytes_before'] = plan['total_bytes']
    result['unreadable_processes'] = plan['unreadable_processes']
    count = freed = 0
    if check_mode:
        for parts, _ids, name, info, why in plan['chosen']:
            size = 0 if stat.S_ISLNK(info.st_mode) else info.st_size
            count += 1
            freed += size
            if len(result['files']) < LIST_LIMIT:
                result['files'].append({'path': os.path.join(root, *(parts + (name,))), 'bytes': size, 'reason': why})
    else:
        touched = set()
        try:
            tree = _Tree(root, cross_filesystems, expected=plan['root_id'])
        except (OSError, _Changed) as exc:
            text = _error_text(exc, 'the root %s' % root)
            result['errors'].extend({'path': os.path.join(root, *(parts + (name,))), 'error': text}
                                    for parts, _ids, name, _info, _why in plan['chosen'])
        else:
            try:
                count, freed = _remove_chosen(tree, plan, result, touched)
                if remove_empty_dirs:
                    result['dirs_removed'] = _remove_empty_dirs(tree, plan, age, now, age_from, touched)
            finally:
                tree.close()
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
    """Clean every path of ``paths``; returns ``(results, checks, changed)``. Refuses an empty list or a system path.

    Every path is validated before anything is removed; a path that fails later (its root changed meanwhile) is a
    critical check of its own, and the results of the others are kept.
    """
    validate_paths(paths)
    results, checks = [], []
    for path in paths:
        try:
            outcome = clean_path(path, **options)
        except MaintenanceError as exc:
            if not results:
                raise
            checks.append(critical(options.get('check_prefix', 'file_cleanup') + '.path', str(exc), target=path))
            continue
        checks.extend(outcome.pop('checks'))
        results.append(outcome)
    return results, checks, any(r['changed'] for r in results)


def run(params, check_mode=False, host=None):
    """The file_cleanup module's entry (``result.Report``): ``cleanup`` with the totals over every path."""
    p = params
    results, checks, changed = cleanup(
        p['paths'], age=parse_duration(p['age'], 'age', allow_none=True), patterns=p['patterns'], excludes=p['excludes'],
        max_size=parse_size(p['max_size'], 'max_size'), recurse=p['recurse'], cross_filesystems=p['cross_filesystems'],
        symlinks=p['symlinks'], skip_open=p['skip_open'], age_from=p['age_from'], remove_empty_dirs=p['remove_empty_dirs'],
        hidden=p['hidden'], check_mode=check_mode, thresholds=p['thresholds'])
    totals = dict((key, sum(r[key] for r in results)) for key in ('removed', 'bytes_freed', 'would_remove', 'would_free'))
    return Report(checks, changed=changed, data=dict(paths=results, **totals))
