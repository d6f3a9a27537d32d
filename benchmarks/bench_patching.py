"""patch_facts on a real Debian root with many pending updates: one batched `apt-cache policy` for every
upgradable package (what patch_facts does) against one `apt-cache policy <pkg>` per package (what a
shell loop or a per-package task does). Both classify the same updates; the results must agree.

Needs root (chroot) and debootstrap's cached root (.cache/); --quick uses 60 packages instead of 240.
"""

import argparse
import os
import shutil
import sys
import tempfile

from _common import timed, verdict

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.patching import packages as P
from tests.harness import debroot


def build(directory, count):
    """A repository with `count` security updates (1.0 installed, 1.1 offered) and a root with the 1.0s."""
    names = ['bench-pkg-%03d' % i for i in range(count)]
    installed = [debroot.build_deb(directory, name, '1.0') for name in names]
    updates = [debroot.build_deb(directory, name, '1.1') for name in names]
    repos = os.path.join(directory, 'repos')
    debroot._flat_repo(os.path.join(repos, 'security'), updates, 'Bench', 'Debian-Security', 'bookworm-security')
    debroot._flat_repo(os.path.join(repos, 'updates'), [], 'Bench', 'Bench', 'bookworm')
    return {'installed': installed, 'repos': repos, 'held': []}, names


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--quick', action='store_true')
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which('chroot'):
        print('patch_facts batched policy: SKIPPED (needs root for the chroot)')
        return 0
    count = 60 if args.quick else 240
    work = tempfile.mkdtemp(prefix='bench-patching-')
    try:
        repository, names = build(os.path.join(work, 'repo'), count)
        layer = debroot.PreparedLayer(os.path.join(work, 'layer'), repository)
        root = debroot.DebianRoot(os.path.join(work, 'host'), layer)
        try:
            def run(argv):
                proc = root.chroot(*argv, check=False)
                return proc.returncode, proc.stdout, proc.stderr
            host = P.Host(run, lambda n: '/usr/bin/' + n if os.path.exists(os.path.join(root.path, 'usr/bin', n)) else None,
                          root.path)
            facts = {}

            def batched():
                facts['batched'] = P.apt_facts(host)

            def per_package():
                sources = P.parse_apt_policy_sources(host.must(['apt-cache', 'policy'], 'sources'))
                result = {}
                for name in names:
                    policy = P.parse_apt_policy_packages(host.must(['apt-cache', 'policy', name], 'policy'))[name]
                    lines = policy['versions'][policy['candidate']]
                    result[name] = any(P.origin_matches(sources[line], P.DEFAULT_SECURITY_ORIGINS) for line in lines)
                facts['loop'] = result

            fast = timed(batched, repeat=3)
            slow = timed(per_package, repeat=1)
            agree = dict((u['name'], u['security']) for u in facts['batched']['updates']) == facts['loop']
            ratio = slow / fast if fast else float('inf')
            ok = verdict('patch_facts %d pending updates' % count,
                         '%.2f s vs per-package apt-cache policy %.1f s' % (fast, slow),
                         '%.0fx faster%s' % (ratio, '' if agree else ' (RESULTS DIFFER)'), '>= 10x, same classification',
                         ratio >= 10 and agree)
        finally:
            root.remove()
            layer.remove()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
