# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Maintenance windows as data: RRULEs or explicit dates, in a time zone, with a duration and a notice period.

A window (one entry of ``maintenance_windows``)::

    weekly:
      rrule: "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0"   # iCalendar RRULE, wall-clock time of `timezone`
      duration: 2h                                         # elapsed time: 90m, 2h, 14d, 1w or minutes as a number
      timezone: UTC                                        # an IANA zone (zoneinfo)
      notice: 24h                                          # the notice must go out this long before the start
      impact: minimal disruption
    quarterly:
      dates: ["2027-01-16T02:00:00"]                       # explicit local start times instead of an rrule

RRULEs are evaluated with python-dateutil in naive *wall-clock* time of the
window's zone and each start is then placed in the zone with zoneinfo, so
"Sunday 02:00 Europe/Berlin" stays 02:00 local across DST changes. A start
that falls into a DST gap (02:30 on the spring-forward night) is moved to the
first instant after the gap; an ambiguous start (the autumn night) takes the
first occurrence. The duration is elapsed time from that instant.

Plain Python: unit tests call it without Ansible.
"""

import datetime

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps, times
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report, make_check

UTC = times.UTC

# Bounded work: a window's rule may yield at most this many starts in the range evaluated (an hourly rule over the
# default 400 days is 9,600), and rules firing more often than hourly are refused (a SECONDLY rule over 400 days is
# 34 million starts: gigabytes, and minutes of CPU).
MAX_OCCURRENCES = 10000
MAX_HORIZON_DAYS = 36600
_REFUSED_FREQUENCIES = ('SECONDLY', 'MINUTELY')


def parse_duration(value, what='duration'):
    """``90m``, ``2h``, ``14d``, ``1w``, ``30s`` or a bare number of MINUTES -> timedelta (``core.times`` parser).

    The window options (a window's ``duration`` and ``notice``, ``notice_grace``) have read a bare number as
    minutes since they were introduced; their documentation says so, and a unit string means the same everywhere.
    """
    if isinstance(value, datetime.timedelta):
        return value
    seconds = times.parse_duration(value, what, bare='min')
    try:
        return datetime.timedelta(seconds=seconds)
    except OverflowError:
        raise MaintenanceError('%s must be a duration like 2h, 90m or 14d (at most a few thousand years), not %r'
                               % (what, value))


def get_zone(name):
    try:
        import zoneinfo
    except ImportError:  # Python < 3.9 on the target: use dateutil's tz database instead
        zone = deps.load('dateutil').tz.gettz(name)
        if zone is None:
            raise MaintenanceError('unknown time zone %r' % name)
        return zone
    try:
        return zoneinfo.ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for malformed keys
        raise MaintenanceError('unknown time zone %r (expected an IANA name such as UTC or Europe/Berlin)' % name)


def parse_now(value):
    """An aware datetime for ``now`` (ISO 8601 string, naive means UTC); the current time when empty."""
    if value in (None, ''):
        return times.utc_now()
    try:
        return times.parse_iso(value)
    except ValueError:
        raise MaintenanceError('now must be an ISO 8601 date-time such as 2026-11-29T02:30:00Z, not %r' % value)


def localize(naive, zone):
    """Place a wall-clock time in ``zone``: gap times move past the gap, ambiguous ones take the first occurrence."""
    candidate = naive.replace(tzinfo=zone, fold=0)
    # A time inside a DST gap does not survive a round trip through UTC; the round trip gives the instant after the gap.
    round_trip = candidate.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != naive:
        gap_end = naive.replace(minute=0, second=0, microsecond=0)
        while True:
            gap_end += datetime.timedelta(hours=1)
            probe = gap_end.replace(tzinfo=zone, fold=0)
            if probe.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == gap_end:
                return probe
    return candidate


class Window(object):
    """One named window definition."""

    def __init__(self, name, spec):
        if not isinstance(spec, dict):
            raise MaintenanceError('maintenance window %s must be a mapping (rrule or dates, duration, timezone, notice)' % name)
        unexpected = set(spec) - set(['rrule', 'dates', 'duration', 'timezone', 'notice', 'impact', 'description'])
        if unexpected:
            raise MaintenanceError('maintenance window %s has unknown keys: %s' % (name, ', '.join(sorted(unexpected))))
        self.name = name
        self.rrule = spec.get('rrule')
        self.dates = spec.get('dates') or []
        if not self.rrule and not self.dates and 'dates' not in spec:
            raise MaintenanceError('maintenance window %s needs an rrule or a list of dates' % name)
        if 'duration' not in spec:
            raise MaintenanceError('maintenance window %s needs a duration (e.g. 2h)' % name)
        self.duration = parse_duration(spec['duration'], 'maintenance window %s: duration' % name)
        if self.duration <= datetime.timedelta(0):
            raise MaintenanceError('maintenance window %s: duration must be positive' % name)
        self.zone_name = spec.get('timezone') or 'UTC'
        self.zone = get_zone(self.zone_name)
        self.notice = parse_duration(spec.get('notice') or 0, 'maintenance window %s: notice' % name)
        self.impact = spec.get('impact') or ''
        self._rule = None
        self._local_dates = []
        for text in self.dates:
            try:
                local = datetime.datetime.fromisoformat(str(text).strip())
            except ValueError:
                raise MaintenanceError('maintenance window %s: date %r is not ISO 8601 (e.g. 2027-01-16T02:00:00)' % (name, text))
            if local.tzinfo is not None:
                local = local.astimezone(self.zone).replace(tzinfo=None)
            self._local_dates.append(local)

    def _rule_for(self, anchor):
        rrule = deps.load('dateutil').rrule
        text = str(self.rrule).strip()
        if text.upper().startswith('RRULE:'):
            text = text[6:]
        if 'DTSTART' in text.upper():
            raise MaintenanceError('maintenance window %s: give the rrule without DTSTART; the time of day goes in '
                                   'BYHOUR/BYMINUTE' % self.name)
        for part in text.upper().replace(' ', '').split(';'):
            if part in ['FREQ=%s' % freq for freq in _REFUSED_FREQUENCIES]:
                raise MaintenanceError('maintenance window %s: rrule %r fires more often than hourly (%s); a maintenance '
                                       'window needs FREQ=HOURLY or coarser' % (self.name, self.rrule, part))
        try:
            return rrule.rrulestr(text, dtstart=anchor)
        except (ValueError, TypeError) as exc:
            raise MaintenanceError('maintenance window %s: invalid rrule %r: %s' % (self.name, self.rrule, exc))

    def local_starts(self, after_local, before_local):
        """Naive wall-clock starts in ``[after_local, before_local]``."""
        starts = [d for d in self._local_dates if after_local <= d <= before_local]
        if self.rrule:
            # Anchor at midnight well before the range so BYxxx parts define the times; seconds default to 0.
            anchor = (after_local - datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            rule = self._rule_for(anchor)
            examined = 0
            for start in rule:
                if start > before_local:
                    break
                examined += 1
                if examined > MAX_OCCURRENCES:
                    raise MaintenanceError('maintenance window %s: rrule %r starts more than %d times in the range '
                                           'evaluated; use a coarser rrule or a smaller horizon_days'
                                           % (self.name, self.rrule, MAX_OCCURRENCES))
                if start >= after_local:
                    starts.append(start)
        return sorted(set(starts))

    def occurrences(self, since, until):
        """Occurrences (dicts) whose interval overlaps ``[since, until)`` (aware datetimes), by start."""
        slack = self.duration + datetime.timedelta(days=2)
        after_local = (since - slack).astimezone(self.zone).replace(tzinfo=None)
        before_local = (until + datetime.timedelta(days=2)).astimezone(self.zone).replace(tzinfo=None)
        result = []
        for local in self.local_starts(after_local, before_local):
            start = localize(local, self.zone)
            end = start + self.duration
            if end > since and start < until:
                result.append(Occurrence(self, start, end))
        result.sort(key=lambda o: o.start)
        return result


class Occurrence(object):
    def __init__(self, window, start, end):
        self.window = window
        self.start = start
        self.end = end

    def cutoff(self, batch_cutoff):
        return max(self.start, self.end - batch_cutoff)

    def notice_due(self):
        return self.start - self.window.notice

    def as_dict(self, batch_cutoff):
        zone = self.window.zone
        return {
            'name': self.window.name,
            'start': times.iso_utc(self.start),
            'end': times.iso_utc(self.end),
            'cutoff': times.iso_utc(self.cutoff(batch_cutoff)),
            'start_local': times.iso_as_given(self.start.astimezone(zone)),
            'end_local': times.iso_as_given(self.end.astimezone(zone)),
            'timezone': self.window.zone_name,
            'duration_minutes': int(self.window.duration.total_seconds() // 60),
            'notice_due': times.iso_utc(self.notice_due()),
            'notice_hours': round(self.window.notice.total_seconds() / 3600.0, 2),
            'impact': self.window.impact,
        }


def build_windows(windows, names=None):
    if not isinstance(windows, dict) or not windows:
        raise MaintenanceError('windows must be a non-empty mapping of window name to definition (maintenance_windows)')
    if names:
        missing = [n for n in names if n not in windows]
        if missing:
            raise MaintenanceError('unknown maintenance window(s): %s; defined: %s'
                                   % (', '.join(missing), ', '.join(sorted(windows))))
    selected = names or sorted(windows)
    return [Window(name, windows[name]) for name in selected]


MAX_BATCH_CUTOFF_MINUTES = 366 * 24 * 60


def evaluate_windows(windows, names=None, now=None, batch_cutoff_minutes=30, count=3, horizon_days=400,
                     notice_grace='24h'):
    """Everything the playbooks need about the windows at ``now``.

    Returns a dict: ``now``, ``inside``, ``current`` (the open occurrence or None), ``ends_at``, ``cutoff``,
    ``batch_allowed`` (inside and before the cutoff), ``next_windows`` (the next ``count`` starts after now),
    ``notices_due`` (occurrences whose notice time fell in ``(now - notice_grace, now]``, start still ahead),
    and ``checks`` (one ``maintenance_window.open`` check).
    """
    moment = parse_now(now)
    if not 0 <= batch_cutoff_minutes <= MAX_BATCH_CUTOFF_MINUTES:
        raise MaintenanceError('batch_cutoff_minutes must be between 0 and %d (366 days), not %r'
                               % (MAX_BATCH_CUTOFF_MINUTES, batch_cutoff_minutes))
    cutoff_delta = parse_duration(batch_cutoff_minutes, 'batch_cutoff_minutes')
    if count < 0:
        raise MaintenanceError('count must not be negative, not %r' % (count,))
    if not 1 <= horizon_days <= MAX_HORIZON_DAYS:
        raise MaintenanceError('horizon_days must be between 1 and %d, not %r' % (MAX_HORIZON_DAYS, horizon_days))
    grace = parse_duration(notice_grace, 'notice_grace')
    defined = build_windows(windows, names)
    try:
        horizon = moment + datetime.timedelta(days=horizon_days)
        # the occurrences are looked for a few days (and a window's duration) either side of [now, horizon]
        (moment - datetime.timedelta(days=3) - max(w.duration for w in defined)).astimezone(UTC)
        (horizon + datetime.timedelta(days=3)).astimezone(UTC)
    except OverflowError:
        raise MaintenanceError('now (%s) plus horizon_days (%d) and the window durations go past the year 9999'
                               % (times.iso_utc(moment) if moment.year < 9999 else times.iso_as_given(moment), horizon_days))
    current = []
    upcoming = []
    notices = []
    for window in defined:
        for occ in window.occurrences(moment - datetime.timedelta(seconds=1), horizon):
            if occ.start <= moment < occ.end:
                current.append(occ)
            elif occ.start > moment:
                upcoming.append(occ)
                due = occ.notice_due()
                if window.notice and moment - grace < due <= moment:
                    notices.append(occ)
    current.sort(key=lambda o: o.end, reverse=True)
    upcoming.sort(key=lambda o: o.start)
    notices.sort(key=lambda o: o.start)
    open_occ = current[0] if current else None
    result = {
        'now': times.iso_utc(moment),
        'inside': open_occ is not None,
        'current': open_occ.as_dict(cutoff_delta) if open_occ else None,
        'window': open_occ.window.name if open_occ else None,
        'ends_at': times.iso_utc(open_occ.end) if open_occ else None,
        'cutoff': times.iso_utc(open_occ.cutoff(cutoff_delta)) if open_occ else None,
        'batch_allowed': bool(open_occ and moment < open_occ.cutoff(cutoff_delta)),
        'minutes_left': round((open_occ.end - moment).total_seconds() / 60.0, 1) if open_occ else 0,
        'next_windows': [o.as_dict(cutoff_delta) for o in upcoming[:count]],
        'notices_due': [],
    }
    for occ in notices:
        entry = occ.as_dict(cutoff_delta)
        entry['dedup_key'] = 'maintenance_notice:%s:%s' % (occ.window.name, entry['start'])
        result['notices_due'].append(entry)
    result['checks'] = [window_check(result, names)]
    return result


def window_check(result, names):
    label = ', '.join(names) if names else 'any window'
    if result['batch_allowed']:
        return make_check('maintenance_window.open', 'ok',
                          'inside the %s window until %s; no new batch after %s'
                          % (result['window'], result['ends_at'], result['cutoff']),
                          value=True, priority='low', target=label,
                          details={'ends_at': result['ends_at'], 'cutoff': result['cutoff']})
    if result['inside']:
        reason = 'inside the %s window but past its batch cutoff %s (ends %s)' % (
            result['window'], result['cutoff'], result['ends_at'])
    else:
        upcoming = result['next_windows'][0] if result['next_windows'] else None
        reason = 'outside %s; next: %s' % (label, '%s at %s' % (upcoming['name'], upcoming['start']) if upcoming else 'none scheduled')
    # Informational: being outside a window is not a fault (the playbooks refuse to start on batch_allowed).
    return make_check('maintenance_window.open', 'ok', reason, value=False, priority='low', target=label)


def run(params, check_mode=False, host=None):
    """The maintenance_window module's entry (``result.Report``)."""
    p = params
    return Report.from_result(evaluate_windows(p['windows'], names=p['names'], now=p['now'],
                                               batch_cutoff_minutes=p['batch_cutoff_minutes'], count=p['count'],
                                               horizon_days=p['horizon_days'], notice_grace=p['notice_grace']))
