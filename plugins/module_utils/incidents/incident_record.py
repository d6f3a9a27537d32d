# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incident records: a JSON file with a timeline, and the ``incident.<kind>`` check that puts the
incident in the outcome store (the reviews list every ``incident.*`` check).

Plain Python: unit tests import it without Ansible.
"""

import json
import os
import re
import tempfile

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_utc, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    PRIORITIES,
    Report,
    STATUSES,
    make_check,
)

KINDS = ('security', 'outage')
_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$')


def validate_id(incident_id):
    if not incident_id or not _ID.match(incident_id):
        raise MaintenanceError('incident_id %r must be 1-100 letters, digits, dots, dashes or underscores' % incident_id)
    return incident_id


def normalise_timeline(events):
    """Timeline entries as {at, event, details}; sorted by time (entries without a time keep their place last)."""
    result = []
    for index, item in enumerate(events or []):
        if isinstance(item, str):
            item = {'event': item}
        if not isinstance(item, dict) or not item.get('event'):
            raise MaintenanceError('timeline entry %d needs an "event" text: %r' % (index + 1, item))
        entry = {'at': item.get('at') or iso_utc(utc_now()), 'event': str(item['event'])}
        for key, value in item.items():
            if key not in ('at', 'event'):
                entry[key] = value
        result.append(entry)
    return sorted(result, key=lambda e: str(e['at']))


def build_record(incident_id, kind, title, status, priority, summary='', timeline=None, affected=None,
                 actions=None, evidence=None, extra=None, opened=None):
    validate_id(incident_id)
    if kind not in KINDS:
        raise MaintenanceError('kind must be one of %s, not %r' % (', '.join(KINDS), kind))
    if status not in STATUSES:
        raise MaintenanceError('status must be one of %s, not %r' % (', '.join(STATUSES), status))
    if priority not in PRIORITIES:
        raise MaintenanceError('priority must be one of %s, not %r' % (', '.join(PRIORITIES), priority))
    events = normalise_timeline(timeline)
    record = {
        'incident_id': incident_id, 'kind': kind, 'title': title, 'status': status, 'priority': priority,
        'summary': summary, 'opened': opened or (events[0]['at'] if events else iso_utc(utc_now())), 'recorded': iso_utc(utc_now()),
        'affected': affected or [], 'actions': actions or [], 'evidence': evidence or [],
        'timeline': events,
    }
    if extra:
        record['details'] = extra
    return record


def incident_check(record, target=None):
    """The ``incident.<kind>`` check of a record (its status is the incident's current status)."""
    reason = '%s incident %s: %s' % (record['kind'], record['incident_id'], record['title'])
    if record.get('summary'):
        reason += ' - %s' % record['summary']
    return make_check('incident.%s' % record['kind'], record['status'], reason, value=record['incident_id'],
                      priority=record['priority'], target=target,
                      details={'affected': record['affected'], 'actions': record['actions'],
                               'timeline_events': len(record['timeline']), 'opened': record['opened']})


def write_record(path, record, check_mode=False):
    """Write the record atomically. Returns True when the file content changed."""
    text = json.dumps(record, indent=2, sort_keys=True, default=str) + '\n'
    old = None
    if os.path.isfile(path):
        with open(path, 'rb') as handle:
            old = handle.read().decode('utf-8', 'replace')  # not a record: it differs, json.loads says so below
    if old is not None:
        try:
            previous = json.loads(old)
            previous.pop('recorded', None)
            current = dict(record)
            current.pop('recorded', None)
            if previous == json.loads(json.dumps(current, default=str)):
                return False
        except ValueError:
            pass
    if check_mode:
        return True
    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        if os.path.isdir(path):
            raise OSError('it is a directory')
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o750, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=directory, prefix='.incident-')
        with os.fdopen(handle, 'w') as out:
            out.write(text)
        os.rename(tmp, path)
    except (IOError, OSError) as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise MaintenanceError('cannot write the incident record %s: %s' % (path, exc))
    return True


def record_result(params, check_mode=False):
    """The incident_record module's work: (result dict, ``incident.<kind>`` check, changed)."""
    record = build_record(params['incident_id'], params['kind'], params['title'], params['status'],
                          params['priority'], summary=params['summary'], timeline=params['timeline'],
                          affected=params['affected'], actions=params['actions'], evidence=params['evidence'],
                          extra=params['details'])
    result = {'record': record}
    changed = False
    if params.get('path'):
        changed = write_record(params['path'], record, check_mode=check_mode)
        result['path'] = params['path']
    return result, incident_check(record, target=params.get('path')), changed


def run(params, check_mode=False, host=None):
    """The incident_record module's entry (``result.Report``)."""
    result, check, changed = record_result(params, check_mode)
    return Report([check], changed=changed, data=result)
