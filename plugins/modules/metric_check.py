#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: metric_check
short_description: Hold measured values against the collection's thresholds
version_added: 0.1.0
description:
  - Turns values you measured yourself (a registered command, an API answer, a fact) into checks of the collection's
    result model, judged against named thresholds of C(maintenance_thresholds) or limits given inline.
  - The checks are recorded by the C(autopilotcx.maintenance.outcomes) callback and appear in alerts and reviews like
    those of the built-in check modules.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
  - autopilotcx.maintenance.checks
options:
  metrics:
    description: The measured values. An empty list is refused (a check that judges nothing is not green).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Check name, for example C(app.queue_depth).
        type: str
        required: true
      value:
        description:
          - The measured value; a number or a numeric string. Empty means not measured (status C(unknown)).
          - C(nan), C(inf) and C(-inf) are not measurements; the check is C(unknown) with the reason (or C(critical)
            when an infinite value is beyond a limit), never C(ok).
        type: raw
      threshold:
        description: Name of the threshold in O(thresholds) to hold the value against.
        type: str
      limits:
        description: Inline threshold (C(warning), C(critical), C(direction), C(unit), C(priority)); overrides O(metrics[].threshold).
        type: dict
      unit:
        description: Unit shown with the value; defaults to the threshold's unit.
        type: str
      label:
        description: Words naming the quantity in the reason; defaults to the last part of O(metrics[].name).
        type: str
      target:
        description: What was measured (host, URL, queue ...).
        type: str
      error:
        description: When set, the measurement failed with this reason and the check is critical.
        type: str
attributes:
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.http_check
'''

EXAMPLES = r'''
---
- name: Measure the job queue depth
  ansible.builtin.command: /usr/local/bin/queue-depth
  register: queue
  changed_when: false
  check_mode: false

- name: Judge it
  autopilotcx.maintenance.metric_check:
    thresholds: "{{ maintenance_checks_thresholds }}"
    metrics:
      - name: app.queue_depth
        value: "{{ queue.stdout }}"
        limits: {warning: 1000, critical: 10000, unit: jobs, priority: medium}
        target: "{{ inventory_hostname }}"
  register: queue_check

- name: Show the reason
  ansible.builtin.assert:
    that: queue_check.status != 'critical'
    fail_msg: "{{ queue_check.checks[0].reason }}"
'''

RETURN = r'''
checks:
  description: One entry per metric, in the collection's result model.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Check name., type: str, returned: always, sample: app.queue_depth}
    status: {description: "C(ok), C(warning), C(critical) or C(unknown).", type: str, returned: always, sample: warning}
    value: {description: Measured value., type: raw, returned: always, sample: 1500}
    unit: {description: Unit of the value., type: str, returned: always, sample: jobs}
    threshold: {description: The limit the value was held against., type: raw, returned: always, sample: 1000}
    priority: {description: "C(low), C(medium) or C(high).", type: str, returned: always, sample: medium}
    reason: {description: One line saying why., type: str, returned: always, sample: "queue depth 1500 jobs > 1000 jobs"}
    target: {description: What was measured., type: str, returned: when given, sample: app1}
status:
  description: The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);
    C(ok) when there is no check.
  returned: always
  type: str
  sample: warning
counts:
  description: Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.
  returned: always
  type: dict
  sample: {ok: 2, warning: 1, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: ["app.queue_depth (app1)"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import (
    check_argument_spec,
    finish,
    run,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import metric_check


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            metrics=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                value=dict(type='raw'),
                threshold=dict(type='str'),
                limits=dict(type='dict'),
                unit=dict(type='str'),
                label=dict(type='str'),
                target=dict(type='str'),
                error=dict(type='str'),
            )),
        ),
        supports_check_mode=True,
    )
    report = run(module, metric_check.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
