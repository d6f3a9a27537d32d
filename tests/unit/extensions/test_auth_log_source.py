"""The auth_log event source (extensions/eda) without ansible-rulebook: its Follower on real log files, with a clock
the test moves, and its entry point ``main`` with a real asyncio queue."""

import asyncio
import calendar
import time

import pytest

from ansible_collections.autopilotcx.maintenance.extensions.eda.plugins.event_source import auth_log

NOW = calendar.timegm((2026, 11, 24, 5, 14, 30, 0, 0, 0))


def failed(epoch, ip, pid):
    tm = time.gmtime(epoch)
    stamp = '%s %2d %02d:%02d:%02d' % (time.strftime('%b', tm), tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
    return '%s web-01 sshd[%d]: Failed password for root from %s port %d ssh2\n' % (stamp, pid, ip, 40000 + pid % 20000)


class Clock(object):
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def follower(tmp_path, clock, **args):
    settings = {'paths': [str(tmp_path / 'auth.log')], 'state_file': str(tmp_path / 'state.json'), 'utc': True,
                'allow_list': ['10.9.0.0/16']}
    settings.update(args)
    return auth_log.Follower(settings, clock=clock)


def append(tmp_path, text):
    with open(str(tmp_path / 'auth.log'), 'a') as handle:
        handle.write(text)


def test_one_event_per_address_and_none_for_the_allow_list(tmp_path):
    clock = Clock(NOW)
    append(tmp_path, '')
    source = follower(tmp_path, clock)
    assert source.changed() and source.scan() == []
    append(tmp_path, ''.join(failed(NOW - 20 + i, '203.0.113.5', 100 + i) + failed(NOW - 20 + i, '10.9.0.7', 200 + i)
                             for i in range(6)))
    assert source.changed()
    events = source.scan()
    assert [e['autopilotcx_log_scan']['address'] for e in events] == ['203.0.113.5']
    event = events[0]['autopilotcx_log_scan']
    assert event['rule'] == 'find_window' and event['priority'] == 'high' and event['failures'] == 6
    # more failures of the same address, same priority, within repeat_after: nothing new
    append(tmp_path, ''.join(failed(NOW - 5 + i * 0.1, '203.0.113.5', 300 + i) for i in range(3)))
    clock.now += 2
    assert source.changed() and source.scan() == []
    assert not source.changed()


def test_a_higher_priority_rule_and_repeat_after_send_the_address_again(tmp_path):
    clock = Clock(NOW)
    thresholds = dict(auth_log.DEFAULT_THRESHOLDS, suspicious_ip_find_failures={'warning': 4, 'priority': 'medium'})
    source = follower(tmp_path, clock, thresholds=thresholds, repeat_after=60)
    append(tmp_path, ''.join(failed(NOW - 200 + i * 30, '198.51.100.9', 100 + i) for i in range(6)))
    source.changed()
    assert [e['autopilotcx_log_scan']['priority'] for e in source.scan()] == ['medium']
    # now 11 within the current minute: per_minute (high) fires -> sent again at once
    append(tmp_path, ''.join(failed(NOW - 15 + i, '198.51.100.9', 200 + i) for i in range(11)))
    clock.now += 1
    source.changed()
    events = source.scan()
    assert [e['autopilotcx_log_scan']['priority'] for e in events] == ['high']
    assert 'per_minute' in [rule['rule'] for rule in events[0]['autopilotcx_log_scan']['rules']]
    # still breaking the rules after repeat_after: sent again (the first block may have expired)
    append(tmp_path, failed(NOW + 60, '198.51.100.9', 400))
    clock.now += 61
    source.changed()
    assert len(source.scan()) == 1


def test_the_pause_grows_with_the_cost_of_a_scan(tmp_path):
    source = follower(tmp_path, Clock(NOW), interval=0.2, cpu_share=0.05)
    source.scan_seconds = 0.002
    assert source.pause() == 0.2
    source.scan_seconds = 0.05
    assert source.pause() == pytest.approx(1.0)


@pytest.mark.parametrize('args, word', [
    ({'state_file': ''}, 'state_file'),
    ({'interval': 0}, 'interval'),
    ({'cpu_share': 2}, 'cpu_share'),
    ({'paths': 7}, 'expected a list'),
])
def test_bad_arguments_are_a_clear_error(tmp_path, args, word):
    with pytest.raises(ValueError, match=word):
        follower(tmp_path, Clock(NOW), **args)


def test_templated_arguments_arrive_as_text_and_are_understood(tmp_path):
    source = follower(tmp_path, Clock(NOW), paths="['%s']" % (tmp_path / 'auth.log'), utc='False',
                      allow_list="['10.0.0.0/8']")
    assert source.paths == [str(tmp_path / 'auth.log')]
    assert source.params['utc'] is False and source.params['allow_list'] == ['10.0.0.0/8']


def test_main_follows_a_file_and_puts_the_event_on_the_queue(tmp_path):
    append(tmp_path, '')

    async def run():
        queue = asyncio.Queue()
        task = asyncio.ensure_future(auth_log.main(queue, {'paths': [str(tmp_path / 'auth.log')], 'utc': True,
                                                           'state_file': str(tmp_path / 'state.json'),
                                                           'interval': 0.05}))
        await asyncio.sleep(0.3)
        now = time.time()
        append(tmp_path, ''.join(failed(now, '203.0.113.99', 500 + i) for i in range(12)))
        try:
            return await asyncio.wait_for(queue.get(), 30)
        finally:
            task.cancel()

    event = asyncio.run(run())['autopilotcx_log_scan']
    assert event['address'] == '203.0.113.99' and event['priority'] == 'high'


def test_a_restart_resumes_at_the_cursor_and_a_rename_rotation_loses_nothing(tmp_path):
    import os
    clock = Clock(NOW)
    append(tmp_path, ''.join(failed(NOW - 60 + i, '203.0.113.5', 100 + i) for i in range(6)))
    first = follower(tmp_path, clock)
    first.changed()
    assert [e['autopilotcx_log_scan']['failures'] for e in first.scan()] == [6]
    # restarted: the old lines are not read again (the address, still in the window, is sent once more with 6)
    os.rename(str(tmp_path / 'auth.log'), str(tmp_path / 'auth.log.1'))        # logrotate: rename, new file
    with open(str(tmp_path / 'auth.log.1'), 'a') as handle:                    # written before rsyslog reopened
        handle.write(failed(NOW - 2, '203.0.113.5', 200))
    append(tmp_path, failed(NOW - 1, '203.0.113.5', 201))
    second = follower(tmp_path, clock)
    second.changed()
    events = second.scan()
    assert [e['autopilotcx_log_scan']['failures'] for e in events] == [8]


# ------------------------------------------------------------------ the block in the source (real nftables)

MGMT = '192.0.2.0/24'


@pytest.fixture
def namespace():
    """A network namespace of its own for the block table (nothing of the machine's network is touched)."""
    from tests.harness.eda import Namespace
    ns = Namespace().create()
    try:
        yield ns
    finally:
        ns.destroy()


def blocking(tmp_path, clock, namespace, **block):
    spec = {'management_networks': [MGMT], 'allow': ['10.8.0.0/16'], 'command_prefix': namespace.prefix,
            'timeout': 600}
    spec.update(block)
    return follower(tmp_path, clock, block=spec)


def nft_set(namespace):
    import subprocess
    return subprocess.run(namespace.prefix + ['nft', 'list', 'set', 'inet', 'autopilotcx_block', 'blocked_v4'],
                          capture_output=True, text=True, check=False)


def test_the_source_blocks_through_nft_block_before_it_sends_the_event(tmp_path, namespace):
    clock = Clock(NOW)
    source = blocking(tmp_path, clock, namespace)
    append(tmp_path, ''.join(failed(NOW - 20 + i, '203.0.113.5', 100 + i) + failed(NOW - 20 + i, '203.0.113.6', 200 + i)
                             for i in range(6)))
    source.changed()
    events = source.scan()
    # blocked when scan() returns, before the event reaches the queue: one transaction for both addresses
    assert namespace.blocked() == {'203.0.113.5', '203.0.113.6'}
    outcome = dict((e['autopilotcx_log_scan']['address'], e['autopilotcx_log_scan']['block']) for e in events)
    assert set(outcome) == {'203.0.113.5', '203.0.113.6'}
    assert all(o['status'] == 'blocked' and o['timeout'] == 600 for o in outcome.values()), outcome
    # the module's own table and set, with the timeout
    listing = nft_set(namespace).stdout
    assert 'timeout 10m' in listing and 'flags interval,timeout' in listing, listing
    # sent again after repeat_after: the block is idempotent (already_blocked), nothing added twice
    source.repeat_after = 0
    append(tmp_path, failed(NOW - 1, '203.0.113.5', 300))
    clock.now += 1
    source.changed()
    again = dict((e['autopilotcx_log_scan']['address'], e['autopilotcx_log_scan']['block']['status'])
                 for e in source.scan())
    assert again == {'203.0.113.5': 'already_blocked', '203.0.113.6': 'already_blocked'}
    assert namespace.blocked() == {'203.0.113.5', '203.0.113.6'}


def test_the_source_never_blocks_an_allow_listed_or_management_address(tmp_path, namespace):
    # the source's allow_list (10.9.0.0/16): no event and no block; the block's own allow (10.8.0.0/16), the
    # management network and the control node: the event says refused, as the module would, and nothing is blocked
    clock = Clock(NOW)
    source = blocking(tmp_path, clock, namespace, control_node='198.51.100.77')
    attackers = ['10.9.0.7', '10.8.3.3', '192.0.2.44', '198.51.100.77', '203.0.113.8']
    append(tmp_path, ''.join(failed(NOW - 20 + i, ip, 100 + i * 10 + n)
                             for i in range(12) for n, ip in enumerate(attackers)))
    source.changed()
    outcome = dict((e['autopilotcx_log_scan']['address'], e['autopilotcx_log_scan']['block']) for e in source.scan())
    assert '10.9.0.7' not in outcome
    assert outcome['203.0.113.8']['status'] == 'blocked'
    for address, why in (('10.8.3.3', 'allow-list'), ('192.0.2.44', 'management network'),
                         ('198.51.100.77', 'control node')):
        assert outcome[address]['status'] == 'refused' and why in outcome[address]['reason'], outcome[address]
    assert namespace.blocked() == {'203.0.113.8'}


def test_the_blocker_refuses_what_the_module_refuses_whatever_it_is_given(namespace):
    blocker = auth_log.Blocker({'management_networks': [MGMT], 'allow': ['10.8.0.0/16'],
                                'command_prefix': namespace.prefix, 'timeout': 60}, ['10.9.0.0/16'])
    outcome = blocker.block(['0.0.0.0/0', '10.0.0.0/7', '127.0.0.1', '10.9.1.1', '10.8.1.1', '192.0.2.1', 'nonsense'])
    assert all(o['status'] == 'refused' for o in outcome.values()), outcome
    assert not namespace.blocked()


@pytest.mark.parametrize('block, word', [
    ({'management_networks': []}, 'management_networks is empty'),
    ({'management_networks': ['0.0.0.0/0']}, 'management_networks'),
    ({'management_networks': ['not-a-network']}, 'management_network'),
    ({'management_networks': [MGMT], 'timeout': 0}, 'timeout'),
    ({'management_networks': [MGMT], 'timeout': 'soon'}, 'block.timeout'),
    ({'management_networks': [MGMT], 'allow': ['10.0.0.300']}, 'allow'),
    ({'management_networks': [MGMT], 'bantime': 5}, 'bantime'),
])
def test_a_bad_block_argument_is_a_clear_error_at_start(tmp_path, block, word):
    with pytest.raises(ValueError, match=word):
        follower(tmp_path, Clock(NOW), block=block)


def test_a_failed_block_is_said_in_the_event_and_the_event_is_sent(tmp_path, caplog):
    clock = Clock(NOW)
    source = follower(tmp_path, clock, block={'management_networks': [MGMT], 'timeout': 600,
                                              'command_prefix': ['ip', 'netns', 'exec', 'apx-no-such-namespace']})
    append(tmp_path, ''.join(failed(NOW - 20 + i, '203.0.113.5', 100 + i) for i in range(6)))
    source.changed()
    events = source.scan()
    assert [e['autopilotcx_log_scan']['block']['status'] for e in events] == ['error']
    assert 'apx-no-such-namespace' in events[0]['autopilotcx_log_scan']['block']['reason']
    assert 'block of 203.0.113.5 failed' in caplog.text


def test_a_templated_block_argument_is_understood(tmp_path):
    source = follower(tmp_path, Clock(NOW), block="{'management_networks': ['%s'], 'timeout': '60'}" % MGMT)
    assert source.blocker.params['management_networks'] == [MGMT] and source.blocker.params['timeout'] == 60
    assert follower(tmp_path, Clock(NOW), block='{}').blocker is None


def test_the_source_keeps_blocking_while_the_rule_engine_does_not_take_its_events(tmp_path, namespace):
    # ansible-rulebook's source queue holds one event, and stops being read while its actions fall behind (a backlog
    # of more than 10 actions): scanning and blocking must not wait for it (it did: every block then waited for the
    # playbooks before it, 16-20 s behind at load 10)
    append(tmp_path, '')

    async def run():
        queue = asyncio.Queue(1)            # never read
        args = {'paths': [str(tmp_path / 'auth.log')], 'utc': True, 'state_file': str(tmp_path / 'state.json'),
                'interval': 0.05, 'block': {'management_networks': [MGMT], 'command_prefix': namespace.prefix,
                                            'timeout': 600}}
        task = asyncio.ensure_future(auth_log.main(queue, args))
        try:
            for n, address in enumerate(['203.0.113.1', '203.0.113.2', '203.0.113.3']):
                now = time.time()
                append(tmp_path, ''.join(failed(now, address, 500 + n * 20 + i) for i in range(6)))
                for dummy in range(300):
                    await asyncio.sleep(0.05)
                    if address in namespace.blocked():
                        break
            return namespace.blocked(), queue.qsize()
        finally:
            task.cancel()

    blocked, waiting = asyncio.run(run())
    assert blocked == {'203.0.113.1', '203.0.113.2', '203.0.113.3'}
    assert waiting == 1
