# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that hold a role's judgement in tested Python instead of Jinja (issue 16): the system_outage role's
assessment and the patch_health_gate role's probes as metrics.

The documentation of each filter is in the .yml file of the same name beside this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents.outage import assess
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.patching.health_gate import probe_metrics as _probe_metrics


def outage_assessment(services, checks, service_states=None, status_results=None, host=''):
    """``{down, checks, failing, degraded}`` of one host (``incidents.outage.assess``)."""
    try:
        return assess(services, checks, service_states=service_states, status_results=status_results, host=host)
    except MaintenanceError as exc:
        raise AnsibleFilterError('autopilotcx.maintenance.outage_assessment: %s' % exc)


def probe_metrics(results, target):
    """The ``metric_check`` metrics of the probes that ran (``patching.health_gate.probe_metrics``)."""
    try:
        return _probe_metrics(results, target)
    except MaintenanceError as exc:
        raise AnsibleFilterError('autopilotcx.maintenance.probe_metrics: %s' % exc)


class FilterModule(object):
    def filters(self):
        return {'outage_assessment': outage_assessment, 'probe_metrics': probe_metrics}
