"""playbooks/security_incident.yml and incident_release.yml run by real ansible-playbook against a real host
stand-in: a network namespace made by the test (tests/harness/netns.py), reached through the roles'
command_prefix (ip netns exec <ns>). Traffic is real TCP between namespaces on TEST-NET addresses that exist only
inside them; the machine's own networking is never touched. Every namespace is removed in the fixture teardown."""

import json
import os
import time

import pytest
import yaml

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.netns import HOST_MGMT_ADDR, HOST_OTHER_ADDR, MGMT_ADDR, MGMT_NET, OTHER_ADDR, NetLab
from tests.harness.paths import ROOT, python_interpreter

pytestmark = pytest.mark.slow

PLAYBOOKS = os.path.join(ROOT, 'playbooks')
HOSTS = {'incident_hosts': 'all'}


@pytest.fixture
def lab():
    lab = NetLab()
    try:
        yield lab.create()
    finally:
        lab.destroy()


def inventory(tmp_path, host_vars=None, **more):
    # the incident data goes into the inventory, not -e: the outcome callback redacts every extra-var value
    host = {'ansible_connection': 'local', 'ansible_python_interpreter': python_interpreter()}
    host.update(host_vars or {})
    host.update(more)
    path = tmp_path / 'inventory.yml'
    path.write_text(yaml.safe_dump({'all': {'hosts': {'web1': host}}}))
    return path


def incident_vars(lab, tmp_path, **extra):
    logs = tmp_path / 'logs'
    logs.mkdir(exist_ok=True)
    (logs / 'auth.log').write_text('Nov 24 05:00:01 web1 sshd[1]: Failed password for root from 198.51.100.1\n')
    values = {
        'incident_id': 'INC-T1',
        'security_incident_become': False,
        'security_incident_command_prefix': lab.prefix,
        'security_incident_management_networks': [MGMT_NET],
        'security_incident_state_dir': str(tmp_path / 'state'),
        'security_incident_evidence_dest': str(tmp_path / 'evidence-host'),
        'security_incident_evidence_local_dir': str(tmp_path / 'evidence-control'),
        'security_incident_evidence_log_paths': [str(logs)],
        'security_incident_record_dir': str(tmp_path / 'incidents'),
        'security_incident_isolation_timeout': 0,
    }
    values.update(extra)
    return values


def checks_of(outcomes, name):
    return [c for r in outcomes for c in r.get('checks', []) if c['name'] == name]


def test_check_mode_changes_nothing(lab, tmp_path):
    before = lab.ruleset()
    result = run_playbook(os.path.join(PLAYBOOKS, 'security_incident.yml'),
                          inventory(tmp_path, incident_vars(lab, tmp_path, security_incident_block_ips=['203.0.113.9'])),
                          HOSTS,
                          outcome_log=tmp_path / 'out.jsonl', args=['--check'])
    assert result.returncode == 0, result.stdout + result.stderr
    assert lab.ruleset() == before
    assert lab.reaches(lab.other, HOST_OTHER_ADDR)
    assert not (tmp_path / 'evidence-host').exists() or not os.listdir(tmp_path / 'evidence-host')
    assert not (tmp_path / 'incidents').exists()
    isolation = checks_of(read_outcomes(tmp_path / 'out.jsonl'), 'incident.isolation')
    assert isolation and 'would be isolated' in isolation[0]['reason']


def test_isolate_block_evidence_notify_record_then_release(lab, tmp_path):
    assert lab.reaches(lab.mgmt, HOST_MGMT_ADDR) and lab.reaches(lab.other, HOST_OTHER_ADDR)
    out = tmp_path / 'out.jsonl'
    extra = incident_vars(lab, tmp_path, security_incident_block_ips=['203.0.113.9', MGMT_ADDR, '203.0.113.200'],
                          security_incident_log_scan_result={'suspicious_ips': ['203.0.113.64/28', 'not-an-ip']},
                          security_incident_allow=['203.0.113.9'])
    result = run_playbook(os.path.join(PLAYBOOKS, 'security_incident.yml'), inventory(tmp_path, extra), HOSTS,
                          outcome_log=out)
    assert result.returncode == 0, result.stdout + result.stderr

    # isolation: the management network passes, anything else is dropped
    assert lab.reaches(lab.mgmt, HOST_MGMT_ADDR)
    assert not lab.reaches(lab.other, HOST_OTHER_ADDR)
    assert 'table inet autopilotcx_isolation' in lab.ruleset()

    # blocking: the allow-listed and the management address were refused, the rest is in the set
    blocked = json.loads(lab.nft('-j', 'list', 'set', 'inet', 'autopilotcx_block', 'blocked_v4').stdout)
    text = json.dumps(blocked)
    assert '203.0.113.64' in text and '203.0.113.200' in text and MGMT_ADDR not in text
    block_check = checks_of(read_outcomes(out), 'incident.blocked_ips')[0]
    refused = {r['address']: r['reason'] for r in block_check['details']['refused']}
    assert block_check['status'] == 'warning'
    assert 'management network' in refused[MGMT_ADDR + '/32']
    assert 'allow-list' in refused['203.0.113.9/32']
    assert lab.reaches(lab.mgmt, HOST_MGMT_ADDR)
    assert 'not an IPv4' in refused['not-an-ip']

    # evidence: fetched to the control node and verified there; the custody log records both ends
    control = tmp_path / 'evidence-control'
    archives = sorted(control.glob('INC-T1-*.tar.gz'))
    assert len(archives) == 1
    custody = [json.loads(line) for line in open(str(archives[0])[:-len('.tar.gz')] + '.custody.jsonl')]
    assert [e['event'] for e in custody] == ['collected', 'received and verified on the control node']
    assert custody[0]['sha256'] == custody[1]['sha256']
    assert checks_of(read_outcomes(out), 'incident.evidence_integrity')[0]['status'] == 'ok'

    # notify at high priority, and the incident in the outcome store and the record file
    outcomes = read_outcomes(out)
    notify = [r for r in outcomes if r.get('action', '').endswith('notify') and r.get('status') != 'skipped']
    assert notify, [r.get('action') for r in outcomes]
    incident = checks_of(outcomes, 'incident.security')[0]
    assert incident['priority'] == 'high' and incident['value'] == 'INC-T1'
    record = json.loads((tmp_path / 'incidents' / 'INC-T1-web1.json').read_text())
    assert record['evidence'][0]['verified'] is True
    assert [e['event'] for e in record['timeline']][0].startswith('response started')
    assert len(record['timeline']) == 4

    # the same run again changes nothing in the firewall (idempotent isolation, addresses already blocked)
    again = run_playbook(os.path.join(PLAYBOOKS, 'security_incident.yml'),
                         inventory(tmp_path, dict(extra, security_incident_evidence=False)), HOSTS,
                         outcome_log=tmp_path / 'again.jsonl')
    assert again.returncode == 0, again.stdout + again.stderr
    fw = [r for r in read_outcomes(tmp_path / 'again.jsonl')
          if r.get('action', '').split('.')[-1] in ('nft_isolation', 'nft_block')]
    assert fw and all(r['status'] == 'ok' for r in fw), [(r['action'], r['status']) for r in fw]

    # release restores the traffic and (asked to) removes the blocks
    release = run_playbook(os.path.join(PLAYBOOKS, 'incident_release.yml'),
                           inventory(tmp_path, dict(incident_vars(lab, tmp_path), security_incident_unblock=True)), HOSTS,
                           outcome_log=tmp_path / 'release.jsonl')
    assert release.returncode == 0, release.stdout + release.stderr
    assert lab.reaches(lab.other, HOST_OTHER_ADDR)
    assert 'autopilotcx' not in lab.ruleset()


def test_isolation_reverts_by_itself_after_the_timeout(lab, tmp_path):
    result = run_playbook(os.path.join(PLAYBOOKS, 'security_incident.yml'),
                          inventory(tmp_path, incident_vars(lab, tmp_path, security_incident_evidence=False,
                                                            security_incident_isolation_timeout=30)), HOSTS,
                          outcome_log=tmp_path / 'out.jsonl')
    assert result.returncode == 0, result.stdout + result.stderr
    assert not lab.reaches(lab.other, HOST_OTHER_ADDR)
    assert lab.reaches(lab.mgmt, HOST_MGMT_ADDR)
    # the playbook's later tasks may take a while on a busy machine: 30 s keeps the isolation observable
    deadline = time.time() + 60
    while 'autopilotcx_isolation' in lab.ruleset() and time.time() < deadline:
        time.sleep(0.5)
    assert 'autopilotcx_isolation' not in lab.ruleset()
    assert lab.reaches(lab.other, HOST_OTHER_ADDR)


def test_release_disarms_the_revert_timer(lab, tmp_path):
    result = run_playbook(os.path.join(PLAYBOOKS, 'security_incident.yml'),
                          inventory(tmp_path, incident_vars(lab, tmp_path, security_incident_evidence=False,
                                                            security_incident_isolation_timeout=600)), HOSTS,
                          outcome_log=tmp_path / 'out.jsonl')
    assert result.returncode == 0, result.stdout + result.stderr
    state = json.loads((tmp_path / 'state' / 'autopilotcx_isolation.revert.pid').read_text())
    assert os.path.exists('/proc/%d' % state['pid'])
    release = run_playbook(os.path.join(PLAYBOOKS, 'incident_release.yml'),
                           inventory(tmp_path, incident_vars(lab, tmp_path)), HOSTS,
                           outcome_log=tmp_path / 'release.jsonl')
    assert release.returncode == 0, release.stdout + release.stderr
    deadline = time.time() + 5
    while os.path.exists('/proc/%d' % state['pid']) and time.time() < deadline:
        time.sleep(0.1)
    assert not os.path.exists('/proc/%d' % state['pid'])
    assert lab.reaches(lab.other, HOST_OTHER_ADDR)


def test_missing_management_network_is_refused_before_anything_changes(lab, tmp_path):
    before = lab.ruleset()
    result = run_playbook(os.path.join(PLAYBOOKS, 'security_incident.yml'),
                          inventory(tmp_path, incident_vars(lab, tmp_path, security_incident_management_networks=[])),
                          HOSTS,
                          outcome_log=tmp_path / 'out.jsonl')
    assert result.returncode != 0
    assert 'security_incident_management_networks must name' in result.stdout
    assert lab.ruleset() == before
    assert not (tmp_path / 'evidence-host').exists()


def test_module_runs_inside_the_namespace_through_the_interpreter(lab, tmp_path):
    """The other way to target a namespace: an interpreter wrapper running python under 'ip netns exec <ns>'
    (ansible-core 2.19 refuses an interpreter string with arguments, so the wrapper is a one-line script)."""
    wrapper = tmp_path / 'netns-python'
    wrapper.write_text('#!/bin/sh\nexec ip netns exec %s %s "$@"\n' % (lab.host, python_interpreter()))
    wrapper.chmod(0o755)
    inv = inventory(tmp_path, None, ansible_python_interpreter=str(wrapper))
    playbook = tmp_path / 'iso.yml'
    playbook.write_text(yaml.safe_dump([{'name': 'isolate', 'hosts': 'web1', 'gather_facts': False, 'tasks': [
        {'name': 'isolate', 'autopilotcx.maintenance.nft_isolation': {
            'management_networks': [MGMT_NET], 'state_dir': str(tmp_path / 'st')}}]}]))
    result = run_playbook(playbook, inv, outcome_log=tmp_path / 'out.jsonl')
    assert result.returncode == 0, result.stdout + result.stderr
    assert lab.reaches(lab.mgmt, HOST_MGMT_ADDR)
    assert not lab.reaches(lab.other, HOST_OTHER_ADDR)
    assert OTHER_ADDR not in lab.ruleset()


def test_failed_containment_still_notifies_and_records(lab, tmp_path):
    """nft fails (the namespace does not exist): the team is still told, the incident recorded critical, the job fails."""
    out = tmp_path / 'out.jsonl'
    result = run_playbook(os.path.join(PLAYBOOKS, 'security_incident.yml'),
                          inventory(tmp_path, incident_vars(lab, tmp_path, security_incident_evidence=False,
                                                            security_incident_command_prefix=['ip', 'netns', 'exec',
                                                                                              lab.host + '-gone'])),
                          HOSTS, outcome_log=out)
    assert result.returncode != 0
    record = json.loads((tmp_path / 'incidents' / 'INC-T1-web1.json').read_text())
    assert record['status'] == 'critical'
    assert record['details']['errors'][0].startswith('containment:')
    outcomes = read_outcomes(out)
    assert [r for r in outcomes if r.get('action', '').endswith('.notify') and r.get('status') == 'changed']
    assert checks_of(outcomes, 'incident.security')[0]['status'] == 'critical'


def test_log_scan_findings_are_blocked(lab, tmp_path):
    """The role runs log_scan on an auth log with a brute force from the other network: that address is blocked,
    the management address in the same log is not (it is on the scan's allow-list and protected anyway)."""
    import datetime
    now = datetime.datetime.now()
    lines = []
    for address in (OTHER_ADDR, MGMT_ADDR):
        for index in range(40):
            stamp = (now - datetime.timedelta(seconds=90 - index)).strftime('%b %d %H:%M:%S')
            lines.append('%s web1 sshd[%d]: Failed password for invalid user admin%d from %s port %d ssh2'
                         % (stamp, 1000 + index, index, address, 40000 + index))
    auth = tmp_path / 'auth.log'
    auth.write_text('\n'.join(lines) + '\n')
    out = tmp_path / 'out.jsonl'
    result = run_playbook(os.path.join(PLAYBOOKS, 'security_incident.yml'),
                          inventory(tmp_path, incident_vars(
                              lab, tmp_path, security_incident_evidence=False, security_incident_isolate=False,
                              security_incident_log_scan_sources=[{'type': 'auth', 'path': str(auth),
                                                                   'start_at': 'beginning'}])),
                          HOSTS, outcome_log=out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not lab.reaches(lab.other, HOST_OTHER_ADDR)
    assert lab.reaches(lab.mgmt, HOST_MGMT_ADDR)
    blocked = checks_of(read_outcomes(out), 'incident.blocked_ips')[0]
    assert blocked['details']['ips'] == [OTHER_ADDR + '/32']
