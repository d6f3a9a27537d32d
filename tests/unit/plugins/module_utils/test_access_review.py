"""access_review on a real root (accounts, shadow, sudoers, keys made by ssh-keygen, lastlog) and real PostgreSQL roles."""

import json
import os
import subprocess

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.access_review import (
    parse_authorized_key,
    review,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from tests.harness.audit_root import add_key, build_root, tree_snapshot


@pytest.fixture()
def audit_root(tmp_path):
    root = tmp_path / 'root'
    keys = tmp_path / 'keys'
    root.mkdir()
    keys.mkdir()
    fingerprints = build_root(str(root), str(keys))
    return root, keys, fingerprints


def approved_for(fingerprints, **extra):
    approved = {'sudo': ['root', 'alice', 'deploy'], 'sudo_nopasswd': ['deploy'],
                'login_accounts': ['root', 'postgres', 'alice', 'bob', 'carol', 'deploy'],
                'ssh_keys': dict(fingerprints)}
    approved.update(extra)
    return approved


def run(root, tmp_path, approved, check_mode=False, **params):
    base = dict(root=str(root), categories=['accounts', 'sudo', 'ssh_keys'], approved=approved, stale_days=90,
                max_password_age=365, stale_ignore=['root', 'postgres'], state_file=str(tmp_path / 'state' / 'access.json'))
    base.update(params)
    checks, extra, changed = review(base, check_mode=check_mode)
    return dict((c['name'], c) for c in checks), extra, changed


def test_fingerprint_and_size_match_ssh_keygen(tmp_path):
    for kind, bits in (('ed25519', None), ('rsa', 1024), ('rsa', 3072), ('ecdsa', 384)):
        path = tmp_path / ('k-%s-%s' % (kind, bits))
        args = ['ssh-keygen', '-q', '-t', kind, '-N', '', '-f', str(path), '-C', 'me@host']
        if bits:
            args += ['-b', str(bits)]
        subprocess.run(args, check=True)
        printed = subprocess.run(['ssh-keygen', '-l', '-E', 'sha256', '-f', str(path) + '.pub'], capture_output=True, text=True,
                                 check=True).stdout.split()
        key = parse_authorized_key('command="/bin/echo a b",no-pty ' + open(str(path) + '.pub').read())
        assert key['fingerprint'] == printed[1]
        assert key['bits'] == int(printed[0])
        assert key['comment'] == 'me@host'
        assert key['options'] == 'command="/bin/echo a b",no-pty'


def test_clean_root_is_ok_and_first_review_recorded(audit_root, tmp_path):
    root, _keys, fingerprints = audit_root
    approved = approved_for(fingerprints)
    checks, extra, changed = run(root, tmp_path, approved, stale_days=365, max_password_age=None)
    for name in ('access.accounts', 'access.sudo', 'access.ssh_keys'):
        assert checks[name]['status'] == 'ok', checks[name]['reason']
    assert sorted(extra['inventory']['sudoers']) == ['alice', 'deploy', 'root']  # bob's file has a dot: sudo skips it
    assert extra['inventory']['sudoers']['alice'][0]['how'] == 'group sudo'
    assert checks['access.changes']['status'] == 'ok' and 'first review' in checks['access.changes']['reason']
    assert changed and extra['state']['action'] == 'created'
    assert os.path.exists(str(tmp_path / 'state' / 'access.json'))


def test_planted_findings_each_with_reason_and_nothing_changes(audit_root, tmp_path):
    root, keys, fingerprints = audit_root
    approved = approved_for(fingerprints)
    run(root, tmp_path, approved)  # the last review
    # plant: an unapproved sudoer and a new authorized key
    with open(str(root / 'etc' / 'sudoers.d' / 'oncall'), 'w') as out:
        out.write('bob ALL=(ALL:ALL) ALL\n')
    new_fp = add_key(str(root), str(keys), 'alice', 'intruder', kind='rsa', bits=1024, comment='intruder@elsewhere')
    before = tree_snapshot(str(root))
    checks, extra, _changed = run(root, tmp_path, approved)
    assert tree_snapshot(str(root)) == before
    sudo = checks['access.sudo']
    assert sudo['status'] == 'critical' and sudo['priority'] == 'high'
    assert 'unapproved sudoer bob (direct at /etc/sudoers.d/oncall:1)' in sudo['reason']
    keys_check = checks['access.ssh_keys']
    assert keys_check['status'] == 'critical'
    assert 'unapproved SSH key for alice ssh-rsa key %s (intruder@elsewhere)' % new_fp in keys_check['reason']
    assert 'RSA key of 1024 bits (less than 2048)' in keys_check['reason']
    accounts = checks['access.accounts']
    assert accounts['status'] == 'warning'
    assert 'stale account carol: last login' in accounts['reason'] and '200 days ago' in accounts['reason']
    assert 'password of bob is 400 days old' in accounts['reason']
    assert 'alice' not in accounts['reason']
    changes = checks['access.changes']
    assert changes['status'] == 'warning'
    assert 'new sudoer since the review of' in changes['reason'] and ': bob' in changes['reason']
    assert 'new SSH key' in changes['reason'] and new_fp in changes['reason']
    reasons = [f['reason'] for f in extra['findings']]
    assert any('unapproved sudoer bob' in r for r in reasons)


def test_check_mode_writes_no_state(audit_root, tmp_path):
    root, _keys, fingerprints = audit_root
    checks, extra, changed = run(root, tmp_path, approved_for(fingerprints), check_mode=True)
    assert changed and extra['state']['action'] == 'created'
    assert not os.path.exists(str(tmp_path / 'state' / 'access.json'))
    checks, extra, changed = run(root, tmp_path, approved_for(fingerprints))
    assert changed
    checks, extra, changed = run(root, tmp_path, approved_for(fingerprints))
    assert not changed and checks['access.changes']['status'] == 'ok'


def test_no_approved_list_is_unknown_not_ok(audit_root, tmp_path):
    root, _keys, _fingerprints = audit_root
    checks, _extra, _changed = run(root, tmp_path, {}, stale_days=365, max_password_age=None)
    assert checks['access.sudo']['status'] == 'unknown'
    assert 'no approved sudo list: 3 account(s) hold sudo rights (alice, deploy, root)' in checks['access.sudo']['reason']
    assert checks['access.ssh_keys']['status'] == 'unknown'
    assert checks['access.accounts']['status'] == 'unknown'


def test_unreadable_shadow_and_missing_lastlog_are_said(audit_root, tmp_path):
    root, _keys, fingerprints = audit_root
    os.unlink(str(root / 'var' / 'log' / 'lastlog'))
    os.unlink(str(root / 'etc' / 'shadow'))
    checks, _extra, _changed = run(root, tmp_path, approved_for(fingerprints))
    assert checks['access.accounts']['status'] == 'unknown'
    assert 'cannot read %s/etc/shadow' % root in checks['access.accounts']['reason']
    assert 'stale accounts not judged' in checks['access.accounts']['reason']


@pytest.mark.parametrize('approved, message', [
    ({'ssh_keys': ['SHA256:x']}, 'approved.ssh_keys must map'),
    ({'ssh_keys': {'alice': 'SHA256:x'}}, 'approved.ssh_keys.alice must be a list'),
    ({'sudo': 'alice'}, "approved.sudo must be a list of names, not 'alice'"),
])
def test_bad_approved_list_names_the_option(audit_root, tmp_path, approved, message):
    root, _keys, _fingerprints = audit_root
    with pytest.raises(MaintenanceError, match=message):
        run(root, tmp_path, approved)


def test_lastlog2_database_is_read_read_only(audit_root, tmp_path):
    import sqlite3
    import time
    root, _keys, fingerprints = audit_root
    os.unlink(str(root / 'var' / 'log' / 'lastlog'))
    os.makedirs(str(root / 'var' / 'lib' / 'lastlog'))
    path = str(root / 'var' / 'lib' / 'lastlog' / 'lastlog2.db')
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE Lastlog2(Name TEXT PRIMARY KEY, Time INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT)')
    now = int(time.time())
    for name, days in (('alice', 1), ('bob', 3), ('deploy', 2), ('carol', 120)):
        conn.execute('INSERT INTO Lastlog2 VALUES (?, ?, ?, ?, ?)', (name, now - days * 86400, 'pts/1', '192.0.2.9', 'sshd'))
    conn.commit()
    conn.close()
    before = tree_snapshot(str(root))
    checks, extra, _changed = run(root, tmp_path, approved_for(fingerprints), max_password_age=None)
    assert tree_snapshot(str(root)) == before
    assert 'stale account carol: last login' in checks['access.accounts']['reason'] and '120 days ago' in checks['access.accounts']['reason']
    assert checks['access.accounts']['value'] == 1


def test_no_password_hash_leaves(audit_root, tmp_path):
    root, _keys, fingerprints = audit_root
    checks, extra, _changed = run(root, tmp_path, approved_for(fingerprints))
    hashes = [line.split(':')[1] for line in (root / 'etc' / 'shadow').read_text().splitlines() if line.split(':')[1].startswith('$')]
    assert hashes
    text = json.dumps([checks, extra]) + (tmp_path / 'state' / 'access.json').read_text()
    assert not any(h in text for h in hashes)


def test_postgres_roles_against_the_approved_list(postgres, postgres_db, audit_root, tmp_path):
    root, _keys, fingerprints = audit_root
    for statement in ('DROP ROLE IF EXISTS apcx_rogue', 'DROP ROLE IF EXISTS apcx_app', 'DROP ROLE IF EXISTS apcx_reader'):
        postgres.execute(statement)
    postgres.execute("CREATE ROLE apcx_app LOGIN PASSWORD 'app-secret' VALID UNTIL '2099-01-01'")
    postgres.execute("CREATE ROLE apcx_reader LOGIN PASSWORD 'reader-secret'")
    postgres.execute('GRANT pg_read_all_data TO apcx_reader')
    postgres.execute('CREATE TABLE open_table (id int)', dbname=postgres_db)
    postgres.execute('GRANT INSERT ON open_table TO PUBLIC', dbname=postgres_db)
    pg = dict(postgres.params, login_db=postgres_db)
    approved = approved_for(fingerprints, postgres_roles={'postgres': ['superuser', 'createrole', 'replication', 'bypassrls'],
                                                          'apcx_reader': ['member:pg_read_all_data']},
                            postgres_no_expiry=[])
    try:
        run(root, tmp_path, approved, categories=['postgres'], **pg)
        postgres.execute("CREATE ROLE apcx_rogue SUPERUSER LOGIN PASSWORD 'rogue-secret'")
        before = postgres.execute("SELECT rolname, rolsuper FROM pg_roles ORDER BY 1")
        checks, extra, _changed = run(root, tmp_path, approved, categories=['postgres'], **pg)
        assert postgres.execute("SELECT rolname, rolsuper FROM pg_roles ORDER BY 1") == before
        roles = checks['access.postgres_roles']
        assert roles['status'] == 'critical'
        assert 'unapproved superuser role apcx_rogue (approved: nothing)' in roles['reason']
        assert 'login role apcx_reader has no password expiry' in roles['reason']
        assert 'apcx_app' not in roles['reason']
        assert 'apcx_reader (approved' not in roles['reason']
        public = checks['access.postgres_public']
        assert public['status'] == 'critical' and 'INSERT granted to PUBLIC on table public.open_table' in public['reason']
        assert 'new superuser since the review of' in checks['access.changes']['reason']
        assert 'apcx_rogue' in checks['access.changes']['reason']
        assert 'secret' not in json.dumps([checks, extra])
    finally:
        for statement in ('DROP ROLE IF EXISTS apcx_rogue', 'DROP ROLE IF EXISTS apcx_app', 'DROP ROLE IF EXISTS apcx_reader'):
            postgres.execute(statement)


def test_unreachable_postgres_is_critical_with_reason(audit_root, tmp_path):
    root, _keys, fingerprints = audit_root
    pg = dict(login_host='127.0.0.1', port=1, login_user='postgres', login_password='pw-secret', login_db='postgres',
              connect_timeout=2)
    checks, extra, _changed = run(root, tmp_path, approved_for(fingerprints, postgres_roles={}), categories=['postgres'], **pg)
    assert checks['access.postgres_roles']['status'] == 'critical'
    assert 'cannot connect to postgres@127.0.0.1:1/postgres' in checks['access.postgres_roles']['reason']
    assert 'pw-secret' not in json.dumps([checks, extra])
