# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every check as Prometheus metrics, and the Prometheus rules generated from the guide's tables.

The outcome callback hands each task's checks to a :class:`MetricsCollector`; at the end of the run it writes one
node_exporter textfile-collector file per cadence and host (atomic: temporary file, then rename) and/or PUTs the
same text to a Pushgateway group ``job/autopilotcx/cadence/<cadence>/host/<host>`` (a PUT replaces the whole group,
so the series of a check that disappeared go away, as they do when the file is rewritten).

Series written (``check``, ``target``, ``host``, ``priority``, ``cadence`` are the only labels besides ``unit``)::

    autopilotcx_check_status                     0 ok, 1 unknown, 2 warning, 3 critical
    autopilotcx_check_value_<unit>               measured value (seconds, percent, bytes, ...) when numeric
    autopilotcx_check_threshold_<unit>           the limit it was held against
    autopilotcx_check_value{unit="..."}          same, for units without a Prometheus base unit
    autopilotcx_cadence_last_run_timestamp_seconds, ..._last_success_timestamp_seconds,
    autopilotcx_cadence_run_duration_seconds, autopilotcx_cadence_run_success, autopilotcx_cadence_folded_targets

Cardinality is bounded by design: a target that is a bare IP address (a suspicious client, not an endpoint) is
never a label value, user names and URL passwords/queries are cut from targets, and past ``max_targets`` distinct
targets per check the rest fold into ``target="_other"`` (worst status, no value).
This file is plain Python: unit tests import it without Ansible.
"""

import base64
import hashlib
import ipaddress
import math
import numbers
import os
import re
import tempfile
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import Request, build_opener

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import SECONDS_PER_UNIT, duration_in_one_unit
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.units import BYTES

PREFIX = 'autopilotcx'
STATUS_CODES = {'ok': 0, 'unknown': 1, 'warning': 2, 'critical': 3}
MAX_TARGETS = 50
MAX_LABEL = 200
OTHER_TARGET = '_other'
FILE_PREFIX = 'autopilotcx_'
PUSH_JOB = 'autopilotcx'

# unit of a check -> (metric name suffix, factor to that base unit); other units stay in a `unit` label
# (the factors come from core.times and core.units; the set of units exported in a base unit is fixed, since
# converting another one would rename its series)
UNITS: Dict[str, Tuple[str, float]] = dict(
    [(unit, ('seconds', SECONDS_PER_UNIT[unit])) for unit in ('s', 'sec', 'seconds', 'ms', 'min', 'h', 'days', 'd')]
    + [(unit, ('bytes', BYTES[unit])) for unit in ('B', 'bytes', 'KiB', 'MiB', 'GiB', 'MB', 'GB')]
    + [('%', ('percent', 1))])

HELP = {
    'autopilotcx_check_status': 'Status of a check: 0 ok, 1 unknown, 2 warning, 3 critical.',
    'autopilotcx_cadence_last_run_timestamp_seconds': 'Unix time the cadence last ran on the host.',
    'autopilotcx_cadence_last_success_timestamp_seconds': 'Unix time the cadence last ran on the host with no failed or unreachable task.',
    'autopilotcx_cadence_run_duration_seconds': 'Duration of the last run of the cadence.',
    'autopilotcx_cadence_run_success': '1 when the last run had no failed or unreachable task on the host, else 0.',
    'autopilotcx_cadence_folded_targets': 'Check results folded into target="_other" (bare IP targets, or past the target cap).',
}

_SAFE_FILE = re.compile(r'[^A-Za-z0-9_.-]')
_SUCCESS_LINE = re.compile(r'^autopilotcx_cadence_last_success_timestamp_seconds\{[^}]*\}\s+([0-9.eE+-]+)\s*$', re.MULTILINE)


CheckDict = Dict[str, Any]
Labels = Sequence[Tuple[str, object]]


class MetricsError(Exception):
    """A textfile or Pushgateway problem; the callback turns it into one warning."""


# ---------------------------------------------------------------------------------------------------- names, labels
def unit_suffix(unit: object) -> Tuple[Optional[str], float]:
    """(suffix, factor) for a check's unit; suffix None when the unit has no Prometheus base unit (or is not text)."""
    if isinstance(unit, str) and unit in UNITS:
        return UNITS[unit]
    return None, 1


def escape_label(value: object) -> str:
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _is_ip(text: str) -> bool:
    candidate = text.strip('[]')
    try:
        ipaddress.ip_address(candidate)
        return True
    except ValueError:
        pass
    try:
        ipaddress.ip_network(candidate, strict=False)
        return '/' in candidate
    except ValueError:
        return False


def target_label(target: object) -> Optional[str]:
    """The label value of a check's target, or None when it must not be a label (a bare IP address).

    URL user names, passwords, queries and fragments are cut; ``user@host`` keeps the host only.
    """
    if target is None:
        return ''
    text = ' '.join(str(target).split())
    if not text:
        return ''
    if _is_ip(text):
        return None
    if '://' in text:
        try:
            parts = urlsplit(text)
            netloc = parts.netloc.rsplit('@', 1)[-1]
            text = urlunsplit((parts.scheme, netloc, parts.path, '', ''))
        except ValueError:
            return None
    elif '@' in text:
        text = text.rsplit('@', 1)[-1]
        if _is_ip(text):
            return None
    if len(text) > MAX_LABEL:
        text = text[:MAX_LABEL - 9] + '~' + hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]
    return text


def numeric(value: object) -> Optional[float]:
    """A finite float of a check value (bools as 0/1), or None."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, numbers.Number):
        try:
            number = float(value)  # type: ignore[arg-type]  # any Number: complex (and a signalling NaN) have no float
        except (TypeError, ValueError):
            return None
        return number if not (math.isnan(number) or math.isinf(number)) else None
    return None


def format_number(number: float) -> str:
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return repr(float(number))


def _labels(pairs: Labels) -> str:
    return '{' + ','.join('%s="%s"' % (key, escape_label(value)) for key, value in pairs) + '}'


# ---------------------------------------------------------------------------------------------------- rendering
def fold_checks(checks: Iterable[CheckDict], max_targets: int = MAX_TARGETS) -> Tuple[List[CheckDict], int]:
    """One entry per (check, target): the worst of duplicates; targets past the cap fold into ``_other``.

    Returns (entries, folded) where entries is a list of dicts with name, target, status, priority, value, threshold,
    unit, in first-seen order.
    """
    entries: Dict[Tuple[str, str], CheckDict] = {}
    order: List[Tuple[str, str]] = []
    targets_per_check: Dict[str, Set[str]] = {}
    folded = 0
    for check in checks:
        status = check.get('status')
        if status not in STATUS_CODES or not check.get('name'):
            continue
        name = str(check['name'])
        target = target_label(check.get('target'))
        seen = targets_per_check.setdefault(name, set())
        if target is None or (target not in seen and len(seen) >= max_targets):
            folded += 1
            target = OTHER_TARGET
        key = (name, target)
        entry = {'name': name, 'target': target, 'status': status, 'priority': check.get('priority') or 'medium',
                 'value': None if target == OTHER_TARGET else check.get('value'),
                 'threshold': None if target == OTHER_TARGET else check.get('threshold'),
                 'unit': check.get('unit')}
        if key not in entries:
            order.append(key)
            if target != OTHER_TARGET:
                seen.add(target)
            entries[key] = entry
        elif STATUS_CODES[status] > STATUS_CODES[entries[key]['status']]:
            entries[key] = entry
    return [entries[key] for key in order], folded


def render(host: str, cadence: str, checks: Iterable[CheckDict], run: Optional[Mapping[str, Any]] = None,
           max_targets: int = MAX_TARGETS) -> str:
    """Exposition text for one host and cadence.

    ``run``: optional dict with ``started`` (unix time), ``duration`` (s), ``success`` (bool), ``last_success``
    (unix time or None).
    """
    entries, folded = fold_checks(checks, max_targets)
    families: Dict[str, Tuple[str, str, List[str]]] = {}
    order: List[str] = []

    def add(name: str, kind: str, help_text: str, labels: Labels, value: float) -> None:
        if name not in families:
            families[name] = (kind, help_text, [])
            order.append(name)
        families[name][2].append('%s%s %s' % (name, _labels(labels), format_number(value)))

    for entry in entries:
        base = [('check', entry['name']), ('target', entry['target']), ('host', host), ('cadence', cadence)]
        add('autopilotcx_check_status', 'gauge', HELP['autopilotcx_check_status'],
            base[:3] + [('priority', entry['priority'])] + base[3:], STATUS_CODES[entry['status']])
    for what in ('value', 'threshold'):
        for entry in entries:
            number = numeric(entry[what])
            if number is None:
                continue
            suffix, factor = unit_suffix(entry['unit'])
            labels = [('check', entry['name']), ('target', entry['target']), ('host', host), ('cadence', cadence)]
            if suffix:
                name = 'autopilotcx_check_%s_%s' % (what, suffix)
                number = number * factor
                help_text = 'The %s of a check, in %s.' % ('measured value' if what == 'value' else 'threshold', suffix)
            else:
                name = 'autopilotcx_check_%s' % what
                if entry['unit']:
                    labels.append(('unit', str(entry['unit'])[:40]))
                help_text = 'The %s of a check, in the unit of its unit label.' % ('measured value' if what == 'value' else 'threshold')
            add(name, 'gauge', help_text, labels, number)
    if run is not None:
        labels = [('cadence', cadence), ('host', host)]
        add('autopilotcx_cadence_last_run_timestamp_seconds', 'gauge', HELP['autopilotcx_cadence_last_run_timestamp_seconds'],
            labels, round(run['started'], 3))
        if run.get('last_success') is not None:
            add('autopilotcx_cadence_last_success_timestamp_seconds', 'gauge',
                HELP['autopilotcx_cadence_last_success_timestamp_seconds'], labels, round(run['last_success'], 3))
        add('autopilotcx_cadence_run_duration_seconds', 'gauge', HELP['autopilotcx_cadence_run_duration_seconds'],
            labels, round(run['duration'], 3))
        add('autopilotcx_cadence_run_success', 'gauge', HELP['autopilotcx_cadence_run_success'], labels,
            1 if run['success'] else 0)
        add('autopilotcx_cadence_folded_targets', 'gauge', HELP['autopilotcx_cadence_folded_targets'], labels, folded)
    lines = []
    for name in order:
        kind, help_text, samples = families[name]
        lines.append('# HELP %s %s' % (name, help_text))
        lines.append('# TYPE %s %s' % (name, kind))
        lines.extend(samples)
    return '\n'.join(lines) + '\n' if lines else ''


# ---------------------------------------------------------------------------------------------------- outputs
def safe_name(text: object) -> str:
    """A file-name-safe form of a host or cadence name; a short hash keeps changed names distinct."""
    text = str(text)
    cleaned = _SAFE_FILE.sub('_', text)[:80]
    if cleaned != text:
        cleaned += '-' + hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]
    return cleaned


def textfile_path(directory: str, cadence: str, host: str) -> str:
    return os.path.join(directory, '%s%s__%s.prom' % (FILE_PREFIX, safe_name(cadence), safe_name(host)))


def previous_success(path: str) -> Optional[float]:
    """The last success timestamp written in an existing textfile, or None."""
    try:
        with open(path) as handle:
            match = _SUCCESS_LINE.search(handle.read())
    except (IOError, OSError):
        return None
    return float(match.group(1)) if match else None


def write_textfile(path: str, text: str) -> None:
    """Write atomically: a temporary file in the same directory (not *.prom, so never collected), then rename."""
    directory = os.path.dirname(path) or '.'
    data = text.encode('utf-8', 'replace')  # a stray surrogate in a label becomes '?', never an exception
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _path_part(name: str, value: object) -> str:
    value = str(value)
    if value and re.match(r'^[A-Za-z0-9_.:-]+$', value):
        return '%s/%s' % (name, value)
    return '%s@base64/%s' % (name, base64.urlsafe_b64encode(value.encode('utf-8')).decode('ascii').rstrip('=') or '=')


def pushgateway_group_url(base: str, cadence: str, host: str, job: str = PUSH_JOB) -> str:
    return '%s/metrics/%s/%s/%s' % (base.rstrip('/'), _path_part('job', job), _path_part('cadence', cadence), _path_part('host', host))


def push(base: str, cadence: str, host: str, text: str, timeout: float = 10, method: str = 'PUT') -> None:
    """PUT replaces every series of the group: a check that disappeared is gone from the Pushgateway too."""
    url = pushgateway_group_url(base, cadence, host)
    request = Request(url, data=text.encode('utf-8'), method=method,
                      headers={'Content-Type': 'text/plain; version=0.0.4; charset=utf-8'})
    try:
        response = build_opener().open(request, timeout=timeout)
        response.read()
        response.close()
    except HTTPError as exc:
        detail = exc.read()[:300].decode('utf-8', 'replace').strip()
        raise MetricsError('Pushgateway %s answered HTTP %s%s' % (_safe_base(base), exc.code, (': ' + detail) if detail else ''))
    except (URLError, OSError) as exc:
        raise MetricsError('cannot reach the Pushgateway %s (%s)' % (_safe_base(base), getattr(exc, 'reason', exc)))


def _safe_base(base: str) -> str:
    try:
        parts = urlsplit(base)
        return urlunsplit((parts.scheme, parts.netloc.rsplit('@', 1)[-1], parts.path, '', ''))
    except ValueError:
        return '<invalid URL>'


class MetricsCollector(object):
    """Gathers checks per (cadence, host) during a run; ``finish`` writes the files / pushes the groups."""

    def __init__(self, textfile_dir: Optional[str] = None, pushgateway_url: Optional[str] = None, max_targets: int = MAX_TARGETS,
                 clock: Callable[[], float] = time.time) -> None:
        self.textfile_dir = os.path.expanduser(textfile_dir) if textfile_dir else None
        self.pushgateway_url = pushgateway_url or None
        self.max_targets = max_targets
        self.clock = clock
        self.started = clock()
        self.groups: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self.order: List[Tuple[str, str]] = []

    def add(self, host: str, cadence: Optional[str], task_status: Optional[str], checks: Optional[Iterable[CheckDict]]) -> None:
        key = (cadence or 'adhoc', host)
        if key not in self.groups:
            self.groups[key] = {'checks': [], 'success': True}
            self.order.append(key)
        group = self.groups[key]
        group['checks'].extend(checks or ())
        if task_status in ('failed', 'unreachable'):
            group['success'] = False

    def finish(self) -> List[str]:
        """Write everything; returns the problems (strings), never raises for an I/O error."""
        problems: List[str] = []
        ended = self.clock()
        if self.textfile_dir and not os.path.isdir(self.textfile_dir):
            problems.append('prometheus_textfile_dir %s is not a directory; no textfile written' % self.textfile_dir)
        for cadence, host in self.order:
            group = self.groups[(cadence, host)]
            path = textfile_path(self.textfile_dir, cadence, host) if self.textfile_dir else None
            last_success = ended if group['success'] else (previous_success(path) if path else None)
            run = {'started': self.started, 'duration': max(0.0, ended - self.started), 'success': group['success'],
                   'last_success': last_success}
            text = render(host, cadence, group['checks'], run, self.max_targets)
            if path and self.textfile_dir and os.path.isdir(self.textfile_dir):
                try:
                    write_textfile(path, text)
                except (IOError, OSError) as exc:
                    problems.append('cannot write %s (%s)' % (path, getattr(exc, 'strerror', None) or exc))
            if self.pushgateway_url:
                try:
                    push(self.pushgateway_url, cadence, host, text)
                except MetricsError as exc:
                    problems.append(str(exc))
        return problems


# ---------------------------------------------------------------------------------------------------- rules
# The guide's own thresholds, alerted on the measured value (the check names the modules give them). Every other
# check alerts on its status (the module held it against the inventory's thresholds already).
GUIDE_THRESHOLD_CHECKS = (
    ('http_response_time', 'http.response_time'),
    ('failed_logins_per_minute', 'security.failed_logins_per_minute'),
    ('api_error_rate', 'security.api_error_rate'),
)
INTERVAL_REFERENCE = '2027-01-04T00:00:00'
INTERVAL_SAMPLES = 60
STATUS_RULES = (('critical', 3, 'critical', '0m'), ('warning', 2, 'warning', '0m'), ('unknown', 1, 'info', '15m'))


def _camel(name: str) -> str:
    return ''.join(part[:1].upper() + part[1:] for part in re.split(r'[^A-Za-z0-9]+', name) if part)


def cadence_interval(rrule: str) -> int:
    """Longest gap in seconds between two runs of an RRULE (over 60 runs from a fixed date, so it never drifts)."""
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling.cadence import occurrences
    times = occurrences(rrule, count=INTERVAL_SAMPLES, after=INTERVAL_REFERENCE)
    return int(max((b - a).total_seconds() for a, b in zip(times, times[1:])))


def _priority(spec: Mapping[str, Any], level: str) -> Any:
    priority = spec.get('priority') or 'medium'
    return priority.get(level, 'medium') if isinstance(priority, dict) else priority


def _series(check: str, unit: Optional[str]) -> Tuple[str, float]:
    suffix, factor = unit_suffix(unit)
    if suffix:
        return 'autopilotcx_check_value_%s{check="%s"}' % (suffix, check), factor
    if unit:
        return 'autopilotcx_check_value{check="%s",unit="%s"}' % (check, escape_label(unit)), 1
    return 'autopilotcx_check_value{check="%s"}' % check, 1


def prometheus_rules(cadences: Iterable[Mapping[str, Any]], thresholds: Mapping[str, Any]) -> Dict[str, Any]:
    """The rules file (a dict for YAML) from the cadence table and the threshold table."""
    covered = []
    threshold_rules = []
    for key, check in GUIDE_THRESHOLD_CHECKS:
        spec = thresholds.get(key)
        if not isinstance(spec, dict):
            continue
        covered.append(check)
        series, factor = _series(check, spec.get('unit'))
        operator = '<' if spec.get('direction') == 'below' else '>'
        shown_unit = (' ' + spec['unit']) if spec.get('unit') and not unit_suffix(spec.get('unit'))[0] else ''
        for level in ('critical', 'warning'):
            if spec.get(level) is None:
                continue
            limit = format_number(float(spec[level]) * factor)
            threshold_rules.append({
                'alert': 'Autopilotcx%s%s' % (_camel(key), _camel(level)),
                'expr': '%s %s %s' % (series, operator, limit),
                'labels': {'severity': level, 'priority': _priority(spec, level), 'threshold': key},
                'annotations': {
                    'summary': '%s on {{ $labels.host }} ({{ $labels.target }}) is {{ $value }}%s' % (check, shown_unit),
                    'description': '%s: %s %s %s%s (%s)' % (key, check, operator, spec[level], spec.get('unit') or '',
                                                            spec.get('description') or 'collection default'),
                },
            })
    exclude = ',check!~"%s"' % '|'.join(re.escape(c).replace('\\', '\\\\') for c in covered) if covered else ''
    status_rules = []
    for status, code, severity, hold in STATUS_RULES:
        rule = {
            'alert': 'AutopilotcxCheck%s' % _camel(status),
            'expr': 'autopilotcx_check_status{%s} == %d' % (exclude.lstrip(','), code) if exclude else 'autopilotcx_check_status == %d' % code,
            'labels': {'severity': severity},
            'annotations': {'summary': '{{ $labels.check }} on {{ $labels.host }} ({{ $labels.target }}) is %s' % status,
                            'description': 'cadence {{ $labels.cadence }}, priority {{ $labels.priority }}; the reason is in the outcome records'},
        }
        if hold != '0m':
            rule['for'] = hold
        status_rules.append(rule)
    cadence_rules = []
    for item in cadences:
        if not item.get('rrule'):
            continue
        interval = cadence_interval(item['rrule'])
        cadence_rules.append({
            'alert': 'AutopilotcxCadenceStale',
            'expr': 'time() - autopilotcx_cadence_last_success_timestamp_seconds{cadence="%s"} > %d' % (item['name'], 2 * interval),
            'labels': {'severity': 'critical', 'priority': 'high', 'cadence': item['name']},
            'annotations': {'summary': 'cadence %s has not succeeded on {{ $labels.host }} for over %s (twice its interval)'
                                       % (item['name'], duration_in_one_unit(2 * interval)),
                            'description': item.get('description') or item['name']},
        })
    cadence_rules.append({
        'alert': 'AutopilotcxCadenceFailed',
        'expr': 'autopilotcx_cadence_run_success == 0',
        'labels': {'severity': 'warning', 'priority': 'medium'},
        'annotations': {'summary': 'the last {{ $labels.cadence }} run had failed or unreachable tasks on {{ $labels.host }}'},
    })
    return {'groups': [
        {'name': 'autopilotcx-guide-thresholds', 'rules': threshold_rules},
        {'name': 'autopilotcx-check-status', 'rules': status_rules},
        {'name': 'autopilotcx-cadences', 'rules': cadence_rules},
    ]}
