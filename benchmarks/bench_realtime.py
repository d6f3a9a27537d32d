#!/usr/bin/env python
"""Real-time response: from the log line that crosses the threshold to the address in the nft set, side by side with
Debian's fail2ban in the same run; and the event source's CPU at a steady 1,000 lines/s.

* latency: ansible-rulebook runs the collection's rulebook (autopilotcx.maintenance.auth_log_response: the
  auth_log event source, one run_playbook of eda_respond per address, nft_block in a network namespace made here);
  ``--path`` says who blocks: ``source`` (the default, what the rulebook ships: the source blocks in-process with
  ``auth_log_block`` through nft_block's code before it sends the event, the playbook's nft_block then finds it
  blocked), ``playbook`` (no ``auth_log_block``: the action's nft_block blocks) or ``run_module`` (a rulebook made
  here whose action is ``run_module: autopilotcx.maintenance.nft_block``, with the same networks);
  fail2ban-server (sshd jail, maxretry 5 within 10 min, backend polling, its ban an ``nft add element`` in the same
  namespace) follows the same log. Each trial writes 4 failures of a new address, then the 5th (the line that
  crosses both thresholds: fail2ban's maxretry 5, the collection's suspicious_ip_find_failures > 4) and times until
  the address is in each set. Median and p95 over ``--trials``; target: median <= 2 s and no slower than fail2ban;
* CPU: the event source alone (its own process, default interval and cpu_share) while a writer appends 1,000 auth.log
  lines a second (2 % failures) for ``--seconds``; target < 5 % of one core. Its scan cadence (the pause the
  cpu_share imposes) is printed too: it is what a flood costs in latency.

Needs root (network namespaces), nftables, fail2ban, Java 17 and ansible-rulebook (make deps / requirements-dev.txt).
"""

from __future__ import print_function

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _common import ROOT, verdict

from tests.harness.eda import ALLOWED_NET, MGMT_NET, RULEBOOK, Namespace, Rulebook, failed_line, syslog_line, write_setup  # noqa: E402
from tests.harness.paths import python_interpreter  # noqa: E402

SOURCE = os.path.join(ROOT, 'extensions', 'eda', 'plugins', 'event_source', 'auth_log.py')

F2B_ACTION = '''[Definition]
actionstart = %(ns)s nft add table inet f2b_bench
              %(ns)s nft add set inet f2b_bench banned '{ type ipv4_addr; }'
actionstop = %(ns)s nft delete table inet f2b_bench
actioncheck =
actionban = %(ns)s nft add element inet f2b_bench banned '{ <ip> }'
actionunban = %(ns)s nft delete element inet f2b_bench banned '{ <ip> }'
'''
F2B_JAIL = '''[DEFAULT]
backend = polling
[sshd]
enabled = true
filter = sshd
logpath = %(log)s
maxretry = 5
findtime = 10m
bantime = 10m
action = bench-netns
'''


def percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100.0 * (len(ordered) - 1))))]


def in_set(ns, table, set_name, address):
    result = subprocess.run(ns.prefix + ['nft', 'list', 'set', 'inet', table, set_name], capture_output=True,
                            text=True, check=False)
    return result.returncode == 0 and address in result.stdout


def start_fail2ban(work, ns, log):
    conf = os.path.join(work, 'fail2ban')
    shutil.copytree('/etc/fail2ban', conf)
    for name in os.listdir(os.path.join(conf, 'jail.d')):
        os.unlink(os.path.join(conf, 'jail.d', name))     # Debian's defaults-debian.conf enables sshd on auth.log
    with open(os.path.join(conf, 'action.d', 'bench-netns.conf'), 'w') as handle:
        handle.write(F2B_ACTION % {'ns': ' '.join(ns.prefix)})
    with open(os.path.join(conf, 'jail.local'), 'w') as handle:
        handle.write(F2B_JAIL % {'log': log})
    with open(os.path.join(conf, 'fail2ban.local'), 'w') as handle:
        handle.write('[Definition]\ndbfile = :memory:\n')
    command = ['fail2ban-server', '-f', '-x', '-c', conf, '-s', os.path.join(work, 'f2b.sock'),
               '-p', os.path.join(work, 'f2b.pid'), '--logtarget', os.path.join(work, 'f2b.log')]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        if subprocess.run(ns.prefix + ['nft', 'list', 'set', 'inet', 'f2b_bench', 'banned'], capture_output=True,
                          check=False).returncode == 0:
            return process
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError('fail2ban did not start: %s' % open(os.path.join(work, 'f2b.log')).read()[-2000:])


RUN_MODULE_RULEBOOK = '''---
- name: Block with run_module (benchmark only)
  hosts: all
  sources:
    - name: auth logs
      autopilotcx.maintenance.auth_log:
        paths: "{{ auth_log_paths }}"
        state_file: "{{ auth_log_state_file }}"
        allow_list: "{{ auth_log_allow_list }}"
        utc: true
        interval: 0.1
  rules:
    - name: Block the address
      condition: event.autopilotcx_log_scan.address is defined
      throttle:
        once_within: 10 minutes
        group_by_attributes:
          - event.autopilotcx_log_scan.address
      action:
        run_module:
          name: autopilotcx.maintenance.nft_block
          module_args:
            addresses: ["{{ event.autopilotcx_log_scan.address }}"]
            timeout: 600
            management_networks: %(mgmt)s
            allow: %(allow)s
            command_prefix: %(prefix)s
'''


def latency(args, work):
    ns = Namespace().create()
    log = os.path.join(work, 'auth.log')
    open(log, 'w').close()
    inventory, variables = write_setup(work, log, ns, None, source_block=args.path == 'source')
    rulebook_name = RULEBOOK
    if args.path == 'run_module':
        rulebook_name = os.path.join(work, 'run_module.yml')
        with open(rulebook_name, 'w') as handle:
            handle.write(RUN_MODULE_RULEBOOK % {'mgmt': json.dumps([MGMT_NET]), 'allow': json.dumps([ALLOWED_NET]),
                                                'prefix': json.dumps(ns.prefix)})
    rulebook = Rulebook(inventory, variables, os.path.join(work, 'rulebook.log'), rulebook=rulebook_name).start()
    fail2ban = None
    ours, theirs = [], []
    try:
        fail2ban = start_fail2ban(work, ns, log)
        rulebook.wait_ready()
        time.sleep(2)
        for trial in range(args.trials):
            address = '203.0.113.%d' % (trial + 1)
            with open(log, 'a') as handle:
                for n in range(4):
                    handle.write(failed_line(address, 10000 + trial * 10 + n))
                handle.flush()
                time.sleep(1.0)                 # both have read the 4 lines: the 5th alone crosses the threshold
                handle.write(failed_line(address, 10000 + trial * 10 + 4))
                handle.flush()
                written = time.time()
            done = {}
            while len(done) < 2 and time.time() - written < 60:
                if 'ours' not in done and address in ns.blocked():
                    done['ours'] = time.time() - written
                if 'theirs' not in done and in_set(ns, 'f2b_bench', 'banned', address):
                    done['theirs'] = time.time() - written
                if rulebook.gone():
                    raise RuntimeError('ansible-rulebook stopped: %s' % rulebook.log()[-3000:])
                time.sleep(0.01)
            ours.append(done.get('ours', float('inf')))
            theirs.append(done.get('theirs', float('inf')))
            print('  trial %2d: rulebook %.2f s, fail2ban %.2f s' % (trial + 1, ours[-1], theirs[-1]), flush=True)
            time.sleep(1.0)
    finally:
        rulebook.stop()
        if fail2ban is not None:
            fail2ban.terminate()
            try:
                fail2ban.wait(timeout=15)
            except subprocess.TimeoutExpired:
                fail2ban.kill()
                fail2ban.wait()
        ns.destroy()
    return ours, theirs


def cpu(args, work):
    log = os.path.join(work, 'steady.log')
    open(log, 'w').close()
    state = os.path.join(work, 'steady-state.json')
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, '.tmp', 'collections'))
    source = subprocess.Popen([python_interpreter(), SOURCE, log, state], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    rnd = random.Random(19)
    ticks = os.sysconf('SC_CLK_TCK')

    def used():
        with open('/proc/%d/stat' % source.pid) as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / float(ticks)

    try:
        time.sleep(2)
        start_cpu, start = used(), time.time()
        written = 0
        with open(log, 'a') as handle:
            while time.time() - start < args.seconds:
                batch = []
                for dummy in range(100):            # 100 lines every 0.1 s
                    if rnd.random() < 0.02:
                        batch.append(failed_line('198.51.100.%d' % rnd.randrange(1, 250), 20000 + written))
                    else:
                        batch.append(syslog_line(time.time(), 'Accepted publickey for deploy from 10.0.%d.%d port 50000 ssh2'
                                                 % (rnd.randrange(256), rnd.randrange(1, 255)), 20000 + written))
                    written += 1
                handle.write(''.join(batch))
                handle.flush()
                time.sleep(max(0.0, start + written / 1000.0 - time.time()))
        elapsed = time.time() - start
        share = (used() - start_cpu) / elapsed
    finally:
        source.terminate()
        source.wait()
    return share, written / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--trials', type=int, default=20)
    parser.add_argument('--path', choices=['source', 'playbook', 'run_module'], default='source',
                        help='who blocks: the event source in-process (the shipped rulebook), the playbook, run_module')
    parser.add_argument('--seconds', type=int, default=30, help='length of the steady 1,000 lines/s run')
    parser.add_argument('--keep', action='store_true', help='keep the work directory (rulebook and fail2ban logs)')
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which('fail2ban-server') is None or shutil.which('nft') is None:
        print('bench_realtime: needs root, nftables and fail2ban (tests/system-packages.txt): SKIPPED')
        return 0
    work = tempfile.mkdtemp(prefix='bench-realtime-')
    try:
        print('load average before: %.2f %.2f %.2f on %d CPUs' % (os.getloadavg() + (os.cpu_count(),)), flush=True)
        ours, theirs = latency(args, work)
        ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
        print('line crossing the threshold -> address in the nft set, %d trials: rulebook (block by %s) median %.2f s, '
              'p95 %.2f s; fail2ban (polling) median %.2f s, p95 %.2f s'
              % (len(ours), args.path, ours_median, percentile(ours, 95), theirs_median, percentile(theirs, 95)))
        ok = verdict('rulebook median latency', '%.2f s' % ours_median, '%.2fx fail2ban' % (ours_median / theirs_median),
                     'median <= 2 s and no slower than fail2ban', ours_median <= 2.0 and ours_median <= theirs_median)
        share, rate = cpu(args, work)
        ok = verdict('event source CPU at a steady %.0f lines/s' % rate, '%.1f %% of one core' % (share * 100),
                     '%.1f %%' % (share * 100), '< 5 %', share < 0.05) and ok
        print('load average after: %.2f %.2f %.2f' % os.getloadavg())
        return 0 if ok else 1
    finally:
        if args.keep:
            print('work directory kept: %s' % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
