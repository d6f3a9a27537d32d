"""Every text form of a moment, every duration and size parser and every duration wording the collection
produces, pinned: records, results and reasons must read exactly as before the time code moved to one module."""

import datetime

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import times, units
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import prometheus, store
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling import maintenance_window

UTC = datetime.timezone.utc
MOMENT = datetime.datetime(2026, 11, 24, 5, 1, 19, 123456, tzinfo=UTC)
BERLIN = datetime.timezone(datetime.timedelta(hours=2))


@pytest.mark.parametrize('format_, moment, text', [
    (times.iso_utc, MOMENT, '2026-11-24T05:01:19Z'),
    (times.iso_utc, MOMENT.astimezone(BERLIN), '2026-11-24T05:01:19Z'),
    (times.iso_utc, MOMENT.replace(tzinfo=None), '2026-11-24T05:01:19Z'),
    (times.iso_utc_micro, MOMENT, '2026-11-24T05:01:19.123456Z'),
    (times.iso_utc_micro, MOMENT.replace(microsecond=0), '2026-11-24T05:01:19.000000Z'),
    (store.iso, MOMENT, '2026-11-24T05:01:19.123456Z'),
    (times.iso_as_given, MOMENT.replace(microsecond=0).astimezone(BERLIN), '2026-11-24T07:01:19+02:00'),
    (times.iso_as_given, MOMENT.replace(microsecond=0), '2026-11-24T05:01:19+00:00'),
    (times.iso_as_given, MOMENT.replace(microsecond=0, tzinfo=None), '2026-11-24T05:01:19'),
    (times.iso_date, MOMENT, '2026-11-24'),
    (times.basic_utc, MOMENT, '20261124T050119Z'),
    (times.ical_local, MOMENT.replace(tzinfo=None), '20261124T050119'),
    (times.readable_utc, MOMENT, '2026-11-24 05:01 UTC'),
])
def test_moment_forms(format_, moment, text):
    assert format_(moment) == text


@pytest.mark.parametrize('format_, epoch, text', [
    (times.iso_from_epoch, 1795496460, '2026-11-24T05:01:00Z'),
    (times.iso_from_epoch, 1795496460.9, '2026-11-24T05:01:00Z'),
    (times.iso_from_epoch_exact, 1795485611, '2026-11-24T02:00:11Z'),
    (times.iso_from_epoch_exact, 1795485611.5, '2026-11-24T02:00:11.500000Z'),
    (times.iso_from_epoch_exact, 1795485611.25, '2026-11-24T02:00:11.250000Z'),
    (times.iso_from_epoch_exact, None, None),
    (times.digits_utc, 1795485611, '20261124020011'),
])
def test_epoch_forms(format_, epoch, text):
    assert format_(epoch) == text


@pytest.mark.parametrize('text, moment', [
    ('2026-11-24T05:01:19Z', MOMENT.replace(microsecond=0)),
    ('2026-11-24T05:01:19.123456Z', MOMENT),
    ('2026-11-24T07:01:19.123456+02:00', MOMENT),
    ('2026-11-24T05:01:19.123456', MOMENT),
])
def test_parse_iso(text, moment):
    assert times.parse_iso(text) == moment
    assert times.parse_iso_or_none(text) == moment


def test_damaged_stored_times_read_as_none():
    assert times.parse_iso_or_none('yesterday') is None and times.parse_iso_or_none(None) is None
    assert times.epoch_from_digits('20261124020011') == 1795485611


@pytest.mark.parametrize('seconds, text', [(45, '45s'), (60, '1m'), (90, '1m30s'), (3600, '1h'), (5400, '90m'),
                                           (86400, '1d'), (90000, '25h'), (3661, '1h01m'), (3601, '1h00m')])
def test_duration_text(seconds, text):
    assert times.duration_text(seconds) == text


@pytest.mark.parametrize('seconds, text', [(45, '45s'), (5400, '90m'), (7200, '2h'), (172800, '2d'), (0, '0d')])
def test_duration_in_one_unit(seconds, text):
    assert times.duration_in_one_unit(seconds) == text


@pytest.mark.parametrize('seconds, text', [(40, '40 s'), (720, '12 min'), (10800, '3.0 h'), (129600, '1.5 days')])
def test_duration_words(seconds, text):
    assert times.duration_words(seconds) == text


# Durations: what each parser read before there was one; the one parser must read the same.
@pytest.mark.parametrize('value, seconds', [
    (90, 90), ('90', 90), ('15m', 900), ('1h30m', 5400), ('2d', 172800), ('500ms', 0.5), ('1w', 604800),
    (' 15 m ', 900), ('10sec', 10), ('2.5h', 9000), (None, None), ('', None),
])
def test_housekeeping_durations_are_seconds(value, seconds):
    assert times.parse_duration(value, 'age', allow_none=True) == seconds


@pytest.mark.parametrize('value, seconds', [
    (300, 300), ('90', 90), ('90s', 90), ('30m', 1800), ('30 mins', 1800), ('4h', 14400), ('1d', 86400), ('2w', 1209600),
])
def test_notify_durations_are_seconds(value, seconds):
    assert times.parse_duration(value, 'repeat_after') == seconds


@pytest.mark.parametrize('value, minutes', [
    (45, 45), ('45', 45), ('90m', 90), ('2h', 120), ('14d', 20160), ('1w', 10080), ('30s', 0.5), ('2 h', 120),
])
def test_maintenance_window_durations_are_minutes(value, minutes):
    assert maintenance_window.parse_duration(value, 'notice_grace') == datetime.timedelta(minutes=minutes)


@pytest.mark.parametrize('parse', [times.parse_duration, maintenance_window.parse_duration])
@pytest.mark.parametrize('value', ['soon', '5 parsecs', '-5', True, '1h-3m'])
def test_bad_durations_are_refused_naming_the_option(parse, value):
    with pytest.raises(MaintenanceError, match='^my_option'):
        parse(value, 'my_option')


@pytest.mark.parametrize('value, size', [(10, 10), ('10', 10), ('1k', 1024), ('10 kb', 10240), ('500M', 500 * 1024 ** 2),
                                         ('2 GiB', 2 * 1024 ** 3), ('1MB', 1024 ** 2), ('1t', 1024 ** 4), (None, None)])
def test_sizes_are_binary(value, size):
    assert units.parse_size(value, 'max_size') == size


@pytest.mark.parametrize('value', ['lots', '-1', True, '5 parsecs'])
def test_bad_sizes_are_refused_naming_the_option(value):
    with pytest.raises(MaintenanceError, match='^max_size'):
        units.parse_size(value, 'max_size')


def test_budget_on_an_injected_clock():
    ticks = [100.0]
    budget = times.Budget(10, clock=lambda: ticks[0])
    assert budget.allows(9.5) and budget.remaining() == 10
    ticks[0] = 105.0
    assert budget.elapsed() == 5 and budget.remaining() == 5 and not budget.allows(5) and budget.allows(4.9)
    ticks[0] = 120.0
    assert budget.remaining() == 0.0 and not budget.allows()
    unlimited = times.Budget(None, clock=lambda: ticks[0])
    assert unlimited.remaining() is None and unlimited.allows(1e9)


@pytest.mark.parametrize('unit, suffix, factor', [('KiB', 'bytes', 1024), ('MiB', 'bytes', 1048576), ('GiB', 'bytes', 1073741824),
                                                  ('MB', 'bytes', 1000000), ('GB', 'bytes', 1000000000), ('B', 'bytes', 1),
                                                  ('bytes', 'bytes', 1), ('ms', 'seconds', 0.001), ('min', 'seconds', 60),
                                                  ('h', 'seconds', 3600), ('days', 'seconds', 86400), ('d', 'seconds', 86400),
                                                  ('s', 'seconds', 1), ('sec', 'seconds', 1), ('seconds', 'seconds', 1),
                                                  ('%', 'percent', 1), ('hours', None, 1), ('w', None, 1), ('kB', None, 1),
                                                  ('TiB', None, 1), ('m', None, 1), ('xids', None, 1)])
def test_metric_units(unit, suffix, factor):
    assert prometheus.unit_suffix(unit) == (suffix, factor)


def test_a_negative_window_notice_is_refused():
    """A notice of -30 (minutes) was taken as a notice due half an hour after the window started."""
    with pytest.raises(MaintenanceError, match='^maintenance window w: notice must not be negative'):
        maintenance_window.Window('w', {'rrule': 'FREQ=WEEKLY', 'duration': '2h', 'notice': -30})
