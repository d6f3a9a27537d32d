# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
name: outcome_settings
short_description: Where the outcomes callback writes - the one setting every reader of the history uses
version_added: 0.2.0
description:
  - Returns a setting of the outcome store as the C(autopilotcx.maintenance.outcomes) callback resolves it -
    E(AUTOPILOTCX_OUTCOME_LOG) (and the other E(AUTOPILOTCX_OUTCOME_*) variables), else the
    C([autopilotcx_outcomes]) section of the C(ansible.cfg) in effect, else the default.
  - The roles set C(maintenance_outcome_log) from it, so reviews, the promotion gate and the incident records read
    and write beside what the callback writes.
  - C(pg_dsn) returns whether a DSN is set (C(true)/C(false)), never the DSN itself.
options:
  _terms:
    description: Settings to return, C(path), C(pg_table), C(pg_schema), C(pg_dsn), C(config_file) or C(origin_path).
    type: list
    elements: str
    required: true
'''

EXAMPLES = r'''
---
- name: Where are the outcome records?
  ansible.builtin.debug:
    msg: "{{ lookup('autopilotcx.maintenance.outcome_settings', 'path') }}"
'''

RETURN = r'''
_raw:
  description: One value per term.
  type: list
  elements: raw
'''

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.settings import export_controller_config, resolve


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        config_file = getattr(C, 'CONFIG_FILE', None) or None
        export_controller_config(config_file)    # for the modules this controller runs locally
        settings = resolve(config_file=config_file)
        values = []
        for term in terms:
            if term == 'pg_dsn':
                values.append(bool(settings['pg_dsn']))
            elif term == 'origin_path':
                values.append(settings['origin']['path'])
            elif term in ('path', 'pg_table', 'pg_schema', 'config_file'):
                values.append(settings[term])
            else:
                raise AnsibleError('outcome_settings: unknown setting %r (path, pg_table, pg_schema, pg_dsn, config_file, '
                                   'origin_path)' % term)
        return values
