# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The patch_health_gate role's probes as ``metric_check`` metrics, which then judges them.

``probe_metrics(results, target)`` takes the registered results of the role's probe loop (each ``item`` a
``patch_health_gate_probes`` entry) and returns one metric per probe that ran: its trimmed stdout as the value,
judged against the probe's inline ``limits`` or its named ``threshold``; a probe that exited non-zero gets an empty
value and an ``error`` with the exit code and the start of its stderr, so ``metric_check`` makes it a critical
check. A probe skipped for another package manager gives no metric.

Plain Python: the ``probe_metrics`` filter and unit tests call it without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

STDERR_CHARS = 300


def _text(value):
    return '' if value is None else str(value).strip()


def probe_metrics(results, target):
    """One ``metric_check`` metric per probe that ran; see the module docstring."""
    metrics = []
    for index, result in enumerate(results or []):
        if not isinstance(result, dict) or not isinstance(result.get('item'), dict):
            raise MaintenanceError('results[%d]: expected a registered probe result with its item, not %r'
                                   % (index, type(result).__name__))
        if 'skipped' in result:
            continue
        probe = result['item']
        rc = result.get('rc')
        metric = {'name': probe.get('name'), 'value': _text(result.get('stdout')) if rc == 0 else '', 'target': target}
        if 'label' in probe:
            metric['label'] = probe['label']
        if 'limits' in probe:
            metric['limits'] = probe['limits']
        else:
            metric['threshold'] = probe.get('threshold', '')
        if 'unit' in probe:
            metric['unit'] = probe['unit']
        if rc is None:
            metric['error'] = 'probe did not run: %s' % _text(result.get('msg'))[:STDERR_CHARS]
        elif rc != 0:
            metric['error'] = 'probe exited %s: %s' % (rc, _text(result.get('stderr'))[:STDERR_CHARS])
        metrics.append(metric)
    return metrics
