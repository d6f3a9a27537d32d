# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Range checks for options that reach the standard library as numbers: ports, timeouts, epoch times.

``smtplib`` with port 99999, ``socket`` with a negative timeout, ``time.gmtime(1e20)``: each raises deep inside
the library with a message that names no option. These checks run first and raise ``MaintenanceError`` with a
message that names the option and the accepted range. Plain Python, importable without Ansible.

The ranges live here only: ``module_support.parameter_errors`` applies the same functions to every argument-spec
option named ``port``/``*_port`` and ``timeout``/``*_timeout``, so a value in a free-form dict and a module option
get the same message.
"""

import math
from typing import Optional

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

# The last second of 9999-12-31 UTC: the largest time ``datetime`` and ``time.strftime`` can show.
MAX_EPOCH = 253402300799
# The longest wait every timer below us (time_t, poll, libpq) accepts, in seconds.
MAX_SECONDS = 2147483647


def _number(value: object, name: str) -> float:
    if isinstance(value, bool):
        raise MaintenanceError('%s must be a number, not %r' % (name, value))
    try:
        number = float(value)  # type: ignore[arg-type]  # what float() refuses is reported below
    except (TypeError, ValueError):
        raise MaintenanceError('%s must be a number, not %r' % (name, value))
    if not math.isfinite(number):
        raise MaintenanceError('%s must be a finite number, not %r' % (name, value))
    return number


def finite(value: object, name: str) -> float:
    """Any finite number."""
    return _number(value, name)


def port(value: object, name: str = 'port') -> int:
    """A TCP port: an integer 1-65535."""
    number = _number(value, name)
    if number != int(number) or not 1 <= number <= 65535:
        raise MaintenanceError('%s must be a port number between 1 and 65535, not %r' % (name, value))
    return int(number)


def positive(value: object, name: str, maximum: Optional[float] = None) -> float:
    """A number greater than 0 (a timeout, a rate), at most ``maximum`` when given."""
    number = _number(value, name)
    if number <= 0:
        raise MaintenanceError('%s must be greater than 0, not %r' % (name, value))
    if maximum is not None and number > maximum:
        raise MaintenanceError('%s must be at most %s, not %r' % (name, maximum, value))
    return number


def seconds(value: object, name: str, maximum: float = MAX_SECONDS) -> float:
    """A number of seconds to wait: 0 (where 0 means "no wait" or "no limit") up to ``maximum``."""
    number = _number(value, name)
    if not 0 <= number <= maximum:
        raise MaintenanceError('%s must be a number of seconds between 0 and %d, not %r' % (name, maximum, value))
    return number


def epoch(value: object, name: str) -> float:
    """Seconds since 1970-01-01 UTC, up to the end of year 9999."""
    number = _number(value, name)
    if not 0 <= number <= MAX_EPOCH:
        raise MaintenanceError('%s must be seconds since 1970-01-01 UTC between 0 and %d (the end of year 9999), '
                               'not %r' % (name, MAX_EPOCH, value))
    return number
