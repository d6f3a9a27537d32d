"""Demo data for backup verification: real pg_dump backups of ``demo_app`` and file archives.

Writes under ``<demo_dir>/backups``:

- ``postgres/``: three custom-format dumps of ``demo_app`` (the newest taken now, two
  copies dated one and two days back, as a daily job keeps them), each with a
  ``.done`` completion marker and a ``.rows.json`` row-count manifest taken in the
  same snapshot as the dump (``pg_export_snapshot`` + ``pg_dump --snapshot``), and a
  ``SHA256SUMS`` manifest of the set;
- ``files/``: two ``config-*.tar.gz`` archives with a ``SHA256SUMS`` inside and beside them.

The demo then shows a verified set and a test restore into a scratch database.
"""

import glob
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time

import psycopg
from psycopg import sql

DAY = 86400


def _tool(name):
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/%s' % name), key=lambda p: int(p.split('/')[-3]))
    return found[-1] if found else shutil.which(name)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _touch(path, when):
    os.utime(path, (when, when))


def _seed(conn):
    conn.execute('CREATE TABLE IF NOT EXISTS backup_demo_customers (id int PRIMARY KEY, email text NOT NULL,'
                 ' created timestamptz NOT NULL DEFAULT now())')
    conn.execute('CREATE TABLE IF NOT EXISTS backup_demo_orders (id int PRIMARY KEY,'
                 ' customer int NOT NULL REFERENCES backup_demo_customers, total numeric(10,2) NOT NULL)')
    conn.execute("INSERT INTO backup_demo_customers (id, email) SELECT g, 'customer' || g || '@example.test'"
                 ' FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING')
    conn.execute('INSERT INTO backup_demo_orders SELECT g, 1 + g % 1000, (g % 97) * 1.25'
                 ' FROM generate_series(1, 2500) g ON CONFLICT DO NOTHING')


def _dump_with_row_counts(pg, path):
    """pg_dump and exact row counts from one snapshot: the row-count manifest matches the dump exactly."""
    kwargs = dict(host=pg['login_host'], port=pg['port'], user=pg['login_user'], password=pg['login_password'],
                  dbname=pg['login_db'], sslmode=pg.get('ssl_mode', 'prefer'))
    if pg.get('ca_cert'):
        kwargs['sslrootcert'] = pg['ca_cert']
    with psycopg.connect(autocommit=True, **kwargs) as conn:
        _seed(conn)
    with psycopg.connect(**kwargs) as conn:
        conn.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
        snapshot = conn.execute('SELECT pg_export_snapshot()').fetchone()[0]
        env = dict(os.environ, PGHOST=pg['login_host'], PGPORT=str(pg['port']), PGUSER=pg['login_user'],
                   PGPASSWORD=pg['login_password'], PGSSLMODE=kwargs['sslmode'])
        if pg.get('ca_cert'):
            env['PGSSLROOTCERT'] = pg['ca_cert']
        subprocess.run([_tool('pg_dump'), '--format=custom', '--snapshot', snapshot, '--file', path, pg['login_db']],
                       env=env, check=True, capture_output=True)
        counts = {}
        for schema, table in conn.execute('SELECT schemaname, relname FROM pg_stat_user_tables ORDER BY 1, 2').fetchall():
            query = sql.SQL('SELECT count(*) FROM {}').format(sql.Identifier(schema, table))
            counts['%s.%s' % (schema, table)] = conn.execute(query).fetchone()[0]
        conn.rollback()
    return counts


def _config_archive(path, version):
    files = {
        'app/settings.ini': ('[app]\nversion = %d\nworkers = 4\n' % version).encode(),
        'nginx/site.conf': b'server { listen 443 ssl; server_name app.example.test; }\n',
    }
    files['SHA256SUMS'] = ''.join('%s  %s\n' % (hashlib.sha256(data).hexdigest(), name)
                                  for name, data in sorted(files.items())).encode()
    with tarfile.open(path, 'w:gz') as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))


def setup(env):
    now = time.time()
    root = os.path.join(env['demo_dir'], 'backups')
    pg_dir = os.path.join(root, 'postgres')
    files_dir = os.path.join(root, 'files')
    for directory in (pg_dir, files_dir):
        os.makedirs(directory, exist_ok=True)
    names = []
    newest = None
    for days in (2, 1, 0):
        when = now - days * DAY - 600
        name = 'demo_app-%s.dump' % time.strftime('%Y%m%dT%H%M', time.gmtime(when))
        path = os.path.join(pg_dir, name)
        if newest is None:
            newest = os.path.join(pg_dir, 'pending.dump')
            counts = _dump_with_row_counts(env['demo_pg'], newest)
        shutil.copyfile(newest, path)
        with open(path + '.rows.json', 'w') as out:
            json.dump(counts, out, indent=1, sort_keys=True)
        with open(path + '.done', 'w') as out:
            out.write('pg_dump finished %s\n' % time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(when)))
        for item in (path, path + '.rows.json', path + '.done'):
            _touch(item, when)
        names.append(name)
    os.unlink(newest)
    with open(os.path.join(pg_dir, 'SHA256SUMS'), 'w') as out:
        for name in names:
            out.write('%s  %s\n' % (_sha256(os.path.join(pg_dir, name)), name))
    archives = []
    for days, version in ((1, 41), (0, 42)):
        when = now - days * DAY - 300
        name = 'config-%s.tar.gz' % time.strftime('%Y%m%d', time.gmtime(when))
        _config_archive(os.path.join(files_dir, name), version)
        _touch(os.path.join(files_dir, name), when)
        archives.append(name)
    with open(os.path.join(files_dir, 'SHA256SUMS'), 'w') as out:
        for name in archives:
            out.write('%s  %s\n' % (_sha256(os.path.join(files_dir, name)), name))
