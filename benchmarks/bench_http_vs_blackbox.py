"""Benchmark: the http_check task against Debian's prometheus-blackbox-exporter on the same 500 endpoints.

Both probe the same 500 URLs of one local HTTP server, which runs in its own process so that its CPU is counted for
neither side, in the same run:

* blackbox_exporter (``prometheus-blackbox-exporter``, an ``http_2xx`` module) driven by a 16-way client, as
  Prometheus would scrape it: wall time from the first probe to the last answer, CPU-seconds of the exporter plus the
  client.
* one ``http_check`` task per variant and round in one ansible-playbook run (after a warm-up task), 16 workers: ``detail: compact`` (kept-alive
  connections, the default), ``detail: compact`` with ``fresh_connections`` (a new TCP connection per endpoint, as
  blackbox does), and ``detail: full`` (every check and per-endpoint record). Task wall times come from the outcome
  callback's records. CPU-seconds per task are those of the module's own process (the target-side Python that probes,
  judges and serialises the result), measured by an interpreter wrapper that records each module run's rusage; the
  controller's share of a task (receiving and processing the result) is in the whole ansible-playbook tree's figure,
  printed beside it with start-up included. Each side is measured twice and its best time kept (the machine is
  shared).

Target: the compact task at least as fast as blackbox (ratio >= 1). The figures are printed whatever they are.

    .venv/bin/python benchmarks/bench_http_vs_blackbox.py [--endpoints N]
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.harness.ansible_run import read_outcomes, run_playbook  # noqa: E402
from tests.harness.net import free_port, wait_port  # noqa: E402
from tests.harness.paths import ensure_collection_link  # noqa: E402
from tests.harness.prometheus_stack import binary  # noqa: E402

ENDPOINTS = 500
CLIENTS = 16
TARGET_RATIO = 1.0

SERVER = """
import sys, time
sys.path.insert(0, %r)
from tests.harness.http import HttpServer
server = HttpServer(port=%d).start()
print('ready', flush=True)
sys.stdin.read()
server.stop()
"""

# ansible_python_interpreter for the bench host: runs the module with the venv's Python and appends the module
# process's CPU-seconds (user + system, children included) to APCX_BENCH_CPU_LOG, one line per module run.
WRAPPER = """#!%(python)s
import os, resource, subprocess, sys
code = subprocess.call([%(python)r] + sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(os.environ['APCX_BENCH_CPU_LOG'], 'a') as handle:
    handle.write('%%.4f\\n' %% (usage.ru_utime + usage.ru_stime))
sys.exit(code)
"""

BLACKBOX_CONFIG = """modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [200]
"""

VARIANTS = (
    ('compact', 'detail: compact'),
    ('compact fresh', 'detail: compact\n        fresh_connections: true'),
    ('full', 'detail: full'),
)
ROUNDS = 2

TASK = """
    - name: http_check %(name)s %(round)d
      autopilotcx.maintenance.http_check:
        endpoints: "{{ endpoints }}"
        workers: 16
        %(options)s
        fail_on: critical
        thresholds: {http_response_time: {warning: 2, unit: s}}
      register: result

    - name: Every endpoint answered (%(name)s %(round)d)
      ansible.builtin.assert:
        that: (result.endpoints_ok if 'endpoints_ok' in result else (result.endpoints | selectattr('ok') | list | length)) == endpoints | length
"""

PLAYBOOK_HEAD = """---
- name: http_check variants
  hosts: bench
  gather_facts: false
  tasks:
    - name: Endpoints as inventory data would give them
      ansible.builtin.set_fact:
        endpoints: "{{ urls | map('community.general.dict_kv', 'url') | list }}"

    - name: Warm-up (the first module run builds its payload; not measured)
      autopilotcx.maintenance.http_check:
        endpoints: "{{ endpoints[:1] }}"
"""


def playbook():
    text = PLAYBOOK_HEAD
    for round_no in range(1, ROUNDS + 1):
        for name, options in VARIANTS:
            text += TASK % {'name': name, 'round': round_no, 'options': options}
    return text


def proc_cpu(pid):
    """utime + stime of a process, in seconds (/proc/PID/stat)."""
    with open('/proc/%d/stat' % pid) as handle:
        fields = handle.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf('SC_CLK_TCK'))


def self_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_blackbox(workdir, urls):
    path = binary('blackbox')
    if path is None:
        raise SystemExit('prometheus-blackbox-exporter is not installed (tests/system-packages.txt)')
    config = os.path.join(workdir, 'blackbox.yml')
    with open(config, 'w') as handle:
        handle.write(BLACKBOX_CONFIG)
    port = free_port()
    log = open(os.path.join(workdir, 'blackbox.log'), 'wb')
    proc = subprocess.Popen([path, '--config.file=%s' % config, '--web.listen-address=127.0.0.1:%d' % port, '--log.level=warn'],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        base = 'http://127.0.0.1:%d/probe?module=http_2xx&target=' % port

        def probe(url):
            with urllib.request.urlopen(base + urllib.parse.quote(url, safe=''), timeout=30) as response:
                text = response.read().decode()
            phases = {}
            success = False
            for line in text.splitlines():
                if line.startswith('probe_success '):
                    success = line.split()[1] == '1'
                elif line.startswith('probe_http_duration_seconds{phase="'):
                    phases[line.split('"')[1]] = float(line.split()[-1])
            return success, phases

        probe(urls[0])  # warm: the exporter's first request pays its own start-up
        walls, cpus = [], []
        for _round in range(ROUNDS):
            cpu_before, own_before = proc_cpu(proc.pid), self_cpu()
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
                results = list(pool.map(probe, urls))
            walls.append(time.perf_counter() - started)
            cpus.append(proc_cpu(proc.pid) - cpu_before + self_cpu() - own_before)
        wall, cpu = min(walls), min(cpus)
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
    failed = sum(1 for success, _phases in results if not success)
    if failed:
        raise SystemExit('blackbox_exporter: %d probe(s) failed' % failed)
    return wall, cpu, results


def task_durations(log):
    """The best of the rounds of each variant (the machine is shared: the minimum is the least disturbed)."""
    best = {}
    for record in read_outcomes(log):
        for name, _options in VARIANTS:
            for round_no in range(1, ROUNDS + 1):
                if record.get('task') == 'http_check %s %d' % (name, round_no):
                    best[name] = min(best.get(name, record['duration']), record['duration'])
    return best


def module_cpu(log):
    """The best CPU-seconds of each variant's module runs (the wrapper's lines: warm-up first, then the tasks in order)."""
    with open(log) as handle:
        values = [float(line) for line in handle if line.strip()][1:]
    order = [name for _round in range(ROUNDS) for name, _options in VARIANTS]
    if len(values) != len(order):
        raise SystemExit('the interpreter wrapper saw %d module runs, expected %d' % (len(values), len(order)))
    best = {}
    for name, value in zip(order, values):
        best[name] = min(best.get(name, value), value)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--endpoints', type=int, default=ENDPOINTS)
    args = parser.parse_args()
    ensure_collection_link()
    workdir = tempfile.mkdtemp(prefix='apcx-bench-bb-')
    with open(os.path.join(workdir, 'inventory'), 'w') as handle:
        handle.write('[bench]\nbench-control ansible_connection=local ansible_python_interpreter=%s\n'
                     % os.path.join(workdir, 'python-cpu'))
    with open(os.path.join(workdir, 'python-cpu'), 'w') as handle:
        handle.write(WRAPPER % {'python': sys.executable})
    os.chmod(os.path.join(workdir, 'python-cpu'), 0o755)
    cpu_log = os.path.join(workdir, 'module-cpu.log')
    port = free_port()
    server = subprocess.Popen([sys.executable, '-c', SERVER % (ROOT, port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        server.stdout.readline()
        wait_port(port)
        urls = ['http://127.0.0.1:%d/health?n=%d' % (port, i) for i in range(args.endpoints)]

        bb_wall, bb_cpu, bb_results = run_blackbox(workdir, urls)

        path = os.path.join(workdir, 'http_check.yml')
        with open(path, 'w') as handle:
            handle.write(playbook())
        log = os.path.join(workdir, 'outcomes.jsonl')
        cpu_before = children_cpu()
        started = time.monotonic()
        run = run_playbook(path, inventory=os.path.join(workdir, 'inventory'), extra_vars={'urls': urls}, outcome_log=log,
                           env={'APCX_BENCH_CPU_LOG': cpu_log}, timeout=1800)
        run_wall = time.monotonic() - started
        run_cpu = children_cpu() - cpu_before
        if run.returncode != 0:
            sys.stdout.write(run.stdout[-3000:] + run.stderr[-2000:])
            raise SystemExit('the http_check playbook failed (exit %d)' % run.returncode)
        tasks = task_durations(log)
        cpu = module_cpu(cpu_log)
    finally:
        server.stdin.close()
        server.wait(15)
    shutil.rmtree(workdir, ignore_errors=True)

    compact, fresh, full = tasks['compact'], tasks['compact fresh'], tasks['full']
    ratio = bb_wall / compact
    passed = ratio >= TARGET_RATIO
    n = args.endpoints
    print('blackbox_exporter, %d-way client, %d endpoints: %.2f s wall, %.2f CPU-s (exporter + client; best of %d)'
          % (CLIENTS, n, bb_wall, bb_cpu, ROUNDS))
    print('http_check task, %d workers (best of %d): compact %.2f s, compact + fresh connections %.2f s, full detail %.2f s '
          '(ansible-playbook process tree for all %d tasks and its start-up: %.1f s wall, %.1f CPU-s)'
          % (16, ROUNDS, compact, fresh, full, ROUNDS * len(VARIANTS) + 2, run_wall, run_cpu))
    print('http_check compact vs blackbox_exporter: %.2f s vs %.2f s -> %.2fx (target >= %.1fx): %s'
          % (compact, bb_wall, ratio, TARGET_RATIO, 'PASS' if passed else 'FALLS SHORT'))
    print('  same connection model as blackbox (fresh): %.2fx; full detail: %.2fx' % (bb_wall / fresh, bb_wall / full))
    print('  CPU-seconds of the module process per task: compact %.2f, fresh %.2f, full %.2f; blackbox (exporter + '
          'client) %.2f -> CPU ratios %.2fx, %.2fx, %.2fx'
          % (cpu['compact'], cpu['compact fresh'], cpu['full'], bb_cpu,
             bb_cpu / cpu['compact'], bb_cpu / cpu['compact fresh'], bb_cpu / cpu['full']))
    medians = {}
    for phase in ('resolve', 'connect', 'tls', 'processing', 'transfer'):
        values = sorted(p.get(phase, 0.0) for _s, p in bb_results)
        medians[phase] = values[len(values) // 2]
    print('  blackbox median phases (s): %s' % ', '.join('%s %.5f' % item for item in medians.items()))
    summary = {'endpoints': n, 'blackbox_s': bb_wall, 'blackbox_cpu_s': bb_cpu, 'compact_s': compact, 'fresh_s': fresh, 'full_s': full,
               'playbook_wall_s': run_wall, 'playbook_cpu_s': run_cpu, 'ratio': ratio,
               'module_cpu_s': cpu}
    print('  json: %s' % json.dumps(summary, sort_keys=True))
    return 0 if passed else 1


if __name__ == '__main__':
    sys.exit(main())
