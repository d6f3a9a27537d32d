#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: maintenance_window
short_description: Tell whether now is inside a maintenance window, when it ends and which notices are due
version_added: 0.1.0
description:
  - Evaluates the maintenance windows of the inventory (C(maintenance_windows)) at a moment - whether it is inside a
    window, when that window ends, the cutoff after which no new rollout batch may start, the next windows and the
    notices that are due.
  - Windows are iCalendar RRULEs (for example C(FREQ=MONTHLY;BYDAY=-1SU;BYHOUR=2;BYMINUTE=0), the last Sunday of the
    month at 02:00) or explicit start dates, each with a duration, an IANA time zone and a notice period.
  - RRULEs are evaluated with python-dateutil in the wall-clock time of the window's zone (zoneinfo), so a window at
    02:00 local stays at 02:00 local across DST changes. A start inside a DST gap moves to the first instant after
    the gap; an ambiguous start takes its first occurrence. The duration is elapsed time.
  - Runs anywhere; the playbooks run it once on the control node.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
  - autopilotcx.maintenance.checks
options:
  windows:
    description:
      - Window definitions by name, usually C(maintenance_windows). Each has C(rrule) or C(dates) (local ISO start
        times), C(duration) (C(90m), C(2h), C(14d), C(1w)), C(timezone) (default C(UTC)), C(notice) (C(24h), C(14d))
        and C(impact).
      - In C(duration) and C(notice) a bare number is minutes (a C(duration) of C(90) is 90 minutes), unlike the other
        duration options of this collection, which read seconds; write the unit to be clear.
      - An C(rrule) may fire at most hourly (C(FREQ=SECONDLY) and C(FREQ=MINUTELY) are refused) and start at most
        10000 times within O(horizon_days).
    type: dict
    required: true
  names:
    description: Only consider these windows (for example C([weekly])); all of them when empty.
    type: list
    elements: str
    default: []
  now:
    description:
      - The moment to evaluate, ISO 8601 (C(2026-11-29T02:30:00Z); without a zone it is UTC). The current time when
        unset. Meant for tests and for planning.
    type: str
  batch_cutoff_minutes:
    description: No new batch may start later than this many minutes before the window ends (0 to 527040, 366 days).
    type: int
    default: 30
  count:
    description: How many upcoming windows to return.
    type: int
    default: 3
  horizon_days:
    description: How far ahead to look for upcoming windows; 1 to 36600.
    type: int
    default: 400
  notice_grace:
    description:
      - A notice is returned in RV(notices_due) when its due time fell within this period before O(now). Set it to
        the interval of the notice job (daily by default) so each notice goes out exactly once.
      - A duration such as C(24h) or C(1d). A bare number is minutes, as in a window's C(duration) and C(notice).
    type: str
    default: 24h
requirements:
  - python-dateutil >= 2.8 (for RRULEs)
attributes:
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - name: RFC 5545 recurrence rules
    description: The RRULE syntax used for the windows.
    link: https://www.rfc-editor.org/rfc/rfc5545#section-3.3.10
'''

EXAMPLES = r'''
---
- name: Where are we relative to the weekly window?
  autopilotcx.maintenance.maintenance_window:
    windows: "{{ maintenance_windows }}"
    names: [weekly]
    batch_cutoff_minutes: 30
  register: window
  delegate_to: localhost
  run_once: true

- name: Refuse to start outside the window
  ansible.builtin.assert:
    that: window.batch_allowed
    fail_msg: "{{ window.checks[0].reason }}"

- name: Evaluate a fixed moment (the last Sunday of November 2026, 02:30 UTC)
  autopilotcx.maintenance.maintenance_window:
    windows: "{{ maintenance_windows }}"
    now: "2026-11-29T02:30:00Z"
  register: planned
'''

RETURN = r'''
now:
  description: The moment evaluated (UTC).
  returned: always
  type: str
  sample: "2026-11-29T02:30:00Z"
inside:
  description: Whether the moment is inside one of the windows.
  returned: always
  type: bool
  sample: true
window:
  description: Name of the open window (the one ending last when several overlap), or null.
  returned: always
  type: str
  sample: monthly
current:
  description: The open occurrence (name, start, end, cutoff, start_local, end_local, timezone, notice_due, impact), or null.
  returned: always
  type: dict
  sample: {name: monthly, start: "2026-11-29T02:00:00Z", end: "2026-11-29T06:00:00Z", cutoff: "2026-11-29T05:30:00Z"}
ends_at:
  description: When the open window ends (UTC), or null.
  returned: always
  type: str
  sample: "2026-11-29T06:00:00Z"
cutoff:
  description: The last moment a new batch may start (UTC), or null.
  returned: always
  type: str
  sample: "2026-11-29T05:30:00Z"
batch_allowed:
  description: Inside a window and before its cutoff.
  returned: always
  type: bool
  sample: true
minutes_left:
  description: Minutes until the open window ends (0 outside).
  returned: always
  type: float
  sample: 210.0
next_windows:
  description: The next O(count) window starts after the moment, same keys as RV(current).
  returned: always
  type: list
  elements: dict
  sample: [{name: weekly, start: "2026-12-06T02:00:00Z", end: "2026-12-06T04:00:00Z", notice_due: "2026-12-05T02:00:00Z"}]
notices_due:
  description: Upcoming occurrences whose notice became due within O(notice_grace) before the moment, with a C(dedup_key).
  returned: always
  type: list
  elements: dict
  sample: [{name: quarterly, start: "2027-01-16T02:00:00Z", notice_due: "2027-01-02T02:00:00Z",
            dedup_key: "maintenance_notice:quarterly:2027-01-16T02:00:00Z"}]
checks:
  description: One informational C(maintenance_window.open) check (status C(ok)); its value says whether a batch may start, its reason why.
  returned: always
  type: list
  elements: dict
  sample: [{name: maintenance_window.open, status: ok, value: true, reason: "inside the weekly window until ..."}]
status:
  description: The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);
    C(ok) when there is no check.
  returned: always
  type: str
  sample: ok
counts:
  description: Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.
  returned: always
  type: dict
  sample: {ok: 1, warning: 0, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import (
    check_argument_spec,
    finish,
    run,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling import maintenance_window


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            windows=dict(type='dict', required=True),
            names=dict(type='list', elements='str', default=[]),
            now=dict(type='str'),
            batch_cutoff_minutes=dict(type='int', default=30),
            count=dict(type='int', default=3),
            horizon_days=dict(type='int', default=400),
            notice_grace=dict(type='str', default='24h'),
        ),
        supports_check_mode=True,
    )
    report = run(module, maintenance_window.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
