"""file_cleanup on real directories, real symlinks, a real tmpfs mount and a real process holding a file open."""

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils import file_cleanup as fc
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import parse_duration, parse_size

DAY = 86400


def _write(path, size=10, age_days=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'x' * size)
    stamp = time.time() - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _dirs, files in os.walk(root) for f in files)


@pytest.mark.parametrize('paths', [['/'], ['/etc'], ['/usr/'], ['/var/../'], ['/var/log']])
def test_refuses_system_directories(paths):
    with pytest.raises(MaintenanceError, match='refusing'):
        fc.cleanup(paths, age=0)


def test_refuses_empty_list_and_relative_paths():
    with pytest.raises(MaintenanceError, match='empty'):
        fc.cleanup([], age=0)
    with pytest.raises(MaintenanceError, match='empty'):
        fc.cleanup([''], age=0)
    with pytest.raises(MaintenanceError, match='absolute'):
        fc.cleanup(['tmp/x'], age=0)


def test_requires_age_or_budget(tmp_path):
    with pytest.raises(MaintenanceError, match='age, max_size'):
        fc.clean_path(str(tmp_path))


def test_refuses_root_given_as_symlink_to_slash(tmp_path):
    link = tmp_path / 'evil'
    link.symlink_to('/')
    with pytest.raises(MaintenanceError, match='symlink to /'):
        fc.cleanup([str(link)], age=0)


def test_symlinks_inside_never_followed(tmp_path):
    outside = tmp_path / 'outside'
    _write(outside / 'precious.txt', age_days=30)
    _write(outside / 'sub' / 'deep.txt', age_days=30)
    root = tmp_path / 'root'
    _write(root / 'old.tmp', age_days=30)
    (root / 'dirlink').parent.mkdir(exist_ok=True)
    (root / 'dirlink').symlink_to(outside)
    (root / 'filelink').symlink_to(outside / 'precious.txt')
    result = fc.clean_path(str(root), age=DAY)
    assert result['removed'] == 1
    assert _tree(outside) == ['precious.txt', 'sub/deep.txt']
    assert os.path.islink(root / 'dirlink') and os.path.islink(root / 'filelink')
    assert result['left_alone']['symlink'] == 2
    # symlinks=true removes the links themselves, never what they point to
    os.utime(root / 'filelink', (time.time() - 30 * DAY,) * 2, follow_symlinks=False)
    os.utime(root / 'dirlink', (time.time() - 30 * DAY,) * 2, follow_symlinks=False)
    result = fc.clean_path(str(root), age=DAY, symlinks=True)
    assert result['removed'] == 2 and result['bytes_freed'] == 0
    assert not os.path.lexists(root / 'filelink') and not os.path.lexists(root / 'dirlink')
    assert _tree(outside) == ['precious.txt', 'sub/deep.txt']


def test_root_path_is_never_deleted(tmp_path):
    root = tmp_path / 'cache'
    _write(root / 'a' / 'b' / 'old.bin', age_days=10)
    old = time.time() - 10 * DAY
    for directory in (root / 'a' / 'b', root / 'a', root):
        os.utime(directory, (old, old))
    result = fc.clean_path(str(root), age=DAY, remove_empty_dirs=True)
    assert result['removed'] == 1
    assert root.is_dir() and os.listdir(root) == []
    assert set(result['dirs_removed']) == {str(root / 'a'), str(root / 'a' / 'b')}


def test_age_patterns_excludes_and_check_mode(tmp_path):
    root = tmp_path / 'tmp'
    _write(root / 'old.tmp', age_days=10)
    _write(root / 'old.lock', age_days=10)
    _write(root / 'new.tmp', age_days=0)
    _write(root / 'keep' / 'old.tmp', age_days=10)
    _write(root / 'sub' / 'old.tmp', age_days=10)
    _write(root / 'sub' / 'old.dat', age_days=10)
    before = _tree(root)
    planned = fc.clean_path(str(root), age=7 * DAY, patterns=['*.tmp'], excludes=['*.lock', 'keep'], check_mode=True)
    assert _tree(root) == before
    assert planned['would_remove'] == 2 and planned['removed'] == 0 and not planned['changed']
    assert sorted(f['path'] for f in planned['files']) == [str(root / 'old.tmp'), str(root / 'sub' / 'old.tmp')]
    result = fc.clean_path(str(root), age=7 * DAY, patterns=['*.tmp'], excludes=['*.lock', 'keep'])
    assert _tree(root) == ['keep/old.tmp', 'new.tmp', 'old.lock', 'sub/old.dat']
    assert result['removed'] == 2 and result['bytes_freed'] == 20 and result['changed']
    assert result['checks'][0]['status'] == 'ok'


def test_size_budget_removes_oldest_first(tmp_path):
    root = tmp_path / 'cache'
    for day in range(1, 11):
        _write(root / ('f%02d' % day), size=1000, age_days=day)
    result = fc.clean_path(str(root), max_size=6500)
    # 10 000 bytes, budget 6 500: the four oldest go (f10, f09, f08, f07)
    assert _tree(root) == ['f01', 'f02', 'f03', 'f04', 'f05', 'f06']
    assert result['bytes_freed'] == 4000 and result['total_bytes_after'] == 6000
    size = [c for c in result['checks'] if c['name'] == 'file_cleanup.size'][0]
    assert size['status'] == 'ok'
    # everything excluded: still over budget -> warning
    result = fc.clean_path(str(root), max_size=100, excludes=['f0*'])
    size = [c for c in result['checks'] if c['name'] == 'file_cleanup.size'][0]
    assert size['status'] == 'warning' and result['removed'] == 0


def test_open_files_are_skipped(tmp_path):
    root = tmp_path / 'tmp'
    held = _write(root / 'held.tmp', age_days=5)
    _write(root / 'free.tmp', age_days=5)
    child = subprocess.Popen([sys.executable, '-c', 'import sys, time\nf = open(sys.argv[1], "a")\n'
                              'print("ready", flush=True)\ntime.sleep(60)', str(held)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == 'ready'
        result = fc.clean_path(str(root), age=DAY)
        assert _tree(root) == ['held.tmp'] and result['left_alone']['open'] == 1
        result = fc.clean_path(str(root), age=DAY, skip_open=False)
        assert _tree(root) == []
    finally:
        child.kill()
        child.wait()


def test_never_crosses_filesystems_unless_told(tmp_path):
    root = tmp_path / 'root'
    _write(root / 'local.tmp', age_days=5)
    mount = root / 'mnt'
    mount.mkdir()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(mount)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip('mounting a tmpfs needs root: %s' % done.stderr.decode().strip())
    try:
        _write(mount / 'other.tmp', age_days=5)
        assert os.stat(mount).st_dev != os.stat(root).st_dev
        result = fc.clean_path(str(root), age=DAY)
        assert os.path.exists(mount / 'other.tmp') and not os.path.exists(root / 'local.tmp')
        assert result['left_alone']['other_filesystem'] == 1
        result = fc.clean_path(str(root), age=DAY, cross_filesystems=True)
        assert not os.path.exists(mount / 'other.tmp') and result['removed'] == 1
    finally:
        subprocess.run(['umount', str(mount)], check=False)


def test_entry_swapped_after_scan_is_left_alone(tmp_path):
    root = tmp_path / 'root'
    victim_dir = tmp_path / 'outside'
    _write(victim_dir / 'x.tmp', age_days=5)
    _write(root / 'sub' / 'x.tmp', age_days=5)
    plan = fc.scan(str(root), age=DAY)
    assert len(plan['chosen']) == 1
    # between scan and unlink the directory is replaced by a symlink to outside the tree
    os.rename(root / 'sub', tmp_path / 'moved')
    os.symlink(victim_dir, root / 'sub')
    full, info, _why = plan['chosen'][0]
    assert not fc._still_inside(full, str(root), plan['root_dev'], info, False)
    assert os.path.exists(victim_dir / 'x.tmp')


def test_missing_path_is_unknown(tmp_path):
    result = fc.clean_path(str(tmp_path / 'nope'), age=DAY)
    assert result['checks'][0]['status'] == 'unknown'


@pytest.mark.parametrize('text,seconds', [('90', 90), (90, 90), ('15m', 900), ('1h30m', 5400), ('2d', 172800),
                                          ('500ms', 0.5), ('1w', 604800)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize('text', ['soon', '5 parsecs', '-5', '1h-3m', True])
def test_parse_duration_rejects(text):
    with pytest.raises(MaintenanceError):
        parse_duration(text)


@pytest.mark.parametrize('text,size', [('10', 10), ('1k', 1024), ('500M', 500 * 1024 ** 2), ('2 GiB', 2 * 1024 ** 3)])
def test_parse_size(text, size):
    assert parse_size(text) == size
    with pytest.raises(MaintenanceError):
        parse_size('lots')
