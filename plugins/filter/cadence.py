# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters turning the cadence table (maintenance_cadences) into AWX, systemd and cron schedules.

The documentation of each filter is in the .yml file of the same name beside this one.
"""

from ansible.errors import AnsibleFilterError
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_utc
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling import awx_config

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling import cadence
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError


def _wrap(func):
    def filter_function(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MaintenanceError as exc:
            raise AnsibleFilterError('autopilotcx.maintenance.%s: %s' % (func.__name__, exc.message))
    filter_function.__name__ = func.__name__
    filter_function.__doc__ = func.__doc__
    return filter_function


def cadence_schedules(cadences, dtstart=None, prefix=cadence.UNIT_PREFIX, include_manual=True):
    return cadence.cadence_schedules(cadences, dtstart=dtstart, prefix=prefix, include_manual=include_manual)


def awx_rrule(rrule, dtstart=None):
    return cadence.awx_rrule(rrule, dtstart)


def on_calendar(rrule, dtstart=None):
    return cadence.on_calendar(rrule, dtstart)


def cron_schedule(rrule, dtstart=None):
    return cadence.cron_schedule(rrule, dtstart)


def rrule_occurrences(rrule, count=5, after=None, dtstart=None):
    return [iso_utc(moment) for moment in cadence.occurrences(rrule, count, after, dtstart)]


def awx_objects(cadences, settings=None):
    objects = awx_config.awx_objects(cadences, settings)
    # AWX's own injector templates ('{{ dsn }}') are for AWX to fill in. ansible-core < 2.19 templates strings inside
    # variables again ('dsn' is undefined): marked unsafe, they stay as written on every ansible-core line.
    for entry in objects.get('credential_type') or []:
        if entry.get('injectors'):
            entry['injectors'] = wrap_var(entry['injectors'])
    return objects


def awx_existing_queries(objects, settings=None):
    return awx_config.existing_queries(objects, settings)


def awx_reconcile(objects, existing, settings=None):
    return awx_config.awx_reconcile(objects, existing, settings)


def awx_preflight(objects, awx_version=None):
    """The reasons awx_configure must not change anything (placeholders, awx.awx missing or too old); [] when none."""
    version = awx_version if awx_version is not None else awx_config.installed_collection_version('awx.awx')
    problems = []
    problem = awx_config.collection_problem(version)
    if problem:
        problems.append(problem)
    for where in awx_config.placeholders(objects):
        problems.append('%s still holds a placeholder address (%s): set it in awx_configure_settings'
                        % (where, awx_config.PLACEHOLDER_DOMAIN))
    return problems


class FilterModule(object):
    def filters(self):
        return {
            'cadence_schedules': _wrap(cadence_schedules),
            'awx_rrule': _wrap(awx_rrule),
            'on_calendar': _wrap(on_calendar),
            'cron_schedule': _wrap(cron_schedule),
            'rrule_occurrences': _wrap(rrule_occurrences),
            'awx_objects': _wrap(awx_objects),
            'awx_existing_queries': _wrap(awx_existing_queries),
            'awx_reconcile': _wrap(awx_reconcile),
            'awx_preflight': _wrap(awx_preflight),
        }
