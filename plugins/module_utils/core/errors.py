# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one exception type of this collection.

Logic in module_utils raises ``MaintenanceError`` for problems the user must fix
(bad input, missing tool); ``module_support.run`` turns it into
``fail_json`` in one place. Problems with a *target* (unreachable, refused,
corrupt) are not errors: they are check results with a reason.
"""

from typing import Any


class MaintenanceError(Exception):
    """A problem the caller must fix; the message says what was being done and why it failed."""

    def __init__(self, message: str, **details: Any) -> None:
        super(MaintenanceError, self).__init__(message)
        self.message = message
        self.details = details
