# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment(object):

    # Connection options shared by every module that talks to PostgreSQL.
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host name or IP address of the PostgreSQL server, or a directory holding its Unix socket.
      - Defaults to the E(PGHOST) environment variable, then to libpq's default (the local socket).
    type: str
    aliases: [host]
  login_unix_socket:
    description:
      - Directory of the server's Unix socket; takes precedence over O(login_host).
    type: str
  port:
    description:
      - Server port. Defaults to E(PGPORT), then 5432.
    type: int
    default: 5432
    aliases: [login_port]
  login_user:
    description:
      - Role to connect as. Defaults to E(PGUSER), then C(postgres).
    type: str
    default: postgres
    aliases: [user]
  login_password:
    description:
      - Password of O(login_user). Defaults to E(PGPASSWORD). Never logged, never returned.
    type: str
    aliases: [password]
  login_db:
    description:
      - Database to connect to. Defaults to E(PGDATABASE), then C(postgres).
    type: str
    default: postgres
    aliases: [db, database]
  ssl_mode:
    description:
      - libpq C(sslmode).
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA bundle used to verify the server certificate (libpq C(sslrootcert)).
    type: path
    aliases: [ssl_rootcert]
  connect_timeout:
    description:
      - Seconds to wait for the connection.
    type: int
    default: 5
  application_name:
    description:
      - C(application_name) reported to the server (visible in C(pg_stat_activity)).
    type: str
    default: autopilotcx.maintenance
requirements:
  - psycopg >= 3.1 (psycopg 3; psycopg2 is not supported)
notes:
  - A server that cannot be reached is reported as a critical check with the connection error as its reason,
    not as a task failure (unless the module's C(fail_on) option says so); the password never appears in any output.
'''
