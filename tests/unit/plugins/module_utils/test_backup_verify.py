"""backup_verify against real files, real pg_dump/pg_restore (the cluster's version) and a real PostgreSQL.

Every fault of the issue is injected into a real backup set and must come out as a
critical check with its reason; a healthy set raises no alarm; no scratch database
survives any run (``assert_no_scratch`` after every restore test).
"""

import errno
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import pytest

from tests.harness.postgres import pg_bindir

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups import files as bf
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups import restore as br
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups.backup_verify import verify_sets
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups import backup_verify as bv
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

THRESHOLDS = {
    'backup_age': {'critical': 26, 'unit': 'h', 'priority': 'high'},
    'backup_shrink': {'critical': 50, 'unit': '%', 'priority': 'high'},
    'backup_volume_used': {'warning': 99.9, 'critical': 99.99, 'unit': '%'},
    'backup_growth': {'warning': 50, 'unit': '%'},
    'backup_restore_duration': {'warning': 1800, 'critical': 3600, 'unit': 's'},
    'backup_row_count_drift': {'warning': 1, 'critical': 10, 'unit': '%'},
}
PREFIX = 'apcx_t_restore_'
HOUR = 3600


# ------------------------------------------------------------------ helpers
def by_name(checks, name, target=None):
    found = [c for c in checks if c['name'] == name and (target is None or c.get('target') == target)]
    assert found, 'no check %s in %s' % (name, [c['name'] for c in checks])
    return found[0]


def alarms(checks):
    return [c for c in checks if c['status'] in ('warning', 'critical', 'unknown')]


def sha256(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def write_manifest(directory, names, manifest='SHA256SUMS'):
    with open(os.path.join(directory, manifest), 'w') as out:
        for name in names:
            out.write('%s  %s\n' % (sha256(os.path.join(directory, name)), name))


def age(path, hours):
    stamp = time.time() - hours * HOUR
    os.utime(path, (stamp, stamp))


def scratch_databases(postgres, prefix=PREFIX):
    return [r[0] for r in postgres.execute('SELECT datname FROM pg_database WHERE starts_with(datname, %s)', (prefix,))]


def assert_no_scratch(postgres):
    assert scratch_databases(postgres) == []


def pg_dump(postgres, database, path, fmt='custom'):
    tool = os.path.join(pg_bindir(), 'pg_dump')
    subprocess.run([tool, '--format', fmt, '--file', path, database], env=postgres.env(), check=True,
                   capture_output=True)
    return path


def restore_spec(**extra):
    spec = {'scratch_prefix': PREFIX, 'validations': [
        {'table': 'public.accounts', 'min_rows': 1000},
        {'name': 'orders exist', 'query': 'SELECT id FROM orders', 'min_rows': 100},
        {'name': 'max account id', 'query': 'SELECT max(id) FROM accounts', 'min_value': 1000},
    ]}
    spec.update(extra)
    return spec


@pytest.fixture(scope='module')
def source(postgres, tmp_path_factory):
    """A source database and one real custom-format dump of it (pg_dump of the cluster's version)."""
    name = 'bk_source'
    postgres.execute('DROP DATABASE IF EXISTS bk_source WITH (FORCE)')
    postgres.create_database(name)
    postgres.execute('CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL)', dbname=name)
    postgres.execute("INSERT INTO accounts SELECT g, 'user' || g || '@example.test' FROM generate_series(1, 1000) g",
                     dbname=name)
    postgres.execute('CREATE TABLE orders (id int PRIMARY KEY, account int REFERENCES accounts, total numeric)',
                     dbname=name)
    postgres.execute('INSERT INTO orders SELECT g, 1 + g % 1000, g * 1.5 FROM generate_series(1, 500) g', dbname=name)
    directory = str(tmp_path_factory.mktemp('dumps'))
    dump = pg_dump(postgres, name, os.path.join(directory, 'source.dump'))
    yield {'db': name, 'dump': dump, 'counts': {'public.accounts': 1000, 'public.orders': 500}}
    postgres.execute('DROP DATABASE IF EXISTS bk_source WITH (FORCE)')


@pytest.fixture()
def pg_set(tmp_path, source):
    """A healthy daily set: three dumps (49 h, 25 h ... no: 48 h, 24 h, 1 h old), manifest, markers, row counts."""
    directory = str(tmp_path / 'pg')
    os.makedirs(directory)
    names = []
    for index, hours in enumerate((48, 24, 1)):
        name = 'app-2026-11-%02d.dump' % (20 + index)
        path = os.path.join(directory, name)
        shutil.copyfile(source['dump'], path)
        with open(path + '.rows.json', 'w') as out:
            json.dump(source['counts'], out)
        with open(path + '.done', 'w') as out:
            out.write('ok\n')
        for item in (path, path + '.rows.json', path + '.done'):
            age(item, hours)
        names.append(name)
    write_manifest(directory, names)
    return directory, names


def pg_set_spec(directory, **extra):
    spec = {'name': 'app', 'path': directory, 'pattern': '*.dump', 'kind': 'pg_dump', 'manifest': 'SHA256SUMS',
            'completion_marker': '{file}.done', 'retention': {'min_count': 3}}
    spec.update(extra)
    return spec


def run(sets, postgres=None, **kwargs):
    kwargs.setdefault('pg_bindir', pg_bindir())
    return verify_sets(sets, THRESHOLDS, pg_params=postgres.params if postgres else None, **kwargs)


# ------------------------------------------------------------------ healthy
@pytest.mark.slow
def test_healthy_set_with_test_restore_raises_no_alarm(postgres, pg_set, tmp_path):
    directory, names = pg_set
    state = str(tmp_path / 'state.json')
    spec = pg_set_spec(directory, restore=restore_spec(row_counts_file='{file}.rows.json'))
    checks, report = run([spec], postgres, state_file=state)
    assert alarms(checks) == [], alarms(checks)
    restore = by_name(checks, 'backup.restore')
    assert restore['status'] == 'ok' and restore['value'] > 0 and restore['unit'] == 's'
    evidence = report['sets'][0]['restore']
    assert evidence['created'] and evidence['dropped'] and evidence['database'].startswith(PREFIX)
    assert [v['ok'] for v in evidence['validations']] == [True, True, True]
    assert by_name(checks, 'backup.restore.row_counts')['reason'].startswith('row counts of 2 table(s) match')
    assert by_name(checks, 'backup.integrity.checksum')['details']['verified'] == 3
    assert by_name(checks, 'backup.integrity.archive')['status'] == 'ok'
    assert by_name(checks, 'backup.completion.marker')['status'] == 'ok'
    assert report['state_written'] and json.load(open(state))['app']['count'] == 3
    assert_no_scratch(postgres)


def test_healthy_compressed_and_plain_sets(tmp_path):
    directory = str(tmp_path / 'files')
    os.makedirs(directory)
    payload = os.urandom(300000)
    for index, hours in enumerate((30, 2)):
        name = 'etc-%d.tar.gz' % index
        with tarfile.open(os.path.join(directory, name), 'w:gz') as tar:
            info = tarfile.TarInfo('etc/app.conf')
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        age(os.path.join(directory, name), hours)
    zst = os.path.join(directory, 'etc-2.tar.zst')
    subprocess.run(['tar', '-C', directory, '--zstd', '-cf', zst, 'etc-0.tar.gz'], check=True)
    age(zst, 1)
    write_manifest(directory, ['etc-0.tar.gz', 'etc-1.tar.gz', 'etc-2.tar.zst'])
    spec = {'name': 'etc', 'path': directory, 'pattern': 'etc-*', 'manifest': 'SHA256SUMS', 'restore': {}}
    checks, report = run([spec])
    assert alarms(checks) == [], alarms(checks)
    archives = report['sets'][0]['archives']
    assert sorted((a['kind'], a['format']) for a in archives) == [('tar', 'gzip'), ('tar', 'gzip'), ('tar', 'zstd')]
    restore = by_name(checks, 'backup.restore')
    assert restore['details']['files'] == 1 and not os.path.exists(restore['details']['directory'])


# ------------------------------------------------------------------ fault injection
def test_truncated_pg_dump_is_critical(pg_set):
    directory, names = pg_set
    path = os.path.join(directory, names[-1])
    size = os.path.getsize(path)
    with open(path, 'r+b') as handle:
        handle.truncate(size * 2 // 3)
    age(path, 1)
    checks = run([pg_set_spec(directory)])[0]
    archive = by_name(checks, 'backup.integrity.archive')
    assert archive['status'] == 'critical'
    assert names[-1] in archive['reason'] and 'pg_restore' in archive['reason']
    assert by_name(checks, 'backup.integrity.checksum')['status'] == 'critical'


def test_truncated_tar_gz_is_critical_without_a_manifest(tmp_path):
    path = str(tmp_path / 'home.tar.gz')
    with tarfile.open(path, 'w:gz') as tar:
        for index in range(3):
            data = os.urandom(200000)
            info = tarfile.TarInfo('home/file%d' % index)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with open(path, 'r+b') as handle:
        handle.truncate(os.path.getsize(path) - 5000)
    checks = run([{'name': 'home', 'path': str(tmp_path), 'pattern': '*.tar.gz'}])[0]
    archive = by_name(checks, 'backup.integrity.archive')
    assert archive['status'] == 'critical' and 'truncated' in archive['reason'], archive


def test_truncated_uncompressed_tar_at_a_member_boundary_is_critical(tmp_path):
    path = str(tmp_path / 'data.tar')
    with tarfile.open(path, 'w', format=tarfile.GNU_FORMAT) as tar:
        for index in range(2):
            info = tarfile.TarInfo('data/%d' % index)
            info.size = 512
            tar.addfile(info, io.BytesIO(b'x' * 512))
    with open(path, 'r+b') as handle:
        handle.truncate(2048)  # two headers + two data blocks, no end-of-archive marker
    checks = run([{'name': 'data', 'path': str(tmp_path), 'pattern': '*.tar'}])[0]
    archive = by_name(checks, 'backup.integrity.archive')
    assert archive['status'] == 'critical' and 'end-of-archive marker missing' in archive['reason']


@pytest.mark.parametrize('compression', ['gz', 'zst'])
def test_one_flipped_byte_inside_a_compressed_archive_is_critical(tmp_path, compression):
    source_dir = tmp_path / 'src'
    source_dir.mkdir()
    (source_dir / 'report.csv').write_bytes(b''.join(b'%d,row,%d\n' % (i, i * 7) for i in range(200000)))
    path = str(tmp_path / ('site.tar.' + compression))
    flag = '--gzip' if compression == 'gz' else '--zstd'
    subprocess.run(['tar', '-C', str(source_dir), flag, '-cf', path, 'report.csv'], check=True)
    with open(path, 'r+b') as handle:
        handle.seek(os.path.getsize(path) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0x01]))
    checks = run([{'name': 'site', 'path': str(tmp_path), 'pattern': 'site.tar.*'}])[0]
    archive = by_name(checks, 'backup.integrity.archive')
    assert archive['status'] == 'critical', archive
    assert 'corrupt' in archive['reason'] or 'zstd' in archive['reason'] or 'CRC' in archive['reason'], archive


def test_file_missing_from_the_manifest_is_critical(pg_set):
    directory, names = pg_set
    write_manifest(directory, names[:2])  # the newest is not listed
    checks = run([pg_set_spec(directory)])[0]
    manifest = by_name(checks, 'backup.integrity.manifest')
    assert manifest['status'] == 'critical'
    assert 'not covered by a checksum: %s' % names[2] in manifest['reason']


def test_manifest_entry_without_its_file_is_critical(pg_set):
    directory, names = pg_set
    os.unlink(os.path.join(directory, names[0]))
    checks = run([pg_set_spec(directory, retention=None)])[0]
    manifest = by_name(checks, 'backup.integrity.manifest')
    assert manifest['status'] == 'critical'
    assert '1 manifest entry without its file: %s' % names[0] in manifest['reason']


def test_wrong_checksum_is_critical(pg_set):
    directory, names = pg_set
    path = os.path.join(directory, 'SHA256SUMS')
    lines = open(path).read().splitlines()
    lines[1] = '0' * 64 + '  ' + names[1]
    with open(path, 'w') as out:
        out.write('\n'.join(lines) + '\n')
    checks = run([pg_set_spec(directory)])[0]
    checksum = by_name(checks, 'backup.integrity.checksum')
    assert checksum['status'] == 'critical'
    assert '%s: sha256 %s, manifest says %s' % (names[1], sha256(os.path.join(directory, names[1])), '0' * 64) \
        in checksum['reason']


def test_per_backup_checksum_files(pg_set):
    directory, names = pg_set
    os.unlink(os.path.join(directory, 'SHA256SUMS'))
    for name in names[:2]:
        path = os.path.join(directory, name)
        with open(path + '.sha256', 'w') as out:
            out.write('%s  %s\n' % (sha256(path), name))
    checks = run([pg_set_spec(directory, manifest=None, checksum_suffix='.sha256')])[0]
    manifest = by_name(checks, 'backup.integrity.manifest')
    assert manifest['status'] == 'critical' and '%s (no .sha256 file)' % names[2] in manifest['reason']
    assert by_name(checks, 'backup.integrity.checksum')['details']['verified'] == 2


def test_stale_newest_backup_is_critical(pg_set):
    directory, names = pg_set
    for name in names:
        age(os.path.join(directory, name), 30 + names.index(name))
    checks = run([pg_set_spec(directory, completion_marker=None)])[0]
    check = by_name(checks, 'backup.completion.age')
    assert check['status'] == 'critical' and check['threshold'] == 26
    assert check['reason'].startswith('newest backup %s age 30' % names[0]) or 'h > 26 h' in check['reason'], check


def test_missing_completion_marker_and_newer_partial_file_are_critical(pg_set):
    directory, names = pg_set
    os.unlink(os.path.join(directory, names[-1] + '.done'))
    with open(os.path.join(directory, 'app-2026-11-23.dump.tmp'), 'wb') as out:
        out.write(b'PGDMP partial')
    checks = run([pg_set_spec(directory)])[0]
    assert by_name(checks, 'backup.completion.marker')['status'] == 'critical'
    partial = by_name(checks, 'backup.completion.partial')
    assert partial['status'] == 'critical' and 'app-2026-11-23.dump.tmp' in partial['reason']


def test_empty_file_is_critical(pg_set):
    directory, names = pg_set
    open(os.path.join(directory, names[-1]), 'w').close()
    age(os.path.join(directory, names[-1]), 1)
    write_manifest(directory, names)
    checks = run([pg_set_spec(directory)])[0]
    size = by_name(checks, 'backup.size')
    assert size['status'] == 'critical' and size['reason'] == 'empty: %s' % names[-1]
    assert by_name(checks, 'backup.integrity.archive')['status'] == 'critical'


def test_backup_that_shrank_by_90_percent_is_critical(tmp_path):
    for index, (size, hours) in enumerate(((100000, 25), (10000, 1))):
        path = str(tmp_path / ('blob-%d.bin' % index))
        with open(path, 'wb') as out:
            out.write(os.urandom(size))
        age(path, hours)
    checks = run([{'name': 'blobs', 'path': str(tmp_path), 'pattern': 'blob-*'}])[0]
    shrink = by_name(checks, 'backup.size.shrink')
    assert shrink['status'] == 'critical' and shrink['value'] == 90.0 and shrink['threshold'] == 50
    assert '100000 -> 10000 bytes' in shrink['reason']
    assert [c['name'] for c in alarms(checks)] == ['backup.size.shrink']


def test_unreadable_file_is_critical_for_an_unprivileged_reader(tmp_path):
    """Root ignores mode bits through CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH, so the check runs with an empty
    capability bounding set (setpriv): the same uid, but mode bits apply, as for a backup-reader account."""
    directory = tempfile.mkdtemp(prefix='apcx-unreadable-')
    try:
        os.chmod(directory, 0o755)
        for index, hours in enumerate((25, 1)):
            path = os.path.join(directory, 'db-%d.sql.gz' % index)
            with gzip.open(path, 'wb') as out:
                out.write(b'-- PostgreSQL database dump\nSELECT 1;\n' + bf.PG_DUMP_TRAILER + b'\n')
            os.chmod(path, 0o644)
            age(path, hours)
        os.chmod(os.path.join(directory, 'db-1.sql.gz'), 0o000)
        script = (
            'import json, sys; sys.path.insert(0, %r)\n'
            'from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups.backup_verify import verify_sets\n'
            'checks = verify_sets([{"name": "db", "path": %r, "pattern": "*.sql.gz"}], {})[0]\n'
            'print(json.dumps(checks))\n' % (os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))), '.tmp', 'collections'), directory))
        command = [sys.executable, '-c', script]
        if os.geteuid() == 0:
            command = ['setpriv', '--bounding-set=-all', '--inh-caps=-all', '--'] + command
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        checks = json.loads(proc.stdout)
        readable = by_name(checks, 'backup.integrity.readable')
        assert readable['status'] == 'critical'
        assert readable['reason'] == 'cannot read 1 backup(s): db-1.sql.gz: db-1.sql.gz: permission denied'
        # the readable one was still read through
        assert by_name(checks, 'backup.integrity.archive')['status'] == 'ok'
    finally:
        shutil.rmtree(directory)


def test_a_directory_where_a_backup_file_belongs_is_unreadable(tmp_path):
    """The root-proof variant: a name matching the pattern that cannot be opened as a file."""
    (tmp_path / 'x-1.sql').mkdir()
    checks = run([{'name': 'x', 'path': str(tmp_path), 'pattern': 'x-*', 'kind': 'plain'}])[0]
    size = by_name(checks, 'backup.size')
    assert size['status'] == 'critical' and 'empty: x-1.sql' in size['reason']


def test_dangling_link_among_the_backups_is_unreadable_not_a_crash(pg_set):
    directory, names = pg_set
    os.symlink(os.path.join(directory, 'gone.dump'), os.path.join(directory, 'app-2026-11-24.dump'))
    checks = run([pg_set_spec(directory, manifest=None)])[0]
    readable = by_name(checks, 'backup.integrity.readable')
    assert readable['status'] == 'critical' and 'app-2026-11-24.dump: No such file or directory' in readable['reason']
    assert by_name(checks, 'backup.completion.age')['reason'].startswith('newest backup %s age' % names[-1])


def test_plain_sql_dump_cut_short_is_critical(tmp_path):
    path = str(tmp_path / 'app.sql.gz')
    with gzip.open(path, 'wb') as out:
        out.write(b'--\n-- PostgreSQL database dump\n--\nCREATE TABLE t (id int);\n')
    checks = run([{'name': 'sql', 'path': str(tmp_path), 'pattern': '*.sql.gz'}])[0]
    archive = by_name(checks, 'backup.integrity.archive')
    assert archive['status'] == 'critical' and 'cut short' in archive['reason']


@pytest.mark.slow
def test_pg_dump_that_lists_but_fails_to_restore_is_critical(postgres, tmp_path):
    """A CHECK constraint calling a function that relies on search_path: pg_dump writes it, pg_restore
    runs COPY with an empty search_path and fails. The archive lists and reads through cleanly."""
    db = 'bk_broken_restore'
    postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % db)
    postgres.create_database(db)
    try:
        postgres.execute('CREATE TABLE limits (maximum int)', dbname=db)
        postgres.execute('INSERT INTO limits VALUES (100)', dbname=db)
        postgres.execute('CREATE FUNCTION under_limit(v int) RETURNS boolean LANGUAGE sql'
                         ' AS $$ SELECT v <= (SELECT maximum FROM limits) $$', dbname=db)
        postgres.execute('CREATE TABLE items (v int CHECK (under_limit(v)))', dbname=db)
        postgres.execute('INSERT INTO items VALUES (1), (2)', dbname=db)
        dump = pg_dump(postgres, db, str(tmp_path / 'broken.dump'))
    finally:
        postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % db)
    spec = {'name': 'broken', 'path': str(tmp_path), 'pattern': '*.dump', 'restore': restore_spec(validations=[])}
    checks, report = run([spec], postgres)
    assert by_name(checks, 'backup.integrity.archive')['status'] == 'ok'  # it lists and reads through
    restore = by_name(checks, 'backup.restore')
    assert restore['status'] == 'critical'
    assert 'pg_restore failed' in restore['reason'] and 'limits' in restore['reason'], restore['reason']
    assert os.path.basename(dump) in restore['reason']
    assert by_name(checks, 'backup.restore.cleanup')['status'] == 'ok'
    assert report['sets'][0]['restore']['created'] and report['sets'][0]['restore']['dropped']
    assert_no_scratch(postgres)


@pytest.mark.slow
def test_validation_query_returning_too_few_rows_is_critical(postgres, pg_set):
    directory, _names = pg_set
    validations = [{'name': 'big accounts', 'query': 'SELECT id FROM accounts WHERE id > 990', 'min_rows': 50},
                   {'table': 'public.missing_table'},
                   {'name': 'bad sql', 'query': 'SELECT nope FROM accounts'},
                   {'table': 'orders', 'min_rows': 10}]
    checks = run([pg_set_spec(directory, restore=restore_spec(validations=validations))], postgres)[0]
    results = [c for c in checks if c['name'] == 'backup.restore.validation']
    assert [c['status'] for c in results] == ['critical', 'critical', 'critical', 'ok']
    assert results[0]['reason'] == 'big accounts returned 10 rows, fewer than 50'
    assert results[1]['reason'] == 'table public.missing_table does not exist in the restored database'
    assert 'column "nope" does not exist' in results[2]['reason']
    assert_no_scratch(postgres)


@pytest.mark.slow
def test_row_counts_compared_with_the_source_database(postgres, pg_set, source):
    directory, _names = pg_set
    postgres.execute('INSERT INTO orders SELECT g, 1, 1 FROM generate_series(501, 600) g', dbname=source['db'])
    try:
        checks = run([pg_set_spec(directory, restore=restore_spec(validations=[], source_db=source['db']))], postgres)[0]
    finally:
        postgres.execute('DELETE FROM orders WHERE id > 500', dbname=source['db'])
    counts = by_name(checks, 'backup.restore.row_counts')
    assert counts['status'] == 'critical' and counts['value'] == pytest.approx(16.667, abs=0.01)
    assert counts['details']['tables']['public.orders'] == {'expected': 600, 'restored': 500}
    assert_no_scratch(postgres)


@pytest.mark.slow
def test_leftover_scratch_databases_are_swept(postgres, pg_set):
    directory, _names = pg_set
    leftover = PREFIX + '20200101000000_abc123'
    young = PREFIX + time.strftime('%Y%m%d%H%M%S', time.gmtime()) + '_zzz999'
    postgres.create_database(leftover)
    postgres.create_database(young)
    try:
        checks = run([pg_set_spec(directory, restore=restore_spec(validations=[]))], postgres)[0]
        cleanup = by_name(checks, 'backup.restore.cleanup')
        assert cleanup['status'] == 'ok' and cleanup['details']['swept'] == [leftover]
        assert scratch_databases(postgres) == [young]  # may belong to a restore running now
    finally:
        postgres.execute('DROP DATABASE IF EXISTS %s' % young)
    assert_no_scratch(postgres)


def test_unreachable_server_is_critical_and_other_checks_still_run(pg_set):
    directory, _names = pg_set
    from tests.harness.net import free_port
    params = {'login_host': '127.0.0.1', 'port': free_port(), 'login_user': 'postgres', 'login_password': 'pw-x',
              'login_db': 'postgres', 'ssl_mode': 'disable', 'connect_timeout': 2}
    checks, report = verify_sets([pg_set_spec(directory, restore=restore_spec())], THRESHOLDS, pg_params=params,
                                 pg_bindir=pg_bindir())
    restore = by_name(checks, 'backup.restore')
    assert restore['status'] == 'critical' and 'cannot connect' in restore['reason']
    assert 'pw-x' not in json.dumps([checks, report])
    assert by_name(checks, 'backup.integrity.checksum')['status'] == 'ok'


def test_restore_of_a_corrupt_newest_backup_is_not_attempted(pg_set, postgres):
    directory, names = pg_set
    path = os.path.join(directory, names[-1])
    with open(path, 'r+b') as handle:
        handle.truncate(os.path.getsize(path) // 2)
    age(path, 1)
    checks = run([pg_set_spec(directory, restore=restore_spec())], postgres)[0]
    restore = by_name(checks, 'backup.restore')
    assert restore['status'] == 'critical' and 'not attempted' in restore['reason']
    assert_no_scratch(postgres)


# ------------------------------------------------------------------ check mode, state, storage
@pytest.mark.slow
def test_check_mode_skips_the_restore_and_writes_no_state(postgres, pg_set, tmp_path):
    """Decision: in check mode the scratch restore is skipped (it would write to a database server) unless
    restore_in_check_mode is set; the state file is never written. Proven with the server's DDL log."""
    directory, _names = pg_set
    state = str(tmp_path / 'state.json')
    postgres.execute("ALTER SYSTEM SET log_statement = 'ddl'")
    postgres.execute('SELECT pg_reload_conf()')
    time.sleep(0.3)
    try:
        start = os.path.getsize(postgres.logfile)
        spec = pg_set_spec(directory, restore=restore_spec(validations=[]))
        checks, report = run([spec], postgres, state_file=state, check_mode=True)
        restore = by_name(checks, 'backup.restore')
        assert restore['status'] == 'unknown' and 'skipped in check mode' in restore['reason']
        assert not os.path.exists(state) and report['state_written'] is False
        with open(postgres.logfile) as log:
            log.seek(start)
            assert PREFIX not in log.read()
        # explicitly allowed: the restore runs, and its scratch database is created and dropped again
        checks, report = run([spec], postgres, state_file=state, check_mode=True, restore_in_check_mode=True)
        assert by_name(checks, 'backup.restore')['status'] == 'ok'
        database = report['sets'][0]['restore']['database']
        time.sleep(0.3)
        with open(postgres.logfile) as log:
            log.seek(start)
            text = log.read()
        assert 'CREATE DATABASE "%s"' % database in text and 'DROP DATABASE IF EXISTS "%s"' % database in text
        assert not os.path.exists(state)
    finally:
        postgres.execute('ALTER SYSTEM RESET log_statement')
        postgres.execute('SELECT pg_reload_conf()')
    assert_no_scratch(postgres)


def test_growth_against_the_previous_run(tmp_path):
    directory = tmp_path / 'grow'
    directory.mkdir()
    (directory / 'a.bin').write_bytes(b'x' * 1000)
    state = str(tmp_path / 'state.json')
    checks = run([{'name': 'grow', 'path': str(directory)}], state_file=state)[0]
    assert by_name(checks, 'backup.storage.growth')['reason'].startswith('first run')
    (directory / 'b.bin').write_bytes(b'x' * 1000)
    checks = run([{'name': 'grow', 'path': str(directory), 'retention': {'max_count': 1}}], state_file=state)[0]
    growth = by_name(checks, 'backup.storage.growth')
    assert growth['value'] == 100.0 and growth['status'] == 'warning'
    assert by_name(checks, 'backup.storage.total_size')['value'] == 2000
    retention = by_name(checks, 'backup.retention')
    assert retention['status'] == 'warning' and 'more than 1' in retention['reason']
    used = by_name(checks, 'backup.storage.volume_used')
    st = os.statvfs(str(directory))
    expected = (st.f_blocks - st.f_bfree) * 100.0 / (st.f_blocks - st.f_bfree + st.f_bavail)
    assert used['value'] == pytest.approx(expected, abs=0.5)


def test_missing_directory_and_no_match_are_critical(tmp_path):
    checks = run([{'name': 'gone', 'path': str(tmp_path / 'nope')},
                  {'name': 'none', 'path': str(tmp_path), 'pattern': '*.dump'}])[0]
    newest = [c for c in checks if c['name'] == 'backup.completion.newest']
    assert [c['status'] for c in newest] == ['critical', 'critical']
    assert 'No such file or directory' in newest[0]['reason'] and 'no backup matching *.dump' in newest[1]['reason']


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(MaintenanceError, match='give path'):
        verify_sets([{'name': 'x'}], {})
    with pytest.raises(MaintenanceError, match='unique'):
        verify_sets([{'name': 'x', 'path': '/'}, {'name': 'x', 'path': '/'}], {})
    (tmp_path / 'a.dump').write_bytes(b'PGDMPxx')
    with pytest.raises(MaintenanceError, match='PostgreSQL connection options'):
        verify_sets([{'name': 'x', 'path': str(tmp_path), 'restore': {}, 'read_through': False}], {})


@pytest.mark.slow
def test_directory_format_dump_manifest_and_restore(postgres, source, tmp_path):
    directory = str(tmp_path / 'dirdumps')
    os.makedirs(directory)
    dump = pg_dump(postgres, source['db'], os.path.join(directory, 'app.dir'), fmt='directory')
    inner = sorted(os.listdir(dump))
    write_manifest(directory, ['app.dir/' + name for name in inner])
    spec = {'name': 'dir', 'path': directory, 'pattern': '*.dir', 'manifest': 'SHA256SUMS',
            'restore': restore_spec(validations=[{'table': 'orders', 'min_rows': 500}])}
    checks, report = run([spec], postgres)
    assert alarms(checks) == [], alarms(checks)
    assert report['sets'][0]['archives'][0]['format'] == 'directory'
    assert by_name(checks, 'backup.integrity.checksum')['details']['verified'] == len(inner)
    os.unlink(os.path.join(dump, 'toc.dat'))
    checks = run([spec], postgres)[0]
    assert by_name(checks, 'backup.integrity.manifest')['reason'] == '1 manifest entry without its file: app.dir/toc.dat'
    assert_no_scratch(postgres)


@pytest.mark.slow
def test_plain_sql_gzip_dump_restores_through_psql(postgres, source, tmp_path):
    directory = tmp_path / 'sql'
    directory.mkdir()
    plain = pg_dump(postgres, source['db'], str(tmp_path / 'app.sql'), fmt='plain')
    with open(plain, 'rb') as src, gzip.open(str(directory / 'app-1.sql.gz'), 'wb') as out:
        shutil.copyfileobj(src, out)
    spec = {'name': 'sql', 'path': str(directory), 'pattern': '*.sql.gz',
            'restore': restore_spec(validations=[{'table': 'accounts', 'min_rows': 1000}])}
    checks, report = run([spec], postgres)
    assert alarms(checks) == [], alarms(checks)
    assert report['sets'][0]['archives'][0]['format'] == 'plain-gzip'
    assert 'psql' in report['sets'][0]['restore']['commands'][0]
    assert_no_scratch(postgres)


def test_restore_disabled_runs_no_restore(pg_set):
    directory, _names = pg_set
    checks = run([pg_set_spec(directory, restore={'enabled': False})])[0]
    assert not [c for c in checks if c['name'].startswith('backup.restore')]


def test_file_restore_failures_name_their_cause(tmp_path):
    """A write error while restoring is reported as such, not as a corrupt archive."""
    backups = tmp_path / 'b'
    backups.mkdir()
    with tarfile.open(str(backups / 'd.tar.gz'), 'w:gz') as tar:
        for name in ('a', 'a/b'):  # a file, then a file "inside" it: cannot be written to disk
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b'xyz'))
    checks = run([{'name': 'd', 'path': str(backups), 'restore': {'scratch_dir': str(tmp_path)}}])[0]
    restore = by_name(checks, 'backup.restore')
    assert restore['status'] == 'critical' and 'failed: File exists' in restore['reason'], restore
    assert 'corrupt' not in restore['reason']
    assert by_name(checks, 'backup.integrity.archive')['status'] == 'ok'
    assert by_name(checks, 'backup.restore.cleanup')['status'] == 'ok'
    checks = run([{'name': 'd', 'path': str(backups), 'restore': {'scratch_dir': '/proc'}}])[0]
    assert 'cannot create a scratch directory in /proc' in by_name(checks, 'backup.restore')['reason']


# ------------------------------------------------------------------ file restores
def test_file_restore_compares_the_archives_own_checksums(tmp_path):
    content = tmp_path / 'content'
    content.mkdir()
    (content / 'a.txt').write_bytes(b'alpha\n')
    (content / 'b.txt').write_bytes(b'beta\n')
    good = hashlib.sha256(b'alpha\n').hexdigest()
    (content / 'SHA256SUMS').write_text('%s  a.txt\n%s  b.txt\n' % (good, '1' * 64))
    backups = tmp_path / 'backups'
    backups.mkdir()
    subprocess.run(['tar', '-C', str(content), '-czf', str(backups / 'c.tar.gz'), 'a.txt', 'b.txt', 'SHA256SUMS'],
                   check=True)
    checks = run([{'name': 'c', 'path': str(backups), 'restore': {'scratch_dir': str(tmp_path)}}])[0]
    restore = by_name(checks, 'backup.restore')
    assert restore['status'] == 'critical'
    assert "b.txt: checksum %s, archive's checksum file says %s" % (hashlib.sha256(b'beta\n').hexdigest(), '1' * 64) \
        in restore['reason']
    assert by_name(checks, 'backup.restore.cleanup')['status'] == 'ok'
    assert [p for p in os.listdir(str(tmp_path)) if p.startswith('apcx-restore-')] == []


def test_parse_checksums_formats():
    text = ('# comment\n%s  plain.dump\n%s *binary.dump\nSHA256 (bsd.dump) = %s\n\\%s  odd\\nname\nnot a line\n'
            % ('a' * 64, 'b' * 64, 'c' * 64, 'd' * 64))
    entries, bad = bf.parse_checksums(text)
    assert entries == {'plain.dump': 'a' * 64, 'binary.dump': 'b' * 64, 'bsd.dump': 'c' * 64, 'odd\nname': 'd' * 64}
    assert bad == [6]


def test_scratch_names_are_unique_and_bounded():
    names = set(br.scratch_name('apcx_restore_') for _index in range(50))
    assert len(names) == 50 and all(br.SCRATCH_NAME.match(n) for n in names)
    with pytest.raises(MaintenanceError, match='too long'):
        br.scratch_name('x' * 50)


# ------------------------------------------------------------------ nothing outside the set is ever read
def _plain_set(tmp_path):
    """A set directory with one plain backup, a FIFO decoy outside it (opening it for reading would block)."""
    directory = tmp_path / 'set'
    directory.mkdir()
    (directory / 'a.bak').write_bytes(b'backup data\n')
    outside = tmp_path / 'outside'
    outside.mkdir()
    decoy = outside / 'decoy'
    os.mkfifo(str(decoy))
    return directory, decoy


def _run_with_timeout(sets, timeout=120):
    """verify_sets in a daemon thread: a read of the FIFO decoy blocks it, and the test fails instead of hanging."""
    import threading
    outcome = {}

    def target():
        try:
            outcome['result'] = verify_sets(sets, THRESHOLDS)
        except Exception as exc:  # reported by the assertion below
            outcome['error'] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), 'verify_sets blocked: it opened the FIFO outside the backup set'
    assert 'error' not in outcome, outcome.get('error')
    return outcome['result']


def _assert_decoy_never_open(decoy):
    # a FIFO with a reader accepts a non-blocking writer; without one the open fails with ENXIO
    with pytest.raises(OSError) as info:
        os.close(os.open(str(decoy), os.O_WRONLY | os.O_NONBLOCK))
    assert info.value.errno == errno.ENXIO


def test_manifest_entries_outside_the_set_are_critical_and_never_read(tmp_path):
    # "every entry exists", ok, for /etc/shadow and ../../etc/hostname with bogus hashes
    directory, decoy = _plain_set(tmp_path)
    bogus = '0' * 64
    with open(str(directory / 'SHA256SUMS'), 'w') as out:
        out.write('%s  a.bak\n' % sha256(str(directory / 'a.bak')))
        for name in ('/etc/shadow', '../../etc/hostname', str(decoy), '../outside/decoy', 'sub/../../outside/decoy'):
            out.write('%s  %s\n' % (bogus, name))
    checks, _report = _run_with_timeout([{'name': 's', 'path': str(directory), 'pattern': '*.bak', 'kind': 'plain',
                                          'manifest': 'SHA256SUMS'}])
    manifest = by_name(checks, 'backup.integrity.manifest')
    assert manifest['status'] == 'critical'
    assert '5 manifest entries outside the backup set refused (never read)' in manifest['reason']
    for name in ('/etc/shadow (absolute path)', '../../etc/hostname (.. component)', '%s (absolute path)' % decoy,
                 'sub/../../outside/decoy (.. component)'):
        assert name in manifest['reason']
    assert by_name(checks, 'backup.integrity.checksum')['status'] == 'ok'  # a.bak itself is fine
    _assert_decoy_never_open(decoy)


def test_symlinks_leading_outside_the_set_are_refused_and_never_opened(tmp_path):
    directory, decoy = _plain_set(tmp_path)
    os.symlink(str(decoy), str(directory / 'evil.bak'))              # a backup that is a link to outside
    os.symlink('../outside/decoy', str(directory / 'listed'))        # a manifest entry that is a link to outside
    os.symlink('a.bak', str(directory / 'same.bak'))                 # a link inside the set is fine
    with open(str(directory / 'SHA256SUMS'), 'w') as out:
        for name in ('a.bak', 'same.bak'):
            out.write('%s  %s\n' % (sha256(str(directory / 'a.bak')), name))
        out.write('%s  listed\n%s  evil.bak\n' % ('0' * 64, '0' * 64))
    checks, _report = _run_with_timeout([{'name': 's', 'path': str(directory), 'pattern': '*.bak', 'kind': 'plain',
                                          'manifest': 'SHA256SUMS'}])
    readable = by_name(checks, 'backup.integrity.readable')
    assert readable['status'] == 'critical'
    assert 'evil.bak: symbolic link to %s, outside the backup set: not read' % decoy in readable['reason']
    manifest = by_name(checks, 'backup.integrity.manifest')
    assert manifest['status'] == 'critical'
    assert 'listed (symbolic link to %s, outside the backup set)' % decoy in manifest['reason']
    assert 'evil.bak (symbolic link to %s, outside the backup set)' % decoy in manifest['reason']
    checksum = by_name(checks, 'backup.integrity.checksum')
    assert checksum['status'] == 'ok' and checksum['details']['verified'] == 2
    _assert_decoy_never_open(decoy)


def test_manifest_that_is_a_link_to_outside_is_not_read(tmp_path):
    directory, decoy = _plain_set(tmp_path)
    os.symlink(str(decoy), str(directory / 'SHA256SUMS'))
    checks, _report = _run_with_timeout([{'name': 's', 'path': str(directory), 'pattern': '*.bak', 'kind': 'plain',
                                          'manifest': 'SHA256SUMS'}])
    manifest = by_name(checks, 'backup.integrity.manifest')
    assert manifest['status'] == 'critical'
    assert 'symbolic link to %s, outside the backup set: not read' % decoy in manifest['reason']
    _assert_decoy_never_open(decoy)


def test_per_backup_checksum_file_that_is_a_link_to_outside_is_not_read(tmp_path):
    directory, decoy = _plain_set(tmp_path)
    os.symlink(str(decoy), str(directory / 'a.bak.sha256'))
    checks, _report = _run_with_timeout([{'name': 's', 'path': str(directory), 'pattern': '*.bak', 'kind': 'plain',
                                          'checksum_suffix': '.sha256'}])
    manifest = by_name(checks, 'backup.integrity.manifest')
    assert manifest['status'] == 'critical' and 'a.bak (.sha256 file is a symbolic link to' in manifest['reason']
    _assert_decoy_never_open(decoy)


def test_manifest_entry_with_a_nul_byte_is_refused_not_a_crash(tmp_path):
    directory, _decoy = _plain_set(tmp_path)
    with open(str(directory / 'SHA256SUMS'), 'w') as out:
        out.write('%s  a.bak\n%s  a.bak\x00/../../etc/shadow\n' % (sha256(str(directory / 'a.bak')), '0' * 64))
    checks = verify_sets([{'name': 's', 'path': str(directory), 'pattern': '*.bak', 'kind': 'plain',
                           'manifest': 'SHA256SUMS'}], THRESHOLDS)[0]
    manifest = by_name(checks, 'backup.integrity.manifest')
    assert manifest['status'] == 'critical' and '(NUL byte in the name)' in manifest['reason']


@pytest.mark.parametrize('manifest', ['/etc/shadow', '../SHA256SUMS', 'sub/../../SHA256SUMS'])
def test_manifest_option_outside_the_set_is_refused_naming_the_option(tmp_path, manifest):
    with pytest.raises(MaintenanceError, match=r'sets\[\]\.manifest'):
        verify_sets([{'name': 's', 'path': str(tmp_path), 'manifest': manifest}], THRESHOLDS)


@pytest.mark.parametrize('params', [
    {'sets': [], 'pgbackrest': [], 'restic': []},
    {'sets': None, 'pgbackrest': None, 'restic': None},
])
def test_nothing_to_verify_is_refused_naming_the_options(params):
    # a verification job that verifies nothing is not green
    with pytest.raises(MaintenanceError, match='nothing to verify.*sets.*pgbackrest.*restic'):
        bv.verify_all(dict(params, thresholds=THRESHOLDS, pg_bindir=None, state_file=None, restore_in_check_mode=False))


@pytest.mark.parametrize('key', ['min_oldest_days', 'max_oldest_days'])
def test_nan_retention_limit_is_refused_naming_the_option(tmp_path, key):
    # NaN compares false: a NaN retention limit would never be breached
    with pytest.raises(MaintenanceError, match=r'sets\[\]\.retention\.%s must be a finite number' % key):
        verify_sets([{'name': 's', 'path': str(tmp_path), 'retention': {key: float('nan')}}], THRESHOLDS)


# ------------------------------------------------------------------ least privilege (issue 17)
RESTORER = 'apcx_t_restorer'
RESTORER_PASSWORD = 'restorer-Pw-5521'


@pytest.fixture()
def createdb_only(postgres, tmp_path):
    """The documented restore login: CREATEDB and nothing else; and a dump of a database with an extension."""
    db = 'bk_with_extension'
    postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % db)
    if not postgres.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (RESTORER,)):
        postgres.execute("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'" % (RESTORER, RESTORER_PASSWORD))
    postgres.create_database(db)
    try:
        postgres.execute('CREATE EXTENSION pg_stat_statements', dbname=db)
        postgres.execute("COMMENT ON EXTENSION pg_stat_statements IS 'query statistics'", dbname=db)
        postgres.execute('CREATE TABLE accounts (id int PRIMARY KEY)', dbname=db)
        postgres.execute('INSERT INTO accounts SELECT generate_series(1, 10)', dbname=db)
        dump = pg_dump(postgres, db, str(tmp_path / 'ext.dump'))
    finally:
        postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % db)
    params = dict(postgres.params, login_user=RESTORER, login_password=RESTORER_PASSWORD)
    spec = {'name': 'ext', 'path': str(tmp_path), 'pattern': '*.dump',
            'restore': restore_spec(validations=[{'table': 'public.accounts', 'min_rows': 10}])}
    return dump, params, spec


def run_as(params, sets):
    return verify_sets(sets, THRESHOLDS, pg_params=params, pg_bindir=pg_bindir())


@pytest.mark.slow
def test_createdb_only_role_cannot_restore_an_extension_without_the_option(postgres, createdb_only):
    _dump, params, spec = createdb_only
    checks, _report = run_as(params, [spec])
    restore = by_name(checks, 'backup.restore')
    assert restore['status'] == 'critical' and 'pg_stat_statements' in restore['reason'], restore['reason']
    assert_no_scratch(postgres)


@pytest.mark.slow
def test_createdb_only_role_restores_with_skipped_extensions_reported(postgres, createdb_only):
    _dump, params, spec = createdb_only
    spec['restore']['skip_extensions'] = ['pg_stat_statements']
    checks, report = run_as(params, [spec])
    restore = by_name(checks, 'backup.restore')
    assert restore['status'] == 'ok', restore['reason']
    assert by_name(checks, 'backup.restore.validation')['status'] == 'ok'
    evidence = report['sets'][0]['restore']
    skipped = evidence['skipped']
    assert any('EXTENSION' in line and 'pg_stat_statements' in line for line in skipped), skipped
    assert any('COMMENT' in line and 'pg_stat_statements' in line for line in skipped), skipped
    assert any(' -L ' in command for command in evidence['commands'])
    # what was skipped is said in a check, not only in the evidence
    said = by_name(checks, 'backup.restore.skipped')
    assert said['status'] == 'ok' and 'pg_stat_statements' in said['reason'] and str(len(skipped)) in said['reason']
    assert_no_scratch(postgres)


@pytest.mark.slow
def test_skip_all_extensions_keeps_other_objects(postgres, createdb_only):
    _dump, params, spec = createdb_only
    spec['restore']['skip_extensions'] = ['all']
    checks, report = run_as(params, [spec])
    assert by_name(checks, 'backup.restore')['status'] == 'ok'
    assert all('EXTENSION' in line for line in report['sets'][0]['restore']['skipped'])
    assert_no_scratch(postgres)


# ------------------------------------------------------------------ roles the restore server does not have (issue 17)
APP_OWNER = 'apcx_t_app_owner'
APP_READER = 'apcx_t_app_reader'
# a data row that reads like a statement naming a role: the role filter must never touch COPY data
GRANT_LIKE_ROW = 'GRANT ALL ON TABLE app.accounts TO %s;' % APP_READER


@pytest.fixture(scope='module')
def foreign_owned_dumps(postgres, tmp_path_factory):
    """Dumps (custom and plain) of a database whose schema, table and function belong to a role, with a row
    security policy and a grant naming another: both roles are dropped before the restore, as on a restore
    server that never had them."""
    directory = tmp_path_factory.mktemp('foreign-owned')
    db = 'bk_foreign_owned'
    postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % db)
    for role in (APP_OWNER, APP_READER):
        if not postgres.execute('SELECT 1 FROM pg_roles WHERE rolname = %s', (role,)):
            postgres.execute('CREATE ROLE %s NOLOGIN' % role)
    if not postgres.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (RESTORER,)):
        postgres.execute("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'" % (RESTORER, RESTORER_PASSWORD))
    postgres.create_database(db)
    try:
        for statement in (
                'CREATE SCHEMA app AUTHORIZATION %s' % APP_OWNER,
                'CREATE TABLE app.accounts (id int PRIMARY KEY, name text)',
                'CREATE TABLE app.notes (body text)',
                'ALTER TABLE app.accounts OWNER TO %s' % APP_OWNER,
                'ALTER TABLE app.notes OWNER TO %s' % APP_OWNER,
                "INSERT INTO app.accounts SELECT g, 'n' || g FROM generate_series(1, 25) g",
                "INSERT INTO app.notes VALUES ('%s')" % GRANT_LIKE_ROW,
                'ALTER TABLE app.accounts ENABLE ROW LEVEL SECURITY',
                'CREATE POLICY readers ON app.accounts FOR SELECT TO %s USING (id > 0)' % APP_READER,
                'GRANT SELECT ON app.accounts TO %s' % APP_READER,
                "CREATE FUNCTION app.answer() RETURNS int LANGUAGE sql AS 'SELECT 42'",
                'ALTER FUNCTION app.answer() OWNER TO %s' % APP_OWNER,
                'ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA app GRANT SELECT ON TABLES TO %s' % (APP_OWNER, APP_READER)):
            postgres.execute(statement, dbname=db)
        pg_dump(postgres, db, str(directory / 'app.dump'))
        pg_dump(postgres, db, str(directory / 'app.sql'), fmt='plain')
    finally:
        postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % db)
    for role in (APP_OWNER, APP_READER):
        postgres.execute('DROP OWNED BY %s' % role)
        postgres.execute('DROP ROLE %s' % role)
    assert APP_OWNER in open(str(directory / 'app.sql')).read()     # the dump does name the absent roles
    return directory


def foreign_spec(directory, pattern, **restore):
    validations = [
        {'table': 'app.accounts', 'min_rows': 25},
        {'name': 'function', 'query': 'SELECT app.answer()', 'expect': 42},
        {'name': 'data untouched', 'query': "SELECT count(*) FROM app.notes WHERE body = '%s'" % GRANT_LIKE_ROW,
         'expect': 1},
        {'name': 'restorer owns', 'query': "SELECT tableowner FROM pg_tables WHERE tablename = 'accounts'",
         'expect': RESTORER},
    ]
    return {'name': 'foreign', 'path': str(directory), 'pattern': pattern,
            'restore': restore_spec(validations=validations, **restore)}


def foreign_params(postgres):
    return dict(postgres.params, login_user=RESTORER, login_password=RESTORER_PASSWORD)


@pytest.mark.slow
@pytest.mark.parametrize('pattern', ['*.dump', '*.sql'])
def test_policy_naming_an_absent_role_fails_naming_map_roles(postgres, foreign_owned_dumps, pattern):
    """no_owner (the default) promises that the roles of the source need not exist: on the old code a plain dump's
    ALTER ... OWNER TO stopped psql ("role ... does not exist"). A row security policy still names its role: the
    restore fails on that one, and says which option maps it."""
    checks, _report = run_as(foreign_params(postgres), [foreign_spec(foreign_owned_dumps, pattern)])
    restore = by_name(checks, 'backup.restore')
    assert restore['status'] == 'critical'
    assert 'role "%s" does not exist' % APP_READER in restore['reason'], restore['reason']
    assert "restore.map_roles ({%s: CURRENT_USER}" % APP_READER in restore['reason'], restore['reason']
    assert APP_OWNER not in restore['reason']                 # the owners were left out: not what failed
    assert_no_scratch(postgres)


@pytest.mark.slow
@pytest.mark.parametrize('pattern', ['*.dump', '*.sql'])
@pytest.mark.parametrize('mapping', [{APP_READER: RESTORER}, {'*': 'CURRENT_USER'}])
def test_map_roles_restores_as_a_createdb_only_login_and_reports_it(postgres, foreign_owned_dumps, pattern, mapping):
    spec = foreign_spec(foreign_owned_dumps, pattern, map_roles=mapping)
    spec['restore']['validations'].append(
        {'name': 'policy mapped', 'query': "SELECT array_to_string(roles, ',') FROM pg_policies WHERE policyname = 'readers'",
         'expect': RESTORER})
    checks, report = run_as(foreign_params(postgres), [spec])
    restore = by_name(checks, 'backup.restore')
    assert restore['status'] == 'ok', restore['reason']
    assert [c['status'] for c in checks if c['name'] == 'backup.restore.validation'] == ['ok'] * 5, \
        [c['reason'] for c in checks if c['name'] == 'backup.restore.validation']
    evidence = report['sets'][0]['restore']
    roles = evidence['roles']
    assert roles['mapped'][APP_READER]['to'] == RESTORER if '*' not in mapping else roles['mapped'][APP_READER]['to'] == 'CURRENT_USER'
    assert roles['mapped'][APP_READER]['statements'] >= 1
    assert any(' | ' in command for command in evidence['commands'])   # producer | role filter | psql
    said = by_name(checks, 'backup.restore.roles')
    assert said['status'] == 'ok' and APP_READER in said['reason'], said['reason']
    if pattern == '*.sql':
        # the plain dump's owner and privilege statements were left out (--no-owner --no-privileges): said too
        assert roles['left_out']['owner'] >= 4 and roles['left_out']['privileges'] >= 1, roles
        assert 'left out' in said['reason']
    assert_no_scratch(postgres)


@pytest.mark.parametrize('mapping', [{'': 'x'}, {'a': ''}, {'a': 5}, ['a']])
def test_map_roles_bad_values_are_refused_naming_the_option(tmp_path, mapping):
    with pytest.raises(MaintenanceError, match=r'restore\.map_roles'):
        verify_sets([{'name': 's', 'path': str(tmp_path), 'restore': {'map_roles': mapping}}], THRESHOLDS)


def test_role_filter_rewrites_statements_only():
    rewrite = br.RoleFilter({'app_owner': 'restorer', 'Mixed Case': 'CURRENT_USER'}, existing=None, no_owner=False)
    lines = [
        'ALTER TABLE app.accounts OWNER TO app_owner;\n',
        'CREATE POLICY p ON app.t FOR SELECT TO "Mixed Case", other USING ((id > 0));\n',
        'GRANT SELECT ON TABLE app.t TO app_owner;\n',
        'REVOKE ALL ON TABLE app.t FROM "Mixed Case";\n',
        'ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA app GRANT SELECT ON TABLES TO other;\n',
        'COPY app.notes (body) FROM stdin;\n',
        'GRANT ALL ON TABLE app.t TO app_owner;\n',          # data, not a statement
        'ALTER TABLE x OWNER TO app_owner;\n',               # data
        '\\.\n',
        'ALTER TABLE app.notes OWNER TO app_owner;\n',
    ]
    out = [rewrite.line(line) for line in lines]
    assert out[0] == 'ALTER TABLE app.accounts OWNER TO "restorer";\n'
    assert out[1] == 'CREATE POLICY p ON app.t FOR SELECT TO CURRENT_USER, other USING ((id > 0));\n'
    assert out[2] == 'GRANT SELECT ON TABLE app.t TO "restorer";\n'
    assert out[3] == 'REVOKE ALL ON TABLE app.t FROM CURRENT_USER;\n'
    assert out[4] == 'ALTER DEFAULT PRIVILEGES FOR ROLE "restorer" IN SCHEMA app GRANT SELECT ON TABLES TO other;\n'
    assert out[6:8] == lines[6:8]
    assert out[9] == 'ALTER TABLE app.notes OWNER TO "restorer";\n'
    assert rewrite.mapped == {'app_owner': {'to': 'restorer', 'statements': 4},
                              'Mixed Case': {'to': 'CURRENT_USER', 'statements': 2}}


def test_role_filter_without_owners_leaves_out_owner_and_privilege_statements():
    rewrite = br.RoleFilter({'*': 'CURRENT_USER'}, existing={'postgres', 'restorer'}, no_owner=True)
    out = [rewrite.line(line) for line in (
        'ALTER SCHEMA app OWNER TO app_owner;\n', 'GRANT SELECT ON TABLE app.t TO reader;\n',
        'REVOKE ALL ON SCHEMA public FROM PUBLIC;\n', 'ALTER DEFAULT PRIVILEGES FOR ROLE a GRANT ALL ON TABLES TO b;\n',
        'CREATE POLICY p ON app.t TO reader, postgres, PUBLIC;\n', 'CREATE TABLE app.t (\n')]
    assert out[:4] == ['', '', '', '']
    assert out[4] == 'CREATE POLICY p ON app.t TO CURRENT_USER, postgres, PUBLIC;\n'   # existing roles and PUBLIC stay
    assert out[5] == 'CREATE TABLE app.t (\n'
    assert rewrite.left_out == {'owner': 1, 'privileges': 3}
    assert rewrite.mapped == {'reader': {'to': 'CURRENT_USER', 'statements': 1}}
