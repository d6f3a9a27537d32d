"""The review playbooks on a recorded outcome file, in check mode and for real."""

import json
import os

import pytest

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.paths import ROOT
from tests.unit.plugins.module_utils.test_review import UNTIL, recorded_outcomes

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.store import iso


@pytest.mark.slow
@pytest.mark.parametrize('period', ['weekly', 'quarterly'])
def test_review_playbook_check_mode_then_real(tmp_path, period):
    source = tmp_path / 'recorded.jsonl'
    source.write_text(''.join(json.dumps(r) + '\n' for r in recorded_outcomes()))
    reports = tmp_path / 'reports'
    log = tmp_path / 'this-run.jsonl'
    extra = {'maintenance_outcome_log': str(source), 'review_until': iso(UNTIL), 'review_output_dir': str(reports)}
    playbook = os.path.join(ROOT, 'playbooks', 'review_%s.yml' % period)
    inventory = tmp_path / 'inventory'
    inventory.write_text('localhost ansible_connection=local\n')

    dry = run_playbook(playbook, inventory=str(inventory), extra_vars=extra, outcome_log=log, args=['--check'])
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert not reports.exists()

    real = run_playbook(playbook, inventory=str(inventory), extra_vars=extra, outcome_log=log)
    assert real.returncode == 0, real.stdout[-3000:]
    files = sorted(os.listdir(reports))
    assert files == ['review-%s-2026-11-23.%s' % (period, ext) for ext in ('html', 'json', 'md')]
    # the run's summary says where the report is (issue 17)
    assert 'report: %s' % (reports / ('review-%s-2026-11-23.html' % period)) in real.stdout, real.stdout[-2000:]
    data = json.loads((reports / ('review-%s-2026-11-23.json' % period)).read_text())
    if period == 'weekly':
        assert data['security']['failed_logins_peak_per_minute'] == 14
    else:
        assert data['patch_compliance']['percent'] == 66.7
    records = [r for r in read_outcomes(log) if r['action'] == 'autopilotcx.maintenance.review_report']
    assert [r['status'] for r in records] == ['ok', 'changed']
    assert records[0]['check_mode'] is True


RECORDING_PLAY = '''---
- name: Something worth reviewing
  hosts: all
  gather_facts: false
  tasks:
    - name: Record a check
      autopilotcx.maintenance.maintenance_record:
        name: demo.disk_used
        status: warning
        reason: disk 91 % used
        target: /var
'''


def readme_project(tmp_path, path_line):
    """A project directory with the README's ansible.cfg: the callback's path set in [autopilotcx_outcomes] only."""
    project = tmp_path / 'project'
    project.mkdir()
    (project / 'ansible.cfg').write_text(
        '[defaults]\nstdout_callback = ansible.builtin.default\ncallbacks_enabled = autopilotcx.maintenance.outcomes\n'
        'interpreter_python = auto_silent\n\n[autopilotcx_outcomes]\n# where the records go\n%s\n' % path_line)
    (project / 'inventory').write_text('localhost ansible_connection=local\n')
    (project / 'record.yml').write_text(RECORDING_PLAY)
    home = tmp_path / 'home'
    home.mkdir()
    env = {'ANSIBLE_CONFIG': str(project / 'ansible.cfg'), 'HOME': str(home)}
    return project, env


@pytest.mark.slow
def test_review_reads_what_the_readme_config_made_the_callback_write_and_prints_the_report(tmp_path, monkeypatch):
    """Issue 17: with the README's config the review read ~/.ansible/..., ended green on 0 records, printed no path."""
    for name in ('AUTOPILOTCX_OUTCOME_LOG', 'AUTOPILOTCX_OUTCOME_DSN'):
        monkeypatch.delenv(name, raising=False)
    project, env = readme_project(tmp_path, 'path = records/outcomes.jsonl')
    recorded = run_playbook(str(project / 'record.yml'), inventory=str(project / 'inventory'), env=env, cwd=str(project))
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    assert (project / 'records' / 'outcomes.jsonl').exists()
    review = run_playbook(os.path.join(ROOT, 'playbooks', 'review_weekly.yml'), inventory=str(project / 'inventory'),
                          env=env, cwd=str(project), extra_vars={'review_notify': False})
    assert review.returncode == 0, review.stdout[-3000:]
    reports = project / 'records' / 'reviews'
    html = sorted(str(p) for p in reports.glob('*.html'))
    assert len(html) == 1
    assert html[0] in review.stdout                              # the role prints where the report is
    assert str(project / 'records' / 'outcomes.jsonl') in review.stdout
    data = json.loads(open(html[0][:-len('.html')] + '.json').read())
    assert data['summary']['task_results'] >= 1


@pytest.mark.slow
def test_review_of_a_store_nobody_wrote_fails_naming_it(tmp_path, monkeypatch):
    """The callback is not enabled (a project that forgot it): nothing was ever written where the review reads."""
    for name in ('AUTOPILOTCX_OUTCOME_LOG', 'AUTOPILOTCX_OUTCOME_DSN'):
        monkeypatch.delenv(name, raising=False)
    project, env = readme_project(tmp_path, 'path = %s' % (tmp_path / 'never-written.jsonl'))
    env['ANSIBLE_CALLBACKS_ENABLED'] = 'ansible.builtin.junit'   # any callback but ours
    (project / 'ansible.cfg').write_text((project / 'ansible.cfg').read_text().replace(
        'callbacks_enabled = autopilotcx.maintenance.outcomes\n', ''))
    review = run_playbook(os.path.join(ROOT, 'playbooks', 'review_weekly.yml'), inventory=str(project / 'inventory'),
                          env=env, cwd=str(project), extra_vars={'review_notify': False})
    assert review.returncode != 0
    assert 'never-written.jsonl does not exist' in review.stdout
    assert not (tmp_path / 'reviews').exists()
