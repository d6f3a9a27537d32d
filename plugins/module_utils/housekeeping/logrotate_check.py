# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of an existing logrotate set-up (``logrotate_check``); logrotate itself does every rotation.

* ``logrotate -d`` (debug: reads, never rotates) validates the configuration and says, per log, whether
  logrotate considers it due;
* the state file gives the last rotation of each log;
* logs matched by the configuration (and any ``watch`` globs) are held against a size threshold; ``watch``
  logs that no configuration covers are reported as unmanaged;
* optionally ``logrotate [-f]`` runs for real with the same configuration and state file.

Plain Python: unit tests call it without Ansible.
"""

import datetime
import glob
import os
import re
import shutil
import subprocess

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_as_given, local_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    Report,
    critical,
    evaluate,
    make_check,
    ok,
    threshold_for,
    unknown,
)

ROTATE_CHOICES = ('never', 'due', 'force')
MB = 1024.0 * 1024.0
_CONFIG_ERROR = re.compile(r'^error: (?P<file>[^:\s]+):(?P<line>\d+) (?P<message>.*)$')
_STATE_LINE = re.compile(r'^"(?P<path>(?:[^"\\]|\\.)*)"\s+(?P<stamp>\S+)\s*$')


def find_logrotate(binary=None):
    if binary:
        return binary if os.path.exists(binary) else None
    return shutil.which('logrotate') or next((p for p in ('/usr/sbin/logrotate', '/sbin/logrotate')
                                              if os.path.exists(p)), None)


def parse_state(text):
    """``{path: datetime}`` from a logrotate state file (``"path" 2026-1-31-4:0:0``)."""
    entries = {}
    for line in text.splitlines():
        match = _STATE_LINE.match(line.strip())
        if not match:
            continue
        numbers = re.split(r'[-:]', match.group('stamp'))
        try:
            numbers = [int(n) for n in numbers] + [0] * (6 - len(numbers))
            stamp = datetime.datetime(*numbers[:6])
        except (ValueError, TypeError):
            continue
        entries[match.group('path').replace('\\"', '"')] = stamp
    return entries


def parse_debug(output):
    """What ``logrotate -d`` says: config errors, other errors, and per log whether it is due."""
    config_errors, other_errors, logs = [], [], {}
    current = None
    for raw in output.splitlines():
        line = raw.strip()
        if line.startswith('considering log '):
            current = line[len('considering log '):].strip()
            logs[current] = {'due': None, 'reason': None, 'missing': False}
            continue
        if line.startswith('error:'):
            match = _CONFIG_ERROR.match(line)
            if match or 'bad file mode' in line or 'Ignoring' in line or 'error reading' in line \
                    or 'failed to parse' in line.lower():
                config_errors.append(line[len('error:'):].strip())
            else:
                other_errors.append(line[len('error:'):].strip())
                if current and 'stat of' in line and 'No such file' in line:
                    logs[current]['missing'] = True
            continue
        if current is None:
            continue
        if line == 'log needs rotating':
            logs[current]['due'] = True
        elif line.startswith('log does not need rotating'):
            logs[current]['due'] = False
            logs[current]['reason'] = line[len('log does not need rotating'):].strip(' ()')
    return config_errors, other_errors, logs


def _run(command, timeout):
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                              check=False, universal_newlines=True)
    except subprocess.TimeoutExpired:
        return None, '%s timed out after %s s' % (command[0], timeout)
    except OSError as exc:
        return None, '%s: %s' % (command[0], exc)
    return proc.returncode, proc.stdout


def check_logrotate(config='/etc/logrotate.conf', state_file='/var/lib/logrotate/status', watch=(), rotate='never',
                    binary=None, check_mode=False, thresholds=None, timeout=120, now=None):
    """Run the checks (and a rotation when asked); returns a result dict with ``checks``."""
    if rotate not in ROTATE_CHOICES:
        raise MaintenanceError('rotate must be one of %s, not %r' % (', '.join(ROTATE_CHOICES), rotate))
    now = now or local_now()
    result = {'config': config, 'state_file': state_file, 'rotated': False, 'rotate_output': None, 'logs': [],
              'config_errors': [], 'errors': [], 'unmanaged': [], 'changed': False, 'checks': [], 'commands': []}
    checks = result['checks']
    executable = find_logrotate(binary)
    if executable is None:
        checks.append(unknown('logrotate.config', 'logrotate is not installed (package logrotate)', target=config))
        return result
    if not os.path.exists(config):
        checks.append(critical('logrotate.config', 'configuration %s does not exist' % config, target=config))
        return result
    if not os.path.isfile(config) and not os.path.isdir(config):  # a FIFO or a device would block logrotate
        checks.append(critical('logrotate.config', 'configuration %s is not a file or a directory' % config,
                               target=config))
        return result
    if os.path.exists(state_file) and not os.path.isfile(state_file):
        checks.append(unknown('logrotate.state', 'cannot read the state file: %s is not a regular file' % state_file,
                              target=state_file))
        return result
    if rotate != 'never':
        command = [executable] + (['-f'] if rotate == 'force' else []) + ['-s', state_file, config]
        result['commands'].append(' '.join(command))
        if check_mode:
            result['rotate_output'] = 'check mode: not run'
        else:
            code, output = _run(command, timeout)
            result['rotate_output'] = output
            if code == 0:
                result['rotated'] = result['changed'] = True
                checks.append(ok('logrotate.rotation', 'logrotate %s finished' % ('-f' if rotate == 'force' else ''),
                                 target=config))
            else:
                checks.append(critical('logrotate.rotation', 'logrotate exited %s: %s' % (
                    code, ' '.join((output or '').strip().splitlines()[-3:])), target=config))
    command = [executable, '-d', '-s', state_file, config]
    result['commands'].append(' '.join(command))
    code, output = _run(command, timeout)
    if code is None:
        checks.append(critical('logrotate.config', output, target=config))
        return result
    config_errors, other_errors, considered = parse_debug(output)
    result['config_errors'], result['errors'] = config_errors, other_errors
    if config_errors:
        checks.append(critical('logrotate.config', '%d configuration error(s): %s' % (
            len(config_errors), '; '.join(config_errors[:3])), target=config, value=len(config_errors),
            unit='errors'))
    else:
        checks.append(ok('logrotate.config', 'logrotate -d read the configuration without errors (%d log(s))'
                         % len(considered), target=config, value=0, unit='errors'))

    state = {}
    if os.path.exists(state_file):
        try:
            with open(state_file, 'rb') as handle:
                state = parse_state(handle.read().decode('utf-8'))
            checks.append(ok('logrotate.state', 'state file lists %d log(s)' % len(state), target=state_file,
                             value=len(state), unit='logs'))
        except (IOError, OSError) as exc:
            checks.append(unknown('logrotate.state', 'cannot read the state file: %s' % exc, target=state_file))
        except UnicodeDecodeError:
            checks.append(unknown('logrotate.state', 'cannot read the state file: it is not UTF-8 text',
                                  target=state_file))
    else:
        checks.append(unknown('logrotate.state', 'state file does not exist yet (logrotate has never run with it)',
                              target=state_file))

    watched = []
    for pattern in watch or ():
        watched.extend(sorted(glob.glob(pattern)))
    paths = list(considered)
    for path in watched:
        if path not in considered and path not in paths:
            paths.append(path)
            result['unmanaged'].append(path)
    overdue_days = 0.0
    overdue = []
    largest = None
    for path in paths:
        info = considered.get(path, {'due': None, 'reason': None, 'missing': False})
        entry = {'path': path, 'managed': path in considered, 'due': info['due'], 'missing': info['missing'],
                 'bytes': None, 'last_rotated': None, 'days_since_rotation': None}
        try:
            entry['bytes'] = os.stat(path).st_size
        except OSError:
            entry['missing'] = True
        last = state.get(path)
        if last is not None:
            entry['last_rotated'] = iso_as_given(last)
            entry['days_since_rotation'] = round((now - last).total_seconds() / 86400.0, 2)
        if entry['due'] and entry['bytes']:
            days = entry['days_since_rotation'] if entry['days_since_rotation'] is not None else float('inf')
            overdue.append(path)
            overdue_days = max(overdue_days, days)
        if entry['bytes'] is not None and (largest is None or entry['bytes'] > largest['bytes']):
            largest = entry
        result['logs'].append(entry)

    if overdue_days == float('inf'):
        overdue_days = None
        checks.append(make_check('logrotate.unrotated', 'warning', '%d due log(s) never rotated by this state file: %s'
                                 % (len(overdue), ', '.join(overdue[:5])), target=config, unit='days',
                                 priority='medium'))
    else:
        checks.append(evaluate('logrotate.unrotated', round(overdue_days, 2),
                               threshold_for(thresholds, 'log_rotation_age'),
                               label='longest time a due log has gone unrotated', target=config, unit='days',
                               details={'due_logs': overdue[:20]}))
    size_mb = round(largest['bytes'] / MB, 2) if largest else 0.0
    checks.append(evaluate('logrotate.log_size', size_mb, threshold_for(thresholds, 'log_file_size'),
                           label='largest log%s' % (' (%s)' % largest['path'] if largest else ''), target=config,
                           unit='MB'))
    missing = [e['path'] for e in result['logs'] if e['managed'] and e['missing'] and any(
        e['path'] in err for err in other_errors)]
    if result['unmanaged'] or missing:
        parts = []
        if result['unmanaged']:
            parts.append('%d watched log(s) not covered by any logrotate rule: %s'
                         % (len(result['unmanaged']), ', '.join(result['unmanaged'][:5])))
        if missing:
            parts.append('%d configured log(s) missing without missingok (logrotate will exit non-zero): %s'
                         % (len(missing), ', '.join(missing[:5])))
        checks.append(make_check('logrotate.coverage', 'warning', '; '.join(parts), target=config,
                                 value=len(result['unmanaged']) + len(missing), unit='logs', priority='medium'))
    else:
        checks.append(ok('logrotate.coverage', 'every watched log is covered by a rule', target=config, value=0,
                         unit='logs'))
    return result


def run(params, check_mode=False, host=None):
    """The logrotate_check module's entry (``result.Report``)."""
    p = params
    return Report.from_result(check_logrotate(p['config'], p['state_file'], p['watch'], p['rotate'], p['binary'],
                                              check_mode, p['thresholds'], p['timeout']))
