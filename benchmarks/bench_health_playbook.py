"""The health playbook on N local-connection hosts against a playbook running only ansible.builtin.ping.

Both run on the same generated inventory with the same forks, one after the other, in this run.
Target: the health playbook takes at most 2x ping's wall time (its checks run in few module calls per host).

Until playbooks/health_check.yml lands, a stand-in of the same shape is measured (benchmarks/playbooks/
health_standin.yml) and the output says so. With the real playbook, pass its variables with --extra-vars @file
(for example the demo environment's .tmp/demo/env.yml).

Usage: bench_health_playbook.py [--hosts 200] [--forks 20] [--quick] [--playbook PATH] [--extra-vars @FILE]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.harness.ansible_run import ansible_bin, ansible_env  # noqa: E402
from tests.harness.paths import python_interpreter  # noqa: E402

TARGET = 2.0


def write_inventory(directory, hosts):
    path = os.path.join(directory, 'hosts.ini')
    with open(path, 'w') as handle:
        handle.write('[bench]\n')
        for index in range(hosts):
            handle.write('bench-%03d\n' % index)
        handle.write('\n[bench:vars]\nansible_connection=local\nansible_python_interpreter=%s\n' % python_interpreter())
    demo_vars = os.path.join(ROOT, 'inventories', 'demo', 'group_vars')
    if os.path.isdir(demo_vars):
        os.symlink(demo_vars, os.path.join(directory, 'group_vars'))
    return path


def timed_run(playbook, inventory, forks, outcome_log, extra_args):
    command = [ansible_bin('ansible-playbook'), playbook, '-i', inventory, '-f', str(forks)] + extra_args
    env = ansible_env(outcome_log, {'AUTOPILOTCX_OUTCOME_SUMMARY': 'false'})
    started = time.monotonic()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit('%s failed (rc=%d)' % (os.path.basename(playbook), proc.returncode))
    return elapsed


def module_calls(outcome_log):
    with open(outcome_log) as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    tasks = [r for r in records if r.get('kind') == 'task']
    hosts = {r['host'] for r in tasks}
    return len(tasks) / max(len(hosts), 1), sum(len(r.get('checks') or []) for r in tasks) / max(len(hosts), 1)


def task_shares(outcome_log):
    """(task, action, share of the summed per-host task durations) for each task, largest first."""
    totals = {}
    with open(outcome_log) as handle:
        for line in handle:
            record = json.loads(line)
            if record.get('kind') == 'task' and record.get('duration') is not None:
                key = (record['task'], record['action'])
                totals[key] = totals.get(key, 0.0) + record['duration']
    whole = sum(totals.values()) or 1.0
    return sorted(((task, action, value / whole) for (task, action), value in totals.items()), key=lambda t: -t[2])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--hosts', type=int, default=200)
    parser.add_argument('--forks', type=int, default=20)
    parser.add_argument('--quick', action='store_true', help='50 hosts')
    parser.add_argument('--playbook', help='health playbook (default: playbooks/health_check.yml, else the stand-in)')
    parser.add_argument('--extra-vars', action='append', default=[], help='passed to the health playbook run')
    parser.add_argument('--lean', action='store_true',
                        help='also measure benchmarks/playbooks/health_lean.yml (same checks, no per-host bookkeeping tasks)')
    args = parser.parse_args()
    hosts = 50 if args.quick else args.hosts
    real = os.path.join(ROOT, 'playbooks', 'health_check.yml')
    standin = os.path.join(ROOT, 'benchmarks', 'playbooks', 'health_standin.yml')
    playbook = args.playbook or (real if os.path.exists(real) else standin)
    label = os.path.relpath(playbook, ROOT)
    if playbook.endswith('health_standin.yml'):
        label += ' (stand-in: playbooks/health_check.yml has not landed)'
    extra = []
    for item in args.extra_vars:
        extra += ['-e', item]
    with tempfile.TemporaryDirectory(prefix='bench-health-') as tmp:
        inventory = write_inventory(tmp, hosts)
        ping_log, health_log = os.path.join(tmp, 'ping.jsonl'), os.path.join(tmp, 'health.jsonl')
        ping = timed_run(os.path.join(ROOT, 'benchmarks', 'playbooks', 'ping.yml'), inventory, args.forks, ping_log, [])
        health = timed_run(playbook, inventory, args.forks, health_log, extra)
        calls, checks = module_calls(health_log)
        shares = task_shares(health_log)
        lean = None
        if args.lean:
            lean_log = os.path.join(tmp, 'lean.jsonl')
            lean = timed_run(os.path.join(ROOT, 'benchmarks', 'playbooks', 'health_lean.yml'), inventory, args.forks,
                             lean_log, [])
            lean_calls, _checks = module_calls(lean_log)
    ratio = health / ping
    verdict = 'PASS' if ratio <= TARGET else 'FAIL'
    print('health playbook %s' % label)
    print('  %d local hosts, forks %d: %.1f task results and %.1f checks per host' % (hosts, args.forks, calls, checks))
    print('  per host: health %.0f ms, ping %.0f ms (wall time / hosts)' % (health / hosts * 1000, ping / hosts * 1000))
    print('  where the health run spends its per-host task time:')
    for task, action, share in shares:
        print('    %5.1f %%  %s (%s)' % (share * 100, task, action))
    if lean is not None:
        print('  for comparison, benchmarks/playbooks/health_lean.yml (%.1f task results per host, same checks): '
              '%.1f s -> %.2fx ping' % (lean_calls, lean, lean / ping))
    print('health playbook %d hosts: %.1f s vs ping %.1f s -> %.2fx ping (target <= %.1fx): %s'
          % (hosts, health, ping, ratio, TARGET, verdict))
    return 0 if verdict == 'PASS' else 1


if __name__ == '__main__':
    sys.exit(main())
