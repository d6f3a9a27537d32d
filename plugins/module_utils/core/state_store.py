# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""State that must outlive a run: one JSON document, locked from read to save, written atomically.

``with open_state(...) as state:`` gives ``state.data`` (the document, None when there is none yet) and
``state.save(data)``. Whatever the backend, the document is locked from the moment it is read until the
block ends, so two overlapping runs never both start from the same old document (no lost update, no double
count): the second one waits for the first (or, with ``wait`` seconds, gives up with ``StateBusy``).

* ``FileState``: a local file (the default on a single control node, and for state that belongs to a
  target host). ``fcntl.flock`` on ``<path>.lock``; the save writes a temporary file in the same directory,
  fsyncs it and renames it over the old one.
* ``PostgresState``: one row of the ``autopilotcx_state`` table (``namespace``, ``name``, ``data`` jsonb,
  ``version``), locked with ``SELECT ... FOR UPDATE`` in one transaction and committed at the end. This is
  what makes control-node state survive the fresh container of every AWX job.

Plain Python: unit tests call it without Ansible.
"""

import errno
import hashlib
import json
import os
import re
import tempfile
import time
from types import ModuleType
from typing import IO, Any, Literal, Optional, Union

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

fcntl: Optional[ModuleType]
try:
    import fcntl
except ImportError:  # pragma: no cover - not on posix
    fcntl = None


def _deps() -> ModuleType:
    # imported when PostgreSQL is used: the file backend runs on managed hosts with nothing but Python (log_scan)
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
    return deps


STATE_TABLE = 'autopilotcx_state'
DDL_LOCK_KEY = int(hashlib.sha256(b'autopilotcx.maintenance.state ddl').hexdigest()[:15], 16)


class StateBusy(MaintenanceError):
    """Another run holds the state lock longer than we were willing to wait."""


def scrub_dsn(message: object, dsn: Optional[str]) -> str:
    """``message`` without the password of ``dsn`` (key=value or URI form)."""
    text = str(message)
    secrets = re.findall(r"password\s*=\s*'((?:[^'\\]|\\.)*)'|password\s*=\s*(\S+)", dsn or '')
    values = [a or b for a, b in secrets]
    values += re.findall(r'://[^:/@]*:([^@]*)@', dsn or '')
    for value in values:
        if value:
            text = text.replace(value, '********')
    return text


def connect_dsn(dsn: str, autocommit: bool = True, connect_timeout: int = 10) -> Any:
    """A psycopg 3 connection from a libpq DSN (raises ``psycopg.Error``)."""
    psycopg = _deps().load('psycopg')
    return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=connect_timeout,
                           application_name='autopilotcx.maintenance')


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: str, data: Any, mode: int = 0o600, prefix: str = '.state-') -> None:
    """Write ``data`` as JSON to ``path``: temporary file, fsync, rename; a reader sees the old or the new file."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700, exist_ok=True)  # another run may create it at the same moment
    fd, temp = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with os.fdopen(fd, 'w') as out:
            out.write(json.dumps(data, indent=1, sort_keys=True))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.rename(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


class FileLock(object):
    """An exclusive ``fcntl.flock`` on ``<path>.lock``: waits forever (``wait=None``) or ``wait`` seconds."""

    def __init__(self, path: str, label: str, wait: Optional[float] = None) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.label = label
        self.wait = wait
        self.handle: Optional[IO[str]] = None

    def acquire(self) -> 'FileLock':
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700, exist_ok=True)  # another run may create it at the same moment
        handle = self.handle = open(self.path + '.lock', 'a')
        if fcntl is None:
            return self
        if self.wait is None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            return self
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                self.release()
                raise StateBusy('another run holds the lock of the %s %s (waited %ss); nothing was read or counted'
                                % (self.label, self.path, self.wait))
            time.sleep(0.05)

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing the descriptor drops the flock
            self.handle = None


class FileState(object):
    """A JSON document in ``path``, locked (``<path>.lock``) from read to the end of the ``with`` block."""

    backend = 'file'

    def __init__(self, path: str, label: str, write: bool = True, wait: Optional[float] = None) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.label = label
        self.write = write
        self.wait = wait
        self.data: Any = None
        self.warning: Optional[str] = None
        self._lock: Optional[FileLock] = None

    @property
    def where(self) -> str:
        return self.path

    def _acquire(self) -> None:
        self._lock = FileLock(self.path, self.label, self.wait).acquire()

    def __enter__(self) -> 'FileState':
        if self.write:
            try:
                self._acquire()
            except (IOError, OSError) as exc:
                raise MaintenanceError('Cannot lock the %s %s: %s' % (self.label, self.path, exc.strerror or exc))
        try:
            with open(self.path) as handle:
                self.data = json.load(handle)
        except (IOError, OSError) as exc:
            if exc.errno != errno.ENOENT:
                self.__exit__()
                raise MaintenanceError('Cannot read the %s %s: %s' % (self.label, self.path, exc.strerror or exc))
        except ValueError as exc:
            self.warning = '%s %s was not valid JSON (%s); starting afresh' % (self.label, self.path, exc)
            self.data = None
        return self

    def save(self, data: Any) -> None:
        if not self.write:
            raise MaintenanceError('the %s %s was opened read-only' % (self.label, self.path))
        try:
            atomic_write_json(self.path, data)
        except (IOError, OSError) as exc:
            raise MaintenanceError('Cannot write the %s %s: %s' % (self.label, self.path, exc.strerror or exc))
        self.data = data

    def __exit__(self, *exc: object) -> Literal[False]:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        return False


class PostgresState(object):
    """One row (``namespace``, ``name``) of the state table, locked FOR UPDATE from read to commit."""

    backend = 'postgres'

    def __init__(self, dsn: str, namespace: str, name: str, label: str, write: bool = True, wait: Optional[float] = None,
                 table: str = STATE_TABLE, schema: Optional[str] = None) -> None:
        self.dsn = dsn
        self.namespace = namespace
        self.name = name
        self.label = label
        self.write = write
        self.wait = wait
        self.table = table
        self.schema = schema
        self.data: Any = None
        self.version: Optional[int] = None
        self.warning: Optional[str] = None
        self.conn: Any = None
        self._ident: Any = None

    @property
    def where(self) -> str:
        return 'PostgreSQL %s (%s/%s)' % (self._table_name(), self.namespace, self.name)

    def _table_name(self) -> str:
        return '%s.%s' % (self.schema, self.table) if self.schema else self.table

    def _fail(self, exc: BaseException, doing: str) -> MaintenanceError:
        return MaintenanceError('Cannot %s the %s in %s: %s' % (doing, self.label, self.where,
                                                                scrub_dsn(str(exc).strip().splitlines()[0], self.dsn)))

    def __enter__(self) -> 'PostgresState':
        if not _deps().available('psycopg'):
            raise MaintenanceError('the %s is kept in PostgreSQL (a DSN is set) but psycopg >= 3.1 is not installed'
                                   % self.label)
        psycopg = _deps().load('psycopg')
        sql = psycopg.sql
        ident = sql.Identifier(self.schema, self.table) if self.schema else sql.Identifier(self.table)
        try:
            self.conn = connect_dsn(self.dsn, autocommit=False)
        except psycopg.Error as exc:
            raise self._fail(exc, 'reach')
        self._ident = ident
        if not self.write:  # check mode: read what is there, create nothing
            try:
                with self.conn.cursor() as cur:
                    cur.execute('SELECT to_regclass(%s)', (ident.as_string(self.conn),))
                    if cur.fetchone()[0] is not None:
                        cur.execute(sql.SQL('SELECT data, version FROM {} WHERE namespace = %s AND name = %s').format(ident),
                                    (self.namespace, self.name))
                        self._load(cur.fetchone())
            except psycopg.Error as exc:
                self._close(False)
                raise self._fail(exc, 'read')
            return self
        try:
            with self.conn.cursor() as cur:
                cur.execute('SELECT pg_advisory_xact_lock(%s)', (DDL_LOCK_KEY,))
                if self.schema:
                    cur.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(self.schema)))
                cur.execute(sql.SQL('CREATE TABLE IF NOT EXISTS {} (namespace text NOT NULL, name text NOT NULL, '
                                    'data jsonb, version bigint NOT NULL DEFAULT 0, updated_at timestamptz, '
                                    'PRIMARY KEY (namespace, name))').format(ident))
            self.conn.commit()
            with self.conn.cursor() as cur:
                if self.wait is not None:
                    cur.execute(sql.SQL('SET LOCAL lock_timeout = {}').format(sql.Literal('%dms' % int(self.wait * 1000))))
                cur.execute(sql.SQL('INSERT INTO {} (namespace, name) VALUES (%s, %s) ON CONFLICT DO NOTHING').format(ident),
                            (self.namespace, self.name))
                cur.execute(sql.SQL('SELECT data, version FROM {} WHERE namespace = %s AND name = %s FOR UPDATE').format(ident),
                            (self.namespace, self.name))
                row = cur.fetchone()
        except psycopg.errors.LockNotAvailable:
            self._close(False)
            raise StateBusy('another run holds the lock of the %s in %s (waited %ss)' % (self.label, self.where, self.wait))
        except psycopg.Error as exc:
            self._close(False)
            raise self._fail(exc, 'read')
        self._load(row)
        return self

    def _load(self, row: Optional[Any]) -> None:
        if row:
            data = row[0]
            self.data = json.loads(data) if isinstance(data, (str, bytes)) else data
            self.version = row[1]

    def save(self, data: Any) -> None:
        if not self.write:
            raise MaintenanceError('the %s in %s was opened read-only' % (self.label, self.where))
        psycopg = _deps().load('psycopg')
        try:
            with self.conn.cursor() as cur:
                cur.execute(psycopg.sql.SQL('UPDATE {} SET data = %s, version = version + 1, updated_at = now() '
                                            'WHERE namespace = %s AND name = %s').format(self._ident),
                            (json.dumps(data, sort_keys=True), self.namespace, self.name))
        except psycopg.Error as exc:
            raise self._fail(exc, 'write')
        self.data = data

    def _close(self, commit: bool) -> None:
        if self.conn is None:
            return
        psycopg = _deps().load('psycopg')
        try:
            if commit:
                self.conn.commit()
            else:
                self.conn.rollback()
        except psycopg.Error as exc:
            if commit:
                raise self._fail(exc, 'commit')
        finally:
            self.conn.close()
            self.conn = None

    def __exit__(self, exc_type: Optional[type] = None, *exc: object) -> Literal[False]:
        self._close(exc_type is None)
        return False


def open_state(label: str, path: str, dsn: Optional[str] = None, namespace: Optional[str] = None, name: Optional[str] = None,
               write: bool = True, wait: Optional[float] = None) -> Union[FileState, 'PostgresState']:
    """The backend for a piece of control-node state: PostgreSQL when ``dsn`` is set, the file ``path`` otherwise."""
    if dsn:
        return PostgresState(dsn, namespace or label, name or os.path.basename(path or '') or 'default', label,
                             write=write, wait=wait)
    return FileState(path, label, write=write, wait=wait)
