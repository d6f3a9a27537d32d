import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import result as r


@pytest.mark.parametrize('statuses, expected', [
    ([], 'ok'),
    (['ok', 'ok'], 'ok'),
    (['ok', 'unknown'], 'unknown'),
    (['unknown', 'warning', 'ok'], 'warning'),
    (['warning', 'critical', 'unknown'], 'critical'),
])
def test_worst(statuses, expected):
    assert r.worst(statuses) == expected


@pytest.mark.parametrize('status, fail_on, fails', [
    ('critical', 'critical', True), ('warning', 'critical', False), ('warning', 'warning', True),
    ('unknown', 'warning', False), ('unknown', 'unknown', True), ('ok', 'unknown', False),
    ('critical', 'never', False),
])
def test_should_fail(status, fail_on, fails):
    assert r.should_fail(status, fail_on) is fails


def test_guide_response_time_threshold_reason():
    check = r.evaluate('http.response_time', 2.31, {'warning': 2, 'unit': 's', 'priority': 'medium'},
                       label='response', target='https://api/health')
    assert check == {'name': 'http.response_time', 'status': 'warning', 'value': 2.31, 'unit': 's', 'threshold': 2,
                     'priority': 'medium', 'reason': 'response 2.31 s > 2 s', 'target': 'https://api/health'}


def test_failed_logins_critical_high():
    check = r.evaluate('auth.failed_logins', 11, {'critical': 10, 'unit': '/min', 'priority': 'high'}, label='failed logins')
    assert (check['status'], check['priority'], check['threshold']) == ('critical', 'high', 10)
    assert check['reason'] == 'failed logins 11 /min > 10 /min'
    at_limit = r.evaluate('auth.failed_logins', 10, {'critical': 10, 'unit': '/min', 'priority': 'high'})
    assert at_limit['status'] == 'ok'


def test_direction_below_with_priority_mapping():
    spec = {'warning': 30, 'critical': 7, 'direction': 'below', 'unit': 'days', 'priority': {'warning': 'medium', 'critical': 'high'}}
    assert r.evaluate('tls.expiry', 45, spec)['status'] == 'ok'
    warning = r.evaluate('tls.expiry', 20, spec)
    assert (warning['status'], warning['priority'], warning['threshold']) == ('warning', 'medium', 30)
    crit = r.evaluate('tls.expiry', 3, spec, label='expires in')
    assert (crit['status'], crit['priority'], crit['reason']) == ('critical', 'high', 'expires in 3 days < 7 days')


def test_missing_value_is_unknown_and_missing_threshold_is_ok_with_reason():
    assert r.evaluate('x.y', None, {'warning': 1})['status'] == 'unknown'
    check = r.evaluate('x.queue', 5, None)
    assert check['status'] == 'ok' and 'no threshold set' in check['reason']


@pytest.mark.parametrize('spec, message', [
    ({'warning': 'lots'}, 'must be a number'),
    ({'warning': 10, 'critical': 5}, 'less severe'),
    ({'direction': 'sideways'}, 'above or below'),
    ({'priority': 'urgent'}, 'priority must be one of'),
    ({'warnig': 1}, 'unknown keys: warnig'),
    ('high', 'must be a mapping'),
])
def test_bad_threshold_specs_say_what_is_wrong(spec, message):
    with pytest.raises(r.ResultModelError, match=message):
        r.evaluate('a.b', 1, spec)


def test_summarize_and_counts():
    checks = [r.ok('a', 'fine'), r.critical('b', 'refused', target='db1'), r.unknown('c', 'no privilege')]
    summary = r.summarize(checks)
    assert summary['status'] == 'critical'
    assert summary['counts'] == {'ok': 1, 'unknown': 1, 'warning': 0, 'critical': 1}
    assert summary['failed_checks'] == ['b (db1)']


def test_check_rejects_bad_status_and_priority():
    with pytest.raises(r.ResultModelError):
        r.make_check('a', 'broken', 'x')
    with pytest.raises(r.ResultModelError):
        r.make_check('a', 'ok', 'x', priority='urgent')


def test_reason_is_one_line():
    assert r.make_check('a', 'critical', 'line one\n  line two')['reason'] == 'line one line two'


# NaN compares false with everything: without a guard, every threshold judgment of a NaN silently passes.
@pytest.mark.parametrize('direction', ['above', 'below'])
@pytest.mark.parametrize('value', [float('nan'), float('inf'), float('-inf')])
def test_non_finite_values_are_never_ok(value, direction):
    spec = {'warning': 10, 'critical': 20, 'direction': direction}
    if direction == 'below':
        spec = {'warning': 20, 'critical': 10, 'direction': direction}
    check = r.evaluate('x.latency', value, spec, label='latency')
    assert check['status'] != 'ok'
    assert 'not a finite number' in check['reason'] and 'latency' in check['reason']
    # an infinite value that breaches keeps its breach: the guard never makes a check less severe
    if (value == float('inf') and direction == 'above') or (value == float('-inf') and direction == 'below'):
        assert check['status'] == 'critical'
    else:
        assert check['status'] == 'unknown'


@pytest.mark.parametrize('spec', [None, {'warning': 10}, {'critical': 5, 'direction': 'below'}])
def test_nan_is_unknown_with_or_without_a_threshold(spec):
    check = r.evaluate('x.y', float('nan'), spec)
    assert check['status'] == 'unknown' and 'nan' in check['reason']


@pytest.mark.parametrize('value', ['12', 'fast', [1], True])
def test_values_that_are_not_numbers_are_unknown_not_a_traceback(value):
    check = r.evaluate('x.y', value, {'warning': 10}, label='queue depth')
    assert check['status'] == 'unknown'
    assert 'queue depth' in check['reason'] and 'not a number' in check['reason']


def test_decimal_values_are_judged():
    from decimal import Decimal
    assert r.evaluate('x.y', Decimal('12.5'), {'warning': 10})['status'] == 'warning'
    assert r.evaluate('x.y', Decimal('NaN'), {'warning': 10})['status'] == 'unknown'


@pytest.mark.parametrize('limit', [float('nan'), 'nan', 'NaN'])
def test_a_nan_limit_is_refused(limit):
    # a NaN limit would make every value pass it
    with pytest.raises(r.ResultModelError, match='warning must be a number'):
        r.evaluate('a.b', 1, {'warning': limit})
