"""The cadence table as AWX RRULEs, systemd OnCalendar expressions and cron entries.

Every generated form is held against python-dateutil's reading of the table's RRULE: the AWX rule is parsed
by dateutil exactly as AWX stores it, the OnCalendar expressions are evaluated by the real
``systemd-analyze calendar``, and the cron entries by a cron matcher in this file whose guards run in a real
shell with ``date`` pinned to the candidate minute.
"""

import datetime
import os
import shutil
import subprocess
import time

import pytest
import yaml
from dateutil import rrule as du

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling import cadence
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
UTC = datetime.timezone.utc
TABLE = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'maintenance', 'defaults', 'main.yml')))['maintenance_cadences']
SCHEDULED = [e for e in TABLE if e.get('rrule')]
LAST_SUNDAY = 'FREQ=MONTHLY;BYDAY=-1SU;BYHOUR=2;BYMINUTE=0'

# Rules beyond the table that the generators claim to support exactly.
EXTRA_RULES = [
    'FREQ=MINUTELY;INTERVAL=10;BYHOUR=8,9,17',
    'FREQ=MINUTELY;INTERVAL=20;BYDAY=MO,FR',
    'FREQ=HOURLY;INTERVAL=4;BYMINUTE=0,30',
    'FREQ=HOURLY;BYHOUR=1,13;BYMINUTE=5',
    'FREQ=DAILY;BYHOUR=23;BYMINUTE=59',
    'FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=6;BYMINUTE=15',
    'FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0',
    'FREQ=MONTHLY;BYDAY=3TH;BYHOUR=9;BYMINUTE=0',
    'FREQ=MONTHLY;BYDAY=SU;BYSETPOS=-1;BYHOUR=2;BYMINUTE=0',
    'FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=18;BYMINUTE=0',
    'FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=23;BYMINUTE=0',
    'FREQ=MONTHLY;BYMONTHDAY=15;BYDAY=MO,TU,WE,TH,FR;BYHOUR=12;BYMINUTE=0',
    'FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1;BYHOUR=8;BYMINUTE=0',
    'FREQ=MONTHLY;BYMONTH=2;BYDAY=-1SU;BYHOUR=2;BYMINUTE=0',
]
ALL_RULES = [e['rrule'] for e in SCHEDULED] + EXTRA_RULES


def reference(rule, after, count):
    """python-dateutil's occurrences of the table rule (DTSTART = the default) strictly after ``after``."""
    return cadence.occurrences(rule, count=count, after=after)


# ------------------------------------------------------------------------------------------- the table
def test_table_is_valid_and_covers_the_guide():
    assert cadence.validate_table(TABLE)
    names = {e['name'] for e in TABLE}
    for needed in ('service_health', 'db_connection', 'resource_usage', 'token_validation', 'cache_analysis',
                   'session_cleanup', 'db_query_performance', 'tls_check', 'security_scan', 'backup_verification',
                   'weekly_patching', 'monthly_os_updates', 'review_weekly', 'review_monthly', 'review_quarterly',
                   'emergency_hotfix'):
        assert needed in names


@pytest.mark.parametrize('name, first, step', [
    ('service_health', '2026-11-24T06:05:00', datetime.timedelta(minutes=5)),
    ('db_connection', '2026-11-24T06:15:00', datetime.timedelta(minutes=15)),
    ('resource_usage', '2026-11-24T06:15:00', datetime.timedelta(minutes=15)),
    ('token_validation', '2026-11-24T06:07:00', datetime.timedelta(hours=1)),
    ('cache_analysis', '2026-11-24T06:12:00', datetime.timedelta(hours=1)),
    ('session_cleanup', '2026-11-24T06:20:00', datetime.timedelta(hours=6)),
    ('db_query_performance', '2026-11-24T06:35:00', datetime.timedelta(hours=6)),
    ('tls_check', '2026-11-25T05:00:00', datetime.timedelta(days=1)),
    ('security_scan', '2026-11-25T01:30:00', datetime.timedelta(days=1)),
    ('backup_verification', '2026-11-24T06:30:00', datetime.timedelta(days=1)),
    ('weekly_patching', '2026-11-29T02:00:00', datetime.timedelta(days=7)),
    ('review_weekly', '2026-11-30T07:00:00', datetime.timedelta(days=7)),
])
def test_guide_cadences_fire_at_the_guides_times(name, first, step):
    """The AWX rule, parsed the way AWX parses it, fires as the guide says (every 5 min, hourly, Sunday 02:00 ...)."""
    entry = next(e for e in TABLE if e['name'] == name)
    rule = du.rrulestr(cadence.awx_rrule(entry['rrule']))
    after = datetime.datetime(2026, 11, 24, 6, 1, tzinfo=UTC)
    got = list(rule.xafter(after, count=4))
    start = datetime.datetime.fromisoformat(first).replace(tzinfo=UTC)
    assert got == [start + step * i for i in range(4)]


LAST_SUNDAYS = ['2026-11-29', '2026-12-27', '2027-01-31', '2027-02-28', '2027-03-28', '2027-04-25', '2027-05-30',
                '2027-06-27', '2027-07-25', '2027-08-29', '2027-09-26', '2027-10-31']


@pytest.mark.parametrize('name, hour', [('monthly_os_updates', 2), ('monthly_db_maintenance', 4)])
def test_last_sunday_awx_rule_against_explicit_dates(name, hour):
    entry = next(e for e in TABLE if e['name'] == name)
    value = cadence.awx_rrule(entry['rrule'])
    assert value == 'DTSTART;TZID=UTC:20260101T000000 RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=-1SU;BYHOUR=%d;BYMINUTE=0' % hour
    rule = du.rrulestr(value)
    got = rule.between(datetime.datetime(2026, 11, 1, tzinfo=UTC), datetime.datetime(2027, 11, 1, tzinfo=UTC))
    assert [g.strftime('%Y-%m-%d') for g in got] == LAST_SUNDAYS
    assert all(g.hour == hour and g.minute == 0 and g.utcoffset() == datetime.timedelta(0) for g in got)
    # leap-year February 2032 ends on a Sunday; February 2026 (28 days) ends on a Saturday
    assert rule.after(datetime.datetime(2032, 2, 1, tzinfo=UTC)).date() == datetime.date(2032, 2, 29)
    assert rule.after(datetime.datetime(2026, 2, 1, tzinfo=UTC)).date() == datetime.date(2026, 2, 22)


def test_quarterly_review_dates():
    entry = next(e for e in TABLE if e['name'] == 'review_quarterly')
    rule = du.rrulestr(cadence.awx_rrule(entry['rrule']))
    got = rule.between(datetime.datetime(2026, 11, 1, tzinfo=UTC), datetime.datetime(2028, 1, 2, tzinfo=UTC))
    assert [g.strftime('%Y-%m-%dT%H:%M') for g in got] == [
        '2027-01-01T08:00', '2027-04-01T08:00', '2027-07-01T08:00', '2027-10-01T08:00', '2028-01-01T08:00']


@pytest.mark.parametrize('entry', SCHEDULED, ids=lambda e: e['name'])
def test_awx_rule_is_accepted_and_means_the_table_rule(entry):
    value = cadence.awx_rrule(entry['rrule'])
    assert value.startswith('DTSTART;TZID=UTC:20260101T000000 RRULE:')
    assert 'INTERVAL=' in value
    assert cadence.awx_rrule_errors(value) == []
    awx = du.rrulestr(value)
    table = du.rrulestr(entry['rrule'], dtstart=datetime.datetime(2026, 1, 1, tzinfo=UTC))
    after = datetime.datetime(2026, 11, 24, 5, 3, tzinfo=UTC)
    ours, theirs = list(awx.xafter(after, count=30)), list(table.xafter(after, count=30))
    assert len(ours) == 30 and ours[0].tzinfo is not None
    assert ours == theirs


def test_awx_rule_rewrites_a_positive_ordinal_that_awx_refuses():
    value = cadence.awx_rrule('FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9;BYMINUTE=0')
    assert 'BYDAY=MO;BYSETPOS=1' in value
    assert cadence.awx_rrule_errors(value) == []
    assert cadence.awx_rrule_errors(value.replace('BYDAY=MO;BYSETPOS=1', 'BYDAY=1MO'))
    got = du.rrulestr(value).after(datetime.datetime(2026, 11, 24, tzinfo=UTC))
    assert got == datetime.datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize('value, message', [
    ('RRULE:FREQ=DAILY;INTERVAL=1', 'Valid DTSTART required'),
    ('DTSTART:20260101T000000 RRULE:FREQ=DAILY;INTERVAL=1', 'naive'),
    ('DTSTART;TZID=UTC:20260101T000000 RRULE:FREQ=DAILY', 'INTERVAL required'),
    ('DTSTART;TZID=UTC:20260101T000000 RRULE:FREQ=SECONDLY;INTERVAL=1', 'SECONDLY'),
    ('DTSTART;TZID=UTC:20260101T000000 RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=2MO', 'numeric prefix'),
    ('DTSTART;TZID=UTC:20260101T000000 RRULE:FREQ=DAILY;INTERVAL=1;COUNT=5;UNTIL=20270101T000000Z', 'COUNT and UNTIL'),
    ('DTSTART;TZID=UTC:20260101T000000 RRULE:FREQ=DAILY;INTERVAL=1;COUNT=1000', 'COUNT > 999'),
    ('DTSTART;TZID=UTC:20260101T000000 DTSTART;TZID=UTC:20270101T000000 RRULE:FREQ=DAILY;INTERVAL=1', 'Multiple DTSTART'),
    ('DTSTART;TZID=UTC:20260101T000000', 'One or more rule'),
])
def test_awx_validation_mirrors_the_api(value, message):
    errors = cadence.awx_rrule_errors(value)
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize('rule, message', [
    ('FREQ=MINUTELY;INTERVAL=7', 'divide 60'),
    ('FREQ=HOURLY;INTERVAL=5', 'divide 24'),
    ('FREQ=DAILY;INTERVAL=2;BYHOUR=1', 'INTERVAL=1'),
    ('FREQ=WEEKLY;INTERVAL=2;BYDAY=SU', 'INTERVAL=1'),
    ('FREQ=WEEKLY;BYDAY=2SU', 'needs FREQ=MONTHLY'),
    ('FREQ=MONTHLY;BYDAY=5SU', 'only 1..4'),
    ('FREQ=MONTHLY;BYDAY=1SU,-1SU', 'different ordinals'),
    ('FREQ=YEARLY;BYMONTH=2;BYDAY=-1SU', 'FREQ=MONTHLY;BYMONTH'),
    ('FREQ=DAILY;COUNT=3', 'COUNT is not supported'),
    ('FREQ=FORTNIGHTLY', 'FREQ must be one of'),
    ('FREQ=DAILY;BYHOUR=25', 'out of range'),
    ('FREQ=DAILY;BYHOUR', 'not KEY=VALUE'),
    ('DTSTART:20260101T000000Z RRULE:FREQ=DAILY', 'without DTSTART'),
    ('', 'non-empty'),
    (None, 'non-empty'),
])
def test_rules_no_scheduler_can_express_exactly_are_refused(rule, message):
    for func in (cadence.awx_rrule, cadence.on_calendar, cadence.cron_schedule):
        with pytest.raises(MaintenanceError, match=message):
            func(rule)


def test_bad_table_entries_name_the_entry():
    with pytest.raises(MaintenanceError, match='launched_by'):
        cadence.validate_table([{'name': 'x', 'playbook': 'x.yml', 'rrule': None}])
    with pytest.raises(MaintenanceError, match='appears twice'):
        cadence.validate_table([{'name': 'x', 'playbook': 'x.yml', 'rrule': 'FREQ=DAILY'}] * 2)
    with pytest.raises(MaintenanceError, match='playbook'):
        cadence.validate_table([{'name': 'x', 'playbook': '../x.sh', 'rrule': 'FREQ=DAILY'}])
    with pytest.raises(MaintenanceError, match=r'entry broken: FREQ=MINUTELY;INTERVAL=7'):
        cadence.cadence_schedules([{'name': 'broken', 'playbook': 'x.yml', 'rrule': 'FREQ=MINUTELY;INTERVAL=7'}])
    with pytest.raises(MaintenanceError, match='whole minutes'):
        cadence.awx_rrule('FREQ=DAILY', dtstart='2026-01-01T00:00:30')


def test_cadence_schedules_keeps_the_table_and_adds_the_forms():
    result = cadence.cadence_schedules(TABLE)
    assert [r['name'] for r in result] == [e['name'] for e in TABLE]
    hotfix = next(r for r in result if r['name'] == 'emergency_hotfix')
    assert hotfix['scheduled'] is False and hotfix['awx_rrule'] is None and hotfix['launched_by'] == 'security_leads'
    patching = next(r for r in result if r['name'] == 'weekly_patching')
    assert patching['unit'] == 'autopilotcx-weekly-patching'
    assert patching['on_calendar'] == 'Sun *-*-* 02:00:00 UTC'
    assert patching['window'] == 'weekly'
    assert len(cadence.cadence_schedules(TABLE, include_manual=False)) == len(SCHEDULED)


def test_dtstart_sets_the_phase_of_intervals_in_every_form():
    rule = 'FREQ=HOURLY;INTERVAL=6;BYMINUTE=20'
    assert cadence.on_calendar(rule, dtstart='2026-01-01T03:00:00') == '*-*-* 03/6:20:00 UTC'
    assert cadence.cron_schedule(rule, dtstart='2026-01-01T03:00:00')['line'] == '20 3-23/6 * * *'
    got = du.rrulestr(cadence.awx_rrule(rule, dtstart='2026-01-01T03:00:00')).after(
        datetime.datetime(2026, 11, 24, 4, 0, tzinfo=UTC))
    assert got == datetime.datetime(2026, 11, 24, 9, 20, tzinfo=UTC)


# ------------------------------------------------------------------------------------------- systemd
def systemd_elapses(expression, base, count):
    """Ask the real systemd-analyze for the next ``count`` elapses after ``base``."""
    out = subprocess.run(['systemd-analyze', 'calendar', '--iterations=%d' % count,
                          '--base-time=%s UTC' % base.strftime('%Y-%m-%d %H:%M:%S'), expression],
                         capture_output=True, text=True, env=dict(os.environ, TZ='UTC'), check=True).stdout
    result = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith('Next elapse:') or line.startswith('Iter. #'):
            text = line.split(':', 1)[1].strip()          # "Sun 2026-11-29 02:00:00 UTC"
            result.append(datetime.datetime.strptime(text, '%a %Y-%m-%d %H:%M:%S UTC').replace(tzinfo=UTC))
    return result


needs_systemd = pytest.mark.skipif(shutil.which('systemd-analyze') is None, reason='systemd-analyze is not installed')

BASES = [datetime.datetime(2026, 11, 24, 5, 3, 30, tzinfo=UTC), datetime.datetime(2027, 1, 30, 23, 59, 30, tzinfo=UTC),
         datetime.datetime(2032, 2, 20, 0, 0, 30, tzinfo=UTC)]


@needs_systemd
@pytest.mark.parametrize('rule', ALL_RULES)
def test_on_calendar_matches_dateutil_in_systemd_analyze(rule):
    expression = cadence.on_calendar(rule)
    count = 40 if rule.startswith('FREQ=MINUTELY') else 14
    for base in BASES:
        assert systemd_elapses(expression, base, count) == reference(rule, base, count), (expression, base)


@needs_systemd
def test_last_sunday_on_calendar_against_explicit_dates():
    expression = cadence.on_calendar(LAST_SUNDAY)
    assert expression == 'Sun *-*~07/1 02:00:00 UTC'
    got = systemd_elapses(expression, datetime.datetime(2026, 11, 1, tzinfo=UTC), 12)
    assert [g.strftime('%Y-%m-%d') for g in got] == LAST_SUNDAYS
    # leap-year February: the 29th is the last Sunday
    assert systemd_elapses(expression, datetime.datetime(2032, 2, 1, tzinfo=UTC), 1)[0].date() == datetime.date(2032, 2, 29)
    # the tempting "~07" without "/1" means the seventh-last day only: wrong for most months
    wrong = systemd_elapses('Sun *-*~07 02:00:00 UTC', datetime.datetime(2026, 11, 1, tzinfo=UTC), 1)
    assert wrong[0].date() != datetime.date(2026, 11, 29)


# ------------------------------------------------------------------------------------------- cron
def _cron_field(text, low, high):
    values = set()
    for part in text.split(','):
        step = 1
        if '/' in part:
            part, step = part.split('/')
            step = int(step)
        if part == '*':
            first, last = low, high
        elif '-' in part:
            first, last = (int(x) for x in part.split('-'))
        else:
            first = last = int(part)
        values.update(range(first, last + 1, step))
    return values


def cron_matches(entry, start, end):
    """The minutes in [start, end) at which cron would run the entry's command (guard included)."""
    minutes = _cron_field(entry['minute'], 0, 59)
    hours = _cron_field(entry['hour'], 0, 23)
    days = _cron_field(entry['day'], 1, 31)
    months = _cron_field(entry['month'], 1, 12)
    weekdays = {d % 7 for d in _cron_field(entry['weekday'], 0, 7)}
    day_restricted, weekday_restricted = entry['day'] != '*', entry['weekday'] != '*'
    candidates = []
    day = start.replace(hour=0, minute=0, second=0)
    while day < end:
        dom_ok, dow_ok = day.day in days, (day.isoweekday() % 7) in weekdays
        if day_restricted and weekday_restricted:
            day_ok = dom_ok or dow_ok          # cron's OR rule
        else:
            day_ok = dom_ok and dow_ok
        if day_ok and day.month in months:
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    moment = day.replace(hour=hour, minute=minute)
                    if start < moment < end:
                        candidates.append(moment)
        day += datetime.timedelta(days=1)
    if not entry['guard']:
        return candidates
    return [m for m, ok in zip(candidates, run_guard(entry['guard'], candidates)) if ok]


def run_guard(guard, moments):
    """Run the guard as cron's /bin/sh would (crontab unescapes \\%), with ``date`` pinned to each moment."""
    if not moments:
        return []
    command = guard.replace('\\%', '%')
    script = ['date() { case "$1 $2" in',
              '  "-u -d") command date -u -d "$NOW $3" "$4";;',
              '  *) command date -u -d "$NOW" "$2";;',
              'esac; }']
    for moment in moments:
        script.append('NOW="%s UTC"; if %s; then echo 1; else echo 0; fi'
                      % (moment.strftime('%Y-%m-%d %H:%M:%S'), command))
    out = subprocess.run(['bash', '-c', '\n'.join(script)], capture_output=True, text=True, check=True).stdout
    return [line == '1' for line in out.split()]


def _span(rule):
    return {'MINUTELY': datetime.timedelta(days=1), 'HOURLY': datetime.timedelta(days=3),
            'DAILY': datetime.timedelta(days=20), 'WEEKLY': datetime.timedelta(days=120)}.get(
        cadence.parse_rrule(rule)['freq'], datetime.timedelta(days=800))


def _guarded_slow(rules):
    """Rules whose cron entry has a guard run it in bash with date(1) for every candidate minute of 800 days: about a
    second each, so they run in make test (slow) and not in make unit, which keeps the unguarded ones and
    test_last_sunday_cron_guard_against_explicit_dates."""
    return [pytest.param(rule, marks=pytest.mark.slow) if cadence.cron_schedule(rule)['guard'] else rule for rule in rules]


@pytest.mark.parametrize('rule', _guarded_slow(ALL_RULES))
def test_cron_entry_matches_dateutil(rule):
    entry = cadence.cron_schedule(rule)
    for base in BASES:
        end = base + _span(rule)
        parsed = cadence.parse_rrule(rule)
        dtstart = cadence.near_start(parsed, datetime.datetime(2026, 1, 1, tzinfo=UTC), base)
        expected = du.rrulestr(cadence.format_rrule(parsed), dtstart=dtstart).between(base, end)
        assert cron_matches(entry, base, end) == expected, (entry, base)


def test_last_sunday_cron_guard_against_explicit_dates():
    entry = cadence.cron_schedule(LAST_SUNDAY)
    assert entry['line'] == '0 2 * * 0'
    assert entry['guard'] == '[ "$(date -u -d +7days +\\%d)" -le 07 ]'
    got = cron_matches(entry, datetime.datetime(2026, 11, 1, tzinfo=UTC), datetime.datetime(2027, 11, 1, tzinfo=UTC))
    assert [g.strftime('%Y-%m-%d') for g in got] == LAST_SUNDAYS
    leap = cron_matches(entry, datetime.datetime(2032, 2, 1, tzinfo=UTC), datetime.datetime(2032, 3, 1, tzinfo=UTC))
    assert [g.date() for g in leap] == [datetime.date(2032, 2, 29)]


@pytest.mark.parametrize('count', [10 ** 7, -1])
def test_occurrences_count_is_bounded_with_a_clear_message(count):
    started = time.monotonic()
    with pytest.raises(MaintenanceError, match='count'):
        cadence.occurrences('FREQ=MINUTELY', count=count, after='2026-11-24T05:00:00')
    assert time.monotonic() - started < 5
