# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The promotion gate: production only gets a package set that staging verified recently.

Staging proves a set by recording a ``patch.staging_verified`` check (status
``ok``, ``details.package_set`` = the sorted ``name=version`` list applied,
``details.environment`` = ``staging``) after its health gate passed. The gate
reads the outcome records - the PostgreSQL store when a DSN is given (so the
production job of an AWX workflow, in a fresh container, sees what staging's job
recorded), the JSON-lines file otherwise - and looks for such a
check within ``within_days`` whose package set covers (``subset``) or equals
(``exact``) the set production is about to apply.

Sets are compared by ``package_hashes`` (sha256 of each ``name=version``,
16 hex digits) when the record has them: the outcome callback redacts every
extra-var value in its records, so a hotfix list passed with ``-e`` shows as
``********`` in ``package_set`` while its hashes stay comparable.

A refusal names only the packages that differ (``details.not_verified``), measured against the recent
verification closest to the planned set: each one either staging did not verify at all, or staging verified
another version of it (named when the record still shows it).

Plain Python: unit tests call it without Ansible.
"""

import datetime
import hashlib
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import parse_iso, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.store import (
    Moment,
    Record,
    damaged_note,
    read_jsonl,
    read_postgres,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.state_store import connect_dsn, scrub_dsn
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.settings import resolve as store_settings
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report, critical, make_check, ok

VERIFIED_CHECK = 'patch.staging_verified'
MATCHES = ('subset', 'exact')


def package_hash(item: object) -> str:
    """Short sha256 of one ``name=version`` string (the same as Jinja's ``hash('sha256')[:16]``)."""
    return hashlib.sha256(str(item).encode('utf-8')).hexdigest()[:16]


def verified_sets(records: Iterable[Mapping[str, Any]], environment: Optional[str] = 'staging',
                  check_name: str = VERIFIED_CHECK) -> List[Dict[str, Any]]:
    """Every ok ``check_name`` check in the records: dicts with package_set, host, run_id, recorded_at."""
    found: List[Dict[str, Any]] = []
    for record in records:
        if record.get('status') not in ('ok', 'changed'):
            continue
        for check in record.get('checks') or []:
            if check.get('name') != check_name or check.get('status') != 'ok':
                continue
            details = check.get('details') or {}
            if environment and details.get('environment') != environment:
                continue
            hashes = details.get('package_hashes') or [package_hash(p) for p in details.get('package_set') or []]
            found.append({'package_set': sorted(details.get('package_set') or []), 'hashes': set(hashes),
                          'host': record.get('host'),
                          'run_id': record.get('run_id'), 'recorded_at': record.get('recorded_at'),
                          'playbook': record.get('playbook')})
    return found


def read_history(path: Optional[str] = None, dsn: Optional[str] = None, pg_table: str = 'maintenance_outcomes',
                 pg_schema: Optional[str] = None, since: Moment = None, until: Moment = None,
                 kind: Optional[str] = None, damaged: Optional[List[int]] = None) -> Tuple[List[Record], str]:
    """``(records, source)`` from the PostgreSQL store when ``dsn`` is set, else from the file ``path`` (the numbers of
    its damaged lines appended to ``damaged``, see ``store.read_jsonl``).

    Raises ``MaintenanceError`` naming the source when it is missing or cannot be read (never the password).
    """
    if dsn:
        source = 'PostgreSQL table %s' % ('%s.%s' % (pg_schema, pg_table) if pg_schema else pg_table)
        if not deps.available('psycopg'):
            raise MaintenanceError('cannot read the %s: psycopg >= 3.1 is not installed on the control node' % source)
        psycopg = deps.load('psycopg')
        try:
            with connect_dsn(dsn) as conn:
                return read_postgres(conn, pg_schema, pg_table, since=since, until=until, kind=kind), source
        except psycopg.Error as exc:
            raise MaintenanceError('cannot read the %s: %s' % (source, scrub_dsn(str(exc).strip().splitlines()[0], dsn)))
    if not path:
        raise MaintenanceError('no outcome store: set path, or a DSN (AUTOPILOTCX_OUTCOME_DSN / [autopilotcx_outcomes] pg_dsn)')
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise MaintenanceError('the outcome log %s does not exist: the outcomes callback has not written there '
                               '(is it enabled, and does its [autopilotcx_outcomes] path or AUTOPILOTCX_OUTCOME_LOG '
                               'name this file?)' % path)
    try:
        return read_jsonl(path, since=since, until=until, kind=kind, damaged=damaged), path
    except (IOError, OSError) as exc:
        raise MaintenanceError('cannot read the outcome log %s: %s' % (path, exc.strerror or exc))


def promotion_gate(path: Optional[str], package_set: Optional[Iterable[str]], within_days: float = 7, environment: str = 'staging',
                   match: str = 'subset', now: Optional[str] = None, check_name: str = VERIFIED_CHECK, min_hosts: int = 1,
                   dsn: Optional[str] = None, pg_table: str = 'maintenance_outcomes',
                   pg_schema: Optional[str] = None) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Returns ``(checks, evidence)``: a critical check unless a recent verification covers ``package_set``.

    The records come from the PostgreSQL store when ``dsn`` is set, from the file ``path`` otherwise.
    """
    if match not in MATCHES:
        raise MaintenanceError('match must be one of %s, not %r' % (', '.join(MATCHES), match))
    if within_days <= 0:
        raise MaintenanceError('within_days must be positive')
    wanted = sorted(set(package_set or []))
    try:
        moment = parse_iso(now) if now else utc_now()
    except ValueError:
        raise MaintenanceError('now must be an ISO 8601 date and time, not %r' % now)
    try:
        since = moment - datetime.timedelta(days=within_days)
    except OverflowError:
        raise MaintenanceError('within_days %d is too large' % within_days)
    name = 'patch.promotion_gate'
    if not wanted:
        return [ok(name, 'nothing to promote (empty package set)', value=0)], []
    damaged: List[int] = []
    try:
        records, path = read_history(path, dsn, pg_table, pg_schema, since=since,
                                     until=moment + datetime.timedelta(seconds=1), kind='task', damaged=damaged)
    except MaintenanceError as exc:
        return [critical(name, '%s; production is not promoted' % exc, target=path or 'PostgreSQL',
                         details={'environment': environment, 'package_set': wanted, 'not_verified': wanted})], []
    checks, evidence = _gate(name, records, wanted, environment, check_name, match, min_hosts, within_days, path)
    note = damaged_note(path, damaged)
    if note:
        # a damaged line may have been the verification itself: the gate's verdict stands, and says what it could not read
        checks.append(make_check('patch.outcome_log', 'warning', note, target=path, value=len(damaged), unit='lines',
                                 priority='medium'))
    return checks, evidence


def _gate(name: str, records: List[Record], wanted: List[str], environment: str, check_name: str, match: str,
          min_hosts: int, within_days: float, path: str) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """The promotion gate's verdict on the records read."""
    evidence: List[Dict[str, Any]] = []
    wanted_hashes = dict((package_hash(p), p) for p in wanted)
    closest: Optional[Tuple[int, List[str], int, Dict[str, Any]]] = None
    for entry in verified_sets(records, environment, check_name):
        have = entry.pop('hashes')
        if (match == 'exact' and have == set(wanted_hashes)) or (match == 'subset' and set(wanted_hashes) <= have):
            evidence.append(entry)
        missing = sorted(wanted_hashes[h] for h in set(wanted_hashes) - have)
        extra = len(have - set(wanted_hashes)) if match == 'exact' else 0
        count = len(missing) + extra
        if closest is None or count < closest[0] or (
                count == closest[0] and (entry['recorded_at'] or '') > (closest[3]['recorded_at'] or '')):
            closest = (count, missing, extra, entry)
    hosts = sorted(set(e['host'] for e in evidence if e['host']))
    details: Dict[str, Any] = {'package_set': wanted, 'within_days': within_days, 'environment': environment,
                               'match': match, 'verified_hosts': hosts}
    if len(hosts) >= min_hosts and evidence:
        latest = max(evidence, key=lambda e: e['recorded_at'] or '')
        return [ok(name, '%s verified the same package set on %d host(s), last at %s (run %s)'
                   % (environment, len(hosts), latest['recorded_at'], latest['run_id']),
                   value=len(hosts), target=path, details=details)], evidence
    if evidence:
        details['not_verified'] = []
        reason = ('%s verified this package set on %d host(s) (%s), fewer than the %d required'
                  % (environment, len(hosts), ', '.join(hosts) or 'no host named', min_hosts))
    elif closest is None:
        details['not_verified'] = wanted
        reason = ('no successful %s run of any package set within %d day(s); %d package(s) planned: %s'
                  % (environment, within_days, len(wanted), ', '.join(wanted)))
    else:
        _count, missing, extra, entry = closest
        details['not_verified'] = missing
        details['closest_verification'] = dict((k, entry[k]) for k in ('host', 'run_id', 'recorded_at'))
        named = [_difference(item, entry['package_set'], environment) for item in missing]
        reason = ('%s did not verify %d of %d planned package(s): %s (closest: %s at %s, run %s)'
                  % (environment, len(missing), len(wanted), ', '.join(named), entry['host'], entry['recorded_at'],
                     entry['run_id']))
        if extra:
            reason += '; it also verified %d package(s) not in this set (match: exact)' % extra
    return [critical(name, reason, value=len(hosts), target=path, details=details)], evidence


def _difference(item: str, verified: Sequence[str], environment: str) -> str:
    """``name=version (staging verified name=other)`` or ``name=version (not verified by staging)``."""
    package = item.partition('=')[0]
    others = [v for v in verified if v.partition('=')[0] == package and v != item]
    if others:
        return '%s (%s verified %s)' % (item, environment, ', '.join(others))
    return '%s (not verified by %s)' % (item, environment)


def preview(checks: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """For a check-mode run: the gate's verdict as a preview. A refusal is expected there (a dry run of staging
    verifies nothing), so it is an ok check saying plainly that production would wait, not a critical one."""
    previewed = []
    for check in checks:
        if check.get('name') == 'patch.promotion_gate':
            details = dict(check.get('details') or {})
            if check.get('status') == 'critical':
                details['would_wait'] = True
                waiting = details.get('not_verified') or details.get('package_set') or []
                reason = ('would wait for a real %s verification of %s; check mode, nothing was changed (%s)'
                          % (details.get('environment', 'staging'), ', '.join(waiting), check['reason']))
            else:
                details['would_wait'] = False
                reason = 'would be promoted: %s' % check['reason']
            check = ok(check['name'], reason, value=check.get('value'), target=check.get('target'), details=details)
        previewed.append(check)
    return previewed


def run(params: Mapping[str, Any], check_mode: bool = False, host: Optional[Any] = None) -> Report:
    """The outcome_query module's entry (``result.Report``): the promotion gate on the configured store.

    In check mode the verdict is a ``preview`` (a refusal is expected from a dry run of staging).
    """
    p = params
    store = store_settings(p)
    checks, evidence = promotion_gate(store['path'], p['package_set'], within_days=p['within_days'],
                                      environment=p['environment'], match=p['match'], now=p['now'], min_hosts=p['min_hosts'],
                                      dsn=store['pg_dsn'], pg_table=store['pg_table'], pg_schema=store['pg_schema'])
    return Report(preview(checks) if check_mode else checks, data=dict(evidence=evidence))
