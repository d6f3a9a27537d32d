# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Configuration drift against an approved baseline (``config_drift`` module), with documented acceptances.

Items, each keyed ``<kind>:<name>`` in the baseline:

* ``file:<path>``: SHA-256 of the file, its content with secret-looking values redacted (for the unified diff),
  and a parsed view for ``sshd_config`` (first value of each keyword wins, as in sshd; ``Match`` blocks
  prefixed), nginx (directives flattened by block path) and sysctl (last value wins, ``/`` read as ``.``).
* ``pg:<setting>``: ``pg_settings`` (setting, source; ``pending_restart`` is reported on every run).
* ``package:<name>``: installed version from the dpkg status file under ``root``.
* ``service:<unit>``: enabled (the ``*.wants`` directories holding it) or masked, from ``/etc/systemd/system``.

``state: present`` reports every difference from the baseline (created on the first run);
``state: accepted`` (with ``accepted_by`` and ``reason``) takes the current value of the drifted items into the
baseline and records who accepted which change and why, in the baseline's ``history`` and as the
``drift.accepted`` check (the outcome callback keeps it). The baseline is the only thing written: locked from
read to write, atomically, never in check mode. Plain Python: unit tests call ``drift()`` without Ansible.
"""

import difflib
import glob
import hashlib
import os
import re

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_utc, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.redact import REDACTED, secret_name
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    OK,
    Report,
    UNKNOWN,
    WARNING,
    make_check,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.security_scan import _under, category_check, finding
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.state_store import open_state

CATEGORIES = ('files', 'postgres', 'packages', 'services')
DEFAULT_CATEGORIES = ('files', 'packages', 'services')
PARSERS = ('auto', 'sshd', 'nginx', 'sysctl', 'none')
DEFAULT_BASELINE = '/var/lib/autopilotcx/config-baseline.json'
PG_VOLATILE_SOURCES = ('client', 'session')
PG_VOLATILE = ('application_name', 'transaction_isolation', 'transaction_read_only', 'transaction_deferrable',
               'is_superuser', 'session_authorization')
MAX_HISTORY = 200
MAX_DIFF_LINES = 200


# ------------------------------------------------------------------ parsers

_SECRET_LINE = re.compile(r'^(\s*)([A-Za-z0-9_.\-/]+)(\s*[=:]\s*|\s+)(\S.*?)(\s*;?\s*)$')


_PLAIN_VALUE = re.compile(r'^(yes|no|true|false|on|off|none)$', re.I)
NO_SECRETS = ('sshd', 'sysctl')  # formats that hold no secret (PasswordAuthentication is a switch, not a password)


def redact_content(text, parser='none'):
    """Each ``key value`` / ``key = value`` / ``key: value`` line whose key looks secret, with the value hidden
    (unless the value is a yes/no switch); files of ``NO_SECRETS`` formats are kept as they are."""
    if parser in NO_SECRETS:
        return text
    lines = []
    for line in text.splitlines():
        match = _SECRET_LINE.match(line)
        if match and not line.lstrip().startswith('#') and secret_name(match.group(2)) and \
                not _PLAIN_VALUE.match(match.group(4).strip().strip('"\'')):
            line = match.group(1) + match.group(2) + match.group(3) + REDACTED + match.group(5)
        lines.append(line)
    return '\n'.join(lines) + ('\n' if text.endswith('\n') else '')


def _strip_comment(line):
    return line.split('#', 1)[0].strip()


def parse_sshd(text):
    settings = {}
    block = ''
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line:
            continue
        parts = line.replace('=', ' ', 1).split(None, 1) if '=' in line.split(None, 1)[0] else line.split(None, 1)
        key = parts[0].lower()
        value = parts[1].strip() if len(parts) > 1 else ''
        if key == 'match':
            block = 'match %s/' % ' '.join(value.split())
            continue
        name = block + key
        if name not in settings:  # sshd: the first obtained value is used
            settings[name] = value
    return settings


def parse_sysctl(text):
    settings = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in '#;' or '=' not in line:
            continue
        key, value = line.split('=', 1)
        settings[key.strip().lstrip('-').replace('/', '.')] = ' '.join(value.split())
    return settings


def parse_nginx(text):
    """Directives flattened to ``block > block > name`` -> arguments (repeated directives joined with `` | ``)."""
    settings = {}
    stack = []
    token = ''
    quoted = None
    cleaned = []
    for raw in text.splitlines():
        cleaned.append(re.sub(r'(^|\s)#.*$', '', raw))
    for char in '\n'.join(cleaned):
        if quoted:
            token += char
            if char == quoted:
                quoted = None
            continue
        if char in '"\'':
            quoted = char
            token += char
        elif char == '{':
            stack.append(' '.join(token.split()))
            token = ''
        elif char == '}':
            if stack:
                stack.pop()
            token = ''
        elif char == ';':
            words = token.split(None, 1)
            if words:
                key = ' > '.join(stack + [words[0]])
                value = ' '.join(words[1].split()) if len(words) > 1 else ''
                settings[key] = settings[key] + ' | ' + value if key in settings else value
            token = ''
        else:
            token += char
    return settings


def parser_for(path, parser):
    if parser and parser != 'auto':
        return parser
    base = os.path.basename(path)
    if base == 'sshd_config' or '/sshd_config.d/' in path:
        return 'sshd'
    if '/nginx/' in path or base == 'nginx.conf':
        return 'nginx'
    if base == 'sysctl.conf' or '/sysctl.d/' in path:
        return 'sysctl'
    return 'none'


PARSE = {'sshd': parse_sshd, 'nginx': parse_nginx, 'sysctl': parse_sysctl}


# ------------------------------------------------------------------ current state

def _file_entries(params):
    entries = []
    for entry in params.get('files') or []:
        if isinstance(entry, dict):
            path, parser = entry.get('path'), entry.get('parser') or 'auto'
        else:
            path, parser = entry, 'auto'
        if not isinstance(path, str) or not path.startswith('/'):
            raise MaintenanceError('files: each entry must be an absolute path (or a mapping with path and parser), not %r' % (path,))
        if parser not in PARSERS:
            raise MaintenanceError('files: parser of %s must be one of %s, not %r' % (path, ', '.join(PARSERS), parser))
        entries.append((path, parser))
    return entries


def read_files(params):
    """(items, errors): ``file:<path>`` -> dict(value=sha256, content, parsed, parser)."""
    root = params.get('root') or '/'
    limit = int(params.get('max_file_bytes') or 262144)
    items, errors = {}, []
    for pattern, parser in _file_entries(params):
        if any(c in pattern for c in '*?['):
            matched = sorted(glob.glob(_under(root, pattern)))
            paths = ['/' + os.path.relpath(p, root).lstrip('/') if root != '/' else p for p in matched]
        else:
            paths = [pattern]
        for path in paths:
            real = _under(root, path)
            if not os.path.exists(real) and not os.path.islink(real):
                continue  # an absent file is an item that is not there (a removal when the baseline had it)
            try:
                with open(real, 'rb') as handle:
                    data = handle.read(limit + 1)
            except (IOError, OSError) as exc:
                errors.append(finding(UNKNOWN, 'files', path, 'cannot read %s: %s' % (real, exc.strerror or exc)))
                continue
            digest = hashlib.sha256()
            digest.update(data)
            if len(data) > limit:
                with open(real, 'rb') as handle:
                    handle.seek(len(data))
                    for chunk in iter(lambda: handle.read(1 << 20), b''):
                        digest.update(chunk)
            item = {'value': digest.hexdigest(), 'parser': parser_for(path, parser)}
            if len(data) <= limit:
                text = data.decode('utf-8', 'replace')
                item['content'] = redact_content(text, item['parser'])
                if item['parser'] in PARSE:
                    item['parsed'] = PARSE[item['parser']](redact_content(text, item['parser']))
            items['file:' + path] = item
    return items, errors


def read_packages(root):
    path = _under(root, '/var/lib/dpkg/status')
    items = {}
    with open(path) as handle:
        text = handle.read()
    for stanza in text.split('\n\n'):
        fields = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ':' in line:
                key, value = line.split(':', 1)
                fields[key] = value.strip()
        if fields.get('Package') and fields.get('Status', '').endswith(' installed'):
            name = fields['Package'] + (':' + fields['Architecture'] if fields.get('Multi-Arch') == 'same' else '')
            items['package:' + name] = {'value': fields.get('Version', '')}
    return items, path


def read_services(root):
    base = _under(root, '/etc/systemd/system')
    found = {}
    if not os.path.isdir(base):
        raise IOError(2, 'No such directory', base)
    for entry in sorted(os.listdir(base)):
        path = os.path.join(base, entry)
        if entry.endswith('.wants') or entry.endswith('.requires'):
            if os.path.isdir(path) and not os.path.islink(path):
                for unit in sorted(os.listdir(path)):
                    found.setdefault(unit, []).append(entry)
        elif os.path.islink(path) and os.readlink(path) == '/dev/null':
            found.setdefault(entry, []).append('masked')
    return dict(('service:' + unit, {'value': ', '.join(sorted(where))}) for unit, where in found.items()), base


PG_SQL = 'SELECT name, setting, unit, source, pending_restart FROM pg_settings ORDER BY name'


def read_pg_settings(params):
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import connect, describe
    connection = connect(params)
    if not connection.ok:
        return None, [], 'cannot connect to %s: %s' % (describe(params), connection.error)
    items, pending = {}, []
    with connection:
        with connection.conn.cursor() as cur:
            cur.execute(PG_SQL)
            for name, setting, unit, source, restart in cur.fetchall():
                if restart:
                    pending.append(name)
                if source in PG_VOLATILE_SOURCES or name in PG_VOLATILE:
                    continue
                value = '%s%s' % (setting if setting is not None else '', unit or '')
                if secret_name(name):
                    value = REDACTED
                items['pg:' + name] = {'value': value, 'source': source}
    return items, pending, None


# ------------------------------------------------------------------ comparing

def _summary(key, old, new):
    kind, name = key.split(':', 1)
    if old is None:
        return '%s %s added (%s)' % (kind, name, (new.get('value') or '')[:80] if kind != 'file' else 'new file')
    if new is None:
        return '%s %s removed (was %s)' % (kind, name, (old.get('value') or '')[:80] if kind != 'file' else 'in the baseline')
    if kind != 'file':
        return '%s %s changed: %s -> %s' % (kind, name, old.get('value'), new.get('value'))
    before, after = old.get('parsed') or {}, new.get('parsed') or {}
    settings = ['%s %s -> %s' % (k, before.get(k, '(unset)'), after.get(k, '(unset)'))
                for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    if settings:
        return 'file %s changed: %s' % (name, '; '.join(settings[:10]) + (' ...' if len(settings) > 10 else ''))
    if old.get('content') is not None and old.get('content') == new.get('content'):
        return 'file %s changed (only redacted secret values differ)' % name
    return 'file %s changed (sha256 %s -> %s)' % (name, old['value'][:12], new['value'][:12])


def unified_diff(key, old, new):
    path = key.split(':', 1)[1]
    before = (old or {}).get('content')
    after = (new or {}).get('content')
    if (old and before is None) or (new and after is None):
        return None  # too large to keep: only the hash is compared
    lines = list(difflib.unified_diff((before or '').splitlines(True), (after or '').splitlines(True),
                                      'baseline' + path, 'current' + path))
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + ['... (%d more lines)\n' % (len(lines) - MAX_DIFF_LINES)]
    return ''.join(lines)


def compare(baseline_items, current_items, prefix):
    """Drift of the items whose key starts with ``prefix``: list of dicts (key, change, before, after, summary, diff)."""
    keys = sorted(k for k in set(baseline_items) | set(current_items) if k.startswith(prefix))
    result = []
    for key in keys:
        old, new = baseline_items.get(key), current_items.get(key)
        if old is not None and new is not None and old.get('value') == new.get('value'):
            continue
        entry = {'key': key, 'change': 'added' if old is None else ('removed' if new is None else 'changed'),
                 'before': (old or {}).get('value'), 'after': (new or {}).get('value'), 'summary': _summary(key, old, new)}
        if prefix == 'file:':
            entry['diff'] = unified_diff(key, old, new)
        result.append(entry)
    return result


CHECK_NAMES = {'files': 'drift.files', 'postgres': 'drift.postgres', 'packages': 'drift.packages', 'services': 'drift.services'}
PREFIXES = {'files': 'file:', 'postgres': 'pg:', 'packages': 'package:', 'services': 'service:'}


def _category_check(category, drifts, extra_findings, count, since, target):
    findings = [finding(WARNING, category, d['key'].split(':', 1)[1], '%s since the approved baseline of %s' % (d['summary'], since),
                        change=d['change']) for d in drifts] + extra_findings
    check = category_check(CHECK_NAMES[category], findings, '%d item(s) as in the approved baseline of %s' % (count, since),
                           target=target, details={'drift': drifts})
    return check


# ------------------------------------------------------------------ the module's work

def _current(params, enabled):
    """category -> (items or None when unreadable, extra findings, target, error)."""
    root = params.get('root') or '/'
    result = {}
    if 'files' in enabled:
        items, errors = read_files(params)
        result['files'] = (items, errors, root, None)
    if 'packages' in enabled:
        try:
            items, path = read_packages(root)
            result['packages'] = (items, [], path, None)
        except (IOError, OSError) as exc:
            result['packages'] = (None, [], _under(root, '/var/lib/dpkg/status'), 'cannot read the dpkg status %s: %s'
                                  % (_under(root, '/var/lib/dpkg/status'), exc.strerror or exc))
    if 'services' in enabled:
        try:
            items, path = read_services(root)
            result['services'] = (items, [], path, None)
        except (IOError, OSError) as exc:
            result['services'] = (None, [], _under(root, '/etc/systemd/system'), 'cannot read %s: %s'
                                  % (_under(root, '/etc/systemd/system'), exc.strerror or exc))
    if 'postgres' in enabled:
        from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import describe
        items, pending, error = read_pg_settings(params)
        extra = [finding(WARNING, 'postgres', name, 'setting %s was changed and waits for a restart (pending_restart)' % name)
                 for name in pending]
        result['postgres'] = (items, extra, describe(params), error)
    return result


def drift(params, check_mode=False, now=None):
    """Compare (``state: present``) or accept (``state: accepted``); returns ``(checks, extra, changed)``."""
    now = now or utc_now()
    state = params.get('state') or 'present'
    root = params.get('root') or '/'
    if not os.path.isdir(root):
        raise MaintenanceError('root %s is not a directory' % root)
    if state == 'accepted':
        for option in ('accepted_by', 'reason'):
            if not (params.get(option) or '').strip():
                raise MaintenanceError('%s is required with state=accepted: say who accepts the change and why' % option)
    path = params.get('baseline_file')
    if not path:
        raise MaintenanceError('baseline_file must name the baseline file')
    enabled = list(params.get('categories') or DEFAULT_CATEGORIES)
    current = _current(params, enabled)
    with open_state('configuration baseline', os.path.expanduser(path), write=not check_mode) as store:
        baseline = store.data if isinstance(store.data, dict) and isinstance(store.data.get('items'), dict) else None
        if store.data is not None and baseline is None:
            raise MaintenanceError('The configuration baseline %s is not a baseline (no items); move it away to record a new one' % path)
        new = dict(baseline or {'version': 1, 'created_at': iso_utc(now), 'items': {}, 'categories': [], 'history': []})
        new['items'] = dict(new['items'])
        new['categories'] = list(new.get('categories') or [])
        new['history'] = list(new.get('history') or [])
        since = new.get('approved_at') or new.get('created_at')
        checks, drifts, recorded = [], {}, []
        for category in enabled:
            items, extra, target, error = current[category]
            prefix = PREFIXES[category]
            if items is None:
                checks.append(make_check(CHECK_NAMES[category], UNKNOWN, error, target=target, details={'findings': extra}))
                continue
            if category not in new['categories']:
                new['items'].update(items)
                new['categories'].append(category)
                recorded.append(category)
                checks.append(category_check(CHECK_NAMES[category], extra, '%d item(s) recorded in the baseline now (%s)'
                                             % (len(items), 'check mode: not written' if check_mode else path), target=target))
                continue
            drifts[category] = compare(new['items'], items, prefix)
            if state == 'accepted':
                continue
            checks.append(_category_check(category, drifts[category], extra, len(items), since, target))
        changed = bool(recorded)
        accepted = []
        if state == 'accepted':
            wanted = set(params.get('accept') or [])
            for category, entries in drifts.items():
                items = current[category][0]
                for entry in entries:
                    if wanted and entry['key'] not in wanted and entry['key'].split(':', 1)[1] not in wanted:
                        continue
                    if items.get(entry['key']) is None:
                        new['items'].pop(entry['key'], None)
                    else:
                        new['items'][entry['key']] = items[entry['key']]
                    accepted.append(dict((k, entry[k]) for k in ('key', 'change', 'before', 'after', 'summary')))
            # what is left unaccepted is still drift
            for category in drifts:
                left = [e for e in drifts[category] if e['key'] not in set(a['key'] for a in accepted)]
                items, extra, target, _error = current[category]
                checks.append(_category_check(category, left, extra, len(items), since, target))
            record = {'at': iso_utc(now), 'by': params['accepted_by'].strip(), 'reason': params['reason'].strip(),
                      'changes': accepted}
            if accepted:
                new['history'] = (new['history'] + [record])[-MAX_HISTORY:]
                new['approved_at'] = iso_utc(now)
                new['approved_by'] = record['by']
                changed = True
                reason = 'accepted %d change(s) by %s: %s (%s)' % (len(accepted), record['by'], record['reason'],
                                                                   '; '.join(a['summary'] for a in accepted[:5]))
            else:
                reason = 'nothing to accept: no drift from the approved baseline%s' % (' among %s' % ', '.join(sorted(wanted)) if wanted else '')
            checks.append(make_check('drift.accepted', OK, reason, value=len(accepted), unit='changes', priority='low',
                                     target=path, details={'accepted_by': record['by'], 'reason': record['reason'],
                                                           'changes': accepted}))
        if changed:
            new['updated_at'] = iso_utc(now)
            if not check_mode:
                store.save(new)
    findings = []
    for check in checks:
        findings.extend((check.get('details') or {}).get('findings') or [])
    # with state=accepted the diff is what is accepted (shown by --diff, as the task changed); otherwise the drift
    accepted_keys = set(a['key'] for a in accepted)
    diffs = [dict(prepared=e['diff']) for entries in drifts.values() for e in entries
             if e.get('diff') and (state != 'accepted' or e['key'] in accepted_keys)]
    extra = {'findings': findings, 'drift': [e for entries in drifts.values() for e in entries],
             'accepted': accepted, 'baseline': {'path': path, 'action': ('created' if baseline is None else
                                                                         ('updated' if changed else 'none'))}}
    if diffs:
        extra['diff'] = diffs
    return checks, extra, changed


def run(params, check_mode=False, host=None):
    """The config_drift module's entry (``result.Report``); the unified diffs are shown in diff mode only."""
    checks, extra, changed = drift(params, check_mode=check_mode)
    diff = extra.pop('diff', None)
    return Report(checks, changed=changed, data=extra, diff=diff)
