# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters over the collection's checks, so roles judge with the result model's one severity order, not Jinja copies.

The documentation of each filter is in the .yml file of the same name beside this one.
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.alerts.policy import FIRING
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.alerts.policy import alert_priority as _alert_priority
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    ResultModelError,
    severity,
    should_fail,
)


def _checks_of(results):
    checks = []
    for item in results or []:
        if not isinstance(item, dict):
            raise AnsibleFilterError(
                'autopilotcx.maintenance.failing_checks: expected the registered results themselves (a Jinja list of '
                'the registered variables), not their names; got %r' % (item,))
        if 'checks' in item:
            checks.extend(item['checks'] or [])
        elif 'status' in item and 'name' in item:
            checks.append(item)
    return checks


def failing_checks(results, fail_on='critical'):
    """The checks of ``results`` (registered module results or checks) at or above ``fail_on``."""
    try:
        return [check for check in _checks_of(results) if should_fail(check.get('status'), fail_on)]
    except ResultModelError as exc:
        raise AnsibleFilterError('autopilotcx.maintenance.failing_checks: %s' % exc)


def worst_status(results):
    """The most severe status among the checks of ``results`` (``ok`` when there is none)."""
    statuses = [check.get('status') for check in _checks_of(results)]
    try:
        return max(statuses, key=severity) if statuses else 'ok'
    except ResultModelError as exc:
        raise AnsibleFilterError('autopilotcx.maintenance.worst_status: %s' % exc)


def alert_priority(results, statuses=FIRING, default='medium'):
    """The priority of an alert about ``results``: the highest priority of the checks at one of ``statuses``."""
    try:
        return _alert_priority(_checks_of(results), statuses=statuses, default=default)
    except MaintenanceError as exc:
        raise AnsibleFilterError('autopilotcx.maintenance.alert_priority: %s' % exc)


class FilterModule(object):
    def filters(self):
        return {'alert_priority': alert_priority, 'failing_checks': failing_checks, 'worst_status': worst_status}
