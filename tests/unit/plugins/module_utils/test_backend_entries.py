"""What moved from the modules into their backend entries (``run(params, check_mode, host=None)``), called without
Ansible: file_cleanup's totals over its paths, maintenance_record's write outside check mode, outcome_query's
check-mode preview."""

import json
import os
import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import file_cleanup
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import maintenance_record, outcome_query


def _cleanup_params(paths):
    return dict(paths=paths, age='1d', age_from='mtime', patterns=['*'], excludes=[], max_size=None, recurse=True,
                cross_filesystems=False, symlinks=False, skip_open=True, hidden=True, remove_empty_dirs=False,
                thresholds={})


def _old_file(path, size):
    path.write_bytes(b'x' * size)
    past = time.time() - 3 * 86400
    os.utime(str(path), (past, past))


def test_file_cleanup_totals_are_the_sums_over_its_paths(tmp_path):
    first, second = tmp_path / 'a', tmp_path / 'b'
    first.mkdir()
    second.mkdir()
    _old_file(first / 'one.log', 10)
    _old_file(first / 'two.log', 20)
    _old_file(second / 'three.log', 5)
    (second / 'new.log').write_bytes(b'y' * 7)  # too young
    preview = file_cleanup.run(_cleanup_params([str(first), str(second)]), check_mode=True)
    assert isinstance(preview, Report) and not preview.changed
    assert [p['would_remove'] for p in preview.data['paths']] == [2, 1]
    assert (preview.data['would_remove'], preview.data['would_free'], preview.data['removed']) == (3, 35, 0)
    assert sorted(os.listdir(str(first))) == ['one.log', 'two.log']  # check mode removed nothing
    done = file_cleanup.run(_cleanup_params([str(first), str(second)]), check_mode=False)
    assert done.changed and (done.data['removed'], done.data['bytes_freed']) == (3, 35)
    assert os.listdir(str(first)) == [] and os.listdir(str(second)) == ['new.log']


def _record_params(path):
    return dict(name='deploy.app', status='ok', reason='deployed', details={'version': '1.2'}, target='app1',
                priority='low', path=path, fail_on='critical', thresholds={})


def test_maintenance_record_writes_only_outside_check_mode(tmp_path):
    path = str(tmp_path / 'record.json')
    preview = maintenance_record.run(_record_params(path), check_mode=True)
    assert not preview.changed and not os.path.exists(path)
    assert preview.checks == [preview.data['record']] and preview.data['path'] == path
    written = maintenance_record.run(_record_params(path), check_mode=False)
    assert written.changed
    with open(path) as handle:
        assert json.load(handle)['name'] == 'deploy.app'


def test_outcome_query_previews_the_gate_in_check_mode(tmp_path, monkeypatch):
    for name in ('AUTOPILOTCX_OUTCOME_DSN', 'AUTOPILOTCX_OUTCOME_TABLE', 'AUTOPILOTCX_OUTCOME_SCHEMA', 'ANSIBLE_CONFIG'):
        monkeypatch.delenv(name, raising=False)  # the file store named below, not a configured one
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.chdir(tmp_path)
    params = dict(path=str(tmp_path / 'outcomes.jsonl'), pg_dsn=None, pg_table=None, pg_schema=None,
                  package_set=['openssl'], within_days=7, environment='staging', match='subset', min_hosts=1,
                  now='2026-01-10T00:00:00Z')
    (tmp_path / 'outcomes.jsonl').write_text('')
    real = outcome_query.run(params, check_mode=False)
    assert [c['status'] for c in real.checks] == ['critical']  # nothing verified: production waits
    preview = outcome_query.run(params, check_mode=True)
    assert [c['status'] for c in preview.checks] == ['ok']
    assert preview.checks[0]['details']['would_wait'] is True and 'would wait' in preview.checks[0]['reason']
