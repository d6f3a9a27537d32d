"""Shared helpers for the benchmarks: timing, verdict lines, the collection on sys.path."""

import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.harness.paths import ensure_collection_link  # noqa: E402

ensure_collection_link()
OUT = os.path.join(ROOT, '.tmp', 'bench')
os.makedirs(OUT, exist_ok=True)


def timed(func, repeat=1):
    """Median wall time of ``repeat`` calls of ``func``."""
    times = []
    for _attempt in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def verdict(name, value_text, ratio, target_text, passed):
    line = '%s: %s -> %s (target %s): %s' % (name, value_text, ratio, target_text, 'PASS' if passed else 'FALLS SHORT')
    print(line, flush=True)
    return passed
