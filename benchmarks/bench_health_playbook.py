"""The health playbook on N local-connection hosts against a playbook running only ansible.builtin.ping.

Both run on the same generated inventory with the same forks, one after the other, in this run.
Target: the health playbook takes at most 2x ping's wall time (its checks run in few module calls per host).

The real playbooks/health_check.yml (service_health role) probes a real HTTPS server started here on loopback
(/health and the auth login + token flow of the test harness), trusted through a CA made for the run. Its default
scope is `play` (every play host's endpoints probed once); --scope host makes every host probe its own endpoints
(one http_check call per host, delegated to the control node) and is reported beside it. Before health_check.yml
existed, a stand-in of the same shape was measured (benchmarks/playbooks/health_standin.yml; --playbook selects it).

Usage: bench_health_playbook.py [--hosts 200] [--forks 20] [--quick] [--scope play|host|both] [--playbook PATH] [--lean]
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
from tests.harness.http import HttpServer  # noqa: E402
from tests.harness.paths import ensure_collection_link, python_interpreter  # noqa: E402
from tests.harness.pki import CertificateAuthority  # noqa: E402

ensure_collection_link()

TARGET = 2.0


def write_inventory(directory, hosts):
    path = os.path.join(directory, 'hosts.ini')
    with open(path, 'w') as handle:
        handle.write('[bench]\n')
        for index in range(hosts):
            handle.write('bench-%03d\n' % index)
        handle.write('\n[bench:vars]\nansible_connection=local\nansible_python_interpreter=%s\n' % python_interpreter())
    return path


def endpoint_vars(server, ca_path, scope):
    """service_health variables probing the harness server: the API health and the auth service flow."""
    return {
        'service_health_scope': scope,
        'service_health_ca_path': ca_path,
        'service_health_endpoints': [
            {'name': 'api health', 'url': server.url + '/health'},
            {'name': 'auth login', 'url': server.url + '/auth/login', 'method': 'POST',
             'body': {'username': 'monitor', 'password': '{secret}'}, 'secret': 'monitor-pw',
             'token_query': 'access_token'},
            {'name': 'auth token accepted', 'url': server.url + '/auth/me', 'use_token': 'token'},
        ],
    }


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
    parser.add_argument('--scope', choices=('play', 'host', 'both'), default='both',
                        help='service_health_scope of the real playbook (both: play is the verdict, host reported)')
    parser.add_argument('--lean', action='store_true',
                        help='also measure benchmarks/playbooks/health_lean.yml (same checks, no per-host bookkeeping tasks)')
    args = parser.parse_args()
    hosts = 50 if args.quick else args.hosts
    real = os.path.join(ROOT, 'playbooks', 'health_check.yml')
    standin = os.path.join(ROOT, 'benchmarks', 'playbooks', 'health_standin.yml')
    playbook = args.playbook or (real if os.path.exists(real) else standin)
    is_real = os.path.abspath(playbook) == real
    label = os.path.relpath(playbook, ROOT)
    if playbook == standin:
        label += ' (stand-in of the same shape)'
    scopes = (['play', 'host'] if args.scope == 'both' else [args.scope]) if is_real else [None]
    with tempfile.TemporaryDirectory(prefix='bench-health-') as tmp:
        ca = CertificateAuthority(directory=os.path.join(tmp, 'pki'))
        cert, key, _issued = ca.write_leaf('localhost', hostnames=('localhost', '127.0.0.1'))
        inventory = write_inventory(tmp, hosts)
        with HttpServer(tls=(cert, key)) as server:
            ping = timed_run(os.path.join(ROOT, 'benchmarks', 'playbooks', 'ping.yml'), inventory, args.forks,
                             os.path.join(tmp, 'ping.jsonl'), [])
            results = []
            for scope in scopes:
                log = os.path.join(tmp, 'health-%s.jsonl' % scope)
                extra = ['-e', json.dumps(endpoint_vars(server, ca.ca_path, scope))] if scope else []
                elapsed = timed_run(playbook, inventory, args.forks, log, extra)
                results.append((scope, elapsed, module_calls(log), task_shares(log)))
            requests = len(server.requests)
            lean = None
            if args.lean:
                lean_log = os.path.join(tmp, 'lean.jsonl')
                lean = timed_run(os.path.join(ROOT, 'benchmarks', 'playbooks', 'health_lean.yml'), inventory, args.forks,
                                 lean_log, [])
                lean_calls, _checks = module_calls(lean_log)
    print('health playbook %s' % label)
    print('  %d local hosts, forks %d, ping %.1f s (%.0f ms per host); %d HTTP requests served'
          % (hosts, args.forks, ping, ping / hosts * 1000, requests))
    passed = True
    for index, (scope, elapsed, (calls, checks), shares) in enumerate(results):
        ratio = elapsed / ping
        name = 'health playbook %d hosts%s' % (hosts, (' (scope %s)' % scope) if scope else '')
        print('  %s: %.1f task results and %.1f checks per host; where the per-host task time goes:'
              % (name, calls, checks))
        for task, action, share in shares[:6]:
            print('    %5.1f %%  %s (%s)' % (share * 100, task, action))
        if index == 0:
            passed = ratio <= TARGET
            print('%s: %.1f s vs ping %.1f s -> %.2fx ping (target <= %.1fx): %s'
                  % (name, elapsed, ping, ratio, TARGET, 'PASS' if passed else 'FAIL'))
        else:
            print('%s: %.1f s vs ping %.1f s -> %.2fx ping (for information, no target)' % (name, elapsed, ping, ratio))
    if lean is not None:
        print('  for comparison, benchmarks/playbooks/health_lean.yml (%.1f task results per host): %.1f s -> %.2fx ping'
              % (lean_calls, lean, lean / ping))
    return 0 if passed else 1


if __name__ == '__main__':
    sys.exit(main())
