# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Variables with a role's prefix that the role does not know, and threshold names nobody defined.

A misspelled ``service_health_endpoint`` or an override for ``http_respons_time`` used to be accepted and ignored:
the run was green and nothing was checked. These functions find such names and the closest valid one; the
``role_vars_check`` action turns them into a failure.
"""

import difflib
import os
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

try:
    import yaml
except ImportError:  # pragma: no cover - the controller always has PyYAML (Ansible needs it)
    yaml = None  # type: ignore[assignment]

_REGISTER = re.compile(r'^\s*-?\s*register:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$', re.M)


def _load(path: str) -> Any:
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return yaml.safe_load(handle)


def _set_fact_names(node: object) -> Set[str]:
    """Names assigned by set_fact tasks anywhere in a task file."""
    names: Set[str] = set()
    if isinstance(node, list):
        for item in node:
            names |= _set_fact_names(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ('set_fact', 'ansible.builtin.set_fact') and isinstance(value, dict):
                names |= set(k for k in value if k != 'cacheable')
            elif isinstance(value, (list, dict)):
                names |= _set_fact_names(value)
    return names


def role_known_variables(role_dir: str) -> Set[str]:
    """Everything a role defines: argument_specs options, defaults, vars, registered and set_fact names."""
    known: Set[str] = set()
    specs = _load(os.path.join(role_dir, 'meta', 'argument_specs.yml')) or {}
    for entry in (specs.get('argument_specs') or {}).values():
        known |= set((entry or {}).get('options') or {})
    for name in ('defaults', 'vars'):
        data = _load(os.path.join(role_dir, name, 'main.yml'))
        if isinstance(data, dict):
            known |= set(data)
    tasks_dir = os.path.join(role_dir, 'tasks')
    if os.path.isdir(tasks_dir):
        for file_name in sorted(os.listdir(tasks_dir)):
            if not file_name.endswith(('.yml', '.yaml')):
                continue
            path = os.path.join(tasks_dir, file_name)
            with open(path) as handle:
                known |= set(_REGISTER.findall(handle.read()))
            known |= _set_fact_names(_load(path))
    return known


def role_options(role_dir: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(the options of the role's ``main`` entry point, its defaults), as written in the files."""
    specs = _load(os.path.join(role_dir, 'meta', 'argument_specs.yml')) or {}
    options = ((specs.get('argument_specs') or {}).get('main') or {}).get('options') or {}
    defaults = _load(os.path.join(role_dir, 'defaults', 'main.yml'))
    return options, defaults if isinstance(defaults, dict) else {}


def validate_values(values: Mapping[str, Any], options: Mapping[str, Dict[str, Any]]) -> List[str]:
    """Short messages for values that break the role's argument spec (type, choices): the same rules as Ansible's
    own role argument validation, without its multi-kilobyte dump of the whole spec."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    spec = dict((name, options[name]) for name in values if name in options)
    if not spec:
        return []
    for option in spec.values():  # a required option is checked by the role itself; here only given values
        option.pop('required', None)
    result = ArgumentSpecValidator(spec).validate(dict((name, values[name]) for name in spec))
    return list(result.error_messages)


def collection_roles(roles_dir: str) -> Dict[str, Set[str]]:
    """{role name: set of known variable names} for every role of the collection."""
    roles: Dict[str, Set[str]] = {}
    for name in sorted(os.listdir(roles_dir)):
        if os.path.isdir(os.path.join(roles_dir, name, 'tasks')):
            roles[name] = role_known_variables(os.path.join(roles_dir, name))
    return roles


def owning_role(name: str, roles: Iterable[str]) -> Optional[str]:
    """The role whose prefix (``<role>_``) the name carries; the longest one (maintenance_notice_x is not maintenance's)."""
    owners = [role for role in roles if name.startswith(role + '_')]
    return max(owners, key=len) if owners else None


def suggest(name: str, candidates: Iterable[str]) -> Optional[str]:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_role_variables(names: Iterable[Any], roles: Mapping[str, Set[str]],
                           allowed: Iterable[str] = ()) -> List[Tuple[str, str, Optional[str]]]:
    """[(name, role, suggestion or None)] for the names carrying a role's prefix that the role does not know."""
    allowed = set(allowed)
    found: List[Tuple[str, str, Optional[str]]] = []
    for name in sorted(set(names)):
        if not isinstance(name, str) or name in allowed:
            continue
        role = owning_role(name, roles)
        if role is not None and name not in roles[role]:
            found.append((name, role, suggest(name, roles[role])))
    return found


def unknown_thresholds(overrides: Optional[Mapping[str, Any]],
                       thresholds: Optional[Mapping[str, Any]]) -> List[Tuple[str, Optional[str]]]:
    """[(name, suggestion or None)] for override names that are not defined thresholds."""
    found: List[Tuple[str, Optional[str]]] = []
    for name in sorted(overrides or {}):
        if name not in (thresholds or {}):
            found.append((name, suggest(name, thresholds or {})))
    return found


def describe(unknown_vars: Iterable[Tuple[str, str, Optional[str]]], unknown_thresholds_found: List[Tuple[str, Optional[str]]],
             thresholds: Optional[Mapping[str, Any]]) -> str:
    """One message for everything found; empty when nothing was."""
    parts = []
    for name, role, hint in unknown_vars:
        parts.append('%s is not a variable of role %s%s' % (name, role, '; did you mean %s?' % hint if hint else
                                                            ' (see its meta/argument_specs.yml)'))
    for name, hint in unknown_thresholds_found:
        parts.append('maintenance_threshold_overrides: %s is not a threshold%s' % (name, '; did you mean %s?' % hint if hint else ''))
    if unknown_thresholds_found:
        parts.append('valid threshold names: %s' % ', '.join(sorted(thresholds or {})))
    return ' | '.join(parts)
