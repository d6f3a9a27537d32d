# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small helpers shared by the housekeeping modules: which files processes hold open.

Durations, time budgets and PostgreSQL timeout values are in ``core.times``, sizes in ``core.units``.

Plain Python: unit tests import it without Ansible.
"""

import os


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
