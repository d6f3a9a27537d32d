"""file_cleanup on real directories, real symlinks, a real tmpfs mount and a real process holding a file open."""

import os
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import file_cleanup as fc
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import parse_duration
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.units import parse_size

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


def test_entry_swapped_after_scan_is_left_alone(tmp_path, monkeypatch):
    root = tmp_path / 'root'
    victim_dir = tmp_path / 'outside'
    _write(victim_dir / 'x.tmp', age_days=5)
    _write(root / 'sub' / 'x.tmp', age_days=5)
    real_scan = fc.scan

    def scan_then_swap(*args, **kwargs):
        plan = real_scan(*args, **kwargs)
        # between scan and unlink the directory is replaced by a symlink to outside the tree
        os.rename(root / 'sub', tmp_path / 'moved')
        os.symlink(victim_dir, root / 'sub')
        return plan

    monkeypatch.setattr(fc, 'scan', scan_then_swap)
    result = fc.clean_path(str(root), age=DAY)
    assert os.path.exists(victim_dir / 'x.tmp') and os.path.exists(tmp_path / 'moved' / 'x.tmp')
    assert result['removed'] == 0 and len(result['errors']) == 1
    assert result['errors'][0]['path'] == str(root / 'sub' / 'x.tmp')
    assert result['checks'][0]['status'] == 'warning'


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


# ------------------------------------------------------------------ races, refreshed files, bind mounts (issue 15)
# The swapper: a separate process that swaps ``sub`` (a real directory inside the tree) with ``link`` (a symlink to a
# victim directory outside the tree) as fast as it can, until the stop file appears (or the deadline passes).
# It exchanges the two names atomically with renameat2(RENAME_EXCHANGE), so ``sub`` is never missing, only ever
# the directory or the symlink; where that call is missing it falls back to four renames. Each turn ends with ``sub``
# the real directory again, so the tree is whole once the swapper has stopped.
SWAPPER = r'''
import ctypes, os, sys, time
sub, hold, link, stop, deadline = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
sub_b, link_b = sub.encode(), link.encode()


def exchange():
    if libc.renameat2(AT_FDCWD, sub_b, AT_FDCWD, link_b, RENAME_EXCHANGE) != 0:
        raise OSError(ctypes.get_errno(), 'renameat2')


try:
    exchange()
    exchange()
except (AttributeError, OSError):
    def exchange():
        os.rename(sub, hold)
        os.rename(link, sub)
        os.rename(sub, link)
        os.rename(hold, sub)
        os.rename(sub, hold)
        os.rename(link, sub)
        os.rename(sub, link)
        os.rename(hold, sub)
print('ready', flush=True)
turns = 0
while time.time() < deadline:
    exchange()
    exchange()
    turns += 1
    if turns % 64 == 0 and os.path.exists(stop):
        break
print(turns, flush=True)
'''
RACE_DIRS = 20
RACE_FILES = 40


def _race_layout(base):
    """``base/root/sub/dNN/fMM`` (old files to clean) mirrored by ``base/victim/dNN/fMM`` (old files outside)."""
    for number in range(RACE_DIRS):
        for index in range(RACE_FILES):
            relative = os.path.join('d%02d' % number, 'f%02d' % index)
            for top, content in (('root/sub', b'tree'), ('victim', b'victim')):
                path = base / top / relative
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(content)
                    os.utime(path, (time.time() - 30 * DAY,) * 2)
    (base / 'victim' / 'empty').mkdir(exist_ok=True)
    (base / 'root' / 'sub' / 'empty').mkdir(exist_ok=True)
    # a new file keeps ``sub`` itself from being emptied and removed (remove_empty_dirs), which it may rightly be when a
    # loaded machine lets the cleaner go through the whole tree between two swaps: the swapper then found no ``sub``
    # to swap (renameat2: ENOENT) and the test failed on a removal it allows
    (base / 'root' / 'sub' / 'new').write_bytes(b'new')
    for empty in (base / 'victim' / 'empty', base / 'root' / 'sub' / 'empty'):
        os.utime(empty, (time.time() - 30 * DAY,) * 2)


def test_swapping_a_directory_for_a_symlink_never_deletes_outside(tmp_path):
    """A process swaps a directory of the tree with a symlink to a victim directory while file_cleanup runs.

    At least 12 runs, and more (up to 60) until one has removed something: the race must really have been run. A
    loaded machine (CI ran the real-AWX stage beside this) can let the swapper win the opening of ``sub`` 12 times in
    a row, and the run then rightly removes nothing."""
    min_runs, max_runs = 12, 60
    _race_layout(tmp_path)
    victims = _tree(tmp_path / 'victim')
    assert len(victims) == RACE_DIRS * RACE_FILES
    link = tmp_path / 'link'
    link.symlink_to(tmp_path / 'victim')
    stop = tmp_path / 'stop'
    lost, raised, turns, removed = [], [], [], 0
    runs = 0
    while runs < min_runs or (removed == 0 and runs < max_runs):
        runs += 1
        _race_layout(tmp_path)
        swapper = subprocess.Popen([sys.executable, '-c', SWAPPER, str(tmp_path / 'root' / 'sub'), str(tmp_path / 'hold'),
                                    str(link), str(stop), str(time.time() + 120)], stdout=subprocess.PIPE, text=True)
        try:
            assert swapper.stdout.readline().strip() == 'ready'
            time.sleep(0.05)  # the swapper is in its loop
            try:
                result = fc.clean_path(str(tmp_path / 'root'), age=DAY, remove_empty_dirs=True)
                removed += result['removed']
                assert all(entry['path'].startswith(str(tmp_path / 'root') + os.sep) for entry in result['files'])
            except Exception as exc:  # the report of what was already removed is lost: counted as a failure
                raised.append(repr(exc))
        finally:
            stop.write_text('stop')
            turns.append(int(swapper.communicate(timeout=150)[0].strip() or 0))
            stop.unlink()
        assert (tmp_path / 'root' / 'sub').is_dir() and not (tmp_path / 'root' / 'sub').is_symlink()
        missing = sorted(set(victims) - set(_tree(tmp_path / 'victim')))
        lost.append(len(missing) + (0 if (tmp_path / 'victim' / 'empty').is_dir() else 1))
    assert min(turns) > 0, 'the swapper never swapped: the test proves nothing'
    assert removed > 0, 'nothing in the tree was removed in %d runs: the race was never run' % runs
    assert lost == [0] * runs and raised == [], 'victims lost per run: %s; exceptions: %s' % (lost, raised[:3])
    assert all((tmp_path / 'victim' / name).read_bytes() == b'victim' for name in victims)


WRITER = r'''
import os, sys
mode, root = sys.argv[1], sys.argv[2]
for directory, _dirs, files in os.walk(root):
    for name in files:
        path = os.path.join(directory, name)
        if mode == 'rewrite':
            with open(path, 'r+b') as handle:
                handle.write(b'fresh')
        else:
            with open(path + '.new', 'wb') as handle:
                handle.write(b'fresh')
            os.replace(path + '.new', path)
'''


@pytest.mark.parametrize('mode,options', [('rewrite', {'age': DAY}), ('replace', {'age': DAY}),
                                          ('rewrite', {'max_size': 0}), ('replace', {'max_size': 0})])
def test_files_rewritten_after_the_scan_are_kept(tmp_path, monkeypatch, mode, options):
    """A writer process rewrites every file after the scan chose it and before the deletions."""
    root = tmp_path / 'cache'
    count = 2000
    for index in range(count):
        _write(root / ('d%d' % (index % 10)) / ('f%04d' % index), size=5, age_days=30)
    real_scan = fc.scan
    chosen = []

    def scan_then_write(*args, **kwargs):
        plan = real_scan(*args, **kwargs)
        chosen.append(len(plan['chosen']))
        subprocess.run([sys.executable, '-c', WRITER, mode, str(root)], check=True)
        return plan

    monkeypatch.setattr(fc, 'scan', scan_then_write)
    result = fc.clean_path(str(root), **options)
    assert chosen == [count]
    assert len(_tree(root)) == count and result['removed'] == 0 and result['bytes_freed'] == 0
    assert all((root / name).read_bytes() == b'fresh' for name in _tree(root))
    assert result['left_alone']['changed_since_scan'] == count
    assert 'changed since scan' in result['checks'][0]['reason']


def test_session_files_refreshed_after_the_scan_are_kept(tmp_path, monkeypatch):
    """session_cleanup's files backend deletes through the same walker: a session refreshed meanwhile stays."""
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import session_cleanup as sc
    directory = tmp_path / 'sessions'
    _write(directory / 'sess_refreshed', age_days=1)
    _write(directory / 'sess_expired', age_days=1)
    real_scan = fc.scan

    def scan_then_refresh(*args, **kwargs):
        plan = real_scan(*args, **kwargs)
        (directory / 'sess_refreshed').write_bytes(b'logged in again')
        return plan

    monkeypatch.setattr(fc, 'scan', scan_then_refresh)
    result = sc.purge_files(str(directory), lifetime=1440)
    assert sorted(os.listdir(directory)) == ['sess_refreshed'] and result['deleted'] == 1
    assert result['left_alone']['changed_since_scan'] == 1


def _bind_mount(source, target):
    done = subprocess.run(['mount', '--bind', str(source), str(target)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip('a bind mount needs root: %s' % done.stderr.decode().strip())


@pytest.mark.parametrize('mount_ids', [True, False], ids=['fdinfo', 'mountinfo'])
def test_bind_mount_inside_the_tree_is_not_entered(tmp_path, monkeypatch, mount_ids):
    source = tmp_path / 'elsewhere'
    _write(source / 'precious.dat', age_days=30)
    (source / 'empty').mkdir()
    os.utime(source / 'empty', (time.time() - 30 * DAY,) * 2)
    root = tmp_path / 'root'
    _write(root / 'old.tmp', age_days=30)
    bound = root / 'bound'
    bound.mkdir()
    os.utime(bound, (time.time() - 30 * DAY,) * 2)
    if not mount_ids:
        # Without /proc/self/fdinfo (older kernels, no /proc) the mount points listed in /proc/self/mountinfo are
        # compared by inode: the stand-in only hides the mount IDs, the bind mount below is real.
        monkeypatch.setattr(fc, '_mount_id', lambda fd: None)
    _bind_mount(source, bound)
    try:
        assert os.stat(bound).st_dev == os.stat(root).st_dev  # the st_dev test cannot see a bind mount
        result = fc.clean_path(str(root), age=DAY, remove_empty_dirs=True)
        assert (bound / 'precious.dat').read_bytes() == b'x' * 10 and (bound / 'empty').is_dir()
        assert not (root / 'old.tmp').exists() and result['removed'] == 1
        assert result['left_alone']['other_filesystem'] == 1
    finally:
        subprocess.run(['umount', str(bound)], check=True)
    assert (source / 'precious.dat').exists() and bound.is_dir()


def _snapshot(root):
    """Every entry below ``root`` with its type, inode, size, mtime and link target."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            found[os.path.relpath(path, root)] = (stat.S_IFMT(info.st_mode), info.st_ino, info.st_size, info.st_mtime_ns,
                                                  os.readlink(path) if os.path.islink(path) else None)
    return found


def test_check_mode_changes_nothing(tmp_path):
    root = tmp_path / 'tmp'
    for index in range(30):
        _write(root / ('d%d' % (index % 3)) / ('f%02d.tmp' % index), size=100, age_days=index)
    (root / 'empty' / 'deeper').mkdir(parents=True)
    (root / 'link').symlink_to(root / 'd0')
    old = time.time() - 30 * DAY
    for path in (root / 'empty' / 'deeper', root / 'empty', root / 'link'):
        os.utime(path, (old, old), follow_symlinks=False)
    before = _snapshot(root)
    result = fc.clean_path(str(root), age=5 * DAY, max_size=1000, symlinks=True, remove_empty_dirs=True, check_mode=True)
    assert _snapshot(root) == before
    # 25 files at least 5 days old (500 bytes left: within the budget) and the old link
    assert result['would_remove'] == 26 and result['removed'] == 0 and not result['changed']


def test_an_entry_that_cannot_be_removed_is_reported_and_the_run_goes_on(tmp_path):
    root = tmp_path / 'tmp'
    for index in range(6):
        _write(root / 'a' / ('f%d' % index), age_days=5)
        _write(root / 'b' / ('f%d' % index), age_days=5)
    stuck = root / 'a' / 'f3'
    done = subprocess.run(['chattr', '+i', str(stuck)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip('chattr +i needs root and ext2/3/4, xfs or btrfs: %s' % done.stderr.decode().strip())
    try:
        result = fc.clean_path(str(root), age=DAY)
        assert _tree(root) == ['a/f3'] and result['removed'] == 11
        assert [e['path'] for e in result['errors']] == [str(stuck)]
        assert result['checks'][0]['status'] == 'warning' and 'could not be removed' in result['checks'][0]['reason']
    finally:
        subprocess.run(['chattr', '-i', str(stuck)], check=True)


def test_root_replaced_after_the_scan_is_left_alone(tmp_path, monkeypatch):
    root = tmp_path / 'root'
    _write(root / 'old.tmp', age_days=5)
    real_scan = fc.scan

    def scan_then_replace_root(*args, **kwargs):
        plan = real_scan(*args, **kwargs)
        os.rename(root, tmp_path / 'moved')
        os.symlink(tmp_path / 'outside', root)  # the root path now leads elsewhere
        _write(tmp_path / 'outside' / 'old.tmp', age_days=5)
        return plan

    monkeypatch.setattr(fc, 'scan', scan_then_replace_root)
    result = fc.clean_path(str(root), age=DAY)
    assert (tmp_path / 'outside' / 'old.tmp').exists() and (tmp_path / 'moved' / 'old.tmp').exists()
    assert result['removed'] == 0 and [e['path'] for e in result['errors']] == [str(root / 'old.tmp')]
    assert 'the root' in result['errors'][0]['error']
