"""pgBackRest and restic read through their own output.

Both tools are Debian packages and run here for real: a PostgreSQL cluster archiving
WAL into a local pgBackRest repository, a local restic repository. The parse tests
use JSON captured from those real runs (fixtures/, pgBackRest 2.45, restic 0.14) with
single fields changed to produce the failure states that are slow to provoke for real.
"""

import copy
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

from tests.harness.postgres import PostgresCluster

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups import tools as bt
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
THRESHOLDS = {'backup_age': {'critical': 26, 'unit': 'h', 'priority': 'high'}}


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


def by_name(checks, name):
    found = [c for c in checks if c['name'] == name]
    assert found, [c['name'] for c in checks]
    return found[0]


# ------------------------------------------------------------------ parsing captured output
def test_pgbackrest_info_healthy_capture():
    data = fixture('pgbackrest-2.45-info.json')
    stop = data[0]['backup'][0]['timestamp']['stop']
    checks = bt.parse_pgbackrest_info(data, 'demo', THRESHOLDS, 'backup_age', now=stop + 2 * 3600)
    assert [c['status'] for c in checks] == ['ok', 'ok', 'ok', 'ok']
    assert by_name(checks, 'backup.pgbackrest.age')['value'] == 2.0
    assert 'WAL archive 15-1: 000000010000000000000001 .. 000000010000000000000003' \
        == by_name(checks, 'backup.pgbackrest.archive')['reason']


def test_pgbackrest_info_failure_states():
    base = fixture('pgbackrest-2.45-info.json')
    stop = base[0]['backup'][0]['timestamp']['stop']
    data = copy.deepcopy(base)
    data[0]['status'] = {'code': 2, 'message': 'no valid backups', 'lock': {'backup': {'held': False}}}
    data[0]['backup'][0]['error'] = True
    data[0]['archive'] = []
    checks = bt.parse_pgbackrest_info(data, 'demo', THRESHOLDS, 'backup_age', now=stop + 30 * 3600)
    assert by_name(checks, 'backup.pgbackrest.status')['reason'] == 'stanza demo status 2: no valid backups'
    assert by_name(checks, 'backup.pgbackrest.age')['status'] == 'critical'
    assert '20261124-052200F' in by_name(checks, 'backup.pgbackrest.backup_errors')['reason']
    assert by_name(checks, 'backup.pgbackrest.archive')['status'] == 'critical'
    missing = bt.parse_pgbackrest_info(base, 'other', THRESHOLDS, 'backup_age', now=stop)
    assert missing[0]['reason'] == 'stanza other not in pgbackrest info'


def test_pgbackrest_verify_text():
    good = ('stanza: demo\nstatus: ok\n  archiveId: 15-1, total WAL checked: 3, total valid WAL: 3\n'
            '    missing: 0, checksum invalid: 0, size invalid: 0, other: 0\n'
            '  backup: 20261124-052200F, status: valid, total files checked: 964, total valid files: 964\n'
            '    missing: 0, checksum invalid: 0, size invalid: 0, other: 0\n')
    assert bt.parse_pgbackrest_verify(good, 'demo')['status'] == 'ok'
    bad = good.replace('status: ok', 'status: error').replace(
        'status: valid, total files checked: 964, total valid files: 964\n    missing: 0, checksum invalid: 0',
        'status: invalid, total files checked: 964, total valid files: 963\n    missing: 0, checksum invalid: 1')
    check = bt.parse_pgbackrest_verify(bad, 'demo')
    assert check['status'] == 'critical' and 'checksum invalid: 1' in check['reason']
    assert bt.parse_pgbackrest_verify('', 'demo')['reason'].startswith('pgbackrest verify printed no status')


def test_restic_snapshots_capture():
    data = fixture('restic-0.14-snapshots.json')
    when = bt._restic_time(data[0]['time'])
    checks = bt.parse_restic_snapshots(data, 'files', THRESHOLDS, 'backup_age', now=when + 3600)
    assert checks[0]['status'] == 'ok' and checks[0]['value'] == 1.0
    stale = bt.parse_restic_snapshots(data, 'files', THRESHOLDS, 'backup_age', now=when + 27 * 3600)
    assert stale[0]['status'] == 'critical'
    other = bt.parse_restic_snapshots(data, 'files', THRESHOLDS, 'backup_age', now=when, host='db1')
    assert other[0]['reason'] == 'no snapshot for db1 in the repository'


def test_restic_check_is_not_trusted_by_exit_code_alone():
    assert bt.parse_restic_check(0, 'load indexes\nno errors were found\n', '', 'r')['status'] == 'ok'
    silent = bt.parse_restic_check(0, 'load indexes\n', '', 'r')
    assert silent['status'] == 'critical' and 'did not report' in silent['reason']
    assert bt.parse_restic_check(1, '', 'Fatal: repository contains errors\n', 'r')['status'] == 'critical'


def test_missing_tools_are_critical_with_the_reason():
    checks = bt.check_restic({'repository': '/nonexistent', 'binary': 'restic-not-installed'}, THRESHOLDS)
    assert checks[0]['status'] == 'critical' and 'not installed' in checks[0]['reason']
    checks = bt.check_pgbackrest({'stanza': 'x', 'binary': 'pgbackrest-not-installed'}, THRESHOLDS)
    assert 'not installed' in checks[0]['reason']


# ------------------------------------------------------------------ real runs
@pytest.mark.slow
@pytest.mark.skipif(not shutil.which('restic'), reason='restic not installed (tests/system-packages.txt)')
def test_restic_real_repository(tmp_path):
    repo = str(tmp_path / 'repo')
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'file.txt').write_bytes(os.urandom(200000))
    password = tmp_path / 'pw'
    password.write_text('restic-Secret-pw\n')
    env = dict(os.environ, RESTIC_REPOSITORY=repo, RESTIC_PASSWORD_FILE=str(password),
               RESTIC_CACHE_DIR=str(tmp_path / 'cache'))
    subprocess.run(['restic', 'init', '-q'], env=env, check=True, capture_output=True)
    subprocess.run(['restic', 'backup', '-q', str(data)], env=env, check=True, capture_output=True)
    spec = {'name': 'files', 'repository': repo, 'password_file': str(password),
            'env': {'RESTIC_CACHE_DIR': str(tmp_path / 'cache')}, 'read_data_subset': '100%'}
    checks = bt.check_restic(spec, THRESHOLDS)
    assert [c['status'] for c in checks] == ['ok', 'ok'], checks
    assert by_name(checks, 'backup.restic.age')['details']['count'] == 1
    # a snapshot taken "three days ago" only: stale
    subprocess.run(['restic', 'backup', '-q', '--host', 'old-host', '--time', time.strftime(
        '%Y-%m-%d %H:%M:%S', time.localtime(time.time() - 72 * 3600)), str(data)], env=env, check=True,
        capture_output=True)
    stale = bt.check_restic(dict(spec, host='old-host', check=False), THRESHOLDS)
    assert len(stale) == 1 and stale[0]['status'] == 'critical' and stale[0]['value'] == pytest.approx(72, abs=0.1)
    # corrupt one data pack: check --read-data finds it
    packs = [os.path.join(root, f) for root, _d, files in os.walk(os.path.join(repo, 'data')) for f in files]
    with open(packs[0], 'r+b') as handle:
        handle.seek(50)
        handle.write(b'XX')
    checks = bt.check_restic(spec, THRESHOLDS)
    check = by_name(checks, 'backup.restic.check')
    assert check['status'] == 'critical' and 'Pack ID does not match' in check['reason'], check


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which('pgbackrest'), reason='pgbackrest not installed (tests/system-packages.txt)')
def test_pgbackrest_real_stanza():
    base = tempfile.mkdtemp(prefix='apcx-pgbr-')
    conf = os.path.join(base, 'pgbackrest.conf')
    entry = pwd.getpwnam('postgres') if os.geteuid() == 0 else None
    for sub in ('', 'repo', 'log'):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
        os.chmod(os.path.join(base, sub), 0o755)
        if entry:
            os.chown(os.path.join(base, sub), entry.pw_uid, entry.pw_gid)
    cluster = PostgresCluster(preload=(), settings={
        'archive_mode': 'on', 'wal_level': 'replica',
        'archive_command': "'pgbackrest --config=%s --stanza=demo archive-push %%p'" % conf})
    try:
        cluster.init()
        with open(conf, 'w') as out:
            out.write('[global]\nrepo1-path=%s/repo\nlog-path=%s/log\nlock-path=%s/log\nlog-level-file=off\n'
                      'start-fast=y\n\n[demo]\npg1-path=%s\npg1-port=%d\npg1-socket-path=%s\n'
                      % (base, base, base, cluster.datadir, cluster.port, cluster.socket_dir))
        os.chmod(conf, 0o644)
        cluster.start()
        as_pg = ['runuser', '-u', 'postgres', '--'] if entry else []
        for args in (['stanza-create'], ['--type=full', 'backup']):
            subprocess.run(as_pg + ['pgbackrest', '--config=' + conf, '--stanza=demo'] + args, check=True,
                           capture_output=True)
        binary = os.path.join(base, 'pgbackrest-as-postgres')
        with open(binary, 'w') as out:
            out.write('#!/bin/sh\nexec %s pgbackrest "$@"\n' % ' '.join(as_pg))
        os.chmod(binary, 0o755)
        spec = {'stanza': 'demo', 'config': conf, 'verify': True, 'binary': binary}
        checks = bt.check_pgbackrest(spec, THRESHOLDS)
        assert [c['status'] for c in checks] == ['ok'] * 5, checks
        assert by_name(checks, 'backup.pgbackrest.age')['value'] < 0.1
        assert by_name(checks, 'backup.pgbackrest.verify')['details']['checked'] == 2
        # damage one file of the backup: verify reports it
        backup_dir = os.path.join(base, 'repo', 'backup', 'demo')
        label = [d for d in os.listdir(backup_dir) if d.endswith('F')][0]
        target = os.path.join(backup_dir, label, 'pg_data', 'PG_VERSION')
        if not os.path.exists(target):
            target = [os.path.join(r, f) for r, _d, fs in os.walk(os.path.join(backup_dir, label, 'pg_data'))
                      for f in fs][0]
        with open(target, 'ab') as out:
            out.write(b'tampered')
        checks = bt.check_pgbackrest(spec, THRESHOLDS, now=time.time())
        verify = by_name(checks, 'backup.pgbackrest.verify')
        assert verify['status'] == 'critical' and label in verify['reason'], verify
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


def test_a_rest_repository_with_credentials_is_named_without_them():
    """``rest:https://user:pass@host/repo``: the checks' target and reasons never carry the password."""
    secret = 'restic-RestPw-8812'
    repo = {'repository': 'rest:https://backup:%s@127.0.0.1:1/repo' % secret, 'binary': 'restic-not-installed'}
    checks = bt.check_restic(repo, THRESHOLDS)
    assert checks and secret not in json.dumps(checks)
    assert checks[0]['target'] == 'restic:rest:https://127.0.0.1:1/repo'
    plain = bt.check_restic({'repository': '/srv/restic/app', 'binary': 'restic-not-installed'}, THRESHOLDS)
    assert plain[0]['target'] == 'restic:/srv/restic/app'
