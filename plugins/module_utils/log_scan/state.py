# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What ``log_scan`` keeps between runs: the state file (cursors, per-minute buckets, connections, the users each
address tried) with its lock and generation, and the per-minute ``Bucket`` and ``Latest`` it is made of.

Plain Python, importable without Ansible.
"""

import json
import math
import os
import tempfile
from collections import Counter, defaultdict

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.state_store import FileLock

STATE_VERSION = 1
HIST_BASE = 0.001      # response-time histogram: bucket 0 holds <= 1 ms,
HIST_RATIO = 1.05      # then buckets 5 % wide (percentiles within 2.5 %)
_LOG_RATIO = math.log(HIST_RATIO)

REQUEST_IPS_PER_MINUTE = 200


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
