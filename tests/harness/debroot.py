"""Real Debian roots for the patching tests: debootstrap chroots and a local apt repository built with dpkg-deb.

* ``base_tarball()`` builds a minbase Debian root with python3 once (``debootstrap --variant=minbase
  --include=python3`` from the mirror of the machine's own apt sources) and caches it as
  ``.cache/debian-<suite>-minbase-python3.tar.gz``; reruns only unpack it.
* ``build_repository(directory)`` builds the test packages with ``dpkg-deb`` and two flat apt repositories:
  ``security`` (Release: Label Debian-Security, Suite <suite>-security, so it classifies as a security archive)
  and ``updates`` (an ordinary archive).
* ``DebianRoot`` unpacks the tarball into a directory, copies the repositories into it, points apt at them
  only (no network inside the tests), installs the 1.0 packages and holds ``apcx-pinned``.

The packages (all ``Architecture: all``):

=================  =========  =====================  ==========================================
package            installed  update                 where
=================  =========  =====================  ==========================================
apcx-openssl       1.0        1.1 (Depends:          security archive
                              apcx-libssl >= 1.1)
apcx-libssl        1.0        1.1 (ships             security archive (pulled in by apcx-openssl
                              /usr/lib/apcx/         1.1, as libssl3 is by openssl)
                              libapcxssl.so.1)
apcx-kernel        1.0        1.1 (postinst touches  security archive
                              /var/run/reboot-required)
apcx-tool          1.0        1.1                    ordinary updates archive (not security)
apcx-pinned        1.0 (held) 1.1                    security archive (must never be touched)
=================  =========  =====================  ==========================================

``publish(root, directory, name, version)`` adds a newer version to one host's own copy of the security archive
(a mirror that moved on after staging was patched).
"""

import fcntl
import glob
import os
import re
import shutil
import subprocess
import time

from .tier import needs_service

# Outside the checkout: CI runs in a fresh clone on the same machine, and a debootstrap root takes minutes to build.
CACHE = os.environ.get('AUTOPILOTCX_DEBROOT_CACHE') or os.path.join(
    os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'autopilotcx-maintenance', 'debroot')
SUITE = 'bookworm'

PACKAGES = {
    # name: (archive of the 1.1 update, reboot required after upgrade)
    'apcx-openssl': ('security', False),
    'apcx-libssl': ('security', False),
    'apcx-kernel': ('security', True),
    'apcx-tool': ('updates', False),
    'apcx-pinned': ('security', False),
}
HELD = ('apcx-pinned',)
SECURITY_PACKAGES = sorted(n for n, (archive, _r) in PACKAGES.items() if archive == 'security' and n not in HELD)
# Depends of the updates (the 1.0 packages have none)
DEPENDS = {'apcx-openssl': 'apcx-libssl (>= 1.1)'}
# A shared library file shipped by a package (its content changes with the version, so dpkg replaces it)
LIBRARIES = {'apcx-libssl': 'usr/lib/apcx/libapcxssl.so.1'}


def debian_mirror():
    """The Debian mirror of this machine's apt sources (deb822 or one-line format)."""
    candidates = sorted(glob.glob('/etc/apt/sources.list.d/*.sources')) + ['/etc/apt/sources.list'] + \
        sorted(glob.glob('/etc/apt/sources.list.d/*.list'))
    for path in candidates:
        try:
            with open(path) as handle:
                text = handle.read()
        except OSError:
            continue
        for match in re.finditer(r'(?m)^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)', text):
            uri = match.group(1).rstrip('/')
            if 'security' not in uri and ('debian' in uri):
                return uri
    return 'http://deb.debian.org/debian'


def base_tarball(suite=SUITE):
    """Path of the cached pristine root tarball; builds it with debootstrap on first use (one builder at a time:
    two test workers may ask at once)."""
    path = os.path.join(CACHE, 'debian-%s-minbase-python3.tar.gz' % suite)
    if os.path.exists(path):
        return path
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, '.build.lock'), 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(path):
            return path
        return _build_tarball(path, suite)


def _build_tarball(path, suite):
    if not shutil.which('debootstrap'):
        raise RuntimeError('debootstrap is not installed (apt-get install -y debootstrap); it builds the test chroots')
    os.makedirs(CACHE, exist_ok=True)
    work = os.path.join(CACHE, 'debootstrap-%s.tmp' % suite)
    shutil.rmtree(work, ignore_errors=True)
    started = time.monotonic()
    subprocess.run(['debootstrap', '--variant=minbase', '--include=python3', suite, work, debian_mirror()],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Keep the tarball small: downloaded archives and lists are not needed (the tests use their own repository).
    for leftover in glob.glob(os.path.join(work, 'var/cache/apt/archives/*.deb')) + \
            glob.glob(os.path.join(work, 'var/cache/apt/*.bin')):
        os.unlink(leftover)
    shutil.rmtree(os.path.join(work, 'var/lib/apt/lists'), ignore_errors=True)
    os.makedirs(os.path.join(work, 'var/lib/apt/lists/partial'))
    partial = path + '.part'
    subprocess.run(['tar', '-C', work, '-czf', partial, '.'], check=True)
    os.rename(partial, path)
    shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(CACHE, 'debootstrap-%s.seconds' % suite), 'w') as handle:
        handle.write('%.1f\n' % (time.monotonic() - started))
    return path


def build_deb(directory, name, version, reboot=False, depends=None):
    """One ``Architecture: all`` package with a file recording its version; returns the .deb path."""
    tree = os.path.join(directory, 'src', '%s_%s' % (name, version))
    os.makedirs(os.path.join(tree, 'DEBIAN'))
    os.makedirs(os.path.join(tree, 'usr/share', name))
    with open(os.path.join(tree, 'usr/share', name, 'VERSION'), 'w') as handle:
        handle.write(version + '\n')
    if name in LIBRARIES:
        library = os.path.join(tree, LIBRARIES[name])
        os.makedirs(os.path.dirname(library))
        with open(library, 'wb') as handle:
            handle.write(('\x7fELF stand-in of %s %s\n' % (name, version)).encode() * 512)
    with open(os.path.join(tree, 'DEBIAN/control'), 'w') as handle:
        handle.write('Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: AutopilotCX tests <tests@example.invalid>\n'
                     'Section: misc\nPriority: optional\nDescription: patching test package %s\n' % (name, version, name))
        if depends:
            handle.write('Depends: %s\n' % depends)
    if reboot:
        postinst = os.path.join(tree, 'DEBIAN/postinst')
        with open(postinst, 'w') as handle:
            handle.write('#!/bin/sh\nset -e\nif [ "$1" = configure ]; then\n  mkdir -p /var/run\n'
                         '  touch /var/run/reboot-required\n  echo %s >> /var/run/reboot-required.pkgs\nfi\n' % name)
        os.chmod(postinst, 0o755)
    out = os.path.join(directory, '%s_%s_all.deb' % (name, version))
    subprocess.run(['dpkg-deb', '--root-owner-group', '-Zgzip', '--build', tree, out], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def _flat_repo(path, debs, origin, label, suite):
    os.makedirs(path)
    for deb in debs:
        shutil.copy(deb, path)
    _index_repo(path, origin, label, suite)


def _index_repo(path, origin, label, suite):
    packages = subprocess.run(['apt-ftparchive', 'packages', '.'], cwd=path, check=True, capture_output=True).stdout
    with open(os.path.join(path, 'Packages'), 'wb') as handle:
        handle.write(packages)
    release = subprocess.run(['apt-ftparchive', '-o', 'APT::FTPArchive::Release::Origin=%s' % origin,
                              '-o', 'APT::FTPArchive::Release::Label=%s' % label,
                              '-o', 'APT::FTPArchive::Release::Suite=%s' % suite,
                              '-o', 'APT::FTPArchive::Release::Codename=%s' % suite,
                              'release', '.'], cwd=path, check=True, capture_output=True).stdout
    with open(os.path.join(path, 'Release'), 'wb') as handle:
        handle.write(release)


def build_repository(directory, suite=SUITE):
    """Build the packages and the two repositories under ``directory``; returns a dict of paths."""
    os.makedirs(directory, exist_ok=True)
    installed = [build_deb(directory, name, '1.0') for name in sorted(PACKAGES)]
    updates = {'security': [], 'updates': []}
    for name, (archive, reboot) in sorted(PACKAGES.items()):
        updates[archive].append(build_deb(directory, name, '1.1', reboot=reboot, depends=DEPENDS.get(name)))
    repos = os.path.join(directory, 'repos')
    _flat_repo(os.path.join(repos, 'security'), updates['security'], 'AutopilotCX Test', 'Debian-Security',
               '%s-security' % suite)
    _flat_repo(os.path.join(repos, 'updates'), updates['updates'], 'AutopilotCX Test', 'AutopilotCX Test', suite)
    return {'installed': installed, 'repos': repos}


def publish(root, directory, name, version, archive='security', suite=SUITE):
    """Add ``name`` ``version`` to the ``archive`` repository inside one host (``root``) and re-read its lists.

    The index files are rewritten in place (a directory of the lower overlay layer cannot be renamed)."""
    path = os.path.join(root.path, 'srv/apcx-repos', archive)
    shutil.copy(build_deb(directory, name, version, depends=DEPENDS.get(name)), path)
    for index in ('Packages', 'Release'):
        os.unlink(os.path.join(path, index))
    label = 'Debian-Security' if archive == 'security' else 'AutopilotCX Test'
    _index_repo(path, 'AutopilotCX Test', label, '%s-security' % suite if archive == 'security' else suite)
    root.chroot('apt-get', '-q', 'update')


def extracted_root(suite=SUITE):
    """The pristine root unpacked once in the cache (lower layer of the overlay hosts)."""
    path = os.path.join(CACHE, 'debian-%s-minbase-python3.root' % suite)
    stamp = path + '.ok'
    if os.path.exists(stamp):
        return path
    return extract_once(base_tarball(suite), path, '.extract.lock')


def extract_once(tarball, path, lock_name):
    """Unpack ``tarball`` into ``path`` once, under a lock in the cache (other test processes wait for it)."""
    stamp = path + '.ok'
    with open(os.path.join(CACHE, lock_name), 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(stamp):
            shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path)
            subprocess.run(['tar', '-C', path, '-xzf', tarball], check=True)
            open(stamp, 'w').close()
    return path


def overlay_supported(directory):
    """Whether this machine lets us mount overlayfs (needs CAP_SYS_ADMIN; CI containers may refuse)."""
    probe = os.path.join(directory, 'overlay-probe')
    dirs = [os.path.join(probe, d) for d in ('lower', 'upper', 'work', 'merged')]
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    lower, upper, work, merged = dirs
    ok = subprocess.run(['mount', '-t', 'overlay', 'overlay', '-o',
                         'lowerdir=%s,upperdir=%s,workdir=%s' % (lower, upper, work), merged],
                        capture_output=True, check=False).returncode == 0
    if ok:
        subprocess.run(['umount', merged], check=False)
    shutil.rmtree(probe, ignore_errors=True)
    return ok


def _chroot(path, *command, check=True):
    env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL': 'C', 'DEBIAN_FRONTEND': 'noninteractive'}
    return subprocess.run(['chroot', path] + list(command), check=check, capture_output=True, text=True, env=env)


def prepare(path, repository):
    """Point apt at the local repositories only, install the 1.0 packages, hold apcx-pinned, read the lists."""
    if os.path.exists(os.path.join(path, 'srv/apcx-repos')):
        shutil.rmtree(os.path.join(path, 'srv/apcx-repos'))
    shutil.copytree(repository['repos'], os.path.join(path, 'srv/apcx-repos'))
    sources = os.path.join(path, 'etc/apt/sources.list')
    if os.path.exists(sources):
        os.unlink(sources)
    with open(sources, 'w') as handle:
        handle.write('deb [trusted=yes] file:/srv/apcx-repos/security ./\n'
                     'deb [trusted=yes] file:/srv/apcx-repos/updates ./\n')
    for extra in glob.glob(os.path.join(path, 'etc/apt/sources.list.d/*')):
        os.unlink(extra)
    staging = os.path.join(path, 'tmp/apcx-debs')
    os.makedirs(staging)
    for deb in repository['installed']:
        shutil.copy(deb, staging)
    _chroot(path, 'sh', '-c', 'dpkg -i /tmp/apcx-debs/*.deb && rm -rf /tmp/apcx-debs')
    held = repository.get('held', HELD)
    if held:
        _chroot(path, 'apt-mark', 'hold', *held)
    _chroot(path, 'apt-get', '-q', 'update')


class PreparedLayer(object):
    """The pristine root plus the prepared test state, built once per session.

    With overlayfs: an upper layer over the cached pristine root; each host is another overlay on top of both,
    so creating and removing a host takes milliseconds. Without it: a prepared tarball each host unpacks.
    """

    def __init__(self, directory, repository):
        needs_service('a Debian root')
        self.directory = directory
        self.overlay = overlay_supported(directory)
        self.pristine = extracted_root() if self.overlay else None
        if self.overlay:
            self.upper = os.path.join(directory, 'prepared-upper')
            work = os.path.join(directory, 'prepared-work')
            merged = os.path.join(directory, 'prepared-merged')
            for d in (self.upper, work, merged):
                os.makedirs(d)
            _mount(self.pristine, self.upper, work, merged)
            try:
                prepare(merged, repository)
            finally:
                subprocess.run(['umount', merged], check=True)
            shutil.rmtree(work, ignore_errors=True)
        else:
            root = os.path.join(directory, 'prepared-root')
            os.makedirs(root)
            subprocess.run(['tar', '-C', root, '-xzf', base_tarball()], check=True)
            prepare(root, repository)
            self.tarball = os.path.join(directory, 'prepared.tar')
            subprocess.run(['tar', '-C', root, '-cf', self.tarball, '.'], check=True)
            shutil.rmtree(root, ignore_errors=True)

    def remove(self):
        shutil.rmtree(self.directory, ignore_errors=True)


def _mount(lower, upper, work, merged):
    subprocess.run(['mount', '-t', 'overlay', 'overlay', '-o',
                    'lowerdir=%s,upperdir=%s,workdir=%s' % (lower, upper, work), merged], check=True)


class DebianRoot(object):
    """A chroot host in the prepared state (1.0 packages installed, apcx-pinned held, lists read)."""

    def __init__(self, path, layer):
        self.path = path
        self.layer = layer
        os.makedirs(path)
        if layer.overlay:
            self.upper, self.work = path + '.upper', path + '.work'
            os.makedirs(self.upper)
            os.makedirs(self.work)
            _mount('%s:%s' % (layer.upper, layer.pristine), self.upper, self.work, path)
        else:
            subprocess.run(['tar', '-C', path, '-xf', layer.tarball], check=True)

    def chroot(self, *command, check=True):
        return _chroot(self.path, *command, check=check)

    def versions(self):
        """``{package: version}`` of the test packages as dpkg sees them."""
        out = self.chroot('dpkg-query', '-W', '-f', '${Package} ${Version}\n', *sorted(PACKAGES)).stdout
        return dict(line.split() for line in out.splitlines() if line.strip())

    def reboot_required(self):
        return os.path.exists(os.path.join(self.path, 'run/reboot-required'))

    def remove(self):
        if self.layer.overlay:
            subprocess.run(['umount', self.path], check=False)
            shutil.rmtree(self.upper, ignore_errors=True)
            shutil.rmtree(self.work, ignore_errors=True)
            os.rmdir(self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


class PatchFleet(object):
    """Two staging and two production chroot hosts plus an inventory for them (community.general.chroot)."""

    STAGING = ('stg1', 'stg2')
    PRODUCTION = ('prd1', 'prd2')

    def __init__(self, directory, layer, extra_vars=None):
        import json
        self.directory = directory
        names = self.STAGING + self.PRODUCTION
        self.hosts = dict((n, DebianRoot(os.path.join(directory, n), layer)) for n in names)
        connection = {'ansible_connection': 'community.general.chroot', 'ansible_python_interpreter': '/usr/bin/python3'}
        inventory = {'all': {'vars': dict(extra_vars or {}), 'children': {
            'staging': {'hosts': dict((n, {'ansible_host': self.hosts[n].path}) for n in self.STAGING), 'vars': connection},
            'production': {'hosts': dict((n, {'ansible_host': self.hosts[n].path}) for n in self.PRODUCTION),
                           'vars': connection},
        }}}
        self.inventory = os.path.join(directory, 'inventory.yml')
        with open(self.inventory, 'w') as handle:
            json.dump(inventory, handle, indent=1)  # JSON is YAML

    def versions(self):
        return dict((name, root.versions()) for name, root in self.hosts.items())

    def remove(self):
        for root in self.hosts.values():
            root.remove()
