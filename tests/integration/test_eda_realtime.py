"""The Event-Driven Ansible path for real (issue 19): ansible-rulebook (PyPI, Java 17 rule engine) runs the
collection's rulebook autopilotcx.maintenance.auth_log_response; its event source follows a real log file a writer
appends to; the action (the collection playbook eda_respond) blocks with nft_block in a network namespace made by the
test, and notifies through the notify role to a local webhook receiver. Nothing is mocked."""

import time

import pytest

from tests.harness.eda import Namespace, Rulebook, failed_line, wait_for, write_setup

pytestmark = pytest.mark.slow


@pytest.fixture
def namespace():
    ns = Namespace().create()
    try:
        yield ns
    finally:
        ns.destroy()


def _texts(receiver):
    return [str(item.get('json') or item.get('raw')) for item in receiver.received]


def test_a_burst_is_blocked_and_notified_and_an_allow_listed_address_is_not(tmp_path, namespace, webhook_receiver):
    log = tmp_path / 'auth.log'
    log.write_text('')
    inventory, variables = write_setup(tmp_path, log, namespace, webhook_receiver.url + '/hook')
    rulebook = Rulebook(inventory, variables, str(tmp_path / 'rulebook.log')).start()
    try:
        rulebook.wait_ready()
        with open(str(log), 'a') as handle:
            # the allow-listed address first, then the attacker: 12 failures each within seconds (> 10 in a minute)
            for n in range(12):
                handle.write(failed_line('10.9.0.7', 6000 + n))
                handle.write(failed_line('203.0.113.77', 5000 + n))
                handle.flush()
        took = wait_for(lambda: rulebook.gone() or '203.0.113.77' in namespace.blocked(), 120, step=0.1)
        assert not rulebook.gone(), rulebook.log()[-5000:]
        assert took is not None, rulebook.log()[-5000:]
        assert wait_for(lambda: any('203.0.113.77' in t and 'approval' not in t for t in _texts(webhook_receiver)), 60,
                        step=0.2) is not None, (_texts(webhook_receiver), rulebook.log()[-5000:])
        # the source blocked it in-process (auth_log_block) before the event; the action's nft_block found it blocked
        notice = [t for t in _texts(webhook_receiver) if '203.0.113.77' in t and 'approval' not in t][0]
        assert 'Event source: blocked' in notice and 'Blocked: nothing new' in notice, notice
        # high priority without security_eda_auto_incident: the incident response is asked for, not started
        assert wait_for(lambda: any('approval' in t and '203.0.113.77' in t for t in _texts(webhook_receiver)), 60,
                        step=0.2) is not None, _texts(webhook_receiver)
        # a second burst of the same attacker inside the throttle window: no second action
        with open(str(log), 'a') as handle:
            for n in range(12):
                handle.write(failed_line('203.0.113.77', 7000 + n))
        time.sleep(5)
        log_text = rulebook.log()
        assert log_text.count('autopilotcx.maintenance.eda_respond') <= 2, log_text[-5000:]
        assert '10.9.0.7' not in namespace.blocked()
        assert not [t for t in _texts(webhook_receiver) if '10.9.0.7' in t]
    finally:
        rulebook.stop()


def test_the_action_never_blocks_a_management_or_allow_listed_address_whatever_the_event_says(tmp_path, namespace,
                                                                                              webhook_receiver):
    import os
    from tests.harness.ansible_run import run_playbook
    from tests.harness.paths import ROOT
    inventory, dummy = write_setup(tmp_path, tmp_path / 'auth.log', namespace, webhook_receiver.url + '/hook')
    for address in ('192.0.2.44', '10.9.3.3', '127.0.0.1', '0.0.0.0/0'):
        event = {'autopilotcx_log_scan': {'address': address, 'priority': 'medium', 'rule': 'find_window',
                                          'rules': [], 'reasons': ['forged'], 'host': 'web-01',
                                          'detected': '2026-12-07T00:00:00Z'}}
        proc = run_playbook(os.path.join(ROOT, 'playbooks', 'eda_respond.yml'), inventory=inventory,
                            extra_vars={'ansible_eda': {'event': event}})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not namespace.blocked(), (address, namespace.blocked())
    titles = [str(item.get('json')) for item in webhook_receiver.received]
    assert len([t for t in titles if 'NOT blocked' in t]) == 4, titles


def test_a_high_priority_event_starts_the_incident_response_where_the_inventory_allows_it(tmp_path, namespace,
                                                                                          webhook_receiver):
    import json
    import os
    from tests.harness.ansible_run import run_playbook
    from tests.harness.paths import ROOT
    records = tmp_path / 'incidents'
    inventory, dummy = write_setup(tmp_path, tmp_path / 'auth.log', namespace, webhook_receiver.url + '/hook',
                                   extra_host_vars={'security_eda_auto_incident': True,
                                                    # evidence and isolation have their own tests (test_incident_playbooks)
                                                    'security_incident_evidence': False,
                                                    'security_incident_isolate': False,
                                                    'security_incident_become': False,
                                                    'security_incident_state_dir': str(tmp_path / 'run'),
                                                    'security_incident_record_dir': str(records)})
    event = {'autopilotcx_log_scan': {'address': '203.0.113.91', 'priority': 'high', 'rule': 'per_minute',
                                      'rules': [], 'reasons': ['16 failed logins in one minute > 10'],
                                      'host': 'web-01', 'detected': '2026-12-07T06:48:37Z'}}
    proc = run_playbook(os.path.join(ROOT, 'playbooks', 'eda_respond.yml'), inventory=inventory,
                        extra_vars={'ansible_eda': {'event': event}})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '203.0.113.91' in namespace.blocked()
    saved = sorted(os.listdir(str(records)))
    assert saved == ['EDA-20261207064837-web-01-203.0.113.91-web-01.json'], saved
    record = json.loads((records / saved[0]).read_text())
    assert '203.0.113.91/32' in str(record['details']['blocked'])
    assert not [item for item in webhook_receiver.received if 'approval' in str(item.get('json'))]
