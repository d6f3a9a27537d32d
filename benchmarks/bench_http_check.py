"""Benchmark: http_check against an ansible.builtin.uri loop, and tls_check on 200 targets.

Everything runs through real ansible-playbook processes in the same run, against one local server on loopback:

* 500 HTTP endpoints (distinct URLs on one ThreadingHTTPServer): one ``http_check`` task against an
  ``ansible.builtin.uri`` loop over the same URLs. The task durations come from the outcome callback's records;
  the whole ansible-playbook wall times are printed too. Target: http_check >= 100x faster.
  On this shared 2-core machine one uri iteration takes about a second, so by default the uri loop runs over the
  first 100 URLs and its time is scaled linearly to 500 (the output says so); ``--uri-count 500`` measures all of
  them, ``--quick`` uses 50.
* 200 TLS targets (one local HTTPS server, CA-verified): one ``tls_check`` task, reported as checks per second,
  against a ``community.crypto.get_certificate`` loop (which only fetches certificates and judges nothing) over
  20 of the targets, scaled linearly.

    .venv/bin/python benchmarks/bench_http_check.py [--quick] [--uri-count N]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.harness.ansible_run import read_outcomes, run_playbook  # noqa: E402
from tests.harness.http import HttpServer  # noqa: E402
from tests.harness.paths import ensure_collection_link  # noqa: E402
from tests.harness.pki import CertificateAuthority  # noqa: E402

ENDPOINTS = 500
TLS_TARGETS = 200
TARGET_RATIO = 100.0

HTTP_PLAYBOOK = """---
- name: http_check, one call
  hosts: bench
  gather_facts: false
  tasks:
    - name: http_check over the endpoints
      autopilotcx.maintenance.http_check:
        endpoints: "{{ urls | map('community.general.dict_kv', 'url') | list }}"
        workers: 16
        fail_on: critical
        thresholds: {http_response_time: {warning: 2, unit: s}}
      register: result

    - name: Every endpoint answered
      ansible.builtin.assert:
        # the compact result (the default) counts the endpoints that are ok and lists only the others
        that: result.endpoints_ok == urls | length and result.endpoints == []
"""

URI_PLAYBOOK = """---
- name: ansible.builtin.uri loop
  hosts: bench
  gather_facts: false
  tasks:
    - name: uri loop over the endpoints
      ansible.builtin.uri:
        url: "{{ item }}"
        status_code: 200
      loop: "{{ urls }}"
"""

TLS_PLAYBOOK = """---
- name: tls_check, one call
  hosts: bench
  gather_facts: false
  tasks:
    - name: tls_check over the targets
      autopilotcx.maintenance.tls_check:
        targets: "{{ targets }}"
        ca_path: "{{ ca_path }}"
        workers: 16
        fail_on: never
        thresholds: {tls_days_to_expiry: {warning: 30, critical: 7, direction: below, unit: days}}
      register: result

    - name: Every target was judged ok
      ansible.builtin.assert:
        that: result.status == 'ok' and result.certificates | length == targets | length
"""

GET_CERT_PLAYBOOK = """---
- name: community.crypto.get_certificate loop
  hosts: bench
  gather_facts: false
  tasks:
    - name: get_certificate loop over the targets
      community.crypto.get_certificate:
        host: "{{ item.host }}"
        port: "{{ item.port }}"
        ca_cert: "{{ ca_path }}"
      loop: "{{ targets }}"
"""


def task_duration(log, prefix):
    records = [r for r in read_outcomes(log) if r.get('task', '').startswith(prefix)]
    if not records:
        raise SystemExit('no outcome record for task %r in %s' % (prefix, log))
    return sum(r['duration'] for r in records if r.get('duration') is not None)


def play(workdir, name, text, extra_vars):
    path = os.path.join(workdir, name + '.yml')
    with open(path, 'w') as handle:
        handle.write(text)
    log = os.path.join(workdir, name + '.jsonl')
    started = time.monotonic()
    run = run_playbook(path, inventory=os.path.join(workdir, 'inventory'), extra_vars=extra_vars, outcome_log=log,
                       timeout=1800)
    wall = time.monotonic() - started
    if run.returncode != 0:
        sys.stdout.write(run.stdout[-3000:] + run.stderr[-2000:])
        raise SystemExit('%s failed (exit %d)' % (name, run.returncode))
    return log, wall


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='uri loop over 50 URLs, scaled to 500')
    parser.add_argument('--uri-count', type=int, help='URLs in the uri loop (scaled linearly to %d)' % ENDPOINTS)
    args = parser.parse_args()
    uri_count = args.uri_count or (50 if args.quick else 100)
    uri_count = max(1, min(uri_count, ENDPOINTS))
    ensure_collection_link()
    workdir = tempfile.mkdtemp(prefix='apcx-bench-http-')
    with open(os.path.join(workdir, 'inventory'), 'w') as handle:
        handle.write('[bench]\nbench-control ansible_connection=local\n')
    ca = CertificateAuthority(directory=workdir)
    cert, key, _issued = ca.write_leaf('localhost', hostnames=('localhost', '127.0.0.1'))

    with HttpServer() as http, HttpServer(tls=(cert, key)) as https:
        urls = ['%s/health?n=%d' % (http.url, i) for i in range(ENDPOINTS)]
        log, check_wall = play(workdir, 'http_check', HTTP_PLAYBOOK, {'urls': urls})
        check_task = task_duration(log, 'http_check over the endpoints')
        log, uri_wall = play(workdir, 'uri_loop', URI_PLAYBOOK, {'urls': urls[:uri_count]})
        uri_task = task_duration(log, 'uri loop over the endpoints')
        scale = float(ENDPOINTS) / uri_count
        uri_task_500, uri_wall_500 = uri_task * scale, uri_wall * scale
        ratio = uri_task_500 / check_task
        scaled_note = '' if uri_count == ENDPOINTS else ' (uri loop measured on %d URLs, scaled x%g to %d)' % (
            uri_count, scale, ENDPOINTS)
        print('http_check %d endpoints: %.2f s vs uri loop %.1f s -> %.0fx faster (target >= %dx): %s%s' % (
            ENDPOINTS, check_task, uri_task_500, ratio, TARGET_RATIO, 'PASS' if ratio >= TARGET_RATIO else 'FALLS SHORT',
            scaled_note))
        print('  task durations from the outcome records; whole ansible-playbook runs: %.1f s vs %.1f s -> %.0fx'
              % (check_wall, uri_wall_500, uri_wall_500 / check_wall))

        targets = [{'name': 't%d' % i, 'host': 'localhost', 'port': https.port} for i in range(TLS_TARGETS)]
        log, tls_wall = play(workdir, 'tls_check', TLS_PLAYBOOK, {'targets': targets, 'ca_path': ca.ca_path})
        tls_task = task_duration(log, 'tls_check over the targets')
        checks = sum(len(r.get('checks') or []) for r in read_outcomes(log)
                     if r.get('task', '').startswith('tls_check over the targets'))
        sample = 20
        log, _wall = play(workdir, 'get_certificate', GET_CERT_PLAYBOOK, {'targets': targets[:sample], 'ca_path': ca.ca_path})
        get_task = task_duration(log, 'get_certificate loop over the targets') * TLS_TARGETS / sample
        print('tls_check %d targets: %.2f s, %d checks -> %.0f checks/s, %.0f targets/s; get_certificate loop %.1f s '
              '(measured on %d targets, scaled; fetches only, judges nothing) -> %.0fx faster' % (
                  TLS_TARGETS, tls_task, checks, checks / tls_task, TLS_TARGETS / tls_task, get_task, sample,
                  get_task / tls_task))
    shutil.rmtree(workdir, ignore_errors=True)
    summary = {'http_check_s': check_task, 'uri_loop_500_s': uri_task_500, 'ratio': ratio, 'uri_measured': uri_count,
               'tls_check_s': tls_task, 'tls_checks': checks, 'tls_checks_per_s': checks / tls_task}
    print('  json: %s' % json.dumps(summary, sort_keys=True))
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == '__main__':
    sys.exit(main())
