"""The test harness's port allocator: the CI failure it fixes was a port shared between the two xdist workers."""

import os
import subprocess
import sys

from tests.harness import net


def _ports(worker, count=50):
    code = 'from tests.harness.net import free_port; print(" ".join(str(free_port()) for _ in range(%d)))' % count
    env = dict(os.environ, PYTEST_XDIST_WORKER=worker)
    if worker is None:
        del env['PYTEST_XDIST_WORKER']
    out = subprocess.run([sys.executable, '-c', code], env=env, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), capture_output=True, text=True, check=True).stdout
    return [int(p) for p in out.split()]


def test_two_workers_never_share_a_port_and_none_is_ephemeral():
    # gw0 and gw1 are make test's two workers; None is a process outside xdist (the real-AWX stage beside them)
    first, second, alone = _ports('gw0'), _ports('gw1'), _ports(None)
    assert len(set(first)) == len(first) and len(set(second)) == len(second)
    assert not set(first) & set(second) and not set(alone) & (set(first) | set(second))
    with open('/proc/sys/net/ipv4/ip_local_port_range') as handle:
        low = int(handle.read().split()[0])
    assert max(first + second + alone) < low


def test_a_port_something_listens_on_is_skipped():
    import socket
    taken = net.free_port()
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', taken))
        sock.listen(1)
        for _attempt in range(30):
            assert net.free_port() != taken
