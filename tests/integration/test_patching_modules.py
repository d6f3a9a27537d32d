"""The small patch-rollout modules through real ansible-playbook runs on localhost: check mode, bad input."""

import json
import os

import pytest

from tests.harness.ansible_run import read_outcomes, run_playbook

pytestmark = [pytest.mark.slow]

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Window at a fixed moment
      autopilotcx.maintenance.maintenance_window:
        windows: {weekly: {rrule: "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", duration: 2h, timezone: UTC, notice: 24h}}
        now: "2026-11-29T02:10:00Z"
      register: window
    - name: Record an event (the file is written only outside check mode)
      autopilotcx.maintenance.maintenance_record:
        name: test.event
        details: {answer: 42}
        path: "{{ record_path }}"
      register: record
    - name: Promotion gate on an empty log refuses
      autopilotcx.maintenance.outcome_query:
        path: "{{ record_path }}.missing"
        package_set: ["apcx-openssl=1.1"]
        fail_on: never
      register: gate
    - name: Results
      ansible.builtin.assert:
        that:
          - window.batch_allowed and window.cutoff == '2026-11-29T03:30:00Z'
          - record.record.details.answer == 42
          # in check mode the gate previews: a dry run of staging verifies nothing, so it says what it would wait for
          - gate.status == ('ok' if ansible_check_mode else 'critical')
          - gate.checks[0].details.not_verified == ['apcx-openssl=1.1']
          - (gate.checks[0].details.would_wait | default(false)) == ansible_check_mode
"""


def write_playbook(tmp_path, text):
    path = tmp_path / 'play.yml'
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize('check', [False, True])
def test_modules_in_normal_and_check_mode(tmp_path, check):
    record_path = str(tmp_path / 'rec' / 'event.json')
    log = tmp_path / 'outcomes.jsonl'
    result = run_playbook(write_playbook(tmp_path, PLAYBOOK), inventory='localhost,', outcome_log=str(log),
                          extra_vars={'record_path': record_path}, args=['-c', 'local'] + (['--check'] if check else []))
    assert result.returncode == 0, result.stdout[-3000:]
    assert os.path.exists(record_path) is (not check)
    if not check:
        with open(record_path) as handle:
            assert json.load(handle)['details']['answer'] == 42
    names = [c['name'] for r in read_outcomes(str(log)) for c in r.get('checks', [])]
    assert {'maintenance_window.open', 'test.event', 'patch.promotion_gate'} <= set(names)


@pytest.mark.parametrize('task, message', [
    ('autopilotcx.maintenance.maintenance_window: {windows: {w: {rrule: "FREQ=WEEKLY;BYDAY=XX", duration: 2h}}}',
     'invalid rrule'),
    ('autopilotcx.maintenance.maintenance_window: {windows: {w: {rrule: "FREQ=WEEKLY", duration: 2h}}, now: soon}',
     'now must be an ISO 8601 date-time'),
    ('autopilotcx.maintenance.outcome_query: {path: /nonexistent, package_set: [a=1], match: fuzzy}',
     'value of match must be one of'),
    ('autopilotcx.maintenance.patch_apply: {mode: everything}', 'value of mode must be one of'),
])
def test_bad_input_is_a_clear_message(tmp_path, task, message):
    text = '- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: Bad\n      %s\n' % task
    result = run_playbook(write_playbook(tmp_path, text), inventory='localhost,', args=['-c', 'local'])
    assert result.returncode != 0
    assert message in result.stdout
    assert 'Traceback' not in result.stdout + result.stderr
