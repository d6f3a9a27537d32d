"""Free loopback ports and waiting for a server to listen.

``free_port`` hands out ports below the kernel's ephemeral range (``ip_local_port_range``, 32768-60999 on Debian)
from a block of its own for each pytest-xdist worker, and never the same port twice in one process. Two things
went wrong with ``bind(('', 0))`` ports (a CI run failed with "connection reset by peer" on a fresh connection to a
plain test server): the kernel hands the same ephemeral port to the other worker, or to a client connection's
source port, between the moment the port is released and the moment the server binds it; and a test that wants a
port where nothing listens ("refused") could find the other worker's server there.
"""

import itertools
import os
import random
import socket
import time

_LOW, _HIGH = 20000, 32000   # below the ephemeral range, above the well-known and registered ports most services use
_BLOCKS = 8


def _worker_index():
    # a process outside xdist (the real-AWX stage of make test runs beside the xdist workers, benchmarks, a
    # developer's single test) takes the last block, which no worker of a 2-way or 4-way run uses
    worker = os.environ.get('PYTEST_XDIST_WORKER')
    if not worker:
        return _BLOCKS - 1
    try:
        return int(worker.lstrip('gw')) % (_BLOCKS - 1)
    except ValueError:
        return 0


def _candidates():
    size = (_HIGH - _LOW) // _BLOCKS
    start = _LOW + _worker_index() * size
    ports = list(range(start, start + size))
    # a different order in every process, so that two sessions side by side (a developer's `make unit` beside a
    # `make test`) rarely walk the same ports in step
    random.Random(os.getpid() ^ int(time.time())).shuffle(ports)
    return itertools.cycle(ports)


_PORTS = None
_GIVEN = set()


def _bindable(host, port):
    with socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host='127.0.0.1'):
    """A port on ``host`` that nothing listens on, this worker's own, not given out before in this process."""
    global _PORTS
    if _PORTS is None:
        _PORTS = _candidates()
    size = (_HIGH - _LOW) // _BLOCKS
    for _attempt in range(size):
        port = next(_PORTS)
        if port in _GIVEN and len(_GIVEN) < size:
            continue
        if _bindable(host, port):
            _GIVEN.add(port)
            return port
    raise RuntimeError('no free port left in this worker\'s block %d-%d' % (_LOW, _HIGH))


def wait_port(port, host='127.0.0.1', timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    raise TimeoutError('nothing listens on %s:%s after %ss' % (host, port, timeout))
