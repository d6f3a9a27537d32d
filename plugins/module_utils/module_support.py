# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every module of this collection does with its checks.

A module builds its argument spec with ``check_argument_spec(...)`` (adds the
shared ``fail_on`` and ``thresholds`` options, documented in the
``autopilotcx.maintenance.checks`` doc fragment) and ends with
``finish(module, checks, ...)``. ``run(module, func)`` turns a
``MaintenanceError`` into ``fail_json`` in exactly one place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.result import (
    FAIL_ON_CHOICES,
    ResultModelError,
    should_fail,
    summarize,
)


def check_argument_spec(**options):
    """The shared ``fail_on``/``thresholds`` options plus the module's own."""
    spec = dict(
        fail_on=dict(type='str', default='critical', choices=list(FAIL_ON_CHOICES)),
        thresholds=dict(type='dict', default={}),
    )
    spec.update(options)
    return spec


def finish(module, checks, changed=False, **extra):
    """Exit with the checks, their summary and ``extra``; fail when ``fail_on`` says so."""
    checks = list(checks)
    summary = summarize(checks)
    result = dict(changed=changed, checks=checks, **extra)
    result.update(summary)
    fail_on = module.params.get('fail_on') or 'critical'
    if should_fail(summary['status'], fail_on):
        names = ', '.join(summary['failed_checks']) or ', '.join(c['name'] for c in checks if c['status'] != 'ok')
        module.fail_json(msg='%s check(s) at or above %s: %s' % (summary['status'], fail_on, names), **result)
    module.exit_json(**result)


def run(module, func, *args, **kwargs):
    """Call ``func``; a ``MaintenanceError``/``ResultModelError`` becomes ``fail_json`` with its message."""
    try:
        return func(*args, **kwargs)
    except MaintenanceError as exc:
        module.fail_json(msg=exc.message, **exc.details)
    except ResultModelError as exc:
        module.fail_json(msg='Invalid threshold or check data: %s' % exc)
