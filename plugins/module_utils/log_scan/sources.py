# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incremental reading of log files for ``log_scan``: cursors that survive rotation.

A cursor remembers, per configured file: device, inode, the offset up to which
complete lines were consumed, and a SHA-256 of the file's first bytes (up to
``HEAD_BYTES``). On the next run:

* same device/inode, size >= offset and the same head: read from the offset;
* a different inode (rename + new file, ``create`` rotation) or the same inode
  but shorter or with a different head (``copytruncate``, truncation, replacement):
  look among the rotated siblings (``auth.log.1``, ``auth.log.1.gz``,
  ``auth.log-20261124``, ``...gz``) for the old file - same inode, or same head
  with at least ``offset`` bytes - and finish it from the offset (gzip is
  decompressed), then read the current file from its start.

Only complete lines are consumed from a live file (a line being written stays for
the next run); the last line of a rotated file is taken as it is, since that file
is finished. Lines longer than ``max_line`` bytes are skipped and counted.

With a prefilter (``needles`` and a function that takes the lines holding them),
a large read goes through GNU grep (``grep -a -b -F -e needle ...`` on the file,
from the cursor): grep finds the lines at several times Python's speed, in its own
process, while this one parses what it has found so far. grep's byte offsets keep
the read exact: the lines it found past the planned end (the file grew meanwhile)
are dropped, so the cursor and what was counted agree. When grep is not there (or
not GNU grep), or fails, the file is read here, from where grep's output stopped.
Plain Python, importable without Ansible.
"""

import errno
import glob
import gzip
import hashlib
import os
import pickle
import subprocess
import zlib

HEAD_BYTES = 1024
CHUNK_BYTES = 8 << 20
ROTATED_CANDIDATES = 8
PARALLEL_MIN_BYTES = 64 << 20
PREFILTER_MIN_BYTES = 16 << 20
GREP_BLOCK_BYTES = 256 << 10
PIPE_BYTES = 16 << 20
_GREP_CHECKED = {}


def _widen_pipe(fd, size=PIPE_BYTES):
    """Let grep run ahead of the parsing: a pipe buffer of ``size`` bytes (root may exceed the system's
    fs.pipe-max-size, others get at most that). Best effort: Linux only."""
    try:
        import fcntl
        setter = getattr(fcntl, 'F_SETPIPE_SZ', 1031)
        try:
            fcntl.fcntl(fd, setter, size)
        except (IOError, OSError):
            with open('/proc/sys/fs/pipe-max-size') as handle:
                fcntl.fcntl(fd, setter, min(size, int(handle.read().strip())))
    except (ImportError, IOError, OSError, ValueError):
        pass


def gnu_grep(command='grep'):
    """True when ``command`` is GNU grep (its ``-b`` byte offsets and ``-a`` are what the prefilter relies on)."""
    known = _GREP_CHECKED.get(command)
    if known is None:
        try:
            process = subprocess.Popen([command, '--version'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       env=dict(os.environ, LC_ALL='C'))
            out = process.communicate()[0]
            known = process.returncode == 0 and b'GNU grep' in out.split(b'\n', 1)[0]
        except (IOError, OSError, ValueError):
            known = False
        _GREP_CHECKED[command] = known
    return known


def available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class SourceError(Exception):
    """A file cannot be read (missing, permission, not a regular file); the message says why."""


def _open_plain(path):
    try:
        return open(path, 'rb')
    except (IOError, OSError) as exc:
        raise SourceError(_os_reason(path, exc))


def _os_reason(path, exc):
    if getattr(exc, 'errno', None) == errno.ENOENT:
        return '%s does not exist' % path
    if getattr(exc, 'errno', None) in (errno.EACCES, errno.EPERM):
        return 'permission denied reading %s (run the task with become, or add the user to the adm group)' % path
    if getattr(exc, 'errno', None) == errno.EISDIR:
        return '%s is a directory, not a log file' % path
    return 'cannot read %s: %s' % (path, getattr(exc, 'strerror', None) or exc)


def _is_gzip(path):
    return path.endswith('.gz')


def _open_any(path):
    if _is_gzip(path):
        try:
            return gzip.open(path, 'rb')
        except (IOError, OSError) as exc:
            raise SourceError(_os_reason(path, exc))
    return _open_plain(path)


def head_digest(path, length):
    """SHA-256 (hex) of the first ``length`` bytes (decompressed for .gz) and how many bytes were hashed."""
    handle = _open_any(path)
    try:
        try:
            data = handle.read(length)
        except (IOError, OSError, EOFError, zlib.error) as exc:
            raise SourceError('cannot read %s: %s' % (path, exc))
    finally:
        handle.close()
    return hashlib.sha256(data).hexdigest(), len(data)


def rotated_siblings(path, patterns=None):
    """Rotated versions of ``path`` that exist, newest first (by modification time)."""
    directory, name = os.path.split(path)
    patterns = patterns or [name + '.*', name + '-*']
    found = set()
    for pattern in patterns:
        for candidate in glob.glob(os.path.join(directory, pattern)):
            if candidate != path and os.path.isfile(candidate):
                found.add(candidate)
    dated = []
    for candidate in found:
        try:
            dated.append((os.stat(candidate).st_mtime, candidate))
        except OSError:
            continue
    dated.sort(reverse=True)
    return [candidate for _mtime, candidate in dated[:ROTATED_CANDIDATES]]


def _size_at_least(path, size):
    """True when the (decompressed) file holds at least ``size`` bytes."""
    if not _is_gzip(path):
        try:
            return os.stat(path).st_size >= size
        except OSError:
            return False
    try:
        with gzip.open(path, 'rb') as handle:
            remaining = size
            while remaining > 0:
                block = handle.read(min(remaining, CHUNK_BYTES))
                if not block:
                    return False
                remaining -= len(block)
        return True
    except (IOError, OSError, EOFError, zlib.error):
        return False


def find_previous(path, cursor, patterns=None):
    """The rotated file that continues ``cursor`` (same inode, or same head and long enough), or None."""
    for candidate in rotated_siblings(path, patterns):
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if not _is_gzip(candidate) and (st.st_dev, st.st_ino) == (cursor['dev'], cursor['ino']):
            return candidate
        try:
            digest, length = head_digest(candidate, cursor['head_len'])
        except SourceError:
            continue
        if length == cursor['head_len'] and digest == cursor['head_sha256'] and _size_at_least(candidate, cursor['offset']):
            return candidate
    return None


class Segment(object):
    """One file to read from ``start``: the live file (complete lines only) or a rotated one (to its end)."""

    def __init__(self, path, start, live, end=None):
        self.path = path
        self.start = start
        self.live = live
        self.end = end


class FileReader(object):
    """Plans and performs the incremental read of one configured file.

    ``plan()`` decides what to read (and notes why: first run, rotation,
    copytruncate, truncation); ``read(feed)`` calls ``feed(buf, start, end)`` with
    blocks of complete lines and returns the new cursor.
    """

    def __init__(self, path, cursor=None, start_at='beginning', max_line=1 << 20, patterns=None,
                 chunk_bytes=CHUNK_BYTES, count_lines=True, workers=1, parallel=None, prefilter=None,
                 prefilter_min_bytes=PREFILTER_MIN_BYTES, grep='grep'):
        self.workers = max(1, int(workers or 1))
        self.prefilter = prefilter          # (needles, feed_lines) or None
        self.prefilter_min_bytes = prefilter_min_bytes
        self.grep = grep
        self.grep_segments = 0
        self.parallel = parallel
        self.workers_used = 1
        self.path = path
        self.count_lines = count_lines
        self.cursor = cursor
        self.start_at = start_at
        self.max_line = max_line
        self.patterns = patterns
        self.chunk_bytes = chunk_bytes
        self.segments = []
        self.notes = []
        self.bytes_read = 0
        self.lines = 0 if count_lines else None
        self.oversized_lines = 0
        self.truncated_without_copy = False
        self.new_cursor = None
        self._stat = None

    def plan(self):
        path = self.path
        try:
            st = os.stat(path)
        except OSError as exc:
            raise SourceError(_os_reason(path, exc))
        if not os.path.isfile(path):
            raise SourceError('%s is not a regular file' % path)
        if not os.access(path, os.R_OK):
            raise SourceError(_os_reason(path, OSError(errno.EACCES, 'Permission denied')))
        self._stat = st
        cursor = self.cursor
        size = st.st_size
        if not cursor:
            start = size if self.start_at == 'end' else 0
            if start:
                start = self._line_boundary_before(start)
                self.notes.append('first run: starting at the end of the file (start_at=end)')
            else:
                self.notes.append('first run: reading the file from its start')
            self.segments = [Segment(path, start, True, size)]
            return self
        same_inode = (st.st_dev, st.st_ino) == (cursor['dev'], cursor['ino'])
        head_same = False
        if size >= cursor['head_len']:
            digest, length = head_digest(path, cursor['head_len'])
            head_same = length == cursor['head_len'] and digest == cursor['head_sha256']
        if same_inode and head_same and size >= cursor['offset']:
            self.segments = [Segment(path, cursor['offset'], True, size)]
            return self
        previous = find_previous(path, cursor, self.patterns)
        if same_inode:
            if previous:
                self.notes.append('copytruncate rotation: finished %s from offset %d, then read %s from its start'
                                  % (previous, cursor['offset'], path))
            else:
                self.truncated_without_copy = True
                self.notes.append('%s was truncated or rewritten since the last run (offset %d, now %d bytes) and no '
                                  'rotated copy holds the unread part; read from the start'
                                  % (path, cursor['offset'], size))
        elif previous:
            self.notes.append('rotated: finished %s from offset %d, then read the new %s from its start'
                              % (previous, cursor['offset'], path))
        else:
            self.notes.append('%s was replaced (new inode) and the old file was not found among its rotated siblings; '
                              'read the new file from its start' % path)
        if previous:
            self.segments.append(Segment(previous, cursor['offset'], False))
        self.segments.append(Segment(path, 0, True, size))
        return self

    def _line_boundary_before(self, offset):
        handle = _open_plain(self.path)
        try:
            back = min(offset, 1 << 16)
            handle.seek(offset - back)
            data = handle.read(back)
        finally:
            handle.close()
        cut = data.rfind(b'\n')
        return offset - back + cut + 1 if cut >= 0 else offset - back

    def read(self, feed):
        """Read every planned segment; return the cursor after the consumed lines."""
        offset = None
        for segment in self.segments:
            if (self.parallel is not None and self.workers > 1 and segment.end is not None and
                    not _is_gzip(segment.path) and segment.end - segment.start >= PARALLEL_MIN_BYTES):
                consumed = self._read_parallel(segment, feed)
            else:
                consumed = self._read_part(segment, feed)
            if segment.live:
                offset = consumed
        st = self._stat
        head_sha256, head_len = head_digest(self.path, min(HEAD_BYTES, offset)) if offset else (
            hashlib.sha256(b'').hexdigest(), 0)
        if offset and head_len < min(HEAD_BYTES, offset):
            head_len = 0
            head_sha256 = hashlib.sha256(b'').hexdigest()
        self.new_cursor = {
            'path': self.path,
            'dev': st.st_dev,
            'ino': st.st_ino,
            'offset': offset or 0,
            'head_len': head_len,
            'head_sha256': head_sha256,
        }
        return self.new_cursor

    def _read_segment(self, segment, feed):
        handle = _open_any(segment.path)
        position = segment.start
        try:
            try:
                self._skip(handle, segment)
                limit = None if segment.end is None else segment.end - segment.start
                carry = b''
                skipping = False
                while limit is None or limit > 0:
                    block = handle.read(self.chunk_bytes if limit is None else min(self.chunk_bytes, limit))
                    if not block:
                        break
                    if limit is not None:
                        limit -= len(block)
                    self.bytes_read += len(block)
                    if skipping:
                        newline = block.find(b'\n')
                        if newline < 0:
                            position += len(block)
                            continue
                        position += newline + 1
                        block = block[newline + 1:]
                        skipping = False
                    if carry:
                        first = block.find(b'\n')
                        if first < 0:
                            carry += block
                            if len(carry) > self.max_line:
                                self.oversized_lines += 1
                                position += len(carry)
                                carry = b''
                                skipping = True
                            continue
                        # the line that spans two blocks: fed on its own, so the block is not copied
                        joined = carry + block[:first + 1]
                        self._feed(feed, joined, len(joined))
                        position += len(joined)
                        carry = b''
                        begin = first + 1
                    else:
                        begin = 0
                    cut = block.rfind(b'\n', begin)
                    if cut < 0:
                        carry = block[begin:]
                        if len(carry) > self.max_line:
                            self.oversized_lines += 1
                            position += len(carry)
                            carry = b''
                            skipping = True
                        continue
                    self._feed(feed, block, cut + 1, begin)
                    position += cut + 1 - begin
                    carry = block[cut + 1:]
                if carry and not segment.live and not skipping:
                    # a finished (rotated) file: its last line has no newline but is complete
                    data = carry + b'\n'
                    self._feed(feed, data, len(data))
                    position += len(carry)
            except (IOError, OSError, EOFError, zlib.error) as exc:
                raise SourceError('error while reading %s at offset %d: %s' % (segment.path, position, exc))
        finally:
            handle.close()
        return position

    def _feed(self, feed, buf, end, begin=0, extra=0):
        """Hand ``buf[begin:end]`` (complete lines) to ``feed``, without the lines longer than ``max_line``
        (plus ``extra`` bytes of prefix per line)."""
        start = pos = begin
        limit = self.max_line + extra
        pieces = []
        while pos < end:
            window_end = min(end, pos + limit + 1)
            last = buf.rfind(b'\n', pos, window_end)
            if last >= 0:
                pos = last + 1
                continue
            # no newline within max_line bytes: the line starting at pos is too long
            self.oversized_lines += 1
            newline = buf.find(b'\n', window_end - 1, end)
            if pos > start:
                pieces.append((start, pos))
            start = pos = (newline + 1) if newline >= 0 else end
        if start < end:
            pieces.append((start, end))
        for piece_start, piece_end in pieces:
            if self.count_lines:
                self.lines += buf.count(b'\n', piece_start, piece_end)
            feed(buf, piece_start, piece_end)

    def _read_part(self, segment, feed):
        """Read one segment (or one worker's range of it): through grep when the prefilter applies."""
        if self._use_grep(segment):
            return self._read_grep(segment, feed)
        return self._read_segment(segment, feed)

    # ---------------------------------------------------------- GNU grep as a prefilter
    def _use_grep(self, segment):
        if not self.prefilter or _is_gzip(segment.path):
            return False
        try:
            end = segment.end if segment.end is not None else os.path.getsize(segment.path)
        except OSError:
            return False
        return end - segment.start >= self.prefilter_min_bytes and gnu_grep(self.grep)

    def _read_grep(self, segment, feed):
        """Read ``segment`` through ``grep -b``; the lines holding a needle go to the prefilter's ``feed_lines``.

        Returns the offset after the consumed lines, like ``_read_segment``, which takes over (from the end of the
        last line handed over) when grep cannot be used or fails."""
        needles, feed_lines = self.prefilter
        handle = _open_plain(segment.path)
        try:
            size = os.fstat(handle.fileno()).st_size
            if segment.live:
                limit = self._complete_lines_end(handle, segment.start, min(segment.end, size))
            else:
                limit = size            # a rotated file: to its end, its last line complete even without a newline
            if limit is None or limit <= segment.start:
                return self._read_segment(segment, feed)
            handle.seek(segment.start)
            command = [self.grep, '-a', '-b', '-F']
            for needle in needles:
                command += ['-e', needle]
            try:
                process = subprocess.Popen(command, stdin=handle, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           env=dict(os.environ, LC_ALL='C'))
            except (IOError, OSError) as exc:
                self.notes.append('grep could not be started (%s); read without it' % exc)
                return self._read_segment(segment, feed)
            _widen_pipe(process.stdout.fileno())
            try:
                fed_to, failure, stopped = self._grep_output(process, handle.fileno(), segment,
                                                             limit if segment.live else None, len(str(size)) + 1,
                                                             feed_lines)
            except BaseException:
                process.kill()          # never leave grep behind (or a zombie) when the parse fails
                process.wait()
                process.stdout.close()
                process.stderr.close()
                raise
            error = process.stderr.read().decode('utf-8', 'replace').strip()
            code = process.wait()
            process.stdout.close()
            process.stderr.close()
            if failure is None and not stopped and code not in (0, 1):
                failure = 'grep exited with %d: %s' % (code, error[:300] or 'no message')
            if failure is None and segment.live and os.fstat(handle.fileno()).st_size < limit:
                failure = '%s shrank while it was read' % segment.path
        finally:
            handle.close()
        if failure is not None:
            self.notes.append('%s; read on without grep from offset %d' % (failure, fed_to))
            self.bytes_read += fed_to - segment.start
            return self._read_segment(Segment(segment.path, fed_to, segment.live, segment.end), feed)
        self.grep_segments += 1
        # like the plain reader: the bytes up to the planned end, the partial last line of a live file included
        self.bytes_read += (min(segment.end, size) if segment.live else size) - segment.start
        return limit

    def _complete_lines_end(self, handle, start, end):
        """The offset after the last newline in ``handle[start:end]``, or None when there is none within
        ``max_line`` bytes of ``end`` (the plain reader then deals with that tail)."""
        back = min(end - start, self.max_line + 1)
        handle.seek(end - back)
        data = handle.read(back)
        cut = data.rfind(b'\n')
        return None if cut < 0 else end - back + cut + 1

    def _grep_output(self, process, fd, segment, limit, extra, feed_lines):
        """Feed grep's output, whole lines at a time; stop at ``limit`` (absolute offset) when given. ``extra``:
        room for the ``offset:`` prefix in the line length limit.

        Returns ``(fed_to, failure, stopped)``: the offset after the last line handed over, why grep's output could
        not be used (or None), and whether grep was stopped here because its output went past ``limit``."""
        pipe = process.stdout
        base = None                 # grep -b counts from where it started reading (or, some versions, from 0)
        fed_to = segment.start
        carry = b''
        skipping = False

        while True:
            block = pipe.read(GREP_BLOCK_BYTES)
            if not block:
                return fed_to, None, False
            if skipping:
                newline = block.find(b'\n')
                if newline < 0:
                    continue
                block = block[newline + 1:]
                skipping = False
            if carry:
                block = carry + block
                carry = b''
            cut = block.rfind(b'\n') + 1
            if cut < len(block):
                carry = block[cut:]
                if len(carry) > self.max_line + extra:
                    self.oversized_lines += 1
                    carry = b''
                    skipping = True
            if not cut:
                continue
            if base is None:
                base = self._grep_base(fd, segment.start, block)
                if base is None:
                    process.kill()
                    return fed_to, 'grep -b gave offsets that do not match the file', True
            stop = False
            if limit is not None:
                end = self._line_end(block, cut, base)
                while cut and end > limit:          # lines found past the planned end: the file grew meanwhile
                    stop = True
                    cut = block.rfind(b'\n', 0, cut - 1) + 1
                    end = self._line_end(block, cut, base) if cut else fed_to
            if cut:
                self._feed(feed_lines, block, cut, 0, extra)
                fed_to = self._line_end(block, cut, base)
            if stop:
                process.kill()
                return fed_to, None, True

    @staticmethod
    def _line_end(block, cut, base):
        """The absolute offset after the last line of ``block[:cut]`` (an ``offset:line\n`` of grep -b)."""
        start = block.rfind(b'\n', 0, cut - 1) + 1
        colon = block.find(b':', start, cut)
        return base + int(block[start:colon]) + cut - colon - 1

    @staticmethod
    def _grep_base(fd, start, block):
        """What grep -b's offsets count from: ``start`` (GNU grep 3) or 0; checked against the file's bytes.

        ``pread``: grep shares the file offset of ``fd``, which must not move."""
        newline = block.find(b'\n')
        colon = block.find(b':', 0, newline)
        try:
            offset = int(block[:colon])
        except ValueError:
            return None
        line = block[colon + 1:newline]
        for base in (start, 0):
            if os.pread(fd, len(line), base + offset) == line:
                return base
        return None

    def _boundaries(self, segment, parts):
        """Offsets that split ``segment`` into ``parts`` ranges of whole lines."""
        bounds = [segment.start]
        handle = _open_plain(segment.path)
        try:
            for index in range(1, parts):
                guess = segment.start + (segment.end - segment.start) * index // parts
                handle.seek(guess)
                block = handle.read(self.max_line + 2)
                newline = block.find(b'\n')
                if newline < 0:
                    continue
                boundary = guess + newline + 1
                if bounds[-1] < boundary < segment.end:
                    bounds.append(boundary)
        finally:
            handle.close()
        bounds.append(segment.end)
        return bounds

    def _read_parallel(self, segment, feed):
        """Read a large plain-file segment with worker processes (fork), one range of whole lines each.

        ``self.parallel`` gives ``reset()`` (run in a worker: forget what the parent collected),
        ``export()`` (a picklable summary of what the worker collected) and ``merge(data)`` (in the parent).
        A worker that fails is replaced by reading its range in the parent; nothing is lost or counted twice.
        """
        bounds = self._boundaries(segment, self.workers)
        ranges = [Segment(segment.path, bounds[i], True, bounds[i + 1]) for i in range(len(bounds) - 1)]
        children = []
        for part in ranges[:-1]:
            read_fd, write_fd = os.pipe()
            try:
                pid = os.fork()
            except OSError:
                os.close(read_fd)
                os.close(write_fd)
                children.append((None, None, part))
                continue
            if pid == 0:   # worker
                os.close(read_fd)
                code = 0
                try:
                    self.parallel.reset()
                    self.bytes_read = 0
                    self.lines = 0 if self.count_lines else None
                    self.oversized_lines = 0
                    self.grep_segments = 0
                    self.notes = []
                    self._read_part(part, feed)
                    payload = {'data': self.parallel.export(), 'bytes_read': self.bytes_read, 'lines': self.lines,
                               'oversized_lines': self.oversized_lines, 'grep_segments': self.grep_segments,
                               'notes': self.notes}
                except BaseException as exc:  # report, never raise out of a forked child
                    payload = {'error': '%s: %s' % (type(exc).__name__, exc)}
                    code = 1
                try:
                    data = pickle.dumps(payload, protocol=2)
                    view = memoryview(data)
                    while view:
                        written = os.write(write_fd, view)
                        view = view[written:]
                    os.close(write_fd)
                finally:
                    os._exit(code)
            os.close(write_fd)
            children.append((pid, read_fd, part))
        self.workers_used = len([c for c in children if c[0] is not None]) + 1
        position = self._read_part(ranges[-1], feed)
        for pid, read_fd, part in children:
            payload = None
            if pid is not None:
                chunks = []
                while True:
                    block = os.read(read_fd, 1 << 20)
                    if not block:
                        break
                    chunks.append(block)
                os.close(read_fd)
                os.waitpid(pid, 0)
                try:
                    payload = pickle.loads(b''.join(chunks))
                except Exception:
                    payload = None
            if not payload or 'error' in payload:
                if payload:
                    self.notes.append('a worker failed (%s); its range was read again serially' % payload['error'])
                self._read_part(part, feed)
                continue
            self.parallel.merge(payload['data'])
            self.bytes_read += payload['bytes_read']
            self.grep_segments += payload['grep_segments']
            self.notes.extend(payload['notes'])
            self.oversized_lines += payload['oversized_lines']
            if self.lines is not None and payload['lines'] is not None:
                self.lines += payload['lines']
        return position

    def _skip(self, handle, segment):
        if not segment.start:
            return
        if _is_gzip(segment.path):
            remaining = segment.start
            while remaining > 0:
                block = handle.read(min(remaining, self.chunk_bytes))
                if not block:
                    break
                remaining -= len(block)
        else:
            handle.seek(segment.start)
