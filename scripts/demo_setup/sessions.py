"""Demo data for the housekeeping playbooks: a sessions table in demo_app (expired and live rows),
Redis session keys, PHP-style session files, old temporary files and an oversized cache under demo_dir."""

import json
import os
import time

DAY = 86400


def _age(path, seconds):
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def _files(env):
    base = env['demo_dir']
    sessions = os.path.join(base, 'sessions')
    tmp = os.path.join(base, 'tmp')
    cache = os.path.join(base, 'cache')
    for directory in (sessions, tmp, os.path.join(tmp, 'uploads'), cache):
        os.makedirs(directory, exist_ok=True)
    for i in range(40):
        path = os.path.join(sessions, 'sess_%032x' % i)
        with open(path, 'w') as handle:
            handle.write('user|i:%d;' % i)
        _age(path, 3 * 3600 if i < 30 else 60)  # 30 expired (3 h idle), 10 live
    for i in range(25):
        path = os.path.join(tmp, 'uploads' if i % 2 else '', 'upload-%02d.part' % i)
        with open(path, 'wb') as handle:
            handle.write(b'\0' * 4096)
        _age(path, (10 if i < 20 else 1) * DAY)  # 20 older than a week
    keep = os.path.join(tmp, 'app.lock')
    with open(keep, 'w') as handle:
        handle.write('pid 1\n')
    _age(keep, 30 * DAY)
    for i in range(12):
        path = os.path.join(cache, 'render-%02d.bin' % i)
        with open(path, 'wb') as handle:
            handle.write(b'\1' * (256 * 1024))  # 3 MB in all; the demo budget is 1 MB
        _age(path, (12 - i) * 3600)


def _postgres(env):
    import psycopg

    pg = env['demo_pg']
    kwargs = dict(host=pg['login_host'], port=pg['port'], user=pg['login_user'], password=pg['login_password'],
                  dbname='demo_app', sslmode=pg.get('ssl_mode', 'prefer'))
    if pg.get('ca_cert'):
        kwargs['sslrootcert'] = pg['ca_cert']
    with psycopg.connect(autocommit=True, **kwargs) as conn:
        conn.execute('DROP TABLE IF EXISTS sessions')
        conn.execute('CREATE TABLE sessions (session_id text PRIMARY KEY, user_id int NOT NULL, '
                     'expires_at timestamptz NOT NULL, data jsonb NOT NULL DEFAULT \'{}\')')
        conn.execute('CREATE INDEX sessions_expires_at_idx ON sessions (expires_at)')
        # 60 000 sessions: 36 000 expired long ago, 4 000 expired within the 5 minute grace, 20 000 live
        conn.execute("""
            INSERT INTO sessions (session_id, user_id, expires_at, data)
            SELECT md5(g::text), g % 5000,
                   CASE WHEN g <= 36000 THEN now() - (g % 720) * interval '1 hour' - interval '1 hour'
                        WHEN g <= 40000 THEN now() - interval '2 minutes'
                        ELSE now() + interval '30 minutes' + (g % 60) * interval '1 minute' END,
                   jsonb_build_object('ip', '10.0.' || (g % 250) || '.' || (g % 200), 'agent', 'demo')
            FROM generate_series(1, 60000) g""")
        conn.execute('ANALYZE sessions')


def _redis(env):
    import redis

    client = redis.Redis(host=env['demo_redis']['host'], port=env['demo_redis']['port'])
    now = int(client.time()[0])
    pipe = client.pipeline(transaction=False)
    for i in range(500):
        expires = now - 7200 if i < 200 else now + 3600
        pipe.hset('demo:session:%04d' % i, mapping={'user': i, 'expires': expires})
    for i in range(20):
        pipe.set('demo:session:legacy:%02d' % i, json.dumps({'user': i}))  # no expiry, no TTL
    pipe.execute()


def setup(env):
    _files(env)
    _postgres(env)
    _redis(env)
