# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Application dependency audits (``dependency_audit``): pip-audit and npm audit, read from their JSON.

The tools run through an injected ``run(argv, cwd)`` returning ``(rc, stdout, stderr)`` and are found with an
injected ``which(name)``, so tests hand in captured output. Both tools exit 1 when they find vulnerabilities: the
exit code alone says nothing, the JSON does; output that is not the tool's JSON is a critical check with the tail of
what the tool said.
"""

import json
import os
import shutil
import socket
import tempfile

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health.metric_check import check_metrics
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report, ok

PIP_AUDIT = ('pip-audit', '-f', 'json', '--progress-spinner', 'off')
# npm writes logs, an update-notifier stamp and a cache under ~/.npm: none of that on an audit (it is read-only)
NPM_AUDIT = ('npm', 'audit', '--json', '--no-update-notifier', '--logs-max=0')
TAIL = 300


def _json(text):
    text = (text or '').strip()
    if not text.startswith(('{', '[')):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _why(tool, rc, text):
    return '%s exited %s: %s' % (tool, rc, (text or '').strip()[-TAIL:])


def pip_audit_metric(rc, stdout, stderr, target):
    """pip-audit 2.x ``-f json``: ``{"dependencies": [{"name", "version", "vulns": [...]}], "fixes": []}`` (or a list)."""
    data = _json(stdout)
    if data is None:
        return {'name': 'dependency.pip_audit', 'target': target, 'error': _why('pip-audit', rc, stderr)}
    dependencies = data.get('dependencies', []) if isinstance(data, dict) else data
    vulnerable = [d for d in dependencies if isinstance(d, dict) and d.get('vulns')]
    return {'name': 'dependency.pip_audit', 'threshold': 'dependency_vulnerabilities',
            'label': 'known vulnerabilities (pip-audit)', 'target': target,
            'value': sum(len(d['vulns']) for d in vulnerable)}


def npm_audit_metrics(rc, stdout, stderr, project):
    """npm 7+ ``audit --json``: totals under ``metadata.vulnerabilities``; errors under ``error.summary``."""
    data = _json(stdout)
    totals = data.get('metadata', {}).get('vulnerabilities') if isinstance(data, dict) else None
    if not isinstance(totals, dict):
        error = data.get('error') if isinstance(data, dict) else None
        why = error.get('summary', '') if isinstance(error, dict) else stderr
        return [{'name': 'dependency.npm_audit', 'target': project, 'error': _why('npm audit', rc, why)}]
    return [
        {'name': 'dependency.npm_audit', 'threshold': 'dependency_vulnerabilities',
         'label': 'known vulnerabilities (npm audit)', 'target': project, 'value': totals.get('total', 0)},
        {'name': 'dependency.npm_audit_high', 'threshold': 'dependency_vulnerabilities_high',
         'label': 'high and critical vulnerabilities (npm audit)', 'target': project,
         'value': totals.get('high', 0) + totals.get('critical', 0)},
    ]


def audit(params, thresholds, run, which, target):
    """The checks of one host's audits: pip-audit (when asked and installed), npm audit per project, the tools."""
    tools = dict((name, bool(which(name))) for name in ('pip-audit', 'npm'))
    metrics = []
    if params.get('pip_audit') and tools['pip-audit']:
        rc, out, err = run(list(PIP_AUDIT) + list(params.get('pip_audit_args') or []), None)
        metrics.append(pip_audit_metric(rc, out, err, target))
    if tools['npm'] and params.get('npm_projects'):
        cache = tempfile.mkdtemp(prefix='autopilotcx-npm-')
        try:
            for project in params['npm_projects']:
                if not os.path.isdir(project):
                    metrics.append({'name': 'dependency.npm_audit', 'target': project,
                                    'error': 'npm_projects: %s is not a directory' % project})
                    continue
                rc, out, err = run(list(NPM_AUDIT) + ['--cache=%s' % cache], project)
                metrics.extend(npm_audit_metrics(rc, out, err, project))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    checks = check_metrics(metrics, thresholds) if metrics else []
    checks.append(ok('dependency.tools', 'pip-audit %s; npm %s' % (
        'present' if tools['pip-audit'] else 'not installed', 'present' if tools['npm'] else 'not installed'),
        target=target, details={'tools': sorted(name for name, found in tools.items() if found)}))
    return checks


def run(params, check_mode=False, host=None):
    """The dependency_audit module's entry (``result.Report``); ``host`` runs and finds the tools."""
    if host is None:
        raise MaintenanceError('dependency_audit needs a host that runs commands (module_support.ModuleHost)')
    target = params['target'] or socket.gethostname()
    checks = audit(params, params['thresholds'], lambda argv, cwd: host.run_command(argv, cwd=cwd), host.get_bin_path,
                   target)
    return Report(checks)
