# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Events recorded as checks (approvals, staging verifications, configuration changes), optionally as a JSON file.

The outcome callback stores every check a task returns, with its ``details``,
so an event returned as a check is in the outcome log (and the PostgreSQL sink).
"""

import json
import os
import tempfile
from typing import Any, Dict, Mapping, Optional

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_utc_micro, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report, make_check


def build_record(name: str, status: str = 'ok', reason: str = '', details: Optional[Mapping[str, Any]] = None,
                 target: Optional[str] = None, priority: str = 'low', now: Optional[str] = None) -> Dict[str, Any]:
    check = make_check(name, status, reason or name, value=True, priority=priority, target=target,
                       details=dict(details or {}))
    check.setdefault('details', {})['recorded_at'] = now or iso_utc_micro(utc_now())
    return check


def write_json(path: str, data: Any, mode: int = 0o640) -> bool:
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


def run(params: Mapping[str, Any], check_mode: bool = False, host: Optional[Any] = None) -> Report:
    """The maintenance_record module's entry (``result.Report``): the record as a check, written to ``path`` unless in check mode."""
    p = params
    record = build_record(p['name'], p['status'], p['reason'], p['details'], p['target'], p['priority'])
    changed = write_json(p['path'], record) if p['path'] and not check_mode else False
    return Report([record], changed=changed, data=dict(record=record, path=p['path']))
