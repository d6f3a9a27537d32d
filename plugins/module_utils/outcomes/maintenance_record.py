# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Events recorded as checks (approvals, staging verifications, configuration changes), optionally as a JSON file.

The outcome callback stores every check a task returns, with its ``details``,
so an event returned as a check is in the outcome log (and the PostgreSQL sink).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_utc_micro, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import make_check


def build_record(name, status='ok', reason='', details=None, target=None, priority='low', now=None):
    check = make_check(name, status, reason or name, value=True, priority=priority, target=target,
                       details=dict(details or {}))
    check.setdefault('details', {})['recorded_at'] = now or iso_utc_micro(utc_now())
    return check


def write_json(path, data, mode=0o640):
    """Write ``data`` to ``path`` atomically; returns True when the content changed."""
    path = os.path.abspath(os.path.expanduser(path))
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + '\n'
    try:
        with open(path) as handle:
            if handle.read() == text:
                return False
    except (IOError, OSError):
        pass
    directory = os.path.dirname(path)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o750, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.record-', dir=directory)
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except (IOError, OSError) as exc:
        raise MaintenanceError('Error while writing the record file %s: %s' % (path, exc))
    return True
