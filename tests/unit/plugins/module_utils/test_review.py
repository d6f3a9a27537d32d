"""Reviews computed from a recorded outcome file with known numbers."""

import datetime
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import review_report
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.store import iso
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.review import (
    daily_series,
    iter_checks,
    linear_days_until_full,
    non_ok_checks,
)

UNTIL = datetime.datetime(2026, 11, 23, tzinfo=datetime.timezone.utc)


def check(name, status, value, target=None, **extra):
    result = {'name': name, 'status': status, 'value': value, 'unit': None, 'threshold': None, 'priority': 'medium',
              'reason': '%s %s' % (name, value)}
    if target:
        result['target'] = target
    result.update(extra)
    return result


def record(seq, day, hour, host, task, checks, status='ok'):
    moment = UNTIL - datetime.timedelta(days=day) + datetime.timedelta(hours=hour)
    return {'id': 'run:%06d' % seq, 'run_id': 'run', 'kind': 'task', 'recorded_at': iso(moment), 'host': host,
            'task': task, 'status': status, 'checks': checks}


def recorded_outcomes():
    """Seven days: response times 1.0/3.0 s per day on api, disk growing 2 %/day, one failure pattern."""
    records, seq = [], 0
    for day in range(7, 0, -1):
        for hour, value in ((1, 1.0), (13, 3.0)):
            seq += 1
            records.append(record(seq, day, hour, 'web1', 'Probe endpoints', [
                check('http.response_time', 'warning' if value > 2 else 'ok', value, 'https://api/health'),
                check('security.api_error_rate', 'ok', 0.5, 'nginx')]))
        seq += 1
        used = 60.0 + 2.0 * (7 - day)
        records.append(record(seq, day, 2, 'db1', 'Resources', [
            check('resource.disk_used', 'ok', used, '/var/lib/postgresql'),
            check('resource.cpu_utilisation', 'ok', 40.0 + day)]))
        seq += 1
        records.append(record(seq, day, 3, 'db1', 'Connections', [check('pg.connections_used', 'ok', 50.0 + day * 0, 'db1:5432')]))
    seq += 1
    records.append(record(seq, 2, 5, 'web1', 'Scan logs', [
        check('security.failed_logins_per_minute', 'critical', 14, 'auth.log'),
        check('security.suspicious_ips', 'warning', 2, details={'ips': ['203.0.113.7', '198.51.100.4']})]))
    for extra in range(3):
        seq += 1
        records.append(record(seq, 1, 6 + extra, 'web2', 'Probe endpoints', [], status='failed'))
    seq += 1
    records.append(record(seq, 1, 9, 'web2', 'Probe endpoints', [], status='unreachable'))
    seq += 1
    records.append(record(seq, 3, 9, 'localhost', 'Record the approval', [
        check('emergency.approval', 'ok', None, 'CHG-7', reason='emergency_hotfix CHG-7 approved by alice')]))
    # patching, backups, certificates for the quarterly view
    seq += 1
    records.append(record(seq, 1, 4, 'web1', 'Patch facts', [check('patch.pending_security', 'ok', 0)]))
    seq += 1
    records.append(record(seq, 1, 4, 'web2', 'Patch facts', [check('patch.pending_security', 'warning', 3)]))
    seq += 1
    records.append(record(seq, 1, 4, 'db1', 'Patch facts', [check('patch.pending_security', 'ok', 0)]))
    for day, ok in ((3, True), (2, False), (1, True)):
        seq += 1
        records.append(record(seq, day, 7, 'db1', 'Verify backups', [
            check('backup.integrity.checksum', 'ok' if ok else 'critical', None),
            check('backup.restore', 'ok' if ok else 'critical', 12.0 if ok else 30.0)]))
    seq += 1
    records.append(record(seq, 1, 8, 'localhost', 'Certificates', [
        check('tls.expiry', 'warning', 20.0, 'api.example.com:443'),
        check('tls.expiry', 'ok', 200.0, 'www.example.com:443')]))
    # outside the period: must not count
    records.append(record(999, 40, 0, 'web1', 'Probe endpoints', [check('http.response_time', 'critical', 99.0, 'https://api/health')]))
    records.append({'id': 'run:run', 'run_id': 'run', 'kind': 'run', 'recorded_at': iso(UNTIL - datetime.timedelta(hours=1))})
    return records


@pytest.fixture()
def outcome_file(tmp_path):
    path = tmp_path / 'outcomes.jsonl'
    with open(path, 'w') as handle:
        for item in recorded_outcomes():
            handle.write(json.dumps(item) + '\n')
        handle.write('garbage line\n')
    return str(path)


def test_weekly_numbers(outcome_file):
    params = {'period': 'weekly', 'until': iso(UNTIL), 'outcome_logs': [outcome_file], 'source': 'jsonl', 'output_dir': '/nonexistent'}
    result = review_report.produce(params, write=False)
    review = result['review']
    rt = review['response_time']['http.response_time']['https://api/health']
    assert len(rt) == 7 and all(mean == 2.0 and maximum == 3.0 and n == 2 for _day, mean, maximum, n in rt)
    assert review['security']['failed_logins_peak_per_minute'] == 14
    assert review['security']['suspicious_ips'] == ['198.51.100.4', '203.0.113.7']
    assert review['frequent_failures']['tasks'][0] == {'task': 'Probe endpoints', 'host': 'web2', 'status': 'failed', 'count': 3}
    assert review['frequent_failures']['checks'][0]['check'] == 'http.response_time'
    assert review['frequent_failures']['checks'][0]['count'] == 7
    assert [i['check'] for i in review['incidents']] == ['emergency.approval']
    assert review['summary']['failed_tasks'] == 4
    assert result['files'] == {} and result['changed'] is False  # check mode writes nothing
    assert all(point[2] < 99 for point in rt)  # the record 40 days back is outside the period


def test_damaged_lines_are_named_in_a_warning(outcome_file):
    """The fixture's file ends with a garbage line: the review still runs, and says it left a line out."""
    with open(outcome_file, 'a') as handle:
        handle.write(json.dumps({'kind': 'task', 'recorded_at': '2026-02-30T00:00:00Z'}) + '\n')
    params = {'period': 'weekly', 'until': iso(UNTIL), 'outcome_logs': [outcome_file], 'source': 'jsonl',
              'output_dir': '/nonexistent', 'title': None, 'selectors': None, 'since': None}
    report = review_report.run(params, check_mode=True)
    total = sum(1 for _line in open(outcome_file))
    assert report.warnings == ['%s: 2 damaged line(s) left out (not a JSON record, or no readable recorded_at): '
                               'line %d, %d' % (outcome_file, total - 1, total)]
    assert 'warnings' not in report.result()


def test_monthly_capacity_projection(outcome_file):
    params = {'period': 'monthly', 'until': iso(UNTIL), 'outcome_logs': [outcome_file], 'source': 'jsonl', 'output_dir': '/x'}
    review = review_report.produce(params, write=False)['review']
    disk = [c for c in review['capacity'] if c['target'] == '/var/lib/postgresql'][0]
    assert disk['latest'] == 72.0 and disk['growth_per_day'] == 2.0
    assert disk['days_until_full'] == 14.0  # (100 - 72) / 2
    connections = review['connections'][0]
    assert connections['growth_per_day'] == 0.0 and connections['days_until_full'] is None


def test_quarterly_compliance_backups_certificates_findings(outcome_file):
    params = {'period': 'quarterly', 'until': iso(UNTIL), 'outcome_logs': [outcome_file], 'source': 'jsonl', 'output_dir': '/x'}
    review = review_report.produce(params, write=False, now=UNTIL)['review']
    assert review['patch_compliance'] == {'hosts': 3, 'current': 2, 'percent': 66.7, 'behind': ['web2']}
    backups = review['backups']
    assert backups['verifications'] == 3 and backups['verification_success_rate'] == 66.7
    assert backups['test_restores'] == 3 and backups['restore_success_rate'] == 66.7
    assert backups['restore_seconds_max'] == 30.0 and backups['restore_seconds_mean'] == 18.0
    expiring = review['certificates_expiring']
    assert [c['target'] for c in expiring] == ['api.example.com:443']
    assert 19.0 < expiring[0]['days_left'] < 20.0  # 20 days when checked, a day minus 8 hours before the end
    open_checks = set((f['check'], f['status']) for f in review['open_findings'])
    assert ('security.failed_logins_per_minute', 'critical') in open_checks and ('patch.pending_security', 'warning') in open_checks


def test_linear_projection():
    assert linear_days_until_full([(0, 50.0), (1, 55.0), (2, 60.0)]) == (5.0, 8.0)
    assert linear_days_until_full([(0, 50.0), (1, 50.0)])[1] is None
    assert linear_days_until_full([(0, 50.0)]) == (None, None)


def test_checks_of_a_record_without_a_time_are_not_placed_in_a_period():
    """A record with no recorded_at has no day: its checks are left out, not a crash of the whole review
    (found by mypy: iter_checks yielded a None moment that daily_series and non_ok_checks then used as a datetime)."""
    timed = record(1, 1, 0, 'web1', 'Probe', [check('http.response_time', 'critical', 2.0)])
    untimed = dict(timed, recorded_at=None)
    assert [moment for _r, _c, moment in iter_checks([untimed, timed])] == [UNTIL - datetime.timedelta(days=1)]
    assert list(daily_series([untimed, timed], ['http.*'])['http.response_time']['web1']) == [('2026-11-22', 2.0, 2.0, 1)]
    assert [row['count'] for row in non_ok_checks([untimed, timed])] == [1]


@pytest.mark.parametrize('params, message', [
    ({'outcome_logs': ['/nonexistent/outcomes.jsonl']}, 'outcome file /nonexistent/outcomes.jsonl does not exist'),
    ({'until': 'yesterday'}, 'ISO 8601'),
    ({'since': '2026-12-01T00:00:00Z', 'until': '2026-11-01T00:00:00Z'}, 'must be before'),
    ({'outcome_logs': ['/']}, r'outcome_logs: cannot read / \(.*not a regular file'),   # found by the fuzz test
])
def test_bad_input_messages(outcome_file, params, message):
    base = {'period': 'weekly', 'outcome_logs': [outcome_file], 'source': 'jsonl', 'output_dir': '/x'}
    base.update(params)
    with pytest.raises(MaintenanceError, match=message):
        review_report.produce(base, write=False)


def test_postgres_source_and_deduplication(outcome_file, postgres, postgres_db):
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import store
    with postgres.connect(postgres_db) as conn:
        store.ensure_table(conn, None, 'maintenance_outcomes')
        store.insert_records(conn, None, 'maintenance_outcomes', recorded_outcomes())
    params = dict(postgres.params, login_db=postgres_db, period='weekly', until=iso(UNTIL), outcome_logs=[outcome_file],
                  source='both', pg_table='maintenance_outcomes', pg_schema=None, output_dir='/x')
    both = review_report.produce(params, write=False)
    only_file = review_report.produce(dict(params, source='jsonl'), write=False)
    only_db = review_report.produce(dict(params, source='postgres'), write=False)
    assert both['records_read'] == only_file['records_read'] == only_db['records_read']
    assert both['review']['security'] == only_db['review']['security']


@pytest.mark.slow
def test_html_report_renders_in_headless_chromium_without_console_errors(outcome_file, tmp_path):
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if not chromium:
        pytest.skip('chromium is not installed (make deps installs Debian\'s chromium package)')
    params = {'period': 'weekly', 'until': iso(UNTIL), 'outcome_logs': [outcome_file], 'source': 'jsonl',
              'output_dir': str(tmp_path / 'reports')}
    result = review_report.produce(params, write=True)
    html_path = result['files']['html']
    text = open(html_path).read()
    assert '<svg' in text and 'http://' not in text.replace('http://www.w3.org/2000/svg', '')  # no external assets
    assert json.loads(open(result['files']['json']).read())['security']['failed_logins_peak_per_minute'] == 14
    assert '| Probe endpoints | web2 | failed | 3 |' in open(result['files']['markdown']).read()
    shot = tmp_path / 'weekly.png'
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             '--user-data-dir=%s' % (tmp_path / 'profile')]
    run = subprocess.run([chromium] + flags + ['--enable-logging=stderr', '--v=0', '--window-size=1200,2400',
                                               '--screenshot=%s' % shot, 'file://' + html_path],
                         capture_output=True, text=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 10000, run.stderr[-2000:]
    console_errors = [line for line in run.stderr.splitlines() if 'CONSOLE' in line and ('ERROR' in line or 'Uncaught' in line)]
    assert console_errors == []
    dom = subprocess.run([chromium] + flags + ['--dump-dom', 'file://' + html_path],
                         capture_output=True, text=True, timeout=120, check=False)
    assert 'Most frequent failures' in dom.stdout and dom.stdout.count('<svg') >= 3
    os.makedirs(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '.tmp', 'screenshots'), exist_ok=True)
    shutil.copy(str(shot), os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '.tmp', 'screenshots', 'review-weekly.png'))


HOSTILE_REASON = 'disk </script><!--<script> full | see\nline two\r\nline three & <b>bold</b> \u2028end'


def hostile_outcomes():
    """The recorded outcomes plus an open finding, an incident and a failed task whose text tries to break the page."""
    records = recorded_outcomes()
    records.append(record(1001, 1, 10, 'web|3', 'Probe\nendpoints | x', [
        check('incident.opened', 'critical', None, 'svc|a', reason=HOSTILE_REASON)], status='failed'))
    return records


def _island(text):
    """The text of the review-data island, split the way an HTML tokenizer would: up to the first ``</script``."""
    start = text.index('<script type="application/json" id="review-data">') + len('<script type="application/json" id="review-data">')
    return text[start:text.index('</script', start)], text[start:]


def _unescaped_pipes(line):
    count, index = 0, 0
    while index < len(line):
        if line[index] == '\\':
            index += 2
            continue
        if line[index] == '|':
            count += 1
        index += 1
    return count


@pytest.mark.parametrize('period', ['weekly', 'quarterly'])
def test_hostile_reason_cannot_break_the_html_island_or_the_markdown_tables(tmp_path, period):
    path = tmp_path / 'hostile.jsonl'
    path.write_text(''.join(json.dumps(r) + '\n' for r in hostile_outcomes()))
    params = {'period': period, 'until': iso(UNTIL), 'outcome_logs': [str(path)], 'source': 'jsonl',
              'output_dir': str(tmp_path / 'reports')}
    result = review_report.produce(params, write=True, now=UNTIL)
    text = open(result['files']['html']).read()
    island, rest = _island(text)
    # No markup character inside the island: nothing in it can end the script, open a comment or start another script.
    assert not set('<>&\u2028\u2029') & set(island)
    assert json.loads(island) == json.loads(json.dumps(result['review'], default=str))
    assert rest[len(island):] == '</script></body></html>'  # the island ends where it should, the page closes after it
    assert HOSTILE_REASON in json.loads(island)['incidents'][-1]['reason']

    markdown = open(result['files']['markdown']).read()
    lines = markdown.splitlines()
    tables = []
    for index, line in enumerate(lines):
        if line.startswith('|') and (index == 0 or not lines[index - 1].startswith('|')):
            tables.append([])
        if line.startswith('|'):
            tables[-1].append(line)
    assert tables
    for table in tables:  # every row of every table keeps the header's column count
        assert set(_unescaped_pipes(row) for row in table) == {_unescaped_pipes(table[0])}, table
    reason_rows = [line for line in lines if 'incident.opened' in line and 'disk' in line]
    assert reason_rows and all('full \\| see<br>line two<br>line three' in row for row in reason_rows)
    assert all('\\<!--\\<script>' in row for row in reason_rows)  # no raw HTML comment or tag from a reason
    assert any('Probe<br>endpoints \\| x' in line for line in lines)


@pytest.mark.slow
def test_hostile_reason_page_keeps_its_later_content_in_headless_chromium(tmp_path):
    """The browser's own tokenizer: a script placed after the island must still run and read the island as JSON."""
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if not chromium:
        pytest.skip('chromium is not installed (make deps installs Debian\'s chromium package)')
    path = tmp_path / 'hostile.jsonl'
    path.write_text(''.join(json.dumps(r) + '\n' for r in hostile_outcomes()))
    params = {'period': 'weekly', 'until': iso(UNTIL), 'outcome_logs': [str(path)], 'source': 'jsonl',
              'output_dir': str(tmp_path / 'reports')}
    result = review_report.produce(params, write=True, now=UNTIL)
    page = tmp_path / 'probe.html'
    probe = ('<p id="after-island">later section</p><script>'
             'var data = JSON.parse(document.getElementById("review-data").textContent);'
             'document.getElementById("after-island").setAttribute("data-reason", data.incidents[data.incidents.length - 1].reason);'
             '</script>')
    page.write_text(open(result['files']['html']).read().replace('</body></html>', probe + '</body></html>'))
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             '--user-data-dir=%s' % (tmp_path / 'profile')]
    dom = subprocess.run([chromium] + flags + ['--dump-dom', 'file://' + str(page)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert '<p id="after-island" data-reason="disk &lt;/script&gt;&lt;!--&lt;script&gt; full | see' in dom.stdout, dom.stdout[-3000:]
    assert 'Most frequent failures' in dom.stdout
