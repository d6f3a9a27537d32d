"""Benchmark of backup_verify, each figure against a baseline measured in the same run.

1. Checksum verification of one large file (default 2 GiB) through ``verify_sets`` with a
   sha256sum manifest, against ``openssl dgst -sha256`` of the same file (target: at least
   0.9x openssl's throughput); ``sha256sum`` is reported beside it. The file is read once
   before timing so every tool reads from the page cache (the comparison is of the hashing
   path, not of the disk).
2. Test restore of a pg_dump of 1 M rows (scratch database created, pg_restore, a
   validation query, row count check, scratch database dropped) against a bare
   ``pg_restore`` into an empty database created beforehand (target: at most 1.2x its time).

``--quick`` runs 256 MiB and 200 000 rows; ``--size-mib`` and ``--rows`` set them directly.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import ROOT, verdict  # noqa: E402  (puts the collection on sys.path)
from tests.harness.postgres import PostgresCluster  # noqa: E402

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups import restore as br  # noqa: E402
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups.backup_verify import verify_sets  # noqa: E402


def timed(func):
    started = time.monotonic()
    result = func()
    return time.monotonic() - started, result


def run(command, **kwargs):
    return subprocess.run(command, check=True, capture_output=True, **kwargs)


def bench_checksum(size_mib, repeat, workdir):
    path = os.path.join(workdir, 'big.bin')
    block = 16 * 1024 * 1024
    with open(path, 'wb') as out:
        written = 0
        while written < size_mib * 1024 * 1024:
            chunk = os.urandom(min(block, size_mib * 1024 * 1024 - written))
            out.write(chunk)
            written += len(chunk)
    size = os.path.getsize(path)
    subprocess.run(['cat', path], stdout=subprocess.DEVNULL, check=True)  # into the page cache for every tool
    digest = run(['openssl', 'dgst', '-sha256', '-r', path]).stdout.split()[0].decode()
    with open(os.path.join(workdir, 'SHA256SUMS'), 'w') as out:
        out.write('%s  big.bin\n' % digest)
    spec = {'name': 'bench', 'path': workdir, 'pattern': 'big.bin', 'manifest': 'SHA256SUMS', 'read_through': False}
    ours, openssl = [], []
    for _index in range(repeat):
        seconds, (checks, _report) = timed(lambda: verify_sets([spec], {}))
        status = [c for c in checks if c['name'] == 'backup.integrity.checksum'][0]
        assert status['status'] == 'ok', status
        ours.append(seconds)
        seconds = timed(lambda: run(['openssl', 'dgst', '-sha256', path]))[0]
        openssl.append(seconds)
    sha256sum = timed(lambda: run(['sha256sum', path]))[0]
    os.unlink(path)
    mib = size / 1048576.0
    t_ours, t_openssl = statistics.median(ours), statistics.median(openssl)
    ratio = (mib / t_ours) / (mib / t_openssl)
    passed = verdict('backup_verify checksum of %d MiB' % mib,
                     '%.2f s (%.0f MiB/s) vs openssl dgst -sha256 %.2f s (%.0f MiB/s)'
                     % (t_ours, mib / t_ours, t_openssl, mib / t_openssl),
                     '%.2fx openssl throughput' % ratio, '>= 0.9x', ratio >= 0.9)
    print('  beside it: sha256sum %.2f s (%.0f MiB/s) -> %.1fx slower than backup_verify; medians of %d runs,'
          ' file in the page cache' % (sha256sum, mib / sha256sum, sha256sum / t_ours, repeat))
    return passed


def bench_restore(rows, repeat, workdir):
    with PostgresCluster(preload=()) as pg:
        pg.create_database('bench_src')
        pg.execute('CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, total numeric(12,2),'
                   ' note text, created timestamptz NOT NULL DEFAULT now())', dbname='bench_src')
        pg.execute("INSERT INTO orders (id, customer, total, note) SELECT g, g %% 5000, (g %% 997) * 1.5,"
                   " 'order ' || g FROM generate_series(1, %d) g" % rows, dbname='bench_src')
        dump = os.path.join(workdir, 'bench.dump')
        run([os.path.join(pg.bindir, 'pg_dump'), '-Fc', '-f', dump, 'bench_src'], env=pg.env())
        params = pg.params
        validations = [{'table': 'public.orders', 'min_rows': rows},
                       {'name': 'max id', 'query': 'SELECT max(id) FROM orders', 'min_value': rows}]
        ours, bare = [], []
        for index in range(repeat):
            name = 'bench_bare_%d' % index
            pg.create_database(name)  # "into an empty database": created before the clock starts
            seconds = timed(lambda name=name: run([os.path.join(pg.bindir, 'pg_restore'), '-d', name, dump], env=pg.env()))[0]
            bare.append(seconds)
            pg.execute('DROP DATABASE %s' % name)
            seconds, result = timed(lambda: br.restore_database(dump, 'custom', params, prefix='bench_restore_',
                                                                bindir=pg.bindir, validations=validations))
            assert result.restore_error is None and all(v['ok'] for v in result.validations), result.as_dict()
            assert result.dropped
            ours.append(seconds)
        left = pg.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'bench_restore_%'")[0][0]
        assert left == 0, 'scratch databases left: %d' % left
    t_ours, t_bare = statistics.median(ours), statistics.median(bare)
    ratio = t_ours / t_bare
    passed = verdict('backup_verify test restore of %d rows (create, restore, 2 validations, drop)' % rows,
                     '%.2f s vs bare pg_restore into an empty database %.2f s' % (t_ours, t_bare),
                     '%.2fx its time' % ratio, '<= 1.2x', ratio <= 1.2)
    print('  medians of %d runs each, alternating' % repeat)
    return passed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--quick', action='store_true', help='256 MiB file, 200 000 rows')
    parser.add_argument('--size-mib', type=int, help='size of the checksum test file (default 2048)')
    parser.add_argument('--rows', type=int, help='rows in the dump to restore (default 1 000 000)')
    parser.add_argument('--repeat', type=int, default=3, help='timed checksum runs of each side (median reported)')
    parser.add_argument('--restore-repeat', type=int, default=5,
                        help='timed restores of each side, alternating (median reported; the machine is shared)')
    args = parser.parse_args()
    size = args.size_mib or (256 if args.quick else 2048)
    rows = args.rows or (200000 if args.quick else 1000000)
    workdir = tempfile.mkdtemp(prefix='apcx-bench-backup-', dir=os.path.join(ROOT, '.tmp') if os.path.isdir(
        os.path.join(ROOT, '.tmp')) else None)
    try:
        good = bench_checksum(size, args.repeat, workdir)
        good = bench_restore(rows, args.restore_repeat, workdir) and good
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if good else 1


if __name__ == '__main__':
    sys.exit(main())
