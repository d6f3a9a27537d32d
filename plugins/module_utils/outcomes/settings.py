# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One setting for the outcome store, read the same way by every writer and reader.

The ``autopilotcx.maintenance.outcomes`` callback gets its options from Ansible's
configuration; every reader of the history (``review_report``, ``outcome_query``
- the promotion gate -, the ``outcome_settings`` lookup the roles use) and every
module keeping control-node state resolves the same settings here, with the same
precedence, highest first:

1. the module option (or role variable) when it is given;
2. the environment: ``AUTOPILOTCX_OUTCOME_LOG``, ``AUTOPILOTCX_OUTCOME_DSN``,
   ``AUTOPILOTCX_OUTCOME_TABLE``, ``AUTOPILOTCX_OUTCOME_SCHEMA``;
3. the ``[autopilotcx_outcomes]`` section of the ansible.cfg in effect, found as
   Ansible finds it: ``ANSIBLE_CONFIG``, ``./ansible.cfg`` (unless the current
   directory is world-writable), ``~/.ansible.cfg``, ``/etc/ansible/ansible.cfg``;
   a relative ``path`` there is relative to that file's directory, as Ansible does.
   A module run on the controller by the local connection has the playbook's
   directory as its cwd, not the controller's: the controller (the outcome callback,
   the ``outcome_settings`` lookup) exports the file it uses in
   ``AUTOPILOTCX_CONTROLLER_CONFIG`` and such a module resolves that one;
4. the defaults (``~/.ansible/autopilotcx-outcomes.jsonl``, no PostgreSQL).

Plain Python: unit tests call it without Ansible.
"""

import configparser
import os
import stat
from typing import Any, Dict, List, Mapping, MutableMapping, Optional

SECTION = 'autopilotcx_outcomes'
CONTROLLER_CONFIG_ENV = 'AUTOPILOTCX_CONTROLLER_CONFIG'
DEFAULTS: Dict[str, Optional[str]] = {
    'path': '~/.ansible/autopilotcx-outcomes.jsonl',
    'pg_dsn': None,
    'pg_table': 'maintenance_outcomes',
    'pg_schema': None,
}
ENV = {
    'path': 'AUTOPILOTCX_OUTCOME_LOG',
    'pg_dsn': 'AUTOPILOTCX_OUTCOME_DSN',
    'pg_table': 'AUTOPILOTCX_OUTCOME_TABLE',
    'pg_schema': 'AUTOPILOTCX_OUTCOME_SCHEMA',
}


def _world_writable(directory: str) -> bool:
    try:
        return bool(os.stat(directory).st_mode & stat.S_IWOTH)
    except OSError:
        return True


def find_config_file(environ: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None) -> Optional[str]:
    """The ansible.cfg in effect (Ansible's own search order), or None."""
    environ = os.environ if environ is None else environ
    candidates: List[str] = []
    configured = environ.get('ANSIBLE_CONFIG')
    if configured:
        configured = os.path.expanduser(configured)
        if os.path.isdir(configured):
            configured = os.path.join(configured, 'ansible.cfg')
        candidates.append(configured)
    elif CONTROLLER_CONFIG_ENV in environ:
        # set by the controller for the modules it runs: its own answer, '' when it has no ansible.cfg
        controller = environ[CONTROLLER_CONFIG_ENV]
        return controller if controller and os.path.isfile(controller) else None
    try:
        cwd = cwd or os.getcwd()
    except OSError:
        cwd = None
    if cwd and not _world_writable(cwd):
        candidates.append(os.path.join(cwd, 'ansible.cfg'))
    candidates.append(os.path.expanduser('~/.ansible.cfg'))
    candidates.append('/etc/ansible/ansible.cfg')
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    return None


def export_controller_config(config_file: Optional[str], environ: Optional[MutableMapping[str, str]] = None) -> None:
    """On the controller: tell the modules it runs locally which ansible.cfg it uses ('' for none).

    The local connection runs a module in the playbook's directory, so the module's own search
    (``./ansible.cfg``) would not find the project's file; the environment is inherited.
    """
    target: MutableMapping[str, str] = os.environ if environ is None else environ
    target[CONTROLLER_CONFIG_ENV] = os.path.abspath(config_file) if config_file else ''


def _read_section(config_file: str) -> Dict[str, str]:
    parser = configparser.ConfigParser(inline_comment_prefixes=(';',), interpolation=None)
    try:
        parser.read(config_file)
    except (configparser.Error, IOError, OSError, UnicodeError):
        return {}
    if not parser.has_section(SECTION):
        return {}
    return dict(parser.items(SECTION))


def resolve(explicit: Optional[Mapping[str, Any]] = None, environ: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None,
            config_file: Optional[str] = None) -> Dict[str, Any]:
    """The store settings: ``{'path', 'pg_dsn', 'pg_table', 'pg_schema', 'config_file', 'origin'}``.

    ``explicit`` holds module options (None/'' values are ignored); ``origin`` says where each
    value came from (``option``, ``env NAME``, ``<file> [autopilotcx_outcomes] key`` or ``default``).
    """
    environ = os.environ if environ is None else environ
    explicit = explicit or {}
    if config_file is None:
        config_file = find_config_file(environ, cwd)
    section = _read_section(config_file) if config_file else {}
    origins: Dict[str, Optional[str]] = {}
    settings: Dict[str, Any] = {'config_file': config_file, 'origin': origins}
    for key, default in DEFAULTS.items():
        value, origin = None, None
        if explicit.get(key) not in (None, ''):
            value, origin = explicit[key], 'option'
        elif environ.get(ENV[key]) not in (None, ''):
            value, origin = environ[ENV[key]], 'env %s' % ENV[key]
        elif config_file and section.get(key) not in (None, ''):
            value, origin = section[key].strip(), '%s [%s] %s' % (config_file, SECTION, key)
            if key == 'path':
                value = os.path.expanduser(value)
                if not os.path.isabs(value):
                    value = os.path.join(os.path.dirname(os.path.abspath(config_file)), value)
        else:
            value, origin = default, 'default'
        if key == 'path' and value:
            value = os.path.abspath(os.path.expanduser(value))
        settings[key] = value
        origins[key] = origin
    return settings


def describe(settings: Mapping[str, Any], key: str = 'path') -> str:
    """``/var/log/x.jsonl (from env AUTOPILOTCX_OUTCOME_LOG)`` for messages (never the DSN itself)."""
    origin = settings['origin'].get(key)
    if key == 'pg_dsn':
        return 'the PostgreSQL store (DSN from %s)' % origin
    return '%s (from %s)' % (settings.get(key), origin)
