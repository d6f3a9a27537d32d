"""incident: records with a timeline and the incident.<kind> check."""

import json

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import incident_record as incident
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError


def params(tmp_path, **extra):
    base = dict(incident_id='OUT-1', kind='outage', title='API down', status='critical', priority='high',
                summary='nginx stopped', affected=['app1'], actions=['restarted nginx'], evidence=[],
                timeline=[{'at': '2026-11-24T06:05:00Z', 'event': 'restarted'}, {'at': '2026-11-24T06:00:00Z',
                                                                                 'event': 'health check failed'}],
                details={}, path=str(tmp_path / 'rec' / 'OUT-1.json'))
    base.update(extra)
    return base


def test_record_written_sorted_and_checked(tmp_path):
    result, check, changed = incident.record_result(params(tmp_path))
    assert changed
    record = json.loads((tmp_path / 'rec' / 'OUT-1.json').read_text())
    assert [e['event'] for e in record['timeline']] == ['health check failed', 'restarted']
    assert record['opened'] == '2026-11-24T06:00:00Z'
    assert check['name'] == 'incident.outage' and check['status'] == 'critical' and check['value'] == 'OUT-1'
    assert check['priority'] == 'high' and 'API down' in check['reason']
    _result, _check, again = incident.record_result(params(tmp_path))
    assert not again
    _result, _check, changed = incident.record_result(params(tmp_path, status='ok'))
    assert changed


def test_check_mode_writes_nothing(tmp_path):
    _result, check, changed = incident.record_result(params(tmp_path), check_mode=True)
    assert changed and not (tmp_path / 'rec').exists()
    assert check['status'] == 'critical'


@pytest.mark.parametrize('bad,match', [({'incident_id': 'a/b'}, 'incident_id'), ({'kind': 'alien'}, 'kind'),
                                       ({'timeline': [{'at': 'x'}]}, 'event')])
def test_bad_input(tmp_path, bad, match):
    with pytest.raises(MaintenanceError, match=match):
        incident.record_result(params(tmp_path, **bad))


@pytest.mark.parametrize('where', ['name too long', 'a directory', 'under a file'])
def test_a_path_that_cannot_be_written_fails_with_its_name_and_leaves_no_temporary_file(tmp_path, where):
    """Found by the fuzz test: path with a 300-character name ended in an OSError traceback (ENAMETOOLONG)."""
    (tmp_path / 'dir').mkdir()
    (tmp_path / 'file.txt').write_text('x')
    path = {'name too long': tmp_path / ('x' * 300), 'a directory': tmp_path / 'dir',
            'under a file': tmp_path / 'file.txt' / 'rec.json'}[where]
    with pytest.raises(MaintenanceError, match='cannot write the incident record %s' % path):
        incident.record_result(params(tmp_path, path=str(path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['dir', 'file.txt']
    assert list((tmp_path / 'dir').iterdir()) == []


def test_an_existing_file_that_is_not_text_is_a_change_not_a_traceback(tmp_path):
    """Found by the fuzz test: path naming a binary file ended in UnicodeDecodeError (check mode too)."""
    (tmp_path / 'binary.bin').write_bytes(b'\x00\xff\xfe' * 10)
    _result, _check, changed = incident.record_result(params(tmp_path, path=str(tmp_path / 'binary.bin')),
                                                      check_mode=True)
    assert changed and (tmp_path / 'binary.bin').read_bytes() == b'\x00\xff\xfe' * 10
