# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence_verify module's entry (the work is in ``evidence``)."""

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import evidence


def run(params, check_mode=False, host=None):
    """The evidence_verify module's entry (``result.Report``); recording the event in the custody log is a change."""
    result, check, changed = evidence.verify_result(params, check_mode)
    return Report([check], changed=changed, data=result)
