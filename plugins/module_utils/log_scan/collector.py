# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How ``log_scan`` counts: parsed authentication and HTTP events added to this run's per-minute buckets
(``Collector``), the connections followed across lines and runs, and the per-source counts (``SourceStats``).

Plain Python, importable without Ansible.
"""

import operator
from collections import Counter
from itertools import compress, filterfalse, islice, repeat
from operator import itemgetter

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan import parsers as lp
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.state import Bucket, Latest, time_bucket

CONN_MEMORY_MINUTES = 10        # how long a connection with a "Failed" line is remembered between runs
DEFER_MINUTES = 2               # sshd LoginGraceTime (120 s): an "Invalid user" line may still get its "Failed" line
CONN_SLOT_MINUTES = 5           # connections are told apart by host, pid and time slot: a reused pid is another one
CONN_SPAN_SLOTS = 1             # lines of one connection lie within one slot (5-9 min; LoginGraceTime is 2 min)
PROBE_SPAN_MINUTES = 2          # the pre-auth lines of one probing connection lie within 2 minutes of each other
REPEAT_MAX = 100000             # "message repeated N times": at most this many events for one line


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
