"""Shared pytest fixtures: real PostgreSQL, PKI, HTTP(S), Redis, SMTP and webhook servers.

Every fixture starts a real server on a free loopback port and stops it afterwards.
Import the classes from tests.harness for custom setups (other certificates, settings).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.harness.paths import ensure_collection_link  # noqa: E402

ensure_collection_link()

from tests.harness.http import HttpServer, WebhookReceiver  # noqa: E402
from tests.harness.pki import CertificateAuthority  # noqa: E402
from tests.harness.postgres import PostgresCluster  # noqa: E402
from tests.harness.services import RedisServer, SmtpServer  # noqa: E402
from tests.harness.tier import SERVICE_FIXTURES  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line('markers', 'service: starts a real service (set from the fixtures a test uses)')


def pytest_collection_modifyitems(config, items):
    """Mark every test that uses a service fixture (directly or through another fixture) `service`."""
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, 'fixturenames', ())):
            item.add_marker(pytest.mark.service)


@pytest.fixture(scope='session')
def pki(tmp_path_factory):
    """A root CA (``pki.ca_path``) issuing leaves with ``pki.write_leaf(name, ...)``."""
    return CertificateAuthority(directory=str(tmp_path_factory.mktemp('pki')))


@pytest.fixture(scope='session')
def localhost_cert(pki):
    """``(cert_path, key_path)`` of a valid certificate for localhost and 127.0.0.1."""
    cert, key, _issued = pki.write_leaf('localhost', hostnames=('localhost', '127.0.0.1'))
    return cert, key


@pytest.fixture(scope='session')
def postgres(pki):
    """A PostgreSQL cluster (TLS on, pg_stat_statements preloaded) shared by the session."""
    cert, key, _issued = pki.write_leaf('postgres', hostnames=('localhost', '127.0.0.1'))
    with PostgresCluster(ssl_cert=cert, ssl_key=key) as cluster:
        yield cluster


@pytest.fixture()
def postgres_db(postgres, request):
    """A fresh database in the session cluster, dropped afterwards."""
    import re
    name = 't_' + re.sub(r'[^a-z0-9_]', '_', request.node.name.lower())[:50]
    postgres.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    postgres.create_database(name)
    yield name
    postgres.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


@pytest.fixture(scope='session')
def https_server(localhost_cert):
    """HTTPS endpoints (/health, /error, /slow, /wrong-body, /auth/login, /auth/me, /echo) trusted by ``pki.ca_path``."""
    with HttpServer(tls=localhost_cert) as server:
        yield server


@pytest.fixture(scope='session')
def http_server():
    with HttpServer() as server:
        yield server


@pytest.fixture()
def redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture()
def smtp_server(localhost_cert):
    """SMTP with STARTTLS required and AUTH (user ``alerts``, password ``smtp-Secret-pw``)."""
    with SmtpServer(tls=localhost_cert, credentials=('alerts', 'smtp-Secret-pw')) as server:
        yield server


@pytest.fixture()
def webhook_receiver():
    with WebhookReceiver() as server:
        yield server
