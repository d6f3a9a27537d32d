# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Expired-session purges that never block logins (``session_cleanup``).

* PostgreSQL: batches, each its own transaction, each one plain ``DELETE`` of the expired rows of a slice of the
  table, with the expiry condition in the ``DELETE`` itself::

      DELETE FROM t WHERE ctid >= '(lo,0)' AND ctid < '(hi,0)' AND expiry < cutoff        -- order=physical
      DELETE FROM t WHERE ctid = ANY(ARRAY(SELECT ctid FROM t WHERE expiry < cutoff AND expiry >= floor
                                           ORDER BY expiry LIMIT n)) AND expiry < cutoff    -- order=expiry

  ``physical`` walks the table in block ranges (a TID range scan, PostgreSQL 14+): sequential I/O and one write
  per deleted row, about as fast as one unbounded ``DELETE``. ``expiry`` deletes the oldest first along the expiry
  index. ``auto`` (the default) takes ``physical`` when the planner expects a large backlog.

  Row locks: a batch waits at most ``ROW_LOCK_WAIT`` (20 ms) for a row someone else holds (a login touching an
  expired session). When that wait times out, the batch is rolled back and run again as lock-then-delete with
  ``FOR UPDATE SKIP LOCKED``, which never waits for a row; the skipped rows are tried once more at the end of the
  run and counted in ``remaining_expired`` when they are still held. ``lock_timeout`` bounds waits for table
  locks, ``statement_timeout`` every statement; a time budget stops the loop cleanly.

  The cutoff (``now() - lifetime - grace``) is fixed when the run starts, and the expiry condition is evaluated by
  the ``DELETE`` on the row version it deletes (READ COMMITTED re-checks a row that changed meanwhile), so a
  session a login extends while the purge runs is never deleted. The table is never counted in full during a real
  run: what is left is counted only where the purge did not look (the part a time budget left, ranges with
  skipped rows).

  Time zones: the expiry column's type is read first. A ``timestamp without time zone`` column is compared with the
  cutoff as wall time of ``stored_time_zone`` (a naive value), never with a ``timestamptz`` (which PostgreSQL
  would read in the session's TimeZone: the database's setting, ``PGTZ``); a DST fall-back right after the cutoff
  moves it back so that no wall time a live session may hold is below it (``_start_query``).
* Redis: ``SCAN`` (never ``KEYS``); each key is judged and deleted inside one Lua script, so a session
  refreshed between the read and the delete is never lost.
* Files: session files older than their lifetime, skipping files a process still holds open.

Identifiers are quoted with ``psycopg.sql``; values are always parameters. Plain Python: unit tests call it.
"""

import json
import math
import time

from decimal import Decimal

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping.file_cleanup import clean_path
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import Budget, parse_duration, pg_interval_ms
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import (
    connect,
    describe,
    qualified_name,
    scrub,
    set_timeouts,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    Report,
    critical,
    evaluate,
    make_check,
    ok,
    threshold_for,
)

EXPIRY_FORMATS = ('timestamp', 'epoch', 'epoch_ms')
VACUUM_CHOICES = ('auto', 'always', 'never')
ORDERS = ('auto', 'expiry', 'physical')
# Consecutive lock timeouts (of the SKIP LOCKED form, i.e. table locks) after which the purge gives up for this run.
MAX_LOCK_TIMEOUTS = 3
# Longest wait (seconds) of a batch for a row lock someone else holds; then the batch runs again with SKIP LOCKED.
# Shorter than deadlock_timeout (1 s by default): when a login waits for a row the batch deleted while the batch
# waits for that login, the batch gives way and the login goes on after at most this long.
ROW_LOCK_WAIT = 0.02
# order=auto: block order when the planner expects at least this share of the table to be expired (and more than
# one batch). Below it, expiry order reads fewer pages when expired rows are clustered.
AUTO_PHYSICAL_SHARE = 0.1
# order=auto keeps expiry order when the expiry column follows the physical order at least this closely
# (pg_stats.correlation): old sessions first in the table, as when rows are appended; expiry order is then about
# as fast as block order (measured on such a table, correlation 0.92: 0.69-0.85x against 0.71-0.89x of one plain
# DELETE; with rows scattered, correlation 0.01: 0.16x against 0.76-0.98x).
AUTO_EXPIRY_CORRELATION = 0.9
# Past the last possible block: the last range of a physical pass also covers pages appended while it ran.
END_TID = '(4294967295,0)'
# Column types (format_type of the column, or of a domain's base type) each expiry_format reads.
TIMESTAMP_TYPES = ('timestamp without time zone', 'timestamp with time zone')
NUMBER_TYPES = ('smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision')
NAIVE_TYPE = 'timestamp without time zone'
# Naive columns: a DST fall-back of stored_time_zone within this long after the cutoff moves the cutoff back by its
# shift (the largest shift in use is 2 hours); offsets are sampled every DST_STEP (transitions are hours apart).
DST_WINDOW_MINUTES = 180
DST_STEP_MINUTES = 15


# ---------------------------------------------------------------------------------------------- PostgreSQL
def _start_query(sql, expiry_format, naive=False, fixed_now=False):
    """The expiry value before which a session counts as expired, ``now() - cutoff`` in the column's storage format
    (the cutoff in seconds is a parameter), the same without the DST allowance below (naive columns, else NULL),
    with the table's size in blocks, whether it is a plain table (block ranges mean nothing across partitions or
    inheritance children) and the server version.

    A ``timestamp without time zone`` column holds wall time of ``stored_time_zone`` (parameter ``zone``): the
    cutoff is that zone's wall time, so the session's TimeZone (database setting, ``PGTZ``, ``PGOPTIONS``) plays no
    part. Where that zone falls back (DST end) within ``DST_WINDOW`` after the cutoff, the wall times of the repeated
    hour stand for instants before and after it: the cutoff is moved back to the smallest wall time of any instant
    from the cutoff on (the cutoff plus the smallest UTC offset in the window, sampled every ``DST_STEP``), so that
    no wall time a live session may hold is below it."""
    now = '%(now)s::timestamptz' if fixed_now else 'now()'
    wall = 'NULL'
    if expiry_format == 'timestamp' and naive:
        bound = ("(SELECT min((cut.at + k * %(step)s::interval) AT TIME ZONE %(zone)s - k * %(step)s::interval) "
                 "FROM generate_series(0, %(steps)s) k)")
        wall = 'cut.at AT TIME ZONE %(zone)s'
    elif expiry_format == 'timestamp':
        bound = 'cut.at'
    elif expiry_format == 'epoch':
        bound = 'extract(epoch FROM ' + now + ')::float8 - %(cutoff)s'
    else:
        bound = '(extract(epoch FROM ' + now + ')::float8 - %(cutoff)s) * 1000'
    return sql.SQL("WITH cut AS (SELECT " + now + " - make_interval(secs => %(cutoff)s) AS at) "
                   "SELECT " + bound + ", " + wall + ", pg_relation_size(c.oid) / current_setting('block_size')::int, "
                   "c.relkind = 'r' AND NOT c.relhassubclass, current_setting('server_version_num')::int "
                   "FROM cut, pg_class c WHERE c.oid = %(rel)s::regclass")


def build_statements(table, key_column, expiry_column, expiry_format='timestamp', schema=None, naive=False,
                     fixed_now=False):
    """The statements of a purge as ``psycopg.sql.Composed`` objects (``probe``, ``start``, ``delete``, ...).

    ``start`` gives the boundary every other statement takes as the parameter ``before``: a session is expired
    when ``expiry < before``. Computed once per run, it is one comparison per row (a stable expression such as
    ``now() - interval`` would be evaluated again for every row a scan reads) and the same for all batches.
    The ``*_locked`` forms are the fallback of a batch that met a row held by someone else: lock what is free
    (``FOR UPDATE SKIP LOCKED``), delete that. ``naive``: the expiry column is ``timestamp without time zone``
    (``_start_query``); ``fixed_now``: ``now()`` is the parameter ``now`` (tests).
    """
    if expiry_format not in EXPIRY_FORMATS:
        raise MaintenanceError('expiry_format must be one of %s, not %r' % (', '.join(EXPIRY_FORMATS), expiry_format))
    for label, value in (('table', table), ('key_column', key_column), ('expiry_column', expiry_column)):
        if not value or not str(value).strip():
            raise MaintenanceError('%s must name a table or column, got %r' % (label, value))
    sql = deps.load('psycopg').sql
    relation = qualified_name([schema, table] if schema else table)
    names = dict(rel=relation, key=sql.Identifier(key_column), expiry=sql.Identifier(expiry_column),
                 expired=sql.SQL('{} < %(before)s').format(sql.Identifier(expiry_column)))

    def stmt(text):
        return sql.SQL(text).format(**dict((k, v) for k, v in names.items() if '{%s}' % k in text))

    oldest = ('SELECT ctid FROM {rel} WHERE {expired} AND {expiry} >= %(floor)s ORDER BY {expiry} LIMIT %(batch)s')
    between = 'SELECT ctid FROM {rel} WHERE {expired} AND {expiry} >= %(lo)s AND {expiry} < %(hi)s'
    in_range = 'ctid >= %(lo)s::tid AND ctid < %(hi)s::tid AND {expired}'
    return {
        'probe': stmt('SELECT {key}, {expiry} FROM {rel} LIMIT 0'),
        # at the start of the run: the expiry boundary, the table's size in blocks and the server version
        'start': _start_query(sql, expiry_format, naive, fixed_now),
        # the expiry column's type (a domain's base type), which decides how the cutoff is computed
        'column_type': sql.SQL('SELECT format_type(coalesce(nullif(t.typbasetype, 0), a.atttypid), NULL) '
                               'FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = '
                               '%(rel)s::regclass AND a.attname = %(column)s AND a.attnum > 0 AND NOT a.attisdropped'),
        # the IANA name of stored_time_zone as PostgreSQL knows it (no abbreviations, no POSIX strings)
        'zone': sql.SQL('SELECT name FROM pg_timezone_names WHERE lower(name) = lower(%(zone)s) '
                        'ORDER BY name = %(zone)s DESC, name LIMIT 1'),
        # naive columns at a DST fall-back: sessions kept because their wall time is also that of a live instant
        'count_deferred': stmt('SELECT count(*) FROM {rel} WHERE {expiry} >= %(before)s AND {expiry} < %(wall)s'),
        # planner estimates (no table access): rows of the table, expired rows (order=auto, range sizes)
        'estimate_rows': stmt('EXPLAIN (FORMAT JSON) SELECT 1 FROM {rel}'),
        'estimate_expired': stmt('EXPLAIN (FORMAT JSON) SELECT 1 FROM {rel} WHERE {expired}'),
        # how closely the expiry column follows the physical order (ANALYZE statistics; order=auto)
        'correlation': stmt('SELECT s.correlation FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename '
                            'JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname '
                            'WHERE c.oid = %(rel)s::regclass AND s.attname = %(column)s AND NOT s.inherited'),
        'count': stmt('SELECT count(*) FROM {rel} WHERE {expired}'),
        'floor': stmt('SELECT min({expiry}) FROM {rel} WHERE {expired}'),
        # order=expiry, a batch of a given number of rows (the first one, after a gap, among equal expiry values):
        # the oldest expired rows from ``floor`` (where the previous batch ended, so the index scan does not wade
        # through the entries of rows already deleted), deleted by their ctid (a TID scan, in block order), the
        # expiry condition repeated on the row deleted. Returns how many went and the newest expiry among them.
        'delete': stmt('WITH gone AS (DELETE FROM {rel} WHERE ctid = ANY(ARRAY(' + oldest + ')) AND {expired} '
                       'RETURNING {expiry}) SELECT count(*), max({expiry}) FROM gone'),
        'delete_locked': stmt('WITH gone AS (DELETE FROM {rel} WHERE ctid = ANY(ARRAY(' + oldest + ' FOR UPDATE '
                              'SKIP LOCKED)) AND {expired} RETURNING {expiry}) SELECT count(*), max({expiry}) FROM gone'),
        # order=expiry, one batch once the span of expiry values holding about one batch is known: the expired
        # rows of [lo, hi), read along the expiry index (or a bitmap of it) in one pass; also the second try of a
        # span where rows were skipped
        'delete_between': stmt('DELETE FROM {rel} WHERE {expired} AND {expiry} >= %(lo)s AND {expiry} < %(hi)s'),
        'delete_between_locked': stmt('DELETE FROM {rel} WHERE ctid = ANY(ARRAY(' + between + ' FOR UPDATE SKIP LOCKED'
                                      ')) AND {expired}'),
        # order=expiry, planner estimate (no table access) of the rows in an expiry span before it is deleted
        'estimate_between': stmt('EXPLAIN (FORMAT JSON) SELECT 1 FROM {rel} WHERE {expired} AND {expiry} >= %(lo)s '
                                 'AND {expiry} < %(hi)s'),
        'count_from': stmt('SELECT count(*) FROM {rel} WHERE {expired} AND {expiry} >= %(floor)s'),
        'count_between': stmt('SELECT count(*) FROM {rel} WHERE {expired} AND {expiry} >= %(lo)s AND {expiry} < %(hi)s'),
        # order=physical, one batch: the expired rows of a range of blocks (TID range scan, PostgreSQL 14+)
        'delete_range': stmt('DELETE FROM {rel} WHERE ' + in_range),
        'delete_range_locked': stmt('DELETE FROM {rel} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {rel} WHERE '
                                    + in_range + ' FOR UPDATE SKIP LOCKED)) AND {expired}'),
        'count_range': stmt('SELECT count(*) FROM {rel} WHERE ' + in_range),
        'relation': relation,
        'vacuum': stmt('VACUUM (ANALYZE) {rel}'),
    }


def choose_order(order, server_version, estimated_rows, estimated_expired, batch_size, correlation=None,
                 plain=True):
    """``(order, reason)``: the batch order a purge uses.

    ``auto`` takes ``physical`` (block order) for a large backlog, when the planner expects at least
    ``AUTO_PHYSICAL_SHARE`` of the rows to be expired and more than one batch of them, unless the expiry column
    follows the physical order closely (``|correlation| >= AUTO_EXPIRY_CORRELATION``): then expiry order reads
    the table almost sequentially too, and keeps deleting the oldest first. Block order needs PostgreSQL 14 and
    a plain table (not partitioned, no inheritance children); otherwise expiry order."""
    if order in ('physical', 'auto') and server_version < 140000:
        return 'expiry', 'PostgreSQL %d has no TID range scan' % server_version
    if order in ('physical', 'auto') and not plain:
        return 'expiry', 'partitioned or inherited table: no block ranges across tables'
    if order != 'auto':
        return order, 'requested'
    share = estimated_expired / float(estimated_rows) if estimated_rows > 0 else 0.0
    large = estimated_expired > batch_size and share >= AUTO_PHYSICAL_SHARE
    clustered = correlation is not None and abs(correlation) >= AUTO_EXPIRY_CORRELATION
    reason = 'planner estimate: %d of %d rows expired (%.0f%%), expiry correlation %s' % (
        estimated_expired, estimated_rows, share * 100, 'unknown' if correlation is None else '%.2f' % correlation)
    return ('physical' if large and not clustered else 'expiry'), reason


class _Recorder(object):
    """Keeps each distinct statement once, with how often it ran, for the ``statements`` return value."""

    def __init__(self, conn):
        self.conn = conn
        self.entries = []
        self._index = {}

    def note(self, composed, params=None):
        text = composed.as_string(self.conn) if hasattr(composed, 'as_string') else str(composed)
        if text not in self._index:
            self._index[text] = len(self.entries)
            self.entries.append({'statement': text, 'params': dict(params or {}), 'runs': 0})
        self.entries[self._index[text]]['runs'] += 1

    def execute(self, cursor, composed, params=None):
        self.note(composed, params)
        cursor.execute(composed, params)
        return cursor


class _Stop(Exception):
    """Ends the batch loop with a reason (done, time_budget, max_batches, lock_timeout, ...)."""

    def __init__(self, reason):
        super(_Stop, self).__init__(reason)
        self.reason = reason


class _Batches(object):
    """The batch loop of one purge: runs batches (fast form, SKIP LOCKED form when a row is held) and keeps track
    of where it is, so that what remains can be counted without reading the whole table."""

    def __init__(self, psycopg, cur, recorder, statements, result, base, budget, batch_size, max_batches, pause,
                 lock_timeout, sleep, params):
        self.psycopg, self.cur, self.recorder, self.statements = psycopg, cur, recorder, statements
        self.result, self.base, self.budget, self.batch = result, base, budget, int(batch_size)
        self.max_batches, self.pause, self.lock_timeout, self.sleep, self.params = (
            max_batches, pause, lock_timeout, sleep, params)
        self.row_wait = pg_interval_ms(min(ROW_LOCK_WAIT, lock_timeout) if lock_timeout else ROW_LOCK_WAIT)
        self.table_wait = pg_interval_ms(lock_timeout)
        self.last = 0.0
        self.lock_timeouts = 0
        self.rest = None        # (count statement, params) of the part of the table not reached yet
        self.skipped = []       # (lo, hi) spans where a batch skipped rows held by others
        self.count_span = None  # count statement of one such span

    def fetch(self, statement, params=None):
        self.recorder.execute(self.cur, statement, dict(self.base, **(params or {})))
        return self.cur.fetchone() if self.cur.description else (self.cur.rowcount,)

    def run(self, fast, locked, params):
        """One batch: ``(row, skipped)``, or None when the batch has to be tried again (it was rolled back)."""
        errors = self.psycopg.errors
        if self.max_batches and self.result['batches'] >= self.max_batches:
            raise _Stop('max_batches')
        if not self.budget.allows(self.last):
            raise _Stop('time_budget')
        started = time.monotonic()
        skipped = False
        try:
            try:
                row = self.fetch(fast, params)
            except errors.LockNotAvailable:
                # someone holds a row of this batch (or the table) longer than ROW_LOCK_WAIT: the batch was rolled
                # back; run it again locking only what is free, waiting for nothing but table locks
                self.result['skip_locked_retries'] += 1
                skipped = True
                set_timeouts(self.cur, lock_timeout=self.table_wait)
                try:
                    row = self.fetch(locked, params)
                finally:
                    set_timeouts(self.cur, lock_timeout=self.row_wait)
        except errors.LockNotAvailable:
            self.result['lock_timeouts'] += 1
            self.lock_timeouts += 1
            if self.lock_timeouts >= MAX_LOCK_TIMEOUTS:
                raise _Stop('lock_timeout')
            self.sleep(max(self.pause, self.lock_timeout or 0))
            return None
        except errors.QueryCanceled:
            self.result['statement_timeouts'] += 1
            if self.batch == 1:
                raise _Stop('statement_timeout')
            self.batch = max(self.batch // 2, 1)  # smaller batches until one fits in statement_timeout
            return None
        except self.psycopg.Error as exc:
            self.result['error'] = scrub(exc, self.params)
            raise _Stop('error')
        self.lock_timeouts = 0
        self.last = time.monotonic() - started
        self.result['batches'] += 1
        self.result['deleted'] += row[0]
        if self.pause and row[0]:
            self.sleep(self.pause)
        return row, skipped

    # ------------------------------------------------------------------------------------ block order
    def physical(self, pages, rows_per_page):
        """Delete the expired rows range of blocks by range of blocks, ranges sized to about one batch."""
        st = self.statements
        self.count_span = st['count_range']
        set_timeouts(self.cur, lock_timeout=self.row_wait)
        # first range: one batch if every row were expired; then sized by what the previous range held
        step = max(int(self.batch / rows_per_page), 1)
        largest = step * 4   # never more than about 4 batches in one range, whatever the estimate says
        low = 0
        while True:
            lo = '(%d,0)' % low
            self.rest = (st['count_range'], {'lo': lo, 'hi': END_TID})
            high = low + step
            hi = END_TID if high >= pages else '(%d,0)' % high
            outcome = self.run(st['delete_range'], st['delete_range_locked'], {'lo': lo, 'hi': hi})
            if outcome is None:
                step = max(step // 2, 1)
                continue
            (deleted,), skipped = outcome
            if skipped:
                self.skipped.append((lo, hi))
            if hi == END_TID:
                break
            low = high
            step = max(min(int(step * self.batch / float(max(deleted, 1))), step * 4, largest), 1)
        self.rest = None
        self._retry_skipped(st['delete_range'], st['delete_range_locked'])

    # ------------------------------------------------------------------------------------ expiry order
    def expiry(self):
        """Delete the oldest expired rows first, along the expiry index: batches of ``batch`` rows (``LIMIT``) until
        the span of expiry values that holds about one batch is known, then span by span ([lo, hi) read in one
        pass, about half the work per row), each span checked against the planner's estimate before it runs."""
        st = self.statements
        self.count_span = st['count_between']
        lo = self.fetch(st['floor'])[0]
        set_timeouts(self.cur, lock_timeout=self.row_wait)
        span, shrunk = None, 0
        while lo is not None:
            self.rest = (st['count_from'], {'floor': lo})
            if span is None:
                outcome = self.run(st['delete'], st['delete_locked'], {'floor': lo, 'batch': self.batch})
                if outcome is None:
                    continue
                (count, newest), skipped = outcome
                if count == 0:
                    if not skipped:
                        self.rest = None   # no expired row left from lo on
                    break                  # else what is left from lo on is held by others: counted as the rest
                if skipped and newest > lo:
                    # the skipped rows lie in [lo, newest); rows at newest itself are in the next batch's reach
                    self.skipped.append((lo, newest))
                span = _span(lo, newest)   # None when every row had the same expiry: LIMIT again
                lo = newest
                continue
            hi = lo + span
            estimate = _plan_rows(self.fetch(st['estimate_between'], {'lo': lo, 'hi': hi}))
            if estimate > 2 * self.batch:
                # expiry values bunch up ahead (a mass logout): a shorter span; a batch of rows if it gets too short
                shrunk += 1
                span = _scale(span, self.batch / float(estimate)) if shrunk < 8 else None
                continue
            shrunk = 0
            outcome = self.run(st['delete_between'], st['delete_between_locked'], {'lo': lo, 'hi': hi})
            if outcome is None:
                span = _scale(span, 0.5)
                continue
            (count,), skipped = outcome
            if skipped:
                self.skipped.append((lo, hi))
            lo = hi
            # the next span holds about one batch at this density (at most 4 times longer); after an empty span
            # a batch of rows jumps the gap, or finds that nothing is left
            span = _scale(span, min(self.batch / float(count), 4.0)) if count else None
        self._retry_skipped(st['delete_between'], st['delete_between_locked'])

    # ------------------------------------------------------------------------------------ both
    def _retry_skipped(self, fast, locked):
        """One more try of each span where rows were skipped (the login has probably committed by now)."""
        for span in list(self.skipped):
            outcome = None
            while outcome is None:
                outcome = self.run(fast, locked, {'lo': span[0], 'hi': span[1]})
            if not outcome[1]:
                self.skipped.remove(span)   # nothing held any more: every expired row of the span went

    def remaining(self):
        """Expired rows left: counted in the part not reached yet and in the spans with skipped rows only."""
        total = self.fetch(*self.rest)[0] if self.rest is not None else 0
        for lo, hi in self.skipped:
            total += self.fetch(self.count_span, {'lo': lo, 'hi': hi})[0]
        return total


def _span(low, high):
    """``high - low`` of two expiry values (a timedelta for timestamps), None when they are equal."""
    difference = high - low
    return difference if difference else None


def _scale(span, factor):
    """A span times ``factor``, kept in the column's type (whole numbers for integer columns, so the expiry index
    stays usable); None when it becomes empty."""
    if isinstance(span, int):
        scaled = int(math.ceil(span * factor))
    elif isinstance(span, Decimal):
        scaled = span * Decimal(repr(factor))
    else:
        scaled = span * factor   # timedelta (rounded to microseconds) or float
    return scaled if scaled else None


def _plan_rows(row):
    """Rows the planner expects, from ``EXPLAIN (FORMAT JSON)``."""
    plan = row[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]['Plan']['Plan Rows'])


def purge_postgres(params, table, key_column, expiry_column, schema=None, expiry_format='timestamp',
                   grace=0.0, lifetime=None, batch_size=5000, pause=0.0, time_budget=None, max_batches=None,
                   lock_timeout=2.0, statement_timeout=30.0, vacuum='auto', vacuum_min_rows=10000,
                   check_mode=False, thresholds=None, sleep=time.sleep, order='auto', stored_time_zone='UTC', now=None):
    """Purge expired sessions in batches; returns a result dict with ``checks``.

    ``order``: ``expiry`` deletes the oldest sessions first (what a time budget cuts short is the most recently
    expired); ``physical`` walks the table in block order (sequential I/O, several times faster on large backlogs;
    a time budget leaves expired rows of any age at the end of the table); ``auto`` takes ``physical`` when the
    planner expects a large backlog (``choose_order``).

    ``grace``, ``lifetime``, ``pause``, ``time_budget``, ``lock_timeout`` and ``statement_timeout`` are seconds.
    A session is expired when ``expiry < start - (lifetime + grace)``, ``start`` being the server's ``now()``
    when the run starts (or ``now``, an aware datetime, for tests); ``lifetime`` is for tables that store the last
    activity instead of an expiry time.

    The expiry column's type is read first and must suit ``expiry_format`` (``timestamp``: ``timestamp`` or
    ``timestamptz``; ``epoch``/``epoch_ms``: a number type). A ``timestamp without time zone`` column holds wall time
    of ``stored_time_zone`` (an IANA name PostgreSQL knows, checked against ``pg_timezone_names``); the cutoff is
    computed in that zone, whatever the session's TimeZone (see ``_start_query`` for DST).
    """
    if batch_size is None or int(batch_size) < 1:
        raise MaintenanceError('batch_size must be at least 1, got %r' % batch_size)
    if order not in ORDERS:
        raise MaintenanceError('order must be one of %s, not %r' % (', '.join(ORDERS), order))
    if vacuum not in VACUUM_CHOICES:
        raise MaintenanceError('vacuum must be one of %s, not %r' % (', '.join(VACUUM_CHOICES), vacuum))
    if not isinstance(stored_time_zone, str) or not stored_time_zone.strip():
        raise MaintenanceError('stored_time_zone must name the time zone the application writes naive expiry times '
                               'in (an IANA name such as UTC or Europe/Berlin), got %r' % (stored_time_zone,))
    psycopg = deps.load('psycopg')
    statements = build_statements(table, key_column, expiry_column, expiry_format, schema)
    cutoff = float(grace or 0) + float(lifetime or 0)
    target = '%s %s' % (describe(params), '.'.join([schema, table]) if schema else table)
    result = {'backend': 'postgres', 'target': target, 'deleted': 0, 'would_delete': 0, 'remaining_expired': None,
              'expired_before': None, 'batches': 0, 'duration': 0.0, 'stopped': None, 'lock_timeouts': 0,
              'skip_locked_retries': 0, 'statement_timeouts': 0, 'vacuumed': False, 'order': None,
              'order_reason': None, 'column_type': None, 'stored_time_zone': None, 'deferred_ambiguous': 0,
              'statements': [], 'changed': False, 'checks': []}
    started = time.monotonic()
    connection = connect(params)
    if not connection.ok:
        result['checks'].append(critical('session_cleanup.postgres', 'cannot connect: %s' % connection.error,
                                         target=target))
        result['stopped'] = 'connection'
        return result
    with connection:
        conn = connection.conn
        recorder = _Recorder(conn)
        cur = conn.cursor()
        estimated_rows, estimated_expired, correlation = 0, 0, None
        try:
            set_timeouts(cur, lock_timeout=pg_interval_ms(lock_timeout), statement_timeout=pg_interval_ms(statement_timeout))
            recorder.execute(cur, statements['probe'])
            rel = statements['relation'].as_string(conn)
            recorder.execute(cur, statements['column_type'], {'rel': rel, 'column': expiry_column})
            result['column_type'] = (cur.fetchone() or (None,))[0]
            problem = _column_problem(expiry_column, result['column_type'], expiry_format)
            zone = None
            if problem is None and expiry_format == 'timestamp' and result['column_type'] == NAIVE_TYPE:
                recorder.execute(cur, statements['zone'], {'zone': stored_time_zone})
                zone = (cur.fetchone() or (None,))[0]
                if zone is None:
                    problem = ('stored_time_zone %r is not a time zone name PostgreSQL knows (pg_timezone_names); give '
                               'the IANA name of the zone the application writes %s in (for example UTC or '
                               'Europe/Berlin; abbreviations and POSIX strings such as UTC+5 are refused)'
                               % (stored_time_zone, expiry_column))
                result['stored_time_zone'] = zone
            if problem is not None:
                result['statements'] = recorder.entries
                result['stopped'] = 'error'
                result['checks'].append(critical('session_cleanup.postgres', problem, target=target))
                return result
            if zone is not None:
                statements = build_statements(table, key_column, expiry_column, expiry_format, schema, naive=True,
                                              fixed_now=now is not None)
            elif now is not None:
                statements = build_statements(table, key_column, expiry_column, expiry_format, schema, fixed_now=True)
            start = {'rel': rel, 'cutoff': cutoff}
            if zone is not None:
                start.update(zone=zone, step='%d minutes' % DST_STEP_MINUTES,
                             steps=DST_WINDOW_MINUTES // DST_STEP_MINUTES)
            if now is not None:
                start['now'] = now
            recorder.execute(cur, statements['start'], start)
            before, wall, pages, plain, version = cur.fetchone()
            base = {'before': before}
            if wall is not None and wall > before:
                # a DST fall-back of stored_time_zone just after the cutoff: the sessions whose wall time lies in the
                # repeated hour are kept for a later run; counted (a short range of the expiry column)
                recorder.execute(cur, statements['count_deferred'], {'before': before, 'wall': wall})
                result['deferred_ambiguous'] = cur.fetchone()[0]
            if check_mode:
                recorder.execute(cur, statements['count'], base)
                result['expired_before'] = cur.fetchone()[0]
            elif order != 'expiry':
                recorder.execute(cur, statements['estimate_rows'])
                estimated_rows = _plan_rows(cur.fetchone())
                recorder.execute(cur, statements['estimate_expired'], base)
                estimated_expired = _plan_rows(cur.fetchone())
                recorder.execute(cur, statements['correlation'], {'rel': statements['relation'].as_string(conn),
                                                                  'column': expiry_column})
                correlation = (cur.fetchone() or (None,))[0]
        except psycopg.Error as exc:
            result['statements'] = recorder.entries
            result['stopped'] = 'error'
            result['checks'].append(critical('session_cleanup.postgres', 'cannot read the sessions table: %s'
                                             % scrub(exc, params), target=target))
            return result
        if check_mode:
            result['would_delete'] = result['expired_before']
            result['remaining_expired'] = result['expired_before']
            result['stopped'] = 'check_mode'
            result['duration'] = round(time.monotonic() - started, 3)
            result['statements'] = recorder.entries
            result['checks'].append(ok('session_cleanup.purge', 'check mode: %s expired session(s) would be deleted%s'
                                       % (result['expired_before'], _time_note(result)), target=target,
                                       value=result['expired_before'], unit='sessions'))
            return result

        if order == 'expiry':
            used, reason = 'expiry', 'requested'
        else:
            used, reason = choose_order(order, version, estimated_rows, estimated_expired, int(batch_size), correlation,
                                        plain)
        result['order'], result['order_reason'] = used, reason
        budget = Budget(time_budget)
        loop = _Batches(psycopg, cur, recorder, statements, result, base, budget, batch_size, max_batches, pause,
                        lock_timeout, sleep, params)
        try:
            if used == 'physical':
                # rows per block from the planner's row estimate (at least 1), for the size of the first range
                loop.physical(pages, max(estimated_rows / float(max(pages, 1)), 1.0))
            else:
                loop.expiry()
            raise _Stop('done')
        except _Stop as stop:
            result['stopped'] = stop.reason
        except psycopg.Error as exc:
            result['stopped'] = 'error'
            result['error'] = scrub(exc, params)
        result['batch_size'] = loop.batch
        try:
            set_timeouts(cur, lock_timeout=pg_interval_ms(lock_timeout))
            result['remaining_expired'] = loop.remaining()
            result['expired_before'] = result['deleted'] + result['remaining_expired']
        except psycopg.Error as exc:
            result.setdefault('error', scrub(exc, params))
        do_vacuum = vacuum == 'always' or (vacuum == 'auto' and result['deleted'] >= int(vacuum_min_rows or 0)
                                           and result['deleted'] > 0)
        if do_vacuum:
            remaining = budget.remaining()
            try:
                set_timeouts(cur, statement_timeout=pg_interval_ms(remaining) if remaining else '0')
                recorder.execute(cur, statements['vacuum'])
                result['vacuumed'] = True
            except psycopg.Error as exc:
                result['vacuum_error'] = scrub(exc, params)
        result['statements'] = recorder.entries
    result['duration'] = round(time.monotonic() - started, 3)
    result['changed'] = result['deleted'] > 0 or result['vacuumed']
    result['checks'] = _postgres_checks(result, thresholds, target)
    return result


def _column_problem(column, column_type, expiry_format):
    """Why the expiry column cannot be read with ``expiry_format`` (a message naming the options), or None."""
    if column_type is None:
        return 'expiry_column %r: its type could not be read' % column
    if expiry_format == 'timestamp' and column_type in TIMESTAMP_TYPES:
        return None
    if expiry_format != 'timestamp' and column_type in NUMBER_TYPES:
        return None
    if column_type in NUMBER_TYPES:
        hint = 'set expiry_format to epoch (Unix seconds) or epoch_ms (milliseconds)'
    elif column_type in TIMESTAMP_TYPES:
        hint = 'set expiry_format to timestamp'
    else:
        hint = 'session_cleanup reads timestamp, timestamptz and number (Unix time) columns only'
    return 'expiry_column %r is %s, which expiry_format %s cannot read: %s' % (column, column_type, expiry_format,
                                                                               hint)


def _time_note(result):
    """How the expiry column was read, for naive columns (the zone matters), and what a DST fall-back deferred."""
    if result.get('column_type') != NAIVE_TYPE:
        return ''
    note = '; expiry column is timestamp without time zone, read as %s wall time (stored_time_zone)' % (
        result['stored_time_zone'])
    if result.get('deferred_ambiguous'):
        note += ('; %d session(s) whose wall time falls in the hour %s repeats at the end of DST were kept for a '
                 'later run' % (result['deferred_ambiguous'], result['stored_time_zone']))
    return note


_STOP_REASONS = {
    'done': 'no expired session left',
    'time_budget': 'time budget reached',
    'max_batches': 'max_batches reached',
    'lock_timeout': 'gave up after %d consecutive lock timeouts' % MAX_LOCK_TIMEOUTS,
    'statement_timeout': 'a single-row batch exceeded statement_timeout',
    'error': 'stopped by an error',
}


def _postgres_checks(result, thresholds, target):
    summary = 'deleted %d expired session(s) in %d batch(es) in %.1f s; %s' % (
        result['deleted'], result['batches'], result['duration'], _STOP_REASONS.get(result['stopped'], result['stopped']))
    if result['stopped'] == 'done' and result['remaining_expired']:
        summary += ' but %d held by others were skipped' % result['remaining_expired']
    summary += _time_note(result)
    details = dict((key, result.get(key)) for key in ('deleted', 'batches', 'order', 'lock_timeouts',
                                                      'skip_locked_retries', 'statement_timeouts', 'stopped',
                                                      'vacuumed', 'vacuum_error', 'error', 'column_type',
                                                      'stored_time_zone', 'deferred_ambiguous'))
    details = dict((k, v) for k, v in details.items() if v is not None)
    if result['stopped'] == 'error':
        purge = critical('session_cleanup.purge', '%s: %s' % (summary, result.get('error')), target=target,
                         value=result['deleted'], unit='sessions', details=details)
    elif result['stopped'] in ('lock_timeout', 'statement_timeout') or result.get('vacuum_error'):
        reason = summary + ('; VACUUM failed: %s' % result['vacuum_error'] if result.get('vacuum_error') else '')
        purge = make_check('session_cleanup.purge', 'warning', reason, target=target, value=result['deleted'],
                           unit='sessions', priority='medium', details=details)
    else:
        purge = ok('session_cleanup.purge', summary, target=target, value=result['deleted'], unit='sessions',
                   details=details)
    backlog = evaluate('session_cleanup.expired_backlog', result['remaining_expired'],
                       threshold_for(thresholds, 'session_expired_backlog'), label='expired sessions left',
                       target=target, unit='sessions')
    return [purge, backlog]


# ---------------------------------------------------------------------------------------------- Redis
# KEYS[1]: the key. ARGV: field, now, grace, default_ttl, dry ('1'), scale (embedded expiry units per second).
# Returns 0 live (kept), 1 expired (deleted), 2 TTL given, 3 no expiry and no TTL (left alone), 4 gone.
REDIS_SCRIPT = """
local field = ARGV[1]
local now = tonumber(ARGV[2])
local grace = tonumber(ARGV[3])
local default_ttl = tonumber(ARGV[4])
local dry = ARGV[5] == '1'
local scale = tonumber(ARGV[6])
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return 4 end
local expiry = nil
if field ~= '' then
  if kind == 'hash' then
    expiry = tonumber(redis.call('HGET', KEYS[1], field))
  elseif kind == 'string' then
    local raw = redis.call('GET', KEYS[1])
    local okay, doc = pcall(cjson.decode, raw)
    if okay and type(doc) == 'table' then expiry = tonumber(doc[field]) end
  end
end
if expiry ~= nil then expiry = expiry / scale end
if expiry ~= nil and expiry + grace < now then
  if not dry then redis.call('DEL', KEYS[1]) end
  return 1
end
if redis.call('TTL', KEYS[1]) == -1 then
  local seconds = 0
  if expiry ~= nil then
    seconds = math.ceil(expiry + grace - now)
  elseif default_ttl > 0 then
    seconds = default_ttl
  end
  if seconds > 0 then
    if not dry then redis.call('EXPIRE', KEYS[1], seconds) end
    return 2
  end
  return 3
end
return 0
"""


def redis_client(host='127.0.0.1', port=6379, password=None, username=None, db=0, tls=False, ca_cert=None,
                 timeout=5.0):
    redis = deps.load('redis')
    kwargs = dict(host=host, port=port, password=password, db=db, socket_timeout=timeout,
                  socket_connect_timeout=timeout)
    if username:
        kwargs['username'] = username
    if tls:
        kwargs['ssl'] = True
        if ca_cert:
            kwargs['ssl_ca_certs'] = ca_cert
    return redis.Redis(**kwargs)


def purge_redis(client, pattern, expiry_field=None, expiry_unit='s', grace=0.0, default_ttl=None, scan_count=500,
                time_budget=None, check_mode=False, target=None, thresholds=None, password=None):
    """SCAN keys matching ``pattern``; delete those whose embedded expiry has passed, give a TTL to those without."""
    if not pattern or not pattern.strip('*'):
        raise MaintenanceError('pattern must name the session keys (for example "session:*"), not %r' % pattern)
    if expiry_unit not in ('s', 'ms'):
        raise MaintenanceError('expiry_unit must be s or ms, not %r' % expiry_unit)
    redis = deps.load('redis')
    target = target or 'redis %s' % pattern
    result = {'backend': 'redis', 'target': target, 'scanned': 0, 'deleted': 0, 'would_delete': 0, 'ttl_set': 0,
              'would_set_ttl': 0, 'kept': 0, 'no_expiry': 0, 'duration': 0.0, 'stopped': None,
              'changed': False, 'checks': []}
    started = time.monotonic()
    budget = Budget(time_budget)
    counters = {1: 'deleted', 2: 'ttl_set', 3: 'no_expiry', 0: 'kept'}
    if check_mode:
        counters.update({1: 'would_delete', 2: 'would_set_ttl'})
    try:
        script = client.register_script(REDIS_SCRIPT)
        now = client.time()
        now = now[0] + now[1] / 1e6
        scale = 1000 if expiry_unit == 'ms' else 1
        args = [expiry_field or '', repr(now), repr(float(grace or 0)), str(int(default_ttl or 0)),
                '1' if check_mode else '0', str(scale)]
        cursor = 0
        while True:
            if not budget.allows():
                result['stopped'] = 'time_budget'
                break
            cursor, keys = client.scan(cursor=cursor, match=pattern, count=scan_count)
            if keys:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    script(keys=[key], args=args, client=pipe)
                for code in pipe.execute():
                    name = counters.get(int(code))
                    if name:
                        result[name] += 1
                result['scanned'] += len(keys)
            if int(cursor) == 0:
                result['stopped'] = 'done'
                break
    except redis.RedisError as exc:
        message = str(exc)
        if password:
            message = message.replace(password, '********')
        result['stopped'] = 'error'
        result['duration'] = round(time.monotonic() - started, 3)
        result['checks'].append(critical('session_cleanup.redis', 'Redis error: %s' % message, target=target))
        return result
    result['duration'] = round(time.monotonic() - started, 3)
    result['changed'] = bool(result['deleted'] or result['ttl_set'])
    if check_mode:
        reason = 'check mode: scanned %d key(s); %d expired would be deleted, %d would get a TTL' % (
            result['scanned'], result['would_delete'], result['would_set_ttl'])
    else:
        reason = 'scanned %d key(s) in %.1f s; deleted %d expired, gave %d a TTL, %d live' % (
            result['scanned'], result['duration'], result['deleted'], result['ttl_set'], result['kept'])
    if result['stopped'] == 'time_budget':
        reason += '; time budget reached before the scan finished'
    if result['no_expiry']:
        reason += '; %d key(s) have neither an embedded expiry nor a TTL' % result['no_expiry']
    status = 'warning' if result['stopped'] == 'time_budget' or result['no_expiry'] else 'ok'
    result['checks'].append(make_check('session_cleanup.redis', status, reason, target=target,
                                       value=result['deleted'] if not check_mode else result['would_delete'],
                                       unit='keys', priority='low' if status == 'ok' else 'medium',
                                       details=dict((k, result[k]) for k in ('scanned', 'deleted', 'would_delete',
                                                                             'ttl_set', 'would_set_ttl', 'kept',
                                                                             'no_expiry'))))
    return result


# ---------------------------------------------------------------------------------------------- files
def _matches_every_name(pattern):
    """Whether a file name pattern has nothing but wildcards (``*``, ``?``) and slashes: it matches (about) every
    file, hidden ones included."""
    return not pattern.replace('*', '').replace('?', '').replace('/', '').strip()


def check_patterns(patterns, allow_match_all=False):
    """The session file patterns, refused when they are missing or would match every file.

    An empty list, empty strings, or (unless ``allow_match_all``) a pattern of wildcards only (``*``, ``?*``,
    ``*/*``) are refused: the directory of session files often holds other files (``.htaccess``, a configuration
    file, a database) that the old default of matching everything deleted."""
    cleaned = [pattern for pattern in (patterns or []) if pattern is not None and str(pattern).strip()]
    if not cleaned or len(cleaned) != len(patterns or []):
        raise MaintenanceError('patterns must list the file name patterns of the session files (for example '
                               '["sess_*"]); got %r, which names no file' % (patterns,))
    broad = [pattern for pattern in cleaned if _matches_every_name(pattern)]
    if broad and not allow_match_all:
        raise MaintenanceError('patterns %r would match every file in the directory (%s); name the session files '
                               '(for example "sess_*"), or set allow_match_all when the directory holds nothing but '
                               'session files' % (cleaned, ', '.join(broad)))
    return cleaned


def purge_files(path, lifetime, grace=0.0, patterns=('sess_*',), recurse=False, check_mode=False, thresholds=None,
                allow_match_all=False):
    """Session files older than ``lifetime + grace`` seconds, skipping files a process holds open; ``patterns``
    must name them (``check_patterns``)."""
    if lifetime is None:
        raise MaintenanceError('lifetime is required for file sessions (for example 24m for PHP\'s default)')
    patterns = check_patterns(patterns, allow_match_all)
    started = time.monotonic()
    outcome = clean_path(path, age=float(lifetime) + float(grace or 0), patterns=patterns,
                         recurse=recurse, skip_open=True, check_mode=check_mode, check_prefix='session_cleanup.files',
                         thresholds=thresholds)
    outcome.update(backend='files', deleted=outcome['removed'], would_delete=outcome['would_remove'],
                   duration=round(time.monotonic() - started, 3), stopped='check_mode' if check_mode else 'done')
    return outcome


REQUIRES = {'postgres': ('psycopg',), 'redis': ('redis',), 'files': ()}
"""The libraries each ``backend`` of the session_cleanup module needs on the host (``deps.require``)."""


def run(params, check_mode=False, host=None):
    """The session_cleanup module's entry (``result.Report``): the durations parsed, then the chosen backend."""
    p = params
    seconds = dict((name, parse_duration(p[name], name, allow_none=True)) for name in (
        'grace', 'lifetime', 'pause', 'time_budget', 'lock_timeout', 'statement_timeout', 'default_ttl'))
    if p['backend'] == 'postgres':
        result = purge_postgres(p, p['table'], p['key_column'], p['expiry_column'], schema=p['schema'],
                                expiry_format=p['expiry_format'], grace=seconds['grace'], lifetime=seconds['lifetime'],
                                batch_size=p['batch_size'], order=p['order'], pause=seconds['pause'],
                                time_budget=seconds['time_budget'],
                                max_batches=p['max_batches'], lock_timeout=seconds['lock_timeout'],
                                statement_timeout=seconds['statement_timeout'], vacuum=p['vacuum'],
                                vacuum_min_rows=p['vacuum_min_rows'], check_mode=check_mode,
                                thresholds=p['thresholds'], stored_time_zone=p['stored_time_zone'])
    elif p['backend'] == 'redis':
        client = redis_client(p['redis_host'], p['redis_port'], p['redis_password'], p['redis_username'],
                              p['redis_db'], p['redis_tls'], p['redis_ca_cert'])
        result = purge_redis(client, p['pattern'], p['expiry_field'], p['expiry_unit'], seconds['grace'],
                             seconds['default_ttl'], p['scan_count'], seconds['time_budget'], check_mode,
                             target='redis://%s:%s/%s %s' % (p['redis_host'], p['redis_port'], p['redis_db'], p['pattern']),
                             thresholds=p['thresholds'], password=p['redis_password'])
    else:
        result = purge_files(p['path'], seconds['lifetime'], seconds['grace'], p['patterns'], p['recurse'],
                             check_mode, p['thresholds'], allow_match_all=p['allow_match_all'])
    return Report.from_result(result)
