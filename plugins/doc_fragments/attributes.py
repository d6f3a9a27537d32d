# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment(object):

    # Attributes of every module: check mode is always supported and proven by tests.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
'''

    # For checks that only read.
    READ_ONLY = r'''
options: {}
attributes:
  check_mode:
    support: full
    details: The module only reads; check mode and a normal run do the same.
  diff_mode:
    support: none
'''
