# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an alert is before it is sent: its priority and its deduplication key.

* ``alert_priority(checks, statuses, default)`` is the one rule every role and the ``notify`` module
  (``priority: auto``) use: the highest priority among the checks that fire. The priority a check carries comes
  from the threshold data (``maintenance_thresholds``), so the data decides, never a copy of the rule in Jinja.
* A deduplication key is ``<role>:<subject>[:<detail>...]``: segments joined by ``:``, the first the name of the
  role (or playbook) that sends it, with ``_`` as in the role's name. The key is compared whole, never parsed.
  ``legacy_dedup_keys(key)`` gives the forms the collection used for the same alert before that format, so a
  condition that fired before an upgrade is still deduplicated after it (see ``StateStore.lookup``).

Plain Python (stdlib only): unit tests and the ``alert_priority`` filter call it without a module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    CRITICAL,
    PRIORITIES,
    STATUSES,
    WARNING,
)

FIRING = (WARNING, CRITICAL)
DEDUP_KEY_SEPARATOR = ':'

# Old key (a prefix, or eda's dashes) -> the key in the one format. Each pair: (new prefix, old prefix).
_RENAMED_PREFIXES = (
    ('security_monitoring:', 'security_monitoring/'),
    ('patch_rollout:stopped:', 'patch-rollout-stopped:'),
    ('patch_summary:', 'patch-summary:'),
    ('emergency_approval:', 'emergency:'),
    ('maintenance_notice:', 'maintenance-notice:'),
)
# eda_respond:<kind>:<host>:<address> was eda-<kind with dashes>-<host>-<address>
_EDA_KINDS = {'eda_respond:auth_log:': 'eda-auth-log-', 'eda_respond:approval:': 'eda-approval-'}


def alert_priority(checks, statuses=FIRING, default='medium'):
    """The priority of an alert about ``checks``: the highest priority among those whose status is in ``statuses``.

    ``default`` when none of them fires. A firing check without a priority counts as ``default``; a priority that is
    not low, medium or high is an error naming the check (an alert must not be routed by a guess).
    """
    statuses = list(statuses or FIRING)
    for status in statuses:
        if status not in STATUSES:
            raise MaintenanceError('statuses: each must be one of %s, not %r' % (', '.join(STATUSES), status))
    if default not in PRIORITIES:
        raise MaintenanceError('default: must be one of %s, not %r' % (', '.join(PRIORITIES), default))
    best = None
    for index, check in enumerate(checks or []):
        if not isinstance(check, dict):
            raise MaintenanceError('checks[%d]: a check is a mapping with name, status and priority, not %r'
                                   % (index, type(check).__name__))
        if check.get('status') not in statuses:
            continue
        priority = check.get('priority') or default
        if priority not in PRIORITIES:
            raise MaintenanceError('checks[%d] (%s): priority must be one of %s, not %r'
                                   % (index, check.get('name'), ', '.join(PRIORITIES), priority))
        if best is None or PRIORITIES.index(priority) > PRIORITIES.index(best):
            best = priority
    return best or default


def legacy_dedup_keys(key):
    """The keys the collection's roles used for the alert that ``key`` names before the one format (may be empty)."""
    key = str(key or '')
    found = []
    for new, old in _RENAMED_PREFIXES:
        if key.startswith(new) and len(key) > len(new):
            found.append(old + key[len(new):])
    for new, old in _EDA_KINDS.items():
        rest = key[len(new):]
        if key.startswith(new) and DEDUP_KEY_SEPARATOR in rest:
            host, address = rest.split(DEDUP_KEY_SEPARATOR, 1)
            found.append('%s%s-%s' % (old, host, address))
    return found
