"""The outcome callback's Prometheus textfiles from real ansible-playbook runs (no Prometheus needed here)."""

import os
import shutil
import subprocess

import pytest

from tests.harness.ansible_run import read_outcomes, run_playbook

PLAYBOOKS = os.path.join(os.path.dirname(__file__), 'playbooks')
UNREACHABLE = 'ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1 ansible_ssh_common_args="-o ConnectTimeout=3"'


@pytest.mark.slow
def test_one_file_per_host_run_success_and_redacted_labels(tmp_path):
    textdir = tmp_path / 'textfile'
    textdir.mkdir()
    inventory = tmp_path / 'inv'
    inventory.write_text('good ansible_connection=local\nbad ansible_connection=local\ngone %s\n' % UNREACHABLE)
    run = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_mixed.yml'), inventory=str(inventory), outcome_log=tmp_path / 'o.jsonl',
                       extra_vars={'queue_name_secret': 'queue-a'},
                       env={'AUTOPILOTCX_PROMETHEUS_TEXTFILE_DIR': str(textdir)})
    assert run.returncode != 0
    assert sorted(os.listdir(str(textdir))) == ['autopilotcx_test_cadence__bad.prom', 'autopilotcx_test_cadence__gone.prom',
                                                'autopilotcx_test_cadence__good.prom']
    good = (textdir / 'autopilotcx_test_cadence__good.prom').read_text()
    bad = (textdir / 'autopilotcx_test_cadence__bad.prom').read_text()
    gone = (textdir / 'autopilotcx_test_cadence__gone.prom').read_text()
    # the extra var's value is redacted in the record, so it is in no label either
    assert 'queue-a' not in good
    assert 'autopilotcx_check_status{check="app.queue_depth",target="********",host="good",priority="high",cadence="test_cadence"} 3' in good
    assert 'autopilotcx_cadence_run_success{cadence="test_cadence",host="good"} 1' in good
    assert 'autopilotcx_cadence_run_success{cadence="test_cadence",host="bad"} 0' in bad
    assert 'last_success' not in bad                  # never succeeded: no success time is invented
    assert 'autopilotcx_cadence_run_success{cadence="test_cadence",host="gone"} 0' in gone
    assert 'autopilotcx_check_status' not in gone     # unreachable: no check, no stale one either
    if shutil.which('promtool'):
        for text in (good, bad, gone):
            proc = subprocess.run(['promtool', 'check', 'metrics'], input=text.encode(), capture_output=True, timeout=60, check=False)
            assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_missing_textfile_dir_is_one_warning_and_the_records_are_kept(tmp_path):
    inventory = tmp_path / 'inv'
    inventory.write_text('web1 ansible_connection=local\n')
    missing = tmp_path / 'no-such-dir'
    run = run_playbook(os.path.join(PLAYBOOKS, 'prometheus_cadence.yml'), inventory=str(inventory), outcome_log=tmp_path / 'o.jsonl',
                       env={'AUTOPILOTCX_PROMETHEUS_TEXTFILE_DIR': str(missing)})
    assert run.returncode == 0, run.stdout + run.stderr
    output = run.stdout + run.stderr
    assert output.count('prometheus_textfile_dir %s is not a directory' % missing) == 1, output
    assert not missing.exists()
    assert [r['task'] for r in read_outcomes(tmp_path / 'o.jsonl')] == ['Judge the metrics']
