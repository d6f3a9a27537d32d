"""Demo data for the database and cache checks: statements in pg_stat_statements, hits and misses in Redis."""

import psycopg
import redis


def setup(env):
    pg = env['demo_pg']
    dsn = dict(host='127.0.0.1', port=pg['port'], user=pg['login_user'], password=pg['login_password'],
               dbname=pg['login_db'])
    with psycopg.connect(autocommit=True, **dsn) as conn:
        conn.execute('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
        conn.execute('CREATE TABLE IF NOT EXISTS demo_orders (id serial PRIMARY KEY, customer text, total numeric)')
        conn.execute("INSERT INTO demo_orders (customer, total) SELECT 'customer-' || i, i * 1.5 FROM generate_series(1, 2000) i")
        for customer in range(20):
            conn.execute('SELECT count(*), sum(total) FROM demo_orders WHERE customer = %s', ('customer-%d' % customer,))
        # one deliberately slow report, so the query-performance review has something to show
        conn.execute('SELECT pg_sleep(0.6), count(*) FROM demo_orders')
    cache = redis.Redis(host=env['demo_redis']['host'], port=env['demo_redis']['port'])
    for key in range(50):
        cache.set('demo:session:%d' % key, 'x')
    for key in range(60):
        cache.get('demo:session:%d' % key)  # 50 hits, 10 misses: an 83 % hit ratio, a warning by the guide's data
