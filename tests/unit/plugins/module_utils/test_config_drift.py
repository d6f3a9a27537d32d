"""config_drift on a real root (sshd_config, nginx, sysctl, dpkg status, systemd links) and real pg_settings."""

import json
import os

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.config_drift import (
    drift,
    parse_nginx,
    parse_sshd,
    redact_content,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from tests.harness.audit_root import tree_snapshot

SSHD = '''# hardened
Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin no
PasswordAuthentication no
X11Forwarding no
Match User backup
    ForceCommand internal-sftp
'''
NGINX = '''events { worker_connections 768; }
http {
    server_tokens off;
    server {
        listen 443 ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { proxy_pass http://127.0.0.1:3000; }
    }
}
'''
STATUS = '''Package: openssh-server
Status: install ok installed
Architecture: amd64
Version: 1:9.2p1-2+deb12u3

Package: nginx
Status: install ok installed
Architecture: amd64
Version: 1.22.1-9

Package: telnetd
Status: deinstall ok config-files
Architecture: amd64
Version: 0.17-44
'''


@pytest.fixture()
def root(tmp_path):
    root = tmp_path / 'root'
    for sub in ('etc/ssh', 'etc/nginx', 'etc/sysctl.d', 'etc/app', 'var/lib/dpkg', 'etc/systemd/system/multi-user.target.wants'):
        (root / sub).mkdir(parents=True)
    (root / 'etc/ssh/sshd_config').write_text(SSHD)
    (root / 'etc/nginx/nginx.conf').write_text(NGINX)
    (root / 'etc/sysctl.d/99-hardening.conf').write_text('net.ipv4.ip_forward = 0\nkernel/kptr_restrict=2\n')
    (root / 'etc/app/app.conf').write_text('listen = 3000\ndb_password = first-secret-value\n')
    (root / 'var/lib/dpkg/status').write_text(STATUS)
    os.symlink('/lib/systemd/system/ssh.service', str(root / 'etc/systemd/system/multi-user.target.wants/ssh.service'))
    return root


def run(root, tmp_path, check_mode=False, **params):
    base = dict(root=str(root), categories=['files', 'packages', 'services'], state='present',
                files=['/etc/ssh/sshd_config', '/etc/nginx/nginx.conf', '/etc/sysctl.d/*.conf', '/etc/app/app.conf'],
                baseline_file=str(tmp_path / 'state' / 'config-baseline.json'), max_file_bytes=262144)
    base.update(params)
    checks, extra, changed = drift(base, check_mode=check_mode)
    return dict((c['name'], c) for c in checks), extra, changed


def test_parsers():
    sshd = parse_sshd(SSHD + 'PasswordAuthentication yes\n')
    assert sshd['passwordauthentication'] == 'no'  # the first value wins, as in sshd
    assert sshd['match User backup/forcecommand'] == 'internal-sftp'
    nginx = parse_nginx(NGINX)
    assert nginx['http > server > ssl_protocols'] == 'TLSv1.2 TLSv1.3'
    assert nginx['http > server > location / > proxy_pass'] == 'http://127.0.0.1:3000'
    assert redact_content('db_password = x1\nuser = app\nuse_password = yes\n') == \
        'db_password = ********\nuser = app\nuse_password = yes\n'
    assert redact_content('api_key: 123456\n') == 'api_key: ********\n'
    assert redact_content('PasswordAuthentication no\n', 'sshd') == 'PasswordAuthentication no\n'


def test_baseline_created_then_clean(root, tmp_path):
    checks, extra, changed = run(root, tmp_path, check_mode=True)
    assert changed and extra['baseline']['action'] == 'created'
    assert not (tmp_path / 'state' / 'config-baseline.json').exists()
    checks, extra, changed = run(root, tmp_path)
    assert changed and all(c['status'] == 'ok' for c in checks.values())
    assert 'recorded in the baseline now' in checks['drift.files']['reason']
    stored = (tmp_path / 'state' / 'config-baseline.json').read_text()
    assert 'first-secret-value' not in stored  # secrets never stored
    assert json.loads(stored)['items']['package:nginx']['value'] == '1.22.1-9'
    assert 'package:telnetd' not in json.loads(stored)['items']
    checks, extra, changed = run(root, tmp_path)
    assert not changed and all(c['status'] == 'ok' for c in checks.values()), checks


def test_drift_reported_with_diff_and_accepted_with_who_and_why(root, tmp_path):
    run(root, tmp_path)
    # plant: a drifted sshd setting, a changed sysctl, a secret change, a new package version, a disabled service
    (root / 'etc/ssh/sshd_config').write_text(SSHD.replace('PasswordAuthentication no', 'PasswordAuthentication yes'))
    (root / 'etc/sysctl.d/99-hardening.conf').write_text('net.ipv4.ip_forward = 1\nkernel/kptr_restrict=2\n')
    (root / 'etc/app/app.conf').write_text('listen = 3000\ndb_password = second-secret-value\n')
    (root / 'var/lib/dpkg/status').write_text(STATUS.replace('1.22.1-9', '1.22.1-9+deb12u1'))
    os.unlink(str(root / 'etc/systemd/system/multi-user.target.wants/ssh.service'))
    before = tree_snapshot(str(root))
    checks, extra, changed = run(root, tmp_path)
    assert tree_snapshot(str(root)) == before
    assert not changed
    files = checks['drift.files']
    assert files['status'] == 'warning'
    assert 'file /etc/ssh/sshd_config changed: passwordauthentication no -> yes since the approved baseline' in files['reason']
    assert 'file /etc/sysctl.d/99-hardening.conf changed: net.ipv4.ip_forward 0 -> 1' in files['reason']
    assert 'file /etc/app/app.conf changed (only redacted secret values differ)' in files['reason']
    sshd_diff = [d for d in extra['drift'] if d['key'] == 'file:/etc/ssh/sshd_config'][0]['diff']
    assert '-PasswordAuthentication no\n+PasswordAuthentication yes\n' in sshd_diff
    assert '--- baseline/etc/ssh/sshd_config' in sshd_diff
    assert 'secret-value' not in json.dumps([checks, extra])
    assert 'package nginx changed: 1.22.1-9 -> 1.22.1-9+deb12u1' in checks['drift.packages']['reason']
    assert 'service ssh.service removed (was multi-user.target.wants)' in checks['drift.services']['reason']

    # accept only the sshd change: who and why recorded, that drift cleared, the rest still reported
    checks, extra, changed = run(root, tmp_path, check_mode=True, state='accepted', accepted_by='alice',
                                 reason='CHG-1234 password logins for the migration', accept=['/etc/ssh/sshd_config'])
    assert changed
    checks, extra, changed = run(root, tmp_path, state='present')
    assert 'passwordauthentication' in checks['drift.files']['reason']  # check mode accepted nothing
    checks, extra, changed = run(root, tmp_path, state='accepted', accepted_by='alice',
                                 reason='CHG-1234 password logins for the migration', accept=['/etc/ssh/sshd_config'])
    assert changed
    accepted = checks['drift.accepted']
    assert accepted['status'] == 'ok'
    assert accepted['details']['accepted_by'] == 'alice'
    assert accepted['details']['reason'] == 'CHG-1234 password logins for the migration'
    assert [a['key'] for a in accepted['details']['changes']] == ['file:/etc/ssh/sshd_config']
    assert 'accepted 1 change(s) by alice: CHG-1234' in accepted['reason']
    history = json.loads((tmp_path / 'state' / 'config-baseline.json').read_text())['history']
    assert history[-1]['by'] == 'alice' and history[-1]['changes'][0]['key'] == 'file:/etc/ssh/sshd_config'
    checks, extra, changed = run(root, tmp_path)
    assert 'sshd_config' not in checks['drift.files']['reason']
    assert 'ip_forward 0 -> 1' in checks['drift.files']['reason']
    # accept everything left
    run(root, tmp_path, state='accepted', accepted_by='bob', reason='CHG-1240 kernel and package updates')
    checks, extra, changed = run(root, tmp_path)
    assert all(c['status'] == 'ok' for c in checks.values()), checks
    history = json.loads((tmp_path / 'state' / 'config-baseline.json').read_text())['history']
    assert [h['by'] for h in history] == ['alice', 'bob']
    assert tree_snapshot(str(root)) == before


@pytest.mark.parametrize('missing', ['accepted_by', 'reason'])
def test_accept_needs_who_and_why(root, tmp_path, missing):
    run(root, tmp_path)
    params = dict(state='accepted', accepted_by='alice', reason='why')
    params[missing] = '  '
    with pytest.raises(MaintenanceError, match='%s is required with state=accepted' % missing):
        run(root, tmp_path, **params)


def test_unreadable_sources_are_unknown(root, tmp_path):
    os.unlink(str(root / 'var/lib/dpkg/status'))
    checks, _extra, _changed = run(root, tmp_path)
    assert checks['drift.packages']['status'] == 'unknown'
    assert 'cannot read the dpkg status' in checks['drift.packages']['reason']


def test_not_a_baseline_is_refused(root, tmp_path):
    (tmp_path / 'state').mkdir()
    (tmp_path / 'state' / 'config-baseline.json').write_text('[1, 2]')
    with pytest.raises(MaintenanceError, match='is not a baseline'):
        run(root, tmp_path)


def test_pg_settings_drift_and_pending_restart(postgres, tmp_path, root):
    params = dict(postgres.params, categories=['postgres'])
    run(root, tmp_path, **params)
    try:
        postgres.execute("ALTER SYSTEM SET work_mem = '7MB'")
        postgres.execute("ALTER SYSTEM SET max_connections = 140")
        postgres.execute('SELECT pg_reload_conf()')
        import time
        deadline = time.time() + 30
        while postgres.execute("SELECT setting FROM pg_settings WHERE name = 'work_mem'")[0][0] != '7168':
            assert time.time() < deadline, 'the reload did not take'
            time.sleep(0.2)
        checks, extra, _changed = run(root, tmp_path, **params)
        pg = checks['drift.postgres']
        assert pg['status'] == 'warning'
        assert 'pg work_mem changed: 4096kB -> 7168kB' in pg['reason']
        assert 'setting max_connections was changed and waits for a restart (pending_restart)' in pg['reason']
        assert postgres.password not in json.dumps([checks, extra])
    finally:
        postgres.execute('ALTER SYSTEM RESET work_mem')
        postgres.execute('ALTER SYSTEM RESET max_connections')
        postgres.execute('SELECT pg_reload_conf()')
