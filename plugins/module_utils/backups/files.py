# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""File-level helpers of ``backup_verify``: discovery, kinds, checksums, manifests, read-through.

Plain Python (no Ansible imports): unit tests call it directly. Every reader
streams with large buffers; nothing holds a whole backup in memory.
"""

import errno
import fnmatch
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import zlib

CHUNK = 4 * 1024 * 1024
"""Read size: large reads keep hashlib (OpenSSL) at openssl's own throughput."""

DEFAULT_PARTIAL_PATTERNS = ('*.tmp', '*.part', '*.partial', '*.inprogress', '*.incomplete', '.*.swp')

PG_DUMP_TRAILER = b'-- PostgreSQL database dump complete'

KINDS = ('auto', 'pg_dump', 'tar', 'gzip', 'zstd', 'plain')


class BackupFile(object):
    """One backup of a set: a file, or a directory (pg_dump directory format)."""

    __slots__ = ('path', 'name', 'size', 'mtime', 'is_dir', 'error')

    def __init__(self, path, name, size, mtime, is_dir=False, error=None):
        self.path = path
        self.name = name
        self.size = size
        self.mtime = mtime
        self.is_dir = is_dir
        self.error = error

    def payload(self):
        """``(relative name, absolute path)`` of every regular file this backup consists of."""
        if not self.is_dir:
            return [(self.name, self.path)]
        result = []
        for root, dirs, files in os.walk(self.path):
            dirs.sort()
            for filename in sorted(files):
                full = os.path.join(root, filename)
                result.append((os.path.relpath(full, os.path.dirname(self.path)), full))
        return result


def _dir_size(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for filename in files:
            try:
                total += os.lstat(os.path.join(root, filename)).st_size
            except OSError:
                pass
    return total


def _stat_entry(path):
    name = os.path.basename(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        return BackupFile(path, name, None, None, error=exc.strerror or str(exc))
    is_dir = os.path.isdir(path)
    size = _dir_size(path) if is_dir else st.st_size
    return BackupFile(path, name, size, st.st_mtime, is_dir=is_dir)


def outside(path, root):
    """None when ``path`` resolves (through every symbolic link) inside the directory ``root``; else where it leads.

    Only ``lstat``/``readlink`` are used to resolve: nothing outside ``root`` is opened.
    """
    real = os.path.realpath(path)
    base = os.path.realpath(root)
    if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return real


def outside_reason(path, root):
    """Why ``path`` is refused as outside ``root`` (None when it is inside)."""
    real = outside(path, root)
    if real is None:
        return None
    if os.path.islink(path):
        return 'symbolic link to %s, outside the backup set' % real
    return 'resolves to %s, outside the backup set' % real


def unsafe_name(name):
    """Why a relative name from a manifest is refused before the disk is looked at: NUL, absolute, ``..``."""
    if '\0' in name:
        return 'NUL byte in the name'
    if os.path.isabs(name):
        return 'absolute path'
    if '..' in name.split('/'):
        return '.. component'
    return None


def shown_name(name):
    """A manifest name fit for a one-line reason (a NUL byte shown as ``\\0``)."""
    return name.replace('\0', '\\0')


def matches(name, patterns):
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns or ())


def discover(directory, pattern='*', files=None, exclude=(), partial_patterns=DEFAULT_PARTIAL_PATTERNS):
    """Backups of a set, oldest first, and the partial/temporary files beside them.

    Returns ``(backups, partials, listing_error)``: ``listing_error`` is the reason the
    directory could not be listed (then both lists are empty).
    """
    if files:
        entries = [_stat_entry(path) for path in files]
        partials = []
        for path in files:
            parent = os.path.dirname(path)
            try:
                names = os.listdir(parent)
            except OSError:
                continue
            partials += [_stat_entry(os.path.join(parent, n)) for n in names if matches(n, partial_patterns)]
        return _sort(entries), _sort(_unique(partials)), None
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        return [], [], '%s: %s' % (directory, exc.strerror or exc)
    backups, partials = [], []
    for name in names:
        if matches(name, partial_patterns):
            partials.append(_stat_entry(os.path.join(directory, name)))
        elif fnmatch.fnmatch(name, pattern) and not matches(name, exclude):
            path = os.path.join(directory, name)
            # a link leading out of the set (to /etc/shadow, a device, a FIFO) is never stat'ed through nor opened
            leads = outside(path, directory) if os.path.islink(path) else None
            if leads is not None:
                backups.append(BackupFile(path, name, None, None, error='symbolic link to %s, outside the backup set:'
                                          ' not read' % leads))
            else:
                backups.append(_stat_entry(path))
    return _sort(backups), _sort(partials), None


def _unique(entries):
    seen, result = set(), []
    for entry in entries:
        if entry.path not in seen:
            seen.add(entry.path)
            result.append(entry)
    return result


def _sort(entries):
    return sorted(entries, key=lambda e: (e.mtime is None, e.mtime or 0, e.name))


# ------------------------------------------------------------------ reading
def open_read(path):
    """Open for streaming reads, unbuffered (we read in CHUNK-sized blocks)."""
    return open(path, 'rb', buffering=0)


def sha256_file(path, chunk=CHUNK):
    """Hex SHA-256 of a file, streamed with ``readinto`` into one reused buffer."""
    digest = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open_read(path) as handle:
        while True:
            count = handle.readinto(buf)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


def read_error(exc):
    """A one-line reason for an ``OSError`` raised while reading a backup."""
    if isinstance(exc, OSError) and exc.errno == errno.EACCES:
        return 'permission denied'
    if isinstance(exc, OSError) and exc.errno == errno.EISDIR:
        return 'is a directory, not a file'
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or exc.__class__.__name__


def probe_readable(entry):
    """None when every payload file of ``entry`` can be opened and read, else the reason."""
    if entry.error:
        return entry.error
    try:
        payload = entry.payload()
        if entry.is_dir and not os.access(entry.path, os.R_OK | os.X_OK):
            return 'directory cannot be listed: permission denied'
        for rel, path in payload:
            if entry.is_dir and os.path.islink(path) and outside(path, entry.path) is not None:
                return '%s: %s: not read' % (rel, outside_reason(path, entry.path))
        for _rel, path in payload:
            with open_read(path) as handle:
                handle.read(1)
    except OSError as exc:
        return '%s: %s' % (os.path.basename(getattr(exc, 'filename', None) or entry.path), read_error(exc))
    return None


# ------------------------------------------------------------------ manifests
_GNU_LINE = re.compile(r'^(\\)?([0-9a-fA-F]{64}) [ *](.+)$')
_BSD_LINE = re.compile(r'^(?:SHA256|SHA2-256) ?\((.+)\) ?= ?([0-9a-fA-F]{64})$')


def _unescape(name):
    return name.replace('\\n', '\n').replace('\\\\', '\\')


def parse_checksums(text):
    """Entries of a ``sha256sum`` (GNU or BSD/openssl style) file: ``({name: hex}, [bad lines])``.

    Names are kept as written (not normalised), so that ``unsafe_name`` sees every ``..`` and the reason shows
    the line as the backup tool wrote it.
    """
    entries, bad = {}, []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.rstrip('\r')
        if not stripped.strip() or stripped.lstrip().startswith('#'):
            continue
        match = _GNU_LINE.match(stripped)
        if match:
            name = _unescape(match.group(3)) if match.group(1) else match.group(3)
            entries[name] = match.group(2).lower()
            continue
        match = _BSD_LINE.match(stripped.strip())
        if match:
            entries[match.group(1)] = match.group(2).lower()
            continue
        bad.append(number)
    return entries, bad


def read_text(path, limit=64 * 1024 * 1024):
    with open(path, 'rb') as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError('larger than %d bytes' % limit)
    return data.decode('utf-8', 'replace')


# ------------------------------------------------------------------ kinds
def detect_kind(entry):
    """``(kind, detail)``: pg_dump (custom/directory/tar/plain/plain-gzip/plain-zstd), tar (+gz/zst), gzip, zstd, plain."""
    if entry.is_dir:
        if os.path.exists(os.path.join(entry.path, 'toc.dat')):
            return 'pg_dump', 'directory'
        return 'plain', 'directory'
    name = entry.name.lower()
    with open_read(entry.path) as handle:
        head = handle.read(512 + 8)
    if head[:5] == b'PGDMP':
        return 'pg_dump', 'custom'
    if head[:2] == b'\x1f\x8b':
        if name.endswith(('.tar.gz', '.tgz')):
            return 'tar', 'gzip'
        if name.endswith('.sql.gz'):
            return 'pg_dump', 'plain-gzip'
        return 'gzip', None
    if head[:4] == b'\x28\xb5\x2f\xfd':
        if name.endswith(('.tar.zst', '.tzst', '.tar.zstd')):
            return 'tar', 'zstd'
        if name.endswith(('.sql.zst', '.sql.zstd')):
            return 'pg_dump', 'plain-zstd'
        return 'zstd', None
    if len(head) >= 262 and head[257:262] == b'ustar':
        if name.endswith('.tar') and _tar_has_toc(entry.path):
            return 'pg_dump', 'tar'
        return 'tar', None
    if name.endswith('.sql') and b'PostgreSQL database dump' in head:
        return 'pg_dump', 'plain'
    return 'plain', None


def _tar_has_toc(path):
    try:
        with tarfile.open(path, 'r:') as tar:
            first = tar.next()
            return first is not None and first.name == 'toc.dat'
    except (tarfile.TarError, OSError):
        return False


def resolve_kind(entry, declared):
    """The declared kind wins over detection; the detail (format, compression) comes from the file."""
    try:
        kind, detail = detect_kind(entry)
    except OSError:
        kind, detail = 'plain', None
    if declared in (None, 'auto') or declared == kind:
        return kind, detail
    if declared == 'pg_dump':
        # not recognisable as a dump (damaged header, empty ...): pg_restore says why
        return 'pg_dump', 'plain' if entry.name.endswith('.sql') else 'custom'
    if declared == 'tar' and kind in ('gzip', 'zstd'):
        return 'tar', kind
    return declared, None


# ------------------------------------------------------------------ read-through
class _CountingReader(object):
    """File-like wrapper counting the bytes read (to check the tar end-of-archive marker)."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def read(self, size=-1):
        data = self.raw.read(size)
        self.count += len(data)
        return data

    def drain(self):
        while True:
            data = self.raw.read(CHUNK)
            if not data:
                return
            self.count += len(data)


class ZstdStream(object):
    """Decompressed stream of a .zst file through the ``zstd`` command (``close()`` returns the error or None)."""

    def __init__(self, path, zstd='zstd'):
        binary = shutil.which(zstd) if not os.path.isabs(zstd) else zstd
        if not binary:
            raise ReadThroughError('zstd command not found; install zstd to verify .zst archives')
        self.proc = subprocess.Popen([binary, '-d', '-c', '-q', '--', path], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.stdout = self.proc.stdout

    def read(self, size=-1):
        return self.stdout.read(size)

    def close(self):
        # read what is left so zstd reaches the end of its input and reports on it
        while self.stdout.read(CHUNK):
            pass
        self.stdout.close()
        err = self.proc.stderr.read().decode('utf-8', 'replace')
        self.proc.stderr.close()
        code = self.proc.wait()
        if code != 0:
            return 'zstd: ' + (' '.join(err.split()) or 'exit code %d' % code)
        return None


class ReadThroughError(Exception):
    pass


def _drain(stream):
    total = 0
    while True:
        data = stream.read(CHUNK)
        if not data:
            return total
        total += len(data)


def _drain_tail(stream, keep=4096):
    total, tail = 0, b''
    while True:
        data = stream.read(CHUNK)
        if not data:
            return total, tail
        total += len(data)
        tail = (tail + data[-keep:])[-keep:]


def read_gzip(path):
    """Decompress a (multi-member) gzip file to the end; CRC and length are checked by the gzip module.

    Returns the uncompressed size and the last 4 KiB (plain SQL dumps end with a completion line).
    """
    raw = open_read(path)
    try:
        with gzip.GzipFile(fileobj=raw) as stream:
            size, tail = _drain_tail(stream)
    except EOFError:
        raise ReadThroughError('gzip stream truncated: compressed data ends before the end-of-stream marker')
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ReadThroughError('gzip stream corrupt: %s' % exc)
    finally:
        raw.close()
    return {'uncompressed_bytes': size}, tail


def read_zstd(path, zstd='zstd'):
    """Decompress a .zst file to the end through the zstd command (frame checksums are verified)."""
    stream = ZstdStream(path, zstd)
    size, tail = _drain_tail(stream.stdout)
    error = stream.close()
    if error:
        raise ReadThroughError(error)
    return {'uncompressed_bytes': size}, tail


def _translate(exc):
    """The ``ReadThroughError`` for an exception raised while decompressing/reading a tar stream."""
    if isinstance(exc, EOFError):
        return ReadThroughError('archive truncated: compressed data ends before the end-of-stream marker')
    if isinstance(exc, tarfile.ReadError):
        return ReadThroughError('tar stream broken: %s' % exc)
    return ReadThroughError('compressed stream corrupt: %s' % exc)


class _MemberReader(object):
    """A tar member's data; decompression and stream errors surface as ``ReadThroughError``."""

    def __init__(self, handle):
        self.handle = handle

    def read(self, size=-1):
        try:
            return self.handle.read(size)
        except (EOFError, tarfile.ReadError, zlib.error, OSError) as exc:
            raise _translate(exc)


class _VisitorError(Exception):
    """An ``OSError`` raised by the visitor itself (writing a restored file), not by the archive."""

    def __init__(self, error):
        super(_VisitorError, self).__init__(str(error))
        self.error = error


def walk_tar(path, compression, visit, zstd='zstd'):
    """Stream a tar archive member by member, calling ``visit(member, handle)`` (handle None for non-files).

    After the last member, checks that the end-of-archive marker is present and the
    compressed stream ended cleanly. Any failure raises ``ReadThroughError``; for zstd the
    decompressor's own message wins over tarfile's (it names the real cause).
    """
    zstream = None
    if compression == 'gzip':
        raw = gzip.GzipFile(fileobj=open_read(path))
    elif compression == 'zstd':
        zstream = ZstdStream(path, zstd)
        raw = zstream.stdout
    else:
        raw = open_read(path)
    counter = _CountingReader(raw)
    failure = visitor_error = None
    try:
        with tarfile.open(fileobj=counter, mode='r|') as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.isfile() else None
                try:
                    visit(member, _MemberReader(handle) if handle is not None else None)
                except OSError as exc:
                    raise _VisitorError(exc)
            end = tar.offset
        counter.drain()
        if counter.count - end < 1024:
            failure = ReadThroughError('tar end-of-archive marker missing after %d bytes: the archive is truncated'
                                       % counter.count)
    except ReadThroughError as exc:
        failure = exc
    except _VisitorError as exc:
        visitor_error = exc.error
    except (EOFError, tarfile.ReadError, zlib.error, OSError) as exc:
        failure = _translate(exc)
    finally:
        if zstream is not None:
            error = zstream.close()
            if error:
                failure = ReadThroughError(error)
        else:
            raw.close()
    if failure is not None:
        raise failure
    if visitor_error is not None:
        raise visitor_error


def read_tar(path, compression, zstd='zstd'):
    """Read every member of a tar archive to its end; returns member/file/byte counts."""
    totals = {'members': 0, 'files': 0, 'uncompressed_bytes': 0}

    def visit(_member, handle):
        totals['members'] += 1
        if handle is not None:
            totals['files'] += 1
            totals['uncompressed_bytes'] += _drain(handle)

    walk_tar(path, compression, visit, zstd)
    return totals


def tail_bytes(path, count=4096):
    with open_read(path) as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        handle.seek(max(0, end - count))
        return handle.read(count)
