"""playbooks/system_outage.yml run by real ansible-playbook: the "service" is a real HTTP server process on a free
loopback port, started and stopped by the documented status/restart commands of the inventory, and the impact is
assessed and verified by the real service_health role (http_check). No systemd runs on the test machine, so the
restart goes through restart_command; the ansible.builtin.service path is the same task list with another branch."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.net import free_port, wait_port
from tests.harness.paths import ROOT, python_interpreter

pytestmark = pytest.mark.slow

PLAYBOOK = os.path.join(ROOT, 'playbooks', 'system_outage.yml')


class App(object):
    def __init__(self, tmp_path):
        self.port = free_port()
        self.pidfile = str(tmp_path / 'app.pid')
        self.root = tmp_path / 'www'
        self.root.mkdir()
        (self.root / 'health').write_text('ok\n')
        self.start_cmd = ['sh', '-c', 'cd %s && setsid %s -m http.server %d --bind 127.0.0.1 </dev/null >/dev/null 2>&1 '
                          '& echo $! > %s' % (self.root, sys.executable, self.port, self.pidfile)]
        self.status_cmd = ['sh', '-c', 'kill -0 "$(cat %s)"' % self.pidfile]

    def start(self):
        subprocess.run(self.start_cmd, check=True)
        wait_port(self.port)

    def pid(self):
        try:
            return int(open(self.pidfile).read())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.pid()
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
                for _attempt in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except OSError:
                pass

    def inventory(self, tmp_path, restart=True):
        host = {
            'ansible_connection': 'local', 'ansible_python_interpreter': python_interpreter(),
            'system_outage_id': 'OUT-T1',
            'system_outage_dir': str(tmp_path / 'incidents'),
            'system_outage_settle_seconds': 1,
            'system_outage_diagnostic_commands': [['uptime'], ['df', '-h']],
            'system_outage_services': [{'name': 'app', 'restart': restart, 'checks': ['^http\\.\\S+ app$'],
                                        'status_command': self.status_cmd, 'restart_command': self.start_cmd}],
            'service_health_endpoints': [{'name': 'app', 'url': 'http://127.0.0.1:%d/health' % self.port,
                                          'timeout': 2}],
        }
        path = tmp_path / 'inventory.yml'
        path.write_text(yaml.safe_dump({'all': {'hosts': {'app1': host}}}))
        return path


@pytest.fixture
def app(tmp_path):
    app = App(tmp_path)
    try:
        yield app
    finally:
        app.stop()


def checks(outcomes, name):
    return [c for r in outcomes for c in r.get('checks', []) if c['name'] == name]


def test_nothing_down_nothing_restarted(app, tmp_path):
    app.start()
    pid = app.pid()
    result = run_playbook(PLAYBOOK, app.inventory(tmp_path), outcome_log=tmp_path / 'out.jsonl')
    assert result.returncode == 0, result.stdout + result.stderr
    assert app.pid() == pid
    record = json.loads((tmp_path / 'incidents' / 'OUT-T1.json').read_text())
    assert record['status'] == 'ok' and record['affected'] == []
    assert checks(read_outcomes(tmp_path / 'out.jsonl'), 'incident.outage')[0]['status'] == 'ok'


def test_outage_check_mode_then_recovery(app, tmp_path):
    app.start()
    app.stop()
    # check mode: assessed and previewed, nothing restarted, nothing written
    preview = run_playbook(PLAYBOOK, app.inventory(tmp_path), outcome_log=tmp_path / 'check.jsonl', args=['--check'])
    assert 'Restart the services that are down (documented restart command)' in preview.stdout
    with pytest.raises(OSError):
        os.kill(app.pid(), 0)
    assert not (tmp_path / 'incidents' / 'OUT-T1.json').exists()

    result = run_playbook(PLAYBOOK, app.inventory(tmp_path), outcome_log=tmp_path / 'out.jsonl')
    assert result.returncode == 0, result.stdout + result.stderr
    wait_port(app.port, timeout=5)
    record = json.loads((tmp_path / 'incidents' / 'OUT-T1.json').read_text())
    events = [e['event'] for e in record['timeline']]
    assert events[0].startswith('outage response OUT-T1 started')
    assert events[1].startswith('assessed: 1 service(s) down (app1/app)')
    assert events[2] == 'restarted: app'
    assert events[3].startswith('verified: 0 service(s) still down, 0 failing check(s)')
    assert record['status'] == 'ok'
    assert record['affected'][0]['service'] == 'app'
    assert any('failing check http.' in r for r in record['affected'][0]['reasons'])
    outcomes = read_outcomes(tmp_path / 'out.jsonl')
    assert checks(outcomes, 'incident.outage')[0]['status'] == 'ok'
    assert [c for c in checks(outcomes, 'http.reachable') if c['status'] == 'critical']  # the assessment saw it down
    notified = [r for r in outcomes if r.get('action', '').endswith('.notify') and r.get('status') != 'skipped']
    assert len(notified) == 2  # the outage, then its resolution
    diag = (tmp_path / 'incidents' / 'OUT-T1-diagnostics-app1.txt').read_text()
    assert '## uptime' in diag and '"service": "app"' in diag


def test_unrecoverable_outage_is_recorded_critical_and_fails_the_job(app, tmp_path):
    result = run_playbook(PLAYBOOK, app.inventory(tmp_path, restart=False), outcome_log=tmp_path / 'out.jsonl')
    assert result.returncode != 0
    record = json.loads((tmp_path / 'incidents' / 'OUT-T1.json').read_text())
    assert record['status'] == 'critical' and record['summary'].startswith('NOT resolved: app1/app')
    assert checks(read_outcomes(tmp_path / 'out.jsonl'), 'incident.outage')[0]['status'] == 'critical'
    assert app.pid() is None
