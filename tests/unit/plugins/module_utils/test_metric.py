import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health.metric_check import check_metrics

THRESHOLDS = {'http_response_time': {'warning': 2, 'unit': 's', 'priority': 'medium'}}


def test_named_threshold_inline_limits_error_and_missing_threshold():
    checks = check_metrics([
        {'name': 'api.rt', 'value': '2.5', 'threshold': 'http_response_time', 'label': 'response'},
        {'name': 'q', 'value': 3, 'limits': {'critical': 2}},
        {'name': 'down', 'error': 'connection refused', 'target': 'db1'},
        {'name': 'x', 'value': 1, 'threshold': 'no_such_threshold'},
        {'name': 'empty', 'value': '', 'threshold': 'http_response_time'},
    ], THRESHOLDS)
    assert [(c['name'], c['status']) for c in checks] == [
        ('api.rt', 'warning'), ('q', 'critical'), ('down', 'critical'), ('x', 'unknown'), ('empty', 'unknown')]
    assert checks[0]['reason'] == 'response 2.5 s > 2 s'
    assert checks[2]['reason'] == 'connection refused'
    assert "'no_such_threshold' is not defined" in checks[3]['reason']


@pytest.mark.parametrize('value', ['fast', True, [1]])
def test_non_numeric_values_are_clear_errors(value):
    with pytest.raises(MaintenanceError, match='metric m'):
        check_metrics([{'name': 'm', 'value': value, 'limits': {'warning': 1}}], {})


@pytest.mark.parametrize('value', ['nan', 'NaN', float('nan'), 'inf', '-inf', '-Infinity', float('-inf')])
def test_nan_and_infinite_values_are_never_ok(value):
    checks = check_metrics([{'name': 'api.rt', 'value': value, 'threshold': 'http_response_time'}], THRESHOLDS)
    assert len(checks) == 1 and checks[0]['status'] != 'ok'
    assert 'not a finite number' in checks[0]['reason']


def test_an_empty_metric_list_is_refused():
    with pytest.raises(MaintenanceError, match='metrics'):
        check_metrics([], THRESHOLDS)
