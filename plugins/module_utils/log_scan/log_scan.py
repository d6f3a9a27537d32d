# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incremental security scan of logs (``log_scan``): failed logins, suspicious IPs, HTTP error and rate figures.

Sources (``type``):

* ``auth``: OpenSSH/PAM syslog files (``/var/log/auth.log``, ``/var/log/secure``), RFC 3164 or RFC 3339 stamps;
* ``journal``: the systemd journal through ``journalctl -o json``;
* ``access``: nginx/Apache combined access logs, optionally with ``$request_time`` after the user agent;
* ``jsonl``: JSON-lines application logs with a field mapping.

Each run reads only what is new (cursors in ``log_sources``), adds the events to
per-minute buckets kept in the state file for ``history_minutes`` and judges the
last ``window_minutes`` against the collection's thresholds. The state file is
written only when not in check mode. Plain Python, importable without Ansible.
"""

import gc
import ipaddress
import json
import math
import os
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
import operator
from itertools import compress, filterfalse, islice, repeat
from operator import itemgetter

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_from_epoch
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.state_store import FileLock
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan import parsers as lp
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.option_checks import epoch
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.sources import (
    PREFILTER_MIN_BYTES,
    FileReader,
    SourceError,
    available_cpus,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    CRITICAL,
    OK,
    Report,
    Threshold,
    UNKNOWN,
    WARNING,
    evaluate,
    format_value,
    make_check,
)

STATE_VERSION = 1
SOURCE_TYPES = ('auth', 'journal', 'access', 'jsonl')
HIST_BASE = 0.001      # response-time histogram: bucket 0 holds <= 1 ms,
HIST_RATIO = 1.05      # then buckets 5 % wide (percentiles within 2.5 %)
_LOG_RATIO = math.log(HIST_RATIO)
USERS_PER_IP = 50
CONN_MEMORY_MINUTES = 10        # how long a connection with a "Failed" line is remembered between runs
DEFER_MINUTES = 2               # sshd LoginGraceTime (120 s): an "Invalid user" line may still get its "Failed" line
CONN_SLOT_MINUTES = 5           # connections are told apart by host, pid and time slot: a reused pid is another one
CONN_SPAN_SLOTS = 1             # lines of one connection lie within one slot (5-9 min; LoginGraceTime is 2 min)
PROBE_SPAN_MINUTES = 2          # the pre-auth lines of one probing connection lie within 2 minutes of each other
REPEAT_MAX = 100000             # "message repeated N times": at most this many events for one line
PEAK_IPS = 5                    # addresses named behind the peak minute
REQUEST_IPS_PER_MINUTE = 200
JOURNAL_IDENTIFIERS = ('sshd', 'sshd-session', 'sshd-auth', 'login', 'su', 'sudo')
DEFAULT_JSON_FIELDS = {'time': 'time', 'ip': 'ip', 'user': 'user', 'status': 'status', 'duration': 'duration',
                       'event': 'event'}


def time_bucket(seconds):
    if seconds <= HIST_BASE:
        return 0
    return int(math.log(seconds / HIST_BASE) / _LOG_RATIO) + 1


def bucket_value(index):
    if index <= 0:
        return HIST_BASE
    return HIST_BASE * HIST_RATIO ** (index - 0.5)


class Bucket(object):
    """The events of one minute, keys as text. Scalars are kept for the whole history; per-IP detail only inside
    the window. Which users an address tried is not kept per minute but once per scan (``Collector.seen``)."""

    __slots__ = ('a', 'k', 'fi', 'fs', 'fu', 'pb', 'rq', 'e5', 'rl', 'ri', 'h', 'sl', 'tm')

    def __init__(self):
        self.a = 0                      # failed login attempts
        self.k = defaultdict(int)       # lines per failure kind
        self.fi = defaultdict(int)      # attempts per source IP
        self.fs = Counter()             # attempts per (source IP, second of the minute: b'00'-b'59') where lines tell it
        self.fu = defaultdict(int)      # attempts per user
        self.pb = defaultdict(int)      # pre-auth probes per IP
        self.rq = 0                     # HTTP requests
        self.e5 = 0                     # HTTP 5xx
        self.rl = defaultdict(int)      # HTTP 429 per IP
        self.ri = defaultdict(int)      # requests per IP
        self.h = defaultdict(int)       # response-time histogram
        self.sl = 0                     # requests slower than the response-time threshold
        self.tm = 0                     # requests with a response time

    def merge(self, data):
        """Add a bucket loaded from the state file (or exported by a worker)."""
        self.a += data.get('a', 0)
        self.rq += data.get('rq', 0)
        self.e5 += data.get('e5', 0)
        self.sl += data.get('sl', 0)
        self.tm += data.get('tm', 0)
        for key in ('k', 'fi', 'fu', 'pb', 'rl', 'ri'):
            counts = data.get(key)
            if counts:
                target = getattr(self, key)
                if target:
                    for name, count in counts.items():
                        target[name] += count
                else:
                    target.update(counts)
        for index, count in (data.get('h') or {}).items():
            self.h[int(index)] += count
        seconds = data.get('fs')
        if seconds:
            fs = self.fs
            for ip, counts in seconds.items():
                for second, count in (counts.items() if isinstance(counts, dict) else ()):
                    if len(second) == 2 and second.isascii() and second.isdigit() and isinstance(count, int):  # else damaged
                        fs[(ip, second.encode('ascii'))] += count

    def as_dict(self, detail, failures_by_ip=False, seconds=None):
        """JSON-able form; per-IP detail only when ``detail`` (with ``failures_by_ip`` alone: the failures per IP);
        the failures per IP and second (``fs``) of all addresses when ``seconds`` is True, of those in it when it is
        a set."""
        result = dict(a=self.a, rq=self.rq, e5=self.e5, sl=self.sl, tm=self.tm, k=dict(self.k))
        if failures_by_ip and not detail:
            result['fi'] = dict(self.fi)
        if seconds and self.fs:
            by_ip = defaultdict(dict)
            for (ip, second), count in self.fs.items():
                if ip and (seconds is True or ip in seconds):
                    by_ip[ip][second.decode('ascii')] = count
            result['fs'] = dict(by_ip)
        if detail:
            result.update(fi=dict(self.fi), fu=dict(self.fu), pb=dict(self.pb), rl=dict(self.rl),
                          h=dict((str(index), count) for index, count in self.h.items()))
            requests = dict(self.ri)
            if len(requests) > REQUEST_IPS_PER_MINUTE:
                requests = dict(sorted(requests.items(), key=lambda item: -item[1])[:REQUEST_IPS_PER_MINUTE])
            result['ri'] = requests
        return dict((key, value) for key, value in result.items() if value)


def _scalars(data, failures_by_ip=False, seconds=False):
    """A stored bucket without its per-IP detail (outside the window only the totals are kept, and the failures per
    IP where a per-address rule looks further back than the window; with ``seconds``, the failures per IP and second
    of the minute before the window, where a 60-second span ending in the window starts)."""
    keys = ('a', 'rq', 'e5', 'sl', 'tm', 'k', 'fi') if failures_by_ip else ('a', 'rq', 'e5', 'sl', 'tm', 'k')
    if seconds:
        keys += ('fs',)
    return dict((key, value) for key, value in data.items() if key in keys)


def _event_key(event):
    minute, ip, user = event[:3]
    return (minute, ip or '', user or '')


def _conn_key(conn):
    """``host pid`` (text) of a connection ``(host, pid)`` (bytes): how the state file remembers it between runs."""
    host, pid = conn
    return '%s %s' % (_text(host) or '', _text(pid) or '')


def _conn_from_key(key):
    """The connection ``(host, pid)`` (bytes) of a ``_conn_key``."""
    host, dummy, pid = key.rpartition(' ')
    return host.encode('utf-8'), pid.encode('utf-8')


class Latest(dict):
    """``{key: minute}`` that keeps the latest minute of each key. Lines come in time order, so a batch is usually
    no older than anything stored: then it is added in C."""

    top = None

    def add(self, pairs, low=None, high=None):
        """Merge ``{key: minute}``; ``low``/``high``: its smallest and largest minute when the caller knows them."""
        if not pairs:
            return
        if low is None:
            low = min(pairs.values())
        if self.top is None or low >= self.top or not self:
            self.update(pairs)
        else:
            get = self.get
            for key, minute in pairs.items():
                if get(key, minute) <= minute:
                    self[key] = minute
        if high is None:
            high = max(pairs.values())
        if self.top is None or high > self.top:
            self.top = high


_TEXT = {}             # bytes -> text: the same addresses and names recur in every minute of a scan
TEXT_CACHE_MAX = 1 << 20


def _add_pids(target, hosts, pids):
    """Add the connections ``zip(hosts, pids)`` to ``{host: set of pids}`` (empty pids skipped)."""
    first = hosts[0] if hosts else None
    if hosts.count(first) == len(hosts):
        target.setdefault(first, set()).update(pids)
        target[first].discard(b'')
    else:
        for host, pid in zip(hosts, pids):
            if pid:
                target.setdefault(host, set()).add(pid)


def _far(minute, other):
    """True when events at ``minute`` and ``other`` cannot belong to one connection."""
    return abs(minute // CONN_SLOT_MINUTES - other // CONN_SLOT_MINUTES) > CONN_SPAN_SLOTS


def _had_attempt(attempted, conn, minute):
    """True when the connection ``conn`` around ``minute`` had a "Failed" line (``attempted``: (host, pid, slot));
    CONN_SPAN_SLOTS is 1."""
    host, pid = conn
    slot = minute // CONN_SLOT_MINUTES
    return (host, pid, slot) in attempted or (host, pid, slot - 1) in attempted or (host, pid, slot + 1) in attempted


def _expand_repeats(lines):
    """syslog's compression: ``message repeated N times: [ MSG ]`` becomes N lines ``MSG`` with the same prefix."""
    result = []
    for line in lines:
        if b'message repeated ' in line:
            match = lp.REPEATED_RX.match(line)
            if match is not None:
                prefix, count, message = match.groups()
                result.extend(repeat(prefix + message, min(int(count), REPEAT_MAX)))
                continue
        result.append(line)
    return result


def _journal_event(entry):
    """``(minute, kind, ip, user, service, conn)`` of a journal entry (``Collector.auth_events``), or None."""
    message = lp.journal_field(entry, 'MESSAGE')
    if message is None:
        return None
    event = lp.classify_auth(message)
    if event is None:
        return None
    try:
        minute = int(entry.get('__REALTIME_TIMESTAMP')) // 60000000
    except (TypeError, ValueError, OverflowError):
        minute = None
    kind, ip, user, service = event
    pid = entry.get('_PID')
    conn = (_bytes(entry.get('_HOSTNAME')), _bytes(pid)) if pid else None
    return minute, kind, ip, user, service, conn


def _role(kind, service=None):
    """How an event of ``kind`` counts (see ``Collector._count``)."""
    if kind in lp.ATTEMPT_KINDS:
        return 'attempt'
    if kind == lp.PAM_FAILURE:
        # sshd logs its own "Failed password" line for the same attempt; other services (su, login) do not
        return 'note' if _bytes(service).startswith(b'sshd') else 'attempt'
    if kind in lp.CONNECTION_KINDS:
        return 'connection'
    if kind in lp.PROBE_KINDS:
        return 'probe'
    return 'note'


def _bytes(value):
    if value is None:
        return b''
    return value if value.__class__ is bytes else str(value).encode('utf-8', 'replace')


def _same(value):
    return value


def _pick(keep, *columns):
    """The rows of ``columns`` (parallel sequences) where ``keep`` is true, as lists."""
    return [list(compress(column, keep)) for column in columns]


def _runs(keys):
    """``[(first, last)]`` slices of equal consecutive ``keys``, or None when there are too many (not in time order)."""
    total = len(keys)
    changes = list(compress(range(1, total), map(operator.ne, islice(keys, 1, None), keys)))
    if len(changes) * 8 >= total and total > 8:
        return None
    bounds = [0] + changes + [total]
    return list(zip(bounds, islice(bounds, 1, None)))


def _add_attempts(bucket, count, by_ip, by_user):
    bucket.a += count
    by_ip.pop('', None)
    _add_counts(bucket.fi, by_ip)
    by_user.pop('', None)
    _add_counts(bucket.fu, by_user)


def _add_counts(target, counts):
    """Add the counter ``counts`` to ``target`` (in C when ``target`` is still empty)."""
    if target:
        for key, count in counts.items():
            target[key] += count
    else:
        target.update(counts)


def _add_latest(target, keys, minutes):
    """Add to ``target`` (a ``Latest``) the latest minute of each of ``keys`` (``minutes``: parallel, not empty).
    Lines are usually in time order: then one ``dict`` in C does it."""
    if all(map(operator.le, minutes, islice(minutes, 1, None))):
        target.add(dict(zip(keys, minutes)), minutes[0], minutes[-1])
    else:
        target.add(_latest_pairs(zip(keys, minutes)))


def _latest_pairs(pairs):
    result = {}
    get = result.get
    for key, minute in pairs:
        if get(key, minute) <= minute:
            result[key] = minute
    return result


def _text(value):
    """Text of a bytes value (decoded once per distinct value); anything else unchanged."""
    if value.__class__ is bytes:
        text = _TEXT.get(value)
        if text is None:
            if len(_TEXT) >= TEXT_CACHE_MAX:
                _TEXT.clear()
            text = _TEXT[value] = value.decode('utf-8', 'replace')
        return text
    return value


def _texts(keys):
    """``_text`` of each of ``keys`` (a sequence of bytes or text), through a C-level map; new values decoded once."""
    if len(_TEXT) >= TEXT_CACHE_MAX:
        _TEXT.clear()
    texts = list(map(_TEXT.get, keys))
    if None in texts:
        for key in set(compress(keys, map(operator.not_, texts))):
            _TEXT[key] = key.decode('utf-8', 'replace') if key.__class__ is bytes else key
        texts = list(map(_TEXT.get, keys))
    return texts


class SourceStats(object):
    def __init__(self, source):
        self.source = source
        self.events = 0
        self.untimed = 0
        self.unparsed = 0
        self.outside_history = 0
        self.parsed = 0
        self.unreadable = 0             # lines (or, for auth files, blocks of lines) whose parsing raised
        self.unreadable_reason = None   # the first such error

    def skip(self, exc, lines=1):
        """A line (or block) whose parsing raised ``exc``: skipped and counted, the scan goes on."""
        self.unreadable += lines
        if self.unreadable_reason is None:
            self.unreadable_reason = '%s: %s' % (type(exc).__name__, str(exc)[:200])


class Collector(object):
    """Adds parsed events to per-minute buckets (this run only)."""

    def __init__(self, clock, first_minute, last_minute, slow_after):
        self.clock = clock
        self.first_minute = first_minute
        self.last_minute = last_minute
        self.slow_after = slow_after
        self.buckets = {}
        self.seen = Latest()            # (ip, user) -> the latest minute that address tried that user
        self.attempted = set()          # (host, pid, slot) of the connections with a "Failed" line (this run)
        self.recent_attempts = Latest()     # (host, pid) -> minute, for those of the last CONN_MEMORY_MINUTES
        self.recent_minute = None       # where "the last CONN_MEMORY_MINUTES" start (set by the scanner)
        self.closed = {}                # host -> pids of the connections that ended (this run)
        self.pending = {}
        self.reused = {}                # conn -> events of other connections with the same pid (pid reuse)
        self.probed = {}                # (host, pid) -> minute of the last pre-auth line counted (this run)
        self.seconds_from = None        # the failures per address and second are counted from this minute on
        self.stats = None
        self._finders = {}

    def bucket(self, minute):
        try:
            return self.buckets[minute]
        except KeyError:
            bucket = self.buckets[minute] = Bucket()
            return bucket

    def _in_range(self, minute):
        if minute is None:
            self.stats.untimed += 1
            return False
        if minute < self.first_minute or minute > self.last_minute:
            self.stats.outside_history += 1
            return False
        return True

    def forget_connections(self):
        self.pending = {}
        self.reused = {}
        self.probed = {}
        self.attempted = set()
        self.recent_attempts = Latest()
        self.closed = {}

    # ---------------------------------------------------------- parallel workers (log_sources.FileReader)
    def reset(self):
        """In a worker process: start empty, so the worker exports only what it read itself."""
        self.buckets = {}
        self.seen = Latest()
        self.forget_connections()
        self.stats = SourceStats(self.stats.source if self.stats else None)

    def export(self):
        stats = self.stats
        return {
            'buckets': dict((minute, bucket.as_dict(True, seconds=True)) for minute, bucket in self.buckets.items()),
            'seen': dict(self.seen),
            'pending': self.pending,
            'reused': self.reused,
            'attempted': self.attempted,
            'recent_attempts': dict(self.recent_attempts),
            'closed': self.closed,
            'stats': (stats.events, stats.untimed, stats.unparsed, stats.outside_history, stats.parsed,
                      stats.unreadable, stats.unreadable_reason),
        }

    def merge(self, data):
        for minute, bucket in data['buckets'].items():
            self.bucket(minute).merge(bucket)
        self.seen.add(data['seen'])
        for conn, event in data['pending'].items():
            self._pend(conn, event)
        for conn, events in data['reused'].items():
            for event in events:
                self._pend(conn, event)
        self.attempted.update(data['attempted'])
        self.recent_attempts.add(data['recent_attempts'])
        for host, pids in data['closed'].items():
            self.closed.setdefault(host, set()).update(pids)
        stats = self.stats
        events, untimed, unparsed, outside, parsed, unreadable, reason = data['stats']
        stats.events += events
        stats.untimed += untimed
        stats.unparsed += unparsed
        stats.outside_history += outside
        stats.parsed += parsed
        stats.unreadable += unreadable
        stats.unreadable_reason = stats.unreadable_reason or reason

    # ---------------------------------------------------------- authentication events, parsed one at a time
    def auth_events(self, events):
        """Count events parsed one at a time (journal entries, JSON lines) by the rules of the rows: ``(minute, kind,
        ip, user, service, conn)``, ``ip``/``user``/``service`` bytes or text or None, ``conn`` ``(host, pid)`` bytes
        or None."""
        if not events:
            return
        usable, minutes = self._stamp_buckets([event[0] for event in events], _same)
        groups = {}
        for minute, kind, ip, user, service, conn in events:
            if minute not in usable:
                continue
            host, pid = conn if conn is not None else (b'', b'')
            group = groups.setdefault((kind, _role(kind, service)), ([], [], [], [], []))
            for column, value in zip(group, (minute, ip or b'', user or b'', host, pid)):
                column.append(value)
        for (kind, role), (keys, ips, users, hosts, pids) in groups.items():
            self._count(usable, minutes, keys, ips, users, hosts, pids, kind, role)

    def _pend(self, conn, event):
        """Remember a connection-level failure; the earliest event of a connection wins (order-independent). An
        event far in time from the one known for its ``(host, pid)`` belongs to another connection (sshd reused the
        pid): it is kept apart (``reused``), never merged with it."""
        known = self.pending.get(conn)
        if known is not None and _far(event[0], known[0]):
            others = self.reused.setdefault(conn, [])
            for index, other in enumerate(others):
                if not _far(event[0], other[0]):
                    if _event_key(event) < _event_key(other):
                        others[index] = event
                    return
            others.append(event)
            return
        if known is None or (event[0] <= known[0] and _event_key(event) < _event_key(known)):
            self.pending[conn] = event

    @staticmethod
    def _attempt(bucket, ip, user):
        bucket.a += 1
        if ip:
            bucket.fi[ip] += 1
        if user:
            bucket.fu[user] += 1

    def finish_connections(self, memory=None, now_minute=None):
        """A connection with "Invalid user"/"maximum attempts"/"closed by authenticating user" but no "Failed" line
        is one failed attempt (publickey-only servers log no "Failed password").

        A connection's lines can straddle two runs. ``memory`` (the source's entry in the state file, updated in
        place) carries them over: the connections that had a "Failed" line in the last CONN_MEMORY_MINUTES (so
        their "Connection closed"/"maximum attempts" line read in the next run is not one more attempt), and the
        "Invalid user" lines of the last DEFER_MINUTES (sshd's LoginGraceTime), which wait one run for the
        "Failed" line that may follow. Returns the number of connections left waiting.
        """
        attempted = self.attempted
        closed = self.closed
        remembered = {}
        waiting = {}
        keep = memory is not None and now_minute is not None
        if keep:
            oldest = now_minute - CONN_MEMORY_MINUTES
            for key, minute in (memory.get('attempted') or {}).items():
                if isinstance(minute, int) and minute >= oldest:
                    remembered[key] = minute
            for key, event in (memory.get('pending') or {}).items():
                if isinstance(event, list) and len(event) == 4 and isinstance(event[0], int):
                    waiting[_conn_from_key(key)] = tuple(event)
        remembered_conns = set(map(_conn_from_key, remembered))
        for conn, event in self.pending.items():
            known = waiting.get(conn)
            if known is None or _event_key(event) < _event_key(known):
                waiting[conn] = event
        reused = [(conn, event) for conn, events in self.reused.items() for event in events]
        still = {}
        for conn, (minute, ip, user, kind) in list(waiting.items()) + reused:
            if conn in remembered_conns or _had_attempt(attempted, conn, minute):
                continue
            if keep and kind == lp.INVALID_USER and conn[1] not in closed.get(conn[0], ()) and \
                    minute >= now_minute - DEFER_MINUTES and _conn_key(conn) not in still:
                still[_conn_key(conn)] = [minute, ip, user, kind]
                continue
            self._attempt(self.bucket(minute), ip, user)
        if keep:
            for conn, minute in self.recent_attempts.items():
                if minute >= oldest:
                    key = _conn_key(conn)
                    if remembered.get(key, minute) <= minute:
                        remembered[key] = minute
            memory['attempted'] = remembered
            memory['pending'] = still
        self.forget_connections()
        return len(still)

    # ---------------------------------------------------------- authentication events, in bulk
    def feed_auth_text(self, buf, start, end, needles=lp.AUTH_NEEDLES):
        """Parse the failure lines of ``buf[start:end]`` (syslog text); the other lines are never looked at.

        The lines holding a needle are found in C (``lp.LineFinder``), cut out and joined, and parsed as rows
        (``_failed_rows``, then ``_other_rows`` for the lines not in the common ``Failed`` form).
        """
        finder = self._finders.get(needles)
        if finder is None:
            finder = self._finders[needles] = lp.LineFinder(needles)
        failed = {}
        others = {}
        for index, needle in enumerate(needles):
            spans = finder.lines(buf, start, end, index)
            if needle == lp.FAILED_NEEDLE:
                failed = spans
            else:
                others.update(spans)
        lines = []
        if failed:
            for line_start in failed:
                others.pop(line_start, None)
            lines = self._failed_rows(b'\n' + b'\n'.join(lp.cut_lines(buf, failed)), False)
        if others:
            lines.extend(lp.cut_lines(buf, others))
        if lines:
            self._other_rows(lines, lp.OTHER_ROWS_RX)

    def feed_auth_lines(self, buf, start, end):
        """Parse ``buf[start:end]``: lines that hold a needle, each as ``offset:line`` and ending in a newline
        (``grep -b``)."""
        if buf[end - 1:end] == b'\n':
            end -= 1
        text = b'\n' + buf[start:end]
        lines = self._failed_rows(text, True)
        if lines:
            self._other_rows(lines, lp.OTHER_ROWS_OFFSET_RX)

    def _stamp_buckets(self, keys, to_minute=None):
        """``({key: bucket}, {key: minute})`` for the stamp keys in the history (``to_minute``: how a key becomes an
        epoch minute; a row's stamp key by default); every event is counted in the stats (those without a readable
        stamp, or outside the history, as such)."""
        to_minute = to_minute or self.clock.key_minute
        first, last = self.first_minute, self.last_minute
        buckets = self.buckets
        usable = {}
        minutes = {}
        rejected = False
        for key in set(keys):
            minute = to_minute(key)
            if minute is None or minute < first or minute > last:
                rejected = True
                minutes[key] = minute
                continue
            bucket = buckets.get(minute)
            if bucket is None:
                bucket = buckets[minute] = Bucket()
            usable[key] = bucket
            minutes[key] = minute
        stats = self.stats
        stats.events += len(keys)
        if rejected:
            for key, count in Counter(keys).items():
                if key not in usable:
                    if minutes[key] is None:
                        stats.untimed += count
                    else:
                        stats.outside_history += count
        return usable, minutes

    def _failed_rows(self, text, offsets):
        """Count the ``Failed <method>`` lines of ``text`` (see ``lp.FAILED_ROWS_RX``; ``offsets``: each line after
        ``offset:``) with C-level operations (findall, filter, zip, Counter). Returns the lines that are not in that
        form: the caller parses those as other rows.
        """
        rows_rx, layout = lp.failed_rows_pattern(text, offsets)
        rows = rows_rx.findall(text)
        method = itemgetter(layout.method)
        found = list(filter(method, rows))
        leftover = list(map(itemgetter(layout.line), filterfalse(method, rows))) if len(found) != len(rows) else []
        if found:
            self._rows_of_form(found, layout, None, 'attempt')
        return leftover

    def _other_rows(self, lines, rows_rx):
        """Parse ``lines`` (each in any failure form, see ``lp.OTHER_ROWS_RX``) one row each, then count each form
        in bulk."""
        text = b'\n' + b'\n'.join(lines)
        if b'message repeated ' in text:
            lines = _expand_repeats(lines)
            text = b'\n' + b'\n'.join(lines)
        rows = rows_rx.findall(text)
        if len(rows) != len(lines):         # cannot happen: every line gives one row
            return
        in_a_form = 0
        for witness, kind, ip_column, user_column in lp.OTHER_ROW_FORMS:
            found = list(filter(itemgetter(witness), rows))
            if not found:
                continue
            in_a_form += len(found)
            layout = lp.RowLayout((0, 1, 2), 3, 5, witness if kind in lp.ATTEMPT_KINDS else None, user_column,
                                  ip_column)
            if kind in lp.ATTEMPT_KINDS:
                self._rows_of_form(found, layout, None, 'attempt')
            elif kind == lp.PAM_FAILURE:        # the role depends on the service (the witness column)
                service = itemgetter(witness)
                for role in ('note', 'attempt'):
                    self._rows_of_form([row for row in found if _role(kind, service(row)) == role], layout, kind, role)
            else:
                self._rows_of_form(found, layout, kind, _role(kind))
        if in_a_form != len(rows):
            stats = self.stats
            for row, line in zip(rows, lines):
                if not (row[0] or row[1]) and lp.MESSAGE_RX.search(line):
                    stats.events += 1           # a failure line without a readable time stamp
                    stats.untimed += 1

    def _rows_of_form(self, rows, layout, kind, role):
        """Count ``rows`` (findall rows of one form, fields where ``layout`` says) as ``kind``, or as the kind of each
        row's method (``layout.method``)."""
        if not rows:
            return
        columns = list(zip(*rows))
        stamps = [columns[index] for index in layout.stamp]
        keys = lp.row_keys(*stamps)
        usable, minutes = self._stamp_buckets(keys)
        if not usable:
            return
        hosts, pids, ips = columns[layout.host], columns[layout.pid], columns[layout.ip]
        users = columns[layout.user] if layout.user else [b''] * len(keys)
        methods = columns[layout.method] if layout.method is not None else None
        if len(usable) != len(minutes):      # some lines out of the history or without a stamp: drop them
            keep = list(map(usable.__contains__, keys))
            keys, hosts, pids, ips, users = _pick(keep, keys, hosts, pids, ips, users)
            if role == 'attempt':
                stamps = _pick(keep, *stamps)
            if methods is not None:
                methods = list(compress(methods, keep))
        self._count(usable, minutes, keys, ips, users, hosts, pids, kind, role, methods,
                    stamps if role == 'attempt' else None)

    def _count(self, usable, minutes, keys, ips, users, hosts, pids, kind, role, methods=None, stamps=None):
        """Count one kind of event for the rows ``keys`` (stamp keys, all in ``usable``), ``ips``/``users`` (bytes,
        b'' when absent), ``hosts``/``pids`` (the connection, pid b'' when unknown); with ``methods``, the kind of
        each row is its method's (``Failed <method>``). ``role``: ``attempt`` (a failed login), ``connection`` (one
        failed login per connection unless it has an attempt), ``probe`` (a pre-authentication disconnect) or
        ``note`` (counted by kind only). ``stamps``: the stamp columns of the rows (see ``lp.row_seconds``), for the
        failures per address and second (the sliding per-minute rule)."""
        if not keys:
            return
        ips = _texts(ips)
        users = _texts(users)
        runs = _runs(keys)
        if runs is not None:
            # lines come in time order: one run of equal stamps per minute, counted slice by slice
            for first, last in runs:
                bucket = usable[keys[first]]
                if methods is None:
                    bucket.k[kind] += last - first
                else:
                    for method, count in Counter(methods[first:last]).items():
                        bucket.k[lp.KIND_NAMES.get(method, 'failed_other')] += count
        elif methods is None:
            for key, count in Counter(keys).items():
                usable[key].k[kind] += count
        else:
            for (key, method), count in Counter(zip(keys, methods)).items():
                usable[key].k[lp.KIND_NAMES.get(method, 'failed_other')] += count
        if role == 'attempt':
            self._count_attempts(usable, keys, ips, users, runs, stamps, minutes)
        key_minutes = list(map(minutes.__getitem__, keys))
        self._note_seen(ips, users, key_minutes)
        if kind in lp.CLOSING_KINDS:
            _add_pids(self.closed, hosts, pids)
        if role == 'attempt':
            if not all(pids):
                hosts, pids, key_minutes = _pick(list(map(bool, pids)), hosts, pids, key_minutes)
            if pids:
                self._note_attempted(hosts, pids, key_minutes)
        elif role == 'connection':
            alone = list(map(operator.not_, pids))
            if any(alone):
                self._count_attempts(usable, *_pick(alone, keys, ips, users))
            conns = list(compress(zip(hosts, pids), pids))
            events = list(compress(zip(key_minutes, ips, users, repeat(kind)), pids))
            pend = self._pend
            if len(set(conns)) == len(conns):
                # the usual case: one such line per connection, most of them not pending yet
                known = list(map(self.pending.__contains__, conns))
                for conn, event in compress(zip(conns, events), known):
                    pend(conn, event)
                self.pending.update(compress(zip(conns, events), map(operator.not_, known)))
            else:
                for conn, event in zip(conns, events):
                    pend(conn, event)
        elif role == 'probe':
            # OpenSSH writes two lines for one probing client ("Received disconnect ... [preauth]" and
            # "Disconnected from ... [preauth]"): a probe is a connection, not a line
            probed = self.probed
            probes = Counter()
            for key, ip, host, pid, minute in zip(keys, ips, hosts, pids, key_minutes):
                if not ip:
                    continue
                if pid:
                    conn = (host, pid)
                    last = probed.get(conn)
                    probed[conn] = minute
                    if last is not None and abs(minute - last) <= PROBE_SPAN_MINUTES:
                        continue
                probes[(key, ip)] += 1
            for (key, ip), count in probes.items():
                usable[key].pb[ip] += count

    def _count_attempts(self, usable, keys, ips, users, runs=False, stamps=None, minutes=None):
        """Failed attempts (``a``), per address (``fi``) and per user (``fu``) of the rows ``keys`` (``runs``: their
        ``_runs`` when known); with ``stamps`` (the stamp columns of the rows) and ``minutes`` (the minute of each key),
        per address and second (``fs``) for the minutes from ``seconds_from`` on (where the per-minute rule looks)."""
        if runs is False:
            runs = _runs(keys)
        recent = self.seconds_from
        if runs is not None:
            for first, last in runs:
                bucket = usable[keys[first]]
                _add_attempts(bucket, last - first, Counter(ips[first:last]), Counter(users[first:last]))
                if stamps is not None and (recent is None or minutes[keys[first]] >= recent):
                    bucket.fs.update(zip(ips[first:last], lp.row_seconds(*[column[first:last] for column in stamps])))
            return
        if stamps is not None:
            for (key, ip, second), count in Counter(zip(keys, ips, lp.row_seconds(*stamps))).items():
                if recent is None or minutes[key] >= recent:
                    usable[key].fs[(ip, second)] += count
        for key, count in Counter(keys).items():
            usable[key].a += count
        for (key, ip), count in Counter(zip(keys, ips)).items():
            if ip:
                usable[key].fi[ip] += count
        for (key, user), count in Counter(zip(keys, users)).items():
            if user:
                usable[key].fu[user] += count

    def _note_attempted(self, hosts, pids, key_minutes):
        """The connections ``(host, pid)`` with a failed attempt: their pids by host, and their minute for those of
        the last CONN_MEMORY_MINUTES (remembered for the next run)."""
        self.attempted.update(zip(hosts, pids, map(operator.floordiv, key_minutes, repeat(CONN_SLOT_MINUTES))))
        recent = self.recent_minute
        if recent is not None and max(key_minutes) >= recent:
            keep = list(map(operator.ge, key_minutes, repeat(recent)))
            _add_latest(self.recent_attempts, list(compress(zip(hosts, pids), keep)), list(compress(key_minutes, keep)))

    def _note_seen(self, ips, users, key_minutes):
        """Which users each address tried, and when (the latest minute): ``seen``."""
        if not (all(users) and all(ips)):
            ips, users, key_minutes = _pick(list(map(operator.and_, map(bool, ips), map(bool, users))),
                                            ips, users, key_minutes)
        if users:
            _add_latest(self.seen, zip(ips, users), key_minutes)

    # ---------------------------------------------------------- HTTP requests
    def request(self, minute, ip, status, seconds):
        stats = self.stats
        if seconds is not None and not 0 <= seconds < float('inf'):
            seconds = None                  # infinite, NaN or negative: a request without a usable time
        stats.events += 1
        if not self._in_range(minute):
            return
        bucket = self.bucket(minute)
        bucket.rq += 1
        if ip:
            bucket.ri[ip] += 1
        if 500 <= status <= 599:
            bucket.e5 += 1
        elif status == 429 and ip:
            bucket.rl[ip] += 1
        if seconds is not None:
            bucket.tm += 1
            bucket.h[time_bucket(seconds)] += 1
            if self.slow_after is not None and seconds > self.slow_after:
                bucket.sl += 1

    def feed_access(self, buf, start, end, time_field, time_scale):
        clock = self.clock
        stats = self.stats
        lines = buf.count(b'\n', start, end)
        matched = 0
        skipped = 0
        for match in lp.parse_access(buf, start, end):
            try:
                ip, stamp, _request, status, tail = match.groups()
                seconds = lp.request_time(tail, time_field, time_scale) if time_field is not None else None
                minute = clock.clf(stamp)
                ip, status = ip.decode('ascii', 'replace'), int(status)
            except Exception as exc:        # one line that breaks the parse costs that line only
                skipped += 1
                stats.skip(exc)
                continue
            matched += 1
            self.request(minute, ip, status, seconds)
        stats.parsed += matched
        stats.unparsed += max(0, lines - matched - skipped)


def _guarded(collector, feed):
    """``feed(buf, start, end)`` that never stops the read: the lines of a block whose parse raised are skipped and
    counted (``SourceStats.skip``). The parsers guard each line where they handle lines one at a time (JSON lines,
    access logs, journal entries), so this is the last resort of the bulk parse of syslog text."""
    def feed_guarded(buf, start, end):
        try:
            feed(buf, start, end)
        except Exception as exc:
            collector.stats.skip(exc, max(1, buf.count(b'\n', start, end)))
    return feed_guarded


def _ip_network_list(entries):
    networks = []
    for entry in entries or []:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise MaintenanceError('allow_list entry %r is not an IP address or network' % (entry,))
    return networks


def _allowed(ip, networks):
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address.version == network.version and address in network for network in networks)


def _valid_ip(ip):
    try:
        ipaddress.ip_address(ip)
        return True
    except ValueError:
        return False


class StateFile(object):
    """The JSON state: file cursors, journal cursors, per-minute buckets.

    A run that will save holds ``lock()`` (an exclusive flock on ``<path>.lock``) from before ``load()`` until
    after ``save()``: an overlapping run waits and then starts from the cursors this one saved, so no byte is
    counted twice. ``generation`` is a compare-and-swap on top: ``save()`` refuses to replace a state file that
    changed since ``load()`` (a lost or bypassed lock), so an older cursor is never written back.
    """

    def __init__(self, path):
        self.path = path
        self.data = {'version': STATE_VERSION, 'files': {}, 'journal': {}, 'buckets': {}, 'connections': {},
                     'seen': {}}
        self.note = None
        self.loaded = None
        self.generation = 0
        self._lock = None

    def lock(self, wait=None):
        if self.path and self._lock is None:
            self._lock = FileLock(self.path, 'log_scan state file', wait).acquire()

    def unlock(self):
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _disk_generation(self):
        try:
            with open(self.path, 'rb') as handle:
                data = json.loads(handle.read().decode('utf-8'))
        except (IOError, OSError, ValueError):
            return None if not os.path.exists(self.path) else -1
        return data.get('generation', 0) if isinstance(data, dict) else -1

    def load(self):
        if not self.path or not os.path.exists(self.path):
            self.note = 'no state yet: first run'
            return self
        try:
            with open(self.path, 'rb') as handle:
                raw = handle.read().decode('utf-8')
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get('version') != STATE_VERSION:
                raise ValueError('unsupported state version')
        except (IOError, OSError) as exc:
            raise MaintenanceError('cannot read the log_scan state file %s: %s' % (self.path, exc))
        except ValueError as exc:
            # a damaged state file must not stop monitoring: start over and say so
            self.note = 'state file %s was unreadable (%s); started over' % (self.path, exc)
            return self
        for key in ('files', 'journal', 'buckets', 'connections', 'seen'):
            if isinstance(data.get(key), dict):
                self.data[key] = data[key]
        self.generation = data.get('generation', 0) if isinstance(data.get('generation'), int) else 0
        self.loaded = json.loads(raw)      # untouched (the scan changes ``data`` in place), compared at the end
        return self

    def save(self):
        on_disk = self._disk_generation()
        expected = self.generation if self.loaded is not None else None
        if on_disk != expected and not (expected is None and on_disk == -1):
            raise MaintenanceError('the log_scan state file %s changed since this run read it (another run saved newer '
                                   'cursors); not writing back older ones - the next run goes on from the newer cursors'
                                   % self.path)
        self.data['generation'] = self.generation + 1
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o750, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix='.log_scan-', dir=directory)
            try:
                with os.fdopen(fd, 'w') as handle:
                    # dumps (one shot) uses the C encoder; dump to a file would use the pure-Python one
                    handle.write(json.dumps(self.data, sort_keys=True, separators=(',', ':')))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o600)
                os.rename(tmp, self.path)
            except Exception:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except (IOError, OSError) as exc:
            raise MaintenanceError('cannot write the log_scan state file %s: %s' % (self.path, exc))
        self.generation += 1


def _source_key(source):
    return '%s:%s' % (source['type'], source.get('path') or source.get('journal_file') or
                      source.get('journal_directory') or 'system')


def normalize_sources(sources):
    """Validate the ``sources`` option; return a list of dicts with defaults filled in."""
    if not sources:
        raise MaintenanceError('log_scan needs at least one source (type auth, journal, access or jsonl)')
    result = []
    seen = set()
    for index, source in enumerate(sources):
        if not isinstance(source, dict):
            raise MaintenanceError('sources[%d] must be a mapping, not %r' % (index, source))
        source = dict((key, value) for key, value in source.items() if value is not None)
        kind = source.get('type')
        if kind not in SOURCE_TYPES:
            raise MaintenanceError('sources[%d]: type must be one of %s, not %r' % (index, ', '.join(SOURCE_TYPES), kind))
        if kind != 'journal' and not source.get('path'):
            raise MaintenanceError('sources[%d]: a %s source needs a path' % (index, kind))
        if source.get('start_at', 'beginning') not in ('beginning', 'end'):
            raise MaintenanceError('sources[%d]: start_at must be beginning or end' % index)
        if kind == 'access':
            unit = source.get('request_time_unit', 's')
            if unit not in ('s', 'ms', 'us'):
                raise MaintenanceError('sources[%d]: request_time_unit must be s, ms or us' % index)
        if kind == 'jsonl':
            fields = dict(DEFAULT_JSON_FIELDS)
            fields.update(source.get('fields') or {})
            source['fields'] = fields
            failed = source.get('failed_login_values')
            if failed is not None and not isinstance(failed, list):
                raise MaintenanceError('sources[%d]: failed_login_values must be a list' % index)
        key = _source_key(source)
        if key in seen:
            raise MaintenanceError('sources[%d]: %s is listed twice' % (index, key))
        seen.add(key)
        source['key'] = key
        source['label'] = source.get('name') or source.get('path') or 'journal'
        result.append(source)
    return result


class Scanner(object):
    """One ``log_scan`` run."""

    def __init__(self, sources, state_file, thresholds=None, window_minutes=10, history_minutes=60,
                 allow_list=None, top=10, now=None, utc=False, max_line_bytes=1 << 20, spike_min_rate=10.0,
                 check_mode=False, journalctl='journalctl', workers=1, prefilter='auto',
                 prefilter_min_bytes=PREFILTER_MIN_BYTES, grep='grep', lock_timeout=None, find_minutes=10,
                 slow_find_minutes=120):
        if window_minutes < 1:
            raise MaintenanceError('window_minutes must be at least 1')
        if max_line_bytes < 1024:
            raise MaintenanceError('max_line_bytes must be at least 1024')
        if top < 1:
            raise MaintenanceError('top must be at least 1')
        if prefilter not in ('auto', 'never'):
            raise MaintenanceError('prefilter must be auto or never, not %r' % (prefilter,))
        if history_minutes < window_minutes:
            raise MaintenanceError('history_minutes (%d) must be at least window_minutes (%d)'
                                   % (history_minutes, window_minutes))
        for name, value in (('find_minutes', find_minutes), ('slow_find_minutes', slow_find_minutes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise MaintenanceError('%s must be a whole number of minutes, at least 1, not %r' % (name, value))
        self.sources = normalize_sources(sources)
        self.state = StateFile(state_file)
        self.lock_timeout = lock_timeout
        self.thresholds = thresholds or {}
        self.window = int(window_minutes)
        # per-address rules (fail2ban's maxretry within findtime): how far back each looks
        self.rule_minutes = {'find_window': find_minutes, 'slow': slow_find_minutes}
        self.rule_thresholds = {'find_window': 'suspicious_ip_find_failures', 'slow': 'suspicious_ip_slow_failures'}
        longest = max([self.window] + [minutes for rule, minutes in self.rule_minutes.items()
                                       if self._limit(self.rule_thresholds[rule]) is not None])
        self.detail_minutes = longest     # the failures per address are kept this long (the rest: the window)
        # the history holds at least the longest per-address rule
        self.history = max(int(history_minutes), longest)
        self.baseline_minutes = int(history_minutes)
        self.allow = _ip_network_list(allow_list)
        self.top = int(top)
        self.now = epoch(now, 'now') if now is not None else time.time()
        self.now_minute = int(self.now) // 60
        self.max_line = int(max_line_bytes)
        self.spike_min_rate = float(spike_min_rate)
        self.check_mode = check_mode
        self.journalctl = journalctl
        self.workers = int(workers) if workers else min(4, available_cpus())
        self.prefilter = prefilter
        self.prefilter_min_bytes = int(prefilter_min_bytes)
        self.grep = grep
        slow = Threshold.from_spec('http_response_time', self.thresholds.get('http_response_time'))
        self.slow_after = slow.warning if slow.warning is not None else slow.critical
        self.collector = Collector(lp.MinuteClock(self.now, utc=utc), self.now_minute - self.history + 1,
                                   self.now_minute + 5, self.slow_after)
        self.collector.recent_minute = self.now_minute - CONN_MEMORY_MINUTES
        # the per-minute rule's 60-second spans end in the window: the seconds matter from the minute before it on
        self.collector.seconds_from = self.now_minute - self.window
        self.source_reports = []
        self.source_checks = []
        self.seen = {}
        self.seconds_kept = {}          # minute -> the addresses whose failures per second the state keeps

    # ---------------------------------------------------------- reading
    def run(self):
        if not self.check_mode:
            # held until close(): the whole read-count-save of every source is one step for overlapping runs
            self.state.lock(self.lock_timeout)
        self.state.load()
        # the parse makes millions of short-lived tuples and no reference cycles: the cyclic collector would
        # only scan them over and over (about a tenth of the time of a large scan)
        collecting = gc.isenabled()
        gc.disable()
        try:
            for source in self.sources:
                self._scan_source(source)
        finally:
            if collecting:
                gc.enable()
        return self.results()

    def _scan_source(self, source):
        stats = SourceStats(source)
        self.collector.stats = stats
        report = {'name': source['label'], 'type': source['type'], 'path': source.get('path'), 'bytes_read': 0,
                  'lines': 0, 'events': 0, 'notes': []}
        target = source.get('path') or 'journal'
        try:
            if source['type'] == 'journal':
                self._scan_journal(source, report)
            else:
                self._scan_file(source, report)
        except SourceError as exc:
            reason = str(exc)
            report['error'] = reason
            if 'does not exist' in reason or 'not found' in reason:
                check = make_check('log_scan.source', UNKNOWN, reason, target=target, priority='medium')
            else:
                check = make_check('log_scan.source', CRITICAL, reason, target=target, priority='medium')
            self.source_checks.append(check)
            self.source_reports.append(report)
            self.collector.forget_connections()
            return
        memory = self.state.data['connections'].setdefault(source['key'], {})
        waiting = self.collector.finish_connections(memory, self.now_minute)
        if not memory.get('attempted') and not memory.get('pending'):
            del self.state.data['connections'][source['key']]
        if waiting:
            report['notes'].append('%d "Invalid user" connection(s) of the last %d minutes wait one run for their '
                                   '"Failed" line before they count' % (waiting, DEFER_MINUTES))
        report.update(events=stats.events, events_without_timestamp=stats.untimed,
                      unparsed_lines=stats.unparsed, events_outside_history=stats.outside_history,
                      unreadable_lines=stats.unreadable)
        self.source_reports.append(report)
        self.source_checks.append(self._source_check(source, report, stats, target))

    def _source_check(self, source, report, stats, target):
        if report['lines'] is None:
            facts = ['read %d bytes, %d events' % (report['bytes_read'], stats.events)]
        else:
            facts = ['read %d bytes, %d lines, %d events' % (report['bytes_read'], report['lines'], stats.events)]
        if stats.untimed:
            facts.append('%d event lines without a readable timestamp were skipped' % stats.untimed)
        if report.get('oversized_lines'):
            facts.append('%d lines longer than %d bytes were skipped' % (report['oversized_lines'], self.max_line))
        if stats.outside_history:
            facts.append('%d events older than %d minutes (or in the future) were not counted'
                         % (stats.outside_history, self.history))
        if stats.unreadable:
            facts.append('%d unreadable line%s skipped (%s)' % (stats.unreadable, '' if stats.unreadable == 1 else 's',
                                                                stats.unreadable_reason))
        facts.extend(report['notes'])
        status = OK
        priority = 'low'
        if report.get('truncated_without_copy'):
            status, priority = WARNING, 'medium'
            facts.insert(0, 'log truncated since the last run with no rotated copy found (possible tampering, or '
                            'lines lost)')
        lines = report['lines'] or 0
        if source['type'] in ('access', 'jsonl') and lines >= 10 and stats.unparsed > lines // 2:
            status, priority = UNKNOWN, 'medium'
            facts.insert(0, '%d of %d lines are not in the expected %s format' % (stats.unparsed, lines, source['type']))
        elif stats.unparsed:
            facts.append('%d lines could not be parsed' % stats.unparsed)
        return make_check('log_scan.source', status, '; '.join(facts), target=target, priority=priority,
                          value=stats.events, unit='events',
                          details=dict((key, report[key]) for key in ('bytes_read', 'lines') if key in report))

    def _scan_file(self, source, report):
        files = self.state.data['files']
        cursor = files.get(source['key'])
        collector = self.collector
        kind = source['type']
        prefilter = None
        if kind == 'auth':
            needles = lp.AUTH_NEEDLES_THOROUGH if source.get('thorough') else lp.AUTH_NEEDLES
            if self.prefilter == 'auto':
                prefilter = (needles, _guarded(collector, collector.feed_auth_lines))
        reader = FileReader(source['path'], cursor=cursor, start_at=source.get('start_at', 'beginning'),
                            max_line=self.max_line, patterns=source.get('rotated_patterns'),
                            count_lines=kind != 'auth', workers=self.workers, parallel=self.collector,
                            prefilter=prefilter, prefilter_min_bytes=self.prefilter_min_bytes, grep=self.grep)
        reader.plan()
        if kind == 'auth':

            def feed(buf, start, end):
                collector.feed_auth_text(buf, start, end, needles)
        elif kind == 'access':
            unit = source.get('request_time_unit', 's')
            scale = {'s': 1.0, 'ms': 0.001, 'us': 0.000001}[unit]
            field = source.get('request_time_field', 0)
            field = None if field is None or field < 0 else field

            def feed(buf, start, end):
                collector.feed_access(buf, start, end, field, scale)
        else:
            def feed(buf, start, end):
                self._feed_jsonl(source, buf, start, end)
        new_cursor = reader.read(_guarded(collector, feed))
        report['bytes_read'] = reader.bytes_read
        report['lines'] = reader.lines
        report['oversized_lines'] = reader.oversized_lines
        if reader.workers_used > 1:
            report['workers'] = reader.workers_used
        if reader.grep_segments:
            report['prefilter'] = 'grep'
            report['notes'].append('GNU grep found the candidate lines')
        report['truncated_without_copy'] = reader.truncated_without_copy
        report['notes'].extend(reader.notes)
        report['read_from'] = [{'path': s.path, 'offset': s.start} for s in reader.segments]
        report['cursor'] = {'offset': new_cursor['offset'], 'inode': new_cursor['ino']}
        files[source['key']] = new_cursor

    def _feed_jsonl(self, source, buf, start, end):
        stats = self.collector.stats
        fields = source['fields']
        failed_values = set(str(v) for v in source.get('failed_login_values') or ['login_failed', 'auth_failure'])
        scale = {'s': 1.0, 'ms': 0.001, 'us': 0.000001}[source.get('duration_unit', 's')]
        failures = []
        for record in lp.json_lines(buf, start, end):
            if record is None:
                stats.unparsed += 1
                continue
            try:
                parsed = self._jsonl_record(record, fields, failed_values, scale, failures)
            except Exception as exc:        # one line that breaks the parse costs that line only
                stats.skip(exc)
                continue
            if parsed:
                stats.parsed += 1
            else:
                stats.unparsed += 1
        self.collector.auth_events(failures)

    def _jsonl_record(self, record, fields, failed_values, scale, failures):
        """Count one JSON-lines record: a failed login (added to ``failures``) or an HTTP request. False when its
        status is not a number."""
        collector = self.collector
        minute = collector.clock.any_value(lp.get_field(record, fields.get('time')))
        ip = lp.get_field(record, fields.get('ip'))
        ip = str(ip) if ip not in (None, '') else None
        event = lp.get_field(record, fields.get('event'))
        if event is not None and str(event) in failed_values:
            user = lp.get_field(record, fields.get('user'))
            failures.append((minute, 'app_login_failed', ip, str(user) if user not in (None, '') else None,
                             None, None))
            return True
        status = lp.get_field(record, fields.get('status'))
        if status is None:
            return True
        try:
            status = int(status)
        except (TypeError, ValueError, OverflowError):      # OverflowError: 1e999 is infinity
            return False
        duration = lp.get_field(record, fields.get('duration'))
        seconds = None
        if isinstance(duration, (int, float)) and not isinstance(duration, bool):
            seconds = float(duration) * scale
        collector.request(minute, ip, status, seconds)
        return True

    def _scan_journal(self, source, report):
        journal = self.state.data['journal']
        previous = journal.get(source['key'])
        command = [self.journalctl, '-o', 'json', '--no-pager', '--output-fields',
                   'MESSAGE,SYSLOG_IDENTIFIER,_PID,_HOSTNAME,__REALTIME_TIMESTAMP']
        if source.get('journal_file'):
            command += ['--file', source['journal_file']]
        if source.get('journal_directory'):
            command += ['--directory', source['journal_directory']]
        if previous and previous.get('cursor'):
            command += ['--after-cursor', previous['cursor']]
            report['notes'].append('continuing after the stored journal cursor')
        elif source.get('start_at') == 'end':
            command += ['--since', '@%d' % int(self.now)]
            report['notes'].append('first run: starting now (start_at=end)')
        else:
            command += ['--since', '@%d' % ((self.now_minute - self.history + 1) * 60)]
            report['notes'].append('first run: reading the last %d minutes' % self.history)
        for identifier in source.get('identifiers') or JOURNAL_IDENTIFIERS:
            command.append('SYSLOG_IDENTIFIER=%s' % identifier)
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except (IOError, OSError) as exc:
            raise SourceError('journalctl not found or not executable (%s); the journal source needs systemd' % exc)
        collector = self.collector
        stats = collector.stats
        last_cursor = None
        lines = 0
        size = 0
        carry = b''
        while True:
            block = process.stdout.read(1 << 20)
            if not block:
                break
            size += len(block)
            buf = carry + block
            cut = buf.rfind(b'\n')
            if cut < 0:
                carry = buf
                continue
            carry = buf[cut + 1:]
            events = []
            for entry in lp.json_lines(buf, 0, cut + 1):
                lines += 1
                if entry is None:
                    stats.unparsed += 1
                    continue
                cursor = entry.get('__CURSOR')
                if cursor and isinstance(cursor, str):
                    last_cursor = cursor
                try:
                    event = _journal_event(entry)
                except Exception as exc:    # one entry that breaks the parse costs that entry only
                    stats.skip(exc)
                    continue
                if event is not None:
                    events.append(event)
            collector.auth_events(events)
        stderr = process.stderr.read()
        code = process.wait()
        report['bytes_read'] = size
        report['lines'] = lines
        if code != 0 and not lines:
            raise SourceError('journalctl failed (exit %d): %s' % (code, stderr.decode('utf-8', 'replace').strip()[:500]))
        if last_cursor:
            journal[source['key']] = {'cursor': last_cursor}

    # ---------------------------------------------------------- results
    def _merged_buckets(self):
        """State buckets plus this run's, pruned to the history; per-IP detail kept for the window only.

        Also merges the users each address tried (``seen``), pruned to the window."""
        merged = {}
        oldest = self.now_minute - self.history + 1
        window_start = self.now_minute - self.window + 1
        detail_start = self.now_minute - self.detail_minutes + 1
        seconds_start = window_start - 1
        seen = Latest()
        for ip, users in (self.state.data.get('seen') or {}).items():
            if isinstance(users, dict):
                for user, minute in users.items():
                    if isinstance(minute, int) and minute >= window_start:
                        seen[(ip, user)] = minute
        for key, data in self.state.data['buckets'].items():
            try:
                minute = int(key)
            except ValueError:
                continue
            if minute < oldest or not isinstance(data, dict):
                continue
            bucket = merged[minute] = Bucket()
            if minute >= window_start:
                bucket.merge(data)
                # state files before 1.1 kept the users tried per address in each minute ("iu")
                old = data.get('iu')
                if isinstance(old, dict):
                    seen.add(dict(((ip, user), minute) for ip, users in old.items()
                                  if isinstance(users, list) for user in users))
            else:
                bucket.merge(_scalars(data, minute >= detail_start, minute >= seconds_start))
        for minute, bucket in self.collector.buckets.items():
            if minute < oldest:
                continue
            known = merged.get(minute)
            if known is None:
                merged[minute] = bucket
            else:
                known.merge(bucket.as_dict(minute >= window_start, minute >= detail_start, minute >= seconds_start))
        seen.add(self.collector.seen)
        self.seen = dict((pair, minute) for pair, minute in seen.items() if minute >= window_start)
        return merged

    def results(self):
        merged = self._merged_buckets()
        window_start = self.now_minute - self.window + 1
        window = dict((m, b) for m, b in merged.items() if window_start <= m <= self.now_minute)
        # the request-rate baseline stays the history asked for, also when a per-address rule made it longer
        baseline_start = self.now_minute - self.baseline_minutes + 1
        baseline = dict((m, b) for m, b in merged.items() if baseline_start <= m < window_start)
        has_auth = any(s['type'] in ('auth', 'journal', 'jsonl') for s in self.sources)
        has_http = any(s['type'] in ('access', 'jsonl') for s in self.sources)
        checks = list(self.source_checks)
        output = {}
        auth = self._auth_results(window, has_auth, checks, merged)
        output.update(auth)
        if has_http:
            output['http'] = self._http_results(window, baseline, merged, checks)
        output['sources'] = self.source_reports
        output['window'] = {
            'minutes': self.window,
            'start': iso_from_epoch(window_start * 60),
            'end': iso_from_epoch((self.now_minute + 1) * 60),
            'history_minutes': self.history,
        }
        # state: keep detail for the window only; the failures per address and second of the last two minutes (the
        # next run's 60-second spans start there), before them of the addresses that may break the per-minute rule
        detail_start = self.now_minute - self.detail_minutes + 1
        seconds_kept = self.seconds_kept
        self.state.data['buckets'] = dict(
            (str(minute), bucket.as_dict(minute >= window_start, minute >= detail_start,
                                         True if minute >= self.now_minute - 1 else seconds_kept.get(minute)))
            for minute, bucket in sorted(merged.items()))
        self.state.data['seen'] = _users_by_ip(self.seen, USERS_PER_IP)
        self.state.data['updated'] = iso_from_epoch(self.now)
        output['checks'] = checks
        output['state_note'] = self.state.note
        return output

    def save_state(self):
        """Write the state file (never in check mode); this ends the run's hold on the state lock."""
        if not self.check_mode:
            try:
                self.state.save()
            finally:
                self.state.unlock()

    def close(self):
        """Release the state lock (after ``save_state``)."""
        self.state.unlock()

    def state_changed(self):
        """True when cursors or history differ from what was loaded."""
        loaded = self.state.loaded
        if loaded is None:
            return True
        data = self.state.data
        return any(data.get(key) != loaded.get(key) for key in set(data).union(loaded) if key not in ('updated', 'generation'))

    def _auth_results(self, window, has_auth, checks, merged):
        attempts_by_minute = dict((m, b.a) for m, b in window.items() if b.a)
        by_ip = defaultdict(int)
        by_user = defaultdict(int)
        users_by_ip = _users_by_ip(dict((pair, minute) for pair, minute in self.seen.items()
                                        if minute <= self.now_minute))
        probes = defaultdict(int)
        kinds = defaultdict(int)
        rate_limited = defaultdict(int)
        for bucket in window.values():
            for ip, count in bucket.fi.items():
                by_ip[ip] += count
            for user, count in bucket.fu.items():
                by_user[user] += count
            for ip, count in bucket.pb.items():
                probes[ip] += count
            for kind, count in bucket.k.items():
                kinds[kind] += count
            for ip, count in bucket.rl.items():
                rate_limited[ip] += count
        peak = max(attempts_by_minute.values()) if attempts_by_minute else 0
        current = attempts_by_minute.get(self.now_minute, 0)
        total = sum(attempts_by_minute.values())
        output = {
            'failed_logins': {
                'total': total,
                'peak_per_minute': peak,
                'current_per_minute': current,
                'peak_minute': iso_from_epoch(max(attempts_by_minute, key=lambda m: (attempts_by_minute[m], m)) * 60)
                if attempts_by_minute else None,
                'by_kind': dict(kinds),
                'per_minute': dict((iso_from_epoch(m * 60), c) for m, c in sorted(attempts_by_minute.items())),
            },
            'top_ips': [{'ip': ip, 'failures': count, 'users': len(users_by_ip.get(ip, ())),
                         'allow_listed': _allowed(ip, self.allow)}
                        for ip, count in sorted(by_ip.items(), key=lambda item: (-item[1], item[0]))[:self.top]],
            'top_users': [{'user': user, 'failures': count}
                          for user, count in sorted(by_user.items(), key=lambda item: (-item[1], item[0]))[:self.top]],
        }
        peak_ips = []
        if attempts_by_minute:
            peak_minute = max(attempts_by_minute, key=lambda m: (attempts_by_minute[m], m))
            peak_ips = [{'ip': ip, 'failures': count} for ip, count in
                        sorted(window[peak_minute].fi.items(), key=lambda item: (-item[1], item[0]))[:PEAK_IPS]]
        output['failed_logins']['peak_ips'] = peak_ips
        if has_auth:
            check = evaluate(
                'security.failed_logins_per_minute', peak, self.thresholds.get('failed_logins_per_minute'),
                label='peak failed logins per minute in the last %d min' % self.window, unit='/min',
                details={'current_per_minute': current, 'total_in_window': total, 'by_kind': dict(kinds),
                         'peak_ips': peak_ips})
            if peak_ips and check['status'] != OK:
                check['reason'] += ' (from %s)' % ', '.join('%s: %d' % (e['ip'], e['failures']) for e in peak_ips)
            checks.append(check)
        suspicious = self._suspicious(by_ip, users_by_ip, probes, rate_limited, self._per_address(merged))
        output['suspicious_ips'] = [entry['ip'] for entry in suspicious]
        output['suspicious_ip_details'] = suspicious
        spec = self.thresholds.get('suspicious_ip_count')
        check = evaluate('security.suspicious_ips', len(suspicious), spec,
                         label='suspicious IPs in the last %d min' % self.window, unit='IPs',
                         details={'ips': output['suspicious_ips'][:self.top * 5]} if suspicious else None)
        if suspicious:
            check['reason'] += ': ' + ', '.join('%s (%s)' % (e['ip'], '; '.join(e['reasons']))
                                                for e in suspicious[:5])
            if len(suspicious) > 5:
                check['reason'] += ' and %d more' % (len(suspicious) - 5)
        checks.append(check)
        return output

    def _limit(self, name):
        spec = Threshold.from_spec(name, self.thresholds.get(name))
        return spec.warning if spec.warning is not None else spec.critical

    def _per_address(self, merged):
        """The per-address rules that fired: ``{ip: [rule]}``, each rule ``{rule, count, limit, minutes, at}``
        (``count``: the most failures seen in any span of ``minutes``; ``at``: the end of the first minute where the
        count went over the limit: the start of that minute, when the rule first fired).

        * ``per_minute`` (``suspicious_ip_per_minute``): failures of one address within 60 seconds, any 60 seconds
          whose last failure lies in the window, not only a clock minute (the guide's "> 10 per minute": high
          priority, immediate investigation). Counted by the second where the line tells it (syslog files); the
          failures whose second is not known (journal, JSON lines, a connection's "Invalid user" without a
          "Failed" line) count in their clock minute;
        * ``find_window`` (``suspicious_ip_find_failures``, ``find_minutes``): fail2ban's ``maxretry`` within
          ``findtime``, any span of ``find_minutes`` that ends in the window;
        * ``slow`` (``suspicious_ip_slow_failures``, ``slow_find_minutes``): the same over hours (low and slow).
        """
        rules = [('per_minute', 1, self._limit('suspicious_ip_per_minute'))]
        for rule in ('find_window', 'slow'):
            rules.append((rule, self.rule_minutes[rule], self._limit(self.rule_thresholds[rule])))
        rules = [rule for rule in rules if rule[2] is not None]
        if not rules:
            return {}
        window_start = self.now_minute - self.window + 1
        oldest = self.now_minute - self.detail_minutes + 1
        series = defaultdict(dict)          # ip -> {minute: failures}
        for minute, bucket in merged.items():
            if oldest <= minute <= self.now_minute:
                for ip, count in bucket.fi.items():
                    series[ip][minute] = count
        by_second = self._by_second(merged, series, dict((rule[0], rule[2]) for rule in rules).get('per_minute'),
                                    window_start)
        fired = {}
        for ip, counts in series.items():
            for rule, minutes, limit in rules:
                best, at = _sliding_peak(counts, minutes, limit, window_start, self.now_minute)
                if rule == 'per_minute' and ip in by_second:
                    most, first = _seconds_peak(by_second[ip], limit, window_start)
                    best = max(best, most)
                    at = first if at is None else at if first is None else min(at, first)
                if at is not None:
                    fired.setdefault(ip, []).append({'rule': rule, 'count': best, 'limit': limit, 'minutes': minutes,
                                                     'at': iso_from_epoch(at * 60)})
        return fired

    def _by_second(self, merged, series, limit, window_start):
        """``{ip: [(epoch second, failures)]}`` from the minute before the window on, for the addresses that may break
        the per-minute rule over two minutes (more than ``limit`` in two adjacent minutes: a 60-second span lies in
        two); notes them in ``seconds_kept`` (what the state keeps of the older minutes)."""
        self.seconds_kept = {}
        if limit is None:
            return {}
        candidates = defaultdict(set)       # minute -> the addresses to look at by the second there
        for ip, counts in series.items():
            for minute, count in counts.items():
                if minute >= window_start - 1 and count + counts.get(minute + 1, 0) > limit:
                    candidates[minute].add(ip)
                    candidates[minute + 1].add(ip)
        found = defaultdict(list)
        for minute, ips in candidates.items():
            bucket = merged.get(minute)
            if bucket is None or minute > self.now_minute:
                continue
            self.seconds_kept[minute] = ips
            start = minute * 60
            for (ip, second), count in bucket.fs.items():
                if ip in ips:
                    found[ip].append((start + int(second), count))
        return found

    def _suspicious(self, by_ip, users_by_ip, probes, rate_limited, per_address):
        failures_limit = self._limit('suspicious_ip_failures')
        users_limit = self._limit('suspicious_ip_distinct_users')
        limited_limit = self._limit('suspicious_ip_rate_limited')
        probes_limit = self._limit('suspicious_ip_probes')
        candidates = set(by_ip) | set(users_by_ip) | set(rate_limited) | set(probes) | set(per_address)
        result = []
        for ip in candidates:
            if not _valid_ip(ip) or _allowed(ip, self.allow):
                continue
            rules = []
            reasons = []
            failures = by_ip.get(ip, 0)
            users = len(users_by_ip.get(ip, ()))
            limited = rate_limited.get(ip, 0)
            probe_count = probes.get(ip, 0)
            if failures_limit is not None and failures > failures_limit:
                reasons.append('%d failed logins > %s' % (failures, format_value(failures_limit)))
                rules.append({'rule': 'failures', 'count': failures, 'limit': failures_limit, 'minutes': self.window})
            if users_limit is not None and users > users_limit:
                reasons.append('%d distinct users > %s' % (users, format_value(users_limit)))
                rules.append({'rule': 'distinct_users', 'count': users, 'limit': users_limit, 'minutes': self.window})
            if limited_limit is not None and limited > limited_limit:
                reasons.append('%d rate-limited requests (HTTP 429) > %s' % (limited, format_value(limited_limit)))
                rules.append({'rule': 'rate_limited', 'count': limited, 'limit': limited_limit, 'minutes': self.window})
            if probes_limit is not None and probe_count > probes_limit:
                reasons.append('%d pre-auth disconnects > %s' % (probe_count, format_value(probes_limit)))
                rules.append({'rule': 'probes', 'count': probe_count, 'limit': probes_limit, 'minutes': self.window})
            for rule in rules:
                rule['at'] = None           # window totals: over the window as a whole
            for rule in per_address.get(ip, ()):
                rules.append(rule)
                span = 'in one minute' if rule['rule'] == 'per_minute' else 'within %d min' % rule['minutes']
                reasons.append('%d failed logins %s > %s (from %s)' % (rule['count'], span, format_value(rule['limit']),
                                                                       rule['at']))
            if reasons:
                result.append({'ip': ip, 'failures': failures, 'distinct_users': users, 'rate_limited': limited,
                               'probes': probe_count, 'reasons': reasons, 'rules': rules,
                               'first_fired': min([rule['at'] for rule in rules if rule['at']] or [None])})
        result.sort(key=lambda e: (-(e['failures'] + e['rate_limited'] + e['probes']), e['ip']))
        return result

    def _http_results(self, window, baseline, merged, checks):
        requests = sum(b.rq for b in window.values())
        errors = sum(b.e5 for b in window.values())
        timed = sum(b.tm for b in window.values())
        slow = sum(b.sl for b in window.values())
        limited = defaultdict(int)
        hist = defaultdict(int)
        by_ip = defaultdict(int)
        for bucket in window.values():
            for ip, count in bucket.rl.items():
                limited[ip] += count
            for index, count in bucket.h.items():
                hist[int(index)] += count
            for ip, count in bucket.ri.items():
                by_ip[ip] += count
        total_limited = sum(limited.values())
        result = {
            'requests': requests,
            'errors_5xx': errors,
            'error_rate': round(100.0 * errors / requests, 3) if requests else None,
            'rate_limited': total_limited,
            'rate_limited_by_ip': [{'ip': ip, 'count': count} for ip, count in
                                   sorted(limited.items(), key=lambda item: (-item[1], item[0]))[:self.top]],
            'top_clients': [{'ip': ip, 'requests': count} for ip, count in
                            sorted(by_ip.items(), key=lambda item: (-item[1], item[0]))[:self.top]],
            'timed_requests': timed,
        }
        if requests:
            checks.append(evaluate('security.api_error_rate', round(100.0 * errors / requests, 3),
                                   self.thresholds.get('api_error_rate'), label='HTTP 5xx share of %d requests' % requests,
                                   unit='%', details={'requests': requests, 'errors_5xx': errors}))
        else:
            checks.append(make_check('security.api_error_rate', OK, 'no HTTP requests in the last %d min' % self.window,
                                     priority='low', unit='%'))
        check = evaluate('security.rate_limit_violations', total_limited, self.thresholds.get('rate_limit_violations'),
                         label='HTTP 429 responses in the last %d min' % self.window, unit='/window',
                         details={'by_ip': result['rate_limited_by_ip']} if limited else None)
        checks.append(check)
        if timed:
            percentiles = _percentiles(hist, timed, (50, 95, 99))
            result.update(p50=percentiles[50], p95=percentiles[95], p99=percentiles[99],
                          slow_share=round(100.0 * slow / timed, 3), slow_after=self.slow_after)
            checks.append(evaluate('http.response_time_p95', percentiles[95], self.thresholds.get('http_response_time'),
                                   label='p95 response time of %d requests' % timed, unit='s',
                                   details={'p50': percentiles[50], 'p99': percentiles[99]}))
            if self.slow_after is not None:
                checks.append(evaluate('http.slow_request_share', round(100.0 * slow / timed, 3),
                                       self.thresholds.get('slow_request_share'),
                                       label='share of requests slower than %s s' % format_value(self.slow_after),
                                       unit='%', details={'slow': slow, 'timed': timed}))
        checks.append(self._spike(window, baseline, merged, result))
        return result

    def _spike(self, window, baseline, merged, result):
        minutes = [m for m in merged if merged[m].rq]
        per_minute = dict((m, b.rq) for m, b in window.items())
        peak = max(per_minute.values()) if per_minute else 0
        result['peak_requests_per_minute'] = peak
        window_start = self.now_minute - self.window + 1
        first = min(minutes) if minutes else window_start
        baseline_minutes = window_start - max(first, self.now_minute - self.baseline_minutes + 1)
        if baseline_minutes < self.window:
            result['baseline_requests_per_minute'] = None
            return make_check('security.request_rate_spike', OK,
                              'peak %d requests/min; not judged: less than one previous window (%d min) of history yet'
                              % (peak, self.window), priority='low', unit='x', value=None)
        base_rate = sum(b.rq for b in baseline.values()) / float(baseline_minutes)
        result['baseline_requests_per_minute'] = round(base_rate, 3)
        if peak < self.spike_min_rate:
            return make_check('security.request_rate_spike', OK,
                              'peak %d requests/min is below spike_min_rate %s; not judged'
                              % (peak, format_value(self.spike_min_rate)), priority='low', unit='x', value=None)
        ratio = round(peak / max(base_rate, self.spike_min_rate / 10.0), 2)
        return evaluate('security.request_rate_spike', ratio, self.thresholds.get('request_rate_spike'),
                        label='peak request rate %d/min against the %.1f/min mean of the previous %d min'
                        % (peak, base_rate, baseline_minutes), unit='x',
                        details={'peak_per_minute': peak, 'baseline_per_minute': round(base_rate, 3)})


def _percentiles(hist, total, wanted):
    result = {}
    ordered = sorted(hist.items())
    for pct in wanted:
        rank = max(1, int(math.ceil(total * pct / 100.0)))
        seen = 0
        for index, count in ordered:
            seen += count
            if seen >= rank:
                result[pct] = round(bucket_value(index), 4)
                break
    return result


def _sliding_peak(counts, minutes, limit, first_end, last_end):
    """``(most, at)``: the most events of ``counts`` (``{minute: n}``) in any span of ``minutes`` minutes ending
    between ``first_end`` and ``last_end``, and the first end minute where they went over ``limit`` (None: never)."""
    total = sum(n for m, n in counts.items() if first_end - minutes < m <= first_end - 1)
    most = 0
    at = None
    for end in range(first_end, last_end + 1):
        total += counts.get(end, 0) - counts.get(end - minutes, 0)
        if total > most:
            most = total
        if at is None and total > limit:
            at = end
    return most, at


def _seconds_peak(events, limit, first_minute, span=60):
    """``(most, at)``: the most of ``events`` (``[(epoch second, n)]``) within any ``span`` seconds, and the minute of
    the first event that made them more than ``limit`` in a span ending at or after ``first_minute`` (None: never)."""
    events.sort()
    total = 0
    low = 0
    most = 0
    at = None
    for second, count in events:
        total += count
        while events[low][0] <= second - span:
            total -= events[low][1]
            low += 1
        if total > most:
            most = total
        if at is None and total > limit and second // 60 >= first_minute:
            at = second // 60
    return most, at


def _users_by_ip(seen, limit=None):
    """``{ip: {user: minute}}`` from ``{(ip, user): minute}``; with ``limit``, the latest ``limit`` users of each."""
    result = defaultdict(dict)
    for (ip, user), minute in seen.items():
        result[ip][user] = minute
    if limit is not None:
        for ip, users in result.items():
            if len(users) > limit:
                result[ip] = dict(sorted(users.items(), key=lambda item: (-item[1], item[0]))[:limit])
    return dict(result)


def scan(params, check_mode=False):
    """Run a scan from module parameters; returns the module result (checks + data), state saved unless check mode."""
    def option(name, default):
        value = params.get(name)
        return default if value is None else value

    scanner = Scanner(
        params['sources'], params['state_file'], thresholds=params.get('thresholds'),
        window_minutes=option('window_minutes', 10), history_minutes=option('history_minutes', 60),
        allow_list=params.get('allow_list'), top=option('top', 10), now=params.get('now'),
        utc=option('utc', False), max_line_bytes=option('max_line_bytes', 1 << 20),
        spike_min_rate=option('spike_min_rate', 10.0), check_mode=check_mode, workers=option('workers', 1),
        prefilter=option('prefilter', 'auto'),
        prefilter_min_bytes=option('prefilter_min_bytes', PREFILTER_MIN_BYTES),      # tests: grep for any size
        lock_timeout=params.get('lock_timeout'),
        find_minutes=option('find_minutes', 10), slow_find_minutes=option('slow_find_minutes', 120))
    try:
        output = scanner.run()
        changed = scanner.state_changed()
        if changed:
            scanner.save_state()
    finally:
        scanner.close()
    output['state_file'] = params['state_file']
    output['state_saved'] = changed and not check_mode
    output['changed'] = changed
    return output


def run(params, check_mode=False, host=None):
    """The log_scan module's entry (``result.Report``)."""
    return Report.from_result(scan(params, check_mode=check_mode))
