"""Batched session purge vs one plain DELETE, with a concurrent writer (logins) measured during each.

    .venv/bin/python benchmarks/bench_session_purge.py            # 2 M sessions, 1 M expired
    .venv/bin/python benchmarks/bench_session_purge.py --rows 200000

Starts its own PostgreSQL (tests.harness.postgres.PostgresCluster). The sessions are built once, then each
method gets a fresh, identical copy (same DDL, same rows, ordinary logged tables, vacuumed and analyzed, after a
checkpoint). During each purge a writer thread inserts new sessions and touches (extends) live ones, one
transaction every few milliseconds, and its latencies are recorded. With ``--touch-expired N`` every Nth of its
transactions also extends a session that has just expired (a returning user), which is where one unbounded
DELETE holds logins up; those transactions' latencies are reported apart, the writer's p99 stays the p99 of the
others.

The module's batch orders are measured (``expiry``: oldest first along the expiry index; ``physical``: block
ranges; ``auto``, the module's default, picks one of them from the planner's estimates). Target: the batched
purge reaches >= 0.7x the single DELETE's rows per second while the writer's p99 latency stays under 50 ms. The
writer's p99 during the single DELETE is reported too.
"""

import argparse
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.harness.paths import ensure_collection_link  # noqa: E402

ensure_collection_link()

from tests.harness.postgres import PostgresCluster  # noqa: E402

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping.session_cleanup import purge_postgres  # noqa: E402

RATIO_TARGET = 0.7
P99_TARGET = 0.050


def build_base(pg, rows, layout='random'):
    """``random``: expired and live rows interleaved, expiry unrelated to the row's place (the worst case for
    expiry order). ``inserted``: expiry follows insertion order as in a real sessions table (older sessions first),
    with one row in 20 out of place both ways (sessions extended by a login, short-lived sessions)."""
    with pg.connect() as conn:
        conn.execute('CREATE TABLE sessions_base (id bigint PRIMARY KEY, user_id int NOT NULL, '
                     'expires_at timestamptz NOT NULL, data text NOT NULL)')
        if layout == 'random':
            expiry = ("CASE WHEN g %% 2 = 0 THEN now() - interval '1 hour' - random() * interval '30 days' "
                      "ELSE now() + interval '1 hour' + random() * interval '7 days' END")
        else:
            expiry = ("CASE WHEN (g <= %(half)s) <> (g %% 20 = 0) "
                      "THEN now() - interval '1 hour' - (%(half)s - g %% %(half)s) * interval '1 second' "
                      "ELSE now() + interval '1 hour' + (g %% %(half)s) * interval '1 second' END")
        conn.execute(("INSERT INTO sessions_base SELECT g, ((g::bigint * 7919) %% 100000)::int, " + expiry + ", "
                      "md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text) FROM generate_series(1, %(rows)s) g"),
                     {'rows': rows, 'half': rows // 2})


def fresh_copy(pg, name):
    with pg.connect() as conn:
        conn.execute('DROP TABLE IF EXISTS %s' % name)
        conn.execute('CREATE TABLE %s (LIKE sessions_base INCLUDING ALL)' % name)
        conn.execute('INSERT INTO %s SELECT * FROM sessions_base ORDER BY id' % name)
        conn.execute('CREATE INDEX ON %s (expires_at)' % name)
        conn.execute('VACUUM ANALYZE %s' % name)
        conn.execute('CHECKPOINT')
        return conn.execute('SELECT count(*) FILTER (WHERE expires_at < now()), max(id) FROM %s' % name).fetchone()


class Writer(threading.Thread):
    """Logins: insert a session and extend a live one, one transaction every ``interval`` seconds."""

    def __init__(self, pg, table, first_id, rows, layout, interval=0.004, touch_expired=0):
        super().__init__(daemon=True)
        self.pg, self.table, self.next_id, self.rows, self.interval = pg, table, first_id, rows, interval
        self.layout, self.touch_expired = layout, touch_expired
        self.latencies, self.touch_latencies, self.errors = [], [], []
        self.recording = False
        self.stop_event = threading.Event()
        self.ready = threading.Event()

    def live_id(self, i):
        """A session that is live in the base table (a login extends it; it never turns expired)."""
        half = self.rows // 2
        if self.layout == 'random':
            return ((i * 104729) % half) * 2 + 1  # odd ids are live
        candidate = half + 1 + (i * 104729) % (self.rows - half)
        return candidate + 1 if candidate % 20 == 0 else candidate

    def expired_id(self, i):
        """A session that is expired in the base table."""
        half = self.rows // 2
        if self.layout == 'random':
            return ((i * 104729) % half) * 2 + 2  # even ids are expired
        candidate = 1 + (i * 104729) % (half - 1)
        return candidate + 1 if candidate % 20 == 0 else candidate

    def run(self):
        with self.pg.connect() as conn:
            conn.execute("SET statement_timeout = '10s'")
            i = 0
            self.ready.set()
            while not self.stop_event.is_set():
                i += 1
                self.next_id += 1
                touch = self.touch_expired and i % self.touch_expired == 0
                session_id = self.expired_id(i) if touch else self.live_id(i)
                # a transaction counts when it starts during the purge, however long it then waits: one held up
                # until the purge commits ends after the purge, and must be measured all the same
                recording = self.recording
                t0 = time.perf_counter()
                try:
                    with conn.transaction():
                        conn.execute('INSERT INTO %s VALUES (%%s, %%s, now() + interval \'1 hour\', \'new\')' % self.table,
                                     (self.next_id, i))
                        conn.execute('UPDATE %s SET expires_at = now() + interval \'2 hours\' WHERE id = %%s' % self.table,
                                     (session_id,))
                except Exception as exc:  # noqa: BLE001 - every failure is a failed login
                    self.errors.append(repr(exc))
                elapsed = time.perf_counter() - t0
                if recording:
                    (self.touch_latencies if touch else self.latencies).append(elapsed)
                time.sleep(max(self.interval - elapsed, 0))


def percentile(values, share):
    if not values:
        return float('nan')
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)]


def measure(pg, table, rows, method, batch_size, order='expiry', layout='random', touch_expired=0):
    expired, max_id = fresh_copy(pg, table)
    writer = Writer(pg, table, max_id + 1, rows, layout, touch_expired=touch_expired)
    writer.start()
    writer.ready.wait(10)
    time.sleep(0.5)  # the writer is warm
    writer.recording = True
    with pg.connect() as conn:
        start = conn.execute('SELECT now()').fetchone()[0]
    started = time.perf_counter()
    if method == 'single':
        with pg.connect() as conn:
            deleted = conn.execute('DELETE FROM %s WHERE expires_at < now()' % table).rowcount
        detail = '1 statement'
    else:
        result = purge_postgres(dict(pg.params), table, 'id', 'expires_at', batch_size=batch_size, pause=0,
                                statement_timeout=60, vacuum='never', order=order)
        deleted = result['deleted']
        used = order if order == result['order'] else '%s->%s' % (order, result['order'])
        detail = 'order=%s, %d batches of ~%d' % (used, result['batches'], batch_size)
        if result['stopped'] != 'done':
            raise SystemExit('batched purge stopped early: %s' % result['checks'])
        if result['skip_locked_retries']:
            detail += ', %d SKIP LOCKED retries' % result['skip_locked_retries']
    seconds = time.perf_counter() - started
    writer.recording = False
    writer.stop_event.set()
    writer.join(30)
    with pg.connect() as conn:  # sessions expired when the method started and still there (extended ones are live)
        left = conn.execute('SELECT count(*) FROM %s WHERE expires_at < %%s' % table, (start,)).fetchone()[0]
    return {'left': left, 'method': method, 'expired': expired, 'deleted': deleted, 'seconds': seconds, 'rate': deleted / seconds,
            'p50': percentile(writer.latencies, 0.50), 'p99': percentile(writer.latencies, 0.99),
            'max': max(writer.latencies or [float('nan')]), 'writes': len(writer.latencies),
            'touch_p99': percentile(writer.touch_latencies, 0.99), 'touch_max': max(writer.touch_latencies or [float('nan')]),
            'touches': len(writer.touch_latencies), 'errors': writer.errors, 'detail': detail}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--rows', type=int, default=2000000, help='sessions in the table (half expired)')
    parser.add_argument('--quick', action='store_true', help='200 000 sessions')
    parser.add_argument('--batch-size', type=int, default=10000)
    parser.add_argument('--shared-buffers', default='256MB',
                        help='shared_buffers of the benchmark cluster (the 2 M-row table is ~450 MB with its indexes)')
    parser.add_argument('--layout', choices=['random', 'inserted'], default='random',
                        help='where expired rows sit in the table (random: worst case for expiry order)')
    parser.add_argument('--orders', nargs='+', default=['expiry', 'physical', 'auto'],
                        choices=['expiry', 'physical', 'auto'],
                        help='batch orders of the purge to measure (each on its own fresh copy); auto is the default')
    parser.add_argument('--touch-expired', type=int, default=0, metavar='N',
                        help='every Nth writer transaction extends a just-expired session (reported apart); 0: none')
    args = parser.parse_args()
    rows = 200000 if args.quick else args.rows
    with PostgresCluster(preload=(), settings={'shared_buffers': "'%s'" % args.shared_buffers, 'max_wal_size': "'4GB'",
                                               'autovacuum': 'off'}) as pg:
        t0 = time.perf_counter()
        build_base(pg, rows, args.layout)
        print('built %d sessions (%d expired, layout %s, shared_buffers %s) in %.1f s' % (
            rows, rows // 2, args.layout, args.shared_buffers, time.perf_counter() - t0), flush=True)
        single = measure(pg, 'sessions_single', rows, 'single', args.batch_size, layout=args.layout,
                         touch_expired=args.touch_expired)
        runs = [measure(pg, 'sessions_' + order, rows, 'batched', args.batch_size, order, args.layout, args.touch_expired)
                for order in args.orders]
    for run in [single] + runs:
        print('  %-8s deleted %d of %d expired in %.2f s = %.0f rows/s (%s); writer: %d writes, p50 %.1f ms, '
              'p99 %.1f ms, max %.1f ms, %d errors' % (
                  run['method'], run['deleted'], run['expired'], run['seconds'], run['rate'], run['detail'],
                  run['writes'], run['p50'] * 1000, run['p99'] * 1000, run['max'] * 1000, len(run['errors'])))
        if args.touch_expired:
            print('           logins extending a just-expired session: %d, p99 %.1f ms, max %.1f ms' % (
                run['touches'], run['touch_p99'] * 1000, run['touch_max'] * 1000))
    verdicts = []
    for order, batched in zip(args.orders, runs):
        ratio = batched['rate'] / single['rate']
        # everything expired went (with --touch-expired logins extend some expired sessions first: none left)
        complete = batched['left'] == 0 if args.touch_expired else batched['deleted'] == batched['expired']
        ok = ratio >= RATIO_TARGET and batched['p99'] < P99_TARGET and not batched['errors'] and complete
        verdicts.append(ok)
        print('session_purge layout=%s order=%s %d sessions (%d expired): batched %.0f rows/s vs single DELETE %.0f rows/s '
              '-> %.2fx (target >= %.1fx); writer p99 %.1f ms during the batched purge (target < %.0f ms), '
              '%.1f ms during the single DELETE: %s' % (
                  args.layout, order, rows, rows // 2, batched['rate'], single['rate'], ratio, RATIO_TARGET, batched['p99'] * 1000,
                  P99_TARGET * 1000, single['p99'] * 1000, 'PASS' if ok else 'FAIL'))
    return 0 if any(verdicts) else 1


if __name__ == '__main__':
    sys.exit(main())
