# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read the outcome records for a period and write the review files (``review_report``)."""

import datetime
import json
import os
import tempfile
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import settings as outcome_settings
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_as_given, iso_date, parse_iso
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.store import damaged_note, read_jsonl, read_postgres
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import connect
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.outcome_query import read_history
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.review import (
    build_review,
    default_window,
    render_html,
    render_markdown,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report


def store_sources(params: Mapping[str, Any]) -> Tuple[str, List[str], Dict[str, Any]]:
    """Where the records are read: the named files, else the store the outcomes callback writes to.

    ``outcome_logs`` empty means the callback's own setting (``outcome_settings``: AUTOPILOTCX_OUTCOME_LOG,
    then the ansible.cfg ``[autopilotcx_outcomes] path``, then the default); ``pg_dsn`` likewise.
    """
    settings = outcome_settings.resolve({'pg_dsn': params.get('pg_dsn'), 'pg_table': params.get('pg_table'),
                                         'pg_schema': params.get('pg_schema')})
    source = params.get('source') or 'auto'
    if source == 'auto':  # files named explicitly win over the store's DSN
        source = 'postgres' if settings['pg_dsn'] and not params.get('outcome_logs') else 'jsonl'
    files = list(params.get('outcome_logs') or [])
    if not files and source in ('jsonl', 'both'):
        files = [settings['path']]
    return source, files, settings


def load_records(params: Mapping[str, Any], since: datetime.datetime, until: datetime.datetime,
                 notes: Optional[List[str]] = None) -> Tuple[List[Dict[str, Any]], List[str]]:
    """``(records, sources read)``; a line per outcome file with damaged lines goes to ``notes`` when given."""
    source, files, settings = store_sources(params)
    records: List[Dict[str, Any]] = []
    read_from: List[str] = []
    if source in ('jsonl', 'both'):
        for path in files:
            if not os.path.exists(path):
                raise MaintenanceError('The outcome file %s does not exist: the outcomes callback has not written there. '
                                       'It writes to %s; set the same path for both (AUTOPILOTCX_OUTCOME_LOG or the '
                                       'ansible.cfg [autopilotcx_outcomes] path)' % (path, outcome_settings.describe(settings)))
            if not os.access(path, os.R_OK):
                raise MaintenanceError('Cannot read the outcome file %s: permission denied' % path)
            damaged: List[int] = []
            try:
                records.extend(read_jsonl(path, since=since, until=until, damaged=damaged))
            except (IOError, OSError) as exc:
                raise MaintenanceError('outcome_logs: cannot read %s (%s)' % (path, getattr(exc, 'strerror', None) or exc))
            note = damaged_note(path, damaged)
            if note and notes is not None:
                notes.append(note)
            read_from.append(path)
    if source in ('postgres', 'both'):
        if params.get('pg_dsn') or (settings['pg_dsn'] and not params.get('login_host') and not params.get('login_unix_socket')):
            found, where = read_history(dsn=settings['pg_dsn'], pg_table=settings['pg_table'] or 'maintenance_outcomes',
                                        pg_schema=settings['pg_schema'], since=since, until=until)
            records.extend(found)
            read_from.append(where)
        else:
            table = settings['pg_table'] or 'maintenance_outcomes'
            connection = connect(params)
            if not connection.ok:
                raise MaintenanceError('Cannot read the outcome table on %s: %s' % (connection.target, connection.error))
            try:
                records.extend(read_postgres(connection.conn, params.get('pg_schema'), table, since=since, until=until))
            except deps.load('psycopg').Error as exc:
                raise MaintenanceError('Cannot read the outcome table %s: %s' % (table, str(exc).strip().splitlines()[0]))
            finally:
                connection.close()
            read_from.append('PostgreSQL table %s on %s' % (table, connection.target))
    if not records:
        raise MaintenanceError('No outcome records between %s and %s in %s: a review of nothing is not a review. Is the '
                               'outcomes callback enabled and writing there (it writes to %s)?'
                               % (iso_as_given(since), iso_as_given(until), ', '.join(read_from),
                                  outcome_settings.describe(settings, 'pg_dsn' if settings['pg_dsn'] else 'path')))
    unique: Dict[Any, Dict[str, Any]] = {}
    for record in records:
        unique[record.get('id') or id(record)] = record  # a record in both the file and the table counts once
    return sorted(unique.values(), key=lambda r: (r.get('recorded_at') or '', str(r.get('id')))), read_from


def _write(path: str, text: str, atomic_move: Optional[Callable[[str, str], Any]] = None) -> None:
    directory = os.path.dirname(path)
    handle, temp = tempfile.mkstemp(dir=directory, prefix='.review-')
    with os.fdopen(handle, 'w') as out:
        out.write(text)
    os.chmod(temp, 0o644)
    if atomic_move is not None:
        atomic_move(temp, path)
    else:
        os.rename(temp, path)


def produce(params: Mapping[str, Any], write: bool = True, atomic_move: Optional[Callable[[str, str], Any]] = None,
            now: Optional[str] = None) -> Dict[str, Any]:
    period = params['period']
    try:
        since, until = default_window(period, params.get('until') or now)
        if params.get('since'):
            since = parse_iso(params['since'])
    except ValueError as exc:
        raise MaintenanceError('since/until must be ISO 8601 times: %s' % exc)
    if since >= until:
        raise MaintenanceError('since (%s) must be before until (%s)' % (iso_as_given(since), iso_as_given(until)))
    notes: List[str] = []
    records, read_from = load_records(params, since, until, notes)
    review = build_review(records, period, since, until, selectors=params.get('selectors'), now=now)
    stem = 'review-%s-%s' % (period, iso_date(until))
    title = params.get('title') or 'AutopilotCX %s review %s' % (period, iso_date(until))
    files: Dict[str, str] = {}
    if write:
        directory = params.get('output_dir') or os.path.join(os.path.dirname(read_from[0]) if read_from[0].startswith('/')
                                                             else os.path.expanduser('~/.ansible'), 'reviews')
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755, exist_ok=True)
            outputs = (('html', '.html', render_html(review, title)),
                       ('json', '.json', json.dumps(review, indent=2, sort_keys=True, default=str)),
                       ('markdown', '.md', render_markdown(review, title)))
            for key, suffix, text in outputs:
                path = os.path.join(directory, stem + suffix)
                _write(path, text, atomic_move)
                files[key] = path
        except (IOError, OSError) as exc:
            raise MaintenanceError('Cannot write the review to %s: %s' % (directory, exc.strerror or exc))
    return {'changed': bool(files), 'review': review, 'files': files, 'records_read': len(records), 'sources': read_from,
            'warnings': notes}


def run(params: Mapping[str, Any], check_mode: bool = False, host: Optional[Any] = None) -> Report:
    """The review_report module's entry (``result.Report``, no checks): the review, written unless in check mode.

    ``host.atomic_move`` puts each file in place (``produce`` writes in place without one).
    """
    atomic_move = host.atomic_move if host is not None else None
    result = produce(params, write=not check_mode, atomic_move=atomic_move)
    warnings = result.pop('warnings')
    return Report.from_result(result, warnings=warnings)
