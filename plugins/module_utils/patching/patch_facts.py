# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The patch_facts module's entry (the facts are gathered in ``packages``)."""

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.patching.packages import APT_ENV, Host, gather_facts


def run(params, check_mode=False, host=None):
    """The patch_facts module's entry (``result.Report``); ``host`` runs the package manager (no cache update in check mode)."""
    if host is None:
        raise MaintenanceError('patch_facts needs a host that runs commands (module_support.ModuleHost)')
    p = params
    system = Host(lambda argv: host.run_command(argv, environ_update=APT_ENV), host.get_bin_path)
    facts, checks = gather_facts(system, p['manager'], p['security_origins'], p['update_cache'] and not check_mode,
                                 p['thresholds'])
    return Report(checks, data=facts)
