"""The promotion gate reads real outcome files written by the outcome store's JsonlWriter."""

import datetime

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.store import JsonlWriter, iso
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.outcome_query import package_hash, preview, promotion_gate
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.maintenance_record import build_record, write_json

NOW = datetime.datetime(2026, 11, 29, 3, 0, tzinfo=datetime.timezone.utc)
SET = ['apcx-kernel=1.1', 'apcx-openssl=1.1']


def verified(host, package_set, when, environment='staging', status='ok', redacted=False, record_status='ok'):
    details = {'environment': environment, 'package_set': ['********'] if redacted else package_set}
    if redacted:
        details['package_hashes'] = [package_hash(p) for p in package_set]
    check = build_record('patch.staging_verified', status=status, details=details)
    return {'kind': 'task', 'host': host, 'status': record_status, 'run_id': 'run-%s' % host,
            'recorded_at': iso(when), 'checks': [check]}


def write(path, records):
    writer = JsonlWriter(str(path))
    for record in records:
        writer.write(record)
    writer.close()
    return str(path)


def test_recent_verification_of_the_same_set_passes(tmp_path):
    path = write(tmp_path / 'o.jsonl', [verified('stg1', SET, NOW - datetime.timedelta(hours=1)),
                                        verified('stg2', SET, NOW - datetime.timedelta(hours=1))])
    checks, evidence = promotion_gate(path, SET, within_days=7, now=iso(NOW), min_hosts=2)
    assert checks[0]['status'] == 'ok' and checks[0]['value'] == 2
    assert sorted(e['host'] for e in evidence) == ['stg1', 'stg2']


@pytest.mark.parametrize('record, why', [
    (verified('stg1', SET, NOW - datetime.timedelta(days=8)), 'too old'),
    (verified('stg1', ['apcx-openssl=1.1'], NOW - datetime.timedelta(hours=1)), 'a smaller set'),
    (verified('stg1', ['apcx-kernel=1.1', 'apcx-openssl=1.0'], NOW - datetime.timedelta(hours=1)), 'another version'),
    (verified('stg1', SET, NOW - datetime.timedelta(hours=1), environment='production'), 'not staging'),
    (verified('stg1', SET, NOW - datetime.timedelta(hours=1), status='critical'), 'not ok'),
    (verified('stg1', SET, NOW - datetime.timedelta(hours=1), record_status='failed'), 'task failed'),
    (verified('stg1', SET, NOW + datetime.timedelta(hours=1)), 'in the future'),
])
def test_gate_refuses(tmp_path, record, why):
    path = write(tmp_path / 'o.jsonl', [record])
    checks, evidence = promotion_gate(path, SET, within_days=7, now=iso(NOW))
    assert checks[0]['status'] == 'critical', why
    assert evidence == []


def test_refusal_names_only_the_packages_staging_did_not_verify(tmp_path):
    # issue 24: staging held one package (and saw another version of a dependency); the refusal listed every package
    planned = ['pkg%02d=1.1' % n for n in range(18)] + ['apcx-kernel=1.1', 'apcx-libssl=1.2']
    staged = ['pkg%02d=1.1' % n for n in range(18)] + ['apcx-libssl=1.1']
    path = write(tmp_path / 'o.jsonl', [verified('stg1', staged, NOW - datetime.timedelta(hours=1))])
    checks, _evidence = promotion_gate(path, planned, now=iso(NOW))
    check = checks[0]
    assert check['status'] == 'critical'
    assert check['details']['not_verified'] == ['apcx-kernel=1.1', 'apcx-libssl=1.2']
    assert 'apcx-kernel=1.1 (not verified by staging)' in check['reason']
    assert 'apcx-libssl=1.2 (staging verified apcx-libssl=1.1)' in check['reason']
    assert 'pkg00' not in check['reason'] and '2 of 20' in check['reason']


def test_check_mode_preview_says_production_would_wait(tmp_path):
    # a dry run of staging verifies nothing: in check mode the refusal is an ok preview, not a critical failure
    path = write(tmp_path / 'o.jsonl', [verified('stg1', ['apcx-openssl=1.1'], NOW - datetime.timedelta(hours=1))])
    refused = preview(promotion_gate(path, SET, now=iso(NOW))[0])[0]
    assert refused['status'] == 'ok' and refused['details']['would_wait'] is True
    assert refused['reason'].startswith('would wait for a real staging verification of apcx-kernel=1.1; check mode')
    passed = preview(promotion_gate(path, ['apcx-openssl=1.1'], now=iso(NOW))[0])[0]
    assert passed['status'] == 'ok' and passed['details']['would_wait'] is False
    assert passed['reason'].startswith('would be promoted: staging verified')
    nothing = preview(promotion_gate(str(tmp_path / 'none.jsonl'), SET, now=iso(NOW))[0])[0]
    assert nothing['details']['not_verified'] == SET and 'apcx-kernel=1.1, apcx-openssl=1.1' in nothing['reason']


def test_subset_and_exact(tmp_path):
    path = write(tmp_path / 'o.jsonl', [verified('stg1', SET + ['apcx-tool=1.1'], NOW - datetime.timedelta(hours=1))])
    assert promotion_gate(path, SET, now=iso(NOW))[0][0]['status'] == 'ok'
    assert promotion_gate(path, SET, match='exact', now=iso(NOW))[0][0]['status'] == 'critical'


def test_redacted_package_set_still_matches_by_hash(tmp_path):
    path = write(tmp_path / 'o.jsonl', [verified('stg1', SET, NOW - datetime.timedelta(hours=1), redacted=True)])
    assert promotion_gate(path, SET, now=iso(NOW))[0][0]['status'] == 'ok'


def test_missing_log_and_empty_set(tmp_path):
    assert promotion_gate(str(tmp_path / 'none.jsonl'), SET, now=iso(NOW))[0][0]['status'] == 'critical'
    assert promotion_gate(str(tmp_path / 'none.jsonl'), [], now=iso(NOW))[0][0]['status'] == 'ok'


def test_bad_options(tmp_path):
    with pytest.raises(MaintenanceError, match='match must be'):
        promotion_gate(str(tmp_path / 'o.jsonl'), SET, match='fuzzy')
    with pytest.raises(MaintenanceError, match='within_days must be positive'):
        promotion_gate(str(tmp_path / 'o.jsonl'), SET, within_days=0)


def test_record_file_is_written_atomically_and_idempotently(tmp_path):
    record = build_record('emergency.approval', details={'approved_by': 'alice'}, now='2026-11-29T03:00:00.000000Z')
    path = str(tmp_path / 'incidents' / 'CHG-1.json')
    assert write_json(path, record) is True
    assert write_json(path, record) is False
    assert list((tmp_path / 'incidents').iterdir()) == [tmp_path / 'incidents' / 'CHG-1.json']


@pytest.mark.parametrize('now, within_days, match', [
    ('99999999999d', 7, "now must be an ISO 8601 date and time, not '99999999999d'"),
    ('', 7, None),
    ('2026-11-29T03:00:00Z', 2 ** 63, 'within_days %d is too large' % 2 ** 63),
])
def test_bad_now_and_within_days_are_named(tmp_path, now, within_days, match):
    """Found by the fuzz test: now='99999999999d' ended in a ValueError traceback from fromisoformat."""
    if match is None:  # empty: the current time, as documented
        assert promotion_gate(str(tmp_path / 'none.jsonl'), SET, now=now)[0][0]['status'] == 'critical'
        return
    with pytest.raises(MaintenanceError, match=match):
        promotion_gate(str(tmp_path / 'o.jsonl'), SET, now=now, within_days=within_days)


@pytest.mark.parametrize('kind', ['fifo', 'directory'])
def test_an_outcome_log_that_is_not_a_file_is_critical_not_a_hang(tmp_path, kind):
    """Found by the fuzz test: path naming a FIFO blocked the module until it was killed."""
    import os
    path = tmp_path / 'log'
    if kind == 'fifo':
        os.mkfifo(str(path))
    else:
        path.mkdir()
    check = promotion_gate(str(path), SET, now=iso(NOW))[0][0]
    assert check['status'] == 'critical' and 'cannot read the outcome log %s' % path in check['reason']
    assert 'not a regular file' in check['reason']


def test_a_damaged_line_is_a_warning_beside_the_verdict_not_a_traceback(tmp_path):
    path = write(tmp_path / 'o.jsonl', [verified('stg1', SET, NOW - datetime.timedelta(hours=1))])
    with open(path, 'a') as handle:
        handle.write('{"kind": "task", "recorded_at": "yesterday", "checks": []}\n')
    checks, evidence = promotion_gate(path, SET, within_days=7, now=iso(NOW))
    assert [(c['name'], c['status']) for c in checks] == [('patch.promotion_gate', 'ok'), ('patch.outcome_log', 'warning')]
    assert checks[1]['reason'].endswith('1 damaged line(s) left out (not a JSON record, or no readable recorded_at): line 2')
    assert [e['host'] for e in evidence] == ['stg1']
