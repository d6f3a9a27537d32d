"""Overlapping and stalled log_scan runs on the same state file (issue 17).

On the old code two overlapping runs both loaded the same cursor, both counted (and alerted on) the same events, and a
stalled run that saved last wrote back an older cursor, so the next run counted everything again.
"""

import json
import multiprocessing
import os
import threading

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.log_scan import scan
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.scanner import Scanner

from .test_log_scan import NOW, THRESHOLDS, failures, write

EVENTS = 20000


def params(log, state, **extra):
    result = dict(sources=[{'type': 'auth', 'path': str(log)}], state_file=str(state), thresholds=THRESHOLDS, now=NOW,
                  utc=True, prefilter='never')
    result.update(extra)
    return result


def _scan_at_once(log, state, barrier, queue):
    barrier.wait()
    result = scan(params(log, state))
    queue.put((result['sources'][0]['bytes_read'], result['failed_logins']['total']))


def test_two_overlapping_runs_never_count_the_same_bytes(tmp_path):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 3000, EVENTS))
    context = multiprocessing.get_context('fork')
    barrier, queue = context.Barrier(2), context.Queue()
    procs = [context.Process(target=_scan_at_once, args=(str(log), str(state), barrier, queue)) for index in range(2)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=300) for proc in procs]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert sum(r[0] for r in results) == os.path.getsize(str(log)), results   # every byte read exactly once
    assert json.loads(state.read_text())['files'][next(iter(json.loads(state.read_text())['files']))]['offset'] == \
        os.path.getsize(str(log))


def test_a_stalled_run_holds_the_source_and_the_next_run_counts_nothing_twice(tmp_path):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 3000, 2000))
    size = os.path.getsize(str(log))
    stalled = Scanner(params(log, state)['sources'], str(state), thresholds=THRESHOLDS, now=NOW, utc=True, prefilter='never')
    first = stalled.run()                     # read and counted; not saved yet (a slow host, a stopped process)
    assert first['sources'][0]['bytes_read'] == size
    other = {}

    def overlapping():
        other['result'] = scan(params(log, state))

    thread = threading.Thread(target=overlapping)
    thread.start()
    thread.join(1.5)
    assert thread.is_alive(), 'the overlapping run must wait for the stalled one, not count the same bytes'
    stalled.save_state()
    stalled.close()
    thread.join(120)
    assert other['result']['sources'][0]['bytes_read'] == 0
    assert other['result']['failed_logins']['total'] == first['failed_logins']['total']   # the saved history, once
    again = scan(params(log, state))
    assert again['sources'][0]['bytes_read'] == 0


def test_a_run_that_waits_too_long_skips_with_a_message_and_counts_nothing(tmp_path):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 3000, 50))
    holder = Scanner(params(log, state)['sources'], str(state), thresholds=THRESHOLDS, now=NOW, utc=True, prefilter='never')
    holder.run()
    try:
        with pytest.raises(MaintenanceError, match='another run holds the lock of the log_scan state'):
            scan(params(log, state, lock_timeout=0.5))
    finally:
        holder.close()


def test_an_older_cursor_is_never_written_back(tmp_path):
    """Even when the lock is bypassed (lock file removed, a copy of the state restored...), compare-and-swap."""
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 3000, 100))
    scan(params(log, state))
    write(log, failures(NOW - 2000, 100, pid=9000))
    late = Scanner(params(log, state)['sources'], str(state), thresholds=THRESHOLDS, now=NOW, utc=True, prefilter='never')
    late.run()
    late.close()                                   # as if its lock had been lost
    newer = scan(params(log, state, now=NOW + 60))
    assert newer['sources'][0]['bytes_read'] > 0
    saved = state.read_text()
    with pytest.raises(MaintenanceError, match='changed since this run read it'):
        late.save_state()
    assert state.read_text() == saved
