"""Incident response benchmarks, inside throw-away network namespaces (the machine's own networking is untouched).

1. Blocking N suspicious addresses: nft_block's one validated transaction (``nft -c -f`` + ``nft -f``) against the
   fail2ban-style baseline of one ``nft add element`` process per address. Target: >= 20x faster at 1000 addresses.
2. Evidence verification: verify_archive (one pass over the archive) against the by-hand baseline (extract the archive,
   ``sha256sum -c`` the manifest). Target: not slower (>= 1.0x).
"""

import argparse
import ipaddress
import os
import subprocess
import sys
import tempfile

from _common import timed, verdict  # sets sys.path too

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import evidence as ev
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import nft as net
from tests.harness.netns import NetLab


def addresses(count, offset):
    base = int(ipaddress.ip_address('100.64.0.0')) + offset  # shared address space, only ever inside the namespace
    # every other address: nothing collapses into a wider network, each address is its own set element
    return [str(ipaddress.ip_address(base + 2 * i)) for i in range(count)]


def bench_block(count):
    lab = NetLab().create()
    try:
        runner = net.Runner(prefix=lab.prefix)
        ours = addresses(count, 0)
        ours_time = timed(lambda: net.block(runner, net.block_plan(ours, ['192.0.2.0/24']), 600))
        assert len(net.blocked_now(runner)) == count
        theirs = addresses(count, 1000000)

        def one_by_one():
            for address in theirs:
                subprocess.run(lab.prefix + ['nft', 'add', 'element', 'inet', net.BLOCK_TABLE, 'blocked_v4',
                                             '{ %s timeout 600s }' % address], check=True)
        base_time = timed(one_by_one)
    finally:
        lab.destroy()
    ratio = base_time / ours_time
    return verdict('nft_block %d addresses' % count, '%.2f s vs one nft process per address %.2f s' % (ours_time, base_time),
                   '%.0fx faster' % ratio, '>= 20x', ratio >= 20)


def bench_verify(megabytes):
    with tempfile.TemporaryDirectory() as tmp:
        logs = os.path.join(tmp, 'logs')
        os.makedirs(logs)
        for index in range(40):
            with open(os.path.join(logs, 'app%02d.log' % index), 'wb') as out:
                out.write(os.urandom(megabytes * 1024 * 1024 // 40))
        result = ev.collect_evidence(os.path.join(tmp, 'out'), 'BENCH', categories=['logs'], log_paths=[logs],
                                     stamp='x')
        ours_time = timed(lambda: ev.verify_archive(result['archive']), repeat=3)

        def by_hand():
            target = tempfile.mkdtemp(dir=tmp)
            subprocess.run(['tar', '-xzf', result['archive'], '-C', target], check=True)
            top = os.path.join(target, os.listdir(target)[0])
            subprocess.run(['sha256sum', '-c', '--quiet', ev.MANIFEST], cwd=top, check=True)
            subprocess.run(['rm', '-rf', target], check=True)
        base_time = timed(by_hand, repeat=3)
    ratio = base_time / ours_time
    return verdict('evidence_verify %d MB archive' % megabytes, '%.2f s vs tar + sha256sum -c %.2f s' % (ours_time, base_time),
                   '%.2fx' % ratio, '>= 1.0x', ratio >= 1.0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--quick', action='store_true')
    args = parser.parse_args()
    if os.geteuid() != 0:
        print('bench_incident: needs root for network namespaces; skipped')
        return 0
    ok = bench_block(200 if args.quick else 1000)
    ok = bench_verify(20 if args.quick else 100) and ok
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
