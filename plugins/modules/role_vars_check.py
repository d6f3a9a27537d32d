#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: role_vars_check
short_description: Fails on role variables and threshold overrides that nothing defines
version_added: 0.2.0
description:
  - Compares every variable of the host whose name starts with one of this collection's role names and C(_) against
    what that role defines (its C(meta/argument_specs.yml) options, defaults, vars, registered and C(set_fact) names).
    A name the role does not know fails the task, naming the closest valid one (C(service_health_endpoint is not a
    variable of role service_health; did you mean service_health_endpoints?)).
  - Checks the values set for the options of the play's roles against their argument specs (type, choices) and
    fails with one line per bad value, before Ansible's own role validation would print the whole spec.
  - Compares the names in O(overrides) with O(thresholds); an unknown name fails the task and the valid names are listed.
  - The maintenance role runs it in every play, so every role of the collection is covered.
  - An action plugin; it runs on the controller only and never contacts the host.
options:
  allowed:
    description: Names accepted although they carry a role prefix (host patterns of the playbooks, for example).
    type: list
    elements: str
    default: []
  overrides:
    description: The threshold overrides (C(maintenance_threshold_overrides)).
    type: dict
    default: {}
  thresholds:
    description: The defined thresholds (C(maintenance_thresholds)).
    type: dict
    default: {}
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
attributes:
  platform:
    platforms: all
author:
  - AutopilotCX operations engineering (@autopilotcx)
'''

EXAMPLES = r'''
---
- name: Check that every role variable and threshold override is known
  autopilotcx.maintenance.role_vars_check:
    allowed: [maintenance_cadence]
    overrides: "{{ maintenance_threshold_overrides }}"
    thresholds: "{{ maintenance_thresholds }}"
'''

RETURN = r'''
unknown_variables:
  description: Variables with a role prefix that the role does not define.
  returned: always
  type: list
  elements: str
  sample: [service_health_endpoint]
unknown_thresholds:
  description: Names in O(overrides) that are not thresholds.
  returned: always
  type: list
  elements: str
  sample: [http_respons_time]
invalid_values:
  description: One message per option value that breaks its role's argument spec.
  returned: always
  type: list
  elements: str
  sample: ["role service_health: value of service_health_scope must be one of: play, host, got: plya"]
'''
