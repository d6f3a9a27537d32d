"""firewall_review on real nftables rulesets loaded in a throw-away network namespace."""

import subprocess
import uuid

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.firewall_review import review
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents.nft import block_table_ruleset
from tests.harness.tier import needs_service

POLICY = {'allow': [{'name': 'ssh', 'proto': 'tcp', 'port': 22, 'sources': ['192.0.2.0/24']},
                    {'name': 'https', 'proto': 'tcp', 'port': 443},
                    {'name': 'app', 'proto': 'tcp', 'port': '8000-8010', 'sources': ['198.51.100.0/24']}]}

GOOD = '''
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        iifname "lo" accept
        ct state established,related accept
        meta l4proto icmp accept
        ip saddr 192.0.2.0/24 tcp dport 22 accept
        tcp dport 443 accept
        ip saddr 198.51.100.7 tcp dport 8005 accept
    }
    chain output {
        type filter hook output priority 0; policy accept;
        accept
    }
}
'''


@pytest.fixture()
def netns():
    needs_service('network namespaces')
    name = 'apx-fw-%s' % uuid.uuid4().hex[:6]
    subprocess.run(['ip', 'netns', 'add', name], check=True)
    try:
        yield name
    finally:
        subprocess.run(['ip', 'netns', 'del', name], check=False)


def load(ns, text, tmp_path):
    path = tmp_path / ('rules-%s.nft' % uuid.uuid4().hex[:6])
    path.write_text('flush ruleset\n' + text)
    proc = subprocess.run(['ip', 'netns', 'exec', ns, 'nft', '-f', str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def live(ns):
    return subprocess.run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'ruleset'], capture_output=True, text=True, check=True).stdout


def run(ns, policy=None, **params):
    base = dict(policy=POLICY if policy is None else policy, nft_command=['ip', 'netns', 'exec', ns, 'nft'])
    base.update(params)
    checks, extra, changed = review(base)
    assert not changed
    return dict((c['name'], c) for c in checks), extra


def test_ruleset_matching_the_policy_is_ok(netns, tmp_path):
    load(netns, GOOD + block_table_ruleset(3600), tmp_path)
    checks, extra = run(netns)
    assert checks['firewall.rules']['status'] == 'ok', checks['firewall.rules']['reason']
    assert checks['firewall.default_drop']['status'] == 'ok'
    assert extra['ignored_tables'] == ['inet autopilotcx_block']
    assert extra['rules_reviewed'] == 6


def test_planted_rules_each_reported_and_ruleset_unchanged(netns, tmp_path):
    bad = GOOD.replace('policy drop;', 'policy accept;').replace(
        'tcp dport 443 accept', 'tcp dport 443 accept\n        tcp dport 3306 accept\n        tcp dport 22 accept\n'
        '        ip saddr 203.0.113.0/24 accept\n        counter accept')
    load(netns, bad, tmp_path)
    before = live(netns)
    checks, extra = run(netns)
    assert live(netns) == before
    rules = checks['firewall.rules']
    assert rules['status'] == 'critical' and rules['priority'] == 'high'
    reasons = [f['reason'] for f in extra['findings']]
    assert any(r.startswith('any-any accept: inet filter input handle') and 'accepts any protocol from any source' in r for r in reasons)
    assert any('accepts tcp/3306 from any source: not in the inbound policy' in r for r in reasons)
    assert any('accepts tcp/22 from any source, wider than the policy (192.0.2.0/24)' in r for r in reasons)
    assert any('accepts every port from 203.0.113.0/24' in r for r in reasons)
    drop = checks['firewall.default_drop']
    assert drop['status'] == 'critical'
    assert 'input chain inet filter input has policy accept and no final drop: missing default drop' in drop['reason']


def test_final_drop_rule_counts_as_default_drop(netns, tmp_path):
    accepting = GOOD.replace('policy drop;', 'policy accept;')
    load(netns, accepting.replace('tcp dport 443 accept', 'tcp dport 443 accept\n        drop'), tmp_path)
    checks, _extra = run(netns)
    assert checks['firewall.default_drop']['status'] == 'critical'  # a drop in the middle is not the last word
    load(netns, accepting.replace('tcp dport 8005 accept', 'tcp dport 8005 accept\n        counter drop'), tmp_path)
    checks, _extra = run(netns)
    assert checks['firewall.default_drop']['status'] == 'ok', checks['firewall.default_drop']['reason']


def test_empty_ruleset_has_no_default_drop(netns, tmp_path):
    load(netns, '', tmp_path)
    checks, _extra = run(netns)
    assert checks['firewall.default_drop']['status'] == 'critical'
    assert 'no input chain outside the incident tables' in checks['firewall.default_drop']['reason']


def test_nft_failure_is_unknown_with_reason(tmp_path):
    checks, _extra = run('apx-fw-does-not-exist')
    assert checks['firewall.ruleset']['status'] == 'unknown'
    assert 'exited' in checks['firewall.ruleset']['reason'] or 'cannot run' in checks['firewall.ruleset']['reason']


@pytest.mark.parametrize('policy, message', [
    ({'allow': [{'port': 70000}]}, r'policy.allow\[0\].port: 70000 is not within 1-65535'),
    ({'allow': [{'port': 22, 'proto': 'icmp'}]}, r'policy.allow\[0\].proto must be one of'),
    ({'allow': [{'port': 22, 'sources': ['not-a-net']}]}, r"policy.allow\[0\].sources: 'not-a-net' is not an address"),
    ({'alow': []}, 'policy has unknown keys: alow'),
])
def test_bad_policy_names_the_key(policy, message):
    with pytest.raises(MaintenanceError, match=message):
        review({'policy': policy, 'ruleset_json': '{"nftables": []}'})
