# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Dependency gate for third-party libraries a target host may lack.

Each library is imported once, at first use; a failed import (or a too old
version) is kept with its traceback, and ``require(module, name)`` fails the
module with Ansible's ``missing_required_lib`` message naming the minimum
version. Plain Python callers (unit tests) use ``load(name)`` which raises
``MaintenanceError`` instead.
"""

import importlib
import traceback
from types import ModuleType
from typing import Any, Dict, Optional, Tuple

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

# name -> (import name, requirement, minimum version tuple or None)
# The floors of the libraries a managed host needs are the oldest versions the supported distributions ship as
# python3-* packages (docs/support-matrix.md): cryptography 3.3 (Debian 11), redis 3.5 (Debian 11, Ubuntu 22.04).
LIBRARIES: Dict[str, Tuple[str, str, Tuple[int, ...]]] = {
    'requests': ('requests', 'requests >= 2.28', (2, 28)),
    'cryptography': ('cryptography', 'cryptography >= 3.3', (3, 3)),
    'psycopg': ('psycopg', 'psycopg >= 3.1', (3, 1)),
    'jmespath': ('jmespath', 'jmespath >= 1.0', (1, 0)),
    'dateutil': ('dateutil', 'python-dateutil >= 2.8', (2, 8)),
    'redis': ('redis', 'redis >= 3.5', (3, 5)),
    'jwt': ('jwt', 'PyJWT[crypto] >= 2.8', (2, 8)),
}

# The package that brings the library on the distributions of docs/support-matrix.md.
PACKAGES: Dict[str, str] = {
    'requests': 'python3-requests',
    'cryptography': 'python3-cryptography',
    'psycopg': 'python3-psycopg',
    'jmespath': 'python3-jmespath',
    'dateutil': 'python3-dateutil',
    'redis': 'python3-redis',
    'jwt': 'python3-jwt',
}

_Entry = Tuple[Optional[ModuleType], str, Optional[str]]
_CACHE: Dict[str, _Entry] = {}


def _version_tuple(text: object) -> Tuple[int, ...]:
    parts = []
    for piece in str(text).split('.'):
        digits = ''
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _import(name: str) -> _Entry:
    if name in _CACHE:
        return _CACHE[name]
    if name not in LIBRARIES:
        raise MaintenanceError('internal: library %r is not registered in deps.LIBRARIES' % name)
    import_name, requirement, minimum = LIBRARIES[name]
    try:
        lib = importlib.import_module(import_name)
    except Exception:  # ImportError, or a broken install raising anything else
        entry: _Entry = (None, requirement, traceback.format_exc())
    else:
        version = getattr(lib, '__version__', None)
        if version is None and import_name == 'dateutil':
            version = getattr(importlib.import_module('dateutil._version'), 'version', None)
        if minimum and version is not None and _version_tuple(version) < minimum:
            entry = (None, requirement, '%s %s is installed; %s is required' % (import_name, version, requirement))
        else:
            entry = (lib, requirement, None)
    _CACHE[name] = entry
    return entry


def available(name: str) -> bool:
    """True when the library imports and is recent enough."""
    return _import(name)[0] is not None


def load(name: str) -> Any:
    """Return the imported library or raise ``MaintenanceError`` saying what to install."""
    lib, requirement, error = _import(name)
    if lib is None:
        raise MaintenanceError('%s is required on the host running this task (the distribution package %s, or run the '
                               'task where it is installed; see docs/support-matrix.md): %s'
                               % (requirement, PACKAGES.get(name, name), (error or '').strip().splitlines()[-1]))
    return lib


def require(module: Any, *names: str) -> Any:
    """Fail ``module`` with ``missing_required_lib`` unless every library is usable; return them."""
    libs = []
    for name in names:
        lib, requirement, error = _import(name)
        if lib is None:
            module.fail_json(msg=missing_required_lib(requirement), exception=error)
        libs.append(lib)
    return libs[0] if len(libs) == 1 else tuple(libs)
