# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The outcome store: one JSON object per task result per host.

Writers (the ``autopilotcx.maintenance.outcomes`` callback) and readers (the
promotion gate, the review reports) share this file. Plain Python: the unit
tests use it without Ansible.

* ``JsonlWriter`` appends each record with one ``write`` on an ``O_APPEND``
  descriptor, so concurrent runs never tear a line.
* ``Redactor`` removes secrets: values under secret-looking keys, and every
  occurrence of the values it is told are secret (the run's extra vars).
* ``PostgresSink`` spools records to a per-run local file and sends spooled
  files to PostgreSQL; a file is deleted only after its rows are committed,
  and rows are keyed by record id, so nothing is lost and nothing is doubled.
* ``read_jsonl``/``read_postgres`` read records back for a period.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import glob
import json
import os

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

from ansible_collections.autopilotcx.maintenance.plugins.module_utils import deps

REDACTED = '********'

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


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    """UTC ISO 8601 with a ``Z``: ``2026-11-24T05:01:19.123456Z``."""
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def parse_iso(text):
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
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


class Redactor(object):
    """Replace secrets in a record before it is stored or shown.

    ``keys``: substrings of dict keys whose values are secret (case-insensitive).
    ``values``: literal strings that must never appear (e.g. extra-var values);
    strings shorter than ``min_length`` are ignored so that ``yes`` or ``10``
    do not blank out every message.
    """

    def __init__(self, keys=DEFAULT_REDACT_KEYS, values=(), min_length=4):
        self.keys = tuple(k.lower() for k in keys if k)
        self.min_length = min_length
        self.values = []
        self.add_values(values)

    def add_values(self, values):
        for value in values:
            if (isinstance(value, str) and len(value) >= self.min_length and value not in self.values
                    and value.strip().lower() not in NOT_SECRETS):
                self.values.append(value)
        # Longest first so that a secret containing another is replaced whole.
        self.values.sort(key=len, reverse=True)

    def secret_key(self, key):
        lowered = str(key).lower()
        return any(k in lowered for k in self.keys)

    def text(self, value):
        for secret in self.values:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def __call__(self, data):
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
            return self.text(data) if self.values else data
        return data


def string_leaves(data):
    """Every string inside nested dicts/lists (used to collect extra-var values)."""
    if isinstance(data, dict):
        for value in data.values():
            yield from string_leaves(value)
    elif isinstance(data, (list, tuple)):
        for value in data:
            yield from string_leaves(value)
    elif isinstance(data, str):
        yield data


def dumps(record):
    """One JSON line (compact, keys in a stable order, non-JSON values as strings)."""
    return json.dumps(record, separators=(',', ':'), sort_keys=True, default=str) + '\n'


class JsonlWriter(object):
    """Append records to a JSON-lines file, one ``write`` per record (``O_APPEND``)."""

    def __init__(self, path, mode=0o600):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.mode = mode
        self.fd = None
        self.open()

    def open(self):
        directory = os.path.dirname(self.path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, self.mode)
        return self

    def write(self, record):
        if self.fd is None:  # closed at the end of one playbook; `ansible-playbook a.yml b.yml` goes on writing
            self.open()
        data = dumps(record).encode('utf-8')
        written = os.write(self.fd, data)
        while written < len(data):  # only on a full disk or a signal; keep the line whole if we can
            written += os.write(self.fd, data[written:])

    def lock(self):
        """Hold an exclusive lock on this file (spool files: marks the run as alive)."""
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def iter_jsonl(path):
    """Yield the records of a JSON-lines file; lines that are not JSON objects are skipped."""
    with open(path, 'rb') as handle:
        for raw in handle:
            raw = raw.strip()
            if not raw:
                continue
            try:
                record = json.loads(raw.decode('utf-8', 'replace'))
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def in_period(record, since=None, until=None):
    moment = parse_iso(record.get('recorded_at'))
    if moment is None:
        return False
    if since is not None and moment < since:
        return False
    if until is not None and moment >= until:
        return False
    return True


def read_jsonl(path, since=None, until=None, kind=None):
    """Records of ``path`` recorded in ``[since, until)`` (aware datetimes or ISO strings)."""
    since, until = parse_iso(since), parse_iso(until)
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        return []
    if not os.path.isfile(path):  # a FIFO would block the read, a directory cannot be read
        raise IOError('%s is not a regular file' % path)
    return [r for r in iter_jsonl(path) if in_period(r, since, until) and (kind is None or r.get('kind') == kind)]


def _sql():
    return deps.load('psycopg').sql


def table_identifier(schema, table):
    sql = _sql()
    return sql.Identifier(schema, table) if schema else sql.Identifier(table)


def ensure_table(conn, schema, table):
    """Create the outcome table and its indexes when they do not exist."""
    sql = _sql()
    ident = table_identifier(schema, table)
    with conn.cursor() as cur:
        if schema:
            cur.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(schema)))
        cur.execute(sql.SQL(
            'CREATE TABLE IF NOT EXISTS {} ('
            'id text PRIMARY KEY, run_id text NOT NULL, kind text NOT NULL, recorded_at timestamptz NOT NULL, '
            'playbook text, cadence text, host text, task text, action text, status text, worst text, '
            'record jsonb NOT NULL)').format(ident))
        cur.execute(sql.SQL('CREATE INDEX IF NOT EXISTS {} ON {} (recorded_at)').format(
            sql.Identifier((table + '_recorded_at_idx')[:63]), ident))


def insert_records(conn, schema, table, records):
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


def read_postgres(conn, schema, table, since=None, until=None, kind=None):
    """Records from the PostgreSQL sink recorded in ``[since, until)``."""
    sql = _sql()
    clauses, params = [], []
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


class PostgresSink(object):
    """Spool-then-send PostgreSQL sink.

    Each run writes its records to ``<spool_dir>/<run_id>.jsonl`` (locked while
    the run is alive). ``flush()`` sends every spool file that no live run
    holds, in one transaction per file, and deletes a file only after commit.
    """

    def __init__(self, conninfo, spool_dir, run_id, schema=None, table='maintenance_outcomes', connect_timeout=5):
        self.conninfo = conninfo
        self.schema = schema or None
        self.table = table
        self.connect_timeout = connect_timeout
        self.spool_dir = os.path.abspath(os.path.expanduser(spool_dir))
        if not os.path.isdir(self.spool_dir):
            os.makedirs(self.spool_dir, 0o700)
        self.spool_path = os.path.join(self.spool_dir, '%s.jsonl' % run_id)
        self.writer = JsonlWriter(self.spool_path)
        self.writer.lock()

    def write(self, record):
        if self.writer.fd is None:  # flushed after an earlier playbook of the same run
            self.writer.open().lock()
        self.writer.write(record)

    def _password(self):
        try:
            conninfo = deps.load('psycopg').conninfo.conninfo_to_dict(self.conninfo)
        except Exception:  # an unparsable DSN is reported by connect()
            return None
        return conninfo.get('password')

    def scrub(self, message):
        text = ' '.join(str(message).split())
        password = self._password()
        if password:
            text = text.replace(password, REDACTED)
        return text

    def flush(self):
        """Send what is spooled. Returns ``(sent, kept, error)``; never raises for a database problem."""
        self.writer.close()
        psycopg = deps.load('psycopg')
        files = sorted(glob.glob(os.path.join(self.spool_dir, '*.jsonl')))
        try:
            conn = psycopg.connect(self.conninfo, connect_timeout=self.connect_timeout, autocommit=True)
        except Exception as exc:  # psycopg.Error, or a malformed DSN (ProgrammingError/ValueError)
            kept = sum(len(list(iter_jsonl(f))) for f in files)
            return 0, kept, self.scrub(exc)
        sent, kept, error = 0, 0, None
        try:
            try:
                with conn.transaction():
                    ensure_table(conn, self.schema, self.table)
            except psycopg.Error as exc:
                return 0, sum(len(list(iter_jsonl(f))) for f in files), self.scrub(exc)
            for path in files:
                handle = _claim(path, path == self.spool_path)
                if handle is None:
                    continue  # a live run still writes it
                try:
                    records = list(iter_jsonl(path))
                    try:
                        with conn.transaction():
                            insert_records(conn, self.schema, self.table, records)
                    except psycopg.Error as exc:
                        kept += len(records)
                        error = self.scrub(exc)
                        continue
                    sent += len(records)
                    os.unlink(path)
                finally:
                    handle.close()
        finally:
            conn.close()
        return sent, kept, error


def _claim(path, own):
    """Open and lock a spool file for sending; None when another live run holds it."""
    try:
        handle = open(path, 'rb')
    except IOError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    if fcntl is not None and not own:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError):
            handle.close()
            return None
    return handle
