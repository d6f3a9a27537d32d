"""incident_net: ruleset generation (plain Python) and the real nft in a throw-away network namespace."""

import ipaddress
import json
import os
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import nft as net
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from tests.harness.netns import HOST_MGMT_ADDR, HOST_OTHER_ADDR, MGMT_ADDR, MGMT_NET, OTHER_ADDR, NetLab


def allow_sets(ruleset):
    found = {}
    for name, body in re.findall(r'set (allow_v[46]) \{\n(.*?)\n  \}', ruleset, re.S):
        match = re.search(r'elements = \{ (.*) \}', body)
        found[name] = [ipaddress.ip_network(e) for e in match.group(1).split(', ')] if match else []
    return found


@pytest.mark.parametrize('value', ['10.0.0.0/33', '300.1.1.1', 'example.org', '', '10.0.0.0/8/1', '::g'])
def test_invalid_cidrs_are_refused(value):
    with pytest.raises(MaintenanceError, match='management_networks'):
        net.isolation_spec([value])


def test_no_management_network_no_isolation():
    with pytest.raises(MaintenanceError, match='refusing to isolate without a management network'):
        net.isolation_spec([])


def test_ruleset_keeps_management_control_node_and_loopback():
    spec = net.isolation_spec(['10.20.0.0/24', '2001:db8:20::/64'], control_node='10.30.0.5', extra_allow=['192.0.2.7'])
    ruleset = net.isolation_ruleset(spec)
    sets = allow_sets(ruleset)
    assert sets['allow_v4'] == [ipaddress.ip_network(n) for n in ('10.20.0.0/24', '10.30.0.5/32', '192.0.2.7/32')]
    assert sets['allow_v6'] == [ipaddress.ip_network('2001:db8:20::/64')]
    assert ruleset.count('policy drop;') == 3
    assert 'iifname "lo" accept' in ruleset and 'oifname "lo" accept' in ruleset
    # the accepts come before anything else in each chain: nothing can drop the management network first
    for chain in ('input', 'output'):
        body = ruleset.split('chain %s {' % chain)[1].split('\n  }')[0]
        assert body.index('@allow_v4 accept') < body.index('counter')
    # the file replaces an earlier isolation atomically (create-if-absent, delete, define)
    assert ruleset.index('delete table inet autopilotcx_isolation') < ruleset.index('table inet autopilotcx_isolation {')


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2 ** 32 - 1), st.integers(net.WIDEST_PREFIX, 32)), min_size=1, max_size=5),
       st.lists(st.ip_addresses(v=4), max_size=3))
def test_property_every_management_network_is_accepted(networks, extra):
    management = [str(ipaddress.ip_network((address, prefix), strict=False)) for address, prefix in networks]
    spec = net.isolation_spec(management, extra_allow=[str(e) for e in extra])
    accepted = allow_sets(net.isolation_ruleset(spec))['allow_v4']
    for item in management:
        assert any(ipaddress.ip_network(item).subnet_of(a) for a in accepted)


@pytest.mark.parametrize('option', ['management_networks', 'control_node', 'allow'])
@pytest.mark.parametrize('value', ['0.0.0.0/0', '::/0', '0.0.0.0/1', '128.0.0.0/7', '2000::/3', 'fc00::/7'])
def test_isolation_refuses_a_network_covering_everything_before_any_nft_call(tmp_path, option, value):
    # 0.0.0.0/0 as the management network would keep every address reachable: "host isolated" and nothing is.
    # The refusal comes before any firewall command: the fake nft records every call, and must record none.
    calls = tmp_path / 'nft-calls'
    fake = tmp_path / 'nft'
    fake.write_text('#!/bin/sh\necho "$@" >> %s\nexit 1\n' % calls)
    fake.chmod(0o755)
    runner = net.Runner(nft=str(fake), iptables=str(fake), ip6tables=str(fake))
    params = {'state': 'isolated', 'management_networks': ['10.20.0.0/24'], 'control_node': None, 'allow': [],
              'timeout': 0, 'backend': 'nftables', 'state_dir': str(tmp_path / 'state')}
    params[option] = value if option == 'control_node' else params[option] + [value]
    with pytest.raises(MaintenanceError, match='%s: %s covers' % (option, re.escape(value))):
        net.isolation_result(runner, params)
    assert not calls.exists() and runner.commands == []


@pytest.mark.parametrize('value', ['10.0.0.0/8', 'fd00::/8', '2001:db8::/32', '192.0.2.7'])
def test_isolation_accepts_real_management_networks_up_to_a_slash_8(value):
    assert net.isolation_spec([value])['management_networks'] == [str(ipaddress.ip_network(value))]


@pytest.mark.parametrize('value', ['0.0.0.0/0', '::/0', '64.0.0.0/2'])
def test_block_refuses_a_management_network_covering_everything(value):
    params = {'state': 'present', 'addresses': ['203.0.113.7'], 'timeout': 60, 'management_networks': [value],
              'allow': [], 'control_node': None}
    with pytest.raises(MaintenanceError, match='management_networks: %s covers' % re.escape(value)):
        net.block_result(net.Runner(nft='/nonexistent/nft'), params)


def test_iptables_commands_return_for_management_then_drop():
    spec = net.isolation_spec(['10.20.0.0/24'], control_node='10.30.0.5')
    cmds = net.iptables_isolation_commands(spec, 4)
    chain_in = [c for c in cmds if c[:2] == ['-A', net.IPTABLES_CHAIN_IN]]
    assert chain_in[0][2:4] == ['-i', 'lo']
    assert ['-s', '10.20.0.0/24'] == chain_in[1][2:4]
    assert chain_in[-1][-2:] == ['-j', 'DROP']


@pytest.mark.parametrize('candidate,reason', [
    ('10.20.0.9', 'management network'),
    ('10.0.0.0/8', 'management network'),        # a wider net that contains the management network
    ('198.51.100.7', 'allow-list'),
    ('10.30.0.5', 'control node'),
    ('127.0.0.1', 'loopback'),
    ('fe80::1', 'link-local'),
    ('0.0.0.0', 'unspecified'),
    ('0.0.0.0/0', 'whole address family'),
    ('::/0', 'whole address family'),
    ('128.0.0.0/1', 'covers'),
    ('banana', 'not an IPv4/IPv6'),
])
def test_block_plan_refuses_protected_addresses(candidate, reason):
    plan = net.block_plan([candidate, '203.0.113.7'], ['10.20.0.0/24'], allow=['198.51.100.0/24'],
                          control_node='10.30.0.5')
    assert plan['block'] == ['203.0.113.7/32']
    assert len(plan['refused']) == 1 and reason in plan['refused'][0]['reason']


def test_block_plan_merges_overlaps_and_accepts_log_scan_dicts():
    plan = net.block_plan(['203.0.113.5', {'ip': '203.0.113.0/28'}, '203.0.113.5', '2001:db8:9::1'], ['10.0.0.0/24'])
    assert plan == {'block': ['203.0.113.0/28', '2001:db8:9::1/128'], 'refused': []}


def test_block_ruleset_uses_timeouts():
    text = net.block_elements_ruleset(['203.0.113.7/32', '2001:db8::1/128'], 600)
    assert 'blocked_v4 { 203.0.113.7/32 timeout 600s }' in text
    assert 'blocked_v6 { 2001:db8::1/128 timeout 600s }' in text


@pytest.mark.parametrize('bad', ['10.20.0.0/24', ['not-a-net']])
def test_block_result_needs_positive_timeout_and_management(bad):
    runner = net.Runner(nft='/nonexistent/nft')
    params = {'state': 'present', 'addresses': ['203.0.113.7'], 'timeout': 0, 'management_networks': [bad] if
              isinstance(bad, str) else bad, 'allow': [], 'control_node': None}
    with pytest.raises(MaintenanceError):
        net.block_result(runner, params)


# ------------------------------------------------------------------ real nft inside a namespace

@pytest.fixture
def lab():
    lab = NetLab()
    try:
        yield lab.create()
    finally:
        lab.destroy()


def test_isolation_in_a_namespace(lab, tmp_path):
    runner = net.Runner(prefix=lab.prefix)
    spec = net.isolation_spec([MGMT_NET])
    before = lab.ruleset()
    preview = net.isolate(runner, spec, 'isolated', check_mode=True, state_dir=str(tmp_path))
    assert preview['changed'] and 'policy drop' in preview['ruleset']
    assert lab.ruleset() == before and lab.reaches(lab.other, HOST_OTHER_ADDR)

    applied = net.isolate(runner, spec, 'isolated', state_dir=str(tmp_path))
    assert applied['changed']
    assert lab.reaches(lab.mgmt, HOST_MGMT_ADDR)
    assert not lab.reaches(lab.other, HOST_OTHER_ADDR)
    assert not net.isolate(runner, spec, 'isolated', state_dir=str(tmp_path))['changed']

    released = net.isolate(runner, None, 'released', state_dir=str(tmp_path))
    assert released['changed'] and lab.reaches(lab.other, HOST_OTHER_ADDR)
    assert not net.isolate(runner, None, 'released', state_dir=str(tmp_path))['changed']


def test_iptables_isolation_in_a_namespace(lab, tmp_path):
    runner = net.Runner(prefix=lab.prefix)
    spec = net.isolation_spec([MGMT_NET])
    result = net.isolate(runner, spec, 'isolated', backend='iptables', state_dir=str(tmp_path), timeout=0)
    assert result['backend'] == 'iptables'
    assert lab.reaches(lab.mgmt, HOST_MGMT_ADDR)
    assert not lab.reaches(lab.other, HOST_OTHER_ADDR)
    net.isolate(runner, None, 'released', backend='iptables', state_dir=str(tmp_path))
    assert lab.reaches(lab.other, HOST_OTHER_ADDR)


def test_timer_armed_before_the_rules_reverts(lab, tmp_path):
    runner = net.Runner(prefix=lab.prefix)
    net.isolate(runner, net.isolation_spec([MGMT_NET]), 'isolated', timeout=2, state_dir=str(tmp_path))
    pending = net.pending_revert(str(tmp_path), net.ISOLATION_TABLE)
    assert pending and pending['kind'] in ('process', 'systemd')
    assert not lab.reaches(lab.other, HOST_OTHER_ADDR)
    deadline = time.time() + 10
    while net.ISOLATION_TABLE in lab.ruleset() and time.time() < deadline:
        time.sleep(0.25)
    assert net.ISOLATION_TABLE not in lab.ruleset()
    assert lab.reaches(lab.other, HOST_OTHER_ADDR)


def test_failed_validation_loads_nothing_and_arms_nothing(lab, tmp_path, monkeypatch):
    runner = net.Runner(prefix=lab.prefix)
    spec = net.isolation_spec([MGMT_NET])
    good = net.isolation_ruleset(spec)
    # a ruleset nft rejects (unknown statement at the end): `nft -c` must stop it before the timer and the load
    monkeypatch.setattr(net, 'isolation_ruleset', lambda spec, table=None: good.replace('  }\n}', '    bogus\n  }\n}'))
    with pytest.raises(MaintenanceError, match='nft -c'):
        net.isolate(runner, spec, 'isolated', timeout=30, state_dir=str(tmp_path))
    assert net.ISOLATION_TABLE not in lab.ruleset()
    assert net.pending_revert(str(tmp_path), net.ISOLATION_TABLE) is None


def test_blocking_in_a_namespace(lab):
    runner = net.Runner(prefix=lab.prefix)
    plan = net.block_plan([OTHER_ADDR, MGMT_ADDR], [MGMT_NET])
    assert plan['block'] == [OTHER_ADDR + '/32'] and plan['refused'][0]['address'] == MGMT_ADDR + '/32'
    before = lab.ruleset()
    assert net.block(runner, plan, 60, check_mode=True)['changed']
    assert lab.ruleset() == before
    result = net.block(runner, plan, 60)
    assert result['blocked'] == [OTHER_ADDR + '/32']
    assert not lab.reaches(lab.other, HOST_OTHER_ADDR)
    assert lab.reaches(lab.mgmt, HOST_MGMT_ADDR)
    listed = json.loads(lab.nft('-j', 'list', 'set', 'inet', net.BLOCK_TABLE, 'blocked_v4').stdout)
    assert 'expires' in json.dumps(listed)
    assert not net.block(runner, plan, 60)['changed']
    assert net.unblock(runner, [OTHER_ADDR])['unblocked'] == [OTHER_ADDR + '/32']
    assert lab.reaches(lab.other, HOST_OTHER_ADDR)


def test_block_entries_expire(lab):
    runner = net.Runner(prefix=lab.prefix)
    net.block(runner, net.block_plan([OTHER_ADDR], [MGMT_NET]), 2)
    assert not lab.reaches(lab.other, HOST_OTHER_ADDR)
    deadline = time.time() + 10
    while net.blocked_now(runner) and time.time() < deadline:
        time.sleep(0.25)
    assert net.blocked_now(runner) == []
    assert lab.reaches(lab.other, HOST_OTHER_ADDR)


def test_disarm_ignores_a_reused_pid(tmp_path):
    (tmp_path / ('%s.revert.pid' % net.ISOLATION_TABLE)).write_text(json.dumps({'kind': 'process', 'pid': os.getpid()}))
    assert net.disarm_revert(str(tmp_path), net.ISOLATION_TABLE) is None  # our own pid: not a revert process, not killed
