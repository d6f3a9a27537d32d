#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: backup_verify
short_description: Verify backup sets - completion, size, integrity, storage - and run test restores
version_added: 0.1.0
description:
  - Verifies backup sets described in inventory (a directory and a name pattern, or explicit files) holding
    C(pg_dump) archives (custom, directory, tar, plain SQL, plain SQL compressed with gzip or zstd), tar archives
    (plain, gzip, zstd), gzip or zstd files, or plain files.
  - B(Completion) - the newest backup exists, its age is within the recovery point objective (threshold
    C(backup_age)), its completion marker exists and is not older than it, and no partial or temporary file is
    newer than it.
  - B(Size) - no backup is empty or smaller than O(sets[].min_size); the newest did not shrink against the previous
    one by more than the C(backup_shrink) threshold.
  - B(Integrity) - every backup can be read; checksums from a C(sha256sum)-format manifest or per-backup checksum
    files match, every manifest entry has its file and every backup file is listed; compressed archives are read
    through to the end of their stream (gzip CRC and length, zstd frame checksums, tar end-of-archive marker);
    C(pg_dump) archives are listed with C(pg_restore --list) and read through with C(pg_restore --file=/dev/null).
  - B(Storage) - used space and inodes of the backup volume (threshold C(backup_volume_used)), total size of the
    set, growth against the previous run (threshold C(backup_growth), kept in O(state_file)), retention (count and
    age of the oldest backup against O(sets[].retention)).
  - B(Test restore) - with O(sets[].restore), the newest C(pg_dump) archive is restored into a scratch database with
    a unique name, validation queries run against it, row counts are compared with a row-count manifest or the
    source database, the restore duration is recorded (threshold C(backup_restore_duration), the recovery time
    objective), and the scratch database is always dropped, also when a step fails; scratch databases left by an
    interrupted earlier run are swept. Other backups are restored into a scratch directory and compared by checksum.
  - B(pgBackRest and restic) repositories are read through C(pgbackrest --output=json info) (and
    C(pgbackrest verify)), C(restic snapshots --json) and C(restic check); their output is parsed, the exit code
    alone is never trusted.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
  - autopilotcx.maintenance.postgres
options:
  sets:
    description:
      - The backup sets to verify.
      - With O(sets), O(pgbackrest) and O(restic) all empty the module fails with "nothing to verify".
      - A backup in O(sets[].path) that is a symbolic link leading out of it is reported unreadable and never opened.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the set; the target of its checks and the key in O(state_file).
        type: str
        required: true
      path:
        description: Directory holding the backups. Required unless O(sets[].files) is given.
        type: path
      pattern:
        description: Shell pattern of the backup names in O(sets[].path).
        type: str
        default: '*'
      files:
        description: Explicit backup paths instead of O(sets[].path) and O(sets[].pattern).
        type: list
        elements: path
      kind:
        description:
          - What the backups are. C(auto) detects it from the content and the name.
          - Declare C(pg_dump) for dumps so that a damaged or empty dump is still handed to C(pg_restore).
        type: str
        choices: [auto, pg_dump, tar, gzip, zstd, plain]
        default: auto
      manifest:
        description:
          - Checksum manifest in C(sha256sum) format (GNU or BSD style), relative to O(sets[].path) (an absolute
            path or one with C(..) is refused).
          - Entries naming a file outside the set (absolute, with C(..), a NUL byte, or a symbolic link leading out
            of O(sets[].path)) are refused and reported critical; they are never opened, read or hashed.
        type: str
      checksum_suffix:
        description: Suffix of a per-backup checksum file, for example C(.sha256) for C(app.dump.sha256).
        type: str
      completion_marker:
        description:
          - Name of the file the backup tool writes when a backup finished, relative to O(sets[].path).
            C({file}) is replaced by the newest backup's name, C({name}) by the set name.
        type: str
      partial_patterns:
        description: Shell patterns of partial or temporary files.
        type: list
        elements: str
        default: ['*.tmp', '*.part', '*.partial', '*.inprogress', '*.incomplete', '.*.swp']
      exclude:
        description: Shell patterns of files in O(sets[].path) that are not backups.
        type: list
        elements: str
        default: []
      min_size:
        description: Smallest acceptable backup size in bytes.
        type: int
        default: 1
      integrity_scope:
        description: Verify checksums and read through C(all) backups of the set or only the C(newest).
        type: str
        choices: [all, newest]
        default: all
      read_through:
        description: Read compressed archives and dumps through to their end.
        type: bool
        default: true
      age_threshold:
        description: Name of the threshold for the newest backup's age in hours.
        type: str
        default: backup_age
      shrink_threshold:
        description: Name of the threshold for the size drop in percent.
        type: str
        default: backup_shrink
      volume_threshold:
        description: Name of the threshold for used space and inodes of the backup volume in percent.
        type: str
        default: backup_volume_used
      growth_threshold:
        description: Name of the threshold for the set's growth since the previous run in percent.
        type: str
        default: backup_growth
      retention:
        description: Retention expectations; a breach is a warning.
        type: dict
        suboptions:
          min_count:
            description: At least this many backups.
            type: int
          max_count:
            description: At most this many backups (pruning works).
            type: int
          min_oldest_days:
            description: The oldest backup is at least this many days old.
            type: float
          max_oldest_days:
            description: The oldest backup is at most this many days old.
            type: float
      restore:
        description: Test restore of the newest backup. Omit to skip.
        type: dict
        suboptions:
          enabled:
            description: Run the test restore.
            type: bool
            default: true
          scratch_prefix:
            description: Prefix of the scratch database name; leftovers with this prefix are swept.
            type: str
            default: apcx_restore_
          jobs:
            description: Parallel C(pg_restore) jobs (custom and directory formats).
            type: int
            default: 1
          no_owner:
            description:
              - Restore without ownership and privileges, so that the roles of the source need not own anything on
                the restore server (C(pg_restore --no-owner --no-privileges)); for a plain SQL dump its C(ALTER ... OWNER TO),
                C(GRANT), C(REVOKE) and C(ALTER DEFAULT PRIVILEGES) statements are left out the same way, and the
                number left out is reported in a C(backup.restore.roles) check.
              - Row security policies still name their roles; see O(sets[].restore.map_roles).
            type: bool
            default: true
          skip_extensions:
            description:
              - Extensions whose C(CREATE EXTENSION) and C(COMMENT ON EXTENSION) entries are left out of the restore
                (C(pg_restore -L) with a filtered C(pg_restore --list)); C(all) leaves out every extension.
              - For a login with only C(CREATEDB), which may not create extensions such as C(pg_stat_statements).
                What was left out is reported in a C(backup.restore.skipped) check and the restore evidence.
              - Custom, directory and tar archives only; with a plain SQL dump the restore is critical.
            type: list
            elements: str
            default: []
            version_added: 0.2.0
          map_roles:
            description:
              - >-
                Roles of the dump the restore server does not have, mapped to roles it has, for example
                C({app_owner: restore_login}); the target C(CURRENT_USER) is the restoring login, and the key C(*) maps
                every role named by the dump that does not exist on the server (C({"*": CURRENT_USER})).
              - Applies to C(ALTER ... OWNER TO), C(GRANT)/C(REVOKE), C(ALTER DEFAULT PRIVILEGES) and row security
                policies (C(CREATE POLICY ... TO role)), which O(sets[].restore.no_owner) cannot leave out.
              - With a map the restore runs as C(pg_restore --file -) (or the plain dump) piped through the mapping into
                C(psql --single-transaction), so O(sets[].restore.jobs) does not apply. What was mapped is reported
                in a C(backup.restore.roles) check and in the restore evidence (C(roles)).
              - A restore that fails on a role the server lacks names the role and this option.
            type: dict
            default: {}
            version_added: 0.2.0
          timeout:
            description: Seconds the restore may take.
            type: int
            default: 3600
          validations:
            description:
              - Checks against the restored database. Each item has C(table) (the table must exist; with C(min_rows)
                it must hold at least that many rows) or C(query) (it must return a row; with C(min_rows) at least
                that many rows, with C(min_value) a first column at least that number, with C(expect) a first column
                equal to that value), and an optional C(name).
            type: list
            elements: dict
            default: []
          row_counts_file:
            description:
              - >-
                JSON file mapping C(schema.table) to its row count, written beside the dump, relative to
                O(sets[].path); C({file}) is replaced by the dump's name. Restored row counts must match it exactly.
            type: str
          source_db:
            description:
              - Database on the same server whose current row counts are compared with the restored ones (the
                difference is held against the C(backup_row_count_drift) threshold).
            type: str
          scratch_dir:
            description: Parent directory of the scratch directory for file restores.
            type: path
          duration_threshold:
            description: Name of the threshold for the restore duration in seconds.
            type: str
            default: backup_restore_duration
          drift_threshold:
            description: Name of the threshold for the row-count difference against the source in percent.
            type: str
            default: backup_row_count_drift
  pgbackrest:
    description: pgBackRest stanzas to read.
    type: list
    elements: dict
    default: []
    suboptions:
      stanza:
        description: Stanza name.
        type: str
        required: true
      config:
        description: pgBackRest configuration file.
        type: path
      binary:
        description: pgbackrest command.
        type: str
        default: pgbackrest
      verify:
        description: Also run C(pgbackrest verify) (reads the whole repository).
        type: bool
        default: false
      timeout:
        description: Seconds each command may take.
        type: int
        default: 3600
      age_threshold:
        description: Threshold name for the newest backup's age.
        type: str
        default: backup_age
  restic:
    description: restic repositories to read.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name used as the check target; defaults to the repository.
        type: str
      repository:
        description: Repository location (C(RESTIC_REPOSITORY)).
        type: str
        required: true
      password_file:
        description: File holding the repository password.
        type: path
      password:
        description: "Repository password; prefer O(restic[].password_file)."
        type: str
      env:
        description: Further environment variables (backend credentials).
        type: dict
        default: {}
      binary:
        description: restic command.
        type: str
        default: restic
      check:
        description: Run C(restic check).
        type: bool
        default: true
      read_data_subset:
        description: Also read this share of the data packs, for example C(5%).
        type: str
      host:
        description: Only snapshots of this host count.
        type: str
      path:
        description: Only snapshots of this path count.
        type: str
      timeout:
        description: Seconds each command may take.
        type: int
        default: 3600
      age_threshold:
        description: Threshold name for the newest snapshot's age.
        type: str
        default: backup_age
  pg_bindir:
    description:
      - Directory of C(pg_restore) and C(psql). Default the newest C(/usr/lib/postgresql/*/bin), then E(PATH).
      - C(pg_restore) must be at least as new as the C(pg_dump) that wrote the archives.
    type: path
  state_file:
    description: JSON file keeping each set's size between runs, for the growth check. Not written in check mode.
    type: path
  restore_in_check_mode:
    description:
      - In check mode the test restore is skipped (reported as C(unknown), priority low) because it creates and drops
        a database on a server. Set this to run it in check mode too; nothing permanent changes either way.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - Every file check, pgBackRest and restic read runs. The test restore is skipped unless O(restore_in_check_mode)
        is set, and O(state_file) is not written.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The module reports C(changed=false); the scratch database or directory of a test restore exists only during the
    run and is always removed.
  - Thresholds read (default names) are C(backup_age) (h), C(backup_shrink) (%), C(backup_volume_used) (%),
    C(backup_growth) (%), C(backup_restore_duration) (s), C(backup_row_count_drift) (%).
  - Run it as an account that can read the backups but not change them. C(root) reads everything, so a backup
    unreadable for the restore account is only found when the check runs as that account.
requirements:
  - pg_restore and psql (postgresql-client) for pg_dump archives; zstd for .zst files; pgbackrest and restic for those
    repositories.
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.metric_check
  - name: pgBackRest verify command
    description: pgBackRest's own repository verification, which this module can run and parse.
    link: https://pgbackrest.org/command.html#command-verify
'''

EXAMPLES = r'''
---
- name: Verify the nightly dumps and restore the newest into a scratch database
  autopilotcx.maintenance.backup_verify:
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
    login_host: db1.internal
    login_user: restore_check
    login_password: "{{ vault_restore_check_password }}"
    state_file: /var/lib/autopilotcx/backup-state.json
    sets:
      - name: app_db
        path: /backups/app
        pattern: "app-*.dump"
        kind: pg_dump
        manifest: SHA256SUMS
        completion_marker: "{file}.done"
        retention: {min_count: 7, max_count: 16}
        restore:
          row_counts_file: "{file}.rows.json"
          validations:
            - {table: public.accounts, min_rows: 1000}
            - {name: recent orders, query: "SELECT id FROM orders WHERE created > now() - interval '2 days'", min_rows: 1}
  register: backups

- name: Stop when a backup is broken
  ansible.builtin.assert:
    that: backups.status != 'critical'
    fail_msg: "{{ backups.checks | selectattr('status', 'eq', 'critical') | map(attribute='reason') | join('; ') }}"

- name: Read a pgBackRest stanza and a restic repository
  autopilotcx.maintenance.backup_verify:
    thresholds: "{{ maintenance_checks_thresholds }}"
    pgbackrest:
      - {stanza: main, verify: true}
    restic:
      - {name: files, repository: "s3:s3.amazonaws.com/acme-backups", password_file: /etc/restic/password,
         read_data_subset: "2%"}
  register: repositories
'''

RETURN = r'''
checks:
  description: Every check in the collection's result model, target C(<set>) or C(<set>:<file or validation>).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: backup.completion.age, status: ok, value: 1.2, unit: h, threshold: 26, priority: high,
       reason: "newest backup app-2026-11-24.dump age 1.2 h <= 26 h", target: app_db}
    - {name: backup.restore, status: ok, value: 4.81, unit: s, threshold: 1800, priority: medium,
       reason: "test restore of app-2026-11-24.dump took 4.81 s <= 1800 s", target: app_db}
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
  sample: {ok: 17, warning: 0, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: []
sets:
  description: What was found per set - backups, newest, archives read, restore evidence (database, commands, duration).
  returned: always
  type: list
  elements: dict
  sample:
    - name: app_db
      count: 7
      total_size: 734003200
      newest: {name: app-2026-11-24.dump, size: 104857600, mtime: "2026-11-24T02:00:11Z", age_hours: 4.5}
      restore: {database: apcx_restore_20261124063012_k3v9qa, duration: 4.81, created: true, dropped: true}
state_written:
  description: Whether O(state_file) was updated.
  returned: always
  type: bool
  sample: true
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups import backup_verify
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import (
    check_argument_spec,
    finish,
    run,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import postgres_argument_spec


SET_OPTIONS = dict(
    name=dict(type='str', required=True),
    path=dict(type='path'),
    pattern=dict(type='str', default='*'),
    files=dict(type='list', elements='path'),
    kind=dict(type='str', default='auto', choices=['auto', 'pg_dump', 'tar', 'gzip', 'zstd', 'plain']),
    manifest=dict(type='str'),
    checksum_suffix=dict(type='str'),
    completion_marker=dict(type='str'),
    partial_patterns=dict(type='list', elements='str',
                          default=['*.tmp', '*.part', '*.partial', '*.inprogress', '*.incomplete', '.*.swp']),
    exclude=dict(type='list', elements='str', default=[]),
    min_size=dict(type='int', default=1),
    integrity_scope=dict(type='str', default='all', choices=['all', 'newest']),
    read_through=dict(type='bool', default=True),
    age_threshold=dict(type='str', default='backup_age'),
    shrink_threshold=dict(type='str', default='backup_shrink'),
    volume_threshold=dict(type='str', default='backup_volume_used'),
    growth_threshold=dict(type='str', default='backup_growth'),
    retention=dict(type='dict', options=dict(
        min_count=dict(type='int'), max_count=dict(type='int'),
        min_oldest_days=dict(type='float'), max_oldest_days=dict(type='float'))),
    restore=dict(type='dict', options=dict(
        enabled=dict(type='bool', default=True),
        scratch_prefix=dict(type='str', default='apcx_restore_'),
        jobs=dict(type='int', default=1),
        no_owner=dict(type='bool', default=True),
        skip_extensions=dict(type='list', elements='str', default=[]),
        map_roles=dict(type='dict', default={}),
        timeout=dict(type='int', default=3600),
        validations=dict(type='list', elements='dict', default=[]),
        row_counts_file=dict(type='str'),
        source_db=dict(type='str'),
        scratch_dir=dict(type='path'),
        duration_threshold=dict(type='str', default='backup_restore_duration'),
        drift_threshold=dict(type='str', default='backup_row_count_drift'),
    )),
)


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(**postgres_argument_spec(
            sets=dict(type='list', elements='dict', default=[], options=SET_OPTIONS),
            pgbackrest=dict(type='list', elements='dict', default=[], options=dict(
                stanza=dict(type='str', required=True),
                config=dict(type='path'),
                binary=dict(type='str', default='pgbackrest'),
                verify=dict(type='bool', default=False),
                timeout=dict(type='int', default=3600),
                age_threshold=dict(type='str', default='backup_age'),
            )),
            restic=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str'),
                repository=dict(type='str', required=True),
                password_file=dict(type='path', no_log=False),
                password=dict(type='str', no_log=True),
                env=dict(type='dict', default={}, no_log=True),
                binary=dict(type='str', default='restic'),
                check=dict(type='bool', default=True),
                read_data_subset=dict(type='str'),
                host=dict(type='str'),
                path=dict(type='str'),
                timeout=dict(type='int', default=3600),
                age_threshold=dict(type='str', default='backup_age'),
            )),
            pg_bindir=dict(type='path'),
            state_file=dict(type='path'),
            restore_in_check_mode=dict(type='bool', default=False),
        )),
        supports_check_mode=True,
    )
    module.no_log_values.update(backup_verify.secrets(module.params))
    report = run(module, backup_verify.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
