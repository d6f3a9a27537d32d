"""The failing_checks and worst_status filters judge with the result model's order."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.autopilotcx.maintenance.plugins.filter.checks import failing_checks, worst_status

RESULTS = [
    {'checks': [{'name': 'a', 'status': 'ok'}, {'name': 'b', 'status': 'unknown'}]},
    {'checks': [{'name': 'c', 'status': 'warning'}, {'name': 'd', 'status': 'critical'}]},
    {'skipped': True},
]


@pytest.mark.parametrize('fail_on,names', [('critical', ['d']), ('warning', ['c', 'd']),
                                           ('unknown', ['b', 'c', 'd']), ('never', [])])
def test_failing_checks_follows_the_order(fail_on, names):
    assert [c['name'] for c in failing_checks(RESULTS, fail_on)] == names


def test_worst_status():
    assert worst_status(RESULTS) == 'critical'
    assert worst_status(RESULTS[:1]) == 'unknown'
    assert worst_status([]) == 'ok'


def test_names_instead_of_results_and_bad_levels_are_clear_errors():
    with pytest.raises(AnsibleFilterError, match='registered results themselves'):
        failing_checks(['my_result'])
    with pytest.raises(AnsibleFilterError, match='fail_on must be one of'):
        failing_checks(RESULTS, 'severe')
    with pytest.raises(AnsibleFilterError, match='unknown status'):
        worst_status([{'name': 'x', 'status': 'bad'}])


def test_alert_priority_takes_results_or_checks_with_the_policys_rule():
    from ansible_collections.autopilotcx.maintenance.plugins.filter.checks import alert_priority
    results = [{'checks': [{'name': 'a', 'status': 'critical', 'priority': 'medium'},
                           {'name': 'b', 'status': 'ok', 'priority': 'high'}]}, {'skipped': True}]
    assert alert_priority(results) == 'medium'
    assert alert_priority(results[0]['checks'], statuses=['ok']) == 'high'
    assert alert_priority([], default='low') == 'low'
    with pytest.raises(AnsibleFilterError, match=r'alert_priority: checks\[0\] \(a\): priority must be one of'):
        alert_priority([{'name': 'a', 'status': 'warning', 'priority': 'urgent'}])
    with pytest.raises(AnsibleFilterError, match='registered results themselves'):
        alert_priority(['my_result'])
