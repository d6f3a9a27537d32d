# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The access review (``access_review`` module): who may do what, held against an approved list; it only reads.

Sources (all under ``root``, so a debootstrap root or a copied ``/etc`` can be audited):

* ``accounts``: ``/etc/passwd``, ``/etc/shadow`` (password age, locked, expired) and the last login from
  ``/var/log/lastlog`` (the binary file, one record per UID) or ``/var/lib/lastlog/lastlog2.db`` (lastlog2,
  opened read-only). Login accounts not approved, stale accounts (no login for ``stale_days``), passwords
  older than ``max_password_age``.
* ``sudo``: ``/etc/sudoers`` with its ``#include``/``@includedir`` files, user aliases and ``%group`` entries
  expanded through ``/etc/group`` (supplementary and primary group). A sudoer not approved is critical.
* ``ssh_keys``: every account's ``authorized_keys`` (type, size, SHA-256 fingerprint as ``ssh-keygen -l``
  prints it, comment, options). A key not approved for its account is critical; DSA and RSA < 2048 bits warn.
* ``postgres``: ``pg_roles`` (superuser, createrole, replication, bypassrls, login roles without
  ``VALID UNTIL``), members of privileged roles, and privileges granted to PUBLIC on schemas and relations.

The approved access list is inventory data (``approved``); a category whose list is not given is ``unknown``
with what was found, never ok with nothing said. What changed since the last review (a new sudoer, key,
login account, superuser or privileged role) is reported from the review state file; the state file is the
only thing written (locked, atomic, never in check mode).
Plain Python: unit tests call ``review()`` without Ansible.
"""

import base64
import hashlib
import os
import re
import struct

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import from_epoch, iso_utc, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    CRITICAL,
    OK,
    Report,
    UNKNOWN,
    WARNING,
    make_check,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.security_scan import _under, category_check, finding
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.state_store import open_state

CATEGORIES = ('accounts', 'sudo', 'ssh_keys', 'postgres')
DEFAULT_CATEGORIES = ('accounts', 'sudo', 'ssh_keys')
NOLOGIN_SHELLS = ('/usr/sbin/nologin', '/sbin/nologin', '/bin/false', '/usr/bin/false', '/bin/sync', '')
LASTLOG_RECORD = 292  # int32 time, char line[32], char host[256]
PRIVILEGED_PG_ROLES = ('pg_read_all_data', 'pg_write_all_data', 'pg_execute_server_program', 'pg_read_server_files',
                       'pg_write_server_files', 'pg_signal_backend', 'pg_checkpoint', 'pg_create_subscription')
PG_ATTRIBUTES = ('superuser', 'createrole', 'replication', 'bypassrls')
KEY_TYPES = ('ssh-rsa', 'ssh-dss', 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
             'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com', 'ssh-ed448')
DEFAULT_STATE_FILE = '/var/lib/autopilotcx/access-review.json'


def _days(moment, epoch_seconds):
    return int((moment.timestamp() - epoch_seconds) // 86400)


def _read_lines(path):
    with open(path) as handle:
        return handle.read().splitlines()


# ------------------------------------------------------------------ accounts

def read_passwd(root):
    path = _under(root, '/etc/passwd')
    accounts = []
    for line in _read_lines(path):
        fields = line.split(':')
        if len(fields) < 7 or line.startswith('#'):
            continue
        try:
            uid, gid = int(fields[2]), int(fields[3])
        except ValueError:
            continue
        accounts.append({'name': fields[0], 'uid': uid, 'gid': gid, 'home': fields[5], 'shell': fields[6],
                         'login_shell': fields[6] not in NOLOGIN_SHELLS and not fields[6].endswith('/nologin')})
    return accounts


def read_shadow(root):
    """name -> dict(locked, no_password, last_change (days since epoch or None), max_days, expire)."""
    result = {}
    for line in _read_lines(_under(root, '/etc/shadow')):
        fields = line.split(':')
        if len(fields) < 8:
            continue

        def number(text):
            try:
                return int(text)
            except ValueError:
                return None
        hashed = fields[1]
        result[fields[0]] = {'locked': hashed.startswith('!') or hashed in ('*', '!'), 'no_password': hashed in ('*', '!', '!!', '!*'),
                             'empty': hashed == '', 'last_change': number(fields[2]), 'max_days': number(fields[4]),
                             'expire': number(fields[7])}
    return result


def read_groups(root):
    """name -> dict(gid, members)."""
    groups = {}
    for line in _read_lines(_under(root, '/etc/group')):
        fields = line.split(':')
        if len(fields) < 4 or line.startswith('#'):
            continue
        try:
            gid = int(fields[2])
        except ValueError:
            continue
        groups[fields[0]] = {'gid': gid, 'members': [m for m in fields[3].split(',') if m]}
    return groups


def read_last_logins(root, accounts):
    """name -> epoch seconds of the last login (absent: never, as far as the records go); source name or None."""
    result = {}
    lastlog2 = _under(root, '/var/lib/lastlog/lastlog2.db')
    lastlog = _under(root, '/var/log/lastlog')
    source = None
    if os.path.exists(lastlog2):
        import sqlite3
        conn = sqlite3.connect('file:%s?mode=ro' % lastlog2, uri=True)
        try:
            for name, moment in conn.execute('SELECT Name, Time FROM Lastlog2'):
                if moment:
                    result[name] = int(moment)
        finally:
            conn.close()
        source = lastlog2
    if os.path.exists(lastlog):
        by_uid = dict((a['uid'], a['name']) for a in accounts)
        with open(lastlog, 'rb') as handle:
            for uid, name in by_uid.items():
                handle.seek(uid * LASTLOG_RECORD)
                record = handle.read(LASTLOG_RECORD)
                if len(record) < 4:
                    continue
                moment = struct.unpack('<i', record[:4])[0]
                if moment > 0 and moment > result.get(name, 0):
                    result[name] = moment
        source = lastlog if source is None else source + ', ' + lastlog
    return result, source


def check_accounts(params, approved, now, inventory):
    root = params.get('root') or '/'
    name = 'access.accounts'
    try:
        accounts = read_passwd(root)
    except (IOError, OSError) as exc:
        return make_check(name, UNKNOWN, 'cannot read %s: %s' % (_under(root, '/etc/passwd'), exc.strerror or exc))
    try:
        shadow = read_shadow(root)
        shadow_error = None
    except (IOError, OSError) as exc:
        shadow, shadow_error = {}, 'cannot read %s: %s' % (_under(root, '/etc/shadow'), exc.strerror or exc)
    try:
        logins, login_source = read_last_logins(root, accounts)
        login_error = None
    except Exception as exc:  # a corrupt lastlog2 database (sqlite3.Error) or unreadable lastlog
        logins, login_source, login_error = {}, None, 'cannot read the last logins: %s' % exc
    stale_days = int(params.get('stale_days') or 90)
    max_age = params.get('max_password_age')
    stale_ignore = set(params.get('stale_ignore') or [])
    allowed_login = approved.get('login_accounts')
    today = _days(now, 0)
    findings = []
    rows = []
    for account in accounts:
        user = account['name']
        info = shadow.get(user, {})
        expired = info.get('expire') is not None and info['expire'] <= today
        last = logins.get(user)
        row = dict(account, locked=info.get('locked'), expired=expired,
                   password_age_days=(today - info['last_change']) if info.get('last_change') else None,
                   last_login=iso_utc(from_epoch(last)) if last else None)
        rows.append(row)
        if not account['login_shell']:
            continue
        usable = not (info.get('locked') or expired)
        if allowed_login is not None and user not in allowed_login and usable:
            findings.append(finding(WARNING, 'accounts', user, 'login account %s (shell %s) is not in the approved login accounts'
                                    % (user, account['shell'])))
        if info.get('empty'):
            findings.append(finding(CRITICAL, 'accounts', user, 'account %s has an empty password' % user))
        if not usable:
            continue
        if user not in stale_ignore and login_source is not None:
            if last is not None and _days(now, last) > stale_days:
                findings.append(finding(WARNING, 'accounts', user, 'stale account %s: last login %s, %d days ago (more than %d)'
                                        % (user, row['last_login'], _days(now, last), stale_days), days=_days(now, last)))
            elif last is None and row['password_age_days'] is not None and row['password_age_days'] > stale_days:
                findings.append(finding(WARNING, 'accounts', user, 'stale account %s: never logged in, password set %d days ago'
                                        % (user, row['password_age_days']), days=row['password_age_days']))
        if max_age and row['password_age_days'] is not None and not info.get('no_password') and row['password_age_days'] > max_age:
            findings.append(finding(WARNING, 'accounts', user, 'password of %s is %d days old (more than %d)'
                                    % (user, row['password_age_days'], max_age)))
    logins_shown = [r['name'] for r in rows if r['login_shell'] and not r['locked'] and not r['expired']]
    inventory['accounts'] = rows
    inventory['login_accounts'] = logins_shown
    problems = [p for p in (shadow_error, login_error) if p]
    if login_source is None and not login_error:
        problems.append('no lastlog or lastlog2 records under %s: stale accounts not judged' % root)
    if allowed_login is None:
        problems.append('no approved login account list: %d login account(s) not held against one (%s)'
                        % (len(logins_shown), ', '.join(logins_shown[:10])))
    if problems and not findings:
        return make_check(name, UNKNOWN, '; '.join(problems), value=len(logins_shown), unit='login accounts',
                          target=_under(root, '/etc/passwd'), details={'findings': []})
    check = category_check(name, findings, '%d login account(s), all approved and in use (stale after %d days)'
                           % (len(logins_shown), stale_days), target=_under(root, '/etc/passwd'))
    if problems:
        check['reason'] += '; ' + '; '.join(problems)
    return check


# ------------------------------------------------------------------ sudo

def _sudoers_files(root, path, seen, depth=0):
    """(path, lines) of ``path`` and its includes, in sudo's order."""
    real = _under(root, path)
    if real in seen or depth > 8:
        return []
    seen.add(real)
    result = [(path, _read_lines(real))]
    joined = []
    for line in result[0][1]:
        stripped = line.strip()
        match = re.match(r'^[#@]include(dir)?\s+(\S+)', stripped)
        if not match:
            continue
        target = match.group(2)
        if not target.startswith('/'):
            target = os.path.join(os.path.dirname(path), target)
        if match.group(1):
            directory = _under(root, target)
            if not os.path.isdir(directory):
                continue
            for entry in sorted(os.listdir(directory)):
                if '.' in entry or entry.endswith('~'):  # sudo skips these in an includedir
                    continue
                joined.extend(_sudoers_files(root, os.path.join(target, entry), seen, depth + 1))
        else:
            try:
                joined.extend(_sudoers_files(root, target, seen, depth + 1))
            except (IOError, OSError):
                continue
    return result + joined


def _logical_lines(lines):
    buffer, start = '', None
    for number, line in enumerate(lines, 1):
        if start is None:
            start = number
        if line.endswith('\\'):
            buffer += line[:-1] + ' '
            continue
        yield start, buffer + line
        buffer, start = '', None


def read_sudo_rules(root):
    """Rules as dicts (who, principal kind user/group, commands, nopasswd, source)."""
    rules = []
    aliases = {}
    for path, lines in _sudoers_files(root, '/etc/sudoers', set()):
        for number, line in _logical_lines(lines):
            text = line.strip()
            if not text or text.startswith('#') or text.startswith('@') or text.startswith('Defaults'):
                continue
            alias = re.match(r'^User_Alias\s+(.*)$', text)
            if alias:
                for part in alias.group(1).split(':'):
                    if '=' in part:
                        key, members = part.split('=', 1)
                        aliases[key.strip()] = [m.strip() for m in members.split(',') if m.strip()]
                continue
            if re.match(r'^(Runas|Host|Cmnd|Cmd)_Alias\s', text):
                continue
            match = re.match(r'^(.+?)\s+(\S+?)\s*=\s*(.*)$', text)
            if not match:
                continue
            who_list, spec = match.group(1), match.group(3)
            for who in [w.strip() for w in who_list.split(',') if w.strip()]:
                for member in aliases.get(who, [who]):
                    negated = member.startswith('!')
                    if negated:
                        continue
                    rules.append({'principal': member, 'commands': spec, 'nopasswd': 'NOPASSWD' in spec,
                                  'source': '%s:%d' % (path, number)})
    return rules


def sudoers_by_user(rules, accounts, groups):
    """user -> list of (how, source, nopasswd); ``how`` is ``direct`` or ``%group``."""
    gid_names = dict((g['gid'], n) for n, g in groups.items())
    primary = {}
    for account in accounts:
        primary.setdefault(gid_names.get(account['gid']), []).append(account['name'])
    result = {}
    for rule in rules:
        principal = rule['principal']
        if principal in ('ALL',):
            members, how = [a['name'] for a in accounts], 'ALL'
        elif principal.startswith('%'):
            group = principal.lstrip('%:')
            info = groups.get(group, {})
            members = sorted(set(info.get('members', [])) | set(primary.get(group, [])))
            how = 'group %s' % group
        elif principal.startswith('#'):
            uid = principal[1:]
            members = [a['name'] for a in accounts if str(a['uid']) == uid]
            how = 'uid %s' % uid
        else:
            members, how = [principal], 'direct'
        for member in members:
            result.setdefault(member, []).append({'how': how, 'source': rule['source'], 'nopasswd': rule['nopasswd'],
                                                  'commands': rule['commands']})
    return result


def check_sudo(params, approved, inventory):
    root = params.get('root') or '/'
    name = 'access.sudo'
    target = _under(root, '/etc/sudoers')
    try:
        rules = read_sudo_rules(root)
        accounts = read_passwd(root)
        groups = read_groups(root)
    except (IOError, OSError) as exc:
        return make_check(name, UNKNOWN, 'cannot read the sudo configuration: %s: %s' % (getattr(exc, 'filename', ''), exc.strerror or exc),
                          target=target)
    holders = sudoers_by_user(rules, accounts, groups)
    inventory['sudoers'] = holders
    allowed = approved.get('sudo')
    if allowed is None:
        return make_check(name, UNKNOWN, 'no approved sudo list: %d account(s) hold sudo rights (%s), not held against one'
                          % (len(holders), ', '.join(sorted(holders))), value=len(holders), unit='sudoers', target=target,
                          details={'findings': []})
    allowed = set(allowed)
    nopasswd_allowed = set(approved.get('sudo_nopasswd') or [])
    findings = []
    for user in sorted(holders):
        grants = holders[user]
        where = '; '.join('%s at %s' % (g['how'], g['source']) for g in grants)
        if user not in allowed:
            findings.append(finding(CRITICAL, 'sudo', user, 'unapproved sudoer %s (%s)' % (user, where), sources=grants))
        elif any(g['nopasswd'] for g in grants) and user not in nopasswd_allowed:
            findings.append(finding(WARNING, 'sudo', user, 'sudoer %s may run commands without a password (NOPASSWD, %s)'
                                    % (user, where)))
    return category_check(name, findings, '%d sudoer(s), all approved: %s' % (len(holders), ', '.join(sorted(holders))),
                          target=target, priority='high' if any(f['severity'] == CRITICAL for f in findings) else None)


# ------------------------------------------------------------------ ssh keys

def _split_options(line):
    """(options, rest) of an authorized_keys line; options may hold quoted spaces."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"' and (index == 0 or line[index - 1] != '\\'):
            quoted = not quoted
        elif char in ' \t' and not quoted:
            return line[:index], line[index:].strip()
    return line, ''


def _ssh_string(blob, offset):
    length = struct.unpack('>I', blob[offset:offset + 4])[0]
    return blob[offset + 4:offset + 4 + length], offset + 4 + length


def key_bits(kind, blob):
    """Key size in bits, as ``ssh-keygen -l`` prints it (None when the blob cannot be read)."""
    try:
        _name, offset = _ssh_string(blob, 0)
        if kind.startswith('ssh-rsa'):
            _e, offset = _ssh_string(blob, offset)
            modulus, offset = _ssh_string(blob, offset)
            return int.from_bytes(modulus, 'big').bit_length()
        if kind.startswith('ssh-dss'):
            prime, offset = _ssh_string(blob, offset)
            return int.from_bytes(prime, 'big').bit_length()
    except (struct.error, ValueError):
        return None
    for marker, bits in (('ed25519', 256), ('ed448', 456), ('nistp256', 256), ('nistp384', 384), ('nistp521', 521)):
        if marker in kind:
            return bits
    return None


def parse_authorized_key(line):
    """A dict (type, bits, fingerprint, comment, options) or None for comments, blank lines and garbage."""
    text = line.strip()
    if not text or text.startswith('#'):
        return None
    options = ''
    first = text.split(None, 1)[0]
    if first not in KEY_TYPES and not first.endswith('-cert-v01@openssh.com'):
        options, text = _split_options(text)
    parts = text.split(None, 2)
    if len(parts) < 2:
        return None
    kind, data = parts[0], parts[1]
    try:
        blob = base64.b64decode(data.encode('ascii'), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    fingerprint = 'SHA256:' + base64.b64encode(hashlib.sha256(blob).digest()).decode('ascii').rstrip('=')
    return {'type': kind, 'bits': key_bits(kind, blob), 'fingerprint': fingerprint,
            'comment': parts[2] if len(parts) > 2 else '', 'options': options}


def read_keys(root, accounts, files):
    """user -> list of keys (with ``file`` and ``line``); errors: list of messages."""
    result, errors = {}, []
    for account in accounts:
        if not account['home'] or account['home'] == '/nonexistent':
            continue
        for pattern in files:
            rel = pattern.replace('%h', account['home']).replace('%u', account['name']).replace('%%', '%')
            if not rel.startswith('/'):
                rel = os.path.join(account['home'], rel)
            path = _under(root, rel)
            try:
                lines = _read_lines(path)
            except (IOError, OSError) as exc:
                if exc.errno not in (2, 20):  # ENOENT, ENOTDIR: no key file is fine
                    errors.append('cannot read %s: %s' % (path, exc.strerror or exc))
                continue
            for number, line in enumerate(lines, 1):
                key = parse_authorized_key(line)
                if key is not None:
                    key.update(file=rel, line=number)
                    result.setdefault(account['name'], []).append(key)
    return result, errors


def check_ssh_keys(params, approved, inventory):
    root = params.get('root') or '/'
    name = 'access.ssh_keys'
    try:
        accounts = read_passwd(root)
    except (IOError, OSError) as exc:
        return make_check(name, UNKNOWN, 'cannot read %s: %s' % (_under(root, '/etc/passwd'), exc.strerror or exc))
    keys, errors = read_keys(root, accounts, params.get('authorized_keys_files') or ['.ssh/authorized_keys', '.ssh/authorized_keys2'])
    inventory['ssh_keys'] = keys
    allowed = approved.get('ssh_keys')
    min_rsa = int(params.get('min_rsa_bits') or 2048)
    findings = []
    total = sum(len(v) for v in keys.values())
    for user in sorted(keys):
        permitted = None if allowed is None else set(allowed.get(user) or [])
        for key in keys[user]:
            label = '%s %s key %s (%s) in %s:%d' % (user, key['type'], key['fingerprint'], key['comment'] or 'no comment',
                                                    key['file'], key['line'])
            if permitted is not None and key['fingerprint'] not in permitted:
                findings.append(finding(CRITICAL, 'ssh_keys', user, 'unapproved SSH key for %s' % label, fingerprint=key['fingerprint']))
            if key['type'].startswith('ssh-dss'):
                findings.append(finding(WARNING, 'ssh_keys', user, 'DSA key (deprecated) for %s' % label))
            elif key['type'].startswith('ssh-rsa') and key['bits'] and key['bits'] < min_rsa:
                findings.append(finding(WARNING, 'ssh_keys', user, 'RSA key of %d bits (less than %d) for %s' % (key['bits'], min_rsa, label)))
    for message in errors:
        findings.append(finding(UNKNOWN, 'ssh_keys', message.split(' ', 3)[-1].split(':')[0], message))
    if allowed is None and not findings:
        return make_check(name, UNKNOWN, 'no approved SSH key list: %d key(s) of %d account(s) not held against one'
                          % (total, len(keys)), value=total, unit='keys', details={'findings': []})
    return category_check(name, findings, '%d authorized key(s) of %d account(s), all approved' % (total, len(keys)),
                          priority='high' if any(f['severity'] == CRITICAL for f in findings) else None)


# ------------------------------------------------------------------ postgres

ROLES_SQL = '''
SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolreplication, r.rolbypassrls, r.rolcanlogin,
       r.rolvaliduntil IS NULL OR r.rolvaliduntil = 'infinity',
       COALESCE(ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                      WHERE m.member = r.oid ORDER BY 1), ARRAY[]::name[])
FROM pg_roles r WHERE r.rolname !~ '^pg_' ORDER BY 1
'''

PUBLIC_SQL = '''
SELECT 'schema', n.nspname, a.privilege_type
FROM pg_namespace n, aclexplode(n.nspacl) a
WHERE a.grantee = 0 AND a.privilege_type = 'CREATE' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
UNION ALL
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
            WHEN 'S' THEN 'sequence' WHEN 'p' THEN 'table' ELSE 'relation' END,
       n.nspname || '.' || c.relname, a.privilege_type
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
WHERE a.grantee = 0 AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY 1, 2, 3
'''


def read_pg_roles(params):
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import connect
    connection = connect(params)
    if not connection.ok:
        return None, None, connection
    with connection:
        with connection.conn.cursor() as cur:
            cur.execute(ROLES_SQL)
            roles = [{'name': r[0], 'superuser': r[1], 'createrole': r[2], 'replication': r[3], 'bypassrls': r[4],
                      'login': r[5], 'no_expiry': bool(r[6]), 'member_of': list(r[7])} for r in cur.fetchall()]
            cur.execute(PUBLIC_SQL)
            public = [{'kind': r[0], 'object': r[1], 'privilege': r[2]} for r in cur.fetchall()]
    return roles, public, connection


def check_postgres(params, approved, inventory):
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.postgres import describe
    target = describe(params)
    roles, public, connection = read_pg_roles(params)
    if roles is None:
        return [make_check('access.postgres_roles', CRITICAL, 'cannot connect to %s: %s' % (target, connection.error),
                           priority='high', target=target)]
    inventory['postgres_roles'] = roles
    inventory['postgres_public_grants'] = public
    allowed = approved.get('postgres_roles')
    no_expiry_allowed = set(approved.get('postgres_no_expiry') or [])
    public_allowed = set(approved.get('postgres_public_grants') or [])
    findings = []
    privileged = set(r['name'] for r in roles if r['superuser']) | set(PRIVILEGED_PG_ROLES)
    for role in roles:
        grants = [a for a in PG_ATTRIBUTES if role[a]] + ['member of %s' % g for g in role['member_of'] if g in privileged]
        permitted = None if allowed is None else set(allowed.get(role['name']) or [])
        if permitted is not None:
            for grant in grants:
                key = grant.replace('member of ', 'member:')
                if key not in permitted and grant not in permitted:
                    severity = CRITICAL if grant in ('superuser', 'bypassrls') or grant.startswith('member of') else WARNING
                    label = 'superuser role' if grant == 'superuser' else 'role with %s' % grant
                    findings.append(finding(severity, 'postgres', role['name'], 'unapproved %s %s (approved: %s)'
                                            % (label, role['name'], ', '.join(sorted(permitted)) or 'nothing')))
        if role['login'] and role['no_expiry'] and role['name'] not in no_expiry_allowed and not role['superuser']:
            findings.append(finding(WARNING, 'postgres', role['name'], 'login role %s has no password expiry (VALID UNTIL)' % role['name']))
    checks = []
    if allowed is None:
        supers = [r['name'] for r in roles if r['superuser']]
        checks.append(make_check('access.postgres_roles', UNKNOWN, 'no approved PostgreSQL role list: %d role(s), superusers %s, '
                                 'not held against one' % (len(roles), ', '.join(supers)), target=target,
                                 details={'findings': list(findings)}))
    else:
        checks.append(category_check('access.postgres_roles', findings, '%d role(s), every privilege approved' % len(roles),
                                     target=target, priority='high' if any(f['severity'] == CRITICAL for f in findings) else None))
    public_findings = []
    for grant in public:
        key = '%s:%s' % (grant['object'], grant['privilege'])
        if key in public_allowed or grant['object'] in public_allowed:
            continue
        severity = CRITICAL if grant['privilege'] in ('CREATE', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE') else WARNING
        public_findings.append(finding(severity, 'postgres', grant['object'], '%s granted to PUBLIC on %s %s'
                                       % (grant['privilege'], grant['kind'], grant['object'])))
    checks.append(category_check('access.postgres_public', public_findings, 'no privileges granted to PUBLIC beyond the approved ones',
                                 target=target))
    return checks


# ------------------------------------------------------------------ changes since the last review

def snapshot(inventory):
    """The comparable part of the inventory: sets of strings per kind."""
    result = {}
    if 'sudoers' in inventory:
        result['sudoers'] = sorted(inventory['sudoers'])
    if 'login_accounts' in inventory:
        result['login_accounts'] = sorted(inventory['login_accounts'])
    if 'ssh_keys' in inventory:
        result['ssh_keys'] = sorted('%s %s %s' % (u, k['fingerprint'], k['comment']) for u, keys in inventory['ssh_keys'].items()
                                    for k in keys)
    if 'postgres_roles' in inventory:
        result['postgres_superusers'] = sorted(r['name'] for r in inventory['postgres_roles'] if r['superuser'])
        result['postgres_privileges'] = sorted('%s %s' % (r['name'], a) for r in inventory['postgres_roles'] for a in PG_ATTRIBUTES
                                               if r[a])
    return result


LABELS = {'sudoers': 'sudoer', 'login_accounts': 'login account', 'ssh_keys': 'SSH key', 'postgres_superusers': 'superuser',
          'postgres_privileges': 'PostgreSQL privilege'}


def changes_check(previous, current, reviewed_at):
    if previous is None:
        return make_check('access.changes', OK, 'first review: %s recorded' % ', '.join(
            '%d %s(s)' % (len(v), LABELS[k]) for k, v in sorted(current.items())), priority='low', details={'added': {}, 'removed': {}})
    added, removed = {}, {}
    for kind, items in current.items():
        if kind not in previous:
            continue
        before = set(previous[kind])
        new = [i for i in items if i not in before]
        gone = sorted(before - set(items))
        if new:
            added[kind] = new
        if gone:
            removed[kind] = gone
    findings = [finding(WARNING, 'changes', item.split(' ')[0], 'new %s since the review of %s: %s' % (LABELS[k], reviewed_at, item))
                for k, items in sorted(added.items()) for item in items]
    findings += [finding(OK, 'changes', item.split(' ')[0], '%s removed since the review of %s: %s' % (LABELS[k], reviewed_at, item))
                 for k, items in sorted(removed.items()) for item in items]
    check = category_check('access.changes', [f for f in findings if f['severity'] != OK],
                           'no new access since the review of %s' % reviewed_at)
    if removed:
        check['reason'] += '; removed: ' + '; '.join('%s %s' % (LABELS[k], ', '.join(v)) for k, v in sorted(removed.items()))
    check['details'].update(added=added, removed=removed)
    return check


# ------------------------------------------------------------------ the module's work

def review(params, check_mode=False, now=None):
    """Run the enabled categories; returns ``(checks, extra, changed)``."""
    now = now or utc_now()
    root = params.get('root') or '/'
    if not os.path.isdir(root):
        raise MaintenanceError('root %s is not a directory' % root)
    approved = params.get('approved') or {}
    if not isinstance(approved, dict):
        raise MaintenanceError('approved must be a mapping (sudo, login_accounts, ssh_keys, postgres_roles ...), not %r'
                               % type(approved).__name__)
    for key in ('ssh_keys', 'postgres_roles'):
        if approved.get(key) is not None and not isinstance(approved[key], dict):
            raise MaintenanceError('approved.%s must map a name to a list' % key)
        for name, value in (approved.get(key) or {}).items():
            if not isinstance(value, list):
                raise MaintenanceError('approved.%s.%s must be a list, not %r' % (key, name, value))
    for key in ('login_accounts', 'sudo', 'sudo_nopasswd', 'postgres_no_expiry', 'postgres_public_grants'):
        if approved.get(key) is not None and not isinstance(approved[key], list):
            raise MaintenanceError('approved.%s must be a list of names, not %r' % (key, approved[key]))
    enabled = list(params.get('categories') or DEFAULT_CATEGORIES)
    inventory = {}
    checks = []
    if 'accounts' in enabled:
        checks.append(check_accounts(params, approved, now, inventory))
    if 'sudo' in enabled:
        checks.append(check_sudo(params, approved, inventory))
    if 'ssh_keys' in enabled:
        checks.append(check_ssh_keys(params, approved, inventory))
    if 'postgres' in enabled:
        checks.extend(check_postgres(params, approved, inventory))
    current = snapshot(inventory)
    state_path = params.get('state_file')
    changed = False
    action = 'none'
    if state_path:
        with open_state('access review state', os.path.expanduser(state_path), write=not check_mode) as state:
            data = state.data if isinstance(state.data, dict) else None
            previous = (data or {}).get('snapshot')
            checks.append(changes_check(previous, current, (data or {}).get('reviewed_at')))
            merged = dict(previous or {})
            merged.update(current)
            if merged != previous:
                changed = True
                action = 'created' if previous is None else 'updated'
                if not check_mode:
                    state.save({'version': 1, 'snapshot': merged, 'reviewed_at': iso_utc(now)})
    findings = []
    for check in checks:
        findings.extend((check.get('details') or {}).get('findings') or [])
    extra = {'findings': findings, 'inventory': inventory, 'state': {'path': state_path, 'action': action}}
    return checks, extra, changed


def run(params, check_mode=False, host=None):
    """The access_review module's entry (``result.Report``)."""
    checks, extra, changed = review(params, check_mode=check_mode)
    return Report(checks, changed=changed, data=extra)
