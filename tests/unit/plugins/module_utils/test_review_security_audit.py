"""The monthly and quarterly reviews show the security audit: access, firewall and drift findings, and the
compliance score per host from compliance_check."""

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.review import build_review, render_html, render_markdown


def record(day, host, action, checks):
    return {'kind': 'task', 'recorded_at': '2026-11-%02dT06:00:00+00:00' % day, 'host': host, 'task': action,
            'action': 'autopilotcx.maintenance.' + action, 'status': 'ok', 'checks': checks}


RECORDS = [
    record(1, 'app1', 'access_review', [
        {'name': 'access.sudo', 'status': 'critical', 'reason': '1 finding(s): unapproved sudoer bob', 'target': '/etc/sudoers'}]),
    record(1, 'app1', 'firewall_review', [
        {'name': 'firewall.rules', 'status': 'critical', 'reason': '1 finding(s): any-any accept: inet filter input handle 5'}]),
    record(1, 'app1', 'config_drift', [
        {'name': 'drift.files', 'status': 'warning', 'reason': '1 finding(s): file /etc/ssh/sshd_config changed', 'target': '/'}]),
    record(1, 'app1', 'compliance_check', [
        {'name': 'compliance.summary', 'status': 'warning', 'value': 50.0, 'unit': '%', 'target': 'cis-debian-small',
         'reason': 'cis-debian-small: 1 of 3 control(s) pass, 1 fail, 0 unknown, 1 not assessed'}]),
    record(2, 'app1', 'compliance_check', [
        {'name': 'compliance.summary', 'status': 'critical', 'value': 40.0, 'unit': '%', 'target': 'cis-debian-small',
         'reason': 'cis-debian-small: 2 of 5 control(s) pass, 3 fail, 0 unknown, 0 not assessed'}]),
    record(2, 'db1', 'compliance_check', [
        {'name': 'compliance.summary', 'status': 'ok', 'value': 100.0, 'unit': '%', 'target': 'cis-debian-small',
         'reason': 'cis-debian-small: 5 of 5 control(s) pass'}]),
]


@pytest.mark.parametrize('period', ['monthly', 'quarterly'])
def test_compliance_per_host_is_the_latest(period):
    review = build_review(RECORDS, period, '2026-10-01T00:00:00Z', '2026-12-01T00:00:00Z')
    assert review['compliance'] == [
        {'host': 'app1', 'profile': 'cis-debian-small', 'score': 40.0, 'status': 'critical',
         'reason': 'cis-debian-small: 2 of 5 control(s) pass, 3 fail, 0 unknown, 0 not assessed'},
        {'host': 'db1', 'profile': 'cis-debian-small', 'score': 100.0, 'status': 'ok', 'reason': 'cis-debian-small: 5 of 5 control(s) pass'},
    ]
    assert '## Compliance' in render_markdown(review, 'review')
    assert 'Compliance' in render_html(review, 'review') and 'cis-debian-small: 2 of 5' in render_html(review, 'review')


def test_monthly_audit_findings_include_access_firewall_and_drift():
    review = build_review(RECORDS, 'monthly', '2026-10-01T00:00:00Z', '2026-12-01T00:00:00Z')
    checks = sorted(f['check'] for f in review['audit_findings'])
    assert checks == ['access.sudo', 'drift.files', 'firewall.rules']


def test_weekly_has_no_compliance_section():
    review = build_review(RECORDS, 'weekly', '2026-11-01T00:00:00Z', '2026-11-08T00:00:00Z')
    assert 'compliance' not in review
