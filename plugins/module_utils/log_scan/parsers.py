# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parsers for ``log_scan``: timestamps, OpenSSH/PAM messages, combined access logs, JSON lines, journal entries.

Everything works on ``bytes`` (logs are not guaranteed to be valid UTF-8) and is
built for speed: timestamps are converted once per distinct minute (a cache keyed
by the minute prefix of the line), authentication lines are only parsed after a
cheap search (``LineFinder``) found one of a few needles in them.
Plain Python, importable without Ansible.
"""

import calendar
import datetime
import json
import math
import operator
import re
import sys
import time
from itertools import repeat

MONTHS = dict((name, index + 1) for index, name in enumerate(
    (b'Jan', b'Feb', b'Mar', b'Apr', b'May', b'Jun', b'Jul', b'Aug', b'Sep', b'Oct', b'Nov', b'Dec')))

# ------------------------------------------------------------------ timestamps


class MinuteClock(object):
    """Turns log timestamps into epoch minutes, caching one conversion per distinct minute.

    ``now`` (epoch seconds) anchors the year of RFC 3164 timestamps, which carry none:
    the latest year that does not put the line more than a day into the future
    (a December line read in January belongs to last year; a 1 January line read
    on 31 December with a slightly slow clock belongs to next year).
    RFC 3164 and other zone-less stamps are local time unless ``utc`` is set.
    """

    def __init__(self, now, utc=False):
        self.now = now
        self.utc = utc
        self._cache = {}
        self._hours = {}

    def _local_epoch(self, year, month, day, hour, minute):
        if self.utc:
            return calendar.timegm((year, month, day, hour, minute, 0, 0, 0, 0))
        return time.mktime((year, month, day, hour, minute, 0, 0, 0, -1))

    def rfc3164(self, line):
        """``Nov 24 05:14:45 host ...`` -> epoch minute, or None."""
        key = line[:12]
        try:
            return self._cache[key]
        except KeyError:
            pass
        result = None
        if len(key) == 12 and key[9:10] == b':':
            # the year and the zone offset are found once per hour (offsets change on the hour)
            hour_key = key[:9]
            start = self._hours.get(hour_key, -1)
            if start == -1:
                start = self._hours[hour_key] = self._hour_start(hour_key)
            try:
                minute = int(key[10:12])
            except ValueError:
                minute = None
            if start is not None and minute is not None and 0 <= minute < 60:
                result = start + minute
        self._cache[key] = result
        return result

    def _hour_start(self, key):
        """``Nov 24 05`` -> the epoch minute that hour starts, or None."""
        month = MONTHS.get(key[:3])
        if month is None or key[3:4] != b' ':
            return None
        try:
            day, hour = int(key[4:6]), int(key[7:9])
        except ValueError:
            return None
        return self._infer_year(month, day, hour, 0)

    def _infer_year(self, month, day, hour, minute):
        year = time.gmtime(self.now).tm_year
        best = None
        for candidate in (year - 1, year, year + 1):
            try:
                datetime.date(candidate, month, day)
                if not (0 <= hour < 24 and 0 <= minute < 60):
                    return None
                epoch = self._local_epoch(candidate, month, day, hour, minute)
            except (ValueError, OverflowError):
                continue
            if epoch <= self.now + 86400:
                best = epoch
        return None if best is None else int(best) // 60

    def rfc3339(self, token):
        """``2026-11-24T05:14:45.123456+00:00`` (or ``Z``, or no zone = local) -> epoch minute, or None."""
        zone = b''
        if len(token) > 19:
            tail = token[19:]
            if tail[-1:] in (b'Z', b'z'):
                zone = b'Z'
            else:
                for sign in (b'+', b'-'):
                    pos = tail.rfind(sign)
                    if pos >= 0:
                        zone = tail[pos:]
                        break
        return self.rfc3339_minute(token[:16], zone)

    def rfc3339_minute(self, prefix, zone):
        """``2026-11-24T05:14`` and its zone (``Z``, ``+01:00``, ``-0500`` or empty = local) -> epoch minute, or None."""
        key = prefix + zone
        try:
            return self._cache[key]
        except KeyError:
            pass
        result = None
        try:
            if len(prefix) != 16 or prefix[4:5] != b'-' or prefix[10:11] not in (b'T', b't', b' ') or \
                    prefix[13:14] != b':':
                raise ValueError
            year, month, day = int(prefix[0:4]), int(prefix[5:7]), int(prefix[8:10])
            hour, minute = int(prefix[11:13]), int(prefix[14:16])
            if zone in (b'Z', b'z', b''):
                offset = 0
            else:
                digits = zone[1:].replace(b':', b'')
                offset = (int(digits[0:2]) * 60 + int(digits[2:4] or b'0')) * (1 if zone[:1] == b'+' else -1)
            if zone == b'':
                epoch = self._local_epoch(year, month, day, hour, minute)
            else:
                datetime.datetime(year, month, day, hour, minute)
                epoch = calendar.timegm((year, month, day, hour, minute, 0, 0, 0, 0)) - offset * 60
            result = int(epoch) // 60
        except (ValueError, IndexError, OverflowError):
            result = None
        self._cache[key] = result
        return result

    def key_minute(self, key):
        """The epoch minute of a row's stamp key (see ``row_keys``), or None."""
        if key[:1].isalpha():
            return self.rfc3164(key)
        return self.rfc3339_minute(key[:16], key[16:])

    def clf(self, stamp):
        """Common log format ``24/Nov/2026:05:14:45 +0000`` -> epoch minute, or None."""
        key = stamp[:17] + stamp[20:]
        try:
            return self._cache[key]
        except KeyError:
            pass
        result = None
        try:
            day, month, year = int(stamp[0:2]), MONTHS[stamp[3:6]], int(stamp[7:11])
            hour, minute = int(stamp[12:14]), int(stamp[15:17])
            zone = stamp[21:26]
            offset = 0
            if zone:
                offset = (int(zone[1:3]) * 60 + int(zone[3:5])) * (-1 if zone[:1] == b'-' else 1)
            datetime.datetime(year, month, day, hour, minute)
            result = (calendar.timegm((year, month, day, hour, minute, 0, 0, 0, 0)) - offset * 60) // 60
        except (ValueError, KeyError, IndexError, OverflowError):
            result = None
        self._cache[key] = result
        return result

    def any_value(self, value):
        """A JSON field: epoch seconds/milliseconds (number) or an ISO 8601 / RFC 3339 string."""
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, (int, float)):
            try:
                seconds = float(value)
            except OverflowError:       # an integer of hundreds of digits
                return None
            if not math.isfinite(seconds):
                return None
            if seconds > 1e14:      # microseconds
                seconds /= 1e6
            elif seconds > 1e11:    # milliseconds
                seconds /= 1e3
            return int(seconds) // 60
        if isinstance(value, str):
            value = value.encode('utf-8', 'replace')
        if isinstance(value, bytes):
            value = value.strip()
            if value[:1].isdigit() and len(value) >= 16 and value[4:5] == b'-':
                return self.rfc3339(value)
            try:
                return self.any_value(float(value))
            except ValueError:
                return None
        return None


# ------------------------------------------------------------------ OpenSSH / PAM
# Needles for the prefilter of syslog files: every failure line holds at least one of them, and every
# failed connection logs at least one line holding ``Failed `` or ``auth``: ``auth`` covers pam
# "authentication failure", "maximum authentication attempts", "authenticating user", "[preauth]"
# (closed/reset/disconnected/unable to negotiate before authentication) and "Timeout before authentication".
# An "Invalid user" line is always followed, for the same connection, by "Failed ... for invalid user ..."
# or "... invalid user ... [preauth]", which carry the same user and address, so it is searched for only
# with ``thorough`` (the lower-case "invalid user" forms already hold one of the other needles).
AUTH_NEEDLES = (b'Failed ', b'auth')
AUTH_NEEDLES_THOROUGH = (b'Failed ', b'auth', b'Invalid user ')

FAILED = 'failed_password'        # "Failed <method> for [invalid user] U from IP port N ssh2"
KIND_NAMES = {
    b'password': 'failed_password',
    b'publickey': 'failed_publickey',
    b'keyboard-interactive/pam': 'failed_keyboard_interactive',
    b'none': 'failed_none',
    b'hostbased': 'failed_hostbased',
}
INVALID_USER = 'invalid_user'
PAM_FAILURE = 'pam_failure'
PAM_MORE = 'pam_more_failures'
MAX_ATTEMPTS = 'max_auth_attempts'
CLOSED_USER = 'closed_preauth_user'
PREAUTH = 'preauth_disconnect'
TIMEOUT = 'preauth_timeout'

# Kinds that are a failed login attempt by themselves (one per line).
ATTEMPT_KINDS = frozenset(['failed_password', 'failed_publickey', 'failed_keyboard_interactive', 'failed_none',
                           'failed_hostbased', 'failed_other', 'app_login_failed'])
# Kinds that mark a connection as a failed attempt when it has no "Failed ..." line (counted once per connection).
CONNECTION_KINDS = frozenset([INVALID_USER, MAX_ATTEMPTS, CLOSED_USER])
# Probes: pre-authentication disconnects, timeouts (port scanners, banner grabbers).
PROBE_KINDS = frozenset([PREAUTH, TIMEOUT])
# Lines that end a connection: after them no "Failed" line of that connection can follow.
CLOSING_KINDS = frozenset([MAX_ATTEMPTS, CLOSED_USER, PREAUTH, TIMEOUT])

# One pattern for every failure form; the index of the last group that matched tells the form.
_MESSAGE = (
    br'(?:Failed (\S+) for (invalid user )?(.*) from (\S+) port \d+'                             # 1-4
    br'|Invalid user (.*?) from (\S+?)(?: port \d+)?\s*$'                                       # 5-6
    br'|pam_\w+\(([^:)\s]+):auth\): authentication failure;(.*)'                               # 7-8
    br'|PAM \d+ more authentication failures?;(.*)'                                             # 9
    br'|maximum authentication attempts exceeded for (invalid user )?(.*) from (\S+) port'      # 10-12
    br'|(?:Connection closed by|Disconnected from) (?:authenticating|invalid) user (.*) (\S+) port \d+'  # 13-14
    br'|(?:Received disconnect from|Connection closed by|Connection reset by|Disconnected from|Unable to negotiate with)'
    br' (\S+?):? port \d+.*\[preauth\]'                                                          # 15
    br'|Timeout before authentication for (?:connection from )?(\S+)'                           # 16
    br')')
MESSAGE_RX = re.compile(br'(?:error: )?' + _MESSAGE)
_PAM_FIELD_RX = re.compile(br'\b(rhost|user)=(\S*)')
# Rows: many lines at once. The candidate lines are joined into one text, each line preceded by a newline
# (and, in the output of ``grep -b``, by its byte offset and a colon), and one ``findall`` gives exactly one row
# per line: the groups of the form, or (last alternative) a row of empty groups for a line in no form (it is then
# looked at on its own). No group can match a newline, so a row never spans two lines; the newline is a literal
# prefix, so the search jumps from line to line in C.
# Groups 1-3: the stamp (RFC 3164 second, or RFC 3339 second and zone; ``row_keys`` cuts them to the minute,
# ``row_seconds`` to the second), 4: host.
# Possessive quantifiers (Python 3.11+) where they cannot change a match (the repeated class and what follows
# are disjoint): a line in another form then fails at once instead of backtracking through its prefix.
_P = b'+' if sys.version_info >= (3, 11) else b''
_ROW_STAMP = (br'(?:([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)'
              br'|(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d)(?:\.\d+)?%(p)s([Zz]|[+-]\d\d:?\d\d)?%(p)s)[ \t]+%(p)s(\S+%(p)s)[ \t]+%(p)s'
              % {b'p': _P})
# The common form alone: 5 pid, 6 method, 7 user, 8 ip. The user is greedy: the address is the last
# "from <ip> port <n>" of the line, so a user name holding such text cannot pick the address.
_FAILED_ROW = (br'[^\s\[:]+%(p)s(?:\[(\d+)\])?%(p)s:[ \t]*%(p)s(?:error: )?%(p)s'
               br'Failed (\S+) for (?:invalid user )?(.*) from (\S+) port \d+' % {b'p': _P})
# PAM's fields: the first rhost= (PAM writes it before the user's name, which may hold anything) and the user=
# after it ("ruser=" is another field).
_PAM_ROW_FIELDS = br'(?:[^\n]*? rhost=(\S*))?(?:[^\n]*? user=(\S*))?'
# Every form: 5 program, 6 pid, then
_OTHER_ROW = (
    br'([^\s\[:]+%(p)s)(?:\[(\d+)\])?%(p)s:[ \t]*%(p)s(?:error: )?%(p)s' % {b'p': _P} +
    br'(?:Failed (\S+) for (?:invalid user )?(.*) from (\S+) port \d+'                           # 7-9 method user ip
    br'|Invalid user (.*?) from (\S+?)(?: port \d+)?[ \t]*(?=\n|\Z)'                            # 10-11 user ip
    br'|pam_\w+\(([^:)\s]+):auth\): authentication failure;' + _PAM_ROW_FIELDS +                 # 12-14 service rhost user
    br'|PAM (\d+) more authentication failures?;' + _PAM_ROW_FIELDS +                            # 15-17 count rhost user
    br'|maximum authentication attempts exceeded for (?:invalid user )?(.*) from (\S+) port'    # 18-19 user ip
    br'|(?:Connection closed by|Disconnected from) (?:authenticating|invalid) user (.*) (\S+) port \d+'  # 20-21
    br'|(?:Received disconnect from|Connection closed by|Connection reset by|Disconnected from|Unable to negotiate with)'
    br' (\S+?):? port \d+.*\[preauth\]'                                                          # 22 ip
    br'|Timeout before authentication for (?:connection from )?(\S+)'                           # 23 ip
    br')')


def _rows_rx(body, offsets, other=br'\n'):
    return re.compile(br'\n' + (br'\d+:' if offsets else b'') + _ROW_STAMP + body + br'|' + other)


# The rows of the common form end with a group that holds, for a line in no form, the whole line (9).
FAILED_ROWS_RX = _rows_rx(_FAILED_ROW, False, br'\n([^\n]*)')
FAILED_ROWS_OFFSET_RX = _rows_rx(_FAILED_ROW, True, br'\n([^\n]*)')
# The same for RFC 3164 stamps only (the traditional format): two groups fewer on every row. A line with an
# RFC 3339 stamp is then a line in no form, parsed as an other row (which knows both).
_STAMP_3164 = br'([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)[ \t]+%(p)s(\S+%(p)s)[ \t]+%(p)s' % {b'p': _P}
FAILED_ROWS_3164_RX = re.compile(br'\n' + _STAMP_3164 + _FAILED_ROW + br'|\n([^\n]*)')
FAILED_ROWS_3164_OFFSET_RX = re.compile(br'\n\d+:' + _STAMP_3164 + _FAILED_ROW + br'|\n([^\n]*)')


class RowLayout(object):
    """Where a kind of row keeps its fields (0-based columns of ``findall``)."""

    def __init__(self, stamp, host, pid, method, user, ip, line=None):
        self.stamp, self.host, self.pid, self.method, self.user, self.ip, self.line = \
            stamp, host, pid, method, user, ip, line


FAILED_LAYOUT = RowLayout((0, 1, 2), 3, 4, 5, 6, 7, 8)
FAILED_3164_LAYOUT = RowLayout((0,), 1, 2, 3, 4, 5, 6)


def failed_rows_pattern(text, offsets):
    """The pattern and layout of the common form for ``text`` (lines joined, each after a newline): the lean one when
    its first line has an RFC 3164 stamp."""
    first = 1
    if offsets:
        first = text.find(b':', 1, 32) + 1
    if text[first:first + 1].isalpha():
        return (FAILED_ROWS_3164_OFFSET_RX if offsets else FAILED_ROWS_3164_RX), FAILED_3164_LAYOUT
    return (FAILED_ROWS_OFFSET_RX if offsets else FAILED_ROWS_RX), FAILED_LAYOUT


OTHER_ROWS_RX = _rows_rx(_OTHER_ROW, False)
OTHER_ROWS_OFFSET_RX = _rows_rx(_OTHER_ROW, True)


_MINUTE_3164 = operator.itemgetter(slice(0, 12))       # b'Nov 24 05:14:45' -> b'Nov 24 05:14'
_SECOND_3164 = operator.itemgetter(slice(13, 15))
_MINUTE_3339 = operator.itemgetter(slice(0, 16))       # b'2026-11-24T05:14:45' -> b'2026-11-24T05:14'
_SECOND_3339 = operator.itemgetter(slice(17, 19))


def row_keys(stamps, rfc3339=None, zones=None):
    """One hashable stamp key per row (the RFC 3164 minute, or the RFC 3339 minute and zone; lines of one minute share
    it) from the columns 1-3 of rows, or column 1 alone for RFC 3164 rows."""
    if rfc3339 is not None and any(rfc3339):
        return list(map(bytes.__add__, map(bytes.__add__, map(_MINUTE_3164, stamps), map(_MINUTE_3339, rfc3339)),
                        zones))
    return list(map(_MINUTE_3164, stamps))


def row_seconds(stamps, rfc3339=None, zones=None):
    """The second of the minute of each row (bytes ``b'00'``-``b'59'``, ``b''`` without a stamp), same columns as
    ``row_keys``."""
    if rfc3339 is not None and any(rfc3339):
        return list(map(bytes.__add__, map(_SECOND_3164, stamps), map(_SECOND_3339, rfc3339)))
    return list(map(_SECOND_3164, stamps))


# The forms of an ``OTHER_ROWS_RX`` row (0-based columns): the column that is never empty when the row is in that
# form (for "Failed" the method, for PAM the service or the count), its kind (for "Failed", the method's), the
# address column and the user column (0: none).
OTHER_ROW_FORMS = (
    (6, 'failed_other', 8, 7),
    (10, INVALID_USER, 10, 9),
    (11, PAM_FAILURE, 12, 13),
    (14, PAM_MORE, 15, 16),
    (18, MAX_ATTEMPTS, 18, 17),
    (20, CLOSED_USER, 20, 19),
    (21, PREAUTH, 21, 0),
    (22, TIMEOUT, 22, 0),
)


def pam_fields(text):
    fields = {}
    for name, value in _PAM_FIELD_RX.findall(text):
        fields.setdefault(name, value)      # the first one: PAM writes rhost= before the user's name
    return fields


FAILED_NEEDLE = b'Failed '
# syslog's compression of identical lines: ``<stamp> <host> <prog[pid]>: message repeated N times: [ <message>]``
# (rsyslog's $RepeatedMsgReduction, syslog-ng): the prefix, N and the message.
REPEATED_RX = re.compile(br'(.*?: )(?:error: )?message repeated (\d+) times?: \[ ?(.*?) ?\][ \t]*$')

_FORMS = {
    # last group index -> (kind or None for "from group 1", ip group, user group)
    4: (None, 4, 3),
    6: (INVALID_USER, 6, 5),
    8: (PAM_FAILURE, None, None),
    9: (PAM_MORE, None, None),
    12: (MAX_ATTEMPTS, 12, 11),
    14: (CLOSED_USER, 14, 13),
    15: (PREAUTH, 15, None),
    16: (TIMEOUT, 16, None),
}


def classify_auth(message):
    """Classify one OpenSSH/PAM message (the bytes after ``program[pid]: ``): the journal's messages, one at a time.

    Returns ``(kind, ip, user, service)`` (bytes or None) or None when the
    message is not an authentication failure form.
    """
    match = MESSAGE_RX.match(message)
    if match is None:
        return None
    last = match.lastindex
    form = _FORMS.get(last)
    if form is None:
        return None
    kind, ip_group, user_group = form
    group = match.group
    if kind is None:
        kind = KIND_NAMES.get(group(1), 'failed_other')
    if kind in (PAM_FAILURE, PAM_MORE):
        fields = pam_fields(group(last))
        service = group(7) if kind == PAM_FAILURE else None
        return kind, fields.get(b'rhost') or None, fields.get(b'user') or None, service
    return kind, group(ip_group), group(user_group) if user_group else None, None


_NEWLINE = b'\n'
_match_start = operator.methodcaller('start')


class LineFinder(object):
    """Finds the lines of a buffer holding any of a few needles, at close to memory speed.

    A needle is looked for with ``memchr`` on its first byte (``bytes.find`` of one byte), each
    candidate checked with ``startswith``: many times faster than any multi-byte search Python has,
    as long as that byte is rare. When it is not (``auth``: ``a`` is everywhere; ``Failed `` in
    February logs), the misses exceed a budget and that needle switches, for the rest of the scan,
    to ``re`` whose literal-prefix search runs in C. Line boundaries are then found and the lines
    cut with ``map`` over C methods: no Python bytecode runs per hit.
    """

    def __init__(self, needles):
        self.needles = tuple(needles)
        self.patterns = tuple(re.compile(re.escape(needle)) for needle in self.needles)
        self.memchr = [True] * len(self.needles)

    def positions(self, buf, start, end, index):
        """Offsets in ``buf[start:end]`` where needle ``index`` starts (several per line possible)."""
        if self.memchr[index]:
            found = _memchr_positions(buf, start, end, self.needles[index])
            if found is not None:
                return found
            self.memchr[index] = False
        return list(map(_match_start, self.patterns[index].finditer(buf, start, end)))

    def lines(self, buf, start, end, index):
        """``{line start: line end}`` (end = offset of the newline, or ``end``) of the lines holding needle ``index``."""
        return line_spans(buf, start, end, self.positions(buf, start, end, index))


def _memchr_positions(buf, start, end, needle):
    """Offsets of ``needle`` via ``find`` of its first byte; None once the misses say ``re`` would be faster.

    One miss costs about as much as ``re`` scanning 1 KiB, hence the budget of one per KiB."""
    budget = 64 + ((end - start) >> 10)
    first = needle[:1]
    step = len(needle)
    find = buf.find
    startswith = buf.startswith
    found = []
    pos = find(first, start, end)
    while pos >= 0:
        if startswith(needle, pos, end):
            found.append(pos)
            pos = find(first, pos + step, end)
            continue
        budget -= 1
        if budget < 0:
            return None
        pos = find(first, pos + 1, end)
    return found


def line_spans(buf, start, end, positions):
    """``{line start: line end}`` of the lines of ``buf[start:end]`` holding the given offsets, in order, once each."""
    if not positions:
        return {}
    if start == 0 or buf[start - 1:start] == _NEWLINE:
        # the newline before each line, found with rfind from just before the block (or -1 at offset 0)
        heads = map((1).__add__, map(buf.rfind, repeat(_NEWLINE), repeat(start - 1 if start else 0), positions))
    else:
        heads = [cut + 1 if cut >= 0 else start for cut in map(buf.rfind, repeat(_NEWLINE), repeat(start), positions)]
    tails = list(map(buf.find, repeat(_NEWLINE), positions, repeat(end)))
    if -1 in tails:
        tails = [end if tail < 0 else tail for tail in tails]
    return dict(zip(heads, tails))


def cut_lines(buf, spans):
    """The lines (bytes) of ``{start: end}`` spans, cut in C."""
    return list(map(bytes, map(buf.__getitem__, map(slice, spans.keys(), spans.values()))))


# ------------------------------------------------------------------ access logs
# nginx "combined" (and Apache's): $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
# "$http_referer" "$http_user_agent", optionally followed by more fields such as $request_time
# (nginx: seconds with millisecond resolution, e.g. 0.123; written bare or as rt=0.123).
_ACCESS_RX = re.compile(
    br'(?m)^(\S+) \S+ \S+ \[([^\]\n]{20,32})\] "((?:[^"\\\n]|\\.)*)" (\d{3}) \S+'
    br'(?: "(?:[^"\\\n]|\\.)*" "(?:[^"\\\n]|\\.)*")?([^\n]*)$')
_TRAILING_TIME_RX = re.compile(br'(?:^|\s)(?:rt=|request_time=|urt=)?"?(\d+(?:\.\d+)?)"?(?=\s|$)')


def parse_access(buf, start, end):
    """Yield ``(ip, clf_stamp, request, status, tail)`` for each combined-format line; count the rest."""
    return _ACCESS_RX.finditer(buf, start, end)


def request_time(tail, field_index, scale):
    """The request time (seconds) from the fields after the user agent, or None."""
    if not tail:
        return None
    values = _TRAILING_TIME_RX.findall(tail)
    if len(values) <= field_index:
        return None
    try:
        seconds = float(values[field_index]) * scale
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None      # 400 digits are infinity as a float


# ------------------------------------------------------------------ JSON lines and journal

def json_lines(buf, start, end):
    """Decode each JSON object line; yields dicts, or None for a line that is not a JSON object."""
    pos = start
    while pos < end:
        nl = buf.find(b'\n', pos, end)
        if nl < 0:
            nl = end
        line = buf[pos:nl].strip()
        pos = nl + 1
        if not line:
            continue
        try:
            record = json.loads(line.decode('utf-8'))
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: a line of a hundred thousand ``[`` nests deeper than the decoder can follow
            yield None
            continue
        yield record if isinstance(record, dict) else None


def get_field(record, path):
    """``a.b.c`` dotted lookup in nested dicts; None when absent."""
    if not path:
        return None
    value = record
    for part in path.split('.'):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def journal_field(entry, name):
    """A journal JSON field as bytes: strings, arrays of byte values (non-UTF-8 data), or None."""
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode('utf-8', 'surrogateescape')
    if isinstance(value, list):
        if value and all(isinstance(item, int) for item in value):
            try:
                return bytes(bytearray(value))
            except ValueError:
                return None
        # a field set several times: the first value
        return journal_field({'v': value[0]}, 'v') if value else None
    return str(value).encode('utf-8')
