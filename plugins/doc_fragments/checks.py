# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment(object):

    # The options every check module shares (fail_on, thresholds) and the result model.
    DOCUMENTATION = r'''
options:
  fail_on:
    description:
      - The least severe worst status that fails the task.
      - C(critical) fails only when a check is critical; C(warning) also on warnings;
        C(unknown) also when a check could not be measured; C(never) never fails because of a check
        (the checks are still returned, so a later task or the outcome callback can act on them).
      - Every check always runs; a failing check never stops the others.
    type: str
    choices: [critical, warning, unknown, never]
    default: critical
  thresholds:
    description:
      - Threshold specifications by name, normally the collection's C(maintenance_thresholds) data
        (defined once in the C(autopilotcx.maintenance.maintenance) role defaults, overridden per inventory group),
        passed for all modules at once with C(module_defaults) and the C(group/autopilotcx.maintenance.checks) action group.
      - Each entry is a mapping with C(warning) and/or C(critical) limits, C(direction) (C(above) means larger is worse,
        the default; C(below) means smaller is worse), C(unit) and C(priority) (C(low), C(medium), C(high), or a mapping
        with C(warning) and C(critical) keys).
      - A check whose threshold is absent reports its measured value with status C(ok) and says that no threshold is set.
      - Each module documents the threshold names it reads.
    type: dict
    default: {}
notes:
  - Every check is returned in the collection's one result model; see the module's RV(checks) return value.
  - Before any work the module refuses, naming the option, a NUL byte in a string or path option, a path option
    naming a FIFO (reading it would block), a port outside 1-65535 (options C(port) and C(*_port)), a timeout outside
    0-2147483647 seconds (C(timeout), C(*_timeout)) and a float option that is not finite.
'''
