# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place for units of measure other than time (time is ``core.times``): byte sizes.

* ``BYTES``: the exact unit names a check's ``unit`` may carry (``KiB`` is 1024, ``MB`` is 1,000,000, as in IEC
  and SI); the metrics export converts them to bytes with this table.
* ``parse_size(value, name)``: sizes a person writes in an option (``500M``, ``2GiB``, ``10 kb``, ``1048576``).
  A bare number is bytes. Every letter multiple is binary there (``k``/``kb``/``KiB`` = 1024, ``M``/``MB``/``MiB`` =
  1024 ** 2 ...), as in find(1), logrotate and du, and as these options have always read them.

Plain Python, importable without Ansible.
"""

import math
import re
from typing import Optional

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

KIB = 1024
MIB = 1024 ** 2
GIB = 1024 ** 3
TIB = 1024 ** 4

# A check's unit -> bytes in one of it (case matters: these are the IEC and SI symbols).
BYTES = {
    'B': 1, 'bytes': 1,
    'KiB': KIB, 'MiB': MIB, 'GiB': GIB, 'TiB': TIB,
    'kB': 1000, 'MB': 1000 ** 2, 'GB': 1000 ** 3, 'TB': 1000 ** 4,
}

# What an option value's suffix means (case-insensitive): binary multiples throughout.
SIZE_SUFFIXES = {'': 1, 'b': 1, 'k': KIB, 'kb': KIB, 'kib': KIB, 'm': MIB, 'mb': MIB, 'mib': MIB,
                 'g': GIB, 'gb': GIB, 'gib': GIB, 't': TIB, 'tb': TIB, 'tib': TIB}
_SIZE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$', re.IGNORECASE)
SIZE_EXAMPLES = '500M, 2G or 1048576'


def parse_size(value: object, name: str = 'size', allow_none: bool = True) -> Optional[int]:
    """Bytes (int) from ``1048576``, ``'500M'``, ``'2GiB'``, ``'10 kb'`` (binary multiples); None stays None."""
    if value is None or value == '':
        if allow_none:
            return None
        raise MaintenanceError('%s is required' % name)
    if isinstance(value, bool):
        raise MaintenanceError('%s must be a size such as %s (a bare number is bytes), not %r' % (name, SIZE_EXAMPLES, value))
    if isinstance(value, (int, float)):
        number, unit = float(value), ''
    else:
        match = _SIZE.match(str(value))
        if not match or match.group(2).lower() not in SIZE_SUFFIXES:
            raise MaintenanceError('%s must be a size such as %s (a bare number is bytes), not %r' % (name, SIZE_EXAMPLES, value))
        number, unit = float(match.group(1)), match.group(2).lower()
    if not math.isfinite(number):
        raise MaintenanceError('%s must be a size such as %s (a bare number is bytes), not %r' % (name, SIZE_EXAMPLES, value))
    if number < 0:
        raise MaintenanceError('%s must not be negative, got %r' % (name, value))
    return int(number * SIZE_SUFFIXES[unit])
