# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A read-only check run inside the controller's Ansible worker, exactly as its module would run it.

A module task costs a process start, the AnsiballZ payload's unpacking and the imports before the first probe
(about 0.25 s on a 2-core machine, more than blackbox_exporter needs for 500 endpoints). When the task runs on the
controller anyway (connection ``local``, no become, no ``environment``, no ``async``, and the task's interpreter is
the controller's own Python or left to discovery), the action plugin of such a
module calls the same backend entry here instead, through the same ``module_support.run`` and ``finish``:

* the arguments are validated with the module's own argument spec (Ansible's ``ArgumentSpecValidator``, the
  validator ``AnsibleModule`` uses), and fail with the message the module would give;
* the values of ``no_log`` options and the secrets the backend declares are masked in the whole result, as
  ``exit_json`` masks them;
* the result is normalised through JSON, as a module's output is, and carries the same ``invocation``.

Anything else (a remote host, become, an environment, async, another interpreter set for the task, or
``in_process: false``) runs the module as usual.
"""

import json
import os
import sys

from ansible import constants as C

from ansible.module_utils.common.arg_spec import ModuleArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import jsonify
from ansible.module_utils.errors import UnsupportedError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import ModuleHost, finish, run

# connection plugins that run the module on the controller itself (their ``transport``)
LOCAL_TRANSPORTS = ('local', 'ansible.builtin.local')


class _Exit(Exception):
    """Raised by ``exit_json``/``fail_json``: carries the finished result out of ``run``/``finish``."""

    def __init__(self, result):
        super(_Exit, self).__init__('module exit')
        self.result = result


class InProcessModule(object):
    """The part of ``AnsibleModule`` that ``module_support.run``/``finish`` and ``ModuleHost.hide`` use.

    ``exit_json``/``fail_json`` raise ``_Exit`` with the result as the module would print it; ``error`` is the
    message the module would fail with for these arguments (None when they are valid).
    """

    def __init__(self, name, argument_spec, args, check_mode=False, diff=False):
        self.argument_spec = argument_spec
        self.check_mode = bool(check_mode)
        self._diff = bool(diff)
        self.no_log_values = set()
        self._warnings = []
        self.params = dict(args or {})
        validated = ModuleArgumentSpecValidator(argument_spec).validate(self.params)
        self.params.update(validated.validated_parameters)
        self.no_log_values.update(validated._no_log_values)
        self.error = None
        if validated.error_messages:
            message = validated.errors.msg
            if isinstance(validated.errors[0], UnsupportedError):
                message = 'Unsupported parameters for (%s) module: %s' % (name, message)
            self.error = message

    def warn(self, message):
        self._warnings.append(str(message))

    def exit_json(self, **result):
        raise _Exit(self._formatted(result))

    def fail_json(self, msg, **result):
        result['failed'] = True
        result['msg'] = msg
        raise _Exit(self._formatted(result))

    def _formatted(self, result):
        if 'invocation' not in result:
            result['invocation'] = {'module_args': self.params}
        if self._warnings:
            result['warnings'] = list(result.get('warnings') or []) + self._warnings
        result = remove_values(result, self.no_log_values)
        # what a module prints is JSON: the same types (lists, not tuples or sets; ISO text, not datetimes) here
        return json.loads(jsonify(result))


def applies(action, task_vars=None):
    """Whether an action plugin's task may run its backend here: on the controller, with the controller's own Python
    (the task's interpreter left to discovery or set to this one), and with nothing (become, an environment, async)
    that only a module process would honour."""
    task = action._task
    if not boolean(task.args.get('in_process', True), strict=False):
        return False
    if getattr(action._connection, 'transport', None) not in LOCAL_TRANSPORTS:
        return False
    if action._play_context.become or task.async_val:
        return False
    if _has_environment(task.environment):
        return False
    return _same_python(_interpreter(action, task_vars or {}))


def _interpreter(action, task_vars):
    """The Python the module would run with: ``ansible_python_interpreter`` (the delegated host's when the task is
    delegated, as ``_execute_module`` reads it), else the ``INTERPRETER_PYTHON`` setting."""
    delegate = action._task.delegate_to
    if delegate:
        task_vars = (task_vars.get('ansible_delegated_vars') or {}).get(delegate) or {}
    value = task_vars.get('ansible_python_interpreter')
    if value is None:
        try:
            value = C.config.get_config_value('INTERPRETER_PYTHON', variables=task_vars)
        except Exception:  # pylint: disable=broad-except  # an unreadable setting: the module path decides
            return None
    if isinstance(value, str) and '{{' in value:
        value = action._templar.template(value)
    return value


def _same_python(interpreter):
    if interpreter is None:
        return False
    text = str(interpreter).strip()
    if text.startswith('auto'):
        return True  # discovery: a Python of this same host; the controller's is one of them
    # the same interpreter, under any of its names in the same bin directory (a venv's python, python3, python3.11),
    # but not the system Python a venv's interpreter links to: that one has other libraries
    given, own = os.path.abspath(text), os.path.abspath(sys.executable)
    return (os.path.realpath(os.path.dirname(given)) == os.path.realpath(os.path.dirname(own))
            and os.path.realpath(given) == os.path.realpath(own))


def _has_environment(environment):
    """Whether the task's ``environment`` sets anything (a list of mappings, a mapping, or an unrendered template)."""
    return any(environment) if isinstance(environment, (list, tuple)) else bool(environment)


def run_backend(name, argument_spec, args, entry, check_mode=False, diff=False, secrets=None):
    """The result of ``entry`` (a backend's ``run(params, check_mode, host)``) for ``args``, as module ``name``
    would return it; ``secrets(params)`` gives the values to mask before anything runs (the module's
    ``module.no_log_values.update(backend.secrets(module.params))``)."""
    module = InProcessModule(name, argument_spec, args, check_mode=check_mode, diff=diff)
    try:
        if module.error:
            module.fail_json(msg=module.error)
        if secrets is not None:
            module.no_log_values.update(secrets(module.params))
        report = run(module, entry, module.params, module.check_mode, host=ModuleHost(module))
        finish(module, report)
    except _Exit as done:
        return done.result
    raise RuntimeError('%s: finish returned without a result' % name)  # finish always exits
