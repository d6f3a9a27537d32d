# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one PostgreSQL connection helper (psycopg 3 only).

``postgres_argument_spec()`` is the common option set (documented in the
``autopilotcx.maintenance.postgres`` doc fragment): defaults come from the
libpq environment (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``,
``PGDATABASE``), the password is ``no_log``. ``connect(params)`` returns a
``Connection`` result instead of raising, so an unreachable server becomes a
critical check with its reason, never a traceback. Identifiers are always
quoted with ``psycopg.sql``; values are always passed as parameters.
"""

import time
from typing import Any, Dict, Literal, Mapping, Optional, Sequence, Union

from ansible.module_utils.basic import env_fallback

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps, times
SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']


def postgres_argument_spec(**extra: Any) -> Dict[str, Any]:
    spec = dict(
        login_host=dict(type='str', aliases=['host'], fallback=(env_fallback, ['PGHOST'])),
        login_unix_socket=dict(type='str'),
        port=dict(type='int', default=5432, aliases=['login_port'], fallback=(env_fallback, ['PGPORT'])),
        login_user=dict(type='str', default='postgres', aliases=['user'], fallback=(env_fallback, ['PGUSER'])),
        login_password=dict(type='str', no_log=True, aliases=['password'], fallback=(env_fallback, ['PGPASSWORD'])),
        login_db=dict(type='str', default='postgres', aliases=['db', 'database'], fallback=(env_fallback, ['PGDATABASE'])),
        ssl_mode=dict(type='str', default='prefer', choices=SSL_MODES),
        ca_cert=dict(type='path', aliases=['ssl_rootcert']),
        connect_timeout=dict(type='int', default=5),
        application_name=dict(type='str', default='autopilotcx.maintenance'),
    )
    spec.update(extra)
    return spec


def libpq_params(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Map module options to libpq connection keywords (None values dropped)."""
    host = params.get('login_unix_socket') or params.get('login_host')
    mapping = {
        'host': host,
        'port': params.get('port'),
        'user': params.get('login_user'),
        'password': params.get('login_password'),
        'dbname': params.get('login_db'),
        'sslmode': params.get('ssl_mode'),
        'sslrootcert': params.get('ca_cert'),
        'connect_timeout': params.get('connect_timeout'),
        'application_name': params.get('application_name'),
    }
    return dict((key, value) for key, value in mapping.items() if value not in (None, ''))


def describe(params: Mapping[str, Any]) -> str:
    """``user@host:port/db`` for messages and check targets (never the password)."""
    kw = libpq_params(params)
    return '%s@%s:%s/%s' % (kw.get('user', ''), kw.get('host', 'localhost'), kw.get('port', 5432), kw.get('dbname', ''))


def scrub(message: object, params: Mapping[str, Any]) -> str:
    """Remove the password from any text that might echo it."""
    text = ' '.join(str(message).split())
    password = params.get('login_password')
    if password:
        text = text.replace(password, '********')
    return text


class Connection(object):
    """Outcome of ``connect``: ``conn`` is set on success, ``error`` otherwise."""

    __slots__ = ('conn', 'error', 'seconds', 'target')

    def __init__(self, conn: Any, error: Optional[str], seconds: float, target: str) -> None:
        self.conn = conn
        self.error = error
        self.seconds = seconds
        self.target = target

    @property
    def ok(self) -> bool:
        return self.conn is not None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def __enter__(self) -> 'Connection':
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self.close()
        return False


def connect(params: Mapping[str, Any], autocommit: bool = True, **overrides: Any) -> Connection:
    """Open a connection; failures are returned (``Connection.error``), not raised.

    ``overrides`` are extra libpq keywords (e.g. ``options='-c lock_timeout=1s'``).
    A missing psycopg raises ``MaintenanceError`` (a host problem the user must fix).
    """
    psycopg = deps.load('psycopg')
    kwargs = libpq_params(params)
    kwargs.update(overrides)
    target = describe(params)
    started = time.monotonic()
    try:
        conn = psycopg.connect(autocommit=autocommit, **kwargs)
    except psycopg.Error as exc:
        return Connection(None, scrub(exc, params) or exc.__class__.__name__, time.monotonic() - started, target)
    except (OSError, ValueError) as exc:  # bad host name types, socket errors raised outside libpq
        return Connection(None, scrub(exc, params), time.monotonic() - started, target)
    return Connection(conn, None, time.monotonic() - started, target)


def set_timeouts(cursor: Any, lock_timeout: Union[int, str, None] = None, statement_timeout: Union[int, str, None] = None,
                 local: bool = False) -> None:
    """``SET [LOCAL] lock_timeout/statement_timeout`` with values passed safely.

    Values are durations with a unit (``'5s'``, ``'500ms'``, ``'1h30m'``) or 0, converted to milliseconds by
    ``times.pg_timeout``; a bare number other than 0 raises ``MaintenanceError`` naming the option.
    """
    sql = deps.load('psycopg').sql
    scope = sql.SQL('SET LOCAL ' if local else 'SET ')
    for name, value in (('lock_timeout', lock_timeout), ('statement_timeout', statement_timeout)):
        if value is None:
            continue
        setting = times.pg_timeout(value, name)
        cursor.execute(sql.Composed([scope, sql.Identifier(name), sql.SQL(' = '), sql.Literal(setting)]))


def qualified_name(name: Union[str, Sequence[str]]) -> Any:
    """Quote ``schema.table`` (or ``table``) as a ``psycopg.sql.Identifier``; quotes in names stay data.

    Only a single dot splits schema from table; a name that needs a dot inside
    an identifier is given as a list ``[schema, table]``.
    """
    sql = deps.load('psycopg').sql
    if isinstance(name, (list, tuple)):
        parts = list(name)
    else:
        parts = str(name).split('.', 1) if '.' in str(name) else [str(name)]
    return sql.Identifier(*parts)
