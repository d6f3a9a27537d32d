# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host resource checks (``resource_check``): Linux only, from /proc and statvfs.

CPU utilisation and network throughput are rates, so they are sampled: the
counters of ``/proc/stat`` and ``/proc/net/dev`` are read, the function
sleeps ``interval`` seconds once, and reads them again. Load comes from
``/proc/loadavg`` divided by the online CPUs, memory and swap from
``/proc/meminfo`` (``MemAvailable``, as ``free`` shows it), disk space and
inodes from ``os.statvfs`` of every real mount in ``/proc/self/mounts``
(pseudo filesystems and bind mounts of an already listed device excluded).
The parsers take text so unit tests can feed them edge cases; ``run_resource_checks``
reads the real files.
"""

import fnmatch
import os
import platform
import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    Report,
    evaluate,
    format_value,
    ok,
    threshold_for,
    unknown,
)

PIECES = ('cpu', 'load', 'memory', 'swap', 'disk', 'inodes', 'network')

THRESHOLDS = {
    'cpu': 'cpu_utilisation',
    'load': 'load_per_core',
    'memory': 'memory_used',
    'swap': 'swap_used',
    'disk': 'disk_used',
    'inodes': 'inodes_used',
    'network_throughput': 'network_throughput',
    'network_errors': 'network_errors',
}

# Filesystems without storage of their own (kernel interfaces, memory-backed, container plumbing).
PSEUDO_FSTYPES = (
    'autofs', 'binfmt_misc', 'bpf', 'cgroup', 'cgroup2', 'configfs', 'debugfs', 'devpts', 'devtmpfs', 'efivarfs',
    'fuse.lxcfs', 'fuse.portal', 'fusectl', 'hugetlbfs', 'mqueue', 'nsfs', 'proc', 'pstore', 'ramfs', 'rpc_pipefs',
    'securityfs', 'selinuxfs', 'squashfs', 'sysfs', 'tmpfs', 'tracefs', 'nfsd', 'rootfs',
)

DEFAULT_OPTIONS = {
    'interval': 1.0,
    'load_average': 5,
    'mounts': [],
    'exclude_mounts': [],
    'exclude_fstypes': list(PSEUDO_FSTYPES),
    'interfaces': [],
    'exclude_interfaces': ['lo'],
    'proc': '/proc',
}


# ------------------------------------------------------------------ parsers (text in, numbers out)
def parse_cpu_times(stat_text):
    """The aggregate ``cpu`` line of /proc/stat as a dict of jiffies."""
    fields = ('user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guest_nice')
    for line in stat_text.splitlines():
        parts = line.split()
        if parts and parts[0] == 'cpu':
            values = [int(v) for v in parts[1:]]
            return dict(zip(fields, values + [0] * (len(fields) - len(values))))
    raise MaintenanceError('no aggregate cpu line in /proc/stat')


def cpu_utilisation(before, after):
    """Busy percentage between two ``parse_cpu_times`` samples, with the share of each state.

    guest time is already counted in user time, so it is left out of the total.
    """
    states = ('user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal')
    delta = dict((s, max(after[s] - before[s], 0)) for s in states)
    total = sum(delta.values())
    if total <= 0:
        return None, {}
    idle = delta['idle'] + delta['iowait']
    shares = dict((s, round(100.0 * delta[s] / total, 2)) for s in states)
    return round(100.0 * (total - idle) / total, 2), shares


def parse_loadavg(text):
    parts = text.split()
    return float(parts[0]), float(parts[1]), float(parts[2])


def parse_meminfo(text):
    """/proc/meminfo as a dict of bytes."""
    result = {}
    for line in text.splitlines():
        if ':' not in line:
            continue
        key, rest = line.split(':', 1)
        parts = rest.split()
        if not parts:
            continue
        value = int(parts[0])
        if len(parts) > 1 and parts[1].lower() == 'kb':
            value *= 1024
        result[key.strip()] = value
    return result


def _unescape_mount(text):
    """/proc/mounts escapes space, tab, newline and backslash as octal."""
    for code, char in (('\\040', ' '), ('\\011', '\t'), ('\\012', '\n'), ('\\134', '\\')):
        text = text.replace(code, char)
    return text


def parse_mounts(text):
    """/proc/self/mounts as a list of dicts (device, mount, fstype, options)."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        mounts.append({'device': _unescape_mount(parts[0]), 'mount': _unescape_mount(parts[1]), 'fstype': parts[2],
                       'options': parts[3].split(',')})
    return mounts


def parse_net_dev(text):
    """/proc/net/dev as {interface: {rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes, tx_packets, tx_errs, tx_drop}}."""
    result = {}
    for line in text.splitlines():
        if ':' not in line:
            continue
        name, rest = line.split(':', 1)
        values = rest.split()
        if len(values) < 16 or not values[0].isdigit():
            continue
        values = [int(v) for v in values]
        result[name.strip()] = {
            'rx_bytes': values[0], 'rx_packets': values[1], 'rx_errs': values[2], 'rx_drop': values[3],
            'tx_bytes': values[8], 'tx_packets': values[9], 'tx_errs': values[10], 'tx_drop': values[11],
        }
    return result


# ------------------------------------------------------------------ reading
def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise MaintenanceError('Error while reading %s: %s' % (path, exc))


def _link_speed(proc, interface):
    """Link speed in Mbit/s from /sys/class/net (None when the driver does not say)."""
    path = os.path.join(os.path.dirname(proc.rstrip('/')) or '/', 'sys', 'class', 'net', interface, 'speed')
    try:
        with open(path) as handle:
            speed = int(handle.read().strip())
    except (IOError, OSError, ValueError):
        return None
    return speed if speed > 0 else None


def _selected(name, include, exclude):
    if include and not any(fnmatch.fnmatchcase(name, pattern) for pattern in include):
        return False
    return not any(fnmatch.fnmatchcase(name, pattern) for pattern in exclude)


def real_mounts(mounts, options):
    """Mounts with storage of their own, one per device (bind mounts of a listed device dropped)."""
    chosen = []
    seen = set()
    for entry in sorted(mounts, key=lambda m: (len(m['mount']), m['mount'])):
        if entry['fstype'] in options['exclude_fstypes'] and not options['mounts']:
            continue
        if not _selected(entry['mount'], options['mounts'], options['exclude_mounts']):
            continue
        try:
            stat = os.statvfs(entry['mount'])
            dev = os.stat(entry['mount']).st_dev
        except (IOError, OSError) as exc:
            entry = dict(entry, error=str(exc))
            chosen.append((entry, None))
            continue
        if stat.f_blocks == 0:
            continue
        if dev in seen:
            continue
        seen.add(dev)
        chosen.append((entry, stat))
    return sorted(chosen, key=lambda pair: pair[0]['mount'])


# ------------------------------------------------------------------ checks
def _spec(thresholds, key):
    return threshold_for(thresholds, THRESHOLDS[key])


def _gib(value):
    return round(value / 1024.0 ** 3, 2)


def check_cpu(before, after, interval, thresholds):
    value, shares = cpu_utilisation(before, after)
    check = evaluate('resource.cpu_utilisation', value, _spec(thresholds, 'cpu'), label='CPU utilisation', unit='%',
                     details=dict(shares, interval_seconds=interval, cpus=os.cpu_count()))
    if value is not None:
        check['reason'] += ' over %s (iowait %s %%, steal %s %%)' % (
            format_value(interval, 's'), shares['iowait'], shares['steal'])
    return check


def check_load(loadavg, cpus, which, thresholds):
    index = {1: 0, 5: 1, 15: 2}[which]
    per_core = round(loadavg[index] / cpus, 2)
    check = evaluate('resource.load_per_core', per_core, _spec(thresholds, 'load'),
                     label='%d-minute load per core' % which,
                     details={'load1': loadavg[0], 'load5': loadavg[1], 'load15': loadavg[2], 'cpus': cpus})
    check['reason'] += ' (load %s on %d CPUs)' % (loadavg[index], cpus)
    return check


def check_memory(meminfo, thresholds):
    total = meminfo.get('MemTotal')
    available = meminfo.get('MemAvailable')
    if available is None and total is not None:  # kernels before 3.14
        available = meminfo.get('MemFree', 0) + meminfo.get('Buffers', 0) + meminfo.get('Cached', 0)
    if not total:
        return unknown('resource.memory_used', 'MemTotal missing from /proc/meminfo')
    used = round(100.0 * (total - available) / total, 2)
    check = evaluate('resource.memory_used', used, _spec(thresholds, 'memory'), label='memory used', unit='%',
                     details={'total_bytes': total, 'available_bytes': available, 'used_bytes': total - available})
    check['reason'] += ' (%s GiB of %s GiB available)' % (_gib(available), _gib(total))
    return check


def check_swap(meminfo, thresholds):
    total = meminfo.get('SwapTotal', 0)
    free = meminfo.get('SwapFree', 0)
    if not total:
        return ok('resource.swap_used', 'no swap configured', value=0, unit='%', details={'total_bytes': 0})
    used = round(100.0 * (total - free) / total, 2)
    check = evaluate('resource.swap_used', used, _spec(thresholds, 'swap'), label='swap used', unit='%',
                     details={'total_bytes': total, 'free_bytes': free, 'used_bytes': total - free})
    check['reason'] += ' (%s GiB of %s GiB)' % (_gib(total - free), _gib(total))
    return check


def check_mount(entry, stat, thresholds, pieces):
    """``resource.disk_used`` and ``resource.inodes_used`` of one mount (df's arithmetic)."""
    checks = []
    mount = entry['mount']
    if stat is None:
        for piece, name in (('disk', 'resource.disk_used'), ('inodes', 'resource.inodes_used')):
            if piece in pieces:
                checks.append(unknown(name, 'cannot stat %s: %s' % (mount, entry.get('error')), target=mount))
        return checks
    base = {'device': entry['device'], 'fstype': entry['fstype'], 'read_only': 'ro' in entry['options']}
    if 'disk' in pieces:
        used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
        avail = stat.f_bavail * stat.f_frsize
        percent = round(100.0 * used / (used + avail), 2) if used + avail else 0.0
        details = dict(base, size_bytes=stat.f_blocks * stat.f_frsize, used_bytes=used, available_bytes=avail)
        check = evaluate('resource.disk_used', percent, _spec(thresholds, 'disk'), label='disk used', unit='%',
                         target=mount, details=details)
        check['reason'] += ' on %s (%s GiB free of %s GiB)' % (mount, _gib(avail), _gib(stat.f_blocks * stat.f_frsize))
        checks.append(check)
    if 'inodes' in pieces:
        if not stat.f_files:
            checks.append(ok('resource.inodes_used', '%s (%s) has no fixed inode table' % (mount, entry['fstype']),
                             target=mount, details=base))
        else:
            used = stat.f_files - stat.f_ffree
            percent = round(100.0 * used / stat.f_files, 2)
            check = evaluate('resource.inodes_used', percent, _spec(thresholds, 'inodes'), label='inodes used', unit='%',
                             target=mount, details=dict(base, inodes=stat.f_files, inodes_free=stat.f_ffree))
            check['reason'] += ' on %s (%d of %d)' % (mount, used, stat.f_files)
            checks.append(check)
    return checks


def check_interfaces(before, after, interval, thresholds, options):
    checks = []
    for name in sorted(after):
        if name not in before or not _selected(name, options['interfaces'], options['exclude_interfaces']):
            continue
        a, b = before[name], after[name]
        delta = dict((key, max(b[key] - a[key], 0)) for key in b)  # counters reset on driver reload
        rx_mbit = round(delta['rx_bytes'] * 8 / interval / 1e6, 3)
        tx_mbit = round(delta['tx_bytes'] * 8 / interval / 1e6, 3)
        speed = _link_speed(options['proc'], name)
        details = {'rx_mbit_per_s': rx_mbit, 'tx_mbit_per_s': tx_mbit, 'link_speed_mbit': speed,
                   'rx_errors_total': b['rx_errs'], 'tx_errors_total': b['tx_errs'],
                   'rx_drops_per_s': round(delta['rx_drop'] / interval, 3),
                   'tx_drops_per_s': round(delta['tx_drop'] / interval, 3),
                   'interval_seconds': interval}
        if speed:
            details['utilisation_percent'] = round(100.0 * max(rx_mbit, tx_mbit) / speed, 2)
        busiest = max(rx_mbit, tx_mbit)
        check = evaluate('resource.network_throughput', busiest, _spec(thresholds, 'network_throughput'),
                         label='throughput', unit='Mbit/s', target=name, details=details)
        check['reason'] += ' on %s (rx %s, tx %s%s)' % (
            name, format_value(rx_mbit, 'Mbit/s'), format_value(tx_mbit, 'Mbit/s'),
            ', link %d Mbit/s' % speed if speed else '')
        checks.append(check)
        errors = round((delta['rx_errs'] + delta['tx_errs']) / interval, 3)
        check = evaluate('resource.network_errors', errors, _spec(thresholds, 'network_errors'),
                         label='interface errors', unit='/s', target=name,
                         details={'rx_errors': delta['rx_errs'], 'tx_errors': delta['tx_errs'],
                                  'rx_drops': delta['rx_drop'], 'tx_drops': delta['tx_drop'], 'interval_seconds': interval})
        check['reason'] += ' on %s' % name
        checks.append(check)
    return checks


def _validate(pieces, options):
    bad = [p for p in pieces if p not in PIECES]
    if bad:
        raise MaintenanceError('unknown resource_check piece(s) %s; choose from %s' % (', '.join(bad), ', '.join(PIECES)))
    interval = options['interval']
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0.05 <= interval <= 60:
        raise MaintenanceError('resource_check interval must be between 0.05 and 60 seconds, not %r' % (interval,))
    if options['load_average'] not in (1, 5, 15):
        raise MaintenanceError('resource_check load_average must be 1, 5 or 15, not %r' % (options['load_average'],))


def run_resource_checks(pieces=None, thresholds=None, options=None):
    """Measure the selected pieces on this host; return ``(checks, host)``."""
    pieces = list(pieces or PIECES)
    opts = dict(DEFAULT_OPTIONS)
    opts.update((k, v) for k, v in (options or {}).items() if v is not None)
    _validate(pieces, opts)
    thresholds = thresholds or {}
    proc = opts['proc']
    if platform.system() != 'Linux' or not os.path.exists(os.path.join(proc, 'stat')):
        raise MaintenanceError('resource_check supports Linux only: it reads %s/stat, meminfo, loadavg and net/dev '
                               '(this host runs %s)' % (proc, platform.system()))
    cpus = os.cpu_count() or 1
    host = {'cpus': cpus, 'kernel': platform.release()}
    checks = []
    sampled = 'cpu' in pieces or 'network' in pieces
    cpu_before = parse_cpu_times(_read(os.path.join(proc, 'stat'))) if 'cpu' in pieces else None
    net_before = parse_net_dev(_read(os.path.join(proc, 'net', 'dev'))) if 'network' in pieces else None
    started = time.monotonic()
    # the instantaneous pieces are read while the rates are sampled
    if 'load' in pieces:
        checks.append(check_load(parse_loadavg(_read(os.path.join(proc, 'loadavg'))), cpus, opts['load_average'],
                                 thresholds))
    if 'memory' in pieces or 'swap' in pieces:
        meminfo = parse_meminfo(_read(os.path.join(proc, 'meminfo')))
        if 'memory' in pieces:
            checks.append(check_memory(meminfo, thresholds))
        if 'swap' in pieces:
            checks.append(check_swap(meminfo, thresholds))
    if 'disk' in pieces or 'inodes' in pieces:
        mounts = real_mounts(parse_mounts(_read(os.path.join(proc, 'self', 'mounts'))), opts)
        host['mounts'] = [entry['mount'] for entry, _stat in mounts]
        if not mounts:
            for piece, name in (('disk', 'resource.disk_used'), ('inodes', 'resource.inodes_used')):
                if piece in pieces:
                    checks.append(unknown(name, 'no mount matched (mounts %s, exclude_mounts %s)'
                                          % (opts['mounts'] or 'all', opts['exclude_mounts'] or 'none')))
        for entry, stat in mounts:
            checks.extend(check_mount(entry, stat, thresholds, pieces))
    if sampled:
        remaining = opts['interval'] - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
        elapsed = time.monotonic() - started
        if 'cpu' in pieces:
            checks.insert(0, check_cpu(cpu_before, parse_cpu_times(_read(os.path.join(proc, 'stat'))), round(elapsed, 3),
                                       thresholds))
        if 'network' in pieces:
            net_after = parse_net_dev(_read(os.path.join(proc, 'net', 'dev')))
            host['interfaces'] = sorted(n for n in net_after if _selected(n, opts['interfaces'], opts['exclude_interfaces']))
            network = check_interfaces(net_before, net_after, elapsed, thresholds, opts)
            if not network:
                network = [unknown('resource.network_throughput', 'no interface matched (interfaces %s, exclude_interfaces %s)'
                                   % (opts['interfaces'] or 'all', opts['exclude_interfaces'] or 'none'))]
            checks.extend(network)
    host['interval_seconds'] = opts['interval'] if sampled else None
    return checks, host


def run(params, check_mode=False, host=None):
    """The resource_check module's entry (``result.Report``): the selected pieces on this host."""
    names = ('interval', 'load_average', 'mounts', 'exclude_mounts', 'exclude_fstypes', 'interfaces', 'exclude_interfaces')
    options = dict((key, params[key]) for key in names)
    checks, host_facts = run_resource_checks(params['checks'], params['thresholds'], options)
    return Report(checks, data=dict(host=host_facts))
