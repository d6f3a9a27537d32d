import datetime
import json
import multiprocessing
import os

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils import outcome_store as store


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
