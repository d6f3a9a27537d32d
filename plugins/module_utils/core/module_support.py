# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every module of this collection does with its checks.

Every module has the same shape: it builds its argument spec (``check_argument_spec(...)`` adds the
shared ``fail_on`` and ``thresholds`` options, documented in the ``autopilotcx.maintenance.checks`` doc
fragment), creates the ``AnsibleModule``, calls its backend's one entry through ``run`` and hands the
``Report`` it gets to ``finish``::

    report = run(module, backend.run, module.params, module.check_mode)   # host=ModuleHost(module) if needed
    finish(module, report)

``run(module, func)`` turns a ``MaintenanceError`` into ``fail_json`` in exactly one place.
"""

import os
import stat
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import option_checks
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    FAIL_ON_CHOICES,
    Report,
    ResultModelError,
    should_fail,
)

T = TypeVar('T')


def check_argument_spec(**options: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The shared ``fail_on``/``thresholds`` options plus the module's own."""
    spec: Dict[str, Dict[str, Any]] = dict(
        fail_on=dict(type='str', default='critical', choices=list(FAIL_ON_CHOICES)),
        thresholds=dict(type='dict', default={}),
    )
    spec.update(options)
    return spec


def finish(module: Any, report: object) -> None:
    """Exit with a backend's ``Report``: its warnings, its result, a failure when ``fail_on`` says so."""
    if not isinstance(report, Report):
        raise TypeError('finish takes the Report of a backend entry, not %s' % type(report).__name__)
    for warning in report.warnings:
        module.warn(warning)
    result = report.result(diff_mode=bool(getattr(module, '_diff', False)))
    if report.judged:
        fail_on = module.params.get('fail_on') or 'critical'
        if should_fail(result['status'], fail_on):
            names = ', '.join(result['failed_checks']) or ', '.join(c['name'] for c in (report.checks or []) if c['status'] != 'ok')
            module.fail_json(msg='%s check(s) at or above %s: %s' % (result['status'], fail_on, names), **result)
    module.exit_json(**result)


class ModuleHost(object):
    """What a backend may ask of the Ansible module that runs it, and nothing more.

    Passed as ``host`` to the backend entries that run commands (``run_command``, ``get_bin_path``), move files
    into place (``atomic_move``) or learn secrets the output must hide (``hide``). Tests pass their own object
    with the same methods.
    """

    def __init__(self, module: Any) -> None:
        self._module = module

    def run_command(self, argv: Sequence[str], cwd: Optional[str] = None,
                    environ_update: Optional[Mapping[str, str]] = None) -> Tuple[int, str, str]:
        """``(rc, stdout, stderr)`` of ``argv``."""
        return self._module.run_command(argv, cwd=cwd, environ_update=environ_update)

    def get_bin_path(self, name: str, *args: Any, **kwargs: Any) -> Optional[str]:
        return self._module.get_bin_path(name, *args, **kwargs)

    def atomic_move(self, src: str, dest: str, *args: Any, **kwargs: Any) -> None:
        return self._module.atomic_move(src, dest, *args, **kwargs)

    def hide(self, *values: str) -> None:
        """Mask ``values`` wherever they would appear in the module's output (Ansible's ``no_log_values``)."""
        self._module.no_log_values.update(values)


MAX_SECONDS = option_checks.MAX_SECONDS  # what every timer below us (time_t, poll, libpq) accepts


def _is_port(name: str) -> bool:
    return name == 'port' or name.endswith('_port')


def _is_timeout(name: str) -> bool:
    return name == 'timeout' or name.endswith('_timeout')


def _text_errors(label: str, value: object, is_path: bool) -> List[str]:
    if not isinstance(value, str):
        return []
    if '\x00' in value:
        return ['%s: contains a NUL byte' % label]
    if is_path:
        try:
            if stat.S_ISFIFO(os.stat(value).st_mode):  # opening it would block until a writer comes
                return ['%s: %s is a FIFO, not a file' % (label, value)]
        except (OSError, ValueError):
            pass
    return []


def _option_errors(label: str, name: str, option: Mapping[str, Any], value: object) -> List[str]:
    kind = option.get('type', 'str')
    if kind in ('str', 'path'):
        return _text_errors(label, value, kind == 'path')
    if kind == 'list' and option.get('elements') in ('str', 'path') and isinstance(value, list):
        errors: List[str] = []
        for i, item in enumerate(value):
            errors.extend(_text_errors('%s[%d]' % (label, i), item, option.get('elements') == 'path'))
        return errors
    if kind not in ('int', 'float') or isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    # the ranges live in option_checks, which also checks values inside free-form dicts: one message for both
    check: Callable[[object, str], float]
    if _is_port(name) and kind == 'int':
        check = option_checks.port
    elif _is_timeout(name):
        check = option_checks.seconds
    else:
        check = option_checks.finite
    try:
        check(value, label)
    except MaintenanceError as exc:
        return [exc.message]
    return []


def parameter_errors(argument_spec: Mapping[str, Any], params: Optional[Mapping[str, Any]], prefix: str = '') -> List[str]:
    """What no backend can take, for every option (nested ones too), each naming its option.

    NUL bytes in str/path values (no path, URL or host can hold one), path values naming a FIFO (reading
    it would block), non-finite floats, ports outside 1-65535 (options ``port``/``*_port``) and timeouts
    outside 0-2147483647 s (``timeout``/``*_timeout``); the numeric ranges and their messages are
    ``option_checks``' (``finite``, ``port``, ``seconds``).
    """
    errors = []
    for name in sorted(argument_spec):
        option = argument_spec[name]
        value = (params or {}).get(name)
        if value is None:
            continue
        label = prefix + name
        errors.extend(_option_errors(label, name, option, value))
        sub = option.get('options')
        if sub and isinstance(value, dict):
            errors.extend(parameter_errors(sub, value, label + '.'))
        elif sub and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    errors.extend(parameter_errors(sub, item, '%s[%d].' % (label, i)))
    return errors


def run(module: Any, func: Callable[..., T], *args: Any, **kwargs: Any) -> Optional[T]:
    """Call ``func``; a ``MaintenanceError``/``ResultModelError`` becomes ``fail_json`` with its message.

    Before the first call the parameters pass ``parameter_errors`` (a failure names each bad option).
    """
    if not getattr(module, '_autopilotcx_params_checked', False):
        module._autopilotcx_params_checked = True
        errors = parameter_errors(getattr(module, 'argument_spec', None) or {}, module.params)
        if errors:
            module.fail_json(msg='Invalid parameters: %s' % '; '.join(errors))
    try:
        return func(*args, **kwargs)
    except MaintenanceError as exc:
        module.fail_json(msg=exc.message, **exc.details)
    except ResultModelError as exc:
        module.fail_json(msg='Invalid threshold or check data: %s' % exc)
    return None  # fail_json does not return
