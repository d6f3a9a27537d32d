# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fails when a variable carries one of this collection's role prefixes but no role knows it, or when a threshold
override names no threshold. Runs on the controller only; see the role_vars_check module for the documentation."""

import os

from ansible.plugins.action import ActionBase

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import role_vars
ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'roles')


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(('allowed', 'overrides', 'thresholds'))
    _roles = None  # read once per controller process: the role files do not change during a run

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        allowed = args.get('allowed') or []
        overrides = args.get('overrides') or {}
        thresholds = args.get('thresholds') or {}
        if not isinstance(allowed, list) or not isinstance(overrides, dict) or not isinstance(thresholds, dict):
            result.update(failed=True, msg='role_vars_check: allowed must be a list, overrides and thresholds mappings')
            return result
        if ActionModule._roles is None:
            ActionModule._roles = role_vars.collection_roles(ROLES_DIR)
        task_vars = task_vars or {}
        unknown = role_vars.unknown_role_variables(task_vars.keys(), ActionModule._roles, allowed)
        bad_thresholds = role_vars.unknown_thresholds(overrides, thresholds)
        bad_values = self._bad_values(task_vars)
        result['changed'] = False
        result['unknown_variables'] = [name for name, _role, _hint in unknown]
        result['unknown_thresholds'] = [name for name, _hint in bad_thresholds]
        result['invalid_values'] = bad_values
        if unknown or bad_thresholds or bad_values:
            result['failed'] = True
            result['msg'] = ' | '.join(filter(None, [role_vars.describe(unknown, bad_thresholds, thresholds)] + bad_values))
        else:
            result['msg'] = 'every role variable and threshold override is known'
        return result

    def _bad_values(self, task_vars):
        """Values set for the options of this play's roles that break their argument specs, in one short line each."""
        in_play = set(str(name).rsplit('.', maxsplit=1)[-1] for name in task_vars.get('ansible_role_names') or [])
        messages = []
        for role in sorted(in_play & set(ActionModule._roles)):
            options, defaults = role_vars.role_options(os.path.join(ROLES_DIR, role))
            values = {}
            for name in options:
                if name not in task_vars or (name in defaults and task_vars[name] == defaults[name]):
                    continue  # unset, or the role's own default: Ansible validates those as usual
                try:
                    values[name] = self._templar.template(task_vars[name])
                except Exception:  # pylint: disable=broad-except  # a template that only renders later: the role's own check
                    continue
            messages.extend('role %s: %s' % (role, text) for text in role_vars.validate_values(values, options))
        return messages
