# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The patch_apply module's entry (the planning and applying is in ``packages``)."""

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.patching.packages import APT_ENV, Host, apply_selection


def run(params, check_mode=False, host=None):
    """The patch_apply module's entry (``result.Report``); ``host`` runs the package manager.

    ``changed`` is what would change in check mode, what changed otherwise; a restart state that cannot be read
    (no needs-restarting, no /proc) is a warning as well as an unknown check.
    """
    if host is None:
        raise MaintenanceError('patch_apply needs a host that runs commands (module_support.ModuleHost)')
    p = params
    system = Host(lambda argv: host.run_command(argv, environ_update=APT_ENV), host.get_bin_path)
    result = apply_selection(system, manager=p['manager'], security_origins=p['security_origins'],
                             update_cache=p['update_cache'] and not check_mode, mode=p['mode'], include=p['include'],
                             exclude=p['exclude'], packages=p['packages'], check_mode=check_mode)
    checks = result['checks']
    warnings = [c['reason'] for c in checks if c['name'] == 'patch.restart_needed' and c['status'] == 'unknown']
    data = dict((key, value) for key, value in result.items() if key != 'checks')
    changed = bool(result['would_change'] if check_mode else result['changes'])
    return Report(checks, changed=changed, data=data, warnings=warnings)
