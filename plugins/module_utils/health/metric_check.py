# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hold externally measured values against named thresholds (``metric_check``)."""

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    Report,
    evaluate,
    make_check,
    unknown,
)


def to_number(name, value):
    """Accept numbers and numeric strings (e.g. registered command output); None stays None."""
    if value is None or value == '':
        return None
    if isinstance(value, bool):
        raise MaintenanceError('metric %s: value must be a number, not a boolean' % name)
    if isinstance(value, (int, float)):
        return value
    try:
        text = str(value).strip()
        return int(text) if text.lstrip('-').isdigit() else float(text)
    except ValueError:
        raise MaintenanceError('metric %s: value %r is not a number' % (name, value))


def check_metrics(metrics, thresholds):
    """One check per metric. Each metric: name, value, threshold (name in ``thresholds``) or limits, unit, target.

    A value of NaN or infinity is never ok (see ``result.evaluate``); an empty ``metrics`` list is refused: a
    check that judges nothing must not report green.
    """
    if not metrics:
        raise MaintenanceError('metrics is empty: nothing to check; give at least one measured value')
    checks = []
    for metric in metrics:
        name = metric['name']
        spec = metric.get('limits')
        if spec is None and metric.get('threshold'):
            if metric['threshold'] not in thresholds:
                checks.append(unknown(name, 'threshold %r is not defined in thresholds' % metric['threshold'],
                                      target=metric.get('target')))
                continue
            spec = thresholds[metric['threshold']]
        if metric.get('error'):
            checks.append(make_check(name, 'critical', metric['error'], target=metric.get('target'), priority='high'))
            continue
        value = to_number(name, metric.get('value'))
        checks.append(evaluate(name, value, spec, label=metric.get('label'), target=metric.get('target'),
                               unit=metric.get('unit')))
    return checks


def run(params, check_mode=False, host=None):
    """The metric_check module's entry (``result.Report``)."""
    return Report(check_metrics(params['metrics'], params['thresholds']))
