# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read the outcome records for a period and write the review files (``review_report``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

from ansible_collections.autopilotcx.maintenance.plugins.module_utils import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcome_store import parse_iso, read_jsonl, read_postgres
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.postgres import connect
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.review import (
    build_review,
    default_window,
    render_html,
    render_markdown,
)


def load_records(params, since, until):
    records = []
    if params['source'] in ('jsonl', 'both'):
        if not params['outcome_logs'] and params['source'] == 'jsonl':
            raise MaintenanceError('outcome_logs is empty: name at least one JSON-lines outcome file (or use source=postgres)')
        for path in params['outcome_logs']:
            if os.path.exists(path) and not os.access(path, os.R_OK):
                raise MaintenanceError('Cannot read the outcome file %s: permission denied' % path)
            try:
                records.extend(read_jsonl(path, since=since, until=until))
            except (IOError, OSError) as exc:
                raise MaintenanceError('outcome_logs: cannot read %s (%s)' % (path, getattr(exc, 'strerror', None) or exc))
    if params['source'] in ('postgres', 'both'):
        connection = connect(params)
        if not connection.ok:
            raise MaintenanceError('Cannot read the outcome table on %s: %s' % (connection.target, connection.error))
        try:
            records.extend(read_postgres(connection.conn, params.get('pg_schema'), params['pg_table'], since=since, until=until))
        except deps.load('psycopg').Error as exc:
            raise MaintenanceError('Cannot read the outcome table %s: %s' % (params['pg_table'], str(exc).strip().splitlines()[0]))
        finally:
            connection.close()
    unique = {}
    for record in records:
        unique[record.get('id') or id(record)] = record  # a record in both the file and the table counts once
    return sorted(unique.values(), key=lambda r: (r.get('recorded_at') or '', str(r.get('id'))))


def _write(path, text, atomic_move=None):
    directory = os.path.dirname(path)
    handle, temp = tempfile.mkstemp(dir=directory, prefix='.review-')
    with os.fdopen(handle, 'w') as out:
        out.write(text)
    os.chmod(temp, 0o644)
    if atomic_move is not None:
        atomic_move(temp, path)
    else:
        os.rename(temp, path)


def produce(params, write=True, atomic_move=None, now=None):
    period = params['period']
    try:
        since, until = default_window(period, params.get('until') or now)
        if params.get('since'):
            since = parse_iso(params['since'])
    except ValueError as exc:
        raise MaintenanceError('since/until must be ISO 8601 times: %s' % exc)
    if since >= until:
        raise MaintenanceError('since (%s) must be before until (%s)' % (since.isoformat(), until.isoformat()))
    records = load_records(params, since, until)
    review = build_review(records, period, since, until, selectors=params.get('selectors'), now=now)
    stem = 'review-%s-%s' % (period, until.date().isoformat())
    title = params.get('title') or 'AutopilotCX %s review %s' % (period, until.date().isoformat())
    files = {}
    if write:
        directory = params['output_dir']
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            outputs = (('html', '.html', render_html(review, title)),
                       ('json', '.json', json.dumps(review, indent=2, sort_keys=True, default=str)),
                       ('markdown', '.md', render_markdown(review, title)))
            for key, suffix, text in outputs:
                path = os.path.join(directory, stem + suffix)
                _write(path, text, atomic_move)
                files[key] = path
        except (IOError, OSError) as exc:
            raise MaintenanceError('Cannot write the review to %s: %s' % (directory, exc.strerror or exc))
    return {'changed': bool(files), 'review': review, 'files': files, 'records_read': len(records)}
