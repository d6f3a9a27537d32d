"""Issue 18 end to end, with Debian's real Prometheus, node_exporter, Alertmanager and Pushgateway on loopback.

A cadence playbook writes textfiles through the outcome callback; node_exporter's textfile collector serves them;
Prometheus scrapes them every second and evaluates the shipped rules; Alertmanager routes by priority to the
webhook receiver fixture. Every daemon is started by Popen on a free port with its data in a temporary directory and
stopped by its PID (tests/harness/prometheus_stack.py).
"""

import json
import os
import re
import urllib.request

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import prometheus as prom
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.alerts.notify import notify

from tests.harness.ansible_run import run_playbook
from tests.harness.paths import ROOT
from tests.harness.prometheus_stack import Alertmanager, NodeExporter, Prometheus, Pushgateway, binary, wait_until

PLAYBOOKS = os.path.join(os.path.dirname(__file__), 'playbooks')
RULES = os.path.join(ROOT, 'extensions', 'prometheus', 'rules.yml')
ROUTING = os.path.join(ROOT, 'extensions', 'prometheus', 'alertmanager.yml')
LEVELS = [{'level': 1, 'role': 'System Administrator', 'response': '30m', 'contacts': []},
          {'level': 2, 'role': 'Security Team Lead', 'response': '15m', 'contacts': []},
          {'level': 3, 'role': 'CTO', 'response': '5m', 'contacts': []}]
ROUTES = {'high': [1, 2], 'medium': [1], 'low': []}


def needs(*kinds):
    missing = [k for k in kinds if binary(k) is None]
    return pytest.mark.skipif(bool(missing), reason='missing %s: install tests/system-packages.txt' % ', '.join(missing))


def routing_config(receiver_url):
    """The shipped routing tree, pointed at the webhook receiver and with 1 s group timings so the test is fast."""
    with open(ROUTING) as handle:
        text = handle.read()
    text = re.sub(r'http://127\.0\.0\.1:9/level\d', receiver_url + '/hook', text)
    return re.sub(r'group_(wait|interval): \S+', r'group_\1: 1s', text)


def by_receiver(received, status=None):
    result = {}
    for item in received:
        body = item.get('json') or {}
        if status and body.get('status') != status:
            continue
        result.setdefault(body.get('receiver'), []).extend(body.get('alerts') or [])
    return result


DASHBOARD = os.path.join(ROOT, 'extensions', 'grafana', 'autopilotcx-maintenance.json')
DASHBOARD_MUST_SHOW = ('Every check (0 ok, 1 unknown, 2 warning, 3 critical)', 'What is not ok right now',
                       'Alerts firing (the shipped rules)', "Time since the last successful run (dead-man's switch)",
                       'Run duration per cadence', 'Runs that failed (last run per cadence and host)')


def dashboard_answers(server):
    """Every query of every panel, with the dashboard's variables at "All", run through Prometheus' query API
    (an invalid expression is an HTTP 400 there, so this raises); the panel title maps to its first query's result."""
    with open(DASHBOARD) as handle:
        dashboard = json.load(handle)
    answers = {}
    for panel in dashboard['panels']:
        for index, target in enumerate(panel['targets']):
            expr = target['expr'].replace('$host', '.*').replace('$cadence', '.*')
            result = server.query(expr)
            if index == 0:
                answers[panel['title']] = result
    return answers


@pytest.mark.slow
@needs('prometheus', 'node_exporter', 'alertmanager')
def test_cadence_run_is_scraped_and_its_critical_check_fires_a_rule(tmp_path, webhook_receiver):
    textdir = tmp_path / 'textfile'
    textdir.mkdir()
    inventory = tmp_path / 'inv'
    inventory.write_text('web1 ansible_connection=local\n')
    env = {'AUTOPILOTCX_PROMETHEUS_TEXTFILE_DIR': str(textdir)}
    result = run_playbook(os.path.join(PLAYBOOKS, 'prometheus_cadence.yml'), inventory=str(inventory),
                          outcome_log=tmp_path / 'o.jsonl', env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.listdir(str(textdir)) == ['autopilotcx_service_health__web1.prom']
    text = (textdir / 'autopilotcx_service_health__web1.prom').read_text()
    assert 'hunter2' not in text and 'bob' not in text and 'key=k' not in text

    with Alertmanager(routing_config(webhook_receiver.url)) as am, NodeExporter(textdir) as node, \
            Prometheus(['127.0.0.1:%d' % node.port], [RULES], alertmanager='127.0.0.1:%d' % am.port) as server:
        series = wait_until(lambda: server.query('autopilotcx_check_status == 3'), 60, 'the critical check scraped')
        assert [s['metric'] for s in series] == [{
            '__name__': 'autopilotcx_check_status', 'check': 'app.queue_depth', 'target': 'queue-a', 'host': 'web1',
            'priority': 'high', 'cadence': 'service_health', 'instance': '127.0.0.1:%d' % node.port, 'job': 'autopilotcx'}]
        assert server.query('autopilotcx_check_value{check="app.queue_depth"}')[0]['value'][1] == '50'
        assert server.query('autopilotcx_cadence_run_success{cadence="service_health",host="web1"}')[0]['value'][1] == '1'
        fired = wait_until(lambda: server.query('ALERTS{alertname="AutopilotcxCheckCritical",alertstate="firing"}'), 60,
                           'the AutopilotcxCheckCritical rule firing')
        assert fired[0]['metric']['check'] == 'app.queue_depth' and fired[0]['metric']['severity'] == 'critical'
        # routed by priority: high goes to Level 1 and Level 2
        routed = wait_until(lambda: set(by_receiver(webhook_receiver.received, 'firing')) >= {'level1-sysadmin', 'level2-security-lead'},
                            60, 'the rule routed to levels 1 and 2')
        assert routed

        # the shipped Grafana dashboard: every panel's query is valid PromQL on this Prometheus, and the panels a
        # team opens first show this run (the status map, what is not ok, alerts firing, job health)
        answers = dashboard_answers(server)
        assert set(answers) >= set(DASHBOARD_MUST_SHOW)
        empty = [title for title in DASHBOARD_MUST_SHOW if not answers[title]]
        assert not empty, 'dashboard panels with no data after a run: %s' % empty
        not_ok = dict((a['metric']['check'], a['value'][1]) for a in answers['What is not ok right now'])
        assert not_ok == {'app.queue_depth': '3'}

        # the check disappears from the next run: its series go stale in Prometheus, the other stays
        playbook = tmp_path / 'second.yml'
        with open(os.path.join(PLAYBOOKS, 'prometheus_cadence.yml')) as handle:
            playbook.write_text(handle.read().replace('          - {name: app.gone_after_first_run, value: 1, limits: {warning: 2}, target: x}\n', ''))
        result = run_playbook(str(playbook), inventory=str(inventory), outcome_log=tmp_path / 'o.jsonl', env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        wait_until(lambda: not server.query('autopilotcx_check_status{check="app.gone_after_first_run"}'), 60, 'the stale series gone')
        assert server.query('autopilotcx_check_status{check="app.latency"}')


@pytest.mark.slow
@needs('alertmanager')
def test_notify_alertmanager_channel_routes_by_priority_and_resolves(tmp_path, webhook_receiver):
    with Alertmanager(routing_config(webhook_receiver.url)) as am:
        params = {
            'title': 'Disk nearly full', 'body': '', 'priority': 'auto', 'source': 'web1', 'state': 'firing',
            'state_file': str(tmp_path / 'state.json'), 'escalation_levels': LEVELS, 'routing': ROUTES, 'repeat_after': '4h',
            'checks': [{'name': 'disk.used', 'status': 'critical', 'priority': 'high', 'target': '/var', 'reason': 'disk 95% > 90%'},
                       {'name': 'disk.inodes', 'status': 'ok', 'priority': 'low', 'target': '/var', 'reason': 'fine'}],
            'channels': [{'name': 'am', 'type': 'alertmanager', 'url': am.url}],
        }
        checks, extra, changed = notify(params)
        assert [c['status'] for c in checks] == ['ok'] and extra['deliveries'][0]['status'] == 'sent', extra
        active = am.alerts(active='true')
        assert len(active) == 1
        assert active[0]['labels'] == {'alertname': 'AutopilotcxNotify', 'check': 'disk.used', 'target': '/var', 'host': 'web1',
                                       'priority': 'high', 'severity': 'critical', 'escalation_level': '2',
                                       'dedup_key': extra['dedup_key']}
        assert active[0]['annotations']['reason'] == 'disk 95% > 90%'
        assert active[0]['annotations']['response_target'] == '15m'

        def paged():
            receivers = by_receiver(webhook_receiver.received, 'firing')
            return receivers if {'level1-sysadmin', 'level2-security-lead'} <= set(receivers) else None
        firing = wait_until(paged, 30, 'levels 1 and 2 paged')
        assert 'level3-cto' not in firing and 'recorded-only' not in firing

        params.update(state='resolved', checks=[])
        checks, extra, changed = notify(params)
        assert extra['action'] == 'resolved', extra
        wait_until(lambda: not am.alerts(active='true'), 30, 'the alert resolved in Alertmanager')
        resolved = wait_until(lambda: by_receiver(webhook_receiver.received, 'resolved').get('level1-sysadmin'), 30,
                              'the resolved notification')
        assert resolved[0]['labels']['check'] == 'disk.used' and resolved[0]['status'] == 'resolved'

        # medium priority reaches Level 1 only
        del webhook_receiver.received[:]
        params.update(state='firing', title='Slow API', priority='medium', dedup_key='slow-api',
                      checks=[{'name': 'http.response_time', 'status': 'warning', 'priority': 'medium', 'target': 'https://app/health',
                               'reason': '2.5 s > 2 s'}])
        notify(params)
        got = wait_until(lambda: by_receiver(webhook_receiver.received, 'firing').get('level1-sysadmin'), 30, 'level 1 paged')
        assert got[0]['labels']['severity'] == 'warning' and got[0]['labels']['escalation_level'] == '1'
        assert 'level2-security-lead' not in by_receiver(webhook_receiver.received)


@pytest.mark.slow
@needs('pushgateway')
def test_pushgateway_group_per_cadence_and_host_drops_stale_series():
    with Pushgateway() as gateway:
        first = prom.MetricsCollector(pushgateway_url=gateway.url)
        first.add('web1', 'service_health', 'ok', [
            {'name': 'a.check', 'status': 'critical', 'value': 3, 'priority': 'high', 'target': 't'},
            {'name': 'b.check', 'status': 'ok', 'value': 1, 'priority': 'low', 'target': 't'}])
        first.add('web2', 'service_health', 'ok', [{'name': 'b.check', 'status': 'ok', 'value': 1, 'priority': 'low'}])
        assert first.finish() == []
        with urllib.request.urlopen(gateway.url + '/metrics', timeout=10) as response:
            text = response.read().decode()
        assert re.search(r'autopilotcx_check_status\{cadence="service_health",check="a.check",host="web1",'
                         r'instance="",job="autopilotcx",priority="high",target="t"\} 3', text), text
        second = prom.MetricsCollector(pushgateway_url=gateway.url)
        second.add('web1', 'service_health', 'ok', [{'name': 'b.check', 'status': 'ok', 'value': 1, 'priority': 'low', 'target': 't'}])
        assert second.finish() == []
        with urllib.request.urlopen(gateway.url + '/metrics', timeout=10) as response:
            text = response.read().decode()
        assert 'check="a.check"' not in text            # gone with the group's replacement
        assert re.search(r'check="b.check",host="web2"', text)  # another host's group untouched
        groups = gateway.get_json('/api/v1/metrics')['data']
        assert sorted((g['labels']['cadence'], g['labels']['host']) for g in groups) == \
            [('service_health', 'web1'), ('service_health', 'web2')]
