# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pending updates and their application, through the system package manager (apt, dnf).

Nothing here re-implements a package manager: it reads what apt/dnf report
(``apt list --upgradable``, ``apt-cache policy``, ``apt-mark showhold``,
``dnf check-update``, ``dnf updateinfo list --security``, ``needs-restarting``,
``needrestart -b``) and applies exact ``name=version`` lists with ``apt-get``
(or ``name-version`` with ``dnf``).

All commands go through a ``Host`` (a ``run(argv) -> (rc, out, err)`` callable,
a ``which(name)`` callable and the root path for files), so the module passes
``module.run_command`` and the unit tests pass a runner into a real chroot.

No result key here is one Ansible reads for itself (``skipped``, ``failed``,
``results`` ...): the updates left alone are ``not_applied``.
"""

import fnmatch
import hashlib
import os
import re

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    critical,
    evaluate,
    make_check,
    ok,
    unknown,
)

# Debian's security archive: Label Debian-Security, suite <codename>-security; Ubuntu's: <codename>-security.
DEFAULT_SECURITY_ORIGINS = [
    {'label': 'Debian-Security'},
    {'archive': '*-security'},
    {'codename': '*-security'},
]
_RELEASE_KEYS = {'o': 'origin', 'a': 'archive', 'n': 'codename', 'l': 'label', 'c': 'component', 'v': 'version', 'b': 'arch'}
ORIGIN_KEYS = ('origin', 'archive', 'codename', 'label', 'component', 'site')

APT_ENV = {'LC_ALL': 'C', 'LANG': 'C', 'DEBIAN_FRONTEND': 'noninteractive', 'APT_LISTCHANGES_FRONTEND': 'none'}
APT_INSTALL_OPTIONS = ['-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold']


class Host(object):
    """How commands run and where files are: ``run(argv) -> (rc, stdout, stderr)``, ``which(name) -> path|None``."""

    def __init__(self, run, which, root='/'):
        self.run = run
        self.which = which
        self.root = root

    def path(self, name):
        return os.path.join(self.root, name.lstrip('/'))

    def exists(self, name):
        return os.path.exists(self.path(name))

    def read(self, name):
        try:
            with open(self.path(name)) as handle:
                return handle.read()
        except (IOError, OSError):
            return ''

    def must(self, argv, doing):
        rc, out, err = self.run(argv)
        if rc != 0:
            raise CommandFailed('%s: %s exited %s: %s' % (doing, ' '.join(argv), rc, _tail(err or out)))
        return out


class CommandFailed(Exception):
    """A package-manager command failed on the target (reported as a critical check, not a module error)."""


def _tail(text, lines=5):
    return ' | '.join(line.strip() for line in (text or '').strip().splitlines()[-lines:] if line.strip())


# ---------------------------------------------------------------- apt parsing
_UPGRADABLE = re.compile(r'^(?P<name>[^/\s]+)/(?P<suites>\S+)\s+(?P<candidate>\S+)\s+(?P<arch>\S+)'
                         r'(?:\s+\[upgradable from:\s*(?P<installed>[^\]]+)\])?')
_INST = re.compile(r'^Inst\s+(?P<name>\S+)\s+(?:\[(?P<installed>[^\]]+)\]\s+)?\((?P<candidate>\S+)\s+(?P<origins>[^\[]*?)\s*(?:\[(?P<arch>[^\]]+)\])?\)')
_REMV = re.compile(r'^Remv\s+(?P<name>\S+)(?:\s+\[(?P<installed>[^\]]+)\])?')


def parse_apt_upgradable(text):
    """``apt list --upgradable`` -> list of {name, suites, candidate, arch, installed}."""
    result = []
    for line in text.splitlines():
        match = _UPGRADABLE.match(line.strip())
        if not match or line.startswith(('Listing', 'WARNING')):
            continue
        result.append({'name': match.group('name'), 'suites': match.group('suites').split(','),
                       'candidate': match.group('candidate'), 'arch': match.group('arch'),
                       'installed': (match.group('installed') or '').strip() or None})
    return result


def parse_apt_simulation(text):
    """``Inst`` lines of ``apt-get -s`` -> list of {name, installed, candidate, origins, arch}."""
    result = []
    for line in text.splitlines():
        match = _INST.match(line.strip())
        if match:
            result.append({'name': match.group('name'), 'installed': match.group('installed'),
                           'candidate': match.group('candidate'),
                           'origins': [o.strip() for o in (match.group('origins') or '').split(',') if o.strip()],
                           'arch': match.group('arch')})
    return result


def parse_apt_removals(text):
    """``Remv`` lines of ``apt-get -s`` -> list of {name, installed}."""
    result = []
    for line in text.splitlines():
        match = _REMV.match(line.strip())
        if match:
            result.append({'name': match.group('name'), 'installed': match.group('installed')})
    return result


def _parse_release(text):
    attrs = {}
    # Values may contain spaces and commas are separators: split on ",k=" boundaries.
    for part in re.split(r',(?=[a-z]=)', text.strip()):
        if '=' in part:
            key, value = part.split('=', 1)
            attrs[_RELEASE_KEYS.get(key.strip(), key.strip())] = value.strip()
    return attrs


def parse_apt_policy_sources(text):
    """``apt-cache policy`` (no arguments) -> {source line: release attributes (+ site)}."""
    sources = {}
    current = None
    for line in text.splitlines():
        stripped = line.strip()
        match = re.match(r'^(-?\d+)\s+(.+)$', stripped)
        if match and not stripped.startswith('release') and line.startswith(' ') and not line.startswith('     '):
            current = match.group(2).strip()
            sources[current] = {}
            site = re.match(r'^[a-z+]+:(?://)?([^/\s]*)', current)
            if site and site.group(1):
                sources[current]['site'] = site.group(1)
            continue
        if current and stripped.startswith('release '):
            sources[current].update(_parse_release(stripped[len('release '):]))
        elif current and stripped.startswith('origin '):
            sources[current].setdefault('site', stripped[len('origin '):].strip())
        elif stripped.startswith('Pinned packages'):
            current = None
    return sources


def parse_apt_policy_packages(text):
    """``apt-cache policy pkg...`` -> {name: {installed, candidate, versions: {version: [source lines]}}}."""
    packages = {}
    current = None
    version = None
    for line in text.splitlines():
        if line and not line.startswith(' ') and line.rstrip().endswith(':'):
            current = {'installed': None, 'candidate': None, 'versions': {}}
            packages[line.rstrip()[:-1]] = current
            version = None
            continue
        if current is None:
            continue
        stripped = line.strip()
        if stripped.startswith('Installed:'):
            value = stripped.split(':', 1)[1].strip()
            current['installed'] = None if value == '(none)' else value
        elif stripped.startswith('Candidate:'):
            value = stripped.split(':', 1)[1].strip()
            current['candidate'] = None if value == '(none)' else value
        elif stripped.startswith('Version table'):
            continue
        else:
            match = re.match(r'^(?:\*\*\*\s+)?(\S+)\s+(-?\d+)$', stripped)
            if match and (line.startswith('     ') and not line.startswith('        ') or line.startswith(' *** ')):
                version = match.group(1)
                current['versions'].setdefault(version, [])
                continue
            match = re.match(r'^(-?\d+)\s+(.+)$', stripped)
            if match and version is not None:
                current['versions'][version].append(match.group(2).strip())
    return packages


def origin_matches(attrs, patterns):
    """True when the release attributes match one of the patterns (all keys of a pattern, shell-style globs)."""
    for pattern in patterns or []:
        if not pattern:
            continue
        if all(fnmatch.fnmatchcase(str(attrs.get(key, '')), str(value)) for key, value in pattern.items()):
            return True
    return False


def validate_origins(patterns):
    for pattern in patterns or []:
        if not isinstance(pattern, dict) or not pattern:
            raise MaintenanceError('security_origins entries must be non-empty mappings of %s to glob patterns, not %r'
                                   % ('/'.join(ORIGIN_KEYS), pattern))
        unknown_keys = set(pattern) - set(ORIGIN_KEYS)
        if unknown_keys:
            raise MaintenanceError('security_origins: unknown key(s) %s; use %s'
                                   % (', '.join(sorted(unknown_keys)), ', '.join(ORIGIN_KEYS)))


def parse_needrestart_batch(text):
    """``needrestart -b`` -> {kernel_status, kernel_current, kernel_expected, services, containers, sessions}."""
    info = {'kernel_status': None, 'kernel_current': None, 'kernel_expected': None, 'services': [],
            'containers': [], 'sessions': [], 'microcode_status': None}
    keys = {'NEEDRESTART-KSTA': 'kernel_status', 'NEEDRESTART-KCUR': 'kernel_current',
            'NEEDRESTART-KEXP': 'kernel_expected', 'NEEDRESTART-UCSTA': 'microcode_status'}
    for line in text.splitlines():
        if ':' not in line:
            continue
        key, value = line.split(':', 1)
        key, value = key.strip(), value.strip()
        if key in keys:
            info[keys[key]] = int(value) if key.endswith('STA') and value.isdigit() else value
        elif key == 'NEEDRESTART-SVC':
            info['services'].append(value)
        elif key == 'NEEDRESTART-CONT':
            info['containers'].append(value)
        elif key == 'NEEDRESTART-SESS':
            info['sessions'].append(value)
    return info


# ---------------------------------------------------------------- dnf parsing
def split_nevra(text):
    """``openssl-libs-1:3.0.7-25.el9_3.x86_64`` -> (name, 'epoch:version-release' or 'version-release', arch)."""
    text = text.strip()
    if text.endswith('.rpm'):
        text = text[:-4]
    base, _dot, arch = text.rpartition('.')
    name_version, _dash, release = base.rpartition('-')
    name, _dash, version = name_version.rpartition('-')
    if not name or not version or not release:
        raise ValueError('not a NEVRA: %r' % text)
    return name, '%s-%s' % (version, release), arch


def strip_epoch(evr):
    return evr.split(':', 1)[1] if ':' in evr else evr


def parse_dnf_check_update(text):
    """``dnf check-update`` -> list of {name, arch, candidate, repo}; wrapped long lines are joined."""
    result = []
    tokens = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(('Obsoleting Packages', 'Last metadata expiration', 'Security:')):
            if stripped.startswith('Obsoleting Packages'):
                break
            continue
        tokens.extend(stripped.split())
        while len(tokens) >= 3:
            name_arch, evr, repo = tokens[0], tokens[1], tokens[2]
            if '.' not in name_arch:
                tokens = []
                break
            name, _dot, arch = name_arch.rpartition('.')
            result.append({'name': name, 'arch': arch, 'candidate': evr, 'repo': repo})
            tokens = tokens[3:]
    return result


def parse_dnf_updateinfo(text):
    """``dnf updateinfo list --security`` -> list of {advisory, type, severity, name, evr, arch}."""
    result = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0].startswith(('Last', 'Updating', 'Upgrading')):
            continue
        if len(parts) == 4 and parts[0] in ('i', 'I'):  # --all marks installed advisories with "i"
            parts = parts[1:]
        advisory, kind, nevra = parts[0], parts[1], parts[-1]
        try:
            name, evr, arch = split_nevra(nevra)
        except ValueError:
            continue
        severity, _slash, category = kind.partition('/')
        if not category:
            severity, category = None, kind
        result.append({'advisory': advisory, 'type': category.rstrip('.'), 'severity': severity,
                       'name': name, 'evr': evr, 'arch': arch})
    return result


def parse_rpm_query(text):
    """``rpm -q --qf '%{NAME} %{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'`` -> {(name, arch): evr}."""
    installed = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            evr = parts[2][2:] if parts[2].startswith('0:') else parts[2]
            installed[(parts[0], parts[1])] = evr
    return installed


def parse_versionlock(text):
    """``dnf versionlock list`` -> names of locked packages (``name-[epoch:]version-release.*``)."""
    names = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(('Last metadata', 'Adding versionlock', '#')):
            continue
        if line.startswith('!'):
            line = line[1:]
        match = re.match(r'^(.+?)-(?:\d+:)?[^-]+-[^-]+\.\*$', line)
        names.append(match.group(1) if match else line)
    return names


# ---------------------------------------------------------------- facts
def detect_manager(host, manager='auto'):
    if manager != 'auto':
        return manager
    if host.which('apt-get'):
        return 'apt'
    if host.which('dnf'):
        return 'dnf'
    raise MaintenanceError('neither apt-get nor dnf was found on the host; set manager explicitly')


def _reboot_apt(host):
    for candidate in ('/var/run/reboot-required', '/run/reboot-required'):
        if host.exists(candidate):
            pkgs = host.read(candidate + '.pkgs')
            return True, sorted(set(line.strip() for line in pkgs.splitlines() if line.strip()))
    return False, []


def _needrestart(host):
    if not host.which('needrestart'):
        return None
    rc, out, _err = host.run(['needrestart', '-b', '-r', 'l'])
    if rc != 0 and not out:
        return None
    return parse_needrestart_batch(out)


def apt_facts(host, security_origins=None, update_cache=False):
    """Pending apt updates with origins, security classification and holds; reboot and restart needs."""
    patterns = DEFAULT_SECURITY_ORIGINS if security_origins is None else security_origins
    validate_origins(patterns)
    if update_cache:
        host.must(['apt-get', '-q', 'update'], 'refreshing the package lists')
    rc, out, err = host.run(['apt', 'list', '--upgradable'])
    if rc != 0:
        raise CommandFailed('listing upgradable packages: apt list --upgradable exited %s: %s' % (rc, _tail(err)))
    listed = parse_apt_upgradable(out)
    held = sorted(set(host.must(['apt-mark', 'showhold'], 'reading held packages').split()))
    sources = parse_apt_policy_sources(host.must(['apt-cache', 'policy'], 'reading the package sources'))
    policies = {}
    if listed:
        policies = parse_apt_policy_packages(host.must(['apt-cache', 'policy'] + [p['name'] for p in listed],
                                                       'reading package origins'))
    updates = []
    for item in listed:
        policy = policies.get(item['name']) or {}
        lines = (policy.get('versions') or {}).get(item['candidate'], [])
        origins = []
        for line in lines:
            attrs = dict(sources.get(line) or {})
            attrs['source'] = line
            origins.append(attrs)
        security = any(origin_matches(o, patterns) for o in origins)
        if not origins:  # no policy data (unusual): fall back on the suite names apt printed
            security = any(origin_matches({'archive': s, 'codename': s}, patterns) for s in item['suites'])
        updates.append({
            'name': item['name'], 'arch': item['arch'],
            'installed': policy.get('installed') or item['installed'], 'candidate': item['candidate'],
            'suites': item['suites'],
            'origins': [dict((k, o.get(k)) for k in ORIGIN_KEYS + ('source',) if o.get(k) is not None) for o in origins],
            'security': security, 'held': item['name'] in held,
        })
    reboot, reboot_packages = _reboot_apt(host)
    restart = _needrestart(host)
    return _facts('apt', updates, held, reboot, reboot_packages, restart)


def dnf_facts(host, update_cache=False):
    """Pending dnf updates, classified by ``dnf updateinfo list --security``; versionlocks; needs-restarting."""
    base = ['dnf', '-q'] + ([] if update_cache else ['--cacheonly'])
    rc, out, err = host.run(base + ['check-update'])
    if rc not in (0, 100):
        raise CommandFailed('dnf check-update exited %s: %s' % (rc, _tail(err or out)))
    listed = parse_dnf_check_update(out) if rc == 100 else []
    rc, out, err = host.run(base + ['updateinfo', 'list', '--security'])
    if rc != 0:
        raise CommandFailed('dnf updateinfo list --security exited %s: %s' % (rc, _tail(err or out)))
    advisories = parse_dnf_updateinfo(out)
    held = []
    rc, out, _err = host.run(['dnf', '-q', 'versionlock', 'list'])
    if rc == 0:
        held = sorted(set(parse_versionlock(out)))
    installed = {}
    if listed:
        rc, out, _err = host.run(['rpm', '-q', '--qf', '%{NAME} %{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n']
                                 + sorted(set(p['name'] for p in listed)))
        installed = parse_rpm_query(out)
    updates = []
    for item in listed:
        found = [a for a in advisories if a['name'] == item['name'] and a['arch'] == item['arch']]
        updates.append({
            'name': item['name'], 'arch': item['arch'], 'installed': installed.get((item['name'], item['arch'])),
            'candidate': item['candidate'], 'suites': [item['repo']], 'origins': [{'repo': item['repo']}],
            'security': bool(found), 'advisories': sorted(set(a['advisory'] for a in found)),
            'severity': next((a['severity'] for a in found if a['severity']), None),
            'held': item['name'] in held,
        })
    reboot, restart = False, None
    if host.which('needs-restarting'):
        rc, _out, _err = host.run(['needs-restarting', '-r'])
        reboot = rc == 1
        rc, out, _err = host.run(['needs-restarting', '-s'])
        if rc == 0:
            restart = {'services': sorted(set(line.strip() for line in out.splitlines() if line.strip())),
                       'kernel_status': None}
    return _facts('dnf', updates, held, reboot, [], restart)


def _facts(manager, updates, held, reboot, reboot_packages, restart):
    updates.sort(key=lambda u: u['name'])
    return {
        'manager': manager,
        'updates': updates,
        'security_updates': [u['name'] for u in updates if u['security']],
        'held': held,
        'pending': len(updates),
        'pending_security': sum(1 for u in updates if u['security'] and not u['held']),
        'reboot_required': reboot,
        'reboot_packages': reboot_packages,
        'needrestart_available': restart is not None,
        'services_needing_restart': (restart or {}).get('services', []),
        'kernel_restart_pending': bool(restart and restart.get('kernel_status') in (2, 3)),
    }


def gather_facts(host, manager='auto', security_origins=None, update_cache=False, thresholds=None):
    """Facts plus checks; a failing package-manager command becomes a critical check."""
    target = None
    try:
        manager = detect_manager(host, manager)
        if manager == 'apt':
            facts = apt_facts(host, security_origins, update_cache)
        else:
            facts = dnf_facts(host, update_cache)
    except CommandFailed as exc:
        return {'manager': manager, 'updates': [], 'held': [], 'pending': None, 'pending_security': None,
                'reboot_required': None}, [critical('patch.pending_security', str(exc), target=target)]
    return facts, facts_checks(facts, thresholds or {})


def facts_checks(facts, thresholds):
    checks = [evaluate('patch.pending_security', facts['pending_security'], thresholds.get('patch_pending_security'),
                       label='pending security updates',
                       details={'packages': [u['name'] for u in facts['updates'] if u['security'] and not u['held']]}),
              evaluate('patch.pending_updates', facts['pending'], thresholds.get('patch_pending_updates'),
                       label='pending updates')]
    if facts['reboot_required']:
        checks.append(make_check('patch.reboot_required', 'warning', 'a reboot is required (%s)'
                                 % (', '.join(facts['reboot_packages']) or 'reboot-required flag set'),
                                 value=True, priority='medium'))
    else:
        checks.append(ok('patch.reboot_required', 'no reboot required', value=False))
    return checks


# ---------------------------------------------------------------- apply
def parse_package_spec(spec):
    """``name=version`` (apt style) or ``name`` -> (name, version or None)."""
    text = str(spec).strip()
    if not text or any(c.isspace() for c in text):
        raise MaintenanceError('package %r: expected name or name=version' % spec)
    name, _eq, version = text.partition('=')
    return name, (version or None)


def _globs_match(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns or [])


def select_updates(facts, mode='security', include=None, exclude=None, packages=None):
    """Which updates to apply: returns (selected [{name, version, security}], not_applied [{name, reason}])."""
    if mode not in ('security', 'all'):
        raise MaintenanceError('mode must be security or all, not %r' % mode)
    by_name = dict((u['name'], u) for u in facts['updates'])
    held = set(facts.get('held') or [])
    selected, not_applied = [], []
    if packages:
        for spec in packages:
            name, version = parse_package_spec(spec)
            update = by_name.get(name)
            if name in held:
                not_applied.append({'name': name, 'reason': 'held (holds are always respected)'})
                continue
            if _globs_match(name, exclude):
                not_applied.append({'name': name, 'reason': 'excluded'})
                continue
            if version is None:
                if update is None:
                    not_applied.append({'name': name, 'reason': 'no update available'})
                    continue
                version = update['candidate']
            elif update is not None and update['installed'] == version:
                not_applied.append({'name': name, 'reason': 'already at %s' % version})
                continue
            selected.append({'name': name, 'version': version, 'security': bool(update and update['security']),
                             'installed': update['installed'] if update else None})
        return selected, not_applied
    for update in facts['updates']:
        name = update['name']
        if update['held'] or name in held:
            not_applied.append({'name': name, 'reason': 'held (holds are always respected)'})
        elif include and not _globs_match(name, include):
            not_applied.append({'name': name, 'reason': 'not in include'})
        elif _globs_match(name, exclude):
            not_applied.append({'name': name, 'reason': 'excluded'})
        elif mode == 'security' and not update['security']:
            not_applied.append({'name': name, 'reason': 'not a security update'})
        else:
            selected.append({'name': name, 'version': update['candidate'], 'security': update['security'],
                             'installed': update['installed']})
    return selected, not_applied


def package_set(selected):
    """The sorted ``name=version`` list and a short stable id of it (the promotion gate compares these)."""
    items = sorted('%s=%s' % (s['name'], s['version']) for s in selected)
    digest = hashlib.sha256('\n'.join(items).encode('utf-8')).hexdigest()[:16] if items else None
    return items, digest


def dpkg_snapshot(host):
    out = host.must(['dpkg-query', '-W', '-f', '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'],
                    'reading installed package versions')
    versions = {}
    for line in out.splitlines():
        parts = line.split('\t')
        if len(parts) >= 3 and parts[2].strip().startswith(('ii', 'hi')):
            versions[parts[0]] = parts[1]
    return versions


def rpm_snapshot(host):
    out = host.must(['rpm', '-qa', '--qf', '%{NAME} %{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'],
                    'reading installed package versions')
    return dict(('%s.%s' % key, value) for key, value in parse_rpm_query(out).items())


def diff_versions(before, after):
    changes = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            changes.append({'name': name, 'before': before.get(name), 'after': after.get(name)})
    return changes


def apt_command(selected, simulate):
    argv = ['apt-get', '-q', '-y'] + APT_INSTALL_OPTIONS
    if simulate:
        argv.append('-s')
    # No --allow-change-held-packages and no --allow-downgrades: apt refuses rather than breaking a hold.
    return argv + ['install'] + ['%s=%s' % (s['name'], s['version']) for s in selected]


def dnf_command(selected, simulate):
    argv = ['dnf', '-q', '--assumeno' if simulate else '-y', 'upgrade']
    return argv + ['%s-%s' % (s['name'], strip_epoch(s['version'])) for s in selected]


def apt_auto_installed(host):
    """Names apt marked as installed automatically (dependencies); naming them in ``apt-get install`` would make
    them manual (never removed by autoremove), so their marks are put back after the run."""
    return set(host.must(['apt-mark', 'showauto'], 'reading the automatically installed packages').split())


def _planned_changes(simulated, removals):
    planned = [{'name': p['name'], 'before': p['installed'], 'after': p['candidate']} for p in simulated]
    planned += [{'name': r['name'], 'before': r['installed'], 'after': None} for r in removals]
    return sorted(planned, key=lambda c: c['name'])


def apply_updates(host, facts, mode='security', include=None, exclude=None, packages=None, check_mode=False,
                  proc='/proc'):
    """Apply the selection. Returns the result dict (changes, diff, reboot_required, package_set...) with checks.

    With apt, the exact command is first simulated (``apt-get -s``): the package set is every ``Inst`` line of the
    simulation, so the dependencies apt pulls in are part of what staging verifies and production is gated on, and
    the real run names each of them with its version (production installs exactly that, or apt refuses).
    """
    selected, not_applied = select_updates(facts, mode, include, exclude, packages)
    items, digest = package_set(selected)
    result = {'selected': selected, 'not_applied': not_applied, 'package_set': items, 'package_set_id': digest,
              'changes': [], 'would_change': [], 'reboot_required': facts.get('reboot_required'),
              'manager': facts['manager'], 'command': None, 'diff': {'before': '', 'after': ''},
              'services_needing_restart': [], 'processes_needing_restart': [], 'restart_method': None}
    if not selected:
        result['checks'] = [ok('patch.apply', 'nothing to apply (%d pending update(s) not applied)' % len(not_applied),
                               value=0, details={'not_applied': not_applied})]
        return result
    apt = facts['manager'] == 'apt'
    if apt:
        argv = apt_command(selected, True)
        result['command'] = argv
        rc, out, err = host.run(argv)
        if rc != 0:
            result['checks'] = [critical('patch.apply', 'apt would refuse these updates: %s' % _tail(err or out),
                                         value=0, details={'package_set': items})]
            return result
        simulated = parse_apt_simulation(out)
        planned = _planned_changes(simulated, parse_apt_removals(out))
        # the full set apt would change: the selection and every dependency it pulls in, each at its version
        full = [{'name': p['name'], 'version': p['candidate'], 'installed': p['installed']} for p in simulated]
        items, digest = package_set(full)
        result['package_set'], result['package_set_id'] = items, digest
    else:
        full = selected
        planned = [{'name': s['name'], 'before': s['installed'], 'after': s['version']} for s in selected]
    if check_mode:
        result['would_change'] = planned
        result['diff'] = render_diff(planned)
        result['checks'] = [ok('patch.apply', 'check mode: %d package(s) would change, nothing was changed' % len(planned),
                               value=len(planned), details={'package_set': items, 'would_change': planned})]
        return result
    snapshot = dpkg_snapshot if apt else rpm_snapshot
    before = snapshot(host)
    auto = apt_auto_installed(host) if apt else set()
    argv = apt_command(full, False) if apt else dnf_command(selected, False)
    result['command'] = argv
    rc, out, err = host.run(argv)
    after = snapshot(host)
    # dependencies keep their "automatically installed" mark: those that had it, and those apt pulled in new
    chosen = set(s['name'] for s in selected)
    remark = sorted((auto & set(p['name'] for p in full)) | set(p['name'] for p in full if p['installed'] is None
                                                                and p['name'] not in chosen)) if apt else []
    if remark:
        host.run(['apt-mark', 'auto'] + remark)
    changes = diff_versions(before, after)
    if not apt:
        for change in changes:
            change['name'] = change['name'].rsplit('.', 1)[0]
    result['changes'] = changes
    result['diff'] = render_diff(changes)
    reboot = _reboot_apt(host)[0] if apt else _dnf_reboot(host)
    result['reboot_required'] = reboot
    details = {'package_set': items, 'package_set_id': digest, 'changes': changes, 'reboot_required': reboot}
    checks = []
    if changes:
        checks.append(restart_check(host, result, proc))
    if rc != 0:
        result['checks'] = [critical('patch.apply', '%s exited %s: %s' % (argv[0], rc, _tail(err or out)),
                                     value=len(changes), details=details)] + checks
        return result
    missing = ['%s (%s, not %s)' % (p['name'], after.get(p['name']) or 'absent', p['version'])
               for p in full if after.get(p['name']) != p['version']] if apt else []
    if missing:
        result['checks'] = [critical('patch.apply', 'not at the planned version after the upgrade: %s' % ', '.join(missing),
                                     value=len(changes), details=details)] + checks
        return result
    result['checks'] = [ok('patch.apply', '%d package(s) changed%s' % (len(changes), '; reboot required' if reboot else ''),
                           value=len(changes), details=details)] + checks
    return result


# ---------------------------------------------------------------- restart needs
# Where programs and shared libraries live: a deleted mapping elsewhere (memfd, /dev/shm, /tmp) is not a stale library.
_CODE_DIRS = ('/lib/', '/lib32/', '/lib64/', '/libx32/', '/usr/lib/', '/usr/lib32/', '/usr/lib64/', '/usr/libexec/',
              '/usr/local/lib/', '/bin/', '/sbin/', '/usr/bin/', '/usr/sbin/', '/usr/local/bin/', '/usr/local/sbin/',
              '/opt/')


def deleted_code_mappings(maps, root='/'):
    """Paths of ``/proc/PID/maps`` mappings of files deleted (replaced) since they were mapped, under code dirs.

    The kernel shows paths as the reader sees them: read from outside a chroot they start with the chroot's path,
    which is cut off so the paths are the target's own.
    """
    found = set()
    prefix = root.rstrip('/')
    for line in maps.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6 or not parts[5].endswith(' (deleted)'):
            continue
        path = parts[5][:-len(' (deleted)')]
        if prefix and path.startswith(prefix + '/'):
            path = path[len(prefix):]
        if path.startswith(_CODE_DIRS):
            found.add(path)
    return sorted(found)


def systemd_unit(cgroup):
    """The service of a process from ``/proc/PID/cgroup`` (v2 ``0::/system.slice/x.service`` or v1), or None."""
    for line in cgroup.splitlines():
        units = [part for part in line.split(':', 2)[-1].split('/') if part.endswith('.service')]
        if units:
            return units[-1]
    return None


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def stale_processes(root='/', proc='/proc'):
    """Processes whose root directory is ``root`` and that still map a replaced program or library (as checkrestart
    does), with their systemd unit; None when the processes cannot be seen (no ``proc``: a chroot without /proc).

    Only processes of the same root count: with a chroot connection the /proc mounted inside is the machine's, and
    the machine's own processes are not the target's.
    """
    if not os.path.isdir(os.path.join(proc, 'self')):
        return None
    try:
        target = os.stat(root)
    except OSError:
        return None
    found = []
    own = str(os.getpid())
    for pid in os.listdir(proc):
        if not pid.isdigit() or pid == own:
            continue
        try:
            seen = os.stat(os.path.join(proc, pid, 'root'))
        except OSError:
            continue   # exited, a kernel thread, or not ours to look at
        if (seen.st_dev, seen.st_ino) != (target.st_dev, target.st_ino):
            continue
        files = deleted_code_mappings(_read(os.path.join(proc, pid, 'maps')) or '', root)
        if files:
            found.append({'pid': int(pid), 'command': (_read(os.path.join(proc, pid, 'comm')) or '').strip(),
                          'unit': systemd_unit(_read(os.path.join(proc, pid, 'cgroup')) or ''), 'files': files})
    return sorted(found, key=lambda p: p['pid'])


def restart_check(host, result, proc='/proc'):
    """Fill the restart fields of ``result`` and return the ``patch.restart_needed`` check.

    ``needrestart -b`` where it is installed; otherwise the built-in scan of /proc; unknown (said, never "none") when
    neither can see the processes.
    """
    name = 'patch.restart_needed'
    info = _needrestart(host)
    if info is not None:
        result['restart_method'] = 'needrestart'
        services = sorted(set(info['services']))
        result['services_needing_restart'] = services
        if services:
            return make_check(name, 'warning', '%d service(s) still run replaced code: %s' % (len(services), ', '.join(services)),
                              value=len(services), priority='medium', details={'services': services, 'method': 'needrestart'})
        return ok(name, 'needrestart: no service runs replaced code', value=0, details={'method': 'needrestart'})
    processes = stale_processes(host.root, proc)
    if processes is None:
        return unknown(name, 'cannot tell which services still use the replaced libraries: needrestart is not installed '
                             'and the processes are not visible here (%s not mounted, e.g. a chroot)' % proc,
                       details={'method': None})
    result['restart_method'] = 'proc'
    result['processes_needing_restart'] = processes
    result['services_needing_restart'] = sorted(set(p['unit'] for p in processes if p['unit']))
    if processes:
        shown = ', '.join('%s pid %d (%s)' % (p['unit'] or p['command'], p['pid'], ', '.join(p['files'])) for p in processes)
        return make_check(name, 'warning', '%d process(es) still use replaced files: %s' % (len(processes), shown),
                          value=len(processes), priority='medium', details={'processes': processes, 'method': 'proc'})
    return ok(name, 'no process maps a replaced program or library', value=0, details={'method': 'proc'})


def _dnf_reboot(host):
    if not host.which('needs-restarting'):
        return None
    rc, _out, _err = host.run(['needs-restarting', '-r'])
    return rc == 1


def render_diff(changes):
    before = ''.join('%s %s\n' % (c['name'], c['before'] or '(absent)') for c in changes)
    after = ''.join('%s %s\n' % (c['name'], c['after'] or '(absent)') for c in changes)
    return {'before': before, 'after': after, 'before_header': 'installed versions', 'after_header': 'after the update'}


def apply_selection(host, manager='auto', security_origins=None, update_cache=False, mode='security', include=None,
                    exclude=None, packages=None, check_mode=False, proc='/proc'):
    """Gather the facts, then apply; a failing package-manager command becomes a critical check."""
    empty = {'selected': [], 'not_applied': [], 'package_set': [], 'package_set_id': None, 'changes': [],
             'would_change': [], 'reboot_required': None, 'manager': manager, 'command': None,
             'diff': {'before': '', 'after': ''}, 'services_needing_restart': [], 'processes_needing_restart': [],
             'restart_method': None}
    try:
        manager = detect_manager(host, manager)
        facts = apt_facts(host, security_origins, update_cache) if manager == 'apt' else dnf_facts(host, update_cache)
        return apply_updates(host, facts, mode, include, exclude, packages, check_mode, proc)
    except CommandFailed as exc:
        empty['manager'] = manager
        empty['checks'] = [critical('patch.apply', str(exc))]
        return empty
