# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One ``log_scan`` run (``Scanner``): the sources checked, read from their cursors into the ``Collector``, the
history merged from the state file, and the checks judged on the window.

Plain Python, importable without Ansible.
"""

import gc
import ipaddress
import math
import subprocess
import time
from collections import defaultdict

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_from_epoch
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan import parsers as lp
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.option_checks import epoch
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.collector import (
    CONN_MEMORY_MINUTES,
    DEFER_MINUTES,
    Collector,
    SourceStats,
    _guarded,
    _journal_event,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.sources import (
    PREFILTER_MIN_BYTES,
    FileReader,
    SourceError,
    available_cpus,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.state import Bucket, Latest, StateFile, _scalars, bucket_value
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    CRITICAL,
    OK,
    Threshold,
    UNKNOWN,
    WARNING,
    evaluate,
    format_value,
    make_check,
)

SOURCE_TYPES = ('auth', 'journal', 'access', 'jsonl')
USERS_PER_IP = 50
PEAK_IPS = 5                    # addresses named behind the peak minute
JOURNAL_IDENTIFIERS = ('sshd', 'sshd-session', 'sshd-auth', 'login', 'su', 'sudo')
DEFAULT_JSON_FIELDS = {'time': 'time', 'ip': 'ip', 'user': 'user', 'status': 'status', 'duration': 'duration',
                       'event': 'event'}


def _ip_network_list(entries):
    networks = []
    for entry in entries or []:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise MaintenanceError('allow_list entry %r is not an IP address or network' % (entry,))
    return networks


def _allowed(ip, networks):
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address.version == network.version and address in network for network in networks)


def _valid_ip(ip):
    try:
        ipaddress.ip_address(ip)
        return True
    except ValueError:
        return False


def _source_key(source):
    return '%s:%s' % (source['type'], source.get('path') or source.get('journal_file') or
                      source.get('journal_directory') or 'system')


def normalize_sources(sources):
    """Validate the ``sources`` option; return a list of dicts with defaults filled in."""
    if not sources:
        raise MaintenanceError('log_scan needs at least one source (type auth, journal, access or jsonl)')
    result = []
    seen = set()
    for index, source in enumerate(sources):
        if not isinstance(source, dict):
            raise MaintenanceError('sources[%d] must be a mapping, not %r' % (index, source))
        source = dict((key, value) for key, value in source.items() if value is not None)
        kind = source.get('type')
        if kind not in SOURCE_TYPES:
            raise MaintenanceError('sources[%d]: type must be one of %s, not %r' % (index, ', '.join(SOURCE_TYPES), kind))
        if kind != 'journal' and not source.get('path'):
            raise MaintenanceError('sources[%d]: a %s source needs a path' % (index, kind))
        if source.get('start_at', 'beginning') not in ('beginning', 'end'):
            raise MaintenanceError('sources[%d]: start_at must be beginning or end' % index)
        if kind == 'access':
            unit = source.get('request_time_unit', 's')
            if unit not in ('s', 'ms', 'us'):
                raise MaintenanceError('sources[%d]: request_time_unit must be s, ms or us' % index)
        if kind == 'jsonl':
            fields = dict(DEFAULT_JSON_FIELDS)
            fields.update(source.get('fields') or {})
            source['fields'] = fields
            failed = source.get('failed_login_values')
            if failed is not None and not isinstance(failed, list):
                raise MaintenanceError('sources[%d]: failed_login_values must be a list' % index)
        key = _source_key(source)
        if key in seen:
            raise MaintenanceError('sources[%d]: %s is listed twice' % (index, key))
        seen.add(key)
        source['key'] = key
        source['label'] = source.get('name') or source.get('path') or 'journal'
        result.append(source)
    return result


class Scanner(object):
    """One ``log_scan`` run."""

    def __init__(self, sources, state_file, thresholds=None, window_minutes=10, history_minutes=60,
                 allow_list=None, top=10, now=None, utc=False, max_line_bytes=1 << 20, spike_min_rate=10.0,
                 check_mode=False, journalctl='journalctl', workers=1, prefilter='auto',
                 prefilter_min_bytes=PREFILTER_MIN_BYTES, grep='grep', lock_timeout=None, find_minutes=10,
                 slow_find_minutes=120):
        if window_minutes < 1:
            raise MaintenanceError('window_minutes must be at least 1')
        if max_line_bytes < 1024:
            raise MaintenanceError('max_line_bytes must be at least 1024')
        if top < 1:
            raise MaintenanceError('top must be at least 1')
        if prefilter not in ('auto', 'never'):
            raise MaintenanceError('prefilter must be auto or never, not %r' % (prefilter,))
        if history_minutes < window_minutes:
            raise MaintenanceError('history_minutes (%d) must be at least window_minutes (%d)'
                                   % (history_minutes, window_minutes))
        for name, value in (('find_minutes', find_minutes), ('slow_find_minutes', slow_find_minutes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise MaintenanceError('%s must be a whole number of minutes, at least 1, not %r' % (name, value))
        self.sources = normalize_sources(sources)
        self.state = StateFile(state_file)
        self.lock_timeout = lock_timeout
        self.thresholds = thresholds or {}
        self.window = int(window_minutes)
        # per-address rules (fail2ban's maxretry within findtime): how far back each looks
        self.rule_minutes = {'find_window': find_minutes, 'slow': slow_find_minutes}
        self.rule_thresholds = {'find_window': 'suspicious_ip_find_failures', 'slow': 'suspicious_ip_slow_failures'}
        longest = max([self.window] + [minutes for rule, minutes in self.rule_minutes.items()
                                       if self._limit(self.rule_thresholds[rule]) is not None])
        self.detail_minutes = longest     # the failures per address are kept this long (the rest: the window)
        # the history holds at least the longest per-address rule
        self.history = max(int(history_minutes), longest)
        self.baseline_minutes = int(history_minutes)
        self.allow = _ip_network_list(allow_list)
        self.top = int(top)
        self.now = epoch(now, 'now') if now is not None else time.time()
        self.now_minute = int(self.now) // 60
        self.max_line = int(max_line_bytes)
        self.spike_min_rate = float(spike_min_rate)
        self.check_mode = check_mode
        self.journalctl = journalctl
        self.workers = int(workers) if workers else min(4, available_cpus())
        self.prefilter = prefilter
        self.prefilter_min_bytes = int(prefilter_min_bytes)
        self.grep = grep
        slow = Threshold.from_spec('http_response_time', self.thresholds.get('http_response_time'))
        self.slow_after = slow.warning if slow.warning is not None else slow.critical
        self.collector = Collector(lp.MinuteClock(self.now, utc=utc), self.now_minute - self.history + 1,
                                   self.now_minute + 5, self.slow_after)
        self.collector.recent_minute = self.now_minute - CONN_MEMORY_MINUTES
        # the per-minute rule's 60-second spans end in the window: the seconds matter from the minute before it on
        self.collector.seconds_from = self.now_minute - self.window
        self.source_reports = []
        self.source_checks = []
        self.seen = {}
        self.seconds_kept = {}          # minute -> the addresses whose failures per second the state keeps

    # ---------------------------------------------------------- reading
    def run(self):
        if not self.check_mode:
            # held until close(): the whole read-count-save of every source is one step for overlapping runs
            self.state.lock(self.lock_timeout)
        self.state.load()
        # the parse makes millions of short-lived tuples and no reference cycles: the cyclic collector would
        # only scan them over and over (about a tenth of the time of a large scan)
        collecting = gc.isenabled()
        gc.disable()
        try:
            for source in self.sources:
                self._scan_source(source)
        finally:
            if collecting:
                gc.enable()
        return self.results()

    def _scan_source(self, source):
        stats = SourceStats(source)
        self.collector.stats = stats
        report = {'name': source['label'], 'type': source['type'], 'path': source.get('path'), 'bytes_read': 0,
                  'lines': 0, 'events': 0, 'notes': []}
        target = source.get('path') or 'journal'
        try:
            if source['type'] == 'journal':
                self._scan_journal(source, report)
            else:
                self._scan_file(source, report)
        except SourceError as exc:
            reason = str(exc)
            report['error'] = reason
            if 'does not exist' in reason or 'not found' in reason:
                check = make_check('log_scan.source', UNKNOWN, reason, target=target, priority='medium')
            else:
                check = make_check('log_scan.source', CRITICAL, reason, target=target, priority='medium')
            self.source_checks.append(check)
            self.source_reports.append(report)
            self.collector.forget_connections()
            return
        memory = self.state.data['connections'].setdefault(source['key'], {})
        waiting = self.collector.finish_connections(memory, self.now_minute)
        if not memory.get('attempted') and not memory.get('pending'):
            del self.state.data['connections'][source['key']]
        if waiting:
            report['notes'].append('%d "Invalid user" connection(s) of the last %d minutes wait one run for their '
                                   '"Failed" line before they count' % (waiting, DEFER_MINUTES))
        report.update(events=stats.events, events_without_timestamp=stats.untimed,
                      unparsed_lines=stats.unparsed, events_outside_history=stats.outside_history,
                      unreadable_lines=stats.unreadable)
        self.source_reports.append(report)
        self.source_checks.append(self._source_check(source, report, stats, target))

    def _source_check(self, source, report, stats, target):
        if report['lines'] is None:
            facts = ['read %d bytes, %d events' % (report['bytes_read'], stats.events)]
        else:
            facts = ['read %d bytes, %d lines, %d events' % (report['bytes_read'], report['lines'], stats.events)]
        if stats.untimed:
            facts.append('%d event lines without a readable timestamp were skipped' % stats.untimed)
        if report.get('oversized_lines'):
            facts.append('%d lines longer than %d bytes were skipped' % (report['oversized_lines'], self.max_line))
        if stats.outside_history:
            facts.append('%d events older than %d minutes (or in the future) were not counted'
                         % (stats.outside_history, self.history))
        if stats.unreadable:
            facts.append('%d unreadable line%s skipped (%s)' % (stats.unreadable, '' if stats.unreadable == 1 else 's',
                                                                stats.unreadable_reason))
        facts.extend(report['notes'])
        status = OK
        priority = 'low'
        if report.get('truncated_without_copy'):
            status, priority = WARNING, 'medium'
            facts.insert(0, 'log truncated since the last run with no rotated copy found (possible tampering, or '
                            'lines lost)')
        lines = report['lines'] or 0
        if source['type'] in ('access', 'jsonl') and lines >= 10 and stats.unparsed > lines // 2:
            status, priority = UNKNOWN, 'medium'
            facts.insert(0, '%d of %d lines are not in the expected %s format' % (stats.unparsed, lines, source['type']))
        elif stats.unparsed:
            facts.append('%d lines could not be parsed' % stats.unparsed)
        return make_check('log_scan.source', status, '; '.join(facts), target=target, priority=priority,
                          value=stats.events, unit='events',
                          details=dict((key, report[key]) for key in ('bytes_read', 'lines') if key in report))

    def _scan_file(self, source, report):
        files = self.state.data['files']
        cursor = files.get(source['key'])
        collector = self.collector
        kind = source['type']
        prefilter = None
        if kind == 'auth':
            needles = lp.AUTH_NEEDLES_THOROUGH if source.get('thorough') else lp.AUTH_NEEDLES
            if self.prefilter == 'auto':
                prefilter = (needles, _guarded(collector, collector.feed_auth_lines))
        reader = FileReader(source['path'], cursor=cursor, start_at=source.get('start_at', 'beginning'),
                            max_line=self.max_line, patterns=source.get('rotated_patterns'),
                            count_lines=kind != 'auth', workers=self.workers, parallel=self.collector,
                            prefilter=prefilter, prefilter_min_bytes=self.prefilter_min_bytes, grep=self.grep)
        reader.plan()
        if kind == 'auth':

            def feed(buf, start, end):
                collector.feed_auth_text(buf, start, end, needles)
        elif kind == 'access':
            unit = source.get('request_time_unit', 's')
            scale = {'s': 1.0, 'ms': 0.001, 'us': 0.000001}[unit]
            field = source.get('request_time_field', 0)
            field = None if field is None or field < 0 else field

            def feed(buf, start, end):
                collector.feed_access(buf, start, end, field, scale)
        else:
            def feed(buf, start, end):
                self._feed_jsonl(source, buf, start, end)
        new_cursor = reader.read(_guarded(collector, feed))
        report['bytes_read'] = reader.bytes_read
        report['lines'] = reader.lines
        report['oversized_lines'] = reader.oversized_lines
        if reader.workers_used > 1:
            report['workers'] = reader.workers_used
        if reader.grep_segments:
            report['prefilter'] = 'grep'
            report['notes'].append('GNU grep found the candidate lines')
        report['truncated_without_copy'] = reader.truncated_without_copy
        report['notes'].extend(reader.notes)
        report['read_from'] = [{'path': s.path, 'offset': s.start} for s in reader.segments]
        report['cursor'] = {'offset': new_cursor['offset'], 'inode': new_cursor['ino']}
        files[source['key']] = new_cursor

    def _feed_jsonl(self, source, buf, start, end):
        stats = self.collector.stats
        fields = source['fields']
        failed_values = set(str(v) for v in source.get('failed_login_values') or ['login_failed', 'auth_failure'])
        scale = {'s': 1.0, 'ms': 0.001, 'us': 0.000001}[source.get('duration_unit', 's')]
        failures = []
        for record in lp.json_lines(buf, start, end):
            if record is None:
                stats.unparsed += 1
                continue
            try:
                parsed = self._jsonl_record(record, fields, failed_values, scale, failures)
            except Exception as exc:        # one line that breaks the parse costs that line only
                stats.skip(exc)
                continue
            if parsed:
                stats.parsed += 1
            else:
                stats.unparsed += 1
        self.collector.auth_events(failures)

    def _jsonl_record(self, record, fields, failed_values, scale, failures):
        """Count one JSON-lines record: a failed login (added to ``failures``) or an HTTP request. False when its
        status is not a number."""
        collector = self.collector
        minute = collector.clock.any_value(lp.get_field(record, fields.get('time')))
        ip = lp.get_field(record, fields.get('ip'))
        ip = str(ip) if ip not in (None, '') else None
        event = lp.get_field(record, fields.get('event'))
        if event is not None and str(event) in failed_values:
            user = lp.get_field(record, fields.get('user'))
            failures.append((minute, 'app_login_failed', ip, str(user) if user not in (None, '') else None,
                             None, None))
            return True
        status = lp.get_field(record, fields.get('status'))
        if status is None:
            return True
        try:
            status = int(status)
        except (TypeError, ValueError, OverflowError):      # OverflowError: 1e999 is infinity
            return False
        duration = lp.get_field(record, fields.get('duration'))
        seconds = None
        if isinstance(duration, (int, float)) and not isinstance(duration, bool):
            seconds = float(duration) * scale
        collector.request(minute, ip, status, seconds)
        return True

    def _scan_journal(self, source, report):
        journal = self.state.data['journal']
        previous = journal.get(source['key'])
        command = [self.journalctl, '-o', 'json', '--no-pager', '--output-fields',
                   'MESSAGE,SYSLOG_IDENTIFIER,_PID,_HOSTNAME,__REALTIME_TIMESTAMP']
        if source.get('journal_file'):
            command += ['--file', source['journal_file']]
        if source.get('journal_directory'):
            command += ['--directory', source['journal_directory']]
        if previous and previous.get('cursor'):
            command += ['--after-cursor', previous['cursor']]
            report['notes'].append('continuing after the stored journal cursor')
        elif source.get('start_at') == 'end':
            command += ['--since', '@%d' % int(self.now)]
            report['notes'].append('first run: starting now (start_at=end)')
        else:
            command += ['--since', '@%d' % ((self.now_minute - self.history + 1) * 60)]
            report['notes'].append('first run: reading the last %d minutes' % self.history)
        for identifier in source.get('identifiers') or JOURNAL_IDENTIFIERS:
            command.append('SYSLOG_IDENTIFIER=%s' % identifier)
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except (IOError, OSError) as exc:
            raise SourceError('journalctl not found or not executable (%s); the journal source needs systemd' % exc)
        collector = self.collector
        stats = collector.stats
        last_cursor = None
        lines = 0
        size = 0
        carry = b''
        while True:
            block = process.stdout.read(1 << 20)
            if not block:
                break
            size += len(block)
            buf = carry + block
            cut = buf.rfind(b'\n')
            if cut < 0:
                carry = buf
                continue
            carry = buf[cut + 1:]
            events = []
            for entry in lp.json_lines(buf, 0, cut + 1):
                lines += 1
                if entry is None:
                    stats.unparsed += 1
                    continue
                cursor = entry.get('__CURSOR')
                if cursor and isinstance(cursor, str):
                    last_cursor = cursor
                try:
                    event = _journal_event(entry)
                except Exception as exc:    # one entry that breaks the parse costs that entry only
                    stats.skip(exc)
                    continue
                if event is not None:
                    events.append(event)
            collector.auth_events(events)
        stderr = process.stderr.read()
        code = process.wait()
        report['bytes_read'] = size
        report['lines'] = lines
        if code != 0 and not lines:
            raise SourceError('journalctl failed (exit %d): %s' % (code, stderr.decode('utf-8', 'replace').strip()[:500]))
        if last_cursor:
            journal[source['key']] = {'cursor': last_cursor}

    # ---------------------------------------------------------- results
    def _merged_buckets(self):
        """State buckets plus this run's, pruned to the history; per-IP detail kept for the window only.

        Also merges the users each address tried (``seen``), pruned to the window."""
        merged = {}
        oldest = self.now_minute - self.history + 1
        window_start = self.now_minute - self.window + 1
        detail_start = self.now_minute - self.detail_minutes + 1
        seconds_start = window_start - 1
        seen = Latest()
        for ip, users in (self.state.data.get('seen') or {}).items():
            if isinstance(users, dict):
                for user, minute in users.items():
                    if isinstance(minute, int) and minute >= window_start:
                        seen[(ip, user)] = minute
        for key, data in self.state.data['buckets'].items():
            try:
                minute = int(key)
            except ValueError:
                continue
            if minute < oldest or not isinstance(data, dict):
                continue
            bucket = merged[minute] = Bucket()
            if minute >= window_start:
                bucket.merge(data)
                # state files before 1.1 kept the users tried per address in each minute ("iu")
                old = data.get('iu')
                if isinstance(old, dict):
                    seen.add(dict(((ip, user), minute) for ip, users in old.items()
                                  if isinstance(users, list) for user in users))
            else:
                bucket.merge(_scalars(data, minute >= detail_start, minute >= seconds_start))
        for minute, bucket in self.collector.buckets.items():
            if minute < oldest:
                continue
            known = merged.get(minute)
            if known is None:
                merged[minute] = bucket
            else:
                known.merge(bucket.as_dict(minute >= window_start, minute >= detail_start, minute >= seconds_start))
        seen.add(self.collector.seen)
        self.seen = dict((pair, minute) for pair, minute in seen.items() if minute >= window_start)
        return merged

    def results(self):
        merged = self._merged_buckets()
        window_start = self.now_minute - self.window + 1
        window = dict((m, b) for m, b in merged.items() if window_start <= m <= self.now_minute)
        # the request-rate baseline stays the history asked for, also when a per-address rule made it longer
        baseline_start = self.now_minute - self.baseline_minutes + 1
        baseline = dict((m, b) for m, b in merged.items() if baseline_start <= m < window_start)
        has_auth = any(s['type'] in ('auth', 'journal', 'jsonl') for s in self.sources)
        has_http = any(s['type'] in ('access', 'jsonl') for s in self.sources)
        checks = list(self.source_checks)
        output = {}
        auth = self._auth_results(window, has_auth, checks, merged)
        output.update(auth)
        if has_http:
            output['http'] = self._http_results(window, baseline, merged, checks)
        output['sources'] = self.source_reports
        output['window'] = {
            'minutes': self.window,
            'start': iso_from_epoch(window_start * 60),
            'end': iso_from_epoch((self.now_minute + 1) * 60),
            'history_minutes': self.history,
        }
        # state: keep detail for the window only; the failures per address and second of the last two minutes (the
        # next run's 60-second spans start there), before them of the addresses that may break the per-minute rule
        detail_start = self.now_minute - self.detail_minutes + 1
        seconds_kept = self.seconds_kept
        self.state.data['buckets'] = dict(
            (str(minute), bucket.as_dict(minute >= window_start, minute >= detail_start,
                                         True if minute >= self.now_minute - 1 else seconds_kept.get(minute)))
            for minute, bucket in sorted(merged.items()))
        self.state.data['seen'] = _users_by_ip(self.seen, USERS_PER_IP)
        self.state.data['updated'] = iso_from_epoch(self.now)
        output['checks'] = checks
        output['state_note'] = self.state.note
        return output

    def save_state(self):
        """Write the state file (never in check mode); this ends the run's hold on the state lock."""
        if not self.check_mode:
            try:
                self.state.save()
            finally:
                self.state.unlock()

    def close(self):
        """Release the state lock (after ``save_state``)."""
        self.state.unlock()

    def state_changed(self):
        """True when cursors or history differ from what was loaded."""
        loaded = self.state.loaded
        if loaded is None:
            return True
        data = self.state.data
        return any(data.get(key) != loaded.get(key) for key in set(data).union(loaded) if key not in ('updated', 'generation'))

    def _auth_results(self, window, has_auth, checks, merged):
        attempts_by_minute = dict((m, b.a) for m, b in window.items() if b.a)
        by_ip = defaultdict(int)
        by_user = defaultdict(int)
        users_by_ip = _users_by_ip(dict((pair, minute) for pair, minute in self.seen.items()
                                        if minute <= self.now_minute))
        probes = defaultdict(int)
        kinds = defaultdict(int)
        rate_limited = defaultdict(int)
        for bucket in window.values():
            for ip, count in bucket.fi.items():
                by_ip[ip] += count
            for user, count in bucket.fu.items():
                by_user[user] += count
            for ip, count in bucket.pb.items():
                probes[ip] += count
            for kind, count in bucket.k.items():
                kinds[kind] += count
            for ip, count in bucket.rl.items():
                rate_limited[ip] += count
        peak = max(attempts_by_minute.values()) if attempts_by_minute else 0
        current = attempts_by_minute.get(self.now_minute, 0)
        total = sum(attempts_by_minute.values())
        output = {
            'failed_logins': {
                'total': total,
                'peak_per_minute': peak,
                'current_per_minute': current,
                'peak_minute': iso_from_epoch(max(attempts_by_minute, key=lambda m: (attempts_by_minute[m], m)) * 60)
                if attempts_by_minute else None,
                'by_kind': dict(kinds),
                'per_minute': dict((iso_from_epoch(m * 60), c) for m, c in sorted(attempts_by_minute.items())),
            },
            'top_ips': [{'ip': ip, 'failures': count, 'users': len(users_by_ip.get(ip, ())),
                         'allow_listed': _allowed(ip, self.allow)}
                        for ip, count in sorted(by_ip.items(), key=lambda item: (-item[1], item[0]))[:self.top]],
            'top_users': [{'user': user, 'failures': count}
                          for user, count in sorted(by_user.items(), key=lambda item: (-item[1], item[0]))[:self.top]],
        }
        peak_ips = []
        if attempts_by_minute:
            peak_minute = max(attempts_by_minute, key=lambda m: (attempts_by_minute[m], m))
            peak_ips = [{'ip': ip, 'failures': count} for ip, count in
                        sorted(window[peak_minute].fi.items(), key=lambda item: (-item[1], item[0]))[:PEAK_IPS]]
        output['failed_logins']['peak_ips'] = peak_ips
        if has_auth:
            check = evaluate(
                'security.failed_logins_per_minute', peak, self.thresholds.get('failed_logins_per_minute'),
                label='peak failed logins per minute in the last %d min' % self.window, unit='/min',
                details={'current_per_minute': current, 'total_in_window': total, 'by_kind': dict(kinds),
                         'peak_ips': peak_ips})
            if peak_ips and check['status'] != OK:
                check['reason'] += ' (from %s)' % ', '.join('%s: %d' % (e['ip'], e['failures']) for e in peak_ips)
            checks.append(check)
        suspicious = self._suspicious(by_ip, users_by_ip, probes, rate_limited, self._per_address(merged))
        output['suspicious_ips'] = [entry['ip'] for entry in suspicious]
        output['suspicious_ip_details'] = suspicious
        spec = self.thresholds.get('suspicious_ip_count')
        check = evaluate('security.suspicious_ips', len(suspicious), spec,
                         label='suspicious IPs in the last %d min' % self.window, unit='IPs',
                         details={'ips': output['suspicious_ips'][:self.top * 5]} if suspicious else None)
        if suspicious:
            check['reason'] += ': ' + ', '.join('%s (%s)' % (e['ip'], '; '.join(e['reasons']))
                                                for e in suspicious[:5])
            if len(suspicious) > 5:
                check['reason'] += ' and %d more' % (len(suspicious) - 5)
        checks.append(check)
        return output

    def _limit(self, name):
        spec = Threshold.from_spec(name, self.thresholds.get(name))
        return spec.warning if spec.warning is not None else spec.critical

    def _per_address(self, merged):
        """The per-address rules that fired: ``{ip: [rule]}``, each rule ``{rule, count, limit, minutes, at}``
        (``count``: the most failures seen in any span of ``minutes``; ``at``: the end of the first minute where the
        count went over the limit: the start of that minute, when the rule first fired).

        * ``per_minute`` (``suspicious_ip_per_minute``): failures of one address within 60 seconds, any 60 seconds
          whose last failure lies in the window, not only a clock minute (the guide's "> 10 per minute": high
          priority, immediate investigation). Counted by the second where the line tells it (syslog files); the
          failures whose second is not known (journal, JSON lines, a connection's "Invalid user" without a
          "Failed" line) count in their clock minute;
        * ``find_window`` (``suspicious_ip_find_failures``, ``find_minutes``): fail2ban's ``maxretry`` within
          ``findtime``, any span of ``find_minutes`` that ends in the window;
        * ``slow`` (``suspicious_ip_slow_failures``, ``slow_find_minutes``): the same over hours (low and slow).
        """
        rules = [('per_minute', 1, self._limit('suspicious_ip_per_minute'))]
        for rule in ('find_window', 'slow'):
            rules.append((rule, self.rule_minutes[rule], self._limit(self.rule_thresholds[rule])))
        rules = [rule for rule in rules if rule[2] is not None]
        if not rules:
            return {}
        window_start = self.now_minute - self.window + 1
        oldest = self.now_minute - self.detail_minutes + 1
        series = defaultdict(dict)          # ip -> {minute: failures}
        for minute, bucket in merged.items():
            if oldest <= minute <= self.now_minute:
                for ip, count in bucket.fi.items():
                    series[ip][minute] = count
        by_second = self._by_second(merged, series, dict((rule[0], rule[2]) for rule in rules).get('per_minute'),
                                    window_start)
        fired = {}
        for ip, counts in series.items():
            for rule, minutes, limit in rules:
                best, at = _sliding_peak(counts, minutes, limit, window_start, self.now_minute)
                if rule == 'per_minute' and ip in by_second:
                    most, first = _seconds_peak(by_second[ip], limit, window_start)
                    best = max(best, most)
                    at = first if at is None else at if first is None else min(at, first)
                if at is not None:
                    fired.setdefault(ip, []).append({'rule': rule, 'count': best, 'limit': limit, 'minutes': minutes,
                                                     'at': iso_from_epoch(at * 60)})
        return fired

    def _by_second(self, merged, series, limit, window_start):
        """``{ip: [(epoch second, failures)]}`` from the minute before the window on, for the addresses that may break
        the per-minute rule over two minutes (more than ``limit`` in two adjacent minutes: a 60-second span lies in
        two); notes them in ``seconds_kept`` (what the state keeps of the older minutes)."""
        self.seconds_kept = {}
        if limit is None:
            return {}
        candidates = defaultdict(set)       # minute -> the addresses to look at by the second there
        for ip, counts in series.items():
            for minute, count in counts.items():
                if minute >= window_start - 1 and count + counts.get(minute + 1, 0) > limit:
                    candidates[minute].add(ip)
                    candidates[minute + 1].add(ip)
        found = defaultdict(list)
        for minute, ips in candidates.items():
            bucket = merged.get(minute)
            if bucket is None or minute > self.now_minute:
                continue
            self.seconds_kept[minute] = ips
            start = minute * 60
            for (ip, second), count in bucket.fs.items():
                if ip in ips:
                    found[ip].append((start + int(second), count))
        return found

    def _suspicious(self, by_ip, users_by_ip, probes, rate_limited, per_address):
        failures_limit = self._limit('suspicious_ip_failures')
        users_limit = self._limit('suspicious_ip_distinct_users')
        limited_limit = self._limit('suspicious_ip_rate_limited')
        probes_limit = self._limit('suspicious_ip_probes')
        candidates = set(by_ip) | set(users_by_ip) | set(rate_limited) | set(probes) | set(per_address)
        result = []
        for ip in candidates:
            if not _valid_ip(ip) or _allowed(ip, self.allow):
                continue
            rules = []
            reasons = []
            failures = by_ip.get(ip, 0)
            users = len(users_by_ip.get(ip, ()))
            limited = rate_limited.get(ip, 0)
            probe_count = probes.get(ip, 0)
            if failures_limit is not None and failures > failures_limit:
                reasons.append('%d failed logins > %s' % (failures, format_value(failures_limit)))
                rules.append({'rule': 'failures', 'count': failures, 'limit': failures_limit, 'minutes': self.window})
            if users_limit is not None and users > users_limit:
                reasons.append('%d distinct users > %s' % (users, format_value(users_limit)))
                rules.append({'rule': 'distinct_users', 'count': users, 'limit': users_limit, 'minutes': self.window})
            if limited_limit is not None and limited > limited_limit:
                reasons.append('%d rate-limited requests (HTTP 429) > %s' % (limited, format_value(limited_limit)))
                rules.append({'rule': 'rate_limited', 'count': limited, 'limit': limited_limit, 'minutes': self.window})
            if probes_limit is not None and probe_count > probes_limit:
                reasons.append('%d pre-auth disconnects > %s' % (probe_count, format_value(probes_limit)))
                rules.append({'rule': 'probes', 'count': probe_count, 'limit': probes_limit, 'minutes': self.window})
            for rule in rules:
                rule['at'] = None           # window totals: over the window as a whole
            for rule in per_address.get(ip, ()):
                rules.append(rule)
                span = 'in one minute' if rule['rule'] == 'per_minute' else 'within %d min' % rule['minutes']
                reasons.append('%d failed logins %s > %s (from %s)' % (rule['count'], span, format_value(rule['limit']),
                                                                       rule['at']))
            if reasons:
                result.append({'ip': ip, 'failures': failures, 'distinct_users': users, 'rate_limited': limited,
                               'probes': probe_count, 'reasons': reasons, 'rules': rules,
                               'first_fired': min([rule['at'] for rule in rules if rule['at']] or [None])})
        result.sort(key=lambda e: (-(e['failures'] + e['rate_limited'] + e['probes']), e['ip']))
        return result

    def _http_results(self, window, baseline, merged, checks):
        requests = sum(b.rq for b in window.values())
        errors = sum(b.e5 for b in window.values())
        timed = sum(b.tm for b in window.values())
        slow = sum(b.sl for b in window.values())
        limited = defaultdict(int)
        hist = defaultdict(int)
        by_ip = defaultdict(int)
        for bucket in window.values():
            for ip, count in bucket.rl.items():
                limited[ip] += count
            for index, count in bucket.h.items():
                hist[int(index)] += count
            for ip, count in bucket.ri.items():
                by_ip[ip] += count
        total_limited = sum(limited.values())
        result = {
            'requests': requests,
            'errors_5xx': errors,
            'error_rate': round(100.0 * errors / requests, 3) if requests else None,
            'rate_limited': total_limited,
            'rate_limited_by_ip': [{'ip': ip, 'count': count} for ip, count in
                                   sorted(limited.items(), key=lambda item: (-item[1], item[0]))[:self.top]],
            'top_clients': [{'ip': ip, 'requests': count} for ip, count in
                            sorted(by_ip.items(), key=lambda item: (-item[1], item[0]))[:self.top]],
            'timed_requests': timed,
        }
        if requests:
            checks.append(evaluate('security.api_error_rate', round(100.0 * errors / requests, 3),
                                   self.thresholds.get('api_error_rate'), label='HTTP 5xx share of %d requests' % requests,
                                   unit='%', details={'requests': requests, 'errors_5xx': errors}))
        else:
            checks.append(make_check('security.api_error_rate', OK, 'no HTTP requests in the last %d min' % self.window,
                                     priority='low', unit='%'))
        check = evaluate('security.rate_limit_violations', total_limited, self.thresholds.get('rate_limit_violations'),
                         label='HTTP 429 responses in the last %d min' % self.window, unit='/window',
                         details={'by_ip': result['rate_limited_by_ip']} if limited else None)
        checks.append(check)
        if timed:
            percentiles = _percentiles(hist, timed, (50, 95, 99))
            result.update(p50=percentiles[50], p95=percentiles[95], p99=percentiles[99],
                          slow_share=round(100.0 * slow / timed, 3), slow_after=self.slow_after)
            checks.append(evaluate('http.response_time_p95', percentiles[95], self.thresholds.get('http_response_time'),
                                   label='p95 response time of %d requests' % timed, unit='s',
                                   details={'p50': percentiles[50], 'p99': percentiles[99]}))
            if self.slow_after is not None:
                checks.append(evaluate('http.slow_request_share', round(100.0 * slow / timed, 3),
                                       self.thresholds.get('slow_request_share'),
                                       label='share of requests slower than %s s' % format_value(self.slow_after),
                                       unit='%', details={'slow': slow, 'timed': timed}))
        checks.append(self._spike(window, baseline, merged, result))
        return result

    def _spike(self, window, baseline, merged, result):
        minutes = [m for m in merged if merged[m].rq]
        per_minute = dict((m, b.rq) for m, b in window.items())
        peak = max(per_minute.values()) if per_minute else 0
        result['peak_requests_per_minute'] = peak
        window_start = self.now_minute - self.window + 1
        first = min(minutes) if minutes else window_start
        baseline_minutes = window_start - max(first, self.now_minute - self.baseline_minutes + 1)
        if baseline_minutes < self.window:
            result['baseline_requests_per_minute'] = None
            return make_check('security.request_rate_spike', OK,
                              'peak %d requests/min; not judged: less than one previous window (%d min) of history yet'
                              % (peak, self.window), priority='low', unit='x', value=None)
        base_rate = sum(b.rq for b in baseline.values()) / float(baseline_minutes)
        result['baseline_requests_per_minute'] = round(base_rate, 3)
        if peak < self.spike_min_rate:
            return make_check('security.request_rate_spike', OK,
                              'peak %d requests/min is below spike_min_rate %s; not judged'
                              % (peak, format_value(self.spike_min_rate)), priority='low', unit='x', value=None)
        ratio = round(peak / max(base_rate, self.spike_min_rate / 10.0), 2)
        return evaluate('security.request_rate_spike', ratio, self.thresholds.get('request_rate_spike'),
                        label='peak request rate %d/min against the %.1f/min mean of the previous %d min'
                        % (peak, base_rate, baseline_minutes), unit='x',
                        details={'peak_per_minute': peak, 'baseline_per_minute': round(base_rate, 3)})


def _percentiles(hist, total, wanted):
    result = {}
    ordered = sorted(hist.items())
    for pct in wanted:
        rank = max(1, int(math.ceil(total * pct / 100.0)))
        seen = 0
        for index, count in ordered:
            seen += count
            if seen >= rank:
                result[pct] = round(bucket_value(index), 4)
                break
    return result


def _sliding_peak(counts, minutes, limit, first_end, last_end):
    """``(most, at)``: the most events of ``counts`` (``{minute: n}``) in any span of ``minutes`` minutes ending
    between ``first_end`` and ``last_end``, and the first end minute where they went over ``limit`` (None: never)."""
    total = sum(n for m, n in counts.items() if first_end - minutes < m <= first_end - 1)
    most = 0
    at = None
    for end in range(first_end, last_end + 1):
        total += counts.get(end, 0) - counts.get(end - minutes, 0)
        if total > most:
            most = total
        if at is None and total > limit:
            at = end
    return most, at


def _seconds_peak(events, limit, first_minute, span=60):
    """``(most, at)``: the most of ``events`` (``[(epoch second, n)]``) within any ``span`` seconds, and the minute of
    the first event that made them more than ``limit`` in a span ending at or after ``first_minute`` (None: never)."""
    events.sort()
    total = 0
    low = 0
    most = 0
    at = None
    for second, count in events:
        total += count
        while events[low][0] <= second - span:
            total -= events[low][1]
            low += 1
        if total > most:
            most = total
        if at is None and total > limit and second // 60 >= first_minute:
            at = second // 60
    return most, at


def _users_by_ip(seen, limit=None):
    """``{ip: {user: minute}}`` from ``{(ip, user): minute}``; with ``limit``, the latest ``limit`` users of each."""
    result = defaultdict(dict)
    for (ip, user), minute in seen.items():
        result[ip][user] = minute
    if limit is not None:
        for ip, users in result.items():
            if len(users) > limit:
                result[ip] = dict(sorted(users.items(), key=lambda item: (-item[1], item[0]))[:limit])
    return dict(result)
