"""Control-node state that survives a job and overlapping runs (issue 17): files and the PostgreSQL state table.

Every writer holds the state locked from read to save; these tests run real overlapping processes and stalled holders
and count: no lost update, no double count, never a password in a message.
"""

import json
import multiprocessing
import threading

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.state_store import FileState, StateBusy, open_state
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health.token_check import check_tokens

from .test_tokens import NOW, THRESHOLDS, Key

ROUNDS = 25


def _increment(path, dsn, rounds, barrier):
    barrier.wait()
    for index in range(rounds):
        with open_state('counter', path, dsn=dsn, namespace='test') as state:
            data = state.data or {'count': 0, 'writers': []}
            data['count'] += 1
            state.save(data)


def _race(path, dsn, workers=4):
    context = multiprocessing.get_context('fork')
    barrier = context.Barrier(workers)
    procs = [context.Process(target=_increment, args=(path, dsn, ROUNDS, barrier)) for index in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(300)
        assert proc.exitcode == 0
    return workers * ROUNDS


def test_overlapping_file_writers_lose_no_update(tmp_path):
    path = str(tmp_path / 'state' / 'counter.json')
    expected = _race(path, None)
    assert json.load(open(path))['count'] == expected


def test_overlapping_postgres_writers_lose_no_update(tmp_path, postgres, postgres_db):
    dsn = postgres.dsn(postgres_db)
    expected = _race(str(tmp_path / 'counter.json'), dsn)
    rows = postgres.execute("SELECT data->>'count', version FROM autopilotcx_state WHERE namespace = 'test'", dbname=postgres_db)
    assert rows == [(str(expected), expected)]
    assert not (tmp_path / 'counter.json').exists()   # the DSN replaces the file, it does not add to it


@pytest.mark.parametrize('backend', ['file', 'postgres'])
def test_a_stalled_holder_makes_the_next_run_wait_or_give_up_visibly(tmp_path, backend, request):
    dsn = None
    if backend == 'postgres':
        postgres, db = request.getfixturevalue('postgres'), request.getfixturevalue('postgres_db')
        dsn = postgres.dsn(db)
    path = str(tmp_path / 'held.json')
    with open_state('held state', path, dsn=dsn, namespace='test') as held:
        held.save({'count': 1})
        with pytest.raises(StateBusy, match='another run holds the lock of the held state') as raised:
            with open_state('held state', path, dsn=dsn, namespace='test', wait=0.5):
                pass
        if dsn:
            assert postgres.password not in str(raised.value)
        seen = {}

        def waiter():
            with open_state('held state', path, dsn=dsn, namespace='test') as state:
                seen['data'] = state.data
                state.save({'count': state.data['count'] + 1})

        thread = threading.Thread(target=waiter)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive()
    thread.join(60)
    assert seen['data'] == {'count': 1}          # the waiter started from what the holder saved
    with open_state('held state', path, dsn=dsn, namespace='test', write=False) as state:
        assert state.data == {'count': 2}


def test_unreachable_state_database_names_it_without_the_password(tmp_path, postgres):
    dsn = postgres.dsn('postgres').replace('port=%d' % postgres.port, 'port=1')
    with pytest.raises(MaintenanceError) as raised:
        with open_state('notification state', str(tmp_path / 'x.json'), dsn=dsn, namespace='notify'):
            pass
    assert 'notification state' in str(raised.value) and postgres.password not in str(raised.value)


def test_a_damaged_state_file_starts_afresh_with_a_warning(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text('{not json')
    with FileState(str(path), 'test state') as state:
        assert state.data is None and 'not valid JSON' in state.warning


def test_overlapping_token_checks_of_two_sources_keep_both_fingerprints(tmp_path):
    """On the old code (read, compare, write without a lock) the second writer dropped the first one's source."""
    keys = {'a': Key('key-a'), 'b': Key('key-b')}
    paths = {}
    for name, key in keys.items():
        paths[name] = tmp_path / ('%s.json' % name)
        paths[name].write_text(json.dumps({'keys': [key.jwk]}))
    state_file = tmp_path / 'jwks-state.json'
    params = dict(thresholds=THRESHOLDS, state_file=str(state_file), state_dsn='', timeout=5)
    with FileState(str(state_file), 'JWKS state') as held:    # a run that read the state and is still comparing
        done = {}

        def second():
            done['result'] = check_tokens(dict(params, jwks_path=str(paths['b'])), now=NOW)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), 'an overlapping token_check must wait for the state lock'
        state = held.data or {}
        state.setdefault('sources', {})[str(paths['a'])] = {'fingerprint': 'a-print', 'thumbprints': [], 'kids': []}
        held.save(state)
    thread.join(60)
    saved = json.loads(state_file.read_text())
    assert sorted(saved['sources']) == sorted([str(paths['a']), str(paths['b'])])


@pytest.mark.parametrize('which', ['security_scan', 'backup_verify'])
def test_target_host_state_writers_wait_for_an_overlapping_run(tmp_path, which):
    """security_scan's baseline and backup_verify's state were last-writer-wins on the old code."""
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.backups import backup_verify
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security import security_scan
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.state_store import FileLock
    state = tmp_path / 'state.json'
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'f').write_text('x')
    if which == 'security_scan':
        def work():
            return security_scan.scan({'categories': ['integrity'], 'integrity_paths': [str(tmp_path / 'data' / 'f')],
                                       'baseline_file': str(state)})
    else:
        def work():
            return backup_verify.verify_sets([], {}, state_file=str(state))
    holder = FileLock(str(state), 'held').acquire()
    done = {}
    thread = threading.Thread(target=lambda: done.setdefault('result', work()))
    try:
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), '%s must wait for the state lock of an overlapping run' % which
    finally:
        holder.release()
    thread.join(60)
    assert 'result' in done and state.exists()


def test_check_mode_reads_postgres_state_and_creates_nothing(tmp_path, postgres, postgres_db):
    dsn = postgres.dsn(postgres_db)
    with open_state('notification state', str(tmp_path / 'n.json'), dsn=dsn, namespace='notify', write=False) as state:
        assert state.data is None
    assert postgres.execute("SELECT to_regclass('autopilotcx_state')", dbname=postgres_db) == [(None,)]
    with open_state('notification state', str(tmp_path / 'n.json'), dsn=dsn, namespace='notify') as state:
        state.save({'alerts': {'k': 1}})
    with open_state('notification state', str(tmp_path / 'n.json'), dsn=dsn, namespace='notify', write=False) as state:
        assert state.data == {'alerts': {'k': 1}}
