"""The fast tier (`make unit`): tests that start real services are left to `make test`.

Tests are marked ``service`` automatically by the fixtures they use (see tests/conftest.py). A test that starts a
service itself (a cluster of its own, a network namespace, a Debian root, an ansible-playbook run) is caught here:
under ``AUTOPILOTCX_TEST_TIER=fast`` the harness skips it with the reason instead of starting the service.
"""

import os

SERVICE_FIXTURES = frozenset(['postgres', 'postgres_db', 'redis_server'])


def fast_tier():
    return os.environ.get('AUTOPILOTCX_TEST_TIER') == 'fast'


def needs_service(what):
    """Call before starting a real service: in the fast tier the test is skipped, saying what it would start."""
    if fast_tier():
        import pytest
        pytest.skip('starts %s: runs in `make test`, not in the fast tier' % what)
