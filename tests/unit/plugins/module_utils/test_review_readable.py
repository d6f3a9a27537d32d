"""Reviews a team reads (issue 17): every non-ok check of the period by severity and count, what is not ok now
first, one "Most frequent failures" answer, and charts legible with one point and with a week (headless Chromium)."""

import datetime
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import review_report
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.store import iso
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.review import build_review, render_html, render_markdown

UNTIL = datetime.datetime(2026, 11, 23, tzinfo=datetime.timezone.utc)
SINCE = UNTIL - datetime.timedelta(days=7)
CRITICAL_NAMES = ['security.listeners', 'security.world_writable', 'security.suid_sgid', 'tls.expiry', 'backup.restore',
                  'pg.replication_lag', 'resource.disk_used', 'http.status']


def check(name, status, value=None, target=None, reason=None):
    return {'name': name, 'status': status, 'value': value, 'target': target, 'priority': 'high',
            'reason': reason or '%s is %s' % (name, status)}


def record(seq, day, hour, host, checks, status='ok', task='Checks'):
    moment = UNTIL - datetime.timedelta(days=day) + datetime.timedelta(hours=hour)
    return {'id': 'r:%06d' % seq, 'run_id': 'r', 'kind': 'task', 'recorded_at': iso(moment), 'host': host, 'task': task,
            'status': status, 'checks': checks}


def week_with_many_problems():
    """Eight different critical checks (the busiest ones many times, three of them only once), warnings
    and an unknown; http.status recovers on the last day."""
    records, seq = [], 0
    for day in range(7, 0, -1):
        for index, name in enumerate(CRITICAL_NAMES[3:]):
            seq += 1
            status = 'ok' if (name == 'http.status' and day == 1) else 'critical'
            records.append(record(seq, day, index, 'web%d' % (index % 2), [check(name, status, 1.0 + index)]))
        seq += 1
        records.append(record(seq, day, 12, 'web1', [check('http.response_time', 'warning', 2.5, 'https://api'),
                                                     check('security.api_error_rate', 'ok', 0.2, 'nginx')]))
        for extra in range(3):  # the warning that dominates by count
            seq += 1
            records.append(record(seq, day, 13 + extra, 'db1', [check('pg.cache_hit_ratio', 'warning', 91.0)]))
    for name in CRITICAL_NAMES[:3]:
        seq += 1
        records.append(record(seq, 2, 20, 'web2', [check(name, 'critical', 1, reason='%s: unexpected entries' % name)]))
    seq += 1
    records.append(record(seq, 1, 21, 'web2', [check('log_scan.source', 'unknown', None, '/var/log/auth.log',
                                                     reason='/var/log/auth.log does not exist')]))
    return records


def review_of(records):
    return build_review(records, 'weekly', iso(SINCE), iso(UNTIL))


def test_every_non_ok_check_of_the_period_is_listed_by_severity_and_count():
    review = review_of(week_with_many_problems())
    rows = review['non_ok_checks']
    names = [(r['status'], r['check']) for r in rows]
    for name in CRITICAL_NAMES:
        assert ('critical', name) in names, names
    assert ('warning', 'pg.cache_hit_ratio') in names and ('unknown', 'log_scan.source') in names
    severities = [r['status'] for r in rows]
    assert severities == sorted(severities, key=['critical', 'warning', 'unknown'].index)
    criticals = [r['count'] for r in rows if r['status'] == 'critical']
    assert criticals == sorted(criticals, reverse=True)
    assert rows[0]['count'] == 7 and rows[-1]['check'] == 'log_scan.source'
    unknown = rows[-1]
    assert unknown['last_reason'] == '/var/log/auth.log does not exist' and unknown['targets'] == ['/var/log/auth.log']
    html = render_html(review, 'weekly')
    for name in CRITICAL_NAMES:
        assert name in html
    assert all(name in render_markdown(review, 'weekly') for name in CRITICAL_NAMES)


def test_what_is_not_ok_right_now_comes_first():
    review = review_of(week_with_many_problems())
    now = review['not_ok_now']
    current = [(f['status'], f['check']) for f in now]
    assert ('critical', 'security.listeners') in current and ('unknown', 'log_scan.source') in current
    assert all(name != 'http.status' for _status, name in current)  # it recovered on the last day
    html = render_html(review, 'weekly')
    first = html.index('<h2>')
    assert html[first:].startswith('<h2>What is not ok right now</h2>'), html[first:first + 80]
    md = render_markdown(review, 'weekly')
    assert md.index('## What is not ok right now') < md.index('## ', md.index('## What is not ok right now') + 3)
    assert md.split('\n## ')[1].startswith('What is not ok right now')


def test_most_frequent_failures_says_none_once_or_shows_tables():
    records = [record(1, 1, 1, 'web1', [check('http.status', 'critical', 500)])]
    html = render_html(review_of(records), 'weekly')
    section = html[html.index('<h2>Most frequent failures</h2>'):]
    section = section[:section.index('<h2>', 5)] if '<h2>' in section[5:] else section
    assert '<p class="empty">none</p><table>' not in section
    assert 'Failed or unreachable tasks: none' in section and 'http.status' in section
    quiet = render_html(review_of([record(1, 1, 1, 'web1', [check('http.status', 'ok', 200)])]), 'weekly')
    quiet = quiet[quiet.index('<h2>Most frequent failures</h2>'):]
    assert quiet.count('none') == 1


# ------------------------------------------------------------------ charts in a real browser
LAYOUT_SCRIPT = '''<script>
window.addEventListener('load', function () {
  var out = [];
  document.querySelectorAll('svg').forEach(function (svg, index) {
    var rect = function (el) { var r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    out.push({chart: index,
              markers: Array.prototype.map.call(svg.querySelectorAll('circle'), rect),
              legends: Array.prototype.map.call(svg.querySelectorAll('.legend'), rect),
              plot: rect(svg.querySelector('line'))});  // the first line is the x axis: the bottom of the plot
  });
  var pre = document.createElement('pre'); pre.id = 'layout'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>'''


def _chromium():
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if not chromium:
        pytest.skip('chromium is not installed (make deps installs Debian\'s chromium package)')
    return chromium


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _layout_in_chromium(html_text, tmp_path, name):
    chromium = _chromium()
    page = tmp_path / ('%s.html' % name)
    page.write_text(html_text.replace('</body>', LAYOUT_SCRIPT + '</body>'))
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync', '--user-data-dir=%s' % (tmp_path / ('profile-' + name)),
             '--window-size=1200,2400']
    shot = tmp_path / ('%s.png' % name)
    subprocess.run([chromium] + flags + ['--screenshot=%s' % shot, 'file://%s' % page], capture_output=True,
                   timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 10000
    screenshots = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '.tmp', 'screenshots')
    os.makedirs(screenshots, exist_ok=True)
    shutil.copy(str(shot), os.path.join(screenshots, 'review-%s.png' % name))
    dom = subprocess.run([chromium] + flags + ['--virtual-time-budget=2000', '--dump-dom', 'file://%s' % page],
                         capture_output=True, text=True, timeout=120, check=False).stdout
    start = dom.index('<pre id="layout">') + len('<pre id="layout">')
    return json.loads(dom[start:dom.index('</pre>', start)].replace('&quot;', '"'))


def _assert_legible(layout):
    assert layout, 'no chart was rendered'
    for chart in layout:
        assert chart['markers'], chart
        for marker in chart['markers']:
            assert marker[2] - marker[0] >= 6 and marker[3] - marker[1] >= 6, marker  # a point one can see
            for legend in chart['legends']:
                assert not _overlap(marker, legend), (marker, legend)
        for legend in chart['legends']:
            assert legend[1] >= chart['plot'][3], (legend, chart['plot'])  # legends below the plot, not over it


@pytest.mark.slow
def test_charts_with_one_point_are_legible_in_headless_chromium(tmp_path):
    records = [record(1, 1, 12, 'web1', [check('http.response_time', 'ok', 0.4, 'https://api'),
                                         check('resource.cpu_utilisation', 'ok', 35.0)])]
    review = review_of(records)
    layout = _layout_in_chromium(render_html(review, 'one day'), tmp_path, 'one-point')
    _assert_legible(layout)


@pytest.mark.slow
def test_charts_with_a_recorded_week_are_legible_in_headless_chromium(tmp_path):
    path = tmp_path / 'week.jsonl'
    path.write_text(''.join(json.dumps(r) + '\n' for r in week_with_many_problems()))
    result = review_report.produce({'period': 'weekly', 'until': iso(UNTIL), 'outcome_logs': [str(path)], 'source': 'jsonl',
                                    'output_dir': str(tmp_path / 'out')})
    layout = _layout_in_chromium(open(result['files']['html']).read(), tmp_path, 'week')
    _assert_legible(layout)
    assert max(len(chart['markers']) for chart in layout) >= 7
