# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The system_outage role's judgement of one phase (assess, verify): which services are down and why.

``assess(services, checks, service_states, status_results, host)`` takes what the role gathered on a host - its
``system_outage_services``, the checks of the health-check roles, ``ansible_facts.services`` and the results of the
services' status commands - and returns ``{down, checks, failing, degraded}``:

* a service is down when its status command exited non-zero, or (without one) the service manager does not say
  ``running`` (``not found`` when it does not know the service), or a critical check matches one of its ``checks``
  patterns (``re.search`` on ``"<check name> <target>"``);
* ``failing``: the critical checks, ``degraded``: the warnings (slow, expiring: reported, not an outage), each as
  ``"<check name> <target>"``.

Plain Python: the ``outage_assessment`` filter and unit tests call it without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError


def _labels(checks, status):
    return ['%s %s' % (c.get('name'), c.get('target', '')) for c in checks if c.get('status') == status]


def _service_state(service_states, name):
    state = service_states.get(name + '.service')
    if state is None:
        state = service_states.get(name)
    return (state or {}).get('state', 'not found')


def assess(services, checks, service_states=None, status_results=None, host=''):
    """``{down, checks, failing, degraded}`` of one host; see the module docstring."""
    checks = list(checks or [])
    for index, check in enumerate(checks):
        if not isinstance(check, dict):
            raise MaintenanceError('checks[%d]: a check is a mapping with name, status and target, not %r'
                                   % (index, type(check).__name__))
    service_states = service_states or {}
    ran = {}
    for result in status_results or []:
        if isinstance(result, dict) and isinstance(result.get('item'), dict):
            ran[result['item'].get('name')] = result
    failing = _labels(checks, 'critical')
    degraded = _labels(checks, 'warning')
    down = []
    for index, service in enumerate(services or []):
        if not isinstance(service, dict) or not service.get('name'):
            raise MaintenanceError('system_outage_services[%d]: each service is a mapping with a name' % index)
        name = service['name']
        reasons = []
        if 'status_command' in service:
            result = ran.get(name)
            if result is not None and result.get('rc') is None:   # no exit code: it did not run, so nothing says it runs
                reasons.append('status command did not run: %s' % ' '.join(str(result.get('msg') or '').split())[:300])
            elif result is not None and result['rc'] != 0:
                reasons.append('status command exit %s' % result['rc'])
        else:
            state = _service_state(service_states, name)
            if state != 'running':
                reasons.append('service %s' % state)
        for pattern in service.get('checks') or []:
            try:
                matched = [label for label in failing if re.search(pattern, label)]
            except (re.error, TypeError) as exc:
                raise MaintenanceError('system_outage_services[%d] (%s): checks pattern %r is not a regular expression: %s'
                                       % (index, name, pattern, exc))
            reasons.extend('failing check %s' % label for label in matched)
        if reasons:
            down.append({'host': host, 'service': name, 'reasons': reasons, 'restart': service.get('restart', True)})
    return {'down': down, 'checks': checks, 'failing': failing, 'degraded': degraded}
