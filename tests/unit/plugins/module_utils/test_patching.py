"""patch_facts / patch_apply logic against real package managers.

* apt: a real Debian root (debootstrap, cached in .cache/) with a local repository built by dpkg-deb
  (tests/harness/debroot.py), driven through ``chroot``; plus outputs captured from this machine's real Debian
  archives (fixtures/apt) for the Debian security archive's own release line.
* dnf: Debian's dnf 4 against a real rpm repository with an updateinfo.xml in an ``--installroot``
  (tests/harness/rpm_repo.sh) when dnf, rpmbuild and createrepo_c are installed, facts and a security-only apply;
  the parsers are also tested on the outputs that script captured (fixtures/dnf), so they run everywhere.
"""

import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.patching import packages as P
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from tests.harness.debroot import HELD, LIBRARIES, PACKAGES, DebianRoot, PreparedLayer, build_repository
from tests.unit.plugins.modules.test_return_keys import misused

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


# ---------------------------------------------------------------- apt, captured from Debian's archives
def test_debian_security_archive_classified_from_real_policy_output():
    sources = P.parse_apt_policy_sources(fixture('apt', 'host-apt-cache-policy.txt'))
    security = sources['http://deb.debian.org/debian-security bookworm-security/main amd64 Packages']
    assert security['origin'] == 'Debian' and security['label'] == 'Debian-Security'
    assert security['codename'] == 'bookworm-security' and security['site'] == 'deb.debian.org'
    main = sources['http://deb.debian.org/debian bookworm/main amd64 Packages']
    assert P.origin_matches(security, P.DEFAULT_SECURITY_ORIGINS)
    assert not P.origin_matches(main, P.DEFAULT_SECURITY_ORIGINS)
    updates = sources['http://deb.debian.org/debian bookworm-updates/main amd64 Packages']
    assert not P.origin_matches(updates, P.DEFAULT_SECURITY_ORIGINS)

    packages = P.parse_apt_policy_packages(fixture('apt', 'host-apt-cache-policy-packages.txt'))
    openssl = packages['openssl']
    assert openssl['installed'] == '3.0.19-1~deb12u2' and openssl['candidate'] == '3.0.22-1~deb12u2'
    assert openssl['versions']['3.0.22-1~deb12u2'] == ['http://deb.debian.org/debian-security bookworm-security/main amd64 Packages']
    assert openssl['versions']['3.0.19-1~deb12u2'] == ['/var/lib/dpkg/status']


def test_upgradable_list_from_real_output():
    listed = dict((p['name'], p) for p in P.parse_apt_upgradable(fixture('apt', 'host-apt-list-upgradable.txt')))
    assert set(listed) == {'bash', 'curl', 'libssl3', 'openssl', 'tzdata'}
    assert listed['openssl']['suites'] == ['oldstable-security']
    assert listed['bash']['installed'] == '5.2.15-2+b8' and listed['bash']['candidate'] == '5.2.15-2+b13'


def test_origin_patterns_are_configurable_and_validated():
    mirror = {'origin': 'ACME mirror', 'archive': 'bookworm-security', 'label': 'ACME'}
    assert P.origin_matches(mirror, [{'origin': 'ACME*', 'archive': '*-security'}])
    assert not P.origin_matches(mirror, [{'origin': 'Debian', 'label': 'Debian-Security'}])
    with pytest.raises(MaintenanceError, match='unknown key'):
        P.validate_origins([{'suite': '*-security'}])


def test_apt_simulation_lines():
    text = ('Inst apcx-kernel [1.0] (1.1 Debian-Security:bookworm-security [all])\n'
            'Inst libssl3 [3.0.19-1~deb12u2] (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [amd64])\n'
            'Conf apcx-kernel (1.1 Debian-Security:bookworm-security [all])\n')
    parsed = P.parse_apt_simulation(text)
    assert [(p['name'], p['installed'], p['candidate'], p['arch']) for p in parsed] == [
        ('apcx-kernel', '1.0', '1.1', 'all'), ('libssl3', '3.0.19-1~deb12u2', '3.0.22-1~deb12u2', 'amd64')]


def test_needrestart_batch_format():
    # needrestart's batch mode format as documented in its README (needrestart is not installed on test hosts)
    info = P.parse_needrestart_batch('NEEDRESTART-VER: 3.6\nNEEDRESTART-KCUR: 6.1.0-18-amd64\n'
                                     'NEEDRESTART-KEXP: 6.1.0-21-amd64\nNEEDRESTART-KSTA: 3\n'
                                     'NEEDRESTART-SVC: nginx.service\nNEEDRESTART-SVC: ssh.service\n')
    assert info['kernel_status'] == 3 and info['kernel_expected'] == '6.1.0-21-amd64'
    assert info['services'] == ['nginx.service', 'ssh.service']


def test_apt_simulation_removals():
    text = 'Remv apcx-old [0.9]\nInst apcx-new (1.1 Debian-Security:bookworm-security [all])\n'
    assert P.parse_apt_removals(text) == [{'name': 'apcx-old', 'installed': '0.9'}]
    assert [p['installed'] for p in P.parse_apt_simulation(text)] == [None]   # a new package (a new dependency)


MAPS = ('55d0c000-55d0d000 r--p 00000000 fd:01 131 /usr/sbin/nginx (deleted)\n'
        '7f10a000-7f10b000 r-xp 00000000 fd:01 132 /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)\n'
        '7f10c000-7f10d000 rw-s 00000000 00:01 133 /memfd:pulseaudio (deleted)\n'
        '7f10e000-7f10f000 rw-s 00000000 00:19 134 /dev/shm/app-cache (deleted)\n'
        '7f110000-7f111000 r--p 00000000 fd:01 135 /usr/lib/x86_64-linux-gnu/libc.so.6\n'
        '7f112000-7f113000 rw-p 00000000 00:00 0 \n'
        '7f114000-7f115000 r--p 00000000 fd:01 136 /srv/root/usr/lib/apcx/libapcxssl.so.1 (deleted)\n')


def test_deleted_code_mappings():
    # programs and libraries replaced since they were mapped; not shared memory, not files still present
    assert P.deleted_code_mappings(MAPS) == ['/usr/lib/x86_64-linux-gnu/libssl.so.3', '/usr/sbin/nginx']
    # read from outside a chroot, paths carry the chroot's path: cut off, they are the target's own
    assert '/usr/lib/apcx/libapcxssl.so.1' in P.deleted_code_mappings(MAPS, '/srv/root')


@pytest.mark.parametrize('cgroup, unit', [
    ('0::/system.slice/nginx.service\n', 'nginx.service'),
    ('12:pids:/system.slice/ssh.service\n1:name=systemd:/system.slice/ssh.service\n', 'ssh.service'),
    ('0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome.service\n', 'app-gnome.service'),
    ('0::/user.slice/user-1000.slice/session-3.scope\n', None),
    ('0::/\n', None),
])
def test_systemd_unit_from_cgroup(cgroup, unit):
    assert P.systemd_unit(cgroup) == unit


# ---------------------------------------------------------------- selection (pure)
FACTS = {'manager': 'apt', 'held': ['apcx-pinned'], 'reboot_required': False, 'updates': [
    {'name': 'apcx-libssl', 'installed': '1.0', 'candidate': '1.1', 'security': True, 'held': False},
    {'name': 'apcx-kernel', 'installed': '1.0', 'candidate': '1.1', 'security': True, 'held': False},
    {'name': 'apcx-openssl', 'installed': '1.0', 'candidate': '1.1', 'security': True, 'held': False},
    {'name': 'apcx-pinned', 'installed': '1.0', 'candidate': '1.1', 'security': True, 'held': True},
    {'name': 'apcx-tool', 'installed': '1.0', 'candidate': '1.1', 'security': False, 'held': False},
]}


@pytest.mark.parametrize('kwargs, expected', [
    ({'mode': 'security'}, ['apcx-kernel=1.1', 'apcx-libssl=1.1', 'apcx-openssl=1.1']),
    ({'mode': 'all'}, ['apcx-kernel=1.1', 'apcx-libssl=1.1', 'apcx-openssl=1.1', 'apcx-tool=1.1']),
    ({'mode': 'all', 'include': ['apcx-t*']}, ['apcx-tool=1.1']),
    ({'mode': 'security', 'exclude': ['*kernel']}, ['apcx-libssl=1.1', 'apcx-openssl=1.1']),
    ({'packages': ['apcx-openssl=1.1', 'apcx-pinned=1.1']}, ['apcx-openssl=1.1']),   # held stays held
    ({'packages': ['apcx-tool']}, ['apcx-tool=1.1']),
    ({'mode': 'all', 'include': ['apcx-pinned']}, []),
])
def test_selection(kwargs, expected):
    selected, not_applied = P.select_updates(FACTS, **kwargs)
    assert P.package_set(selected)[0] == expected
    assert 'apcx-pinned' not in [s['name'] for s in selected]
    if 'packages' not in kwargs:
        assert {'name': 'apcx-pinned', 'reason': 'held (holds are always respected)'} in not_applied


def test_package_set_id_is_stable():
    a = P.package_set([{'name': 'b', 'version': '2'}, {'name': 'a', 'version': '1'}])
    b = P.package_set([{'name': 'a', 'version': '1'}, {'name': 'b', 'version': '2'}])
    assert a == b and a[0] == ['a=1', 'b=2'] and len(a[1]) == 16


def test_bad_package_spec():
    with pytest.raises(MaintenanceError, match='expected name or name=version'):
        P.select_updates(FACTS, packages=['apcx tool'])


# ---------------------------------------------------------------- apt, real chroot
needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which('chroot'), reason='the chroot needs root')


@pytest.fixture(scope='module')
def layer(tmp_path_factory):
    repository = build_repository(str(tmp_path_factory.mktemp('apt-repo')))
    prepared = PreparedLayer(str(tmp_path_factory.mktemp('layer')), repository)
    yield prepared
    prepared.remove()


@pytest.fixture()
def root(layer, tmp_path):
    host = DebianRoot(str(tmp_path / 'root'), layer)
    yield host
    host.remove()


def chroot_host(root):
    def run(argv):
        proc = root.chroot(*argv, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def which(name):
        for directory in ('usr/local/sbin', 'usr/local/bin', 'usr/sbin', 'usr/bin', 'sbin', 'bin'):
            if os.path.exists(os.path.join(root.path, directory, name)):
                return '/' + directory + '/' + name
        return None
    return P.Host(run, which, root.path)


@needs_root
@pytest.mark.slow
def test_apt_facts_on_a_real_root(root):
    facts, checks = P.gather_facts(chroot_host(root), thresholds={'patch_pending_security': {'warning': 0}})
    by_name = dict((u['name'], u) for u in facts['updates'])
    assert set(by_name) == set(PACKAGES)
    assert [n for n in sorted(by_name) if by_name[n]['security']] == ['apcx-kernel', 'apcx-libssl', 'apcx-openssl', 'apcx-pinned']
    assert by_name['apcx-openssl']['origins'][0]['label'] == 'Debian-Security'
    assert facts['held'] == list(HELD) and by_name['apcx-pinned']['held']
    assert facts['pending_security'] == 3 and facts['reboot_required'] is False
    assert dict((c['name'], c['status']) for c in checks)['patch.pending_security'] == 'warning'


@needs_root
@pytest.mark.slow
def test_custom_origins_turn_classification_off(root):
    facts, _checks = P.gather_facts(chroot_host(root), security_origins=[{'origin': 'Debian', 'label': 'Debian-Security'}])
    assert facts['security_updates'] == []   # the test archive's origin is not Debian


@needs_root
@pytest.mark.slow
def test_check_mode_changes_nothing(root):
    before = root.versions()
    result = P.apply_selection(chroot_host(root), mode='all', check_mode=True)
    assert root.versions() == before
    assert [c['name'] for c in result['would_change']] == ['apcx-kernel', 'apcx-libssl', 'apcx-openssl', 'apcx-tool']
    assert result['changes'] == [] and '-s' in result['command']
    assert result['checks'][0]['status'] == 'ok'


@needs_root
@pytest.mark.slow
def test_security_only_upgrades_only_security_packages_and_reports_reboot(root):
    result = P.apply_selection(chroot_host(root), mode='security')
    assert root.versions() == {'apcx-kernel': '1.1', 'apcx-libssl': '1.1', 'apcx-openssl': '1.1', 'apcx-pinned': '1.0',
                               'apcx-tool': '1.0'}
    assert result['changes'] == [{'name': 'apcx-kernel', 'before': '1.0', 'after': '1.1'},
                                 {'name': 'apcx-libssl', 'before': '1.0', 'after': '1.1'},
                                 {'name': 'apcx-openssl', 'before': '1.0', 'after': '1.1'}]
    assert result['diff']['before'] == 'apcx-kernel 1.0\napcx-libssl 1.0\napcx-openssl 1.0\n'
    assert result['reboot_required'] is True and root.reboot_required()
    assert result['package_set'] == ['apcx-kernel=1.1', 'apcx-libssl=1.1', 'apcx-openssl=1.1']
    again = P.apply_selection(chroot_host(root), mode='security')
    assert again['changes'] == [] and again['selected'] == []


@needs_root
@pytest.mark.slow
def test_held_package_is_never_touched_even_when_named(root):
    result = P.apply_selection(chroot_host(root), packages=['apcx-pinned=1.1', 'apcx-tool=1.1'])
    assert root.versions()['apcx-pinned'] == '1.0'
    assert root.versions()['apcx-tool'] == '1.1'
    assert {'name': 'apcx-pinned', 'reason': 'held (holds are always respected)'} in result['not_applied']


@needs_root
@pytest.mark.slow
def test_real_results_use_no_key_ansible_reserves(root):
    # issue 24: the list of packages left alone was returned as `skipped`, so Ansible showed every such run as SKIPPED
    facts, _checks = P.gather_facts(chroot_host(root))
    assert misused(facts) == []
    for check_mode in (True, False):
        result = P.apply_selection(chroot_host(root), mode='security', check_mode=check_mode)
        assert result['checks'][0]['status'] == 'ok', result['checks'][0]['reason']
        assert misused(result) == [], check_mode
        reasons = dict((n['name'], n['reason']) for n in result['not_applied'])
        assert reasons == {'apcx-pinned': 'held (holds are always respected)', 'apcx-tool': 'not a security update'}


@needs_root
@pytest.mark.slow
def test_package_set_holds_the_dependencies_apt_pulls_in(root):
    # issue 24: the hotfix names apcx-openssl only; apt pulls apcx-libssl 1.1 in (as openssl pulls libssl3), and the set
    # staging verifies and production is gated on must hold it too
    planned = P.apply_selection(chroot_host(root), packages=['apcx-openssl=1.1'], check_mode=True)
    assert root.versions()['apcx-libssl'] == '1.0'
    assert planned['package_set'] == ['apcx-libssl=1.1', 'apcx-openssl=1.1']
    assert [(c['name'], c['before'], c['after']) for c in planned['would_change']] == [
        ('apcx-libssl', '1.0', '1.1'), ('apcx-openssl', '1.0', '1.1')]
    root.chroot('apt-mark', 'auto', 'apcx-libssl')   # installed as a dependency, as libssl3 is
    applied = P.apply_selection(chroot_host(root), packages=['apcx-openssl=1.1'])
    assert root.versions() == dict(dict((n, '1.0') for n in PACKAGES), **{'apcx-openssl': '1.1', 'apcx-libssl': '1.1'})
    # the real run named apcx-libssl=1.1 to pin its version; it stays marked as automatically installed
    assert 'apcx-libssl' in root.chroot('apt-mark', 'showauto').stdout.split()
    assert 'apcx-libssl=1.1' in applied['command']
    assert applied['package_set'] == planned['package_set'] and applied['package_set_id'] == planned['package_set_id']
    assert [(c['name'], c['before'], c['after']) for c in applied['changes']] == [
        ('apcx-libssl', '1.0', '1.1'), ('apcx-openssl', '1.0', '1.1')]


MAPPER = ('import mmap, sys, time\n'
          'handle = open(sys.argv[1], "rb")\n'
          'mapped = mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ)\n'
          'print("mapped", flush=True)\n'
          'time.sleep(600)\n')


def start_mapper(argv):
    """A process that maps a file the way a program maps a shared library, until it is killed."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'mapped'
    return proc


@needs_root
@pytest.mark.slow
def test_restart_needs_name_the_processes_still_mapping_a_replaced_library(root, tmp_path):
    library = '/' + LIBRARIES['apcx-libssl']
    inside = start_mapper(['chroot', root.path, 'python3', '-c', MAPPER, library])
    # a process of another root (this machine) that also maps a file deleted since: not the target's business
    other = tmp_path / 'libother.so.1'
    other.write_bytes(b'x' * 8192)
    outside = start_mapper([sys.executable, '-c', MAPPER, str(other)])
    other.unlink()
    try:
        result = P.apply_selection(chroot_host(root), packages=['apcx-openssl=1.1'])
        assert root.versions()['apcx-libssl'] == '1.1'
        assert result['restart_method'] == 'proc'
        pids = dict((p['pid'], p) for p in result['processes_needing_restart'])
        assert inside.pid in pids, result['processes_needing_restart']
        assert pids[inside.pid]['files'] == [library]
        assert outside.pid not in pids
        restart = [c for c in result['checks'] if c['name'] == 'patch.restart_needed'][0]
        assert restart['status'] == 'warning' and str(inside.pid) in restart['reason']
    finally:
        for proc in (inside, outside):
            proc.kill()
            proc.wait()


@needs_root
@pytest.mark.slow
def test_restart_needs_unknown_without_proc_is_said(root, tmp_path):
    # inside a chroot without /proc mounted (the test fleet) the processes cannot be seen: unknown, never "none"
    host = chroot_host(root)
    result = P.apply_selection(host, packages=['apcx-tool=1.1'], proc=str(tmp_path / 'no-proc'))
    assert result['restart_method'] is None and result['processes_needing_restart'] == []
    restart = [c for c in result['checks'] if c['name'] == 'patch.restart_needed'][0]
    assert restart['status'] == 'unknown' and 'cannot tell' in restart['reason']


@needs_root
@pytest.mark.slow
def test_apt_refusal_is_a_critical_check(root):
    # a version no archive has: apt refuses; the module reports it as a critical check, nothing changes
    before = root.versions()
    result = P.apply_selection(chroot_host(root), packages=['apcx-tool=9.9'])
    assert root.versions() == before
    assert result['checks'][0]['status'] == 'critical'
    assert "Version '9.9' for 'apcx-tool' was not found" in result['checks'][0]['reason']


# ---------------------------------------------------------------- dnf
def test_dnf_parsers_on_captured_outputs():
    listed = P.parse_dnf_check_update(fixture('dnf', 'dnf-check-update.txt'))
    assert [(p['name'], p['arch'], p['candidate'], p['repo']) for p in listed] == [
        ('apcx-openssl', 'noarch', '1.1-1.el9', 'apcx-test'),
        ('apcx-pinned-library-with-a-rather-long-name', 'noarch', '1.1-1.el9', 'apcx-test'),
        ('apcx-tool', 'noarch', '1.1-1.el9', 'apcx-test')]
    advisories = P.parse_dnf_updateinfo(fixture('dnf', 'dnf-updateinfo-list-security.txt'))
    assert advisories[0] == {'advisory': 'RHSA-2026:0101', 'type': 'Sec', 'severity': 'Important',
                             'name': 'apcx-openssl', 'evr': '1.1-1.el9', 'arch': 'noarch'}
    assert P.parse_rpm_query(fixture('dnf', 'rpm-query.txt')) == {('apcx-openssl', 'noarch'): '1.0-1.el9',
                                                                  ('apcx-tool', 'noarch'): '1.0-1.el9'}


def test_dnf_check_update_wrapped_lines_and_obsoletes():
    # dnf wraps a long name onto its own line on a terminal, and ends with an "Obsoleting Packages" section
    text = ('\nkernel-core.x86_64                    5.14.0-503.15.1.el9_5        baseos\n'
            'a-package-with-a-very-long-name-that-wraps.x86_64\n'
            '                                      1:2.3-4.el9                  appstream\n'
            'Obsoleting Packages\ngrub2-tools.x86_64   1:2.06-92.el9   baseos\n')
    listed = P.parse_dnf_check_update(text)
    assert [(p['name'], p['candidate']) for p in listed] == [
        ('kernel-core', '5.14.0-503.15.1.el9_5'), ('a-package-with-a-very-long-name-that-wraps', '1:2.3-4.el9')]


@pytest.mark.parametrize('nevra, expected', [
    ('openssl-libs-1:3.0.7-25.el9_3.x86_64', ('openssl-libs', '1:3.0.7-25.el9_3', 'x86_64')),
    ('apcx-openssl-1.1-1.el9.noarch', ('apcx-openssl', '1.1-1.el9', 'noarch')),
])
def test_split_nevra(nevra, expected):
    assert P.split_nevra(nevra) == expected


def test_versionlock_names():
    assert P.parse_versionlock('nginx-1:1.20.1-14.el9.*\npostgresql-server-15.6-1.el9.*\n') == ['nginx', 'postgresql-server']


DNF_TOOLS = all(shutil.which(t) for t in ('dnf', 'rpmbuild', 'createrepo_c', 'modifyrepo_c'))


@pytest.fixture()
def dnf_host(tmp_path):
    """Debian's dnf against a real rpm repository (with updateinfo.xml) in an --installroot."""
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                          'harness', 'rpm_repo.sh')
    work = str(tmp_path / 'rpm')
    subprocess.run(['sh', script, work], check=True, capture_output=True)
    root = os.path.join(work, 'root')

    def run(argv):
        if argv[0] == 'dnf':
            argv = ['dnf', '--installroot=%s' % root, '--setopt=reposdir=%s' % os.path.join(work, 'repos.d'),
                    '--releasever=9'] + argv[1:]
        elif argv[0] == 'rpm':
            argv = ['rpm', '--root', root] + argv[1:]
        proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, LC_ALL='C'), check=False)
        return proc.returncode, proc.stdout, proc.stderr

    return P.Host(run, lambda name: shutil.which(name) if name in ('dnf', 'rpm') else None, root)


@pytest.mark.skipif(not DNF_TOOLS, reason='dnf, rpmbuild and createrepo_c are not installed (tests/system-packages.txt)')
@pytest.mark.slow
def test_dnf_facts_against_a_real_rpm_repository(dnf_host):
    facts, checks = P.gather_facts(dnf_host, manager='dnf', update_cache=True)
    by_name = dict((u['name'], u) for u in facts['updates'])
    assert by_name['apcx-openssl']['security'] and by_name['apcx-openssl']['advisories'] == ['RHSA-2026:0101']
    assert by_name['apcx-openssl']['severity'] == 'Important'
    assert by_name['apcx-openssl']['installed'] == '1.0-1.el9' and by_name['apcx-openssl']['candidate'] == '1.1-1.el9'
    assert not by_name['apcx-tool']['security']
    assert facts['pending_security'] == 2
    assert checks[0]['name'] == 'patch.pending_security'


@pytest.mark.skipif(not DNF_TOOLS, reason='dnf, rpmbuild and createrepo_c are not installed (tests/system-packages.txt)')
@pytest.mark.slow
def test_dnf_security_only_apply(dnf_host):
    planned = P.apply_selection(dnf_host, manager='dnf', update_cache=True, mode='security', check_mode=True)
    assert [c['name'] for c in planned['would_change']] == ['apcx-openssl', 'apcx-pinned-library-with-a-rather-long-name']
    result = P.apply_selection(dnf_host, manager='dnf', update_cache=True, mode='security')
    assert result['checks'][0]['status'] == 'ok', result['checks'][0]['reason']
    assert [(c['name'], c['before'], c['after']) for c in result['changes']] == [
        ('apcx-openssl', '1.0-1.el9', '1.1-1.el9'),
        ('apcx-pinned-library-with-a-rather-long-name', '1.0-1.el9', '1.1-1.el9')]
    facts, _checks = P.gather_facts(dnf_host, manager='dnf', update_cache=True)
    assert [u['name'] for u in facts['updates']] == ['apcx-tool']    # the bugfix update was left alone
