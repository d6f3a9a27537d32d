# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Weekly, monthly and quarterly reviews computed from the outcome store.

``build_review(records, period, since, until)`` turns outcome records (JSON lines
or the PostgreSQL sink) into a plain dict of numbers; ``render_html``,
``render_markdown`` draw it (charts as inline SVG, no external assets). Check
names are matched by prefix, so any module that follows the collection's naming
(``http.*``, ``resource.*``, ``pg.*``, ``security.*``, ``backup.*``, ``tls.*``,
``patch.*``) feeds the right section.
"""

import datetime
import fnmatch
import html
import json
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union, cast

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_as_given, iso_date, parse_iso, utc_now

Record = Dict[str, Any]  # an outcome record, or a check inside one (outcomes.store)
Moment = Union[str, datetime.datetime, None]
Series = Dict[str, Dict[str, List[Tuple[str, float, float, int]]]]  # daily_series: {check: {target: [(day, mean, max, n)]}}

PERIOD_DAYS = {'weekly': 7, 'monthly': 30, 'quarterly': 91}

# Which check names feed which part of a review (fnmatch patterns).
DEFAULT_SELECTORS = {
    'response_time': ['http.response_time'],
    'error_rate': ['security.api_error_rate', '*.error_rate'],
    'resources': ['resource.cpu_utilisation', 'resource.memory_used', 'resource.load_per_core', 'resource.swap_used'],
    'disk': ['resource.disk_used', 'backup.storage.volume_used'],
    'connections': ['pg.connections*', 'db.connections*', '*.connections_used'],
    'failed_logins': ['security.failed_logins*'],
    'suspicious_ips': ['security.suspicious_ips'],
    'incidents': ['emergency.*', 'incident.*', 'data_fix.result'],
    'audit': ['security.accounts', 'security.listeners', 'security.sshd', 'security.suid_sgid', 'security.world_writable',
              'security.integrity', 'access.*', 'firewall.*', 'drift.*'],
    'compliance': ['compliance.summary'],
    'patch': ['patch.pending_security'],
    'backup': ['backup.*'],
    'restore': ['backup.restore'],
    'certificates': ['tls.expiry', 'http.tls_expiry'],
}


def default_window(period: str, until: Moment = None) -> Tuple[datetime.datetime, datetime.datetime]:
    until = parse_iso(until) if until else utc_now()
    return until - datetime.timedelta(days=PERIOD_DAYS[period]), until


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def iter_checks(records: Iterable[Record]) -> Iterator[Tuple[Record, Record, datetime.datetime]]:
    """(record, check, moment) for every check of every task record; a record without ``recorded_at`` has no moment
    to place its checks at and is left out (``build_review`` passes only records of its period)."""
    for record in records:
        if record.get('kind', 'task') != 'task':
            continue
        moment: Optional[datetime.datetime] = parse_iso(record.get('recorded_at'))
        if moment is None:
            continue
        for check in record.get('checks') or []:
            if isinstance(check, dict) and check.get('name'):
                yield record, check, moment


def _series_key(record: Record, check: Record) -> Any:
    return check.get('target') or record.get('host') or '?'


def daily_series(records: Iterable[Record], patterns: Iterable[str]) -> Series:
    """{check name: {target: [(day, mean, max, samples)]}} of numeric values, by UTC day."""
    buckets: Dict[str, Dict[Any, Dict[str, List[float]]]] = {}
    for record, check, moment in iter_checks(records):
        if not _matches(check['name'], patterns):
            continue
        value = _number(check.get('value'))
        if value is None:
            continue
        day = iso_date(moment)
        per_target = buckets.setdefault(check['name'], {}).setdefault(_series_key(record, check), {})
        per_target.setdefault(day, []).append(value)
    result: Series = {}
    for name, targets in buckets.items():
        result[name] = {}
        for target, days in targets.items():
            result[name][target] = [(day, round(sum(v) / len(v), 4), round(max(v), 4), len(v)) for day, v in sorted(days.items())]
    return result


def latest_checks(records: Iterable[Record], patterns: Iterable[str]) -> Dict[Tuple[Any, str, Any], Tuple[datetime.datetime, Record, Record]]:
    """The last check per (host, name, target) within the records."""
    latest: Dict[Tuple[Any, str, Any], Tuple[datetime.datetime, Record, Record]] = {}
    for record, check, moment in iter_checks(records):
        if not _matches(check['name'], patterns):
            continue
        key = (record.get('host'), check['name'], check.get('target'))
        if key not in latest or latest[key][0] <= moment:
            latest[key] = (moment, record, check)
    return latest


def frequent_failures(records: Iterable[Record], limit: int = 10) -> Tuple[List[Record], List[Record]]:
    """Most frequent failures: failed/unreachable tasks by task and host, and non-ok checks by name and target."""
    tasks: Dict[Tuple[Any, Any, Any], int] = {}
    checks: Dict[Tuple[Any, Any, Any], int] = {}
    for record in records:
        if record.get('kind', 'task') != 'task':
            continue
        if record.get('status') in ('failed', 'unreachable'):
            key = (record.get('task'), record.get('host'), record.get('status'))
            tasks[key] = tasks.get(key, 0) + 1
        for check in record.get('checks') or []:
            if check.get('status') in ('warning', 'critical'):
                key = (check['name'], check.get('target') or record.get('host'), check['status'])
                checks[key] = checks.get(key, 0) + 1
    top_tasks = sorted(tasks.items(), key=lambda item: (-item[1], item[0]))[:limit]
    top_checks = sorted(checks.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return ([{'task': k[0], 'host': k[1], 'status': k[2], 'count': n} for k, n in top_tasks],
            [{'check': k[0], 'target': k[1], 'status': k[2], 'count': n} for k, n in top_checks])


def linear_days_until_full(points: Sequence[Tuple[float, float]], full: float = 100.0) -> Tuple[Optional[float], Optional[float]]:
    """Least-squares growth per day of (day offset, percent) points; days until ``full`` or None when not growing."""
    if len(points) < 2:
        return None, None
    n = float(len(points))
    mean_x = sum(p[0] for p in points) / n
    mean_y = sum(p[1] for p in points) / n
    var = sum((p[0] - mean_x) ** 2 for p in points)
    if var == 0:
        return None, None
    slope = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / var
    last_x, last_y = points[-1]
    current = mean_y + slope * (last_x - mean_x)
    if slope <= 0:
        return round(slope, 4), None
    return round(slope, 4), round(max(0.0, (full - current) / slope), 1)


def capacity(records: Iterable[Record], patterns: Iterable[str]) -> List[Record]:
    """Per disk/volume target: latest use, growth per day and projected days until full."""
    result = []
    for name, targets in daily_series(records, patterns).items():
        for target, days in targets.items():
            origin = datetime.date.fromisoformat(days[0][0])
            points = [((datetime.date.fromisoformat(day) - origin).days, maximum) for day, _mean, maximum, _n in days]
            slope, until_full = linear_days_until_full(points)
            result.append({'check': name, 'target': target, 'latest': days[-1][2], 'growth_per_day': slope,
                           'days_until_full': until_full, 'days_observed': len(days)})
    return sorted(result, key=lambda item: (item['days_until_full'] is None, item['days_until_full'] or 0, item['target']))


def _totals(records: Iterable[Record], patterns: Iterable[str]) -> Tuple[float, Optional[float]]:
    total, peak = 0.0, None  # type: float, Optional[float]
    for _record, check, _moment in iter_checks(records):
        if _matches(check['name'], patterns):
            value = _number(check.get('value'))
            if value is not None:
                total += value
                peak = value if peak is None else max(peak, value)
    return total, peak


SEVERITY = ('critical', 'warning', 'unknown')


def non_ok_checks(records: Iterable[Record]) -> List[Record]:
    """Every check that was not ok in the period, grouped by status and name, most severe and most frequent first."""
    groups: Dict[Tuple[str, str], Record] = {}
    for record, check, moment in iter_checks(records):
        if check.get('status') not in SEVERITY:
            continue
        key = (check['status'], check['name'])
        group = groups.setdefault(key, {'status': key[0], 'check': key[1], 'count': 0, 'hosts': set(), 'targets': set(),
                                        'last_seen': None, 'last_reason': None})
        group['count'] += 1
        if record.get('host'):
            group['hosts'].add(record['host'])
        if check.get('target'):
            group['targets'].add(str(check['target']))
        if group['last_seen'] is None or moment >= group['last_seen']:
            group['last_seen'], group['last_reason'] = moment, check.get('reason')
    rows = sorted(groups.values(), key=lambda g: (SEVERITY.index(g['status']), -g['count'], g['check']))
    for row in rows:
        row.update(hosts=sorted(row['hosts']), targets=sorted(row['targets']), last_seen=iso_as_given(row['last_seen']))
    return rows


def not_ok_now(records: Iterable[Record]) -> List[Record]:
    """The latest result of every (host, check, target) that is not ok: what needs someone now."""
    rows = [{'host': k[0], 'check': k[1], 'target': k[2], 'status': v[2]['status'], 'since_seen': iso_as_given(v[0]),
             'reason': v[2].get('reason')}
            for k, v in latest_checks(records, ['*']).items() if v[2].get('status') in SEVERITY]
    return sorted(rows, key=lambda f: (SEVERITY.index(f['status']), f['check'], str(f['host']), str(f['target'])))


def build_review(records: Iterable[Record], period: str, since: Union[str, datetime.datetime], until: Union[str, datetime.datetime],
                 selectors: Optional[Mapping[str, List[str]]] = None, now: Moment = None) -> Dict[str, Any]:
    """The numbers of one review period."""
    if period not in PERIOD_DAYS:
        raise ValueError('period must be weekly, monthly or quarterly')
    sel = dict(DEFAULT_SELECTORS)
    sel.update(selectors or {})
    since, until = parse_iso(since), parse_iso(until)
    now = parse_iso(now) if now else until
    records = [r for r in records if r.get('recorded_at') and since <= cast(datetime.datetime, parse_iso(r['recorded_at'])) < until]
    tasks = [r for r in records if r.get('kind', 'task') == 'task']
    runs = [r for r in records if r.get('kind') == 'run']
    hosts = sorted(set(r['host'] for r in tasks if r.get('host')))
    top_tasks, top_checks = frequent_failures(tasks)
    statuses: Dict[str, int] = {}
    for _record, check, _moment in iter_checks(tasks):
        statuses[check['status']] = statuses.get(check['status'], 0) + 1
    review: Dict[str, Any] = {
        'period': period, 'since': iso_as_given(since), 'until': iso_as_given(until),
        'summary': {'records': len(records), 'task_results': len(tasks), 'runs': len(runs), 'hosts': len(hosts),
                    'failed_tasks': sum(1 for r in tasks if r.get('status') in ('failed', 'unreachable')),
                    'checks': statuses},
        'frequent_failures': {'tasks': top_tasks, 'checks': top_checks},
        'not_ok_now': not_ok_now(tasks),
        'non_ok_checks': non_ok_checks(tasks),
    }
    logins_total, logins_peak = _totals(tasks, sel['failed_logins'])
    suspicious: Set[str] = set()
    for _record, check, _moment in iter_checks(tasks):
        if _matches(check['name'], sel['suspicious_ips']):
            for ip in (check.get('details') or {}).get('ips', []) or []:
                suspicious.add(ip if isinstance(ip, str) else str(ip.get('ip', ip)))
    incidents = []
    for record, check, moment in iter_checks(tasks):
        if _matches(check['name'], sel['incidents']):
            incidents.append({'at': iso_as_given(moment), 'host': record.get('host'), 'check': check['name'],
                              'status': check['status'], 'target': check.get('target'), 'reason': check.get('reason')})
    if period == 'weekly':
        review['response_time'] = daily_series(tasks, sel['response_time'])
        review['error_rate'] = daily_series(tasks, sel['error_rate'])
        review['resources'] = daily_series(tasks, sel['resources'])
        review['security'] = {'failed_logins_peak_per_minute': logins_peak, 'failed_logins_sum_of_samples': logins_total,
                              'suspicious_ips': sorted(suspicious), 'suspicious_ip_count': len(suspicious)}
        review['incidents'] = incidents
    elif period == 'monthly':
        review['capacity'] = capacity(tasks, sel['disk'])
        review['connections'] = [dict(item, saturation=item['latest']) for item in capacity(tasks, sel['connections'])]
        review['long_term'] = {'response_time': daily_series(tasks, sel['response_time']),
                               'resources': daily_series(tasks, sel['resources'])}
        audit = latest_checks(tasks, sel['audit'])
        review['audit_findings'] = [{'host': k[0], 'check': k[1], 'target': k[2], 'status': v[2]['status'],
                                     'reason': v[2].get('reason')} for k, v in sorted(audit.items(), key=lambda i: str(i[0]))
                                    if v[2]['status'] != 'ok']
        review['incidents'] = incidents
    else:
        patch = latest_checks(tasks, sel['patch'])
        per_host: Dict[Any, bool] = {}
        for (host, _name, _target), (_moment, _record, check) in patch.items():
            per_host[host] = per_host.get(host, True) and check['status'] == 'ok' and not _number(check.get('value'))
        current = sum(1 for ok in per_host.values() if ok)
        review['patch_compliance'] = {'hosts': len(per_host), 'current': current,
                                      'percent': round(100.0 * current / len(per_host), 1) if per_host else None,
                                      'behind': sorted(h for h, ok in per_host.items() if not ok)}
        backup_runs = [r for r in tasks if any(_matches(c.get('name', ''), sel['backup']) for c in r.get('checks') or [])]
        backup_ok = sum(1 for r in backup_runs if all(c['status'] == 'ok' for c in r['checks'] if _matches(c['name'], sel['backup'])))
        restores = [(c, r) for r in tasks for c in r.get('checks') or [] if _matches(c.get('name', ''), sel['restore'])]
        restore_ok = [c for c, _r in restores if c['status'] == 'ok']
        durations = [d for d in (_number(c.get('value')) for c, _r in restores) if d is not None]
        review['backups'] = {
            'verifications': len(backup_runs), 'verification_success_rate': round(100.0 * backup_ok / len(backup_runs), 1) if backup_runs else None,
            'test_restores': len(restores), 'restore_success_rate': round(100.0 * len(restore_ok) / len(restores), 1) if restores else None,
            'restore_seconds_max': max(durations) if durations else None,
            'restore_seconds_mean': round(sum(durations) / len(durations), 3) if durations else None,
        }
        horizon = 91
        certificates = []
        for (host, name, target), (moment, _record, check) in latest_checks(tasks, sel['certificates']).items():
            days = _number(check.get('value'))
            if days is None:
                continue
            remaining = days - (now - moment).total_seconds() / 86400.0
            if remaining <= horizon:
                certificates.append({'target': target or host, 'check': name, 'days_left': round(remaining, 1),
                                     'status': check['status']})
        review['certificates_expiring'] = sorted(certificates, key=lambda c: c['days_left'])
        findings = latest_checks(tasks, ['*'])
        review['open_findings'] = sorted(
            [{'host': k[0], 'check': k[1], 'target': k[2], 'status': v[2]['status'], 'since_seen': iso_as_given(v[0]),
              'reason': v[2].get('reason')} for k, v in findings.items() if v[2]['status'] in ('warning', 'critical')],
            key=lambda f: (f['status'] != 'critical', f['check'], str(f['target'])))
        review['incidents'] = incidents
    if period != 'weekly':  # the compliance view of the monthly security audit (compliance_check), latest per host
        review['compliance'] = [{'host': host, 'profile': target, 'score': _number(check.get('value')), 'status': check['status'],
                                 'reason': check.get('reason')}
                                for (host, _name, target), (_moment, _record, check) in sorted(
                                    latest_checks(tasks, sel['compliance']).items(), key=lambda i: str(i[0]))]
    return review


# ---------------------------------------------------------------- rendering

PALETTE = ('#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf', '#7f7f7f')


def svg_line_chart(title: str, series: Mapping[str, Sequence[Tuple[str, float]]], unit: str = '', width: int = 640,
                   height: int = 220) -> str:
    """A self-contained SVG line chart; ``series`` is {label: [(day, value), ...]}.

    The legend sits below the plot, never over the lines; points are markers one can see, and a chart with a single
    day shows each value as a marker with its number beside it (issue 17: single dots under their legends).
    """
    esc = html.escape
    days = sorted(set(day for points in series.values() for day, _v in points))
    values = [v for points in series.values() for _d, v in points]
    if not days or not values:
        return '<p class="empty">%s: no data in this period</p>' % esc(title)
    labels = sorted(series)
    per_row = 3
    legend_rows = (len(labels) + per_row - 1) // per_row
    left, right, top, bottom = 56, 12, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    total_h = height + 8 + legend_rows * 16
    high = (max(values) * 1.15) or 1.0
    low = min([0.0] + values)
    span = (high - low) or 1.0
    single = len(days) == 1

    def x(day: str, index: int = 0) -> float:
        if single:  # one day: the values side by side around the middle, so each marker and number stays readable
            return left + plot_w / 2 + (index - (len(labels) - 1) / 2.0) * min(60, plot_w / max(1, len(labels)))
        return left + days.index(day) * plot_w / (len(days) - 1)

    def y(value: float) -> float:
        return top + plot_h - (value - low) * plot_h / span

    parts = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" viewBox="0 0 %d %d">'
             % (width, total_h, width, total_h),
             '<title>%s</title>' % esc(title),
             '<text x="%d" y="18" class="chart-title">%s</text>' % (left, esc(title)),
             '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>' % (left, top + plot_h, left + plot_w, top + plot_h),
             '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>' % (left, top, left, top + plot_h)]
    for fraction in (0.0, 0.5, 1.0):
        value = low + span * fraction
        parts.append('<text x="%d" y="%.1f" class="axis" text-anchor="end">%s%s</text>'
                     % (left - 6, y(value) + 4, ('%.3g' % value), esc(unit)))
    if single:
        parts.append('<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s (one day of data)</text>'
                     % (left + plot_w / 2, height - 12, esc(days[0])))
    else:
        for index, day in enumerate(days):
            if len(days) <= 8 or index % max(1, len(days) // 6) == 0 or index == len(days) - 1:
                parts.append('<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>' % (x(day), height - 12, esc(day[5:])))
    for index, label in enumerate(labels):
        points = series[label]
        color = PALETTE[index % len(PALETTE)]
        dash = ' stroke-dasharray="5,3"' if label.endswith(' max') else ''
        if not single:
            coords = ' '.join('%.1f,%.1f' % (x(day), y(value)) for day, value in sorted(points))
            parts.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"><title>%s</title></polyline>'
                         % (color, dash, coords, esc(label)))
        for day, value in points:
            cx, cy = x(day, index), y(value)
            parts.append('<circle class="marker" cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s %s: %s%s</title></circle>'
                         % (cx, cy, color, esc(label), esc(day), '%.4g' % value, esc(unit)))
            if single:
                parts.append('<text x="%.1f" y="%.1f" class="axis" text-anchor="middle">%s</text>' % (cx, cy - 8, '%.4g' % value))
        row, column = index // per_row, index % per_row
        legend_x, legend_y = left + column * 190, height + 8 + row * 16
        parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"%s/>'
                     % (legend_x, legend_y - 4, legend_x + 16, legend_y - 4, color, dash))
        parts.append('<text x="%d" y="%d" class="legend" fill="%s">%s</text>'
                     % (legend_x + 20, legend_y, color, esc(label[:30])))
    parts.append('</svg>')
    return ''.join(parts)


def _some(items: Iterable[str], limit: int = 10) -> str:
    """A comma-separated list, the first ``limit`` items and how many more."""
    items = list(items)
    return ', '.join(items[:limit]) + (' and %d more' % (len(items) - limit) if len(items) > limit else '')


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    esc = html.escape
    if not rows:
        return '<p class="empty">none</p>'
    out = ['<table><thead><tr>%s</tr></thead><tbody>' % ''.join('<th>%s</th>' % esc(h) for h in headers)]
    for row in rows:
        cells = []
        for cell in row:
            css = esc(str(cell)) if cell in ('ok', 'warning', 'critical', 'unknown') else ''
            cells.append('<td class="%s">%s</td>' % (css, esc('' if cell is None else str(cell))))
        out.append('<tr>%s</tr>' % ''.join(cells))
    out.append('</tbody></table>')
    return ''.join(out)


def _charts(section_title: str, series_by_name: Series, unit_for: Optional[Mapping[str, str]] = None) -> str:
    out = []
    for name, targets in sorted(series_by_name.items()):
        series = {}
        for target, points in targets.items():
            series['%s mean' % target] = [(day, mean) for day, mean, _max, _n in points]
            series['%s max' % target] = [(day, maximum) for day, _mean, maximum, _n in points]
        out.append(svg_line_chart('%s: %s (daily mean and max)' % (section_title, name), series, (unit_for or {}).get(name, '')))
    return ''.join(out) or '<p class="empty">no data in this period</p>'


STYLE = ('body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}h1{font-size:1.6em}'
         'h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}table{border-collapse:collapse;margin:.5em 0}'
         'td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:.9em}th{background:#f3f3f3}'
         '.critical{background:#fbe3e4}.warning{background:#fff4d6}.ok{background:#e8f6e8}.empty{color:#888}'
         '.chart-title{font-size:13px;font-weight:600}.axis{font-size:10px;fill:#555}.legend{font-size:11px}'
         '.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:9em}'
         '.card b{display:block;font-size:1.5em}')


# Characters that must not appear raw inside <script type="application/json">: "<" could start "</script" or
# "<!--<script" (which makes the browser swallow the rest of the page), ">" and "&" for good measure, and the two
# line terminators that older JavaScript parsers choke on. JSON.parse reads the escapes back unchanged.
ISLAND_ESCAPES = (('<', '\\u003c'), ('>', '\\u003e'), ('&', '\\u0026'), ('\u2028', '\\u2028'), ('\u2029', '\\u2029'))


def json_island(data: Any) -> str:
    """JSON safe to embed in an HTML ``<script type="application/json">`` element, whatever strings it holds."""
    text = json.dumps(data, default=str)
    for char, escape in ISLAND_ESCAPES:
        text = text.replace(char, escape)
    return text


def render_html(review: Mapping[str, Any], title: str) -> str:
    esc = html.escape
    summary = review['summary']
    cards = [('records', summary['records']), ('hosts', summary['hosts']), ('failed tasks', summary['failed_tasks'])]
    cards += [('%s checks' % s, summary['checks'].get(s, 0)) for s in ('critical', 'warning')]
    body = ['<h1>%s</h1>' % esc(title),
            '<p>%s review, %s to %s (UTC)</p>' % (esc(review['period']), esc(review['since']), esc(review['until'])),
            '<div class="cards">%s</div>' % ''.join('<div class="card"><b>%s</b>%s</div>' % (esc(str(v)), esc(k)) for k, v in cards)]
    body.append('<h2>What is not ok right now</h2>')
    body.append(_table(['status', 'check', 'host', 'target', 'last seen', 'reason'],
                       [(f['status'], f['check'], f['host'], f['target'], f['since_seen'], f['reason'])
                        for f in review.get('not_ok_now', [])]))
    body.append('<h2>Checks not ok during the period</h2>')
    body.append(_table(['status', 'check', 'count', 'hosts', 'targets', 'last reason'],
                       [(g['status'], g['check'], g['count'], _some(g['hosts']), _some(g['targets']), g['last_reason'])
                        for g in review.get('non_ok_checks', [])]))
    if 'response_time' in review:
        body.append('<h2>Response time and error rate per service</h2>')
        body.append(_charts('response time', review['response_time'], dict((n, ' s') for n in review['response_time'])))
        body.append(_charts('error rate', review['error_rate'], dict((n, ' %') for n in review['error_rate'])))
        body.append('<h2>Resource usage patterns</h2>' + _charts('resources', review['resources']))
        sec = review['security']
        body.append('<h2>Security</h2><p>Peak failed logins per minute: <b>%s</b>; suspicious IPs: <b>%d</b> %s</p>'
                    % (esc(str(sec['failed_logins_peak_per_minute'])), sec['suspicious_ip_count'],
                       esc(', '.join(sec['suspicious_ips'][:20]))))
    if 'capacity' in review:
        body.append('<h2>Capacity</h2>')
        body.append(_table(['check', 'target', 'latest %', 'growth %/day', 'days until full', 'days observed'],
                           [(c['check'], c['target'], c['latest'], c['growth_per_day'], c['days_until_full'], c['days_observed'])
                            for c in review['capacity']]))
        body.append('<h3>Connection saturation</h3>')
        body.append(_table(['check', 'target', 'latest %', 'growth %/day', 'days until saturated'],
                           [(c['check'], c['target'], c['latest'], c['growth_per_day'], c['days_until_full'])
                            for c in review['connections']]))
        body.append('<h2>Long-term trends</h2>' + _charts('response time', review['long_term']['response_time'])
                    + _charts('resources', review['long_term']['resources']))
        body.append('<h2>Access and permission audit findings</h2>')
        body.append(_table(['host', 'check', 'target', 'status', 'reason'],
                           [(f['host'], f['check'], f['target'], f['status'], f['reason']) for f in review['audit_findings']]))
    if review.get('compliance'):
        body.append('<h2>Compliance (security audit controls)</h2>')
        body.append(_table(['host', 'profile', 'score %', 'status', 'summary'],
                           [(c['host'], c['profile'], c['score'], c['status'], c['reason']) for c in review['compliance']]))
    if 'patch_compliance' in review:
        patch, backups = review['patch_compliance'], review['backups']
        body.append('<h2>Patch compliance</h2><p><b>%s %%</b> of %d hosts current%s</p>'
                    % (esc(str(patch['percent'])), patch['hosts'],
                       ('; behind: ' + esc(', '.join(patch['behind']))) if patch['behind'] else ''))
        body.append('<h2>Backups and test restores</h2>')
        body.append(_table(['verifications', 'success %', 'test restores', 'restore success %', 'restore s (mean)', 'restore s (max)'],
                           [(backups['verifications'], backups['verification_success_rate'], backups['test_restores'],
                             backups['restore_success_rate'], backups['restore_seconds_mean'], backups['restore_seconds_max'])]))
        body.append('<h2>Certificates expiring in the next quarter</h2>')
        body.append(_table(['target', 'check', 'days left', 'status'],
                           [(c['target'], c['check'], c['days_left'], c['status']) for c in review['certificates_expiring']]))
        body.append('<h2>Open findings</h2>')
        body.append(_table(['status', 'check', 'host', 'target', 'reason'],
                           [(f['status'], f['check'], f['host'], f['target'], f['reason']) for f in review['open_findings']]))
    body.append('<h2>Incidents</h2>')
    body.append(_table(['at', 'host', 'check', 'status', 'reason'],
                       [(i['at'], i['host'], i['check'], i['status'], i['reason']) for i in review.get('incidents', [])]))
    failures = review['frequent_failures']
    body.append('<h2>Most frequent failures</h2>')
    if not failures['tasks'] and not failures['checks']:
        body.append('<p class="empty">none</p>')
    else:
        for label, headers, rows in (
                ('Failed or unreachable tasks', ['task', 'host', 'status', 'count'],
                 [(f['task'], f['host'], f['status'], f['count']) for f in failures['tasks']]),
                ('Checks', ['check', 'target', 'status', 'count'],
                 [(f['check'], f['target'], f['status'], f['count']) for f in failures['checks']])):
            body.append('<h3>%s: none</h3>' % esc(label) if not rows else '<h3>%s</h3>%s' % (esc(label), _table(headers, rows)))
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>%s</title><style>%s</style></head><body>%s'
            '<script type="application/json" id="review-data">%s</script></body></html>'
            % (esc(title), STYLE, ''.join(body), json_island(review)))


def _md_cell(value: object) -> str:
    """One Markdown table cell: a backslash, pipe or ``<`` is escaped, line breaks become ``<br>``, so the row keeps its columns."""
    text = '' if value is None else str(value)
    for char in ('\\', '|', '<'):
        text = text.replace(char, '\\' + char)
    return '<br>'.join(text.replace('\r\n', '\n').replace('\r', '\n').replace('\u2028', '\n').replace('\u2029', '\n').split('\n'))


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return 'none\n'
    lines = ['| %s |' % ' | '.join(headers), '|%s|' % '|'.join(' --- ' for _h in headers)]
    for row in rows:
        lines.append('| %s |' % ' | '.join(_md_cell(c) for c in row))
    return '\n'.join(lines) + '\n'


def render_markdown(review: Mapping[str, Any], title: str) -> str:
    summary = review['summary']
    out = ['# %s' % title, '', '%s review, %s to %s (UTC)' % (review['period'], review['since'], review['until']), '',
           '- task results: %d on %d hosts, %d failed or unreachable' % (summary['task_results'], summary['hosts'], summary['failed_tasks']),
           '- checks: %s' % ', '.join('%s %d' % (k, v) for k, v in sorted(summary['checks'].items())), '']
    out += ['## What is not ok right now', '',
            _md_table(['status', 'check', 'host', 'target', 'last seen', 'reason'],
                      [(f['status'], f['check'], f['host'], f['target'], f['since_seen'], f['reason'])
                       for f in review.get('not_ok_now', [])]),
            '## Checks not ok during the period', '',
            _md_table(['status', 'check', 'count', 'hosts', 'targets', 'last reason'],
                      [(g['status'], g['check'], g['count'], _some(g['hosts']), _some(g['targets']), g['last_reason'])
                       for g in review.get('non_ok_checks', [])])]
    if 'security' in review:
        sec = review['security']
        out += ['## Security', '', '- peak failed logins per minute: %s' % sec['failed_logins_peak_per_minute'],
                '- suspicious IPs: %d %s' % (sec['suspicious_ip_count'], ', '.join(sec['suspicious_ips'][:20])), '']
        for section in ('response_time', 'error_rate', 'resources'):
            out += ['## %s (daily mean / max)' % section.replace('_', ' ').capitalize(), '']
            rows = [(name, target, day, mean, maximum) for name, targets in sorted(review[section].items())
                    for target, points in sorted(targets.items()) for day, mean, maximum, _n in points]
            out += [_md_table(['check', 'target', 'day', 'mean', 'max'], rows)]
    if 'capacity' in review:
        out += ['## Capacity', '', _md_table(['check', 'target', 'latest %', 'growth %/day', 'days until full'],
                                             [(c['check'], c['target'], c['latest'], c['growth_per_day'], c['days_until_full'])
                                              for c in review['capacity'] + review['connections']])]
        out += ['## Access and permission audit findings', '',
                _md_table(['host', 'check', 'target', 'status', 'reason'],
                          [(f['host'], f['check'], f['target'], f['status'], f['reason']) for f in review['audit_findings']])]
    if review.get('compliance'):
        out += ['## Compliance (security audit controls)', '',
                _md_table(['host', 'profile', 'score %', 'status', 'summary'],
                          [(c['host'], c['profile'], c['score'], c['status'], c['reason']) for c in review['compliance']])]
    if 'patch_compliance' in review:
        patch, backups = review['patch_compliance'], review['backups']
        behind = ', '.join(patch['behind']) or 'none'
        out += ['## Patch compliance', '', '%s %% of %d hosts current; behind: %s' % (patch['percent'], patch['hosts'], behind), '',
                '## Backups', '', _md_table(['verifications', 'success %', 'test restores', 'restore success %', 'restore s mean', 'restore s max'],
                                            [(backups['verifications'], backups['verification_success_rate'], backups['test_restores'],
                                              backups['restore_success_rate'], backups['restore_seconds_mean'], backups['restore_seconds_max'])]),
                '## Certificates expiring in the next quarter', '',
                _md_table(['target', 'days left', 'status'], [(c['target'], c['days_left'], c['status']) for c in review['certificates_expiring']]),
                '## Open findings', '',
                _md_table(['status', 'check', 'host', 'target', 'reason'],
                          [(f['status'], f['check'], f['host'], f['target'], f['reason']) for f in review['open_findings']])]
    out += ['## Incidents', '', _md_table(['at', 'host', 'check', 'status', 'reason'],
                                          [(i['at'], i['host'], i['check'], i['status'], i['reason']) for i in review.get('incidents', [])])]
    failures = review['frequent_failures']
    out += ['## Most frequent failures', '']
    if not failures['tasks'] and not failures['checks']:
        out += ['none', '']
    else:
        out += ['### Failed or unreachable tasks', '', _md_table(['task', 'host', 'status', 'count'],
                                                                 [(f['task'], f['host'], f['status'], f['count']) for f in failures['tasks']]),
                '### Checks', '', _md_table(['check', 'target', 'status', 'count'],
                                            [(f['check'], f['target'], f['status'], f['count']) for f in failures['checks']])]
    return '\n'.join(out)
