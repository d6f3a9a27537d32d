# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cadence table as schedules: AWX RRULEs, systemd ``OnCalendar`` expressions and cron entries.

``maintenance_cadences`` holds one iCalendar RRULE per job, evaluated in UTC.
This module turns such a rule into the three forms the schedulers understand,
and refuses (``MaintenanceError``) a rule that one of them cannot express
exactly, rather than scheduling something close to it.

Times the rule leaves open (the minute of an hourly rule, the phase of an
interval) come from the DTSTART, as RFC 5545 says; the same DTSTART is written
into the AWX rule, so the three forms agree.

Plain Python (no Ansible, no dateutil) except ``occurrences()``, which uses
python-dateutil and is what the tests and the timer playbook compare against.
"""

import datetime
import re

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import UTC, ical_local, iso_as_given, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

FREQUENCIES = ('MINUTELY', 'HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY')
DAYS = ('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU')
SYSTEMD_DAYS = dict(zip(DAYS, ('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')))
CRON_DAYS = dict(zip(DAYS, (1, 2, 3, 4, 5, 6, 0)))
ISO_WEEKDAY = dict(zip(DAYS, range(1, 8)))   # date +%u: 1 = Monday .. 7 = Sunday
SUPPORTED_PARTS = ('FREQ', 'INTERVAL', 'BYMINUTE', 'BYHOUR', 'BYDAY', 'BYMONTHDAY', 'BYMONTH', 'BYSETPOS')
PART_ORDER = SUPPORTED_PARTS
DEFAULT_DTSTART = '2026-01-01T00:00:00'
MAX_OCCURRENCES = 10000          # occurrences(): the most it lists
UNIT_PREFIX = 'autopilotcx-'
NAME_RE = re.compile(r'^[a-z0-9][a-z0-9_]*$')
BYDAY_RE = re.compile(r'^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$')


def _ints(key, value, low, high, allow_negative=False):
    result = []
    for item in value.split(','):
        try:
            number = int(item)
        except ValueError:
            raise MaintenanceError('RRULE part %s=%s: %r is not a number' % (key, value, item))
        valid = low <= number <= high or (allow_negative and -high <= number <= -low)
        if not valid:
            raise MaintenanceError('RRULE part %s=%s: %d is out of range %d..%d' % (key, value, number, low, high))
        if number not in result:
            result.append(number)
    return result


def parse_rrule(text):
    """Parse the supported subset of an RRULE into a dict; raises MaintenanceError on anything else."""
    if not isinstance(text, str) or not text.strip():
        raise MaintenanceError('An RRULE must be a non-empty string, got %r' % (text,))
    body = text.strip()
    if body.upper().startswith('RRULE:'):
        body = body[6:]
    if 'DTSTART' in body.upper():
        raise MaintenanceError('RRULE %r: give the rule without DTSTART (the DTSTART is added per scheduler)' % text)
    parts = {}
    for chunk in body.split(';'):
        if not chunk:
            continue
        if '=' not in chunk:
            raise MaintenanceError('RRULE %r: part %r is not KEY=VALUE' % (text, chunk))
        key, value = chunk.split('=', 1)
        key = key.strip().upper()
        value = value.strip().upper()
        if key not in SUPPORTED_PARTS:
            raise MaintenanceError('RRULE %r: part %s is not supported for schedules (supported: %s)'
                                   % (text, key, ', '.join(SUPPORTED_PARTS)))
        if key in parts:
            raise MaintenanceError('RRULE %r: part %s appears twice' % (text, key))
        parts[key] = value
    if parts.get('FREQ') not in FREQUENCIES:
        raise MaintenanceError('RRULE %r: FREQ must be one of %s' % (text, ', '.join(FREQUENCIES)))
    rule = {'freq': parts['FREQ'], 'interval': 1}
    if 'INTERVAL' in parts:
        rule['interval'] = _ints('INTERVAL', parts['INTERVAL'], 1, 1000)[0]
    if 'BYMINUTE' in parts:
        rule['byminute'] = sorted(_ints('BYMINUTE', parts['BYMINUTE'], 0, 59))
    if 'BYHOUR' in parts:
        rule['byhour'] = sorted(_ints('BYHOUR', parts['BYHOUR'], 0, 23))
    if 'BYMONTHDAY' in parts:
        rule['bymonthday'] = _ints('BYMONTHDAY', parts['BYMONTHDAY'], 1, 31, allow_negative=True)
    if 'BYMONTH' in parts:
        rule['bymonth'] = sorted(_ints('BYMONTH', parts['BYMONTH'], 1, 12))
    if 'BYSETPOS' in parts:
        rule['bysetpos'] = _ints('BYSETPOS', parts['BYSETPOS'], 1, 366, allow_negative=True)
    if 'BYDAY' in parts:
        days = []
        for item in parts['BYDAY'].split(','):
            match = BYDAY_RE.match(item)
            if not match:
                raise MaintenanceError('RRULE %r: BYDAY value %r is not a weekday like SU or -1SU' % (text, item))
            ordinal = int(match.group(1)) if match.group(1) else None
            if ordinal == 0:
                raise MaintenanceError('RRULE %r: BYDAY ordinal 0 is not allowed' % text)
            days.append((ordinal, match.group(2)))
        rule['byday'] = days
    if any(o is not None for o, _d in rule.get('byday', ())) and rule['freq'] not in ('MONTHLY', 'YEARLY'):
        raise MaintenanceError('RRULE %r: a BYDAY ordinal (like -1SU) needs FREQ=MONTHLY' % text)
    return rule


def format_rrule(rule, awx=False):
    """The canonical text of a parsed rule (INTERVAL always present: AWX requires it).

    With ``awx=True`` a positive BYDAY ordinal (``1MO``, which AWX's API refuses) is written as the equivalent
    ``BYDAY=MO;BYSETPOS=1``; ``-1SU`` is accepted by AWX and kept.
    """
    if awx and 'bysetpos' not in rule and len(rule.get('byday', ())) == 1 and (rule['byday'][0][0] or 0) > 0:
        rule = dict(rule, byday=[(None, rule['byday'][0][1])], bysetpos=[rule['byday'][0][0]])
    parts = ['FREQ=%s' % rule['freq'], 'INTERVAL=%d' % rule['interval']]
    if 'bymonth' in rule:
        parts.append('BYMONTH=%s' % ','.join(str(m) for m in rule['bymonth']))
    if 'bymonthday' in rule:
        parts.append('BYMONTHDAY=%s' % ','.join(str(d) for d in rule['bymonthday']))
    if 'byday' in rule:
        parts.append('BYDAY=%s' % ','.join('%s%s' % ('' if o is None else o, d) for o, d in rule['byday']))
    if 'bysetpos' in rule:
        parts.append('BYSETPOS=%s' % ','.join(str(p) for p in rule['bysetpos']))
    if 'byhour' in rule:
        parts.append('BYHOUR=%s' % ','.join(str(h) for h in rule['byhour']))
    if 'byminute' in rule:
        parts.append('BYMINUTE=%s' % ','.join(str(m) for m in rule['byminute']))
    return ';'.join(parts)


def parse_dtstart(value=None):
    """A naive datetime (meaning UTC) from an ISO string, a datetime or None (the default DTSTART)."""
    if value is None or value == '':
        value = DEFAULT_DTSTART
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value).strip().replace(' ', 'T')
        if text.endswith('Z'):
            text = text[:-1]
        try:
            moment = datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S')
        except ValueError:
            try:
                moment = datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M')
            except ValueError:
                raise MaintenanceError('DTSTART %r is not an ISO date and time like 2026-01-01T00:00:00 (UTC)' % (value,))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    if moment.second or moment.microsecond:
        raise MaintenanceError('DTSTART %s: use whole minutes (seconds must be 0)' % iso_as_given(moment))
    return moment


# ---------------------------------------------------------------------------------------------- AWX
def awx_rrule(rrule, dtstart=None):
    """``DTSTART;TZID=UTC:YYYYMMDDTHHMMSS RRULE:...`` as AWX schedules want it."""
    rule = parse_rrule(rrule)
    start = parse_dtstart(dtstart)
    _check_exact(rule, start)  # the same limits as systemd/cron, so every scheduler runs the same times
    value = 'DTSTART;TZID=UTC:%s RRULE:%s' % (ical_local(start), format_rrule(rule, awx=True))
    errors = awx_rrule_errors(value)
    if errors:
        raise MaintenanceError('RRULE %r would be refused by AWX: %s' % (rrule, '; '.join(errors)))
    return value


def awx_rrule_errors(value):
    """What AWX's schedule validation would refuse in a full rule string (an empty list when it is accepted).

    Mirrors the checks of AWX's API (SchedulePreviewSerializer.validate_rrule): one DTSTART with a time zone,
    at least one RRULE, INTERVAL in each rule, no SECONDLY, no BYDAY with a positive numeric prefix
    (``BYDAY=2MO``; ``-1SU`` passes), no EXDATE/RDATE, no COUNT with UNTIL, COUNT at most 999.
    """
    errors = []
    text = value or ''
    dtstarts = re.findall(r'DTSTART[:;][^\s]+', text, re.IGNORECASE)
    if not dtstarts:
        errors.append('Valid DTSTART required in rrule')
    elif len(dtstarts) > 1:
        errors.append('Multiple DTSTART is not supported')
    else:
        if not (re.match(r'DTSTART;TZID=[^:]+:\d{8}T\d{6}$', dtstarts[0], re.IGNORECASE)
                or re.match(r'DTSTART:\d{8}T\d{6}Z$', dtstarts[0], re.IGNORECASE)):
            errors.append('DTSTART cannot be a naive datetime')
    rules = re.findall(r'RRULE:[^\s]+', text, re.IGNORECASE)
    if not rules:
        errors.append('One or more rule required in rrule')
    lowered = text.lower()
    if 'exdate:' in lowered:
        errors.append('EXDATE not allowed in rrule')
    if 'rdate:' in lowered:
        errors.append('RDATE not allowed in rrule')
    for rule in rules:
        if 'interval' not in rule.lower():
            errors.append('INTERVAL required in rrule: %s' % rule)
        elif 'secondly' in rule.lower():
            errors.append('SECONDLY is not supported: %s' % rule)
        if re.match(r'.*?BYDAY[:=][0-9]+[a-zA-Z]{2}', rule):
            errors.append('BYDAY with numeric prefix not supported: %s' % rule)
        if 'COUNT' in rule and 'UNTIL' in rule:
            errors.append('RRULE may not contain both COUNT and UNTIL: %s' % rule)
        count = re.match(r'.*?COUNT=([0-9]+)', rule)
        if count and int(count.group(1)) > 999:
            errors.append('COUNT > 999 is unsupported: %s' % rule)
    return errors


# ---------------------------------------------------------------------------------------------- shared
def _divides(rule, total, what):
    if total % rule['interval']:
        unit = {60: 'hour', 24: 'day', 12: 'year'}[total]
        raise MaintenanceError('FREQ=%s;INTERVAL=%d: systemd and cron restart %s at every %s, so only intervals '
                               'that divide %d run at even spacing' % (rule['freq'], rule['interval'], what, unit, total))


def _single_setpos_day(rule):
    """MONTHLY;BYDAY=SU;BYSETPOS=-1 is the same as BYDAY=-1SU; return the (ordinal, day) pairs."""
    days = list(rule.get('byday', ()))
    if 'bysetpos' in rule:
        if len(rule['bysetpos']) != 1 or len(days) != 1 or days[0][0] is not None or rule['freq'] != 'MONTHLY':
            raise MaintenanceError('BYSETPOS is supported only as MONTHLY;BYDAY=<one day>;BYSETPOS=<n>')
        days = [(rule['bysetpos'][0], days[0][1])]
    return days


def _check_exact(rule, start):
    """Raise when systemd or cron cannot express the rule exactly."""
    _fields(rule, start)


def _fields(rule, start):
    """The calendar fields every scheduler needs, with the DTSTART filling what the rule leaves open.

    Returns dict(minutes, hours, monthdays, months, weekdays, ordinal, minute_step, hour_step, month_step)
    where ``minutes``/``hours``/``months`` are lists of ints or None (every), ``minute_step`` etc. are
    ``(first, step)`` for interval rules, ``weekdays`` a list of day codes or None, ``ordinal`` the BYDAY
    ordinal (1..4 or -1) or None, ``monthdays`` a list of ints (negative: from the end) or None.
    """
    freq = rule['freq']
    interval = rule['interval']
    days = _single_setpos_day(rule)
    ordinals = set(o for o, _d in days)
    if len(ordinals) > 1:
        raise MaintenanceError('BYDAY with different ordinals (%s) cannot be one systemd/cron schedule'
                               % ','.join('%s%s' % (o or '', d) for o, d in days))
    ordinal = ordinals.pop() if ordinals else None
    if ordinal is not None and ordinal not in (1, 2, 3, 4, -1):
        raise MaintenanceError('BYDAY ordinal %s: only 1..4 (first..fourth) and -1 (last) are supported' % ordinal)
    if ordinal is not None and 'bymonthday' in rule:
        raise MaintenanceError('BYDAY with an ordinal cannot be combined with BYMONTHDAY')
    out = {'minutes': rule.get('byminute'), 'hours': rule.get('byhour'), 'monthdays': rule.get('bymonthday'),
           'months': rule.get('bymonth'), 'weekdays': [d for _o, d in days] or None, 'ordinal': ordinal,
           'minute_step': None, 'hour_step': None, 'month_step': None}
    if freq == 'MINUTELY':
        if out['minutes'] is not None:
            raise MaintenanceError('FREQ=MINUTELY with BYMINUTE: write FREQ=HOURLY;BYMINUTE=... instead')
        _divides(rule, 60, 'the minutes')
        out['minute_step'] = (start.minute % interval, interval)
        if interval == 1:
            out['minute_step'] = None
    else:
        if out['minutes'] is None:
            out['minutes'] = [start.minute]
    if freq == 'HOURLY':
        if out['hours'] is not None and interval != 1:
            raise MaintenanceError('FREQ=HOURLY with INTERVAL and BYHOUR: list the hours in BYHOUR instead')
        _divides(rule, 24, 'the hours')
        if interval > 1:
            out['hour_step'] = (start.hour % interval, interval)
    elif freq in ('DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'):
        if out['hours'] is None:
            out['hours'] = [start.hour]
        if interval != 1 and freq != 'MONTHLY':
            raise MaintenanceError('FREQ=%s;INTERVAL=%d: systemd and cron cannot skip whole %s; use INTERVAL=1'
                                   % (freq, interval, {'DAILY': 'days', 'WEEKLY': 'weeks', 'YEARLY': 'years'}[freq]))
    if freq == 'WEEKLY' and out['weekdays'] is None:
        out['weekdays'] = [DAYS[start.weekday()]]
    if freq == 'MONTHLY':
        if out['monthdays'] is None and out['weekdays'] is None:
            out['monthdays'] = [start.day]
        if interval > 1:
            _divides(rule, 12, 'the months')
            if out['months'] is not None:
                raise MaintenanceError('FREQ=MONTHLY with INTERVAL and BYMONTH: list the months in BYMONTH instead')
            out['month_step'] = (start.month, interval)
    if freq == 'YEARLY':
        if out['months'] is None:
            out['months'] = [start.month]
        if out['monthdays'] is None and out['weekdays'] is None:
            out['monthdays'] = [start.day]
        if ordinal is not None:
            raise MaintenanceError('FREQ=YEARLY with a BYDAY ordinal: use FREQ=MONTHLY;BYMONTH=..;BYDAY=%sXX' % ordinal)
    monthdays = out['monthdays'] or []
    if any(d < 0 for d in monthdays) and any(d > 0 for d in monthdays):
        raise MaintenanceError('BYMONTHDAY mixing days from the start and from the end of the month is not supported')
    if any(d < -7 for d in monthdays):
        raise MaintenanceError('BYMONTHDAY below -7 is not supported')
    return out


def _two(numbers):
    return ','.join('%02d' % n for n in numbers)


# ---------------------------------------------------------------------------------------------- systemd
def on_calendar(rrule, dtstart=None):
    """The systemd ``OnCalendar=`` expression (with ``UTC``) that fires exactly when the RRULE does."""
    rule = parse_rrule(rrule)
    f = _fields(rule, parse_dtstart(dtstart))
    weekday = ''
    if f['weekdays']:
        weekday = ','.join(SYSTEMD_DAYS[d] for d in DAYS if d in f['weekdays']) + ' '
    if f['month_step']:
        month = '%02d/%d' % f['month_step']
    elif f['months']:
        month = _two(f['months'])
    else:
        month = '*'
    if f['ordinal'] == -1:
        day_sep, day = '~', '07/1'          # the last seven days of the month (~07 alone is only the 7th-last day)
    elif f['ordinal'] is not None:
        day_sep, day = '-', '%02d..%02d' % ((f['ordinal'] - 1) * 7 + 1, f['ordinal'] * 7)
    elif f['monthdays'] and f['monthdays'][0] < 0:
        day_sep, day = '~', _two(sorted(-d for d in f['monthdays']))
    elif f['monthdays']:
        day_sep, day = '-', _two(sorted(f['monthdays']))
    else:
        day_sep, day = '-', '*'
    if f['hour_step']:
        hour = '%02d/%d' % f['hour_step']
    elif f['hours'] is not None:
        hour = _two(f['hours'])
    else:
        hour = '*'
    if f['minute_step']:
        minute = '%02d/%d' % f['minute_step']
    elif f['minutes'] is not None:
        minute = _two(f['minutes'])
    else:
        minute = '*'
    return '%s*-%s%s%s %s:%s:00 UTC' % (weekday, month, day_sep, day, hour, minute)


# ---------------------------------------------------------------------------------------------- cron
def cron_schedule(rrule, dtstart=None):
    """Cron fields for the RRULE, plus a shell ``guard`` for what cron cannot say (last Sunday, nth weekday).

    Returns dict(minute, hour, day, month, weekday, guard, line). ``guard`` is '' or a ``[ ... ]`` test to put
    before the command with ``&&``; ``%`` is escaped for crontab. The fields assume the cron daemon runs in UTC
    (``CRON_TZ=UTC`` where cron supports it, or a host clock in UTC).
    """
    rule = parse_rrule(rrule)
    f = _fields(rule, parse_dtstart(dtstart))
    guards = []
    minute = _cron_field(f['minute_step'], f['minutes'], 0, 59)
    hour = _cron_field(f['hour_step'], f['hours'], 0, 23)
    if f['month_step'] and f['month_step'][0] > f['month_step'][1]:
        raise MaintenanceError('FREQ=MONTHLY;INTERVAL=%d starting in month %d: start in one of the first %d months'
                               % (f['month_step'][1], f['month_step'][0], f['month_step'][1]))
    month = _cron_field(f['month_step'], f['months'], 1, 12)
    day, weekday = '*', '*'
    weekdays = f['weekdays']
    monthdays = f['monthdays']
    if f['ordinal'] == -1:
        # cron cannot say "last": run on the weekday and let the guard pass only when a week later is next month.
        guards.append('[ "$(date -u -d +7days +\\%d)" -le 07 ]')
    elif f['ordinal'] is not None:
        day = '%d-%d' % ((f['ordinal'] - 1) * 7 + 1, f['ordinal'] * 7)
    elif monthdays and monthdays[0] < 0:
        day = '22-31'
        guards.append(' || '.join('[ "$(date -u -d +%ddays +\\%%d)" = 01 ]' % -d for d in sorted(monthdays)))
        if len(monthdays) > 1:
            guards[-1] = '{ %s; }' % guards[-1]
    elif monthdays:
        day = ','.join(str(d) for d in sorted(monthdays))
    if weekdays:
        codes = sorted(CRON_DAYS[d] for d in weekdays)
        if day == '*':
            weekday = ','.join(str(c) for c in codes)
        else:
            # both restricted: cron would OR them, RRULE ANDs them; test the weekday in the guard
            guards.insert(0, _weekday_guard(weekdays))
    guard = ' && '.join(guards)
    fields = [minute, hour, day, month, weekday]
    return {'minute': minute, 'hour': hour, 'day': day, 'month': month, 'weekday': weekday, 'guard': guard,
            'line': ' '.join(fields)}


def _cron_field(step, values, lowest, highest):
    """One cron field: ``*/step`` (or ``first-highest/step``) for a step ``(first, step)``, else the values, else ``*``."""
    if step:
        first, every = step[0], step[1]
        return '%d-%d/%d' % (first, highest, every) if first > lowest else '*/%d' % every
    if values:
        return ','.join(str(value) for value in values)
    return '*'


def _weekday_guard(weekdays):
    numbers = sorted(ISO_WEEKDAY[d] for d in weekdays)
    if len(numbers) == 1:
        return '[ "$(date -u +\\%%u)" = %d ]' % numbers[0]
    return '{ %s; }' % ' || '.join('[ "$(date -u +\\%%u)" = %d ]' % n for n in numbers)


# ---------------------------------------------------------------------------------------------- table
def unit_name(name, prefix=UNIT_PREFIX):
    return prefix + name.replace('_', '-')


def validate_table(cadences):
    """Check the cadence table's shape; raises MaintenanceError naming the entry."""
    if not isinstance(cadences, (list, tuple)):
        raise MaintenanceError('maintenance_cadences must be a list, got %s' % type(cadences).__name__)
    seen = set()
    for index, entry in enumerate(cadences):
        where = 'maintenance_cadences[%d]' % index
        if not isinstance(entry, dict):
            raise MaintenanceError('%s must be a mapping' % where)
        name = entry.get('name')
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise MaintenanceError('%s: name %r must be lower-case letters, digits and _' % (where, name))
        where = 'maintenance_cadences[%d] (%s)' % (index, name)
        if name in seen:
            raise MaintenanceError('%s: the name appears twice' % where)
        seen.add(name)
        playbook = entry.get('playbook')
        if not isinstance(playbook, str) or not playbook.endswith('.yml') or '/' in playbook:
            raise MaintenanceError('%s: playbook %r must be a file name in playbooks/ ending in .yml' % (where, playbook))
        if entry.get('rrule') in (None, ''):
            if not entry.get('launched_by'):
                raise MaintenanceError('%s: without an rrule the job is launched by people; say who in launched_by' % where)
    return True


def cadence_schedules(cadences, dtstart=None, prefix=UNIT_PREFIX, include_manual=True):
    """Every entry of the table with its generated forms added.

    Added keys: ``scheduled`` (bool), ``rrule_normalized``, ``awx_rrule``, ``on_calendar``, ``cron`` (dict of
    cron_schedule), ``unit`` (systemd unit base name). Entries without an rrule get None for the generated forms.
    """
    validate_table(cadences)
    result = []
    for entry in cadences:
        item = dict(entry)
        rrule = entry.get('rrule')
        item['scheduled'] = bool(rrule)
        item['unit'] = unit_name(entry['name'], prefix)
        if rrule:
            try:
                item['rrule_normalized'] = format_rrule(parse_rrule(rrule))
                item['awx_rrule'] = awx_rrule(rrule, dtstart)
                item['on_calendar'] = on_calendar(rrule, dtstart)
                item['cron'] = cron_schedule(rrule, dtstart)
            except MaintenanceError as exc:
                raise MaintenanceError('maintenance_cadences entry %s: %s' % (entry['name'], exc.message))
        else:
            if not include_manual:
                continue
            item.update(rrule_normalized=None, awx_rrule=None, on_calendar=None, cron=None)
        result.append(item)
    return result


# ---------------------------------------------------------------------------------------------- reference
def occurrences(rrule, count=5, after=None, dtstart=None):
    """The next ``count`` times (aware UTC datetimes) after ``after`` per python-dateutil: the reference.

    ``count`` is at most ``MAX_OCCURRENCES``: the list is built in memory."""
    if isinstance(count, str) and count.strip().isdigit():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_OCCURRENCES:
        raise MaintenanceError('count must be a whole number between 0 and %d, not %r' % (MAX_OCCURRENCES, count))
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
    deps.load('dateutil')  # a clear message when python-dateutil is missing
    import importlib
    dateutil_rrule = importlib.import_module('dateutil.rrule')
    start = parse_dtstart(dtstart).replace(tzinfo=UTC)
    if after is None:
        moment = utc_now()
    elif isinstance(after, datetime.datetime):
        moment = after if after.tzinfo else after.replace(tzinfo=UTC)
    else:
        text = str(after).strip().replace(' ', 'T').rstrip('Z')
        try:
            moment = datetime.datetime.strptime(text[:19], '%Y-%m-%dT%H:%M:%S').replace(tzinfo=UTC)
        except ValueError:
            moment = parse_dtstart(after).replace(tzinfo=UTC)
    parsed = parse_rrule(rrule)
    rule = dateutil_rrule.rrulestr(format_rrule(parsed), dtstart=near_start(parsed, start, moment))
    result = []
    for current in rule.xafter(moment, count=count, inc=False):
        result.append(current)
    return result


def near_start(rule, start, moment):
    """A DTSTART equivalent to ``start`` for ``rule`` but close to ``moment`` (dateutil iterates from DTSTART).

    Whole weeks keep the weekday, the time of day and the phase of minute/hour intervals that divide the day;
    monthly and yearly rules are few per year and keep their DTSTART.
    """
    if rule['freq'] in ('MONTHLY', 'YEARLY') or moment <= start:
        return start
    weeks = (moment - start).days // 7 - 1
    return start + datetime.timedelta(weeks=max(weeks, 0))
