#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: session_cleanup
short_description: Purge expired sessions from PostgreSQL, Redis or a session directory without blocking logins
version_added: 0.1.0
description:
  - "C(backend=postgres): deletes expired rows of a sessions table in batches, each its own transaction and each one
    plain C(DELETE) with the expiry condition: the expired rows of a range of table blocks
    (C(DELETE ... WHERE ctid >= lo AND ctid < hi AND expiry < cutoff), O(order=physical)) or of a span of expiry
    values along the expiry column's index (O(order=expiry)). A batch waits at most 20 ms for a row someone else
    holds (a login writing an expired session); then it is rolled back and run again as
    C(DELETE ... WHERE ctid IN (SELECT ctid ... FOR UPDATE SKIP LOCKED)), which never waits for a row, and the
    rows skipped are tried once more at the end of the run. Inserts and updates of live sessions never meet a batch's
    locks, so logins keep working during the purge. O(lock_timeout) bounds waits for table locks and
    O(statement_timeout) every statement; a batch that hits the statement timeout is retried at half the size. An
    optional pause separates batches; after O(time_budget) the purge stops cleanly and reports how many expired
    sessions remain. An optional C(VACUUM (ANALYZE)) follows a large purge."
  - "The cutoff (C(now() - lifetime - grace)) is taken once when the run starts. Every C(DELETE) evaluates the expiry
    condition on the row it deletes (a row a login changed meanwhile is re-checked), so a live session is never
    deleted."
  - "The expiry column's type is read first. A C(timestamp without time zone) column holds wall time of
    O(stored_time_zone): the cutoff is computed as that zone's wall time, so the database's or the client's
    C(TimeZone) (C(ALTER DATABASE ... SET timezone), C(PGTZ), C(PGOPTIONS)) never changes what is expired."
  - "C(backend=redis): walks the keys matching O(pattern) with C(SCAN) (never C(KEYS)). Each key is judged and changed
    inside one Lua script, so a session refreshed between reading and deleting is never lost: keys whose embedded
    expiry (O(expiry_field) of a hash, or of a JSON string) has passed are deleted; keys without a TTL get one
    (the remaining lifetime, or O(default_ttl) when there is no embedded expiry)."
  - "C(backend=files): removes session files older than O(lifetime) (plus O(grace)) from O(path), skipping files that
    a process still holds open (found in C(/proc/*/fd)); symlinks are never followed."
  - Table and column names are quoted as identifiers; every value is passed as a parameter. The statements run are returned.
  - In check mode nothing is deleted; the module counts what would go.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
  - autopilotcx.maintenance.postgres
options:
  backend:
    description: Where the sessions are stored.
    type: str
    choices: [postgres, redis, files]
    default: postgres
  table:
    description:
      - Sessions table (C(backend=postgres)); C(schema.table) or a bare name. Quoted as an identifier, never interpolated.
      - Use O(schema) when the table name itself contains a dot.
    type: str
  schema:
    description: Schema of O(table); when set, O(table) is taken whole (no dot splitting).
    type: str
  key_column:
    description: Unique key column of the sessions table (normally the primary key).
    type: str
    default: id
  expiry_column:
    description: Column holding the expiry time (or the last activity, with O(lifetime)).
    type: str
    default: expires_at
  expiry_format:
    description:
      - How O(expiry_column) stores time; C(timestamp) for C(timestamp)/C(timestamptz), C(epoch)/C(epoch_ms) for Unix
        time numbers (C(smallint), C(integer), C(bigint), C(numeric), C(real), C(double precision)).
      - The column's type is checked against it (a domain by its base type); a mismatch, or another type (C(date),
        C(text)), is a critical check and nothing is deleted.
    type: str
    choices: [timestamp, epoch, epoch_ms]
    default: timestamp
  stored_time_zone:
    description:
      - For a C(timestamp without time zone) expiry column, the time zone whose wall time the application writes
        there, as an IANA name PostgreSQL knows (C(pg_timezone_names)), C(UTC) for Rails and most frameworks, the zone
        of the writing session for a column filled with C(DEFAULT now()) or C(localtimestamp).
      - Abbreviations (C(CET)) and POSIX strings (C(UTC+5), which PostgreSQL reads as five hours B(west) of UTC) are
        refused, as is a name PostgreSQL does not know (a critical check naming this option, nothing deleted).
      - Where the zone ends DST less than 3 hours after the cutoff, its repeated wall times stand for live and expired
        instants alike; those sessions are kept for a later run and counted in RV(deferred_ambiguous).
      - Ignored for C(timestamptz) and number columns, which are unambiguous.
    type: str
    default: UTC
  grace:
    description: Extra time a session is kept after it expired (C(30s), C(15m), C(1h)). A bare number is seconds.
    type: str
    default: '0'
  lifetime:
    description:
      - Session lifetime added to the expiry column (for tables storing the last activity) or the file age after which a
        session file is expired (C(30m), C(24h), C(14d)). Required for C(backend=files). A bare number is seconds.
    type: str
  batch_size:
    description: Rows deleted per batch (per transaction).
    type: int
    default: 5000
  order:
    description:
      - C(expiry) deletes the oldest sessions first along the expiry column's index (the index is needed); when
        O(time_budget) cuts the purge short, what is left is the most recently expired. It reads the table in
        physical order only as far as old sessions sit first in the table; with expired rows scattered over the
        table it is several times slower than C(physical).
      - C(physical) walks the table in block order, each batch a range of blocks (TID range scan, PostgreSQL 14 or
        later, plain tables; otherwise C(expiry)). Sequential I/O, about as fast as one plain C(DELETE), whatever
        the layout. When O(time_budget) cuts it short, what is left are expired sessions of any age at the end of
        the table.
      - C(auto) takes C(physical) when the planner expects at least 10 % of the rows to be expired (and more than
        one batch), unless the expiry column follows the physical order closely (C(pg_stats.correlation) of 0.9 or
        more), where C(expiry) is as fast and keeps the oldest-first order. The order used and why are returned.
    type: str
    choices: [auto, expiry, physical]
    default: auto
  pause:
    description: Pause between batches (C(100ms), C(1s), ...), to leave I/O to the application. A bare number is seconds.
    type: str
    default: '0'
  time_budget:
    description:
      - Time after which the purge stops starting new batches and reports what remains (C(20m), C(1h)); unlimited
        when unset. A bare number is seconds.
    type: str
  max_batches:
    description: Stop after this many batches; unlimited when unset.
    type: int
  lock_timeout:
    description:
      - C(lock_timeout) of the statements that read the table and of the C(SKIP LOCKED) retry of a batch, that is the
        longest wait for a table lock (someone running C(ALTER TABLE) or C(LOCK TABLE)); three consecutive lock
        timeouts end the purge with a warning. A bare number is seconds. (PostgreSQL itself would read milliseconds.)
      - Row locks are waited for at most 20 ms (or O(lock_timeout) when shorter) before the batch skips them.
    type: str
    default: 2s
  statement_timeout:
    description:
      - C(statement_timeout) of every statement (the VACUUM gets the rest of O(time_budget) instead). A bare number is seconds.
        (PostgreSQL itself would read milliseconds.)
    type: str
    default: 30s
  vacuum:
    description: Run C(VACUUM (ANALYZE)) on the table after the purge; C(auto) does it when at least O(vacuum_min_rows) rows went.
    type: str
    choices: [auto, always, never]
    default: auto
  vacuum_min_rows:
    description: Deleted rows from which C(vacuum=auto) vacuums.
    type: int
    default: 10000
  redis_host:
    description: Redis host (C(backend=redis)).
    type: str
    default: 127.0.0.1
  redis_port:
    description: Redis port.
    type: int
    default: 6379
  redis_username:
    description: Redis ACL user name.
    type: str
  redis_password:
    description: Redis password; never logged or returned.
    type: str
  redis_db:
    description: Redis database number.
    type: int
    default: 0
  redis_tls:
    description: Connect with TLS.
    type: bool
    default: false
  redis_ca_cert:
    description: CA bundle verifying the Redis server certificate.
    type: path
  pattern:
    description: C(SCAN) match pattern of the session keys, for example C(session:*); a pattern matching every key is refused.
    type: str
  expiry_field:
    description: Field holding the expiry time (Unix time) in a hash key or a JSON string value; unset means keys are only given a TTL.
    type: str
  expiry_unit:
    description: Unit of the embedded expiry time.
    type: str
    choices: [s, ms]
    default: s
  default_ttl:
    description:
      - TTL given to session keys that have neither a TTL nor an embedded expiry (C(24h), ...); unset leaves them alone
        (reported). A bare number is seconds.
    type: str
  scan_count:
    description: C(COUNT) hint of each C(SCAN) call.
    type: int
    default: 500
  path:
    description: Directory of the session files (C(backend=files)), for example C(/var/lib/php/sessions).
    type: path
  patterns:
    description:
      - File name patterns of session files (shell wildcards matched against the file name).
      - Required to name the session files. An empty list, an empty pattern, or (without O(allow_match_all)) a pattern
        of nothing but wildcards and slashes (C(*), C(?*), C(*/*)), which matches every file, hidden ones included,
        is refused.
    type: list
    elements: str
    default: ['sess_*']
  allow_match_all:
    description:
      - Allow a pattern in O(patterns) that matches every file (C(*)), for a directory holding nothing but session
        files (a store naming its files by hash, for example). Never makes an empty O(patterns) mean every file.
    type: bool
    default: false
  recurse:
    description: Also look into subdirectories of O(path) (same filesystem only).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Counts what would be deleted (rows, keys, files) and changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
notes:
  - "Thresholds read: C(session_expired_backlog) (expired sessions left after the run)."
  - Rows are deleted by their physical address (C(ctid)) or by range, never by key, and the C(DELETE) repeats the
    expiry condition, so even a non-unique key never removes a live row; O(key_column) is checked to exist.
  - A real run counts expired rows only where the purge did not reach (what a time budget left, rows skipped while a
    login held them), never the whole table; check mode counts them all.
  - Skipping open files needs to read other processes' C(/proc/<pid>/fd); run as the session owner or root (C(become)).
seealso:
  - module: autopilotcx.maintenance.file_cleanup
  - module: autopilotcx.maintenance.pg_maintenance
'''

EXAMPLES = r'''
---
- name: Purge expired sessions, at most 10 minutes, without blocking logins
  autopilotcx.maintenance.session_cleanup:
    login_host: db.example.com
    login_user: maintenance
    login_password: "{{ vault_pg_password }}"
    login_db: app
    table: public.sessions
    key_column: session_id
    expiry_column: expires_at
    grace: 15m
    batch_size: 5000
    pause: 50ms
    time_budget: 10m
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
  register: purge

- name: Nothing must be left behind
  ansible.builtin.assert:
    that: purge.remaining_expired == 0
    fail_msg: "{{ purge.checks | map(attribute='reason') | join('; ') }}"

- name: Redis sessions
  autopilotcx.maintenance.session_cleanup:
    backend: redis
    redis_host: 127.0.0.1
    pattern: "session:*"
    expiry_field: expires
    default_ttl: 24h

- name: PHP session files (only sess_* files; other files in the directory are never touched)
  autopilotcx.maintenance.session_cleanup:
    backend: files
    path: /var/lib/php/sessions
    patterns: ['sess_*']
    lifetime: 24m

- name: Rails sessions (activerecord-session_store), naive timestamps in UTC whatever the database's TimeZone
  autopilotcx.maintenance.session_cleanup:
    table: sessions
    key_column: id
    expiry_column: updated_at
    lifetime: 2w
    stored_time_zone: UTC
'''

RETURN = r'''
backend:
  description: The backend used.
  returned: always
  type: str
  sample: postgres
deleted:
  description: Sessions (rows, keys or files) deleted.
  returned: always
  type: int
  sample: 120000
would_delete:
  description: In check mode, what would have been deleted.
  returned: always
  type: int
  sample: 0
remaining_expired:
  description:
    - Sessions expired at the start of the run still in the table (C(backend=postgres)), counted in the part of the
      table the purge did not reach and where it skipped rows a login held.
  returned: when backend is postgres
  type: int
  sample: 0
expired_before:
  description: Sessions expired at the start of the run; RV(deleted) plus RV(remaining_expired), in check mode counted.
  returned: when backend is postgres
  type: int
  sample: 120000
column_type:
  description: Type of the expiry column (a domain's base type), as C(format_type) spells it.
  returned: when backend is postgres and the table could be read
  type: str
  sample: timestamp without time zone
stored_time_zone:
  description: The zone naive expiry times were read in (O(stored_time_zone) as PostgreSQL names it); null for other columns.
  returned: when backend is postgres
  type: str
  sample: UTC
deferred_ambiguous:
  description:
    - Sessions kept because their naive wall time falls in the hour O(stored_time_zone) repeats at the end of DST right
      after the cutoff (they may be live); the next run deletes those that expired. Usually 0.
  returned: when backend is postgres
  type: int
  sample: 0
order:
  description: Batch order used (C(expiry) or C(physical)); null in check mode.
  returned: when backend is postgres
  type: str
  sample: physical
order_reason:
  description: Why, for O(order=auto) the planner's estimate of the expired rows and the expiry column's correlation.
  returned: when backend is postgres
  type: str
  sample: "planner estimate: 1000000 of 2000000 rows expired (50%), expiry correlation 0.01"
skip_locked_retries:
  description: Batches that met a row someone held for more than 20 ms and ran again with C(SKIP LOCKED).
  returned: when backend is postgres
  type: int
  sample: 0
batches:
  description: Batches (transactions) run.
  returned: when backend is postgres
  type: int
  sample: 24
duration:
  description: Seconds the purge took.
  returned: always
  type: float
  sample: 3.2
stopped:
  description: "Why the purge ended: C(done), C(time_budget), C(max_batches), C(lock_timeout), C(statement_timeout), C(error), C(check_mode)."
  returned: always
  type: str
  sample: done
statements:
  description: Each distinct SQL statement run, with its parameters and how many times it ran.
  returned: when backend is postgres
  type: list
  elements: dict
  sample: [{statement: "DELETE FROM \"sessions\" WHERE ctid >= %(lo)s::tid AND ...", params: {before: "2026-11-24T06:00:00+00:00", lo: "(0,0)", hi: "(96,0)"},
            runs: 24}]
vacuumed:
  description: Whether C(VACUUM (ANALYZE)) ran on the table.
  returned: when backend is postgres
  type: bool
  sample: true
scanned:
  description: Keys scanned (C(backend=redis)).
  returned: when backend is redis
  type: int
  sample: 5000
ttl_set:
  description: Keys given a TTL (C(backend=redis)).
  returned: when backend is redis
  type: int
  sample: 12
files:
  description: Files removed (or that would be, in check mode), at most 1000 listed (C(backend=files)).
  returned: when backend is files
  type: list
  elements: dict
  sample: [{path: /var/lib/php/sessions/sess_abc, bytes: 120, reason: age}]
checks:
  description:
    - The checks, in the collection's result model (C(session_cleanup.purge), C(session_cleanup.expired_backlog),
      C(session_cleanup.postgres), C(session_cleanup.redis), C(session_cleanup.files.removed)).
  returned: always
  type: list
  elements: dict
  sample: [{name: session_cleanup.purge, status: ok, value: 120000, unit: sessions, threshold: null, priority: low,
            reason: "deleted 120000 expired session(s) in 24 batch(es) in 3.2 s; no expired session left"}]
status:
  description: The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);
    C(ok) when there is no check.
  returned: always
  type: str
  sample: ok
counts:
  description: Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.
  returned: always
  type: dict
  sample: {ok: 2, warning: 0, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import check_argument_spec, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import postgres_argument_spec
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import session_cleanup


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(**postgres_argument_spec(
            backend=dict(type='str', default='postgres', choices=['postgres', 'redis', 'files']),
            table=dict(type='str'), schema=dict(type='str'),
            key_column=dict(type='str', default='id', no_log=False), expiry_column=dict(type='str', default='expires_at'),
            expiry_format=dict(type='str', default='timestamp', choices=['timestamp', 'epoch', 'epoch_ms']),
            stored_time_zone=dict(type='str', default='UTC'),
            grace=dict(type='str', default='0'), lifetime=dict(type='str'),
            batch_size=dict(type='int', default=5000), pause=dict(type='str', default='0'),
            order=dict(type='str', default='auto', choices=['auto', 'expiry', 'physical']),
            time_budget=dict(type='str'), max_batches=dict(type='int'),
            lock_timeout=dict(type='str', default='2s'), statement_timeout=dict(type='str', default='30s'),
            vacuum=dict(type='str', default='auto', choices=['auto', 'always', 'never']),
            vacuum_min_rows=dict(type='int', default=10000),
            redis_host=dict(type='str', default='127.0.0.1'), redis_port=dict(type='int', default=6379),
            redis_username=dict(type='str'), redis_password=dict(type='str', no_log=True),
            redis_db=dict(type='int', default=0), redis_tls=dict(type='bool', default=False),
            redis_ca_cert=dict(type='path'), pattern=dict(type='str'), expiry_field=dict(type='str'),
            expiry_unit=dict(type='str', default='s', choices=['s', 'ms']), default_ttl=dict(type='str'),
            scan_count=dict(type='int', default=500),
            path=dict(type='path'), patterns=dict(type='list', elements='str', default=['sess_*']),
            recurse=dict(type='bool', default=False), allow_match_all=dict(type='bool', default=False),
        )),
        required_if=[('backend', 'postgres', ['table']), ('backend', 'redis', ['pattern']),
                     ('backend', 'files', ['path', 'lifetime'])],
        supports_check_mode=True,
    )
    deps.require(module, *session_cleanup.REQUIRES[module.params['backend']])
    report = run(module, session_cleanup.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
