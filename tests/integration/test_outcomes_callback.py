"""The outcome callback, exercised by real ansible-playbook runs (community.general callback_log_plays style)."""

import concurrent.futures
import json
import os
import stat
import time

import pytest

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.postgres import PostgresCluster
from tests.harness.tmpfs import fill, small_tmpfs

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYBOOKS = os.path.join(HERE, 'playbooks')
SECRET = 'S3cr3t-Extra-Var-7781'


def write_inventory(path, hosts):
    lines = []
    for name, settings in hosts.items():
        lines.append(' '.join([name] + ['%s=%s' % item for item in settings.items()]))
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


LOCAL = {'ansible_connection': 'local'}
UNREACHABLE = {'ansible_connection': 'ssh', 'ansible_host': '127.0.0.1', 'ansible_port': '1',
               'ansible_ssh_common_args': '"-o ConnectTimeout=3"'}


@pytest.mark.slow
def test_three_hosts_one_failing_one_unreachable_give_exact_records(tmp_path):
    inventory = write_inventory(tmp_path / 'inv', {'good': LOCAL, 'bad': LOCAL, 'gone': UNREACHABLE})
    log = tmp_path / 'outcomes.jsonl'
    result = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_mixed.yml'), inventory=inventory, outcome_log=log)
    assert result.returncode != 0, result.stdout  # a failed and an unreachable host end the run non-zero

    records = read_outcomes(log)
    by_key = dict(((r['host'], r['task']), r) for r in records)
    expected = {
        ('gone', 'Judge a metric'): 'unreachable',
        ('good', 'Judge a metric'): 'ok',
        ('bad', 'Judge a metric'): 'ok',
        ('good', 'Fail on the bad host'): 'skipped',
        ('bad', 'Fail on the bad host'): 'failed',
        ('good', 'Skipped everywhere'): 'skipped',
        ('good', 'Ignored failure'): 'ignored',
    }
    assert dict((key, r['status']) for key, r in by_key.items()) == expected
    assert len(records) == len(expected)  # nothing extra, nothing twice

    good = by_key[('good', 'Judge a metric')]
    assert good['action'] == 'autopilotcx.maintenance.metric_check'
    assert good['playbook'] == 'outcomes_mixed.yml'
    assert good['cadence'] == 'test_cadence'
    assert good['worst'] == 'critical'
    assert [c['name'] for c in good['checks']] == ['app.queue_depth', 'app.latency']
    queue = good['checks'][0]
    assert (queue['status'], queue['value'], queue['threshold'], queue['priority'], queue['target']) == \
        ('critical', 50, 20, 'high', 'queue-a')
    assert good['recorded_at'].endswith('Z') and 'T' in good['recorded_at']
    assert good['duration'] is not None and good['duration'] >= 0
    assert 'planned failure on bad' in by_key[('bad', 'Fail on the bad host')]['msg']
    assert 'Connection refused' in by_key[('gone', 'Judge a metric')]['msg'] or \
        'connect' in by_key[('gone', 'Judge a metric')]['msg'].lower()
    assert len(set(r['run_id'] for r in records)) == 1
    assert len(set(r['id'] for r in records)) == len(records)

    run = read_outcomes(log, kind='run')
    assert len(run) == 1 and run[0]['status'] == 'failed'
    assert run[0]['hosts']['good']['checks']['critical'] == 1
    # The summary names the critical checks per host, each on its own line with its reason (issue 17),
    # and the failed task with its message.
    assert 'AUTOPILOTCX OUTCOMES' in result.stdout
    assert 'good: ok=1 warning=0 critical=1 unknown=0\n  critical app.queue_depth (queue-a): ' in result.stdout
    assert '  failed Fail on the bad host: planned failure on bad' in result.stdout


@pytest.mark.slow
def test_fifty_hosts_twenty_forks_every_line_valid_and_none_missing(tmp_path):
    hosts = dict(('h%02d' % i, LOCAL) for i in range(50))
    inventory = write_inventory(tmp_path / 'inv', hosts)
    log = tmp_path / 'outcomes.jsonl'
    result = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_many.yml'), inventory=inventory, outcome_log=log,
                          args=['--forks', '20'])
    assert result.returncode == 0, result.stdout[-3000:]
    raw_lines = log.read_text().splitlines()
    records = [json.loads(line) for line in raw_lines]  # raises on any torn line
    tasks = [r for r in records if r['kind'] == 'task']
    assert len(tasks) == 150
    assert set((r['host'], r['task']) for r in tasks) == set(
        (h, t) for h in hosts for t in ('First', 'Second with checks', 'Third'))
    statuses = dict((r['host'], r['worst']) for r in tasks if r['task'] == 'Second with checks')
    assert statuses['h10'] == 'ok' and statuses['h41'] == 'warning' and statuses['h49'] == 'critical'


@pytest.mark.slow
def test_secret_in_no_log_task_and_extra_var_appears_nowhere(tmp_path, postgres):
    inventory = write_inventory(tmp_path / 'inv', {'app': LOCAL})
    log = tmp_path / 'outcomes.jsonl'
    dsn = postgres.dsn()
    result = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_secret.yml'), inventory=inventory, outcome_log=log,
                          extra_vars={'api_secret': SECRET, 'change_ref': 'CHG-778899'},
                          env={'AUTOPILOTCX_OUTCOME_DSN': dsn, 'AUTOPILOTCX_OUTCOME_TABLE': 'outcomes_secret',
                               'AUTOPILOTCX_OUTCOME_SPOOL': str(tmp_path / 'spool')})
    assert result.returncode == 0, result.stdout[-3000:]
    text = log.read_text()
    assert SECRET not in result.stdout and SECRET not in result.stderr
    assert SECRET not in text
    assert postgres.password not in result.stdout + result.stderr + text
    records = read_outcomes(log)
    assert len(records) == 5
    assert records[4]['checks'][0]['target'] == 'CHG-778899'  # keep_extra_vars: audit data is not a secret
    assert all("'no_log: true'" in r['msg'] and not r['checks'] for r in records[:2])
    assert records[2]['checks'][0]['target'] == '********'
    assert '  critical app.secret_target (********)' in result.stdout  # the summary shows the redacted record
    assert records[3]['checks'][0]['target'] == '********'
    rows = postgres.execute('SELECT record::text FROM outcomes_secret')
    assert len(rows) == 6  # five task records and the run record
    assert not any(SECRET in row[0] for row in rows)


@pytest.mark.slow
def test_postgres_sink_survives_database_stopped_mid_run_and_catches_up(tmp_path, pki):
    cert, key, _issued = pki.write_leaf('sinkpg')
    cluster = PostgresCluster(ssl_cert=cert, ssl_key=key, preload=()).init().start()
    try:
        inventory = write_inventory(tmp_path / 'inv', {'a': LOCAL, 'b': LOCAL})
        spool = tmp_path / 'spool'
        env = {'AUTOPILOTCX_OUTCOME_DSN': cluster.dsn(), 'AUTOPILOTCX_OUTCOME_SPOOL': str(spool),
               'AUTOPILOTCX_OUTCOME_SCHEMA': 'ops audit', 'AUTOPILOTCX_OUTCOME_TABLE': 'outcomes'}
        log = tmp_path / 'outcomes.jsonl'

        first = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_pg.yml'), inventory=inventory, outcome_log=log, env=env)
        assert first.returncode == 0, first.stdout[-3000:]
        rows = cluster.execute('SELECT count(*) FROM "ops audit".outcomes')
        assert rows[0][0] == len(read_outcomes(log, kind=None)) >= 5
        assert list(spool.iterdir()) == []

        stop = ' '.join(['runuser', '-u', 'postgres', '--'] if os.geteuid() == 0 else []) + \
            ' %s/pg_ctl -D %s -m fast -w stop' % (cluster.bindir, cluster.datadir)
        second = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_pg.yml'), inventory=inventory, outcome_log=log, env=env,
                              extra_vars={'stop_command': stop.strip()})
        cluster.running = False
        assert second.returncode == 0, second.stdout[-3000:]
        combined = second.stdout + second.stderr
        assert combined.count('outcome database not reachable') == 1
        assert cluster.password not in combined
        spooled = list(spool.iterdir())
        assert len(spooled) == 1
        spooled_records = [json.loads(line) for line in spooled[0].read_text().splitlines()]
        second_run = spooled_records[0]['run_id']
        assert len(spooled_records) == len([r for r in read_outcomes(log, kind=None) if r['run_id'] == second_run])

        cluster.start()
        third = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_pg.yml'), inventory=inventory, outcome_log=log, env=env)
        assert third.returncode == 0, third.stdout[-3000:]
        assert list(spool.iterdir()) == []
        in_db = cluster.execute('SELECT run_id, count(*) FROM "ops audit".outcomes GROUP BY run_id')
        file_counts = {}
        for record in read_outcomes(log, kind=None):
            file_counts[record['run_id']] = file_counts.get(record['run_id'], 0) + 1
        assert dict(in_db) == file_counts  # every record of all three runs, none twice
        assert len(file_counts) == 3
    finally:
        cluster.destroy()


@pytest.mark.slow
def test_misconfigured_callback_warns_once_and_never_fails(tmp_path):
    inventory = write_inventory(tmp_path / 'inv', {'a': LOCAL, 'b': LOCAL})
    locked = tmp_path / 'locked'
    locked.mkdir()
    os.chmod(locked, stat.S_IRUSR | stat.S_IXUSR)
    # root ignores directory permissions, so make the path unwritable for everyone: a file where a directory should be.
    blocker = tmp_path / 'not-a-dir'
    blocker.write_text('x')
    result = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_many.yml'), inventory=inventory,
                          outcome_log=blocker / 'outcomes.jsonl')
    assert result.returncode == 0, result.stdout[-3000:]
    output = result.stdout + result.stderr
    assert output.count('cannot write outcome records to') == 1
    assert 'Traceback' not in output

    bad_dsn = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_many.yml'), inventory=inventory,
                           outcome_log=tmp_path / 'ok.jsonl',
                           env={'AUTOPILOTCX_OUTCOME_DSN': 'host=127.0.0.1 port=1 password=NotShown-991 connect_timeout=2',
                                'AUTOPILOTCX_OUTCOME_SPOOL': str(tmp_path / 'spool')})
    assert bad_dsn.returncode == 0, bad_dsn.stdout[-3000:]
    output = bad_dsn.stdout + bad_dsn.stderr
    assert output.count('outcome database not reachable') == 1
    assert 'NotShown-991' not in output
    assert len(read_outcomes(tmp_path / 'ok.jsonl')) == 6

    garbage = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_many.yml'), inventory=inventory,
                           outcome_log=tmp_path / 'ok2.jsonl',
                           env={'AUTOPILOTCX_OUTCOME_DSN': 'this is = not a dsn', 'AUTOPILOTCX_OUTCOME_SPOOL': str(tmp_path / 'spool2')})
    assert garbage.returncode == 0
    assert (garbage.stdout + garbage.stderr).count('outcome database not reachable') == 1


@pytest.mark.slow
def test_two_playbooks_in_one_command_are_both_recorded(tmp_path, postgres):
    inventory = write_inventory(tmp_path / 'inv', {'a': LOCAL})
    log = tmp_path / 'outcomes.jsonl'
    env = {'AUTOPILOTCX_OUTCOME_DSN': postgres.dsn(), 'AUTOPILOTCX_OUTCOME_TABLE': 'outcomes_two_playbooks',
           'AUTOPILOTCX_OUTCOME_SPOOL': str(tmp_path / 'spool')}
    result = run_playbook([os.path.join(PLAYBOOKS, 'outcomes_many.yml'), os.path.join(PLAYBOOKS, 'outcomes_secret.yml')],
                          inventory=inventory, outcome_log=log, env=env, extra_vars={'api_secret': 'x-secret-1', 'change_ref': 'C-1'})
    assert result.returncode == 0, result.stdout[-3000:]
    assert 'Traceback' not in result.stderr and 'cannot be interpreted' not in result.stdout + result.stderr
    records = read_outcomes(log, kind=None)
    assert set(r['playbook'] for r in records) == {'outcomes_many.yml', 'outcomes_secret.yml'}
    assert len([r for r in records if r['kind'] == 'run']) == 2
    rows = postgres.execute('SELECT count(*) FROM outcomes_two_playbooks')
    assert rows[0][0] == len(records)
    assert os.listdir(tmp_path / 'spool') == []


def _outcome_warnings(output):
    """The callback's warnings, each as one line (ansible wraps long warnings)."""
    text = ' '.join(output.split())
    return [w.strip() for w in text.split('[WARNING]:')[1:] if 'autopilotcx.maintenance.outcomes' in w or 'callback' in w]


def _lines(path):
    """Every line of a JSON-lines file, parsed; raises on a torn or corrupted line."""
    data = open(path, 'rb').read()
    assert data == b'' or data.endswith(b'\n'), 'torn last line: %r' % data[-80:]
    return [json.loads(line) for line in data.decode('utf-8').splitlines()]


@pytest.mark.slow
def test_full_disk_loses_no_record_warns_once_and_the_next_run_writes_a_valid_file(tmp_path, postgres, postgres_db):
    hosts = dict(('h%02d' % i, LOCAL) for i in range(20))
    inventory = write_inventory(tmp_path / 'inv', hosts)
    fallback_tmp = tmp_path / 'tmp'
    fallback_tmp.mkdir()
    env = {'AUTOPILOTCX_OUTCOME_DSN': postgres.dsn(postgres_db), 'AUTOPILOTCX_OUTCOME_TABLE': 'outcomes_full',
           'AUTOPILOTCX_OUTCOME_SPOOL': str(tmp_path / 'spool'), 'TMPDIR': str(fallback_tmp)}
    with small_tmpfs(tmp_path / 'small', '128k') as mount:
        log = os.path.join(mount, 'outcomes.jsonl')
        with open(log, 'w') as handle:  # earlier runs' records, whole
            handle.write(json.dumps({'id': 'old:1', 'run_id': 'old', 'kind': 'task', 'recorded_at': '2026-11-01T00:00:00Z'}) + '\n')
        filler = fill(mount, leave=8192)
        full = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_many.yml'), inventory=inventory, outcome_log=log, env=env,
                            args=['--forks', '10'])
        assert full.returncode == 0, full.stdout[-3000:]
        output = full.stdout + full.stderr
        assert 'Traceback' not in output and 'Failure using method' not in output
        warnings = _outcome_warnings(output)
        assert len(warnings) == 1, warnings  # once, not once per record
        assert log in warnings[0] and 'No space left on device' in warnings[0] and 'ENOSPC, errno 28' in warnings[0]

        # Every record of the run (60 task results and the run record) reached PostgreSQL, once.
        rows = postgres.execute('SELECT id, kind FROM outcomes_full', dbname=postgres_db)
        assert len(rows) == 61 and len([r for r in rows if r[1] == 'run']) == 1
        # The file holds whole lines only; the records it could not take are in the fallback file the warning names.
        in_file = _lines(log)
        fallbacks = [str(p) for p in fallback_tmp.iterdir()]
        assert len(fallbacks) == 1 and fallbacks[0] in warnings[0]
        in_fallback = _lines(fallbacks[0])
        assert in_file[0]['id'] == 'old:1'
        assert sorted(r['id'] for r in in_file[1:] + in_fallback) == sorted(r[0] for r in rows)

        os.unlink(filler)  # space again
        again = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_many.yml'), inventory=inventory, outcome_log=log, env=env,
                             args=['--forks', '10'])
        assert again.returncode == 0, again.stdout[-3000:]
        assert _outcome_warnings(again.stdout + again.stderr) == []
        records = _lines(log)  # every line parses
        second_run = [r for r in records if r['run_id'] not in set(r2['run_id'] for r2 in in_file)]
        assert len(second_run) == 61
        assert postgres.execute('SELECT count(*) FROM outcomes_full', dbname=postgres_db)[0][0] == 122


@pytest.mark.slow
def test_torn_last_line_is_cut_and_reported_before_the_next_run_appends(tmp_path):
    inventory = write_inventory(tmp_path / 'inv', {'a': LOCAL})
    log = tmp_path / 'outcomes.jsonl'
    torn = '{"id":"crashed:1","kind":"ta'  # what a crash in the middle of a write leaves
    log.write_text(json.dumps({'id': 'old:1', 'kind': 'task'}) + '\n' + torn)
    result = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_many.yml'), inventory=inventory, outcome_log=log)
    assert result.returncode == 0, result.stdout[-3000:]
    warnings = _outcome_warnings(result.stdout + result.stderr)
    assert len(warnings) == 1 and 'torn line (%d bytes' % len(torn) in warnings[0] and str(log) in warnings[0]
    records = _lines(log)
    assert records[0]['id'] == 'old:1' and len(records) == 1 + 3 + 1


@pytest.mark.slow
def test_concurrent_runs_into_a_fresh_database_are_quiet_and_send_every_record_once(tmp_path, postgres, postgres_db):
    """Five runs released at the same instant: first use of a new schema and table, and one spool full of dead runs."""
    inventory = write_inventory(tmp_path / 'inv', {'a': LOCAL, 'b': LOCAL})
    spool = tmp_path / 'spool'
    spool.mkdir()
    dead = []
    for index in range(10):  # spool files of crashed runs, which every run's flush tries to send
        records = [{'id': 'dead%d:%06d' % (index, seq), 'run_id': 'dead%d' % index, 'kind': 'task',
                    'recorded_at': '2026-11-20T00:00:00Z'} for seq in range(20)]
        dead.extend(r['id'] for r in records)
        (spool / ('dead%d.jsonl' % index)).write_text(''.join(json.dumps(r) + '\n' for r in records))
    barrier = tmp_path / 'barrier'
    barrier.mkdir()
    log = tmp_path / 'outcomes.jsonl'
    env = {'AUTOPILOTCX_OUTCOME_DSN': postgres.dsn(postgres_db), 'AUTOPILOTCX_OUTCOME_SCHEMA': 'ops race',
           'AUTOPILOTCX_OUTCOME_TABLE': 'outcomes', 'AUTOPILOTCX_OUTCOME_SPOOL': str(spool)}
    runs = 5

    def one(index):
        return run_playbook(os.path.join(PLAYBOOKS, 'outcomes_together.yml'), inventory=inventory, outcome_log=log, env=env,
                            extra_vars={'barrier_dir': str(barrier), 'run_name': 'run%d' % index})

    with concurrent.futures.ThreadPoolExecutor(runs) as pool:
        futures = [pool.submit(one, index) for index in range(runs)]
        deadline = time.monotonic() + 600
        while len([p for p in barrier.iterdir() if p.name.startswith('run')]) < runs:
            assert time.monotonic() < deadline and not any(f.done() for f in futures), \
                [f.result().stdout[-2000:] for f in futures if f.done()]
            time.sleep(0.2)
        (barrier / 'go').touch()
        results = [f.result() for f in futures]
    for result in results:
        output = result.stdout + result.stderr
        assert result.returncode == 0, result.stdout[-3000:]
        assert _outcome_warnings(output) == [], output[-3000:]
        assert 'Traceback' not in output and 'FileNotFoundError' not in output
    records = _lines(log)
    assert len(records) == runs * (1 + 1 + 2 + 1)  # two run_once tasks, one task on two hosts, the run record
    rows = postgres.execute('SELECT id FROM "ops race".outcomes', dbname=postgres_db)
    assert sorted(r[0] for r in rows) == sorted([r['id'] for r in records] + dead)  # every record, exactly once
    assert os.listdir(spool) == []


@pytest.mark.slow
def test_unwritable_path_with_a_dsn_still_sends_every_record_to_postgres(tmp_path, postgres, postgres_db):
    inventory = write_inventory(tmp_path / 'inv', {'a': LOCAL, 'b': LOCAL})
    blocker = tmp_path / 'not-a-dir'
    blocker.write_text('x')
    result = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_many.yml'), inventory=inventory, outcome_log=blocker / 'outcomes.jsonl',
                          env={'AUTOPILOTCX_OUTCOME_DSN': postgres.dsn(postgres_db), 'AUTOPILOTCX_OUTCOME_TABLE': 'outcomes_nofile',
                               'AUTOPILOTCX_OUTCOME_SPOOL': str(tmp_path / 'spool')})
    assert result.returncode == 0, result.stdout[-3000:]
    warnings = _outcome_warnings(result.stdout + result.stderr)
    assert len(warnings) == 1 and 'records go to the PostgreSQL sink only' in warnings[0]
    assert postgres.execute('SELECT count(*) FROM outcomes_nofile', dbname=postgres_db)[0][0] == 2 * 3 + 1


def test_a_play_without_a_cadence_never_inherits_the_previous_plays(tmp_path):
    # make demo showed it: the plays after the monthly audit in demo.yml were recorded as monthly_security_audit
    inventory = write_inventory(tmp_path / 'inventory', {'good': LOCAL})
    log = str(tmp_path / 'outcomes.jsonl')
    result = run_playbook(os.path.join(PLAYBOOKS, 'outcomes_cadences.yml'), inventory=inventory, outcome_log=log)
    assert result.returncode == 0, result.stdout[-2000:]
    cadences = dict((r['task'], r['cadence']) for r in read_outcomes(log))
    assert cadences == {"First play's task": 'outcomes_cadences', "Second play's task": 'monthly_security_audit',
                        "Third play's task": 'outcomes_cadences'}, cadences
