"""http_check in the controller's worker (its action plugin, the default on a local connection) returns what the
module process returns: the same checks, records, failures, messages for bad input, and no secret anywhere."""

import json
import os
import re

import pytest

from tests.harness.ansible_run import run_playbook
from tests.harness.http import VALID_TOKEN
from tests.harness.net import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYBOOK = os.path.join(HERE, 'playbooks', 'http_check_in_process.yml')
LOGIN_PASSWORD = 'monitor-pw'
HEADER_SECRET = 'header-Secret-9931'
QUERY_SECRET = 'query-Secret-5521'
# what differs between two probes of the same endpoint a moment apart: times, and whether a kept-alive connection
# happened to be reused (it depends on which worker thread took which endpoint)
VOLATILE = ('response_time', 'phases', 'reused_connection')
SECONDS = re.compile(r'\d+(\.\d+)?( ?(ms|s)\b)')


def _stable(value, check_name=None):
    """``value`` without what differs from one probe to the next."""
    if isinstance(value, dict):
        name = value.get('name') if isinstance(value.get('name'), str) else check_name
        kept = {}
        for key, item in value.items():
            if key in VOLATILE:
                continue
            if name == 'http.response_time' and key in ('value', 'reason', 'target', 'details'):
                continue  # the slowest endpoint and its time
            kept[key] = _stable(item, name)
        return kept
    if isinstance(value, list):
        return [_stable(item, check_name) for item in value]
    if isinstance(value, str):
        return SECONDS.sub('<time>', value)
    return value


@pytest.fixture(scope='module')
def runs(tmp_path_factory, https_server, pki):
    """One -vvv run of the playbook; its results and the console output of each task."""
    tmp = tmp_path_factory.mktemp('in_process')
    result_file = tmp / 'results.json'
    inventory = tmp / 'inventory'
    inventory.write_text('probe ansible_connection=local\n')
    run = run_playbook(PLAYBOOK, inventory=str(inventory), args=['-vvv'], outcome_log=tmp / 'outcomes.jsonl',
                       extra_vars={'base_url': https_server.url, 'login_password': LOGIN_PASSWORD,
                                   'header_secret': HEADER_SECRET, 'refused_port': free_port(),
                                   'result_file': str(result_file), 'other_python': '/usr/bin/python3'},
                       env={'SSL_CERT_FILE': pki.ca_path})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    tasks = {}
    for chunk in re.split(r'\nTASK \[', run.stdout)[1:]:
        tasks[chunk.split(']', 1)[0]] = chunk
    return json.loads(result_file.read_text()), tasks, run


def _module_started(console):
    return 'AnsiballZ_http_check.py' in console


@pytest.mark.slow
def test_in_process_is_the_default_on_the_controller_and_a_module_process_otherwise(runs):
    _results, tasks, _run = runs
    for name in ('In process, every detail', 'In process, compact', 'In process, check mode',
                 'In process, failing at critical',
                 'In process, a misspelt option', 'In process, a value no backend can take'):
        assert not _module_started(tasks[name]), name
    for name in ('As a module process, every detail', 'As a module process, compact',
                 'As a module process, failing at critical', 'With an environment (only a module process sees it)',
                 'With another interpreter set for the task'):
        assert _module_started(tasks[name]), name


@pytest.mark.slow
@pytest.mark.parametrize('variant', ['full', 'compact'])
def test_same_checks_and_records_both_ways(runs, variant):
    results, _tasks, _run = runs
    inside, module = results['in_' + variant], results['module_' + variant]
    assert inside['status'] == module['status'] == 'critical'
    names = set((c['name'], c['status']) for c in inside['checks'])
    assert ('http.auth', 'ok') in names and ('http.login', 'ok') in names  # the login flow ran, its token accepted
    failing = sorted((c['name'], c['target']) for c in inside['checks'] if c['status'] == 'critical')
    assert failing == [('http.body', 'wrong-body'), ('http.reachable', 'refused'), ('http.status', 'error')]
    assert _stable(inside) == _stable(module)


@pytest.mark.slow
def test_check_mode_in_process_probes_and_changes_nothing(runs):
    results, _tasks, _run = runs
    assert results['in_check']['changed'] is False
    assert _stable(results['in_check']) == _stable(results['in_compact'])


@pytest.mark.slow
def test_failures_and_messages_are_the_modules(runs):
    results, _tasks, _run = runs
    assert results['in_failing']['failed'] is True
    assert results['in_failing']['msg'] == results['module_failing']['msg'] \
        == 'critical check(s) at or above critical: http.status (error)'
    for key in ('bad', 'range'):
        inside, module = results['in_' + key], results['module_' + key]
        assert inside['failed'] is module['failed'] is True
        assert inside['msg'] == module['msg'], key
    assert results['in_bad']['msg'].startswith(
        'Unsupported parameters for (autopilotcx.maintenance.http_check) module: endpoints.timout.')
    assert 'endpoints[0].timeout' in results['in_range']['msg']
    assert 'Traceback' not in json.dumps(results)


@pytest.mark.slow
def test_no_secret_in_results_records_or_the_vvv_console(runs, https_server):
    results, tasks, run = runs
    for text in (json.dumps(results), run.stdout, run.stderr):
        for secret in (LOGIN_PASSWORD, HEADER_SECRET, QUERY_SECRET, VALID_TOKEN):
            assert secret not in text
    # the secrets were really sent, by both paths
    sent = [r for r in https_server.requests if r.path == '/auth/me']
    assert len(sent) >= 4 and all(r.headers['Authorization'] == 'Bearer ' + VALID_TOKEN for r in sent)
    echoed = [r for r in https_server.requests if r.path == '/echo']
    assert echoed and all(r.headers['X-Api-Key'] == HEADER_SECRET for r in echoed)
    # -vvv shows the task's invocation; the no_log options are masked in it by both paths
    for name in ('In process, every detail', 'As a module process, every detail'):
        assert '"invocation"' in tasks[name] and '"X-Api-Key": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in tasks[name], name
