"""The review playbooks on a recorded outcome file, in check mode and for real."""

import json
import os

import pytest

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.paths import ROOT
from tests.unit.plugins.module_utils.test_review import UNTIL, recorded_outcomes

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcome_store import iso


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
