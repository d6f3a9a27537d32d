# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The outcome store: one JSON object per task result per host.

Writers (the ``autopilotcx.maintenance.outcomes`` callback) and readers (the
promotion gate, the review reports) share this file. Plain Python: the unit
tests use it without Ansible.

* ``JsonlWriter`` appends each record with one ``write`` on an ``O_APPEND``
  descriptor, so concurrent runs never tear a line; writers hold an exclusive
  ``flock`` for the instant of a write, so a write cut short by a full disk is
  cut off again, and a torn last line left by a crash is cut before appending.
* ``OutcomeFile`` is the callback's file: a failed write never raises; the
  record is held and retried, and what still fails at the end goes to a
  fallback file in another directory, reported once by ``problem()``.
* ``Redactor`` removes secrets: values under secret-looking keys, and every
  occurrence of the values it is told are secret (the run's extra vars).
* ``Redactor`` also hides URL passwords and secret-looking query or
  ``key=value`` parameters in any text (``redact.redact_text``), and play vars
  with secret-looking names by value.
* ``redact_rendered`` hides, in a rendered task name, what the template's
  expressions on secret variables produced.
* ``PostgresSink`` spools records to a per-run local file and sends spooled
  files to PostgreSQL; a file is claimed by renaming it before it is sent and
  deleted only after its rows are committed, and rows are keyed by record id,
  so nothing is lost and nothing is doubled, however many runs flush at once.
  Records the spool cannot take (full disk) are kept in memory and sent too.
* ``read_jsonl``/``read_postgres`` read records back for a period.
"""

import collections
import errno
import datetime
import glob
import hashlib
import json
import os
import re
import tempfile
import time
import uuid
from types import ModuleType
from typing import IO, Any, Callable, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, cast

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps, times
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.redact import REDACTED, dsn_secrets, redact_text, scrub

fcntl: Optional[ModuleType]
try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

Record = Dict[str, Any]
Moment = Union[str, datetime.datetime, None]

DEFAULT_REDACT_KEYS = (
    'password', 'passwd', 'passphrase', 'secret', 'token', 'api_key', 'apikey', 'private_key',
    'authorization', 'cookie', 'credential', 'client_secret', 'login_password', 'dsn',
)

# Keys Ansible adds to results for its own use; never stored.
INTERNAL_KEYS = ('_ansible_no_log', '_ansible_verbose_always', '_ansible_verbose_override', '_ansible_item_label',
                 '_ansible_ignore_errors', '_ansible_delegated_vars', '_ansible_parsed', 'invocation',
                 'ansible_facts', '_ansible_item_result', '_ansible_notify')

# Fields whose values are vocabulary or identifiers, never free text: value redaction leaves them alone so that
# an extra var that happens to equal a status ("critical") or a host name cannot corrupt a record's structure.
STRUCTURAL_KEYS = frozenset(('status', 'worst', 'priority', 'kind', 'id', 'run_id', 'recorded_at', 'started_at', 'ended_at',
                             'action', 'name', 'unit', 'check_mode', 'changed', 'duration', 'seq', 'control_node',
                             'playbook', 'cadence', 'play', 'counts', 'host', 'delegated_to', 'user'))

# Words that are never secrets, even when given as extra vars (statuses, priorities, booleans).
NOT_SECRETS = frozenset(('ok', 'warning', 'critical', 'unknown', 'never', 'low', 'medium', 'high', 'true', 'false',
                         'yes', 'no', 'none', 'null', 'changed', 'failed', 'skipped'))

RECORD_COLUMNS = ('id', 'run_id', 'kind', 'recorded_at', 'playbook', 'cadence', 'host', 'task', 'action', 'status', 'worst')


# The record time format (``recorded_at``, ``started_at``): UTC to the microsecond; the one clock and parser.
iso = times.iso_utc_micro
utc_now = times.utc_now
parse_iso = times.parse_iso


class Redactor(object):
    """Replace secrets in a record before it is stored or shown.

    ``keys``: substrings of dict keys whose values are secret (case-insensitive).
    ``values``: literal strings that must never appear (e.g. extra-var values);
    strings shorter than ``min_length`` are ignored so that ``yes`` or ``10``
    do not blank out every message.
    """

    def __init__(self, keys: Iterable[str] = DEFAULT_REDACT_KEYS, values: Iterable[Any] = (), min_length: int = 4) -> None:
        self.keys = tuple(k.lower() for k in keys if k)
        self.min_length = min_length
        self.values: List[str] = []
        self.add_values(values)

    def add_values(self, values: Iterable[Any]) -> None:
        for value in values:
            if (isinstance(value, str) and len(value) >= self.min_length and value not in self.values
                    and value.strip().lower() not in NOT_SECRETS):
                self.values.append(value)
        # Longest first so that a secret containing another is replaced whole.
        self.values.sort(key=len, reverse=True)

    def secret_key(self, key: object) -> bool:
        lowered = str(key).lower()
        return any(k in lowered for k in self.keys)

    def text(self, value: str) -> str:
        for secret in self.values:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return redact_text(value)

    def __call__(self, data: Any) -> Any:
        if isinstance(data, dict):
            cleaned = {}
            for key, value in data.items():
                if key in INTERNAL_KEYS:
                    continue
                if self.secret_key(key) and value not in (None, '', False) and not isinstance(value, (dict, list, bool)):
                    cleaned[key] = REDACTED
                elif key in STRUCTURAL_KEYS and not isinstance(value, (dict, list)):
                    cleaned[key] = value
                else:
                    cleaned[key] = self(value)
            return cleaned
        if isinstance(data, (list, tuple)):
            return [self(item) for item in data]
        if isinstance(data, str):
            return self.text(data)
        return data


_EXPRESSION = re.compile(r'{{.*?}}', re.DOTALL)
_IDENTIFIER = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


def redact_rendered(template: object, rendered: Any, secret_name: Callable[[str], bool]) -> Any:
    """``rendered`` (a templated task name) with what the expressions of ``template`` that mention a secret variable
    produced replaced by ``********``.

    ``secret_name(identifier)`` says whether a variable is secret. The literal text between the expressions anchors
    each expression's output; when the rendered text cannot be matched to the template (or the template has blocks),
    the template itself is returned with its secret expressions replaced: it holds no values.
    """
    if not isinstance(template, str) or '{{' not in template or not isinstance(rendered, str):
        return rendered
    pieces: List[Union[str, int]] = []
    secret: List[bool] = []
    position = 0
    for match in _EXPRESSION.finditer(template):
        literal = template[position:match.start()]
        mentions = any(secret_name(name) for name in _IDENTIFIER.findall(match.group(0)[2:-2]))
        if pieces and not literal and isinstance(pieces[-1], int):  # adjacent expressions: one group
            secret[-1] = secret[-1] or mentions
        else:
            if literal:
                pieces.append(literal)
            pieces.append(len(secret))
            secret.append(mentions)
        position = match.end()
    if template[position:]:
        pieces.append(template[position:])
    if not any(secret):
        return rendered
    fallback = _EXPRESSION.sub(lambda m: REDACTED if any(secret_name(n) for n in _IDENTIFIER.findall(m.group(0)[2:-2]))
                               else m.group(0), template)
    if '{%' in template or '{#' in template:
        return fallback
    pattern = ''.join('(.*?)' if isinstance(p, int) else re.escape(p) for p in pieces)
    found = re.match('^%s$' % pattern, rendered, re.DOTALL)
    if found is None:
        return fallback
    out = []
    for piece in pieces:
        if isinstance(piece, int):
            out.append(REDACTED if secret[piece] else found.group(piece + 1))
        else:
            out.append(piece)
    return ''.join(out)


def string_leaves(data: Any) -> Iterator[str]:
    """Every string inside nested dicts/lists (used to collect extra-var values)."""
    if isinstance(data, dict):
        for value in data.values():
            yield from string_leaves(value)
    elif isinstance(data, (list, tuple)):
        for value in data:
            yield from string_leaves(value)
    elif isinstance(data, str):
        yield data


def dumps(record: Any) -> str:
    """One JSON line (compact, keys in a stable order, non-JSON values as strings)."""
    return json.dumps(record, separators=(',', ':'), sort_keys=True, default=str) + '\n'


def describe_os_error(exc: Optional[BaseException]) -> str:
    """``No space left on device (ENOSPC, errno 28)``: the words, the symbol and the number of an OSError."""
    number = getattr(exc, 'errno', None)
    if number is None:
        return str(exc)
    return '%s (%s, errno %d)' % (getattr(exc, 'strerror', None) or os.strerror(number), errno.errorcode.get(number, '?'), number)


def _flock_exclusive(fd: int, wait: float = 5.0) -> bool:
    """Take an exclusive flock on ``fd``, waiting at most ``wait`` seconds; False when it could not be had."""
    if fcntl is None:
        return False
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except (IOError, OSError) as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                return False
        time.sleep(0.002)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def repair_torn_tail(fd: int) -> int:
    """Cut a last line that has no newline (a write cut short by a crash or a full disk); returns the bytes cut."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b'\n':
        return 0
    keep, end = 0, size
    while end > 0:
        begin = max(0, end - 65536)
        index = os.pread(fd, end - begin, begin).rfind(b'\n')
        if index >= 0:
            keep = begin + index + 1
            break
        end = begin
    os.ftruncate(fd, keep)
    return size - keep


class JsonlWriter(object):
    """Append records to a JSON-lines file, one ``write`` per record (``O_APPEND``).

    Each write holds an exclusive ``flock`` for its instant (unless the file is held for good, see ``lock()``), so when
    a full disk cuts a write short, the bytes it left are cut off again and the file never ends in a torn line.
    ``repaired`` counts the bytes of a torn last line (a crash's) cut when the file was opened.
    """

    def __init__(self, path: str, mode: int = 0o600) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.mode = mode
        self.fd: Optional[int] = None
        self.held = False
        self.repaired = 0
        self.open()

    def open(self) -> 'JsonlWriter':
        directory = os.path.dirname(self.path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, 0o700, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, self.mode)
        self.held = False
        if _flock_exclusive(self.fd):
            try:
                self.repaired += repair_torn_tail(self.fd)
            finally:
                _unlock(self.fd)
        return self

    def write(self, record: Any) -> None:
        if self.fd is None:  # closed at the end of one playbook; `ansible-playbook a.yml b.yml` goes on writing
            self.open()
        fd = cast(int, self.fd)  # open() set it
        data = dumps(record).encode('utf-8')
        locked = self.held or _flock_exclusive(fd)
        try:
            start = os.fstat(fd).st_size
            written = 0
            try:
                while written < len(data):  # more than one write only on a full disk or a signal
                    written += os.write(fd, data[written:])
            except (IOError, OSError):
                # Cut what this write left, if nobody appended since (they all take the lock; the check is for old writers).
                if locked and written and os.fstat(fd).st_size == start + written:
                    os.ftruncate(fd, start)
                raise
        finally:
            if locked and not self.held:
                _unlock(fd)

    def lock(self) -> None:
        """Hold an exclusive lock on this file (spool files: marks the run as alive)."""
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.held = True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            self.held = False


class OutcomeFile(object):
    """The callback's JSON-lines file; a failed write (full disk) never raises and never loses a record.

    A record that cannot be appended is held in memory, and every later write first retries the held ones, in order,
    so when space comes back during the run the file gets everything. At ``close()`` (or when more than
    ``max_held`` records wait) what still cannot be appended goes to a fallback file, ``outcomes-*.jsonl`` in the first
    of ``fallback_dirs`` that takes it (the temporary directory, ``~/.ansible``, ``/dev/shm``): another directory,
    most often another filesystem. ``problem()`` says once what happened, naming the file, the error and the fallback.
    """

    def __init__(self, path: str, fallback_dirs: Optional[List[str]] = None, max_held: int = 1000) -> None:
        self.writer = JsonlWriter(path)
        self.path = self.writer.path
        if fallback_dirs is None:
            fallback_dirs = [tempfile.gettempdir(), os.path.expanduser('~/.ansible'), '/dev/shm']
        self.fallback_dirs = [d for d in fallback_dirs if os.path.abspath(d) != os.path.dirname(self.path)]
        self.max_held = max_held
        self.held: Deque[Any] = collections.deque()
        self.error: Optional[OSError] = None
        self.delayed = 0
        self.fallback: Optional[JsonlWriter] = None
        self.fallback_path: Optional[str] = None
        self.fallback_written = 0
        self.fallback_error: Optional[OSError] = None
        self.lost = 0

    @property
    def repaired(self) -> int:
        return self.writer.repaired

    def write(self, record: Any) -> None:
        self.held.append(record)
        if not self._drain():
            self.delayed += 1
            if len(self.held) > self.max_held:
                self._spill()

    def _drain(self) -> bool:
        while self.held:
            try:
                self.writer.write(self.held[0])
            except (IOError, OSError) as exc:
                self.error = self.error or exc
                return False
            self.held.popleft()
        return True

    def _open_fallback(self) -> JsonlWriter:
        if self.fallback is not None:
            if self.fallback.fd is None:
                self.fallback.open()
            return self.fallback
        if self.fallback_path is not None:  # a later playbook of the same command
            self.fallback = JsonlWriter(self.fallback_path)
            return self.fallback
        last: Optional[OSError] = None
        for directory in self.fallback_dirs:
            try:
                if not os.path.isdir(directory):
                    os.makedirs(directory, 0o700)
                handle, path = tempfile.mkstemp(prefix='outcomes-', suffix='.jsonl', dir=directory)
                os.close(handle)
                self.fallback = JsonlWriter(path)
                self.fallback_path = path
                return self.fallback
            except (IOError, OSError) as exc:
                last = exc
        raise last or OSError(errno.ENOENT, 'no fallback directory')

    def _spill(self) -> None:
        while self.held:
            try:
                self._open_fallback().write(self.held[0])
                self.fallback_written += 1
            except (IOError, OSError) as exc:
                self.fallback_error = self.fallback_error or exc
                self.lost += 1
            self.held.popleft()

    def close(self) -> None:
        """Retry what is held; what still fails goes to the fallback file. The file can be written again afterwards."""
        if not self._drain():
            self._spill()
        self.writer.close()
        if self.fallback is not None:
            self.fallback.close()

    def problem(self) -> Optional[str]:
        """One sentence on what went wrong with the file, or None."""
        parts: List[str] = []
        if self.repaired:
            parts.append('%s ended in a torn line (%d bytes with no newline, left by an interrupted write); it was cut'
                         ' before appending' % (self.path, self.repaired))
        if self.error is not None:
            text = 'could not append %d outcome record(s) to %s (%s)' % (self.delayed, self.path, describe_os_error(self.error))
            retried = self.delayed - self.fallback_written - self.lost - len(self.held)
            fates: List[str] = []
            if retried:
                fates.append('%d appended when retried' % retried)
            if self.fallback_written:
                fates.append('%d written to %s instead' % (self.fallback_written, self.fallback_path))
            if self.lost:
                fates.append('%d lost from the files (the fallback failed too: %s)' % (self.lost, describe_os_error(self.fallback_error)))
            parts.append(text + ': ' + ', '.join(fates) if fates else text)
        return '; '.join(parts) or None


def iter_jsonl(path: str) -> Iterator[Record]:
    """Yield the records of a JSON-lines file; lines that are not JSON objects are skipped."""
    with open(path, 'rb') as handle:
        yield from _iter_lines(handle)


def in_period(record: Mapping[str, Any], since: Optional[datetime.datetime] = None,
              until: Optional[datetime.datetime] = None) -> bool:
    """Whether ``record`` was recorded in ``[since, until)``; False when its ``recorded_at`` is missing or damaged."""
    return _within(times.parse_iso_or_none(record.get('recorded_at')), since, until)


def _within(moment: Optional[datetime.datetime], since: Optional[datetime.datetime],
            until: Optional[datetime.datetime]) -> bool:
    return moment is not None and (since is None or moment >= since) and (until is None or moment < until)


def read_jsonl(path: str, since: Moment = None, until: Moment = None, kind: Optional[str] = None,
               damaged: Optional[List[int]] = None) -> List[Record]:
    """Records of ``path`` recorded in ``[since, until)`` (aware datetimes or ISO strings).

    A line that is not a JSON object, or a record without a readable ``recorded_at``, is left out and its line
    number appended to ``damaged`` when given, so that the reader can say so (``damaged_note``).
    """
    since, until = parse_iso(since), parse_iso(until)
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        return []
    if not os.path.isfile(path):  # a FIFO would block the read, a directory cannot be read
        raise IOError('%s is not a regular file' % path)
    found = []
    with open(path, 'rb') as handle:
        for number, record in _numbered_records(handle, damaged):
            moment = times.parse_iso_or_none(record.get('recorded_at'))
            if moment is None:
                if damaged is not None:
                    damaged.append(number)
            elif _within(moment, since, until) and (kind is None or record.get('kind') == kind):
                found.append(record)
    return found


def damaged_note(path: str, damaged: Sequence[int]) -> Optional[str]:
    """One line saying which lines of ``path`` were left out as damaged (None when none were)."""
    if not damaged:
        return None
    shown = ', '.join(str(n) for n in damaged[:10]) + (', ...' if len(damaged) > 10 else '')
    return ('%s: %d damaged line(s) left out (not a JSON record, or no readable recorded_at): line %s'
            % (path, len(damaged), shown))


def _sql() -> Any:
    return deps.load('psycopg').sql


def table_identifier(schema: Optional[str], table: str) -> Any:
    sql = _sql()
    return sql.Identifier(schema, table) if schema else sql.Identifier(table)


# pg_advisory_xact_lock key serializing the sink's DDL: concurrent CREATE ... IF NOT EXISTS of the same schema, table
# or index can fail with a unique violation on the catalogs (pg_namespace, pg_type, pg_class) instead of waiting.
DDL_LOCK_KEY = int(hashlib.sha256(b'autopilotcx.maintenance.outcomes ddl').hexdigest()[:15], 16)


def ensure_table(conn: Any, schema: Optional[str], table: str) -> None:
    """Create the outcome table and its indexes when they do not exist (safe when many runs do it at once)."""
    sql = _sql()
    ident = table_identifier(schema, table)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute('SELECT pg_advisory_xact_lock(%s)', (DDL_LOCK_KEY,))
        if schema:
            cur.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(schema)))
        cur.execute(sql.SQL(
            'CREATE TABLE IF NOT EXISTS {} ('
            'id text PRIMARY KEY, run_id text NOT NULL, kind text NOT NULL, recorded_at timestamptz NOT NULL, '
            'playbook text, cadence text, host text, task text, action text, status text, worst text, '
            'record jsonb NOT NULL)').format(ident))
        cur.execute(sql.SQL('CREATE INDEX IF NOT EXISTS {} ON {} (recorded_at)').format(
            sql.Identifier((table + '_recorded_at_idx')[:63]), ident))


def insert_records(conn: Any, schema: Optional[str], table: str, records: Sequence[Mapping[str, Any]]) -> int:
    """Insert records (idempotent by ``id``); returns how many were new."""
    if not records:
        return 0
    sql = _sql()
    ident = table_identifier(schema, table)
    statement = sql.SQL('INSERT INTO {} ({}) VALUES ({}, %s) ON CONFLICT (id) DO NOTHING').format(
        ident,
        sql.SQL(', ').join([sql.Identifier(c) for c in RECORD_COLUMNS] + [sql.Identifier('record')]),
        sql.SQL(', ').join([sql.Placeholder()] * len(RECORD_COLUMNS)))
    rows = []
    for record in records:
        rows.append(tuple(record.get(c) if c != 'recorded_at' else parse_iso(record.get(c)) for c in RECORD_COLUMNS)
                    + (dumps(record),))
    inserted = 0
    with conn.cursor() as cur:
        cur.executemany(statement, rows)
        inserted = cur.rowcount if cur.rowcount is not None and cur.rowcount >= 0 else len(rows)
    return inserted


def read_postgres(conn: Any, schema: Optional[str], table: str, since: Moment = None, until: Moment = None,
                  kind: Optional[str] = None) -> List[Record]:
    """Records from the PostgreSQL sink recorded in ``[since, until)``."""
    sql = _sql()
    clauses: List[Any] = []
    params: List[Any] = []
    if since is not None:
        clauses.append(sql.SQL('recorded_at >= %s'))
        params.append(parse_iso(since))
    if until is not None:
        clauses.append(sql.SQL('recorded_at < %s'))
        params.append(parse_iso(until))
    if kind is not None:
        clauses.append(sql.SQL('kind = %s'))
        params.append(kind)
    query = sql.SQL('SELECT record FROM {}').format(table_identifier(schema, table))
    if clauses:
        query = sql.Composed([query, sql.SQL(' WHERE '), sql.SQL(' AND ').join(clauses)])
    query = sql.Composed([query, sql.SQL(' ORDER BY recorded_at, id')])
    with conn.cursor() as cur:
        cur.execute(query, params)
        return [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in cur.fetchall()]


SPOOL_PATTERNS = ('*.jsonl', '*.sending')
CLAIM_SUFFIX = re.compile(r'\.[0-9a-f]{12}\.sending$')


def _count(path: str) -> int:
    try:
        return len(list(iter_jsonl(path)))
    except (IOError, OSError):  # sent and deleted by another run meanwhile
        return 0


class PostgresSink(object):
    """Spool-then-send PostgreSQL sink.

    Each run writes its records to ``<spool_dir>/<run_id>.jsonl`` (locked while
    the run is alive). ``flush()`` sends every spool file that no live run
    holds, in one transaction per file, and deletes a file only after commit.
    A flush claims a file by locking it and renaming it to ``*.<token>.sending``
    (still locked) before reading it, so two runs flushing at once never send
    or delete the same file; a claimed file left by a crashed flush is claimed
    again by the next one. Records the spool cannot take (a full disk) are kept
    in memory and sent by the same flush.
    """

    def __init__(self, conninfo: str, spool_dir: str, run_id: str, schema: Optional[str] = None, table: str = 'maintenance_outcomes',
                 connect_timeout: int = 5) -> None:
        self.conninfo = conninfo
        self.schema = schema or None
        self.table = table
        self.connect_timeout = connect_timeout
        self.spool_dir = os.path.abspath(os.path.expanduser(spool_dir))
        if not os.path.isdir(self.spool_dir):
            os.makedirs(self.spool_dir, 0o700)
        self.spool_path = os.path.join(self.spool_dir, '%s.jsonl' % run_id)
        self.writer: Optional[JsonlWriter] = None
        self.unspooled: List[Any] = []
        self.spool_error: Optional[OSError] = None
        self.lost = 0
        self._open_spool()

    def _open_spool(self) -> JsonlWriter:
        """Open and lock this run's spool file, making sure the locked file is the one at the path.

        Between creating the file and locking it, another run's flush may claim (rename) it; then the file at the
        path is a new one and the lock is taken again there.
        """
        for attempt in range(200):
            writer = JsonlWriter(self.spool_path)
            try:
                writer.lock()
                if os.path.samestat(os.fstat(cast(int, writer.fd)), os.stat(self.spool_path)):
                    self.writer = writer
                    return writer
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.ENOENT):
                    writer.close()
                    raise
            writer.close()
            time.sleep(0.005)
        raise OSError(errno.EAGAIN, 'the spool file %s is always being claimed by another run' % self.spool_path)

    def write(self, record: Any) -> None:
        try:
            writer = self.writer
            if writer is None or writer.fd is None:  # flushed after an earlier playbook of the same run
                writer = self._open_spool()
            writer.write(record)
        except (IOError, OSError) as exc:
            self.spool_error = self.spool_error or exc
            self.unspooled.append(record)

    def problem(self) -> Optional[str]:
        """One sentence when the spool could not take every record, or None."""
        if self.spool_error is None:
            return None
        text = 'cannot write to the spool in %s (%s); the records it could not take were kept in memory' % (
            self.spool_dir, describe_os_error(self.spool_error))
        if self.lost:
            text += ', and %d of them are lost because the database could not be reached either' % self.lost
        return text

    def _passwords(self) -> List[str]:
        passwords = dsn_secrets(self.conninfo)
        try:
            password = deps.load('psycopg').conninfo.conninfo_to_dict(self.conninfo).get('password')
        except Exception:  # an unparsable DSN is reported by connect(); dsn_secrets read it leniently
            password = None
        return passwords + [password] if password else passwords

    def scrub(self, message: object) -> str:
        """A database error fit for a warning: never the DSN's password, not even half of one with a space."""
        return redact_text(scrub(' '.join(str(message).split()), self._passwords()))

    def _respool(self) -> None:
        """Give the spool another chance at the records it refused (space may have come back)."""
        while self.unspooled:
            try:
                writer = self.writer
                if writer is None or writer.fd is None:
                    writer = self._open_spool()
                writer.write(self.unspooled[0])
            except (IOError, OSError):
                return
            self.unspooled.pop(0)

    def _spool_files(self) -> List[str]:
        files: List[str] = []
        for pattern in SPOOL_PATTERNS:
            files.extend(glob.glob(os.path.join(self.spool_dir, pattern)))
        return sorted(files)

    def _claim_own(self) -> Optional[str]:
        """Rename this run's spool to a claimed name while this run holds its lock; the writer stays open.

        Workers Ansible forked after the spool was opened share its lock (flock belongs to the open file, which a
        child inherits); one still exiting at the end would keep ``_claim`` from ever taking the run's own file, and
        its records would wait for the next run. Renaming under our own lock needs no second lock, and keeping the
        writer open until the records are sent keeps every other flush from claiming them meanwhile.
        """
        writer = self.writer
        claimed: Optional[str] = None
        if writer is not None and writer.fd is not None:
            candidate = '%s.%s.sending' % (self.spool_path, uuid.uuid4().hex[:12])
            try:
                if os.path.samestat(os.fstat(writer.fd), os.stat(self.spool_path)):
                    os.rename(self.spool_path, candidate)
                    claimed = candidate
            except OSError:
                claimed = None
        return claimed

    def flush(self) -> Tuple[int, int, Optional[str]]:
        """Send what is spooled. Returns ``(sent, kept, error)``; never raises for a database problem."""
        self._respool()
        own = self._claim_own()
        try:
            return self._send(own)
        finally:
            if self.writer is not None:
                self.writer.close()

    def _send(self, own: Optional[str]) -> Tuple[int, int, Optional[str]]:
        psycopg = deps.load('psycopg')
        files = self._spool_files()
        memory, self.unspooled = self.unspooled, []
        try:
            conn = psycopg.connect(self.conninfo, connect_timeout=self.connect_timeout, autocommit=True)
        except Exception as exc:  # psycopg.Error, or a malformed DSN (ProgrammingError/ValueError)
            self.lost += len(memory)
            return 0, sum(_count(f) for f in files), self.scrub(exc)
        sent, kept = 0, 0
        error: Optional[str] = None
        try:
            try:
                try:
                    ensure_table(conn, self.schema, self.table)
                except psycopg.errors.UniqueViolation:  # racing a writer that does not take the DDL lock
                    ensure_table(conn, self.schema, self.table)
            except psycopg.Error as exc:
                self.lost += len(memory)
                return 0, sum(_count(f) for f in files), self.scrub(exc)
            for path in files:
                if path == own:
                    claimed: Optional[Tuple[IO[bytes], str]] = (open(path, 'rb'), path)
                else:
                    claimed = _claim(path)
                if claimed is None:
                    continue  # a live run still writes it, or another run is sending it
                handle, claimed_path = claimed
                try:
                    records = list(_iter_lines(handle))
                    try:
                        with conn.transaction():
                            insert_records(conn, self.schema, self.table, records)
                    except psycopg.Error as exc:
                        kept += len(records)
                        error = self.scrub(exc)
                        continue  # left under its claimed name; the next flush claims it again
                    sent += len(records)
                    _unlink(claimed_path)
                finally:
                    handle.close()
            if memory:
                try:
                    with conn.transaction():
                        insert_records(conn, self.schema, self.table, memory)
                    sent += len(memory)
                except psycopg.Error as exc:
                    self.lost += len(memory)
                    error = self.scrub(exc)
        finally:
            conn.close()
        return sent, kept, error


def _iter_lines(handle: Iterable[bytes]) -> Iterator[Record]:
    """Records of an open JSON-lines file; lines that are not JSON objects are skipped."""
    for _number, record in _numbered_records(handle):
        yield record


def _numbered_records(handle: Iterable[bytes], damaged: Optional[List[int]] = None) -> Iterator[Tuple[int, Record]]:
    """``(line number, record)`` of an open JSON-lines file; the numbers of lines that are not JSON objects go to
    ``damaged`` when given. Blank lines are not damage, nor is a last line without its newline that is not JSON yet:
    a run still writing it (the callback cuts a torn last line before it appends)."""
    for number, line in enumerate(handle, 1):
        raw = line.strip()
        if not raw:
            continue
        try:
            record = json.loads(raw.decode('utf-8', 'replace'))
        except ValueError:
            record = None
        if isinstance(record, dict):
            yield number, record
        elif damaged is not None and line.endswith(b'\n'):
            damaged.append(number)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def _claim(path: str) -> Optional[Tuple[IO[bytes], str]]:
    """Lock a spool file and rename it to a name of our own; ``(handle, claimed path)``, or None when it is not ours.

    None when a live run holds it, another flush holds or has taken it, or it vanished. The rename is atomic: of two
    runs that both locked the file one after the other, only the first finds it at ``path``.
    """
    try:
        handle = open(path, 'rb')
    except IOError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    if fcntl is not None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError):
            handle.close()
            return None
    claimed = '%s.%s.sending' % (CLAIM_SUFFIX.sub('', path), uuid.uuid4().hex[:12])
    try:
        if not os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
            raise OSError(errno.ENOENT, 'replaced')
        os.rename(path, claimed)
    except OSError as exc:
        handle.close()
        if exc.errno == errno.ENOENT:
            return None
        raise
    return handle, claimed
