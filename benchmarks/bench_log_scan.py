#!/usr/bin/env python
"""Benchmark log_scan against ``LC_ALL=C grep -c 'Failed password'`` on a synthetic sshd auth.log.

* full scan: log_scan (every failure form, per-minute and per-IP counts, cursor) vs grep on the same file,
  page cache warm for both, best of ``--repeat`` runs each; target >= 0.5x grep's throughput. The headline is
  log_scan's defaults (one process, GNU grep as its prefilter, so two CPUs busy); the CPU seconds of both sides
  and the figures with workers and without the prefilter (Python alone) are printed too;
* incremental: after the full scan, append 1 MiB and re-run with the saved cursor; the fixed part (a re-run
  with nothing new) and the part proportional to the new bytes are printed separately; target: fixed <= 0.1 s.

The log is written once under .tmp/bench (reused by later runs; ``--delete`` removes it afterwards).
"""

from __future__ import print_function

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests.harness.paths import ensure_collection_link  # noqa: E402

ensure_collection_link()

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.log_scan import scan  # noqa: E402
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.sources import available_cpus  # noqa: E402

MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')
USERS = ('deploy', 'backup', 'alice', 'bob', 'ci', 'monitoring')
BAD_USERS = ('root', 'admin', 'oracle', 'test', 'ubuntu', 'postgres', 'git', 'user', 'guest', 'ftp')
FINGERPRINT = 'SHA256:3Jq8pQ0fJZx1mR4cKVbN9aLwT2sYhE7uGdXo5iPzC6k'
THRESHOLDS = {
    'failed_logins_per_minute': {'critical': 10, 'unit': '/min', 'priority': 'high'},
    'suspicious_ip_failures': {'warning': 20, 'priority': 'high'},
}


def stamp(epoch):
    tm = time.localtime(epoch)
    return '%s %2d %02d:%02d:%02d' % (MONTHS[tm.tm_mon - 1], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)


def lines(rnd, start, count, failure_share=0.02):
    """``count`` auth.log lines from ``start`` (epoch), ~``failure_share`` of them "Failed password"."""
    out = []
    now = float(start)
    pid = 20000 + rnd.randrange(10000)
    for dummy in range(count):
        now += rnd.random() * 0.02
        pid = pid + 1 if pid < 4000000 else 20000
        head = '%s web-01 ' % stamp(now)
        r = rnd.random()
        port = rnd.randrange(1024, 65535)
        if r < failure_share:
            ip = '203.0.113.%d' % rnd.randrange(1, 120)
            if rnd.random() < 0.3:
                body = 'sshd[%d]: Failed password for invalid user %s from %s port %d ssh2' % (pid, rnd.choice(BAD_USERS), ip, port)
            else:
                body = 'sshd[%d]: Failed password for %s from %s port %d ssh2' % (pid, rnd.choice(BAD_USERS), ip, port)
        elif r < failure_share * 1.6:
            ip = '198.51.100.%d' % rnd.randrange(1, 120)
            user = rnd.choice(BAD_USERS)
            kind = rnd.randrange(5)
            if kind == 0:
                body = 'sshd[%d]: Invalid user %s from %s port %d' % (pid, user, ip, port)
            elif kind == 1:
                body = ('sshd[%d]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= '
                        'rhost=%s  user=%s' % (pid, ip, user))
            elif kind == 2:
                body = 'sshd[%d]: Connection closed by authenticating user %s %s port %d [preauth]' % (pid, user, ip, port)
            elif kind == 3:
                body = 'sshd[%d]: Received disconnect from %s port %d:11: Bye Bye [preauth]' % (pid, ip, port)
            else:
                body = ('sshd[%d]: error: maximum authentication attempts exceeded for %s from %s port %d ssh2 [preauth]'
                        % (pid, user, ip, port))
        else:
            user = rnd.choice(USERS)
            ip = '10.%d.%d.%d' % (rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255))
            kind = rnd.randrange(12)
            if kind == 0:
                body = 'sshd[%d]: Accepted publickey for %s from %s port %d ssh2: ED25519 %s' % (pid, user, ip, port, FINGERPRINT)
            elif kind == 1:
                body = 'sshd[%d]: pam_unix(sshd:session): session opened for user %s(uid=1000) by (uid=0)' % (pid, user)
            elif kind == 2:
                body = 'systemd-logind[612]: New session %d of user %s.' % (pid, user)
            elif kind == 3:
                body = 'sshd[%d]: Received disconnect from %s port %d:11: disconnected by user' % (pid, ip, port)
            elif kind == 4:
                body = 'sshd[%d]: Disconnected from user %s %s port %d' % (pid, user, ip, port)
            elif kind == 5:
                body = 'sshd[%d]: pam_unix(sshd:session): session closed for user %s' % (pid, user)
            elif kind == 6:
                body = 'systemd-logind[612]: Session %d logged out. Waiting for processes to exit.' % pid
            elif kind == 7:
                body = 'CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)' % pid
            elif kind == 8:
                body = ('sudo:   %s : TTY=pts/0 ; PWD=/home/%s ; USER=root ; COMMAND=/usr/bin/systemctl status nginx'
                        % (user, user))
            elif kind == 9:
                body = 'CRON[%d]: pam_unix(cron:session): session closed for user root' % pid
            elif kind == 10:
                body = 'sshd[%d]: Accepted password for %s from %s port %d ssh2' % (pid, user, ip, port)
            else:
                body = 'systemd-logind[612]: Removed session %d.' % pid
        out.append(head + body + '\n')
    return ''.join(out).encode('ascii'), now


def generate(path, size, seed=4):
    """Write ``size`` bytes (rounded up to whole lines) of auth.log; returns the time of the last line."""
    rnd = random.Random(seed)
    lines_per_block = 20000
    estimated = size // 100
    now = time.time() - estimated * 0.01 - 60
    written = 0
    tmp = path + '.partial'
    with open(tmp, 'wb') as handle:
        while written < size:
            block, now = lines(rnd, now, lines_per_block)
            handle.write(block)
            written += len(block)
    os.rename(tmp, path)


def last_stamp(path):
    with open(path, 'rb') as handle:
        handle.seek(max(0, os.path.getsize(path) - 4096))
        tail = handle.read().splitlines()[-1].decode()
    tm = time.strptime('%d %s' % (time.localtime().tm_year, tail[:15]), '%Y %b %d %H:%M:%S')
    return time.mktime(tm)


def first_stamp(path):
    with open(path, 'rb') as handle:
        head = handle.readline().decode()
    tm = time.strptime('%d %s' % (time.localtime().tm_year, head[:15]), '%Y %b %d %H:%M:%S')
    return time.mktime(tm)


def grep_seconds(path, pattern_args):
    """Wall-clock seconds, output, and CPU seconds (user + system) of one grep run."""
    env = dict(os.environ, LC_ALL='C')
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(['grep'] + pattern_args + [path], env=env, stdout=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, result.stdout.decode().strip(), cpu


def scan_seconds(path, state, now, workers=1, history=None, prefilter='auto'):
    """One scan as the module runs it; with ``history`` the window covers the whole file, so every event is counted
    per minute and per IP.

    Returns wall-clock seconds, the output, and CPU seconds (this process and its worker processes)."""
    params = {'sources': [{'type': 'auth', 'path': path}], 'state_file': state, 'thresholds': THRESHOLDS, 'now': now,
              'workers': workers, 'history_minutes': history or 60, 'window_minutes': history or 10,
              'prefilter': prefilter}
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    output = scan(params)       # what the module runs: read, judge, compare and write the state
    elapsed = time.perf_counter() - start
    own2 = resource.getrusage(resource.RUSAGE_SELF)
    kids2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(b.ru_utime - a.ru_utime + b.ru_stime - a.ru_stime for a, b in ((own, own2), (kids, kids2)))
    return elapsed, output, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', type=int, default=1024, help='size of the synthetic auth.log in MiB (default 1024)')
    parser.add_argument('--quick', action='store_true', help='256 MiB instead of the --size')
    parser.add_argument('--repeat', type=int, default=3, help='runs of each side; the best counts (default 3)')
    parser.add_argument('--dir', default=os.path.join(ROOT, '.tmp', 'bench'), help='where the log is kept')
    parser.add_argument('--delete', action='store_true', help='delete the generated log afterwards')
    args = parser.parse_args()
    size_mib = 256 if args.quick else args.size
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, 'auth-%dM.log' % size_mib)
    if not os.path.exists(path) or os.path.getsize(path) < size_mib << 20:
        print('generating %s (%d MiB) ...' % (path, size_mib), flush=True)
        generate(path, size_mib << 20)
    size = os.path.getsize(path)
    now = last_stamp(path) + 1
    history = int((now - first_stamp(path)) // 60) + 2     # the whole file: every event counted per minute and per IP
    subprocess.run(['cat', path], stdout=subprocess.DEVNULL, check=True)   # warm the page cache for both sides
    failed_lines = None
    grep_best = None
    scan_best = None
    parallel_best = None
    plain_best = None
    output = None
    workdir = tempfile.mkdtemp(prefix='bench-log-scan-', dir=args.dir)
    state = os.path.join(workdir, 'state.json')
    try:
        grep_cpu = scan_cpu = parallel_cpu = plain_cpu = None
        for dummy in range(max(1, args.repeat)):
            seconds, failed_lines, cpu = grep_seconds(path, ['-c', 'Failed password'])
            grep_best = seconds if grep_best is None else min(grep_best, seconds)
            grep_cpu = cpu if grep_cpu is None else min(grep_cpu, cpu)
            if os.path.exists(state):
                os.unlink(state)
            seconds, output, cpu = scan_seconds(path, state, now, history=history)
            scan_best = seconds if scan_best is None else min(scan_best, seconds)
            scan_cpu = cpu if scan_cpu is None else min(scan_cpu, cpu)
            os.unlink(state)
            seconds, parallel_output, cpu = scan_seconds(path, state, now, workers=0, history=history)
            parallel_best = seconds if parallel_best is None else min(parallel_best, seconds)
            parallel_cpu = cpu if parallel_cpu is None else min(parallel_cpu, cpu)
            assert parallel_output['failed_logins'] == output['failed_logins'], 'serial and parallel scans disagree'
            os.unlink(state)
            seconds, plain_output, cpu = scan_seconds(path, state, now, history=history, prefilter='never')
            plain_best = seconds if plain_best is None else min(plain_best, seconds)
            plain_cpu = cpu if plain_cpu is None else min(plain_cpu, cpu)
            assert plain_output['failed_logins'] == output['failed_logins'], 'grep and Python prefilters disagree'
            assert plain_output['top_ips'] == output['top_ips'], 'grep and Python prefilters disagree'
        multi, dummy, multi_cpu = grep_seconds(path, ['-c', '-F', '-e', 'Failed ', '-e', 'auth'])
        mib = size / float(1 << 20)
        ratio = grep_best / scan_best
        by_kind = output['failed_logins']['by_kind']
        print('log file: %.0f MiB, %s "Failed password" lines (%.1f %% of lines); log_scan counted %d failed logins '
              'over %d minutes (top %d IPs listed), lines per kind: %s'
              % (mib, failed_lines, 100.0 * int(failed_lines) / max(1, size // 100), output['failed_logins']['total'],
                 history, len(output['top_ips']), by_kind))
        workers = parallel_output['sources'][0].get('workers', 1)
        prefilter = ('GNU grep in a second process' if output['sources'][0].get('prefilter') == 'grep'
                     else 'none: no GNU grep here')
        print('log_scan full scan %.0f MiB (the defaults: workers 1, prefilter %s): %.2f s (%.0f MiB/s) vs '
              'grep -c "Failed password" %.2f s (%.0f MiB/s) -> %.2fx grep throughput (target >= 0.5x): %s'
              % (mib, prefilter, scan_best, mib / scan_best, grep_best, mib / grep_best, ratio,
                 'PASS' if ratio >= 0.5 else 'FAIL'))
        print('  with workers=0 (%d worker processes on %d CPUs): %.2f s (%.0f MiB/s) -> %.2fx grep'
              % (workers, available_cpus(), parallel_best, mib / parallel_best, grep_best / parallel_best))
        print('  prefilter=never (Python alone, one process): %.2f s (%.0f MiB/s) -> %.2fx grep'
              % (plain_best, mib / plain_best, grep_best / plain_best))
        print('  CPU seconds (grep\'s child included; less sensitive to a shared machine): grep %.2f, log_scan %.2f '
              '(%.2fx), with workers %.2f (%.2fx), Python alone %.2f (%.2fx)'
              % (grep_cpu, scan_cpu, grep_cpu / scan_cpu, parallel_cpu, grep_cpu / parallel_cpu, plain_cpu,
                 grep_cpu / plain_cpu))
        print('  for reference: grep -c -F with log_scan\'s two prefilter needles on the same file: %.2f s '
              '(%.2fx of single-pattern grep), CPU %.2f s' % (multi, grep_best / multi, multi_cpu))

        # incremental: nothing new, then 1 MiB new
        fixed = min(scan_seconds(path, state, now)[0] for dummy in range(3))   # also prunes to the default history
        rnd = random.Random(99)
        block = b''
        clock = now
        while len(block) < 1 << 20:
            more, clock = lines(rnd, clock, 2000)
            block += more
        block = block[:block.rfind(b'\n', 0, 1 << 20) + 1]
        with open(path, 'ab') as handle:
            handle.write(block)
        try:
            incremental, inc_output, dummy = scan_seconds(path, state, clock + 1)
        finally:
            os.truncate(path, size)
        proportional = max(0.0, incremental - fixed)
        read = inc_output['sources'][0]['bytes_read']
        print('incremental re-run after appending %.2f MiB: %.3f s = fixed %.3f s (re-run with nothing new; target <= 0.1 s) '
              '+ %.3f s for the new bytes (%.0f MiB/s; full-scan rate %.0f MiB/s); read %d bytes: %s'
              % (len(block) / float(1 << 20), incremental, fixed, proportional,
                 (len(block) / float(1 << 20)) / max(proportional, 1e-6), mib / scan_best, read,
                 'PASS' if fixed <= 0.1 and read == len(block) else 'FAIL'))
    finally:
        for name in os.listdir(workdir):
            os.unlink(os.path.join(workdir, name))
        os.rmdir(workdir)
        if args.delete:
            os.unlink(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
