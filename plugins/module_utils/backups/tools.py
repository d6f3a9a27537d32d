# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pgBackRest and restic repositories, read through their own JSON/text output.

- pgBackRest: ``pgbackrest --output=json info`` (stanza and repository status codes,
  newest backup stop time, backups flagged ``error``, WAL archive range) and, when asked,
  ``pgbackrest --output=text --verbose verify`` (per archive and backup: missing,
  checksum invalid, size invalid, other).
- restic: ``restic --no-lock snapshots --json`` (count, newest time) and ``restic check``
  (optionally ``--read-data-subset``), whose text must say ``no errors were found``.

The exit code alone is never trusted: a zero exit with an error in the output, or an
output that cannot be parsed, is a critical check with the reason.
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_from_epoch_exact
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.redact import redact_location
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import critical, evaluate, ok

_COUNTS = re.compile(r'missing: (\d+), checksum invalid: (\d+), size invalid: (\d+), other: (\d+)')


def _run(command, env=None, timeout=3600):
    """``(returncode, stdout, stderr)``; a missing binary or a timeout gives returncode None and the reason."""
    if not (os.path.isabs(command[0]) and os.access(command[0], os.X_OK)) and not shutil.which(command[0]):
        return None, '', '%s is not installed (not found on PATH)' % command[0]
    try:
        proc = subprocess.run(command, capture_output=True, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, '', '%s timed out after %d s' % (' '.join(command[:2]), timeout)
    except OSError as exc:
        return None, '', '%s could not be run: %s' % (command[0], exc)
    return proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')


def _short(text, limit=400):
    text = ' | '.join(line.strip() for line in (text or '').splitlines() if line.strip())
    return text[:limit] + ('...' if len(text) > limit else '')


# ------------------------------------------------------------------ pgBackRest
def pgbackrest_command(repo, *args):
    command = [repo.get('binary') or 'pgbackrest']
    if repo.get('config'):
        command.append('--config=%s' % repo['config'])
    command.append('--stanza=%s' % repo['stanza'])
    return command + list(args)


def parse_pgbackrest_info(data, stanza, thresholds, age_threshold, now):
    """Checks from the parsed ``pgbackrest info`` JSON (a list of stanzas)."""
    target = 'pgbackrest:%s' % stanza
    if not isinstance(data, list):
        return [critical('backup.pgbackrest.status', 'pgbackrest info JSON is not a list of stanzas', target=target)]
    entry = next((s for s in data if isinstance(s, dict) and s.get('name') == stanza), None)
    if entry is None:
        return [critical('backup.pgbackrest.status', 'stanza %s not in pgbackrest info' % stanza, target=target)]
    checks = []
    status = entry.get('status') or {}
    repos = [r for r in entry.get('repo') or [] if (r.get('status') or {}).get('code') not in (0, None)]
    locked = ((status.get('lock') or {}).get('backup') or {}).get('held')
    details = {'code': status.get('code'), 'message': status.get('message'), 'backup_running': bool(locked),
               'repos': entry.get('repo')}
    if status.get('code') != 0:
        checks.append(critical('backup.pgbackrest.status', 'stanza %s status %s: %s' % (
            stanza, status.get('code'), status.get('message')), target=target, value=status.get('code'),
            details=details))
    elif repos:
        checks.append(critical('backup.pgbackrest.status', 'repository %s' % '; '.join(
            'repo%s: %s' % (r.get('key'), (r.get('status') or {}).get('message')) for r in repos), target=target,
            value=len(repos), details=details))
    else:
        checks.append(ok('backup.pgbackrest.status', 'stanza %s status ok%s' % (
            stanza, ' (a backup is running)' if locked else ''), target=target, value=0, details=details))
    backups = [b for b in entry.get('backup') or [] if isinstance(b, dict)]
    if backups:
        newest = max(backups, key=lambda b: (b.get('timestamp') or {}).get('stop') or 0)
        stop = (newest.get('timestamp') or {}).get('stop')
        if stop:
            checks.append(evaluate('backup.pgbackrest.age', round((now - stop) / 3600.0, 3),
                                   (thresholds or {}).get(age_threshold),
                                   label='newest backup %s (%s) age' % (newest.get('label'), newest.get('type')),
                                   target=target, unit='h',
                                   details={'label': newest.get('label'), 'stop': iso_from_epoch_exact(stop),
                                            'size': (newest.get('info') or {}).get('size'), 'count': len(backups)}))
        broken = [b.get('label') for b in backups if b.get('error')]
        if broken:
            checks.append(critical('backup.pgbackrest.backup_errors', 'pgBackRest flagged %d backup(s) with errors'
                                   ' (page checksum or copy errors): %s' % (len(broken), ', '.join(broken)),
                                   target=target, value=len(broken)))
        else:
            checks.append(ok('backup.pgbackrest.backup_errors', 'no backup flagged with errors (%d backups)'
                             % len(backups), target=target, value=0))
    else:
        checks.append(critical('backup.pgbackrest.age', 'stanza %s has no backup' % stanza, target=target))
    archives = [a for a in entry.get('archive') or [] if a.get('min') and a.get('max')]
    if archives:
        current = archives[-1]
        checks.append(ok('backup.pgbackrest.archive', 'WAL archive %s: %s .. %s' % (
            current.get('id'), current.get('min'), current.get('max')), target=target,
            details={'archives': archives}))
    else:
        checks.append(critical('backup.pgbackrest.archive', 'no WAL archived for stanza %s: point-in-time recovery'
                               ' is impossible' % stanza, target=target))
    return checks


def parse_pgbackrest_verify(text, stanza):
    """A check from ``pgbackrest --output=text --verbose verify``."""
    target = 'pgbackrest:%s' % stanza
    status = None
    problems = []
    current = None
    checked = 0
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith('status:') and status is None:
            status = line.split(':', 1)[1].strip()
        elif line.startswith(('archiveId:', 'backup:')):
            current = line.split(',')[0]
            checked += 1
            if 'status:' in line and 'status: valid' not in line:
                problems.append(line)
        match = _COUNTS.search(line)
        if match and any(int(n) for n in match.groups()):
            problems.append('%s: %s' % (current, line))
    details = {'status': status, 'checked': checked, 'problems': problems}
    if status is None:
        return critical('backup.pgbackrest.verify', 'pgbackrest verify printed no status: %s' % _short(text), target=target)
    if status != 'ok' or problems:
        return critical('backup.pgbackrest.verify', 'pgbackrest verify status %s: %s' % (
            status, '; '.join(problems) or 'see details'), target=target, value=len(problems), details=details)
    return ok('backup.pgbackrest.verify', 'pgbackrest verify ok: %d archive(s)/backup(s), every file valid' % checked,
              target=target, value=0, details=details)


def check_pgbackrest(repo, thresholds, now=None):
    now = time.time() if now is None else now
    target = 'pgbackrest:%s' % repo['stanza']
    timeout = repo.get('timeout') or 3600
    code, out, err = _run(pgbackrest_command(repo, '--output=json', 'info'), timeout=timeout)
    if code is None:
        return [critical('backup.pgbackrest.status', err, target=target)]
    try:
        data = json.loads(out)
    except ValueError:
        return [critical('backup.pgbackrest.status', 'pgbackrest info (exit %s) gave no JSON: %s' % (
            code, _short(err or out)), target=target)]
    checks = parse_pgbackrest_info(data, repo['stanza'], thresholds, repo.get('age_threshold') or 'backup_age', now)
    if code != 0:
        checks.append(critical('backup.pgbackrest.status', 'pgbackrest info exited %d: %s' % (code, _short(err)),
                               target=target))
    if repo.get('verify'):
        code, out, err = _run(pgbackrest_command(repo, '--output=text', '--verbose', 'verify'), timeout=timeout)
        if code is None:
            checks.append(critical('backup.pgbackrest.verify', err, target=target))
        else:
            check = parse_pgbackrest_verify(out, repo['stanza'])
            if code != 0 and check['status'] == 'ok':
                check = critical('backup.pgbackrest.verify', 'pgbackrest verify exited %d: %s' % (code, _short(err)),
                                 target=target)
            checks.append(check)
    return checks


# ------------------------------------------------------------------ restic
def restic_env(repo):
    env = dict(os.environ)
    env.update(dict((k, str(v)) for k, v in (repo.get('env') or {}).items()))
    env['RESTIC_REPOSITORY'] = repo['repository']
    if repo.get('password_file'):
        env['RESTIC_PASSWORD_FILE'] = repo['password_file']
    if repo.get('password'):
        env['RESTIC_PASSWORD'] = repo['password']
    return env


def _restic_time(text):
    """restic's RFC 3339 time with nanoseconds -> epoch seconds."""
    match = re.match(r'^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$', text or '')
    if not match:
        return None
    base = datetime.datetime.strptime(match.group(1), '%Y-%m-%dT%H:%M:%S')
    zone = match.group(3)
    offset = 0 if zone == 'Z' else (int(zone[1:3]) * 60 + int(zone[4:6])) * (1 if zone[0] == '+' else -1)
    seconds = (base - datetime.datetime(1970, 1, 1)).total_seconds() - offset * 60
    return seconds + (float('0' + match.group(2)) if match.group(2) else 0.0)


def parse_restic_snapshots(data, name, thresholds, age_threshold, now, host=None, path=None):
    target = 'restic:%s' % name
    if not isinstance(data, list):
        return [critical('backup.restic.age', 'restic snapshots JSON is not a list', target=target)]
    snapshots = [s for s in data if isinstance(s, dict)
                 and (host is None or s.get('hostname') == host)
                 and (path is None or path in (s.get('paths') or []))]
    if not snapshots:
        return [critical('backup.restic.age', 'no snapshot%s in the repository' % (
            ' for %s' % ', '.join(x for x in (host, path) if x) if host or path else ''), target=target, value=0)]
    times = [(t, s) for t, s in ((_restic_time(s.get('time')), s) for s in snapshots) if t is not None]
    if not times:
        return [critical('backup.restic.age', 'no snapshot has a readable time', target=target)]
    newest_time, newest = max(times, key=lambda item: item[0])
    return [evaluate('backup.restic.age', round((now - newest_time) / 3600.0, 3), (thresholds or {}).get(age_threshold),
                     label='newest snapshot %s age' % newest.get('short_id'), target=target, unit='h',
                     details={'count': len(snapshots), 'newest': newest.get('time'), 'paths': newest.get('paths'),
                              'hostname': newest.get('hostname')})]


def parse_restic_check(code, out, err, name):
    target = 'restic:%s' % name
    text = '\n'.join([out, err])
    clean = 'no errors were found' in out
    errors = [line.strip() for line in text.splitlines()
              if line.strip() and (line.startswith(('Fatal', 'error', 'Pack ID does not match')) or 'error for' in line
                                   or 'invalid' in line.lower())]
    if code == 0 and clean and not errors:
        return ok('backup.restic.check', 'restic check: no errors were found', target=target, value=0)
    if code == 0 and not clean:
        return critical('backup.restic.check', 'restic check exited 0 but did not report "no errors were found": %s'
                        % _short(text), target=target)
    return critical('backup.restic.check', 'restic check failed (exit %s): %s' % (code, '; '.join(errors) or _short(err)),
                    target=target, value=len(errors), details={'errors': errors})


def check_restic(repo, thresholds, now=None):
    now = time.time() if now is None else now
    name = repo.get('name') or redact_location(repo['repository'])
    target = 'restic:%s' % name
    binary = repo.get('binary') or 'restic'
    env = restic_env(repo)
    timeout = repo.get('timeout') or 3600
    checks = []
    code, out, err = _run([binary, '--no-lock', 'snapshots', '--json'], env=env, timeout=timeout)
    if code is None:
        return [critical('backup.restic.age', err, target=target)]
    try:
        data = json.loads(out)
    except ValueError:
        checks.append(critical('backup.restic.age', 'restic snapshots (exit %s) gave no JSON: %s' % (
            code, _short(err or out)), target=target))
    else:
        checks += parse_restic_snapshots(data, name, thresholds, repo.get('age_threshold') or 'backup_age', now,
                                         host=repo.get('host'), path=repo.get('path'))
    if repo.get('check', True):
        command = [binary, 'check']
        if repo.get('read_data_subset'):
            command.append('--read-data-subset=%s' % repo['read_data_subset'])
        code, out, err = _run(command, env=env, timeout=timeout)
        if code is None:
            checks.append(critical('backup.restic.check', err, target=target))
        else:
            checks.append(parse_restic_check(code, out, err, name))
    return checks
