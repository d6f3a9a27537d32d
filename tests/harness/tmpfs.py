"""A real, small tmpfs for full-disk tests (mounting needs root; tests skip with the reason otherwise)."""

import contextlib
import os
import subprocess

import pytest


@contextlib.contextmanager
def small_tmpfs(directory, size='128k'):
    """Mount a tmpfs of ``size`` on ``directory`` (created), unmount it afterwards whatever happens."""
    if os.geteuid() != 0:
        pytest.skip('mounting a tmpfs needs root')
    os.makedirs(str(directory), exist_ok=True)
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0755' % size, 'tmpfs', str(directory)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip('cannot mount a tmpfs here: %s' % mounted.stderr.strip())
    try:
        yield str(directory)
    finally:
        if subprocess.run(['umount', str(directory)], capture_output=True, check=False).returncode != 0:
            # busy (a file on it still open, e.g. after a failing test): detach it now, the kernel frees it when closed
            subprocess.run(['umount', '-l', str(directory)], capture_output=True, check=False)


def fill(directory, leave=0):
    """Fill the filesystem of ``directory`` with a filler file until at most ``leave`` bytes are free; returns its path."""
    path = os.path.join(str(directory), 'filler')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            stats = os.statvfs(str(directory))
            free = stats.f_bavail * stats.f_frsize
            if free <= leave:
                break
            try:
                os.write(fd, b'\0' * min(65536, free - leave))
            except OSError:
                break
    finally:
        os.close(fd)
    return path
