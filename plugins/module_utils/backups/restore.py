# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_dump archives and test restores for ``backup_verify``.

- ``pg_list`` / ``pg_read_through``: ``pg_restore --list`` (the table of contents)
  and ``pg_restore --file=/dev/null`` (every data block read and decompressed).
- ``restore_database``: a pg_dump archive restored into a scratch database with a
  unique name, validation queries, row-count comparison, the restore duration,
  and the scratch database ALWAYS dropped (``try``/``finally``), plus a sweep of
  scratch databases that an interrupted earlier run left behind.
- ``RoleFilter``: the SQL stream of a restore with the roles the restore server lacks
  mapped (``restore.map_roles``), and a plain dump's owner and privilege statements left
  out as ``pg_restore --no-owner --no-privileges`` does for archives.
- ``restore_files``: an archive or file restored into a scratch directory with
  checksum comparison; the directory is always removed.

Identifiers are quoted with ``psycopg.sql.Identifier``, values passed as parameters.
"""

import glob
import hashlib
import json
import os
import random
import re
import shutil
import string
import subprocess
import tempfile
import threading
import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import digits_utc, epoch_from_digits
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups import files as bf
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import postgres as pg
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

SCRATCH_NAME = re.compile(r'^(?P<prefix>.*)(?P<stamp>\d{14})_[a-z0-9]{6}$')


# ------------------------------------------------------------------ tools
def find_tool(name, bindir=None):
    """Path of a PostgreSQL client program: ``bindir``, else PATH, else the newest /usr/lib/postgresql/*/bin."""
    if bindir:
        path = os.path.join(bindir, name)
        if os.access(path, os.X_OK):
            return path
        raise MaintenanceError('%s not found in pg_bindir %s' % (name, bindir))
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin/%s' % name),
                        key=lambda p: int(p.split('/')[-3]) if p.split('/')[-3].isdigit() else 0)
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if found:
        return found
    raise MaintenanceError('%s not found: install the PostgreSQL client (postgresql-client) or set pg_bindir' % name)


def _one_line(text, limit=400):
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    errors = [line for line in lines if 'error' in line.lower() or 'fatal' in line.lower()]
    text = ' | '.join(errors or lines)
    return text[:limit] + ('...' if len(text) > limit else '')


def pg_list(path, bindir=None, timeout=600):
    """``pg_restore --list``: ``(entries, error)``; entries counts TOC lines by object type."""
    tool = find_tool('pg_restore', bindir)
    try:
        proc = subprocess.run([tool, '--list', path], capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, 'pg_restore --list timed out after %d s' % timeout
    if proc.returncode != 0:
        return None, 'pg_restore --list failed: %s' % _one_line(proc.stderr.decode('utf-8', 'replace'))
    counts = {}
    for line in proc.stdout.decode('utf-8', 'replace').splitlines():
        if not line or line.startswith(';'):
            continue
        parts = line.split()
        # "123; 1259 16390 TABLE public accounts owner" / "4001; 0 16390 TABLE DATA public accounts owner"
        if len(parts) >= 4:
            kind = parts[3] + (' DATA' if len(parts) > 4 and parts[4] == 'DATA' else '')
            counts[kind] = counts.get(kind, 0) + 1
    return counts, None


_TOC_EXTENSION = re.compile(r'^\d+; \d+ \d+ (?:EXTENSION - |COMMENT - EXTENSION )(?P<name>\S+)')


def extension_entries(toc, names):
    """Split ``pg_restore --list`` output into (kept lines, skipped lines): CREATE EXTENSION and COMMENT ON
    EXTENSION entries of the extensions in ``names`` (``all``: every extension) are skipped."""
    wanted = set(names or ())
    kept, skipped = [], []
    for line in toc.splitlines():
        match = _TOC_EXTENSION.match(line)
        if match and ('all' in wanted or match.group('name') in wanted):
            skipped.append(line.strip())
        else:
            kept.append(line)
    return kept, skipped


def filtered_list(path, names, directory, bindir=None, timeout=600):
    """A ``pg_restore -L`` list file without the skipped extensions: ``(list path, skipped lines, error)``."""
    tool = find_tool('pg_restore', bindir)
    try:
        proc = subprocess.run([tool, '--list', path], capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, [], 'pg_restore --list timed out after %d s' % timeout
    if proc.returncode != 0:
        return None, [], 'pg_restore --list failed: %s' % _one_line(proc.stderr.decode('utf-8', 'replace'))
    kept, skipped = extension_entries(proc.stdout.decode('utf-8', 'replace'), names)
    handle, list_path = tempfile.mkstemp(prefix='apcx-restore-', suffix='.list', dir=directory)
    with os.fdopen(handle, 'w') as out:
        out.write('\n'.join(kept) + '\n')
    return list_path, skipped, None


def pg_read_through(path, bindir=None, timeout=3600):
    """``pg_restore --file=/dev/null``: reads and decompresses every data block; returns the error or None."""
    tool = find_tool('pg_restore', bindir)
    try:
        proc = subprocess.run([tool, '--file', os.devnull, path], capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 'pg_restore read-through timed out after %d s' % timeout
    if proc.returncode != 0:
        return 'pg_restore could not read the archive: %s' % _one_line(proc.stderr.decode('utf-8', 'replace'))
    return None


# ------------------------------------------------------------------ roles
_IDENT = r'"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*'
_ROLE_LIST = re.compile(r'(?P<keyword>\b(?:OWNER TO|TO|FROM|FOR ROLE|FOR USER) )(?P<roles>(?:%s)(?:, *(?:%s))*)'
                        % (_IDENT, _IDENT))
_ONE_ROLE = re.compile(_IDENT)
_OWNER_STATEMENT = re.compile(r'^ALTER [A-Z ]+ .* OWNER TO (?:%s);$' % _IDENT)
_PRIVILEGE_STATEMENT = re.compile(r'^(?:GRANT|REVOKE|ALTER DEFAULT PRIVILEGES) ')
_POLICY_STATEMENT = re.compile(r'^(?:CREATE|ALTER) POLICY ')
_COPY_START = re.compile(r'^COPY .* FROM stdin;$')
_ROLE_KEYWORDS = ('PUBLIC', 'CURRENT_USER', 'SESSION_USER', 'CURRENT_ROLE')
_MISSING_ROLE = re.compile(r'role "(?P<name>[^"]+)" does not exist')


def _unquote(identifier):
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"'), True
    return identifier, False


def _quote_role(name):
    if name.upper() in _ROLE_KEYWORDS:
        return name.upper()
    return '"%s"' % name.replace('"', '""')


class RoleFilter(object):
    """Rewrites the SQL of a restore, one line at a time (pg_dump writes these statements on one line each).

    ``mapping`` ``{source role: target role}`` replaces a role in ``ALTER ... OWNER TO``, ``GRANT``/``REVOKE``,
    ``ALTER DEFAULT PRIVILEGES`` and ``CREATE``/``ALTER POLICY``; the key ``*`` maps every role missing from
    ``existing`` (the restore server's roles). A target may be ``CURRENT_USER`` (the restoring login).
    With ``no_owner`` the owner and privilege statements are left out, as ``pg_restore --no-owner
    --no-privileges`` does for archives. COPY data is passed through untouched.
    ``mapped`` counts the statements changed per role, ``left_out`` the statements dropped.
    """

    def __init__(self, mapping, existing=None, no_owner=True):
        self.mapping = dict(mapping or {})
        self.existing = set(existing) if existing is not None else None
        self.no_owner = no_owner
        self.in_copy = False
        self.mapped = {}
        self.left_out = {'owner': 0, 'privileges': 0}

    def target(self, name, quoted):
        if not quoted and name.upper() in _ROLE_KEYWORDS:
            return None
        if name in self.mapping:
            return self.mapping[name]
        if '*' in self.mapping and self.existing is not None and name not in self.existing:
            return self.mapping['*']
        return None

    def _roles(self, text, changed):
        def one(match):
            name, quoted = _unquote(match.group(0))
            target = self.target(name, quoted)
            if target is None:
                return match.group(0)
            changed.add(name)
            self.mapped.setdefault(name, {'to': target, 'statements': 0})
            return _quote_role(target)
        return _ONE_ROLE.sub(one, text)

    def line(self, text):
        bare = text.rstrip('\r\n')
        if self.in_copy:
            if bare == '\\.':
                self.in_copy = False
            return text
        if _COPY_START.match(bare):
            self.in_copy = True
            return text
        owner = _OWNER_STATEMENT.match(bare)
        privileges = _PRIVILEGE_STATEMENT.match(bare)
        if self.no_owner and (owner or privileges):
            self.left_out['owner' if owner else 'privileges'] += 1
            return ''
        if not (owner or privileges or _POLICY_STATEMENT.match(bare)) or not self.mapping:
            return text
        changed = set()
        result = _ROLE_LIST.sub(lambda m: m.group('keyword') + self._roles(m.group('roles'), changed), text)
        for name in changed:
            self.mapped[name]['statements'] += 1
        return result

    def report(self):
        return {'mapped': self.mapped, 'left_out': self.left_out}


def missing_role_hint(error):
    """A hint naming restore.map_roles when the restore failed on a role the server does not have."""
    match = _MISSING_ROLE.search(error or '')
    if not match:
        return ''
    name = match.group('name')
    return ('; the dump names role %s, which does not exist on the restore server: map it with restore.map_roles'
            ' ({%s: CURRENT_USER}, or {"*": CURRENT_USER} for every role the server lacks)' % (name, name))


# ------------------------------------------------------------------ scratch databases
def scratch_name(prefix, now=None):
    stamp = digits_utc(now if now is not None else time.time())
    suffix = ''.join(random.SystemRandom().choice(string.ascii_lowercase + string.digits) for _index in range(6))
    name = '%s%s_%s' % (prefix, stamp, suffix)
    if len(name.encode('utf-8')) > 63:
        raise MaintenanceError('scratch database prefix %r is too long (names are limited to 63 bytes)' % prefix)
    return name


def _is_stale(name, prefix, now, min_age):
    match = SCRATCH_NAME.match(name)
    if not match or match.group('prefix') != prefix:
        return False
    try:
        created = epoch_from_digits(match.group('stamp'))
    except ValueError:
        return True
    return now - created >= min_age


def sweep_scratch(conn, prefix, min_age, now=None):
    """Drop scratch databases with ``prefix`` older than ``min_age`` seconds (left by an interrupted run).

    Younger ones may belong to a restore that is running right now and are left alone.
    Returns ``(dropped, errors)``.
    """
    sql = deps.load('psycopg').sql
    now = time.time() if now is None else now
    rows = conn.execute('SELECT datname FROM pg_database WHERE starts_with(datname, %s)', (prefix,)).fetchall()
    dropped, errors = [], []
    for (name,) in rows:
        if not _is_stale(name, prefix, now, min_age):
            continue
        try:
            conn.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))
            dropped.append(name)
        except Exception as exc:  # psycopg.Error; keep sweeping the others
            errors.append('%s: %s' % (name, ' '.join(str(exc).split())))
    return dropped, errors


def database_exists(conn, name):
    return conn.execute('SELECT 1 FROM pg_database WHERE datname = %s', (name,)).fetchone() is not None


def libpq_env(params, dbname=None):
    """Environment for pg_restore/psql: the connection options as PG* variables (the password never on argv)."""
    kw = pg.libpq_params(params)
    mapping = {'host': 'PGHOST', 'port': 'PGPORT', 'user': 'PGUSER', 'password': 'PGPASSWORD',
               'sslmode': 'PGSSLMODE', 'sslrootcert': 'PGSSLROOTCERT', 'connect_timeout': 'PGCONNECT_TIMEOUT',
               'application_name': 'PGAPPNAME'}
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('PG'))
    for key, var in mapping.items():
        if kw.get(key) is not None:
            env[var] = str(kw[key])
    if dbname:
        env['PGDATABASE'] = dbname
    env['PGOPTIONS'] = '-c client_min_messages=warning'
    return env


class RestoreResult(object):
    """What a test restore did: every step, for checks and evidence."""

    def __init__(self, database, archive):
        self.database = database
        self.archive = archive
        self.created = False
        self.restore_error = None
        self.duration = None
        self.total_duration = None
        self.validations = []
        self.row_counts = None
        self.dropped = False
        self.drop_error = None
        self.swept = []
        self.sweep_errors = []
        self.commands = []
        self.skipped = []
        self.roles = None

    def as_dict(self):
        return dict((key, getattr(self, key)) for key in (
            'database', 'archive', 'created', 'restore_error', 'duration', 'total_duration', 'validations',
            'row_counts', 'dropped', 'drop_error', 'swept', 'sweep_errors', 'commands', 'skipped', 'roles'))


def _restore_command(path, detail, database, bindir, jobs, no_owner, list_file=None):
    """The command line (and the decompressor feeding it, if any) that restores ``path``."""
    if detail in ('plain', 'plain-gzip', 'plain-zstd'):
        command = [find_tool('psql', bindir), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction',
                   '-d', database, '-f', '-']
        return command
    command = [find_tool('pg_restore', bindir), '--exit-on-error', '-d', database]
    if no_owner:
        command += ['--no-owner', '--no-privileges']
    if jobs and jobs > 1 and detail in ('custom', 'directory'):
        command += ['--jobs', str(jobs)]
    if list_file:
        command += ['-L', list_file]
    return command + [path]


def _restore(path, detail, database, params, bindir, jobs, no_owner, timeout, list_file, role_filter):
    """Run the restore, through the role filter when there is one: ``(command text, error)``."""
    if role_filter is not None:
        return _run_filtered_restore(path, detail, database, params, bindir, no_owner, timeout, list_file,
                                     role_filter)
    command, error = _run_restore(path, detail, database, params, bindir, jobs, no_owner, timeout, list_file)
    return ' '.join(command), error


def _run_restore(path, detail, database, params, bindir, jobs, no_owner, timeout, list_file=None):
    command = _restore_command(path, detail, database, bindir, jobs, no_owner, list_file)
    env = libpq_env(params, database)
    feeder = None
    try:
        if detail == 'plain':
            stdin = bf.open_read(path)
        elif detail == 'plain-gzip':
            feeder = subprocess.Popen(['gzip', '-dc', '--', path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            stdin = feeder.stdout
        elif detail == 'plain-zstd':
            feeder = subprocess.Popen(['zstd', '-dcq', '--', path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            stdin = feeder.stdout
        else:
            stdin = subprocess.DEVNULL
        try:
            proc = subprocess.run(command, stdin=stdin, capture_output=True, env=env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return command, 'restore timed out after %d s' % timeout
        finally:
            if stdin not in (subprocess.DEVNULL, None):
                stdin.close()
        if feeder is not None:
            err = feeder.stderr.read().decode('utf-8', 'replace')
            if feeder.wait() != 0:
                return command, 'decompression failed: %s' % _one_line(err)
        if proc.returncode != 0:
            return command, '%s failed (exit %d): %s' % (os.path.basename(command[0]), proc.returncode,
                                                         _one_line(proc.stderr.decode('utf-8', 'replace')))
        return command, None
    finally:
        if feeder is not None and feeder.poll() is None:
            feeder.kill()
            feeder.wait()


def _producer_command(path, detail, bindir, no_owner, list_file):
    """What writes the SQL a filtered restore reads: a decompressor, pg_restore to stdout, or None (the file)."""
    if detail == 'plain':
        return None
    if detail == 'plain-gzip':
        return ['gzip', '-dc', '--', path]
    if detail == 'plain-zstd':
        return ['zstd', '-dcq', '--', path]
    command = [find_tool('pg_restore', bindir), '--file', '-']
    if no_owner:
        command += ['--no-owner', '--no-privileges']
    if list_file:
        command += ['-L', list_file]
    return command + [path]


def _kill(process):
    if process is not None and process.poll() is None:
        process.kill()


def _run_filtered_restore(path, detail, database, params, bindir, no_owner, timeout, list_file, role_filter):
    """``<producer> | role filter | psql --single-transaction``: returns ``(command text, error)``."""
    producer_command = _producer_command(path, detail, bindir, no_owner, list_file)
    psql_command = [find_tool('psql', bindir), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction',
                    '-d', database, '-f', '-']
    producer_text = ' '.join(producer_command) if producer_command else '<' + path
    text = '%s | (role filter) | %s' % (producer_text, ' '.join(psql_command))
    env = libpq_env(params, database)
    producer = psql = source = None
    expired = []
    with tempfile.TemporaryFile() as producer_err, tempfile.TemporaryFile() as psql_err:
        try:
            if producer_command:
                producer = subprocess.Popen(producer_command, stdout=subprocess.PIPE, stderr=producer_err, env=env)
                source = producer.stdout
            else:
                source = bf.open_read(path)
            psql = subprocess.Popen(psql_command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err,
                                    env=env)

            def expire():
                expired.append(True)
                _kill(producer)
                _kill(psql)
            timer = threading.Timer(timeout, expire)
            timer.daemon = True
            timer.start()
            try:
                for raw in source:
                    out = role_filter.line(raw.decode('utf-8', 'surrogateescape'))
                    if out:
                        try:
                            psql.stdin.write(out.encode('utf-8', 'surrogateescape'))
                        except OSError:  # psql stopped on an error: its message says why
                            break
                try:
                    psql.stdin.close()
                except OSError:
                    pass
                psql.wait()
                if psql.returncode != 0:
                    _kill(producer)   # it may be blocked writing what nobody reads any more
                if producer is not None:
                    producer.wait()
            finally:
                timer.cancel()
        finally:
            if source is not None:
                source.close()
            _kill(producer)
            _kill(psql)
            for process in (producer, psql):
                if process is not None:
                    process.wait()
        if expired:
            return text, 'restore timed out after %d s' % timeout
        if psql.returncode != 0:
            psql_err.seek(0)
            return text, 'psql failed (exit %d): %s' % (psql.returncode,
                                                        _one_line(psql_err.read().decode('utf-8', 'replace')))
        if producer is not None and producer.returncode != 0:
            producer_err.seek(0)
            return text, '%s failed (exit %d): %s' % (os.path.basename(producer_command[0]), producer.returncode,
                                                      _one_line(producer_err.read().decode('utf-8', 'replace')))
    return text, None


def _count_rows(conn, table):
    """Exact row count of ``table`` (``schema.table`` or ``[schema, table]``)."""
    sql = deps.load('psycopg').sql
    return conn.execute(sql.SQL('SELECT count(*) FROM {}').format(pg.qualified_name(table))).fetchone()[0]


def run_validations(conn, validations):
    """Validation queries from inventory against the restored database.

    Each item: ``table`` (must exist; with ``min_rows`` its row count must be at least that),
    or ``query`` (must return a row; with ``min_rows`` at least that many rows; with ``min_value``
    its first column at least that number; with ``expect`` its first column equal to that value).
    Returns a list of ``{label, ok, value, expected, reason}``.
    """
    results = []
    for index, item in enumerate(validations or []):
        label = item.get('name') or item.get('table') or 'query %d' % (index + 1)
        entry = {'label': label, 'ok': False, 'value': None, 'expected': None, 'reason': ''}
        try:
            if item.get('table'):
                exists = conn.execute('SELECT to_regclass(%s) IS NOT NULL', (str(item['table']),)).fetchone()[0]
                if not exists:
                    entry['reason'] = 'table %s does not exist in the restored database' % item['table']
                    results.append(entry)
                    continue
                count = _count_rows(conn, item['table'])
                entry['value'] = count
                minimum = item.get('min_rows')
                entry['expected'] = '>= %s rows' % minimum if minimum is not None else 'exists'
                if minimum is not None and count < int(minimum):
                    entry['reason'] = 'table %s has %d rows, fewer than %s' % (item['table'], count, minimum)
                else:
                    entry['ok'] = True
                    entry['reason'] = 'table %s exists with %d rows' % (item['table'], count)
            elif item.get('query'):
                cur = conn.execute(item['query'])
                rows = cur.fetchall() if cur.description else []
                entry['value'] = len(rows)
                first = rows[0][0] if rows and rows[0] else None
                if item.get('min_rows') is not None:
                    entry['expected'] = '>= %s rows' % item['min_rows']
                    if len(rows) < int(item['min_rows']):
                        entry['reason'] = '%s returned %d rows, fewer than %s' % (label, len(rows), item['min_rows'])
                        results.append(entry)
                        continue
                if not rows:
                    entry['expected'] = entry['expected'] or 'a row'
                    entry['reason'] = '%s returned no rows' % label
                elif item.get('min_value') is not None:
                    entry['value'] = first
                    entry['expected'] = '>= %s' % item['min_value']
                    try:
                        good = first is not None and float(first) >= float(item['min_value'])
                    except (TypeError, ValueError):
                        good = False
                    entry['ok'] = good
                    relation = 'at least' if good else 'less than'
                    entry['reason'] = '%s returned %s, %s %s' % (label, first, relation, item['min_value'])
                elif item.get('expect') is not None:
                    entry['value'] = first
                    entry['expected'] = item['expect']
                    entry['ok'] = str(first) == str(item['expect'])
                    entry['reason'] = '%s returned %s, expected %s' % (label, first, item['expect'])
                else:
                    entry['ok'] = first is not None
                    entry['value'] = first if rows else None
                    entry['reason'] = '%s returned %s' % (label, first) if entry['ok'] else '%s returned NULL' % label
            else:
                entry['reason'] = 'validation %d has neither table nor query' % (index + 1)
        except Exception as exc:  # psycopg.Error from user SQL: a failed validation, not a crash
            entry['reason'] = '%s failed: %s' % (label, ' '.join(str(exc).split()))
            _rollback(conn)
        results.append(entry)
    return results


def _rollback(conn):
    try:
        conn.rollback()
    except Exception:  # connection already broken; the next statement reports it
        pass


def load_row_counts(path):
    """Row counts written beside a dump: JSON ``{"schema.table": rows}``."""
    with open(path) as handle:
        data = json.load(handle)
    if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
        raise ValueError('expected a JSON object mapping table names to row counts')
    return data


def compare_row_counts(restored_conn, expected, source_conn=None):
    """Compare restored row counts with ``expected`` (a manifest) or with the source database.

    Returns ``{'source': 'manifest'|'database', 'tables': {t: {'expected', 'restored'}}, 'mismatches': [...],
    'max_drift': percent}``.
    """
    tables = {}
    origin = 'manifest'
    if expected is None and source_conn is not None:
        origin = 'database'
        names = restored_conn.execute('SELECT schemaname, relname FROM pg_stat_user_tables ORDER BY 1, 2').fetchall()
        expected = {}
        for schema, relname in names:
            name = [schema, relname]
            key = '%s.%s' % (schema, relname)
            try:
                expected[key] = _count_rows(source_conn, name)
            except Exception as exc:  # table gone from the source since the dump
                expected[key] = None
                tables[key] = {'expected': None, 'restored': None, 'error': ' '.join(str(exc).split())}
                _rollback(source_conn)
    mismatches, drift = [], 0.0
    for name, want in sorted((expected or {}).items()):
        if want is None:
            continue
        try:
            got = _count_rows(restored_conn, name)
        except Exception as exc:  # missing table in the restore
            got = None
            _rollback(restored_conn)
            tables[name] = {'expected': want, 'restored': None, 'error': ' '.join(str(exc).split())}
            mismatches.append('%s missing from the restore' % name)
            drift = max(drift, 100.0)
            continue
        tables[name] = {'expected': want, 'restored': got}
        if got != want:
            mismatches.append('%s: %d rows restored, %d expected' % (name, got, want))
            drift = max(drift, abs(got - want) * 100.0 / want if want else 100.0)
    return {'source': origin, 'tables': tables, 'mismatches': mismatches, 'max_drift': round(drift, 3)}


def restore_database(path, detail, params, prefix='apcx_restore_', bindir=None, jobs=1, no_owner=True,
                     timeout=3600, validations=None, row_counts=None, source_db=None, now=None, skip_extensions=None,
                     map_roles=None):
    """Restore ``path`` into a fresh scratch database, validate it, and always drop it.

    ``params`` are the collection's PostgreSQL connection options (the maintenance
    database in ``login_db``). Returns a ``RestoreResult``; problems with the server or the
    archive are recorded in it, never raised (except a missing psycopg/pg_restore).
    ``skip_extensions`` (names, or ``all``): their CREATE EXTENSION and COMMENT ON EXTENSION entries are left out
    (``pg_restore -L`` with a filtered list), for a login that may not create them; ``result.skipped`` lists them.
    ``map_roles`` (``RoleFilter``), and plain SQL dumps restored with ``no_owner``, go through
    ``<producer> | role filter | psql`` (no ``--jobs``); ``result.roles`` says what was mapped and left out.
    """
    sql = deps.load('psycopg').sql
    result = RestoreResult(scratch_name(prefix, now), path)
    started = time.monotonic()
    admin = pg.connect(params)
    if not admin.ok:
        result.restore_error = 'cannot connect to %s: %s' % (admin.target, admin.error)
        result.dropped = True  # nothing was created
        return result
    restored = source = None
    try:
        result.swept, result.sweep_errors = sweep_scratch(admin.conn, prefix, min_age=timeout * 2)
        try:
            admin.conn.execute(sql.SQL('CREATE DATABASE {} TEMPLATE template0').format(sql.Identifier(result.database)))
            result.created = True
        except Exception as exc:  # psycopg.Error: no privilege, no space ...
            result.restore_error = 'cannot create scratch database %s: %s' % (result.database, pg.scrub(exc, params))
            return result
        plain = detail in ('plain', 'plain-gzip', 'plain-zstd')
        role_filter = None
        if map_roles or (plain and no_owner):
            existing = None
            if '*' in (map_roles or {}):
                existing = [row[0] for row in admin.conn.execute('SELECT rolname FROM pg_roles').fetchall()]
            role_filter = RoleFilter(map_roles, existing, no_owner)
        step = time.monotonic()
        list_file = None
        if skip_extensions:
            if detail in ('plain', 'plain-gzip', 'plain-zstd'):
                result.restore_error = ('skip_extensions needs a custom, directory or tar archive; %s is a plain SQL dump'
                                        % os.path.basename(path))
                return result
            list_dir = tempfile.mkdtemp(prefix='apcx-restore-list-')
            try:
                list_file, result.skipped, error = filtered_list(path, skip_extensions, list_dir, bindir)
                if error:
                    result.restore_error = error
                    return result
                command, error = _restore(path, detail, result.database, params, bindir, jobs, no_owner, timeout,
                                          list_file, role_filter)
            finally:
                shutil.rmtree(list_dir, ignore_errors=True)
        else:
            command, error = _restore(path, detail, result.database, params, bindir, jobs, no_owner, timeout, None,
                                      role_filter)
        result.duration = round(time.monotonic() - step, 3)
        result.commands.append(command)
        if role_filter is not None:
            result.roles = role_filter.report()
        if error:
            result.restore_error = pg.scrub(error, params) + missing_role_hint(error)
            return result
        scratch_params = dict(params, login_db=result.database)
        restored = pg.connect(scratch_params)
        if not restored.ok:
            result.restore_error = 'cannot connect to the restored database: %s' % restored.error
            return result
        if validations:
            result.validations = run_validations(restored.conn, validations)
        if row_counts is not None or source_db:
            if row_counts is None:
                source = pg.connect(dict(params, login_db=source_db))
                if not source.ok:
                    result.row_counts = {'source': 'database', 'error': 'cannot connect to source %s: %s'
                                         % (source_db, source.error)}
                    return result
            result.row_counts = compare_row_counts(restored.conn, row_counts, source.conn if source else None)
        return result
    finally:
        for handle in (restored, source):
            if handle is not None:
                handle.close()
        if result.created:
            try:
                admin.conn.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(
                    sql.Identifier(result.database)))
                result.dropped = not database_exists(admin.conn, result.database)
                if not result.dropped:
                    result.drop_error = 'scratch database %s still exists after DROP' % result.database
            except Exception as exc:  # reported as a critical check; the sweep of the next run retries
                result.drop_error = 'cannot drop scratch database %s: %s' % (result.database, pg.scrub(exc, params))
        else:
            result.dropped = True
        admin.close()
        result.total_duration = round(time.monotonic() - started, 3)


# ------------------------------------------------------------------ files
def _hash_path(path):
    return bf.sha256_file(path)


def restore_files(entry, kind, detail, expected_sha256=None, scratch_root=None, zstd='zstd'):
    """Restore a file backup into a scratch directory and compare checksums; the directory is always removed.

    tar archives: every regular member is extracted (unsafe paths refused), hashed while it is
    written, then read back from disk and hashed again; a ``SHA256SUMS``-style member inside the
    archive is checked against the extracted files. Other files: copied, then the copy is hashed
    against ``expected_sha256`` (the manifest) or the original.
    Returns ``{'files', 'bytes', 'mismatches', 'error', 'duration', 'directory'}``.
    """
    started = time.monotonic()
    try:
        scratch = tempfile.mkdtemp(prefix='apcx-restore-', dir=scratch_root)
    except OSError as exc:
        return {'files': 0, 'bytes': 0, 'mismatches': [], 'directory': scratch_root, 'removed': True, 'duration': 0.0,
                'error': 'cannot create a scratch directory in %s: %s' % (scratch_root, bf.read_error(exc))}
    outcome = {'files': 0, 'bytes': 0, 'mismatches': [], 'error': None, 'directory': scratch, 'removed': False}
    try:
        if kind == 'tar':
            _restore_tar(entry.path, detail, scratch, outcome, zstd)
        else:
            target = os.path.join(scratch, entry.name)
            if entry.is_dir:
                shutil.copytree(entry.path, target)
                outcome['files'] = len(entry.payload())
            else:
                shutil.copyfile(entry.path, target)
                outcome['files'] = 1
                want = expected_sha256 or _hash_path(entry.path)
                got = _hash_path(target)
                if got != want:
                    outcome['mismatches'].append('%s: restored copy %s, expected %s' % (entry.name, got, want))
            outcome['bytes'] = entry.size
    except bf.ReadThroughError as exc:
        outcome['error'] = str(exc)
    except OSError as exc:
        outcome['error'] = 'restore into %s failed: %s' % (scratch, bf.read_error(exc))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        outcome['removed'] = not os.path.exists(scratch)
        outcome['duration'] = round(time.monotonic() - started, 3)
    return outcome


def _safe_target(root, name):
    target = os.path.normpath(os.path.join(root, name))
    if os.path.isabs(name) or not (target == root or target.startswith(root + os.sep)):
        return None
    return target


def _restore_tar(path, detail, scratch, outcome, zstd):
    written = {}
    inner = []

    def visit(member, handle):
        target = _safe_target(scratch, member.name)
        if target is None:
            outcome['mismatches'].append('%s: unsafe member path, not restored' % member.name)
            return
        if member.isdir():
            os.makedirs(target, exist_ok=True)
            return
        if handle is None:
            return  # links, devices: listed, not restored
        os.makedirs(os.path.dirname(target), exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with open(target, 'wb') as out:
            while True:
                data = handle.read(bf.CHUNK)
                if not data:
                    break
                digest.update(data)
                out.write(data)
                size += len(data)
        written[os.path.normpath(member.name)] = (target, digest.hexdigest())
        outcome['files'] += 1
        outcome['bytes'] += size
        if os.path.basename(member.name).upper() in ('SHA256SUMS', 'SHA256SUMS.TXT', 'MANIFEST.SHA256'):
            inner.append((os.path.dirname(os.path.normpath(member.name)), target))

    bf.walk_tar(path, detail, visit, zstd)
    inner_sums = inner[0] if inner else None
    for name, (target, archived) in sorted(written.items()):
        on_disk = _hash_path(target)
        if on_disk != archived:
            outcome['mismatches'].append('%s: restored file %s differs from the archive %s' % (name, on_disk, archived))
    if inner_sums is not None:
        base, sums_path = inner_sums
        entries, _bad = bf.parse_checksums(bf.read_text(sums_path))
        for rel, want in sorted(entries.items()):
            key = os.path.normpath(os.path.join(base, rel))
            if key not in written:
                outcome['mismatches'].append('%s: listed in the archive\'s checksum file but not in the archive' % key)
            elif written[key][1] != want:
                outcome['mismatches'].append('%s: checksum %s, archive\'s checksum file says %s'
                                             % (key, written[key][1], want))
        outcome['inner_manifest'] = len(entries)
