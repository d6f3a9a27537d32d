# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The compliance view (``compliance_check`` module): checks and findings mapped to named controls.

A profile is data::

    name: cis-debian-small
    controls:
      - id: "5.1.20"
        title: Ensure sshd PermitRootLogin is disabled
        checks: [security.sshd]            # fnmatch patterns of check names: the evidence
        finding: permitrootlogin           # optional regular expression on the findings' reasons and subjects
        severity: critical                 # what a failed control is (critical or warning; default critical)

A control *passes* when evidence exists and nothing in it fails; it *fails* when a matching check is at
warning or critical (with ``finding``: when a warning or critical finding of a matching check matches the
expression); it is *unknown* when a matching check could not measure, and *not assessed* (unknown, with that
reason) when no check in the results is evidence for it: never a pass for want of evidence.

Plain Python: unit tests call ``evaluate_profile()`` without Ansible.
"""

import fnmatch
import re

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    CRITICAL,
    OK,
    Report,
    UNKNOWN,
    WARNING,
    make_check,
)

FAILING = (WARNING, CRITICAL)
MAX_EVIDENCE = 5


def check_profile(profile):
    """A checked copy of the profile; a bad one raises naming the control and key."""
    if not isinstance(profile, dict) or not isinstance(profile.get('controls'), list) or not profile['controls']:
        raise MaintenanceError('profile must be a mapping with name and a non-empty list of controls')
    controls, seen = [], set()
    for index, control in enumerate(profile['controls']):
        label = 'profile.controls[%d]' % index
        if not isinstance(control, dict):
            raise MaintenanceError('%s must be a mapping with id, title and checks' % label)
        for key in ('id', 'title', 'checks'):
            if not control.get(key):
                raise MaintenanceError('%s needs %s' % (label, key))
        if control['id'] in seen:
            raise MaintenanceError('%s: id %s is used twice' % (label, control['id']))
        seen.add(control['id'])
        checks = control['checks'] if isinstance(control['checks'], list) else [control['checks']]
        pattern = None
        if control.get('finding'):
            try:
                pattern = re.compile(str(control['finding']), re.I)
            except re.error as exc:
                raise MaintenanceError('%s (%s): finding is not a regular expression: %s' % (label, control['id'], exc))
        severity = control.get('severity') or CRITICAL
        if severity not in FAILING:
            raise MaintenanceError('%s (%s): severity must be warning or critical, not %r' % (label, control['id'], severity))
        controls.append({'id': str(control['id']), 'title': str(control['title']), 'checks': [str(c) for c in checks],
                         'pattern': pattern, 'severity': severity, 'section': control.get('section')})
    return {'name': str(profile.get('name') or 'profile'), 'controls': controls}


def collect_checks(results):
    """Checks from module results (dicts with ``checks``), check lists, or checks themselves; last one of a name wins."""
    found = {}

    def add(item):
        if isinstance(item, list):
            for entry in item:
                add(entry)
        elif isinstance(item, dict) and isinstance(item.get('checks'), list):
            add(item['checks'])
        elif isinstance(item, dict) and isinstance(item.get('results'), list):  # a registered loop
            add(item['results'])
        elif isinstance(item, dict) and item.get('name') and item.get('status'):
            found[(item['name'], item.get('target'))] = item
    add(results)
    return list(found.values())


def _matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def evaluate_control(control, checks):
    """(status pass/fail/unknown/not_assessed, reason, evidence)."""
    evidence = [c for c in checks if _matches(c['name'], control['checks'])]
    if not evidence:
        return 'not_assessed', 'no result of %s in this run' % ', '.join(control['checks']), []
    failing, unknown = [], []
    for check in evidence:
        if control['pattern'] is None:
            if check['status'] in FAILING:
                failing.append('%s: %s' % (check['name'], check.get('reason')))
            elif check['status'] == UNKNOWN:
                unknown.append('%s: %s' % (check['name'], check.get('reason')))
            continue
        findings = (check.get('details') or {}).get('findings') or []
        hits = [f for f in findings if f.get('severity') in FAILING and
                (control['pattern'].search(str(f.get('reason', ''))) or control['pattern'].search(str(f.get('subject', ''))))]
        if hits:
            failing.extend('%s: %s' % (check['name'], f.get('reason')) for f in hits)
        elif check['status'] in FAILING and not findings and control['pattern'].search(str(check.get('reason', ''))):
            failing.append('%s: %s' % (check['name'], check.get('reason')))
        elif check['status'] == UNKNOWN and not findings:
            unknown.append('%s: %s' % (check['name'], check.get('reason')))
    names = sorted(set(c['name'] for c in evidence))
    if failing:
        return 'fail', '; '.join(failing[:MAX_EVIDENCE]) + (' (and %d more)' % (len(failing) - MAX_EVIDENCE)
                                                            if len(failing) > MAX_EVIDENCE else ''), names
    if unknown:
        return 'unknown', '; '.join(unknown[:MAX_EVIDENCE]), names
    return 'pass', 'evidence: %s' % ', '.join(names), names


def evaluate_profile(profile, results):
    """Returns ``(checks, extra, changed)``: one check per control and ``compliance.summary``."""
    profile = check_profile(profile)
    checks_in = collect_checks(results)
    controls, checks = [], []
    for control in profile['controls']:
        outcome, reason, evidence = evaluate_control(control, checks_in)
        controls.append({'id': control['id'], 'title': control['title'], 'section': control['section'], 'result': outcome,
                         'reason': reason, 'evidence': evidence})
        status = {'pass': OK, 'fail': control['severity'], 'unknown': UNKNOWN, 'not_assessed': UNKNOWN}[outcome]
        text = '%s %s: %s - %s' % (control['id'], control['title'], outcome.replace('_', ' '), reason)
        checks.append(make_check('compliance.%s' % control['id'], status, text, value=outcome, priority='high' if status == CRITICAL else
                                 ('medium' if status in (WARNING, UNKNOWN) else 'low'), target=profile['name'],
                                 details={'title': control['title'], 'evidence': evidence}))
    counts = dict((k, sum(1 for c in controls if c['result'] == k)) for k in ('pass', 'fail', 'unknown', 'not_assessed'))
    assessed = counts['pass'] + counts['fail']
    score = round(100.0 * counts['pass'] / assessed, 1) if assessed else None
    summary_status = CRITICAL if any(c['status'] == CRITICAL for c in checks) else (
        WARNING if counts['fail'] else (UNKNOWN if assessed == 0 else OK))
    checks.append(make_check('compliance.summary', summary_status, '%s: %d of %d control(s) pass, %d fail, %d unknown, %d not assessed'
                             % (profile['name'], counts['pass'], len(controls), counts['fail'], counts['unknown'], counts['not_assessed']),
                             value=score, unit='%', priority='high' if summary_status == CRITICAL else 'medium', target=profile['name'],
                             details={'counts': counts}))
    return checks, {'controls': controls, 'profile': profile['name'], 'compliance': counts, 'score': score}, False


def run(params, check_mode=False, host=None):
    """The compliance_check module's entry (``result.Report``)."""
    checks, extra, changed = evaluate_profile(params['profile'], params['results'])
    return Report(checks, changed=changed, data=extra)
