# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place for time in this collection: the clock, the text forms of a moment, durations and time budgets.

* ``utc_now()`` is the only wall clock the backends read (tests pass ``now`` instead).
* Every text form of a moment that reaches a result, a record or a message has a named function here; each keeps
  the exact output the collection has always produced (records written by older releases stay comparable):

  ====================== ======================================= ==========================================
  function               example                                 used for
  ====================== ======================================= ==========================================
  ``iso_utc``            ``2026-11-24T05:01:19Z``                check details, alerts, windows, state files
  ``iso_utc_micro``      ``2026-11-24T05:01:19.123456Z``         outcome records (``recorded_at``)
  ``iso_from_epoch``     ``2026-11-24T05:01:00Z``                log scan minutes (Unix seconds, truncated)
  ``iso_from_epoch_exact`` ``2026-11-24T02:00:11.5Z``            backup file times (microseconds when given)
  ``iso_as_given``       ``2027-07-18T06:00:00+02:00``           local times with their offset, review periods
  ``iso_date``           ``2026-11-24``                          review days and report names
  ``basic_utc``          ``20261124T050119Z``                    evidence archive names
  ``digits_utc``         ``20261124050119``                      scratch database names
  ``ical_local``         ``20261124T050119``                     AWX ``DTSTART`` (the zone is given apart)
  ``readable_utc``       ``2026-11-24 05:01 UTC``                check reasons read by people
  ====================== ======================================= ==========================================

* ``parse_duration(value, name, bare=...)`` is the one duration parser: ``90``, ``'90s'``, ``'15m'``, ``'1h30m'``,
  ``'2d'``, ``'500ms'``, ``'1w'``. A bare number is seconds unless the caller's option documents another unit
  (the maintenance window options read minutes); every error names the option.
* ``Budget`` is a time budget on the monotonic clock.

Plain Python, importable without Ansible; Python 3.8 compatible (it runs on managed hosts).
"""

import calendar
import datetime
import math
import re
import time
from typing import Callable, Literal, Optional, Union, overload

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

UTC = datetime.timezone.utc

# Seconds in one of each time unit a duration or a check's unit may be written in.
SECONDS_PER_UNIT = {
    'us': 0.000001, 'ms': 0.001,
    's': 1, 'sec': 1, 'secs': 1, 'seconds': 1,
    'm': 60, 'min': 60, 'mins': 60, 'minutes': 60,
    'h': 3600, 'hours': 3600,
    'd': 86400, 'days': 86400,
    'w': 604800,
}
# What a bare number means, by the name an option's documentation uses for it.
BARE_UNITS = {'s': 'seconds', 'min': 'minutes'}

_DURATION_PART = re.compile(r'(\d+(?:\.\d+)?)(us|ms|secs|sec|s|mins|min|m|h|d|w)', re.IGNORECASE)
_NUMBER = re.compile(r'^\d+(?:\.\d+)?$')
DURATION_EXAMPLES = '90s, 15m, 2h, 7d or 1h30m'


# ------------------------------------------------------------------ the clock

def utc_now() -> datetime.datetime:
    """The current moment, aware, in UTC."""
    return datetime.datetime.now(UTC)


def local_now() -> datetime.datetime:
    """The current wall-clock time of the host, naive (for files such as logrotate's state that hold local time)."""
    return datetime.datetime.now()


def from_epoch(seconds: float) -> datetime.datetime:
    """An aware UTC datetime for Unix seconds."""
    return datetime.datetime.fromtimestamp(seconds, UTC)


def _utc(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` in UTC; a naive moment is taken to be UTC already (never the host's local time)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# ------------------------------------------------------------------ text forms of a moment

def iso_utc(moment: datetime.datetime) -> str:
    """``2026-11-24T05:01:19Z``: ISO 8601 in UTC to the second."""
    return _utc(moment).strftime('%Y-%m-%dT%H:%M:%SZ')


def iso_utc_micro(moment: datetime.datetime) -> str:
    """``2026-11-24T05:01:19.123456Z``: ISO 8601 in UTC to the microsecond (outcome records)."""
    return _utc(moment).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def iso_from_epoch(seconds: float) -> str:
    """``iso_utc`` of Unix seconds (a fraction of a second is dropped)."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(seconds))


def iso_from_epoch_exact(seconds: Optional[float]) -> Optional[str]:
    """ISO 8601 in UTC of Unix seconds with their microseconds when they have any: ``...T02:00:11.500000Z``.

    ``None`` (a time that is not known) stays ``None``.
    """
    if seconds is None:
        return None
    return from_epoch(seconds).isoformat().replace('+00:00', 'Z')


def iso_as_given(moment: datetime.datetime) -> str:
    """``moment.isoformat()``: a local time keeps its offset (``+02:00``), a naive one has none."""
    return moment.isoformat()


def iso_date(moment: Union[datetime.datetime, datetime.date]) -> str:
    """``2026-11-24``: the calendar date of a datetime (or a date) as it is given."""
    if isinstance(moment, datetime.datetime):
        moment = moment.date()
    return moment.isoformat()


def basic_utc(moment: datetime.datetime) -> str:
    """``20261124T050119Z``: ISO 8601 basic format in UTC (file and archive names)."""
    return _utc(moment).strftime('%Y%m%dT%H%M%SZ')


def digits_utc(seconds: float) -> str:
    """``20261124050119``: Unix seconds as UTC digits (database names, which allow no ``-`` or ``:``)."""
    return time.strftime('%Y%m%d%H%M%S', time.gmtime(seconds))


def epoch_from_digits(text: str) -> int:
    """Unix seconds of a ``digits_utc`` text; ``ValueError`` when it is not one."""
    return calendar.timegm(time.strptime(text, '%Y%m%d%H%M%S'))


def ical_local(moment: datetime.datetime) -> str:
    """``20261124T050119``: iCalendar DATE-TIME without a zone (the zone is given beside it, ``TZID=``)."""
    return moment.strftime('%Y%m%dT%H%M%S')


def readable_utc(moment: datetime.datetime) -> str:
    """``2026-11-24 05:01 UTC``: a moment in a reason people read."""
    return _utc(moment).strftime('%Y-%m-%d %H:%M UTC')


@overload
def parse_iso(text: None) -> None: ...


@overload
def parse_iso(text: Union[str, datetime.datetime]) -> datetime.datetime: ...


@overload
def parse_iso(text: object) -> Optional[datetime.datetime]: ...


def parse_iso(text: object) -> Optional[datetime.datetime]:
    """An aware datetime from ISO 8601 (``Z`` or an offset; naive means UTC); a datetime is returned as is.

    ``ValueError`` when the text is not ISO 8601; ``None`` stays ``None``.
    """
    if text is None:
        return None
    if isinstance(text, datetime.datetime):
        moment = text
    else:
        value = str(text).strip()
        if value.endswith('Z'):
            value = value[:-1] + '+00:00'
        moment = datetime.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def parse_iso_or_none(text: object) -> Optional[datetime.datetime]:
    """``parse_iso`` for stored values that may be missing or damaged: ``None`` instead of an error."""
    try:
        return parse_iso(text)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------ durations

def unit_seconds(unit: str, default: Optional[float] = None) -> Optional[float]:
    """Seconds in one ``unit`` (``s``, ``min``, ``h``, ``days`` ...); ``default`` for a unit that is not a time."""
    return SECONDS_PER_UNIT.get(unit, default)


def _duration_error(name: str, value: object, bare: Optional[str]) -> MaintenanceError:
    if bare is None:
        rule = 'a bare number is refused, give a unit'
    else:
        rule = 'a bare number is %s' % BARE_UNITS[bare]
    return MaintenanceError('%s must be a duration such as %s (%s), not %r' % (name, DURATION_EXAMPLES, rule, value))


@overload
def parse_duration(value: object, name: str = 'duration', bare: Optional[str] = 's', allow_none: Literal[False] = False) -> float: ...


@overload
def parse_duration(value: object, name: str = 'duration', bare: Optional[str] = 's', allow_none: bool = False) -> Optional[float]: ...


def parse_duration(value: object, name: str = 'duration', bare: Optional[str] = 's', allow_none: bool = False) -> Optional[float]:
    """Seconds (float) in ``value``: ``90``, ``'90'``, ``'15m'``, ``'1h30m'``, ``'2d'``, ``'500ms'``, ``'1w'``.

    ``bare`` is what a number without a unit means: ``'s'`` (seconds, the collection's rule), ``'min'`` (the
    maintenance window options, documented so) or ``None`` (refused, except 0: PostgreSQL settings whose bare
    number PostgreSQL itself reads as milliseconds). ``None`` or ``''`` give ``None`` when ``allow_none``, else an
    error. Negative, infinite and unreadable values raise ``MaintenanceError`` naming ``name``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if allow_none:
            return None
        raise MaintenanceError('%s is required: a duration such as %s' % (name, DURATION_EXAMPLES))
    if isinstance(value, bool):
        raise _duration_error(name, value, bare)
    number: Optional[float]
    if isinstance(value, (int, float)):
        number, text = float(value), ''  # text is read only when number is None
    else:
        text = str(value).strip().replace(' ', '')
        if text.startswith('-'):
            raise MaintenanceError('%s must not be negative, got %r' % (name, value))
        number = float(text) if _NUMBER.match(text) else None
    if number is not None:
        if math.isnan(number) or math.isinf(number):
            raise _duration_error(name, value, bare)
        if number < 0:
            raise MaintenanceError('%s must not be negative, got %r' % (name, value))
        if bare is None and number != 0:
            raise _duration_error(name, value, bare)
        return number * SECONDS_PER_UNIT[bare or 's']
    parts = _DURATION_PART.findall(text)
    if not parts or ''.join(n + u for n, u in parts).lower() != text.lower():
        raise _duration_error(name, value, bare)
    return sum(float(number) * SECONDS_PER_UNIT[unit.lower()] for number, unit in parts)


def duration_text(seconds: float) -> str:
    """``1h30m``, ``2d``, ``45s``: a duration as a person would write it (alert reasons)."""
    seconds = int(round(seconds))
    for unit, size in (('d', 86400), ('h', 3600), ('m', 60)):
        if seconds >= size and seconds % size == 0:
            return '%d%s' % (seconds // size, unit)
    if seconds >= 3600:
        return '%dh%02dm' % (seconds // 3600, (seconds % 3600) // 60)
    if seconds >= 60:
        return '%dm%02ds' % (seconds // 60, seconds % 60)
    return '%ds' % seconds


def duration_in_one_unit(seconds: float) -> str:
    """``90m``, ``2h``, ``1d``: a whole number of the largest unit that divides ``seconds`` exactly (alert rules)."""
    for size, unit in ((86400, 'd'), (3600, 'h'), (60, 'm')):
        if seconds % size == 0:
            return '%d%s' % (seconds // size, unit)
    return '%ds' % seconds


def duration_words(seconds: float) -> str:
    """``1.5 days``, ``3.0 h``, ``12 min``, ``40 s``: an age in a reason (one decimal from an hour up)."""
    seconds = int(seconds)
    if seconds >= 86400:
        return '%.1f days' % (seconds / 86400.0)
    if seconds >= 3600:
        return '%.1f h' % (seconds / 3600.0)
    if seconds >= 60:
        return '%d min' % (seconds // 60)
    return '%d s' % seconds


def pg_interval_ms(seconds: Optional[float]) -> Optional[str]:
    """A PostgreSQL timeout setting value (milliseconds as text, at least 1) for ``set_timeouts``; None stays None."""
    if seconds is None:
        return None
    return '%dms' % max(int(round(seconds * 1000)), 1)


def pg_timeout(value: object, name: str) -> Optional[str]:
    """The PostgreSQL setting for a ``lock_timeout``/``statement_timeout`` option: milliseconds as text.

    A unit is required (``500ms``, ``10s``, ``5min``, ``1h30m``): PostgreSQL reads a bare number as milliseconds
    and the collection's other duration options as seconds, so a bare number other than 0 is refused rather than
    guessed. 0 stays ``'0'`` (no limit, as in PostgreSQL); None stays None.
    """
    if value is None:
        return None
    seconds = parse_duration(value, name, bare=None)
    return '0' if seconds == 0 else pg_interval_ms(seconds)


class Budget(object):
    """A time budget measured on the monotonic clock; ``None`` seconds means unlimited."""

    def __init__(self, seconds: Optional[float], clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.started = clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def remaining(self) -> Optional[float]:
        if self.seconds is None:
            return None
        return max(self.seconds - self.elapsed(), 0.0)

    def allows(self, estimate: float = 0.0) -> bool:
        """True while the budget leaves room for work expected to take ``estimate`` seconds."""
        if self.seconds is None:
            return True
        return self.elapsed() + max(estimate, 0.0) < self.seconds
