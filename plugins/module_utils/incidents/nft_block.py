# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nft_block module's entry: block addresses through ``nft`` (the work is in ``nft``)."""

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import nft


def run(params, check_mode=False, host=None):
    """The nft_block module's entry (``result.Report``); ``commands`` lists what ran (or would run)."""
    runner = nft.Runner(prefix=params['command_prefix'])
    result, check = nft.block_result(runner, params, check_mode)
    data = dict((key, value) for key, value in result.items() if key != 'changed')
    data['commands'] = runner.commands
    return Report([check], changed=result['changed'], data=data)
