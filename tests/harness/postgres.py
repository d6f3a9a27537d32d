"""A throwaway PostgreSQL cluster from the system's initdb/pg_ctl.

PostgreSQL refuses to run as root, so when the tests run as root the cluster is
created and started as the unprivileged ``postgres`` user through ``runuser``.
The superuser ``postgres`` gets a password (scram-sha-256 over TCP), so tests
exercise real authentication; a wrong password is a real failure.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile

from .net import free_port, wait_port
from .tier import needs_service

SUPERUSER_PASSWORD = 'Sup3r-Secret-pg-pw'


def pg_bindir():
    """Directory of initdb/pg_ctl: PG_BINDIR, else the newest /usr/lib/postgresql/*/bin, else PATH."""
    if os.environ.get('PG_BINDIR'):
        return os.environ['PG_BINDIR']
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin'), key=lambda p: int(p.split('/')[-2]))
    if candidates:
        return candidates[-1]
    initdb = shutil.which('initdb')
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    raise RuntimeError('PostgreSQL server binaries not found; install the postgresql package (make deps does)')


def _run_as():
    if os.geteuid() != 0:
        return []
    return ['runuser', '-u', 'postgres', '--']


class PostgresCluster:
    """``with PostgresCluster() as pg:`` gives a running server on a free loopback port."""

    def __init__(self, ssl_cert=None, ssl_key=None, preload=('pg_stat_statements',), settings=None, port=None):
        self.bindir = pg_bindir()
        self.port = port or free_port()
        self.host = '127.0.0.1'
        self.user = 'postgres'
        self.password = SUPERUSER_PASSWORD
        self.ssl_cert = ssl_cert
        self.ssl_key = ssl_key
        self.preload = list(preload or ())
        self.settings = dict(settings or {})
        self.base = tempfile.mkdtemp(prefix='apcx-pg-')
        self.datadir = os.path.join(self.base, 'data')
        self.socket_dir = os.path.join(self.base, 'sock')
        self.logfile = os.path.join(self.base, 'server.log')
        self.running = False

    # --------------------------------------------------------------- lifecycle
    def _chown(self, path):
        if os.geteuid() == 0:
            entry = pwd.getpwnam('postgres')
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, *args, **kwargs):
        return subprocess.run(_run_as() + list(args), check=True, capture_output=True, text=True, **kwargs)

    def init(self):
        needs_service('a PostgreSQL cluster')
        os.chmod(self.base, 0o755)
        self._chown(self.base)
        os.makedirs(self.socket_dir)
        self._chown(self.socket_dir)
        pwfile = os.path.join(self.base, 'pwfile')
        with open(pwfile, 'w') as handle:
            handle.write(self.password + '\n')
        self._chown(pwfile)
        self._run(os.path.join(self.bindir, 'initdb'), '-D', self.datadir, '-U', self.user, '--pwfile', pwfile,
                  '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8')
        os.unlink(pwfile)
        conf = [
            "listen_addresses = '127.0.0.1'",
            'port = %d' % self.port,
            "unix_socket_directories = '%s'" % self.socket_dir,
            'fsync = off',
            'synchronous_commit = off',
            'full_page_writes = off',
            'max_connections = 100',
            "log_min_messages = warning",
        ]
        if self.preload:
            conf.append("shared_preload_libraries = '%s'" % ','.join(self.preload))
        if self.ssl_cert and self.ssl_key:
            for source, name in ((self.ssl_cert, 'server.crt'), (self.ssl_key, 'server.key')):
                target = os.path.join(self.datadir, name)
                shutil.copyfile(source, target)
                os.chmod(target, 0o600)
                self._chown(target)
            conf += ['ssl = on', "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"]
        for key, value in self.settings.items():
            conf.append('%s = %s' % (key, value))
        with open(os.path.join(self.datadir, 'postgresql.auto.conf'), 'a') as handle:
            handle.write('\n'.join(conf) + '\n')
        return self

    def start(self):
        self._run(os.path.join(self.bindir, 'pg_ctl'), '-D', self.datadir, '-l', self.logfile, '-w', '-t', '60', 'start')
        wait_port(self.port)
        self.running = True
        return self

    def stop(self, mode='fast'):
        if self.running:
            subprocess.run(_run_as() + [os.path.join(self.bindir, 'pg_ctl'), '-D', self.datadir, '-m', mode, '-w', 'stop'],
                           capture_output=True, text=True, check=False)
            self.running = False

    def destroy(self):
        self.stop('immediate')
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.init().start()

    def __exit__(self, *exc):
        self.destroy()
        return False

    # --------------------------------------------------------------- access
    @property
    def params(self):
        """Module options of the collection's PostgreSQL connection helper."""
        return {'login_host': self.host, 'port': self.port, 'login_user': self.user,
                'login_password': self.password, 'login_db': 'postgres', 'ssl_mode': 'disable',
                'connect_timeout': 5}

    def dsn(self, dbname='postgres', **extra):
        parts = ['host=%s' % self.host, 'port=%d' % self.port, 'user=%s' % self.user,
                 'password=%s' % self.password, 'dbname=%s' % dbname]
        parts += ['%s=%s' % item for item in extra.items()]
        return ' '.join(parts)

    def connect(self, dbname='postgres', autocommit=True):
        import psycopg
        return psycopg.connect(self.dsn(dbname), autocommit=autocommit)

    def execute(self, statement, params=None, dbname='postgres'):
        """Run one statement; returns all rows when it yields any."""
        with self.connect(dbname) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else None

    def create_database(self, name):
        from psycopg import sql
        with self.connect() as conn:
            conn.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(name)))
        return name

    def env(self):
        """libpq environment for command-line tools (pg_dump, psql)."""
        env = dict(os.environ)
        env.update(PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user, PGPASSWORD=self.password)
        return env
