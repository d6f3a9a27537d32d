"""Maintenance windows: RRULEs in the window's zone (python-dateutil + zoneinfo), fixed dates, cutoffs and notices."""

import datetime

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling.maintenance_window import (
    Window,
    evaluate_windows,
    parse_duration,
)

UTC = datetime.timezone.utc
LAST_SUNDAY = 'FREQ=MONTHLY;BYDAY=-1SU;BYHOUR=2;BYMINUTE=0'
GUIDE = {
    'weekly': {'rrule': 'FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0', 'duration': '2h', 'timezone': 'UTC', 'notice': '24h'},
    'monthly': {'rrule': LAST_SUNDAY, 'duration': '4h', 'timezone': 'UTC', 'notice': '72h'},
    'quarterly': {'dates': ['2027-01-16T02:00:00'], 'duration': '8h', 'timezone': 'UTC', 'notice': '14d'},
}


def utc(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def monthly_starts(zone, year):
    window = Window('monthly', {'rrule': LAST_SUNDAY, 'duration': '4h', 'timezone': zone})
    occurrences = window.occurrences(utc('%d-01-01T00:00:00' % year), utc('%d-01-01T00:00:00' % (year + 1)))
    return [o.start for o in occurrences]


@pytest.mark.parametrize('month, sundays, day', [
    (2, 4, 22),   # February 2026: Sundays 1, 8, 15, 22
    (3, 5, 29),   # March 2026: Sundays 1, 8, 15, 22, 29
    (6, 4, 28),   # June 2026: Sundays 7, 14, 21, 28
    (11, 5, 29),  # November 2026: Sundays 1, 8, 15, 22, 29
])
def test_last_sunday_in_months_with_four_and_five_sundays(month, sundays, day):
    first = datetime.date(2026, month, 1)
    count = sum(1 for d in range(31) if (first + datetime.timedelta(days=d)).month == month
                and (first + datetime.timedelta(days=d)).weekday() == 6)
    assert count == sundays  # the premise of the case
    starts = [s for s in monthly_starts('UTC', 2026) if s.month == month]
    assert starts == [datetime.datetime(2026, month, day, 2, 0, tzinfo=UTC)]


def test_twelve_last_sundays_a_year():
    starts = monthly_starts('UTC', 2026)
    assert len(starts) == 12
    assert all(s.weekday() == 6 and (s + datetime.timedelta(days=7)).month != s.month for s in starts)


def test_last_sunday_across_dst_in_berlin():
    starts = dict((s.month, s) for s in monthly_starts('Europe/Berlin', 2026))
    # January: CET (UTC+1), 02:00 local = 01:00 UTC
    assert starts[1].astimezone(UTC) == utc('2026-01-25T01:00:00')
    # 29 March 2026 is the spring-forward night: 02:00 local does not exist; the window opens at the end of the
    # gap, 03:00 CEST = 01:00 UTC
    assert starts[3].astimezone(UTC) == utc('2026-03-29T01:00:00')
    assert starts[3].strftime('%H:%M %Z') == '03:00 CEST'
    # April: CEST (UTC+2), 02:00 local = 00:00 UTC
    assert starts[4].astimezone(UTC) == utc('2026-04-26T00:00:00')
    # 25 October 2026 is the fall-back night: 02:00 happens twice; the first (CEST) counts
    assert starts[10].astimezone(UTC) == utc('2026-10-25T00:00:00')
    # November: back on CET
    assert starts[11].astimezone(UTC) == utc('2026-11-29T01:00:00')
    for start in starts.values():
        assert start.weekday() == 6


def test_weekly_window_stays_at_local_time_across_us_dst():
    window = Window('weekly', {'rrule': 'FREQ=WEEKLY;BYDAY=SU;BYHOUR=3;BYMINUTE=30', 'duration': '2h',
                               'timezone': 'America/New_York'})
    occ = window.occurrences(utc('2026-03-01T00:00:00'), utc('2026-03-16T00:00:00'))
    assert [o.start.astimezone(UTC) for o in occ] == [
        utc('2026-03-01T08:30:00'),   # EST (UTC-5)
        utc('2026-03-08T07:30:00'),   # DST started at 02:00 that morning: EDT (UTC-4)
        utc('2026-03-15T07:30:00'),
    ]
    # the duration is elapsed time, whatever the offset
    assert all(o.end - o.start == datetime.timedelta(hours=2) for o in occ)


def test_inside_the_weekly_window_with_cutoff():
    result = evaluate_windows(GUIDE, names=['weekly'], now='2026-11-29T02:10:00Z', batch_cutoff_minutes=30)
    assert result['inside'] and result['batch_allowed']
    assert result['window'] == 'weekly'
    assert result['ends_at'] == '2026-11-29T04:00:00Z'
    assert result['cutoff'] == '2026-11-29T03:30:00Z'
    assert result['checks'][0]['status'] == 'ok'
    assert result['next_windows'][0]['start'] == '2026-12-06T02:00:00Z'


def test_after_the_cutoff_no_new_batch():
    result = evaluate_windows(GUIDE, names=['weekly'], now='2026-11-29T03:45:00Z', batch_cutoff_minutes=30)
    assert result['inside'] and not result['batch_allowed']
    assert result['checks'][0]['value'] is False
    assert 'past its batch cutoff' in result['checks'][0]['reason']


def test_outside_every_window():
    result = evaluate_windows(GUIDE, now='2026-11-24T10:00:00Z')
    assert not result['inside'] and not result['batch_allowed']
    assert result['ends_at'] is None
    # the monthly and the weekly window both open on Sunday 29 November 02:00 UTC (ties ordered by name)
    assert [(w['name'], w['start']) for w in result['next_windows']] == [
        ('monthly', '2026-11-29T02:00:00Z'), ('weekly', '2026-11-29T02:00:00Z'), ('weekly', '2026-12-06T02:00:00Z')]
    assert 'outside' in result['checks'][0]['reason']


def test_window_edges():
    assert evaluate_windows(GUIDE, names=['weekly'], now='2026-11-29T02:00:00Z')['inside']
    assert not evaluate_windows(GUIDE, names=['weekly'], now='2026-11-29T04:00:00Z')['inside']
    assert not evaluate_windows(GUIDE, names=['weekly'], now='2026-11-29T01:59:59Z')['inside']


def test_monthly_window_is_longer_than_the_weekly_one():
    result = evaluate_windows(GUIDE, now='2026-11-29T04:30:00Z')
    assert result['window'] == 'monthly'
    assert result['ends_at'] == '2026-11-29T06:00:00Z'


@pytest.mark.parametrize('now, due', [
    ('2026-11-26T08:00:00Z', ['monthly']),             # 72 h before the last Sunday of November fell at 02:00 Thursday
    ('2026-11-28T08:00:00Z', ['weekly']),              # 24 h before Sunday 02:00
    ('2027-01-02T08:00:00Z', ['quarterly', 'weekly']),  # two weeks before the quarterly date, and the weekly notice
    ('2026-11-24T08:00:00Z', []),
    ('2026-11-27T08:00:00Z', []),                      # the monthly notice went out yesterday: not again
])
def test_notices_due(now, due):
    result = evaluate_windows(GUIDE, now=now, notice_grace='24h')
    assert sorted(n['name'] for n in result['notices_due']) == sorted(due)
    for notice in result['notices_due']:
        assert notice['dedup_key'] == 'maintenance_notice:%s:%s' % (notice['name'], notice['start'])


def test_quarterly_dates_in_a_zone():
    windows = {'quarterly': {'dates': ['2027-07-17T22:00:00'], 'duration': '8h', 'timezone': 'Europe/Berlin',
                             'notice': '14d'}}
    result = evaluate_windows(windows, now='2027-07-01T00:00:00Z')
    assert result['next_windows'][0]['start'] == '2027-07-17T20:00:00Z'
    assert result['next_windows'][0]['notice_due'] == '2027-07-03T20:00:00Z'
    assert result['next_windows'][0]['end_local'] == '2027-07-18T06:00:00+02:00'


@pytest.mark.parametrize('text, minutes', [('2h', 120), ('90m', 90), ('14d', 20160), ('1w', 10080), (45, 45)])
def test_durations(text, minutes):
    assert parse_duration(text) == datetime.timedelta(minutes=minutes)


@pytest.mark.parametrize('windows, message', [
    ({'w': {'rrule': 'FREQ=WEEKLY;BYDAY=XX', 'duration': '2h'}}, 'invalid rrule'),
    ({'w': {'rrule': 'FREQ=WEEKLY', 'duration': 'two hours'}}, 'duration must be'),
    ({'w': {'rrule': 'FREQ=WEEKLY', 'duration': '2h', 'timezone': 'Mars/Olympus'}}, 'unknown time zone'),
    ({'w': {'duration': '2h'}}, 'needs an rrule or a list of dates'),
    ({'w': {'rrule': 'FREQ=WEEKLY', 'duration': '2h', 'tz': 'UTC'}}, 'unknown keys: tz'),
    ({'w': {'dates': ['next sunday'], 'duration': '2h'}}, 'is not ISO 8601'),
    ({}, 'non-empty mapping'),
])
def test_bad_input_gives_clear_messages(windows, message):
    with pytest.raises(MaintenanceError, match=message):
        evaluate_windows(windows, now='2026-11-24T10:00:00Z')


def test_unknown_window_name():
    with pytest.raises(MaintenanceError, match='unknown maintenance window'):
        evaluate_windows(GUIDE, names=['nightly'], now='2026-11-24T10:00:00Z')


# ---------------------------------------------------------------- bounded work

BOUNDED_SCRIPT = r'''
import json, resource, sys, time
sys.path.insert(0, %(collections)r)
resource.setrlimit(resource.RLIMIT_AS, (%(limit)d, %(limit)d))
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling.maintenance_window import evaluate_windows
started = time.monotonic()
try:
    evaluate_windows(%(windows)r, now='2026-11-24T05:00:00Z', **%(options)r)
    outcome = {'error': None}
except MaintenanceError as exc:
    outcome = {'error': exc.message}
outcome['seconds'] = time.monotonic() - started
print(json.dumps(outcome))
'''


def run_bounded(windows, memory=768 << 20, **options):
    """Evaluate in a child process under an address-space limit (RLIMIT_AS) and a wall-clock timeout: the unbounded
    evaluation of main grew past 1 GB and ran on; here it would die of MemoryError or the timeout instead."""
    import os
    import subprocess
    import sys
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling import maintenance_window
    collections = os.path.abspath(maintenance_window.__file__)
    for dummy in range(7):          # .../ansible_collections/autopilotcx/maintenance/plugins/module_utils/pkg/x.py
        collections = os.path.dirname(collections)
    script = BOUNDED_SCRIPT % {'collections': collections, 'limit': memory, 'windows': windows, 'options': options}
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    import json
    return json.loads(out.stdout)


@pytest.mark.parametrize('freq', ['SECONDLY', 'MINUTELY'])
def test_sub_hourly_rules_are_refused_quickly_within_a_memory_bound(freq):
    outcome = run_bounded({'w': {'rrule': 'FREQ=%s' % freq, 'duration': '1m'}})
    assert outcome['error'] and 'rrule' in outcome['error'] and freq in outcome['error'], outcome
    assert 'maintenance window w' in outcome['error']
    assert outcome['seconds'] < 5, outcome


def test_too_many_occurrences_in_the_horizon_is_a_clear_error_naming_the_options():
    outcome = run_bounded({'w': {'rrule': 'FREQ=HOURLY', 'duration': '10m'}}, horizon_days=3650)
    assert outcome['error'] and '10000' in outcome['error'] and 'horizon_days' in outcome['error'], outcome
    assert outcome['seconds'] < 15, outcome


def test_hourly_rules_within_the_default_horizon_still_work():
    result = evaluate_windows({'w': {'rrule': 'FREQ=HOURLY;BYMINUTE=30', 'duration': '10m'}}, now='2026-11-24T05:00:00Z')
    assert result['next_windows'][0]['start'] == '2026-11-24T05:30:00Z'


@pytest.mark.parametrize('options, message', [
    ({'horizon_days': 10 ** 9}, 'horizon_days'),
    ({'horizon_days': -1}, 'horizon_days'),
    ({'now': '9999-12-31T00:00:00Z'}, 'now'),
    ({'count': -1}, 'count'),
    ({'batch_cutoff_minutes': 10 ** 30}, 'batch_cutoff_minutes'),   # found by the fuzz test: OverflowError
    ({'batch_cutoff_minutes': 10 ** 11}, 'batch_cutoff_minutes'),    # fits a timedelta, not a date before a window
    ({'batch_cutoff_minutes': 527041}, 'batch_cutoff_minutes'),
])
def test_out_of_range_options_are_clear_errors(options, message):
    options.setdefault('now', '2026-11-24T05:00:00Z')
    with pytest.raises(MaintenanceError, match=message):
        evaluate_windows(GUIDE, **options)


@pytest.mark.parametrize('spec, message', [
    ({'rrule': 'FREQ=WEEKLY', 'duration': '99999999999w'}, 'duration'),
    ({'rrule': 'FREQ=WEEKLY', 'duration': float('nan')}, 'duration'),
    ({'rrule': 'FREQ=WEEKLY', 'duration': '1h', 'notice': '99999999999w'}, 'notice'),
])
def test_durations_out_of_range_are_clear_errors(spec, message):
    with pytest.raises(MaintenanceError, match=message):
        evaluate_windows({'w': spec}, now='2026-11-24T05:00:00Z')
