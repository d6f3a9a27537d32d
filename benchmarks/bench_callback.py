"""Overhead of the outcomes callback: a 500-task playbook with and without it, in the same run.

Target: ratio (with / without) at most 1.05. Runs alternate (without, with, ...) and the medians are compared,
so that machine noise hits both sides alike.
"""

import argparse
import os
import subprocess
import sys

from _common import OUT, ROOT, timed, verdict

from tests.harness.ansible_run import ansible_bin, ansible_env


def write_playbook(path, tasks):
    lines = ['---', '- name: Callback overhead benchmark', '  hosts: all', '  gather_facts: false', '  tasks:']
    for index in range(tasks):
        if index % 5 == 4:
            lines += ['    - name: Judge metric %d' % index,
                      '      autopilotcx.maintenance.metric_check:',
                      '        fail_on: never',
                      '        metrics: [{name: bench.m%d, value: %d, limits: {warning: 250, critical: 400}}]' % (index, index)]
        else:
            lines += ['    - name: Task %d' % index, '      ansible.builtin.set_fact:', '        fact_%d: %d' % (index, index)]
    with open(path, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--tasks', type=int, default=500)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    playbook = os.path.join(OUT, 'callback_%d.yml' % args.tasks)
    write_playbook(playbook, args.tasks)
    inventory = os.path.join(OUT, 'callback_inventory')
    with open(inventory, 'w') as handle:
        handle.write('bench ansible_connection=local\n')
    log = os.path.join(OUT, 'callback_outcomes.jsonl')

    def run(enabled):
        env = ansible_env(outcome_log=log)
        env.pop('ANSIBLE_CALLBACKS_ENABLED', None)
        cfg = os.path.join(OUT, 'callback_%s.cfg' % ('on' if enabled else 'off'))
        with open(cfg, 'w') as handle:
            handle.write('[defaults]\nforks = 5\n')
            if enabled:
                handle.write('callbacks_enabled = autopilotcx.maintenance.outcomes\n')
        env['ANSIBLE_CONFIG'] = cfg
        subprocess.run([ansible_bin('ansible-playbook'), '-i', inventory, playbook], env=env, check=True,
                       stdout=subprocess.DEVNULL, cwd=ROOT)

    run(False)  # warm caches (bytecode, AnsiballZ)
    without, with_cb = [], []
    for _attempt in range(args.repeat):
        without.append(timed(lambda: run(False)))
        with_cb.append(timed(lambda: run(True)))
    without.sort()
    with_cb.sort()
    base, measured = without[len(without) // 2], with_cb[len(with_cb) // 2]
    ratio = measured / base
    records = sum(1 for _line in open(log))
    ok = verdict('outcomes callback, %d-task playbook' % args.tasks,
                 '%.2f s with vs %.2f s without (%d records written)' % (measured, base, records),
                 'ratio %.3f' % ratio, '<= 1.05', ratio <= 1.05)
    os.unlink(log)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
