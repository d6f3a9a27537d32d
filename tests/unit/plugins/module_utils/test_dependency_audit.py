"""dependency_audit's reading of pip-audit and npm audit JSON, with captured output of the real tools' formats."""

import json
import os

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.dependency_audit import audit

THRESHOLDS = {'dependency_vulnerabilities': {'warning': 0, 'priority': 'medium'},
              'dependency_vulnerabilities_high': {'critical': 0, 'priority': 'high'}}
PIP = {'dependencies': [
    {'name': 'requests', 'version': '2.19.0', 'vulns': [{'id': 'PYSEC-2018-28', 'fix_versions': ['2.20.0']},
                                                        {'id': 'PYSEC-2023-74', 'fix_versions': ['2.31.0']}]},
    {'name': 'idna', 'version': '3.7', 'vulns': []}], 'fixes': []}
NPM = {'auditReportVersion': 2, 'vulnerabilities': {},
       'metadata': {'vulnerabilities': {'info': 0, 'low': 1, 'moderate': 0, 'high': 2, 'critical': 1, 'total': 4}}}
NPM_OFFLINE = {'error': {'code': 'ENOAUDIT', 'summary': 'Your configured registry does not support audit requests.'}}


WEB = os.path.dirname(os.path.abspath(__file__))  # any existing directory stands for the project


class Tools(object):
    def __init__(self, answers, installed=('pip-audit', 'npm')):
        self.answers = answers
        self.installed = installed
        self.calls = []

    def run(self, argv, cwd):
        self.calls.append((argv, cwd))
        return self.answers[argv[0]]

    def which(self, name):
        return '/usr/bin/' + name if name in self.installed else None


def by_name(checks):
    return dict(((c['name'], c.get('target')), c) for c in checks)


def test_findings_of_both_tools_are_counted_and_judged():
    tools = Tools({'pip-audit': (1, json.dumps(PIP), ''), 'npm': (1, json.dumps(NPM), '')})
    checks = by_name(audit({'pip_audit': True, 'pip_audit_args': ['-r', 'req.txt'], 'npm_projects': [WEB]},
                           THRESHOLDS, tools.run, tools.which, 'app1'))
    assert checks[('dependency.pip_audit', 'app1')]['value'] == 2
    assert checks[('dependency.pip_audit', 'app1')]['status'] == 'warning'
    assert checks[('dependency.npm_audit', WEB)]['value'] == 4
    assert checks[('dependency.npm_audit_high', WEB)]['value'] == 3
    assert checks[('dependency.npm_audit_high', WEB)]['status'] == 'critical'
    assert checks[('dependency.tools', 'app1')]['reason'] == 'pip-audit present; npm present'
    assert tools.calls[0] == (['pip-audit', '-f', 'json', '--progress-spinner', 'off', '-r', 'req.txt'], None)
    assert tools.calls[1][0][:3] == ['npm', 'audit', '--json'] and tools.calls[1][1] == WEB
    assert '--no-update-notifier' in tools.calls[1][0] and '--logs-max=0' in tools.calls[1][0]


def test_output_that_is_not_the_tools_json_is_critical_with_the_reason():
    tools = Tools({'pip-audit': (1, '', 'pip-audit: network error: connection refused'),
                   'npm': (1, json.dumps(NPM_OFFLINE), '')})
    checks = by_name(audit({'pip_audit': True, 'npm_projects': [WEB]}, THRESHOLDS, tools.run, tools.which, 'h'))
    assert checks[('dependency.pip_audit', 'h')]['status'] == 'critical'
    assert 'connection refused' in checks[('dependency.pip_audit', 'h')]['reason']
    assert 'does not support audit requests' in checks[('dependency.npm_audit', WEB)]['reason']
    tools = Tools({'pip-audit': (0, '{"dependencies": [', '')})
    checks = by_name(audit({'pip_audit': True}, THRESHOLDS, tools.run, tools.which, 'h'))
    assert checks[('dependency.pip_audit', 'h')]['status'] == 'critical'


def test_missing_tools_run_nothing_and_say_so():
    tools = Tools({}, installed=())
    checks = audit({'pip_audit': True, 'npm_projects': [WEB]}, THRESHOLDS, tools.run, tools.which, 'h')
    assert tools.calls == []
    assert [(c['name'], c['reason']) for c in checks] == [('dependency.tools', 'pip-audit not installed; npm not installed')]


def test_pip_audit_list_form_and_no_findings():
    tools = Tools({'pip-audit': (0, json.dumps([{'name': 'idna', 'version': '3.7', 'vulns': []}]), '')})
    checks = by_name(audit({'pip_audit': True}, THRESHOLDS, tools.run, tools.which, 'h'))
    assert checks[('dependency.pip_audit', 'h')]['value'] == 0 and checks[('dependency.pip_audit', 'h')]['status'] == 'ok'


def test_a_project_that_is_not_a_directory_is_critical_and_npm_is_not_run(tmp_path):
    """Found by the fuzz test: npm ran in a missing directory and wrote its logs under ~/.npm in check mode."""
    tools = Tools({'npm': (1, json.dumps(NPM), '')})
    checks = by_name(audit({'pip_audit': False, 'npm_projects': [str(tmp_path / 'missing')]}, THRESHOLDS, tools.run,
                           tools.which, 'h'))
    check = checks[('dependency.npm_audit', str(tmp_path / 'missing'))]
    assert check['status'] == 'critical' and 'is not a directory' in check['reason']
    assert tools.calls == []
