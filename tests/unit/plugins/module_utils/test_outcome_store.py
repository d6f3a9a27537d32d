import datetime
import errno
import json
import multiprocessing
import os
import time

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes import store
from tests.harness.tmpfs import fill, small_tmpfs


def test_redactor_removes_secret_keys_internal_keys_and_known_values():
    redact = store.Redactor(values=['hunter2-long', 'ok'])
    record = {
        'task': 'login with hunter2-long',
        'checks': [{'name': 'a', 'reason': 'status ok', 'target': 'x'}],
        'login_password': 'pw-value',
        'api_token': 'abc',
        'nested': {'Authorization': 'Bearer abc', 'list': ['hunter2-long!', 3]},
        '_ansible_no_log': False,
        'invocation': {'module_args': {'password': 'pw-value'}},
        'token_expiry_days': 3,
        'password_set': True,
    }
    cleaned = redact(record)
    assert cleaned['task'] == 'login with ********'
    assert cleaned['checks'][0]['reason'] == 'status ok'  # values shorter than 4 characters are left alone
    assert cleaned['login_password'] == cleaned['api_token'] == cleaned['nested']['Authorization'] == '********'
    assert cleaned['nested']['list'] == ['********!', 3]
    assert '_ansible_no_log' not in cleaned and 'invocation' not in cleaned
    assert cleaned['password_set'] is True  # a boolean under a secret-looking key says nothing secret
    assert 'pw-value' not in json.dumps(cleaned)


def test_redactor_replaces_longest_secret_first():
    redact = store.Redactor(values=['abcd', 'abcdefgh'])
    assert redact('x abcdefgh y abcd') == 'x ******** y ********'


def _append(path, worker, count):
    writer = store.JsonlWriter(path)
    for index in range(count):
        writer.write({'worker': worker, 'index': index, 'payload': 'p' * (1000 + worker * 37)})
    writer.close()


def test_concurrent_writers_never_tear_a_line(tmp_path):
    path = str(tmp_path / 'out.jsonl')
    procs = [multiprocessing.Process(target=_append, args=(path, w, 300)) for w in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    lines = open(path).read().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 1800
    assert sorted((r['worker'], r['index']) for r in records) == [(w, i) for w in range(6) for i in range(300)]
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'


def test_read_jsonl_filters_period_and_skips_garbage(tmp_path):
    path = tmp_path / 'o.jsonl'
    base = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
    lines = [json.dumps({'id': str(d), 'kind': 'task' if d % 2 else 'run',
                         'recorded_at': store.iso(base + datetime.timedelta(days=d))}) for d in range(10)]
    lines.insert(3, '{not json')
    lines.insert(5, '[1, 2]')
    path.write_text('\n'.join(lines) + '\n\n')
    found = store.read_jsonl(str(path), since='2026-11-03T00:00:00Z', until=base + datetime.timedelta(days=7))
    assert [r['id'] for r in found] == ['2', '3', '4', '5', '6']
    assert [r['id'] for r in store.read_jsonl(str(path), kind='run')] == ['0', '2', '4', '6', '8']
    assert store.read_jsonl(str(tmp_path / 'missing.jsonl')) == []


def test_read_jsonl_leaves_damaged_lines_out_names_them_and_never_raises(tmp_path):
    """A hand-edited or corrupted store: a bad recorded_at used to raise ValueError out of every reader (the review,
    the promotion gate); now each damaged line is left out and numbered, and a line still being written is not."""
    good = {'id': 'a', 'kind': 'task', 'recorded_at': '2026-11-02T10:00:00Z'}
    lines = [json.dumps(good), '{not json', '[1, 2]',
             json.dumps({'id': 'b', 'recorded_at': 'garbage'}),
             json.dumps({'id': 'c', 'recorded_at': '2026-13-45T00:00:00Z'}),
             json.dumps({'id': 'd', 'recorded_at': 12}),
             json.dumps({'id': 'e'}),
             '',
             json.dumps(dict(good, id='f'))]
    path = tmp_path / 'o.jsonl'
    path.write_text('\n'.join(lines) + '\n{"id": "being wri')  # the last line: a run still writing it
    damaged = []
    found = store.read_jsonl(str(path), since='2026-11-01T00:00:00Z', until='2026-11-03T00:00:00Z', damaged=damaged)
    assert [r['id'] for r in found] == ['a', 'f']
    assert damaged == [2, 3, 4, 5, 6, 7]
    assert store.damaged_note(str(path), damaged) == (
        '%s: 6 damaged line(s) left out (not a JSON record, or no readable recorded_at): line 2, 3, 4, 5, 6, 7' % path)
    assert store.damaged_note(str(path), []) is None
    assert [r['id'] for r in store.read_jsonl(str(path))] == ['a', 'f']  # without a list to fill, the same records


@pytest.mark.slow
def test_postgres_sink_skips_spools_of_live_runs_and_sends_dead_ones(tmp_path, postgres):
    spool = str(tmp_path / 'spool')
    dsn = postgres.dsn()
    live = store.PostgresSink(dsn, spool, 'live-run', table='sink_unit')
    live.write({'id': 'live-run:1', 'run_id': 'live-run', 'kind': 'task', 'recorded_at': store.iso(store.utc_now())})
    # a crashed earlier run left its spool file behind, unlocked
    with open(os.path.join(spool, 'dead-run.jsonl'), 'w') as handle:
        handle.write(json.dumps({'id': 'dead-run:1', 'run_id': 'dead-run', 'kind': 'task',
                                 'recorded_at': '2026-11-20T00:00:00Z'}) + '\n')
    mine = store.PostgresSink(dsn, spool, 'my-run', table='sink_unit')
    mine.write({'id': 'my-run:1', 'run_id': 'my-run', 'kind': 'task', 'recorded_at': store.iso(store.utc_now()),
                'host': 'h1', 'status': 'ok'})
    sent, kept, error = mine.flush()
    assert (sent, kept, error) == (2, 0, None)
    assert sorted(os.listdir(spool)) == ['live-run.jsonl']  # the live run keeps its file
    rows = postgres.execute('SELECT id, host, status, record->>\'run_id\' FROM sink_unit ORDER BY id')
    assert rows == [('dead-run:1', None, None, 'dead-run'), ('my-run:1', 'h1', 'ok', 'my-run')]
    assert live.flush()[0] == 1
    # sending the same record again (spool deleted after a crash between commit and unlink) does not double it
    replay = store.JsonlWriter(os.path.join(spool, 'replay.jsonl'))
    replay.write({'id': 'my-run:1', 'run_id': 'my-run', 'kind': 'task', 'recorded_at': '2026-11-24T00:00:00Z'})
    replay.close()
    again = store.PostgresSink(dsn, spool, 'third-run', table='sink_unit')
    assert again.flush()[2] is None
    assert postgres.execute('SELECT count(*) FROM sink_unit')[0][0] == 3
    assert len(store.read_postgres(postgres.connect(), None, 'sink_unit', since='2026-11-21T00:00:00Z')) == 2


@pytest.mark.slow
def test_a_forked_worker_still_alive_at_the_end_does_not_keep_the_runs_own_records_from_being_sent(tmp_path, postgres):
    # Ansible forks its workers from the controller after the sink opened and locked its spool: each child shares
    # the flock. make test failed twice on a loaded machine with 0 rows sent: a worker still exiting held the lock,
    # so the run could not claim its own spool at the end and left every record for the next run.
    spool = str(tmp_path / 'spool')
    sink = store.PostgresSink(postgres.dsn(), spool, 'forked-run', table='sink_forked')
    for number in range(3):
        sink.write({'id': 'forked-run:%d' % number, 'run_id': 'forked-run', 'kind': 'task', 'recorded_at': store.iso(store.utc_now())})
    child = os.fork()
    if child == 0:  # a worker that has not exited yet: it holds the inherited descriptor, and so the lock
        time.sleep(5)
        os._exit(0)
    try:
        sent, kept, error = sink.flush()
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)
    assert (sent, kept, error) == (3, 0, None)
    assert postgres.execute('SELECT count(*) FROM sink_forked')[0][0] == 3
    assert os.listdir(spool) == []


def test_extra_var_equal_to_a_status_or_name_cannot_corrupt_structure():
    redact = store.Redactor(values=['critical', 'http.response_time', 'web-frontend-01'])
    record = {'status': 'failed', 'worst': 'critical', 'host': 'web-frontend-01',
              'checks': [{'name': 'http.response_time', 'status': 'critical', 'priority': 'high',
                          'reason': 'http.response_time on web-frontend-01 is critical', 'target': 'web-frontend-01'}]}
    cleaned = redact(record)
    assert cleaned['worst'] == 'critical' and cleaned['checks'][0]['status'] == 'critical'  # vocabulary is never a secret
    assert cleaned['checks'][0]['name'] == 'http.response_time'  # structural fields are kept
    assert cleaned['checks'][0]['reason'] == '******** on ******** is critical'  # free text is scrubbed
    assert cleaned['checks'][0]['target'] == '********' and cleaned['host'] == 'web-frontend-01'


# ---------------------------------------------------------------- full disk, torn lines (issue 15)

def _records(run, count, size=300):
    return [{'id': '%s:%06d' % (run, index), 'run_id': run, 'kind': 'task', 'recorded_at': store.iso(store.utc_now()),
             'payload': 'p' * size} for index in range(count)]


def _lines(path):
    """Every line of a JSON-lines file, parsed; raises on a torn or corrupted line."""
    with open(path, 'rb') as handle:
        data = handle.read()
    assert data == b'' or data.endswith(b'\n'), 'torn last line: %r' % data[-80:]
    return [json.loads(line) for line in data.decode('utf-8').splitlines()]


def test_full_disk_never_leaves_a_torn_line(tmp_path):
    with small_tmpfs(tmp_path / 'small', '128k') as mount:
        fill(mount, leave=4096)
        path = os.path.join(mount, 'outcomes.jsonl')
        writer = store.JsonlWriter(path)
        failures = 0
        for record in _records('full', 40):
            try:
                writer.write(record)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                failures += 1
        writer.close()
        assert failures > 0  # the disk really was full
        assert [r['id'] for r in _lines(path)] == ['full:%06d' % i for i in range(40 - failures)]


def test_torn_last_line_is_cut_before_appending_and_counted(tmp_path):
    path = tmp_path / 'outcomes.jsonl'
    whole = ''.join(store.dumps(r) for r in _records('old', 3))
    path.write_text(whole + store.dumps(_records('crashed', 1)[0])[:57])  # a crash cut the last write short
    writer = store.JsonlWriter(str(path))
    assert writer.repaired == 57
    writer.write(_records('next', 1)[0])
    writer.close()
    assert [r['id'] for r in _lines(path)] == ['old:000000', 'old:000001', 'old:000002', 'next:000000']
    assert store.JsonlWriter(str(path)).repaired == 0  # a whole file is left alone
    path.write_text('no newline at all')
    assert store.JsonlWriter(str(path)).repaired == len('no newline at all') and path.read_text() == ''


def test_outcome_file_on_a_full_disk_keeps_every_record_and_says_where(tmp_path):
    with small_tmpfs(tmp_path / 'small', '128k') as mount:
        filler = fill(mount, leave=4096)
        path = os.path.join(mount, 'outcomes.jsonl')
        outcome_file = store.OutcomeFile(path, fallback_dirs=[str(tmp_path / 'fallback')])
        records = _records('run1', 60)
        for record in records:
            outcome_file.write(record)  # never raises
        outcome_file.close()
        problem = outcome_file.problem()
        assert path in problem and 'No space left on device' in problem and 'ENOSPC' in problem
        assert outcome_file.fallback_path and outcome_file.fallback_path in problem
        assert os.path.dirname(outcome_file.fallback_path) == str(tmp_path / 'fallback')
        in_file = [r['id'] for r in _lines(path)]
        in_fallback = [r['id'] for r in _lines(outcome_file.fallback_path)]
        assert in_file + in_fallback == [r['id'] for r in records]  # every record once, in order
        assert in_file and in_fallback
        assert oct(os.stat(outcome_file.fallback_path).st_mode & 0o777) == '0o600'

        # Space comes back in the middle of a run: the held records go to the file, in order, nothing to the fallback.
        os.unlink(path)
        fill(mount, leave=2048)
        outcome_file = store.OutcomeFile(path, fallback_dirs=[str(tmp_path / 'fallback2')])
        records = _records('run2', 30)
        for index, record in enumerate(records):
            if index == 20:
                os.unlink(filler)
            outcome_file.write(record)
        outcome_file.close()
        assert [r['id'] for r in _lines(path)] == [r['id'] for r in records]
        assert outcome_file.fallback_path is None and not os.path.exists(str(tmp_path / 'fallback2'))
        assert 'retried' in outcome_file.problem()


@pytest.mark.slow
def test_spool_on_a_full_disk_still_sends_every_record(tmp_path, postgres, postgres_db):
    with small_tmpfs(tmp_path / 'small', '128k') as mount:
        spool = os.path.join(mount, 'spool')
        sink = store.PostgresSink(postgres.dsn(postgres_db), spool, 'fullspool', table='sink_full')
        fill(mount, leave=4096)
        records = _records('fullspool', 50)
        for record in records:
            sink.write(record)  # never raises
        sent, kept, error = sink.flush()
        assert (sent, kept, error) == (50, 0, None)
        assert sink.problem() and 'No space left on device' in sink.problem() and spool in sink.problem()
        rows = postgres.execute('SELECT id FROM sink_full ORDER BY id', dbname=postgres_db)
        assert [row[0] for row in rows] == [r['id'] for r in records]
        assert os.listdir(spool) == []


# ---------------------------------------------------------------- concurrency (issue 15)

def _flush_at_once(dsn, spool, run, schema, table, barrier, results):
    sink = store.PostgresSink(dsn, spool, run, schema=schema, table=table)
    for record in _records(run, 5, size=20):
        sink.write(record)
    barrier.wait(60)
    try:
        results.put((run, sink.flush()))
    except Exception as exc:  # the bug under test: report it instead of dying silently
        results.put((run, ('raised', repr(exc))))


@pytest.mark.slow
def test_concurrent_first_use_and_shared_spool_flushes_are_quiet_and_exact(tmp_path, postgres, postgres_db):
    """Several sinks flushing at the same instant into a fresh schema and table, over a spool full of dead runs."""
    dsn = postgres.dsn(postgres_db)
    workers = 6
    for round_index in range(4):
        spool = str(tmp_path / ('spool%d' % round_index))
        os.makedirs(spool)
        dead = []
        for index in range(12):  # spool files left by crashed runs: every flusher wants them
            records = _records('dead%d-%d' % (round_index, index), 10, size=20)
            dead.extend(records)
            with open(os.path.join(spool, 'dead%d-%d.jsonl' % (round_index, index)), 'w') as handle:
                handle.write(''.join(store.dumps(r) for r in records))
        context = multiprocessing.get_context('fork')
        barrier, results = context.Barrier(workers), context.Queue()
        schema, table = 'race schema %d' % round_index, 'race_table'
        procs = [context.Process(target=_flush_at_once, args=(dsn, spool, 'live%d-%d' % (round_index, w), schema, table,
                                                              barrier, results)) for w in range(workers)]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=120) for proc in procs]
        for proc in procs:
            proc.join(60)
        assert [o for o in outcomes if o[1][0] == 'raised' or o[1][2] is not None] == []
        assert sum(o[1][0] for o in outcomes) == len(dead) + workers * 5  # every record sent once, by someone
        rows = postgres.execute('SELECT id FROM "%s".race_table' % schema, dbname=postgres_db)
        assert sorted(row[0] for row in rows) == sorted([r['id'] for r in dead] +
                                                        ['live%d-%d:%06d' % (round_index, w, i) for w in range(workers) for i in range(5)])
        assert os.listdir(spool) == []


def test_redactor_hides_url_passwords_and_secret_parameters_in_any_text():
    redact = store.Redactor()
    record = {'msg': 'GET https://u:UrlPw-1@h/x?api_key=Key-1&page=2 failed', 'checks': [
        {'name': 'a', 'reason': 'connecting with password=Pw-1 user=app', 'target': 'https://h/x?page=2'}]}
    cleaned = redact(record)
    assert cleaned['msg'] == 'GET https://u:********@h/x?api_key=********&page=2 failed'
    assert cleaned['checks'][0]['reason'] == 'connecting with password=******** user=app'
    assert cleaned['checks'][0]['target'] == 'https://h/x?page=2'


@pytest.mark.parametrize('template, rendered, expected', [
    ('Probe with {{ api_token }}', 'Probe with Tok-1', 'Probe with ********'),
    ('Call {{ host }} with {{ db_password }} now', 'Call db1 with Pw 1 now', 'Call db1 with ******** now'),
    ('{{ host }}{{ vault_key }}!', 'db1Secret!', '********!'),
    ('Plain {{ host }}', 'Plain db1', 'Plain db1'),
    ('No template', 'No template', 'No template'),
    ('Odd {{ api_token }} x', 'something else entirely', 'Odd ******** x'),  # cannot align: the template, redacted
    ('{% if a %}{{ api_token }}{% endif %}', 'Tok-1', '{% if a %}********{% endif %}'),
])
def test_redact_rendered_hides_what_secret_expressions_produced(template, rendered, expected):
    def secret(name):
        return 'token' in name or 'password' in name or name.startswith('vault')

    assert store.redact_rendered(template, rendered, secret) == expected


def test_sink_warning_never_shows_a_dsn_password_not_even_half_of_one_with_a_space(tmp_path):
    sink = store.PostgresSink('host=127.0.0.1 port=1 password=Left-11 Right-22 user=y connect_timeout=2',
                              str(tmp_path / 'spool'), 'run-space')
    sink.write({'id': 'run-space:000001', 'run_id': 'run-space', 'kind': 'task', 'recorded_at': '2026-01-01T00:00:00Z'})
    sent, kept, error = sink.flush()
    assert (sent, kept) == (0, 1) and error
    assert 'Left-11' not in error and 'Right-22' not in error
