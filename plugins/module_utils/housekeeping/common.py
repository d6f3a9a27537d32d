# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small helpers shared by the housekeeping modules (durations, sizes, time budgets, open files).

Plain Python: unit tests import it without Ansible.
"""

import os
import re
import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

_DURATION_UNITS = {'ms': 0.001, 's': 1, 'sec': 1, 'm': 60, 'min': 60, 'h': 3600, 'd': 86400, 'w': 604800}
_DURATION_PART = re.compile(r'(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d|w)', re.IGNORECASE)
_SIZE_UNITS = {'': 1, 'b': 1, 'k': 1024, 'kb': 1024, 'kib': 1024, 'm': 1024 ** 2, 'mb': 1024 ** 2, 'mib': 1024 ** 2,
               'g': 1024 ** 3, 'gb': 1024 ** 3, 'gib': 1024 ** 3, 't': 1024 ** 4, 'tb': 1024 ** 4, 'tib': 1024 ** 4}
_SIZE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$', re.IGNORECASE)


def parse_duration(value, name='duration', allow_none=True):
    """Seconds (float) from ``90``, ``'90'``, ``'15m'``, ``'1h30m'``, ``'2d'``, ``'500ms'``; None stays None."""
    if value is None or value == '':
        if allow_none:
            return None
        raise MaintenanceError('%s is required' % name)
    if isinstance(value, bool):
        raise MaintenanceError('%s must be a duration such as 30s, 15m, 6h or 7d, not %r' % (name, value))
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().replace(' ', '')
        if re.match(r'^\d+(\.\d+)?$', text):
            seconds = float(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or ''.join(n + u for n, u in parts).lower() != text.lower():
                raise MaintenanceError('%s must be a duration such as 30s, 15m, 6h, 7d or 1h30m, not %r' % (name, value))
            seconds = sum(float(number) * _DURATION_UNITS[unit.lower()] for number, unit in parts)
    if seconds < 0:
        raise MaintenanceError('%s must not be negative, got %r' % (name, value))
    return seconds


def parse_size(value, name='size', allow_none=True):
    """Bytes (int) from ``1048576``, ``'500M'``, ``'2GiB'``, ``'10 kb'`` (binary multiples); None stays None."""
    if value is None or value == '':
        if allow_none:
            return None
        raise MaintenanceError('%s is required' % name)
    if isinstance(value, bool):
        raise MaintenanceError('%s must be a size such as 500M or 2G, not %r' % (name, value))
    if isinstance(value, (int, float)):
        number, unit = float(value), ''
    else:
        match = _SIZE.match(str(value))
        if not match or match.group(2).lower() not in _SIZE_UNITS:
            raise MaintenanceError('%s must be a size such as 500M, 2G or 1048576, not %r' % (name, value))
        number, unit = float(match.group(1)), match.group(2).lower()
    if number < 0:
        raise MaintenanceError('%s must not be negative, got %r' % (name, value))
    return int(number * _SIZE_UNITS[unit])


def pg_interval_ms(seconds):
    """A PostgreSQL timeout setting value (milliseconds as text) for ``set_timeouts``; None stays None."""
    if seconds is None:
        return None
    return '%dms' % max(int(round(seconds * 1000)), 1)


class Budget(object):
    """A time budget measured on the monotonic clock; ``None`` seconds means unlimited."""

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.started = clock()

    def elapsed(self):
        return self.clock() - self.started

    def remaining(self):
        if self.seconds is None:
            return None
        return max(self.seconds - self.elapsed(), 0.0)

    def allows(self, estimate=0.0):
        """True while the budget leaves room for work expected to take ``estimate`` seconds."""
        if self.seconds is None:
            return True
        return self.elapsed() + max(estimate, 0.0) < self.seconds


def open_files_under(root, proc='/proc'):
    """``(set of (st_dev, st_ino), unreadable_pids)`` of files under ``root`` that some process has open.

    Reads ``/proc/<pid>/fd/*`` links (and memory maps' fd-less users are not counted). Processes whose fd
    directory cannot be read (another user's, without privilege) are returned in ``unreadable_pids``.
    """
    real_root = os.path.realpath(root)
    prefix = real_root.rstrip(os.sep) + os.sep
    found = set()
    unreadable = []
    try:
        pids = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:
        return found, unreadable
    for pid in pids:
        fd_dir = os.path.join(proc, pid, 'fd')
        try:
            fds = os.listdir(fd_dir)
        except PermissionError:
            unreadable.append(int(pid))
            continue
        except OSError:  # the process ended
            continue
        for fd in fds:
            link = os.path.join(fd_dir, fd)
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if not (target == real_root or target.startswith(prefix)):
                continue
            try:
                info = os.stat(link)  # follows the fd itself: right even after renames
            except OSError:
                continue
            found.add((info.st_dev, info.st_ino))
    return found, unreadable
