"""playbooks/backup_verification.yml with real ansible-playbook, a real pg_dump set and a real PostgreSQL.

Asserts on the outcome records (what the callback stored), on the real effects (state
file, scratch databases) and on the job's exit code (the verdict).
"""

import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest
import yaml

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.paths import ROOT
from tests.harness.postgres import pg_bindir

PLAYBOOK = os.path.join(ROOT, 'playbooks', 'backup_verification.yml')
PREFIX = 'apcx_it_restore_'
RESTIC_PASSWORD = 'restic-Inventory-Secret-9'


def sha256(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture(scope='module')
def dump(postgres, tmp_path_factory):
    postgres.execute('DROP DATABASE IF EXISTS it_backup_src WITH (FORCE)')
    postgres.create_database('it_backup_src')
    postgres.execute('CREATE TABLE customers (id int PRIMARY KEY, name text)', dbname='it_backup_src')
    postgres.execute("INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 300) g", dbname='it_backup_src')
    path = str(tmp_path_factory.mktemp('it-dump') / 'src.dump')
    subprocess.run([os.path.join(pg_bindir(), 'pg_dump'), '-Fc', '-f', path, 'it_backup_src'], env=postgres.env(),
                   check=True, capture_output=True)
    yield path
    postgres.execute('DROP DATABASE IF EXISTS it_backup_src WITH (FORCE)')


def make_set(directory, dump_path):
    os.makedirs(directory)
    names = []
    for hours in (25, 1):
        name = 'app-%02d.dump' % hours
        path = os.path.join(directory, name)
        shutil.copyfile(dump_path, path)
        stamp = time.time() - hours * 3600
        os.utime(path, (stamp, stamp))
        names.append(name)
    with open(os.path.join(directory, 'SHA256SUMS'), 'w') as out:
        for name in names:
            out.write('%s  %s\n' % (sha256(os.path.join(directory, name)), name))
    return names


def write_inventory(tmp_path, postgres, directory, **extra):
    host = {
        'ansible_connection': 'local',
        'backup_verification_sets': [{
            'name': 'app', 'path': directory, 'pattern': 'app-*.dump', 'kind': 'pg_dump', 'manifest': 'SHA256SUMS',
            'restore': {'scratch_prefix': PREFIX, 'validations': [{'table': 'public.customers', 'min_rows': 300}]},
        }],
        'backup_verification_db': postgres.params,
        'backup_verification_pg_bindir': pg_bindir(),
        'backup_verification_state_file': str(tmp_path / 'state.json'),
    }
    host.update(extra)
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': {'backup-host': host}}}))
    return str(inventory)


def all_checks(log):
    checks = []
    for record in read_outcomes(log):
        checks += record.get('checks') or []
    return checks


def scratch(postgres):
    return postgres.execute('SELECT datname FROM pg_database WHERE starts_with(datname, %s)', (PREFIX,))


@pytest.mark.slow
def test_playbook_check_mode_then_real_run(postgres, dump, tmp_path):
    directory = str(tmp_path / 'backups')
    make_set(directory, dump)
    inventory = write_inventory(tmp_path, postgres, directory)
    state = tmp_path / 'state.json'

    log = tmp_path / 'check.jsonl'
    run = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=log, args=['--check'])
    assert run.returncode == 0, run.stdout[-4000:]
    checks = dict((c['name'], c) for c in all_checks(log))
    assert checks['backup.restore']['status'] == 'unknown' and 'skipped in check mode' in checks['backup.restore']['reason']
    assert checks['backup.integrity.checksum']['status'] == 'ok'  # the read-only checks ran
    assert not state.exists()
    assert scratch(postgres) == []

    log = tmp_path / 'real.jsonl'
    run = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=log)
    assert run.returncode == 0, run.stdout[-4000:]
    checks = all_checks(log)
    assert [c for c in checks if c['status'] != 'ok'] == []
    names = set(c['name'] for c in checks)
    assert {'backup.completion.age', 'backup.integrity.checksum', 'backup.integrity.archive', 'backup.restore',
            'backup.restore.validation', 'backup.restore.cleanup', 'backup.storage.volume_used'} <= names
    assert json.loads(state.read_text())['app']['count'] == 2
    assert scratch(postgres) == []
    records = read_outcomes(log)
    verify = [r for r in records if 'Verify backup sets' in r['task']][0]
    assert verify['changed'] is False


@pytest.mark.slow
def test_playbook_fails_and_alerts_on_a_corrupt_backup_and_keeps_secrets(postgres, dump, tmp_path):
    directory = str(tmp_path / 'backups')
    names = make_set(directory, dump)
    newest = os.path.join(directory, names[-1])
    with open(newest, 'r+b') as handle:
        handle.seek(os.path.getsize(newest) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    restic_repo = tmp_path / 'no-such-restic-repo'
    inventory = write_inventory(tmp_path, postgres, directory, backup_verification_restic=[
        {'name': 'files', 'repository': str(restic_repo), 'password': RESTIC_PASSWORD}])
    log = tmp_path / 'fault.jsonl'
    run = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=log)
    assert run.returncode != 0, run.stdout[-4000:]
    checks = dict(((c['name'], c.get('target')), c) for c in all_checks(log))
    checksum = checks[('backup.integrity.checksum', 'app')]
    assert checksum['status'] == 'critical' and names[-1] in checksum['reason']
    restore = checks[('backup.restore', 'app')]
    assert restore['status'] == 'critical' and 'not attempted' in restore['reason']
    assert checks[('backup.restic.age', 'restic:files')]['status'] == 'critical'
    assert 'Backup verification on backup-host: critical' in run.stdout  # the alert went through notify
    assert 'check(s) at or above critical' in run.stdout  # the verdict failed the job
    for text in (run.stdout, run.stderr, log.read_text()):
        assert RESTIC_PASSWORD not in text
        assert postgres.password not in text
    assert scratch(postgres) == []


@pytest.mark.slow
def test_playbook_rejects_a_set_without_location(postgres, tmp_path):
    inventory = write_inventory(tmp_path, postgres, str(tmp_path),
                                backup_verification_sets=[{'name': 'nowhere'}])
    run = run_playbook(PLAYBOOK, inventory=inventory, outcome_log=tmp_path / 'bad.jsonl')
    assert run.returncode != 0
    assert 'backup_verification_sets[0] needs a unique name and a path (or files)' in run.stdout
    assert 'Traceback' not in run.stdout + run.stderr
