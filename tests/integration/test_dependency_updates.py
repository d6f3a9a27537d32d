"""dependency_updates role on localhost: configuration changes recorded with their diff; npm audit against the real
npm registry when it is reachable (the audit needs the registry's advisory database)."""

import json
import os
import shutil
import subprocess

import pytest

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.paths import ROOT

pytestmark = [pytest.mark.slow]
PLAYBOOK = os.path.join(ROOT, 'playbooks', 'dependency_updates.yml')


def inventory(tmp_path, **host_vars):
    path = tmp_path / 'inventory.json'
    host = dict({'ansible_connection': 'local'}, **host_vars)
    path.write_text(json.dumps({'all': {'hosts': {'app1': host}}}))
    return str(path)


def records_named(log, name):
    return [c for r in read_outcomes(str(log)) for c in r.get('checks', []) if c['name'] == name]


def test_configuration_changes_are_recorded_with_their_diff(tmp_path):
    template = tmp_path / 'app.conf.j2'
    template.write_text('max_connections = {{ app_max_connections }}\n')
    dest = tmp_path / 'etc' / 'app.conf'
    dest.parent.mkdir()
    files = [{'src': str(template), 'dest': str(dest), 'mode': '0640'}]

    runs = []

    def run(value, *args):
        runs.append(value)
        log = tmp_path / ('o-%d.jsonl' % len(runs))
        inv = inventory(tmp_path, app_max_connections=value, dependency_updates_config_files=files,
                        dependency_updates_pip_audit=False)
        result = run_playbook(PLAYBOOK, inventory=inv, outcome_log=str(log), args=list(args))
        assert result.returncode == 0, result.stdout[-3000:]
        return records_named(log, 'config.change')

    first = run(100)
    assert dest.read_text() == 'max_connections = 100\n'
    assert len(first) == 1 and 'max_connections = 100' in first[0]['details']['diff'][0]['after']
    second = run(200)
    diff = second[0]['details']['diff'][0]
    assert 'max_connections = 100' in diff['before'] and 'max_connections = 200' in diff['after']
    assert run(200) == []                        # unchanged: nothing recorded
    checked = run(300, '--check')
    assert dest.read_text() == 'max_connections = 200\n'   # check mode changed nothing
    assert checked[0]['reason'].endswith('would change') and checked[0]['details']['check_mode'] in (True, 'True')
    tools = records_named(tmp_path / 'o-1.jsonl', 'dependency.tools')
    assert tools and 'pip-audit' in tools[0]['reason']


@pytest.mark.skipif(not shutil.which('npm'), reason='npm is not installed')
def test_npm_audit_findings_fail_the_job(tmp_path):
    project = tmp_path / 'app'
    project.mkdir()
    (project / 'package.json').write_text(json.dumps({'name': 'app', 'version': '1.0.0', 'private': True,
                                                      'dependencies': {'minimist': '0.0.8'}}))
    try:
        subprocess.run(['npm', 'install', '--package-lock-only', '--no-audit', '--no-fund'], cwd=str(project),
                       check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip('the npm registry is not reachable from here: %s' % exc)
    log = tmp_path / 'o.jsonl'
    inv = inventory(tmp_path, dependency_updates_npm_projects=[str(project)], dependency_updates_pip_audit=False)
    result = run_playbook(PLAYBOOK, inventory=inv, outcome_log=str(log))
    audit = dict((c['name'], c) for r in read_outcomes(str(log)) for c in r.get('checks', [])
                 if c['name'].startswith('dependency.npm'))
    if audit.get('dependency.npm_audit', {}).get('value') is None:
        pytest.skip('npm audit could not reach the advisory database: %s' % audit)
    assert audit['dependency.npm_audit']['value'] >= 1          # minimist 0.0.8: prototype pollution advisories
    assert audit['dependency.npm_audit_high']['status'] == 'critical'
    assert result.returncode != 0                                  # the verdict fails the job on a critical finding


def _stub(directory, name, stdout, rc):
    path = directory / name
    path.write_text('#!/bin/sh\ncat <<\'JSON\'\n%s\nJSON\nexit %d\n' % (stdout, rc))
    path.chmod(0o755)


def test_pip_audit_and_npm_audit_findings_are_judged(tmp_path):
    """Stand-ins print what pip-audit 2.x (-f json) and npm 9 (audit --json) print for a vulnerable project.

    This is the one place a tool is replaced: both real tools need their advisory databases, which this network
    cannot reach (PyPI's JSON API answers 404 here and the npm registry's audit endpoint 405). The stand-ins print
    the tools' documented JSON shapes, so what is tested is the role's parsing, thresholds and verdict.
    """
    stubs = tmp_path / 'bin'
    stubs.mkdir()
    pip_audit = {'dependencies': [
        {'name': 'requests', 'version': '2.19.0', 'vulns': [
            {'id': 'PYSEC-2018-28', 'fix_versions': ['2.20.0'], 'aliases': ['CVE-2018-18074'], 'description': 'x'},
            {'id': 'PYSEC-2023-74', 'fix_versions': ['2.31.0'], 'aliases': ['CVE-2023-32681'], 'description': 'y'}]},
        {'name': 'idna', 'version': '3.7', 'vulns': []}], 'fixes': []}
    npm_audit = {'auditReportVersion': 2, 'vulnerabilities': {'minimist': {'name': 'minimist', 'severity': 'critical'}},
                 'metadata': {'vulnerabilities': {'info': 0, 'low': 0, 'moderate': 0, 'high': 0, 'critical': 1, 'total': 1},
                              'dependencies': {'prod': 2, 'dev': 0, 'total': 1}}}
    _stub(stubs, 'pip-audit', json.dumps(pip_audit), 1)   # pip-audit exits 1 when it finds vulnerabilities
    _stub(stubs, 'npm', json.dumps(npm_audit), 1)         # so does npm audit
    project = tmp_path / 'app'
    project.mkdir()
    log = tmp_path / 'o.jsonl'
    inv = inventory(tmp_path, dependency_updates_npm_projects=[str(project)])
    result = run_playbook(PLAYBOOK, inventory=inv, outcome_log=str(log),
                          env={'PATH': '%s:%s' % (stubs, os.environ['PATH'])})
    checks = dict((c['name'], c) for r in read_outcomes(str(log)) for c in r.get('checks', [])
                  if c['name'].startswith('dependency.'))
    assert checks['dependency.pip_audit']['value'] == 2 and checks['dependency.pip_audit']['status'] == 'warning'
    assert checks['dependency.npm_audit']['value'] == 1
    assert checks['dependency.npm_audit_high']['value'] == 1 and checks['dependency.npm_audit_high']['status'] == 'critical'
    assert result.returncode != 0  # the verdict fails the job on the critical npm finding, after recording all


def test_audit_tool_errors_are_critical_checks_with_the_reason(tmp_path):
    stubs = tmp_path / 'bin'
    stubs.mkdir()
    (stubs / 'pip-audit').write_text('#!/bin/sh\necho "pip-audit: network error: connection refused" >&2\nexit 1\n')
    (stubs / 'pip-audit').chmod(0o755)
    log = tmp_path / 'o.jsonl'
    result = run_playbook(PLAYBOOK, inventory=inventory(tmp_path), outcome_log=str(log),
                          env={'PATH': '%s:%s' % (stubs, os.environ['PATH'])})
    checks = dict((c['name'], c) for r in read_outcomes(str(log)) for c in r.get('checks', [])
                  if c['name'].startswith('dependency.'))
    assert checks['dependency.pip_audit']['status'] == 'critical'
    assert 'connection refused' in checks['dependency.pip_audit']['reason']
    assert result.returncode != 0
