# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""http_check on the controller probes inside the Ansible worker (no module process); anywhere else, and with
``in_process: false``, the module runs as usual. See the http_check module for the documentation."""

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import http_check
from ansible_collections.autopilotcx.maintenance.plugins.plugin_utils import in_process

MODULE = 'autopilotcx.maintenance.http_check'


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        if in_process.applies(self, task_vars):
            return merge_hash(result, in_process.run_backend(
                MODULE, http_check.argument_spec(), self._task.args, http_check.run, check_mode=self._task.check_mode,
                diff=self._task.diff, secrets=http_check.secrets))
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(module_name=MODULE, task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
