"""No silent green (issue 17): typos, unreadable sources, empty patch groups and unrouted alerts are visible,
through real ansible-playbook runs."""

import json
import os

import pytest

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.paths import ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYBOOKS = os.path.join(HERE, 'playbooks')


def write_inventory(path, variables, hosts=('app1',), groups=None):
    inventory = {'all': {'hosts': dict((h, {'ansible_connection': 'local'}) for h in hosts), 'vars': variables,
                         'children': groups or {}}}
    path.write_text(json.dumps(inventory))
    return str(path)


@pytest.mark.slow
def test_misspelled_role_variable_fails_and_names_the_closest_valid_one(tmp_path):
    inventory = write_inventory(tmp_path / 'inv.json', {'service_health_endpoint': [{'url': 'http://127.0.0.1:9/'}]})
    run = run_playbook(os.path.join(ROOT, 'playbooks', 'health_check.yml'), inventory=inventory,
                       outcome_log=tmp_path / 'o.jsonl')
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert 'service_health_endpoint ' in out and 'did you mean service_health_endpoints' in out, out[-3000:]


@pytest.mark.slow
def test_known_role_variables_pass(tmp_path):
    inventory = write_inventory(tmp_path / 'inv.json', {'service_health_endpoints': [], 'service_health_timeout': 3,
                                                        'maintenance_threshold_overrides': {'http_response_time': {'warning': 1}}})
    run = run_playbook(os.path.join(ROOT, 'playbooks', 'health_check.yml'), inventory=inventory,
                       outcome_log=tmp_path / 'o.jsonl')
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.mark.slow
def test_misspelled_threshold_override_fails_and_lists_the_valid_names(tmp_path):
    inventory = write_inventory(tmp_path / 'inv.json', {'service_health_endpoints': [],
                                                        'maintenance_threshold_overrides': {'http_respons_time': {'warning': 1}}})
    run = run_playbook(os.path.join(ROOT, 'playbooks', 'health_check.yml'), inventory=inventory,
                       outcome_log=tmp_path / 'o.jsonl')
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert 'http_respons_time' in out and 'did you mean http_response_time' in out, out[-3000:]
    assert 'db_replication_lag' in out  # the valid names are listed


@pytest.mark.slow
@pytest.mark.parametrize('playbook', ['weekly_patching.yml', 'monthly_os_updates.yml', 'emergency_hotfix.yml'])
def test_patch_playbook_whose_groups_match_no_host_fails(tmp_path, playbook):
    inventory = write_inventory(tmp_path / 'inv.json', {}, hosts=('app1',))
    run = run_playbook(os.path.join(ROOT, 'playbooks', playbook), inventory=inventory, outcome_log=tmp_path / 'o.jsonl',
                       extra_vars={'approved_by': 'nobody', 'change_ref': 'CHG-1'}, args=['--check'])
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "'staging'" in out and "'production'" in out and 'match no host' in out, out[-3000:]
    assert 'host(s) patched' not in out  # the misleading "0 host(s) patched" record is never written


@pytest.mark.slow
def test_summary_names_every_non_ok_check_with_its_reason(tmp_path):
    log = tmp_path / 'o.jsonl'
    inventory = write_inventory(tmp_path / 'inv.json', {})
    run = run_playbook(os.path.join(PLAYBOOKS, 'summary_reasons.yml'), inventory=inventory, outcome_log=log,
                       extra_vars={'target_host': 'db-primary-01', 'missing_log': str(tmp_path / 'auth.log'),
                                   'state_dir': str(tmp_path), 'api_token': 'Tok-Secret-9931'})
    out = run.stdout
    assert run.returncode == 0, out[-3000:]
    summary = out[out.index('AUTOPILOTCX OUTCOMES'):]
    # every non-ok check, with its reason, most severe first
    assert 'critical app.queue_depth (db-primary-01): ' in summary, summary
    assert 'warning  app.latency (db-primary-01): ' in summary, summary
    assert "unknown  app.undefined: threshold 'no_such_threshold' is not defined" in summary, summary
    unreadable = [line for line in summary.splitlines() if 'auth.log' in line and line.strip().startswith('unknown')]
    assert unreadable, summary
    # an alert no channel takes is a warning, not an ok line in the JSON
    assert 'warning  notify.recorded' in summary, summary
    assert summary.index('critical app.queue_depth') < summary.index('warning  app.latency') < summary.index('unknown  app.undefined')
    # where the records are
    assert 'records: %s' % log in summary, summary
    # a host name passed with -e is not a secret; a secret-looking extra var is hidden everywhere
    records = read_outcomes(log)
    assert 'db-primary-01' in json.dumps(records)
    assert 'Tok-Secret-9931' not in out + run.stderr + log.read_text()


@pytest.mark.slow
def test_explicit_redact_list_hides_named_extra_vars(tmp_path):
    log = tmp_path / 'o.jsonl'
    inventory = write_inventory(tmp_path / 'inv.json', {})
    run = run_playbook(os.path.join(PLAYBOOKS, 'summary_reasons.yml'), inventory=inventory, outcome_log=log,
                       extra_vars={'target_host': 'hidden-host-4412', 'missing_log': str(tmp_path / 'auth.log'),
                                   'state_dir': str(tmp_path)},
                       env={'AUTOPILOTCX_OUTCOME_REDACT_EXTRA_VAR_NAMES': 'target_host'})
    assert run.returncode == 0, run.stdout[-3000:]
    summary = run.stdout[run.stdout.index('AUTOPILOTCX OUTCOMES'):]
    assert 'hidden-host-4412' not in summary and 'hidden-host-4412' not in log.read_text()
    assert 'app.queue_depth (********)' in summary, summary


@pytest.mark.slow
def test_bad_option_value_fails_with_a_short_message_not_the_argument_spec(tmp_path):
    inventory = write_inventory(tmp_path / 'inv.json', {'service_health_endpoints': [], 'service_health_scope': 'plya'})
    run = run_playbook(os.path.join(ROOT, 'playbooks', 'health_check.yml'), inventory=inventory,
                       outcome_log=tmp_path / 'o.jsonl')
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert 'service_health_scope must be one of: play, host, got: plya' in out, out[-3000:]
    assert 'argument_spec_data' not in out and 'CA bundle for private CAs' not in out, out[-3000:]
    assert len(run.stdout) < 2000, len(run.stdout)  # was 3.3 KB with the spec dump
