import json
import os

import pytest

from tests.harness.ansible_run import read_outcomes, run_playbook

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks', 'metric_check.yml')


@pytest.mark.slow
def test_metric_check_check_mode_fail_on_and_bad_input(tmp_path):
    inventory = tmp_path / 'inv'
    inventory.write_text('app ansible_connection=local\n')
    result_file = tmp_path / 'result.json'
    log = tmp_path / 'outcomes.jsonl'
    run = run_playbook(PLAYBOOK, inventory=str(inventory), outcome_log=log, extra_vars={'result_file': str(result_file)})
    assert run.returncode == 0, run.stdout[-3000:]
    results = json.loads(result_file.read_text())

    check_mode = results['check_mode']
    assert check_mode['changed'] is False and check_mode['status'] == 'warning'
    assert check_mode['checks'][0]['reason'] == 'response 2.31 s > 2 s'

    failing = results['failing']
    assert failing['failed'] is True
    assert failing['msg'] == 'critical check(s) at or above critical: api.down (https://api)'
    assert [c['status'] for c in failing['checks']] == ['critical', 'ok']  # the other check still ran

    assert 'Unsupported parameters' in results['unknown_option']['msg'] and 'bogus' in results['unknown_option']['msg']
    assert 'dictionary requested' in results['wrong_type']['msg'] and 'Traceback' not in json.dumps(results['wrong_type'])
    assert results['nothing']['failed'] is True and results['nothing']['msg'].startswith('metrics is empty')
    assert results['bad_threshold']['msg'].startswith('Invalid threshold or check data: threshold a: warning must be a number')

    records = dict((r['task'], r) for r in read_outcomes(log))
    assert records['Judge in check mode']['check_mode'] is True
    assert records['Fail on critical by default']['status'] == 'ignored'
    assert records['Fail on critical by default']['worst'] == 'critical'
