"""security_scan on real files, real sockets and a real `sshd -T`."""

import json
import os
import shutil
import socket
import stat
import subprocess

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.security_scan import (
    parse_allow_entry,
    read_listeners,
    scan,
)

SSHD = shutil.which('sshd') or ('/usr/sbin/sshd' if os.path.exists('/usr/sbin/sshd') else None)
THRESHOLDS = {'security_pending_updates': {'warning': 1, 'critical': 10, 'unit': 'updates',
                                           'priority': {'warning': 'medium', 'critical': 'high'}}}


def run(tmp_path, check_mode=False, **params):
    base = dict(categories=['world_writable', 'suid', 'integrity'], root='/', baseline_file=str(tmp_path / 'baseline.json'),
                thresholds=THRESHOLDS, exclude_paths=[], one_filesystem=True, uid0_allow=['root'])
    base.update(params)
    checks, extra, changed = scan(base, check_mode=check_mode)
    return dict((c['name'], c) for c in checks), extra, changed


@pytest.fixture()
def tree(tmp_path):
    """A small system tree: a world-writable file, a SUID binary, files under integrity watch."""
    root = tmp_path / 'tree'
    (root / 'bin').mkdir(parents=True)
    (root / 'etc').mkdir()
    (root / 'shared').mkdir()
    helper = root / 'bin' / 'helper'
    helper.write_bytes(b'#!/bin/sh\necho helper\n')
    os.chmod(helper, 0o4755)
    tool = root / 'bin' / 'tool'
    tool.write_bytes(b'#!/bin/sh\necho tool\n')
    os.chmod(tool, 0o755)
    loose = root / 'etc' / 'app.conf'
    loose.write_text('secret=1\n')
    os.chmod(loose, 0o666)
    os.chmod(root / 'shared', 0o1777)  # sticky: fine
    (root / 'etc' / 'hosts').write_text('127.0.0.1 localhost\n')
    os.symlink('/etc/shadow', root / 'etc' / 'link-out')  # never followed
    return root


def test_world_writable_suid_and_integrity_over_runs(tmp_path, tree):
    params = dict(scan_paths=[str(tree)], integrity_paths=[str(tree / 'etc' / 'hosts'), str(tree / 'bin')])
    checks, extra, changed = run(tmp_path, **params)
    ww = checks['security.world_writable']
    assert ww['status'] == 'critical' and ww['value'] == 1
    assert '%s/etc/app.conf (mode 0666)' % tree in ww['reason']
    assert 'shared' not in ww['reason']  # sticky world-writable directory is fine
    assert checks['security.suid_sgid']['status'] == 'ok'  # first run: trust on first use
    assert '%s/bin/helper' % tree in checks['security.suid_sgid']['details']['suid_sgid']
    assert 'baseline created now' in checks['security.integrity']['reason']
    assert changed and extra['baseline']['action'] == 'created'
    baseline = json.loads((tmp_path / 'baseline.json').read_text())
    assert set(baseline['suid']) == {'%s/bin/helper' % tree}
    # second run, nothing changed
    checks, extra, changed = run(tmp_path, **params)
    assert checks['security.integrity']['status'] == 'ok' and not changed
    # a new SUID binary, a tampered SUID binary, a changed watched file, a mode change
    rogue = tree / 'bin' / 'rogue'
    rogue.write_bytes(b'\x7fELF fake')
    os.chmod(rogue, 0o4711)
    os.chmod(tree / 'bin' / 'helper', 0o4755)
    with open(tree / 'bin' / 'helper', 'ab') as handle:
        handle.write(b'# backdoor\n')
    (tree / 'etc' / 'hosts').write_text('10.9.9.9 bank.example\n')
    os.chmod(tree / 'bin' / 'tool', 0o775)
    checks, extra, changed = run(tmp_path, **params)
    suid = checks['security.suid_sgid']
    assert suid['status'] == 'critical'
    assert 'unexpected SUID binary %s/bin/rogue (mode 4711, uid 0) not in the baseline' % tree in suid['reason']
    assert 'SUID binary %s/bin/helper changed content since the baseline' % tree in suid['reason']
    integrity = checks['security.integrity']
    assert integrity['status'] == 'warning' and integrity['priority'] == 'high'
    reasons = [f['reason'] for f in integrity['details']['findings']]
    assert '%s/etc/hosts content changed since the baseline' % tree in reasons
    assert '%s/bin/rogue is new since the baseline' % tree in reasons
    assert any('bin/tool mode/owner changed (0755' in r for r in reasons)
    assert not changed  # changes are reported, not accepted
    assert all(f['severity'] in ('critical', 'warning') and f['category'] for f in extra['findings'])
    # reported again until accepted, then quiet
    checks, extra, changed = run(tmp_path, accept_changes=True, **params)
    assert checks['security.integrity']['status'] == 'warning' and changed and extra['baseline']['action'] == 'updated'
    checks, extra, changed = run(tmp_path, **params)
    assert checks['security.integrity']['status'] == 'ok' and checks['security.suid_sgid']['status'] == 'ok'


def test_scan_stays_within_paths_and_excludes(tmp_path, tree):
    checks, extra, _changed = run(tmp_path, scan_paths=[str(tree / 'bin')], exclude_paths=[str(tree / 'bin' / 'helper')],
                                  suid_allow=[], categories=['world_writable', 'suid'])
    assert checks['security.world_writable']['status'] == 'ok'  # etc/app.conf is outside the scan path
    assert checks['security.suid_sgid']['details']['suid_sgid'] == []
    assert all(str(tree / 'bin') in f['subject'] for f in extra['findings'])


def test_suid_allow_list_applies_on_first_run(tmp_path, tree):
    checks, _extra, _changed = run(tmp_path, scan_paths=[str(tree)], suid_allow=[], categories=['suid'])
    assert checks['security.suid_sgid']['status'] == 'critical'
    assert 'not in the allow-list' in checks['security.suid_sgid']['reason']
    checks, _extra, _changed = run(tmp_path / 'other', scan_paths=[str(tree)], suid_allow=[str(tree / 'bin' / 'helper')],
                                   categories=['suid'])
    assert checks['security.suid_sgid']['status'] == 'ok'


def test_check_mode_writes_no_baseline_and_changes_nothing(tmp_path, tree):
    before = dict((p, os.lstat(p).st_mode) for p in (tree / 'etc' / 'app.conf', tree / 'bin' / 'helper'))
    checks, extra, changed = run(tmp_path, check_mode=True, scan_paths=[str(tree)], integrity_paths=[str(tree / 'etc')])
    assert changed and extra['baseline']['action'] == 'created'
    assert not (tmp_path / 'baseline.json').exists()
    assert checks['security.world_writable']['status'] == 'critical'
    assert dict((p, os.lstat(p).st_mode) for p in before) == before


def test_corrupt_baseline_is_a_clear_error(tmp_path, tree):
    (tmp_path / 'baseline.json').write_text('{broken')
    with pytest.raises(MaintenanceError, match='not valid JSON'):
        run(tmp_path, scan_paths=[str(tree)])
    with pytest.raises(MaintenanceError, match='absolute'):
        run(tmp_path, scan_paths=['relative/path'])


def _system_root(tmp_path, passwd, shadow=None):
    root = tmp_path / 'sysroot'
    (root / 'etc').mkdir(parents=True)
    (root / 'etc' / 'passwd').write_text(passwd)
    if shadow is not None:
        (root / 'etc' / 'shadow').write_text(shadow)
    return root


def test_accounts_uid0_and_empty_passwords(tmp_path):
    root = _system_root(tmp_path, 'root:x:0:0:root:/root:/bin/bash\n'
                                  'toor:x:0:0::/root:/bin/sh\n'
                                  'app:x:1000:1000::/home/app:/bin/bash\n'
                                  'legacy::1001:1001::/home/legacy:/bin/sh\n',
                        'root:$y$j9T$abc:19000:0:99999:7:::\ntoor:!:19000::::::\napp::19000:0:99999:7:::\nlegacy:*:19000::::::\n')
    checks, extra, _changed = run(tmp_path, categories=['accounts'], root=str(root))
    accounts = checks['security.accounts']
    assert accounts['status'] == 'critical'
    reasons = sorted(f['reason'] for f in extra['findings'])
    assert reasons == ['account app has an empty password (shadow)', 'account legacy has an empty password in passwd',
                       'account toor has UID 0 (root privileges)']
    checks, _extra, _changed = run(tmp_path, categories=['accounts'], root=str(root), uid0_allow=['root', 'toor'])
    assert 'toor' not in checks['security.accounts']['reason']


def test_accounts_clean_and_unreadable_shadow(tmp_path):
    root = _system_root(tmp_path, 'root:x:0:0:root:/root:/bin/bash\n')
    checks, _extra, _changed = run(tmp_path, categories=['accounts'], root=str(root))
    assert checks['security.accounts']['status'] == 'unknown' and 'cannot read' in checks['security.accounts']['reason']
    (root / 'etc' / 'shadow').write_text('root:$y$j9T$abc:19000:0:99999:7:::\n')
    checks, _extra, _changed = run(tmp_path, categories=['accounts'], root=str(root))
    assert checks['security.accounts']['status'] == 'ok'


def test_live_listeners_against_allow_list(tmp_path):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        listeners = read_listeners('/')
        assert {'proto': 'tcp', 'address': '127.0.0.1', 'port': port} in [
            dict((k, v) for k, v in item.items() if k in ('proto', 'address', 'port')) for item in listeners]
        others = ['%s:[%s]:%d' % (i['proto'], i['address'], i['port']) for i in listeners if i['port'] != port]
        checks, extra, _changed = run(tmp_path, categories=['listeners'], listen_allow=others)
        listener = checks['security.listeners']
        assert listener['status'] == 'warning'  # loopback listener: warning, not critical
        assert extra['findings'][0]['subject'] == 'tcp 127.0.0.1:%d' % port
        assert 'python' in extra['findings'][0]['reason'] or 'pytest' in extra['findings'][0]['reason']
        checks, _extra, _changed = run(tmp_path, categories=['listeners'], listen_allow=others + ['tcp:127.0.0.1:%d' % port])
        assert checks['security.listeners']['status'] == 'ok'
        checks, _extra, _changed = run(tmp_path, categories=['listeners'], listen_allow=others, listen_ignore_loopback=True)
        assert checks['security.listeners']['status'] == 'ok'
    finally:
        server.close()


def test_listeners_from_alternative_root_with_ipv6_and_udp(tmp_path):
    # /proc/net files captured from a host (an alternative root: how images and chroots are scanned)
    net = tmp_path / 'sysroot' / 'proc' / 'net'
    net.mkdir(parents=True)
    header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'
    (net / 'tcp').write_text(header + '   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1\n'
                                      '   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   105        0 1002 1\n'
                                      '   2: 0100007F:9C40 0100007F:1538 01 00000000:00000000 00:00000000 00000000  1000        0 1003 1\n')
    (net / 'tcp6').write_text(header + '   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A '
                                       '00000000:00000000 00:00000000 00000000     0        0 1004 1\n')
    (net / 'udp').write_text(header + '   0: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 1005 2\n')
    checks, extra, _changed = run(tmp_path, categories=['listeners'], root=str(tmp_path / 'sysroot'),
                                  listen_allow=['tcp:22', 'tcp:127.0.0.1:5432', {'proto': 'udp', 'port': 53}])
    assert [f['subject'] for f in extra['findings']] == ['tcp [::]:8080']
    assert checks['security.listeners']['status'] == 'critical'  # all addresses: critical
    assert len(checks['security.listeners']['details']['listeners']) == 4  # the ESTABLISHED one is not a listener


@pytest.mark.parametrize('entry,expected', [
    ('tcp:22', {'proto': 'tcp', 'address': '*', 'port': 22, 'process': None}),
    ('udp:[::1]:53', {'proto': 'udp', 'address': '::1', 'port': 53, 'process': None}),
    ('*:8080', {'proto': '*', 'address': '*', 'port': 8080, 'process': None}),
])
def test_allow_entries(entry, expected):
    assert parse_allow_entry(entry) == expected


def test_bad_allow_entry():
    with pytest.raises(MaintenanceError, match='listen_allow entry'):
        parse_allow_entry('ssh')


@pytest.fixture()
def sshd_config(tmp_path):
    if SSHD is None:
        pytest.skip('openssh-server is not installed (apt-get install openssh-server; tests/system-packages.txt lists it)')
    if not os.path.isdir('/run/sshd'):
        # sshd -T refuses to run without its privilege separation directory, which the service normally creates
        os.makedirs('/run/sshd', 0o755)
    key = tmp_path / 'ssh_host_ed25519_key'
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(key)], check=True)

    def write(lines):
        config = tmp_path / 'sshd_config'
        config.write_text('HostKey %s\nPidFile none\n%s\n' % (key, '\n'.join(lines)))
        return str(config)
    return write


def test_real_sshd_weak_config(tmp_path, sshd_config):
    config = sshd_config(['PermitRootLogin yes', 'PasswordAuthentication yes', 'MaxAuthTries 10'])
    checks, extra, _changed = run(tmp_path, categories=['sshd'], sshd_config=config)
    sshd = checks['security.sshd']
    assert sshd['status'] == 'critical' and sshd['target'] == config
    subjects = sorted(f['subject'] for f in extra['findings'])
    assert subjects == ['kbdinteractiveauthentication', 'maxauthtries', 'passwordauthentication', 'permitrootlogin']
    assert 'sshd permitrootlogin is yes, policy wants no or prohibit-password or without-password' in sshd['reason']
    assert sshd['details']['effective']['maxauthtries'] == '10'


def test_real_sshd_hardened_config(tmp_path, sshd_config):
    config = sshd_config(['PermitRootLogin no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
                          'MaxAuthTries 3'])
    checks, _extra, _changed = run(tmp_path, categories=['sshd'], sshd_config=config)
    assert checks['security.sshd']['status'] == 'ok', checks['security.sshd']
    checks, _extra, _changed = run(tmp_path, categories=['sshd'], sshd_config=config,
                                   sshd_policy={'permitrootlogin': 'no', 'maxauthtries': '<=2'})
    assert checks['security.sshd']['status'] == 'critical' and 'maxauthtries is 3' in checks['security.sshd']['reason']


def test_sshd_broken_config_is_unknown_with_reason(tmp_path, sshd_config):
    config = sshd_config(['NoSuchOption yes'])
    checks, _extra, _changed = run(tmp_path, categories=['sshd'], sshd_config=config)
    assert checks['security.sshd']['status'] == 'unknown' and 'Bad configuration option' in checks['security.sshd']['reason']


def test_sshd_missing_binary_and_captured_output(tmp_path):
    checks, _extra, _changed = run(tmp_path, categories=['sshd'], sshd_command=['no-such-sshd-binary', '-T'])
    assert checks['security.sshd']['status'] == 'ok' and 'not installed' in checks['security.sshd']['reason']
    captured = 'permitrootlogin without-password\npasswordauthentication no\npermitemptypasswords yes\n'
    checks, _extra, _changed = run(tmp_path, categories=['sshd'], sshd_output=captured,
                                   sshd_policy={'permitrootlogin': ['no', 'without-password'], 'permitemptypasswords': 'no'})
    assert checks['security.sshd']['status'] == 'critical'
    assert checks['security.sshd']['value'] == 1 and 'permitemptypasswords is yes' in checks['security.sshd']['reason']


@pytest.mark.parametrize('pending,status', [
    ([], 'ok'),
    (['openssl', {'name': 'libc6', 'security': True}, {'name': 'vim', 'security': False}], 'warning'),
    (['p%d' % i for i in range(12)], 'critical'),
])
def test_pending_security_updates(tmp_path, pending, status):
    checks, _extra, _changed = run(tmp_path, categories=['updates'], pending_security_updates=pending)
    assert checks['security.pending_updates']['status'] == status
    if status == 'warning':
        assert checks['security.pending_updates']['value'] == 2 and 'openssl, libc6' in checks['security.pending_updates']['reason']


def test_never_follows_symlinks_out_of_the_tree(tmp_path, tree):
    target = tmp_path / 'outside'
    target.mkdir()
    evil = target / 'evil'
    evil.write_text('x')
    os.chmod(evil, 0o4777)
    os.symlink(str(target), str(tree / 'bin' / 'jump'))
    checks, extra, _changed = run(tmp_path, scan_paths=[str(tree / 'bin')], categories=['world_writable', 'suid'], suid_allow=[])
    assert not any('outside' in f['subject'] for f in extra['findings'])
    assert stat.S_IMODE(os.lstat(evil).st_mode) == 0o4777
