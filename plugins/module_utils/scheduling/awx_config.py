# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX / Automation Platform objects for this collection, built from the cadence table.

``awx_objects(cadences, settings)`` returns, per awx.awx module, the list of parameter dicts the
``playbooks/awx_configure.yml`` playbook passes to it (or writes to a JSON file in dry-run mode):
organization, execution environment, credential type and credential placeholders, project, inventories and
their project sources, teams, notification templates, one job template per cadence playbook, the weekly
patching workflow (staging -> health gate -> approval -> production), one schedule per scheduled cadence,
and the role assignments that limit the emergency templates to the security team.

Every key is an option of the awx.awx module it is meant for (a unit test holds them against the modules'
documentation), and nothing here repeats a schedule: the RRULEs come from ``cadence.awx_rrule``.
"""

import copy
import importlib
import json
import os

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.scheduling import cadence
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

OUTCOME_CALLBACK = 'autopilotcx.maintenance.outcomes'
WORKFLOW_CADENCE = 'weekly_patching'
# Every object this collection owns carries this in its description: a same-named object without it belongs to someone
# else and is never overwritten, and a marked job template or schedule no longer planned is removed (reconciling).
MANAGED_MARKER = '[managed by autopilotcx.maintenance awx_configure]'
MANAGED_KINDS = ('credential_type', 'credential', 'execution_environment', 'project', 'inventory',
                 'notification_template', 'job_template', 'workflow_job_template', 'schedule')
# The oldest awx.awx this playbook accepts; tested with 24.6.1 (the `ansible` 12 package) against AWX 24.6.2.dev0.
AWX_COLLECTION_MIN_VERSION = '24.0.0'
PLACEHOLDER_DOMAIN = 'example.invalid'

DEFAULT_SETTINGS = {
    'organization': 'AutopilotCX',
    'name_prefix': 'maintenance',
    'project': {
        'name': 'AutopilotCX maintenance',
        'scm_url': 'https://example.invalid/autopilotcx/maintenance.git',
        'scm_branch': 'main',
        'scm_credential': None,
    },
    'execution_environment': {
        'name': 'AutopilotCX maintenance EE',
        'image': 'registry.example.invalid/autopilotcx/maintenance-ee:0.1.0',
        'pull': 'missing',
    },
    'inventories': [
        {'name': 'staging', 'source_path': 'inventories/staging'},
        {'name': 'production', 'source_path': 'inventories/production'},
    ],
    'default_inventory': 'production',
    'machine_credential': {'name': 'AutopilotCX maintenance SSH', 'username': 'ansible'},
    'outcome_credential': {'name': 'AutopilotCX outcome recording', 'type': 'AutopilotCX outcome recording'},
    'security_team': 'Security',
    'operators_team': 'Operations',
    'notifications': [
        {'name': 'AutopilotCX maintenance failures', 'notification_type': 'webhook',
         'notification_configuration': {'url': 'https://alerts.example.invalid/awx', 'http_method': 'POST',
                                        'headers': {}, 'disable_ssl_verification': False}},
    ],
    'dtstart': cadence.DEFAULT_DTSTART,
    'forks': 50,
    'job_slice_count': {},
    'timeout': {},
    'workflow': {
        'health_gate': 'service_health',
        'staging_inventory': 'staging',
        'production_inventory': 'production',
        'approval_timeout': 3600,
    },
    'security_leads': [],
}


def merged_settings(settings):
    """DEFAULT_SETTINGS with ``settings`` merged over it (one level deep for dicts)."""
    result = copy.deepcopy(DEFAULT_SETTINGS)
    for key, value in (settings or {}).items():
        if key not in result:
            raise MaintenanceError('awx_configure settings: unknown key %r (known: %s)' % (key, ', '.join(sorted(result))))
        if isinstance(result[key], dict) and isinstance(value, dict) and key not in ('job_slice_count', 'timeout'):
            result[key].update(value)
        elif value is not None:
            result[key] = copy.deepcopy(value)
    return result


def template_name(settings, cadence_name):
    return '%s %s' % (settings['name_prefix'], cadence_name)


def _survey(settings):
    leads = [str(lead) for lead in settings.get('security_leads') or []]
    approver = {
        'question_name': 'Approving security lead',
        'question_description': 'Who approved this emergency change (guide: approval by the security team lead)',
        'variable': 'emergency_approver',
        'required': True,
        'type': 'multiplechoice' if leads else 'text',
        'min': 2,
        'max': 128,
        'default': '',
        'choices': '\n'.join(leads),
    }
    change = {
        'question_name': 'Change reference',
        'question_description': 'Ticket or change record of this emergency change; the post-mortem refers to it',
        'variable': 'emergency_change_reference',
        'required': True,
        'type': 'text',
        'min': 3,
        'max': 64,
        'default': '',
        'choices': '',
    }
    return {'name': 'Emergency change approval', 'description': 'Asked at every launch', 'spec': [approver, change]}


def awx_objects(cadences, settings=None):
    """The awx.awx module parameters for every object, keyed by module name (lists, in creation order)."""
    s = merged_settings(settings)
    org = s['organization']
    schedules = cadence.cadence_schedules(cadences, dtstart=s['dtstart'])
    by_name = dict((c['name'], c) for c in schedules)
    inventory_names = [inv['name'] for inv in s['inventories']]
    if s['default_inventory'] not in inventory_names:
        raise MaintenanceError('awx_configure: default_inventory %r is not one of the inventories %s'
                               % (s['default_inventory'], ', '.join(inventory_names)))
    flow = s['workflow']
    for key in ('staging_inventory', 'production_inventory'):
        if flow[key] not in inventory_names:
            raise MaintenanceError('awx_configure: workflow %s %r is not one of the inventories %s'
                                   % (key, flow[key], ', '.join(inventory_names)))
    if flow['health_gate'] not in by_name:
        raise MaintenanceError('awx_configure: workflow health_gate %r is not a cadence' % flow['health_gate'])
    notifications = [n['name'] for n in s['notifications']]
    ee = s['execution_environment']
    outcome = s['outcome_credential']
    machine = s['machine_credential']
    project = s['project']

    objects = {
        'organization': [{'name': org, 'state': 'present'}],
        'credential_type': [{
            'name': outcome['type'],
            'description': 'Gives the %s callback its PostgreSQL sink (DSN kept as a secret); the callback itself is '
                           'enabled by callbacks_enabled in the project ansible.cfg' % OUTCOME_CALLBACK,
            'kind': 'cloud',
            'inputs': {'fields': [{'id': 'dsn', 'type': 'string', 'label': 'Outcome database DSN', 'secret': True,
                                   'help_text': 'libpq DSN of the outcome table; empty keeps records in the job only'}],
                       'required': []},
            # AWX refuses ANSIBLE_* env injectors (CredentialTypeInjectorField): only AUTOPILOTCX_* here
            'injectors': {'env': {'AUTOPILOTCX_OUTCOME_DSN': '{{ dsn }}'}},
            'state': 'present',
        }],
        'credential': [
            {'name': machine['name'], 'organization': org, 'credential_type': 'Machine',
             'description': 'Placeholder: add the SSH key or password in AWX; this playbook never overwrites it',
             'inputs': {'username': machine['username']}, 'update_secrets': False, 'state': 'present'},
            {'name': outcome['name'], 'organization': org, 'credential_type': outcome['type'],
             'description': 'Placeholder: set the DSN of the outcome database in AWX; this playbook never overwrites it',
             'inputs': {}, 'update_secrets': False, 'state': 'present'},
        ],
        'execution_environment': [{'name': ee['name'], 'image': ee['image'], 'pull': ee['pull'], 'organization': org,
                                   'description': 'Built from execution-environment.yml of this collection',
                                   'state': 'present'}],
        'project': [dict((k, v) for k, v in {
            'name': project['name'], 'organization': org, 'scm_type': 'git', 'scm_url': project['scm_url'],
            'scm_branch': project['scm_branch'], 'scm_update_on_launch': True, 'scm_clean': True,
            'credential': project.get('scm_credential'), 'default_environment': ee['name'],
            'description': 'autopilotcx.maintenance playbooks', 'state': 'present',
        }.items() if v is not None)],
        # kind '' (a regular inventory) as AWX holds it: awx.awx compares what it sends, and an unset kind differs
        'inventory': [{'name': inv['name'], 'organization': org, 'description': 'From %s of the project' % inv['source_path'],
                       'kind': '', 'state': 'present'} for inv in s['inventories']],
        'inventory_source': [{'name': '%s from project' % inv['name'], 'inventory': inv['name'], 'organization': org,
                              'source': 'scm', 'source_project': project['name'], 'source_path': inv['source_path'],
                              'overwrite': True, 'update_on_launch': True, 'state': 'present'}
                             for inv in s['inventories']],
        'label': [{'name': label, 'organization': org, 'state': 'present'} for label in ('maintenance', 'scheduled', 'manual')],
        'team': [{'name': s['security_team'], 'organization': org, 'description': 'Launches emergency changes',
                  'state': 'present'},
                 {'name': s['operators_team'], 'organization': org, 'description': 'Launches outage response',
                  'state': 'present'}],
        'notification_template': [dict(dict({'description': 'Failures of the maintenance jobs'}, **n), organization=org,
                                       state='present') for n in s['notifications']],
    }

    templates = []
    for entry in schedules:
        name = template_name(s, entry['name'])
        template = {
            'name': name,
            'organization': org,
            'description': entry.get('description') or entry['name'],
            'project': project['name'],
            'playbook': 'playbooks/%s' % entry['playbook'],
            # AWX named URLs: awx.awx resolves a bare name across every organization and fails on two matches
            # (a second organization with its own 'production' inventory or the same credential names)
            'inventory': '%s++%s' % (s['default_inventory'], org),
            'ask_inventory_on_launch': True,
            'ask_limit_on_launch': True,
            'credentials': ['%s++Machine+ssh++%s' % (machine['name'], org),
                            '%s++%s+cloud++%s' % (outcome['name'], outcome['type'], org)],
            'execution_environment': ee['name'],
            'job_type': 'run',
            'forks': s['forks'],
            'job_slice_count': int(s['job_slice_count'].get(entry['name'], 1)),
            'allow_simultaneous': False,
            'extra_vars': {'maintenance_cadence': entry['name']},
            'labels': ['maintenance', 'scheduled' if entry['scheduled'] else 'manual'],
            'notification_templates_error': notifications,
            'state': 'present',
        }
        if entry['name'] in s['timeout']:
            template['timeout'] = int(s['timeout'][entry['name']])
        if entry.get('launched_by') == 'security_leads':
            template['survey_enabled'] = True
            template['survey_spec'] = _survey(s)
            template['ask_variables_on_launch'] = False
        templates.append(template)
    objects['job_template'] = templates

    patch_template = template_name(s, WORKFLOW_CADENCE)
    gate_template = template_name(s, flow['health_gate'])
    workflow_name = '%s %s workflow' % (s['name_prefix'], WORKFLOW_CADENCE)
    jt_ref = {'organization': {'name': org}, 'type': 'job_template'}

    def node(identifier, template, inventory, success=None):
        item = {'identifier': identifier, 'unified_job_template': dict(jt_ref, name=template),
                'inventory': {'name': inventory, 'organization': {'name': org}}}
        if success:
            item['related'] = {'success_nodes': [{'identifier': success}]}
        return item

    workflow_nodes = [
        node('patch_staging', patch_template, flow['staging_inventory'], 'health_gate_staging'),
        node('health_gate_staging', gate_template, flow['staging_inventory'], 'approve_production'),
        {'identifier': 'approve_production',
         'unified_job_template': {'name': 'Approve production patching', 'type': 'workflow_approval',
                                  'description': 'Staging is patched and healthy; approve to patch production',
                                  'timeout': int(flow['approval_timeout'])},
         'related': {'success_nodes': [{'identifier': 'patch_production'}]}},
        node('patch_production', patch_template, flow['production_inventory'], 'health_gate_production'),
        node('health_gate_production', gate_template, flow['production_inventory']),
    ]
    has_workflow = WORKFLOW_CADENCE in by_name
    objects['workflow_job_template'] = [] if not has_workflow else [{
        'name': workflow_name,
        'organization': org,
        'description': 'Weekly security patches: staging, health gate, approval, production (guide: Sunday 02:00-04:00 UTC)',
        'allow_simultaneous': False,
        'notification_templates_error': notifications,
        'notification_templates_approvals': notifications,
        'workflow_nodes': workflow_nodes,
        # awx_reconcile() keeps the nodes when AWX already holds exactly these (the module would recreate them)
        'destroy_current_nodes': True,
        'state': 'present',
    }]

    objects['schedule'] = []
    for entry in schedules:
        if not entry['scheduled']:
            continue
        target = workflow_name if entry['name'] == WORKFLOW_CADENCE else template_name(s, entry['name'])
        objects['schedule'].append({
            'name': '%s schedule' % template_name(s, entry['name']),
            'organization': org,
            'unified_job_template': target,
            'rrule': entry['awx_rrule'],
            'description': '%s (from maintenance_cadences: %s)' % (
                entry.get('description') or entry['name'], entry['rrule_normalized']),
            'enabled': True,
            'state': 'present',
        })

    security_templates = [template_name(s, e['name']) for e in schedules if e.get('launched_by') == 'security_leads']
    operator_templates = [template_name(s, e['name']) for e in schedules if e.get('launched_by') == 'operators']
    roles = []
    if security_templates:
        roles.append({'team': s['security_team'], 'role': 'execute', 'job_templates': security_templates,
                      'lookup_organization': org, 'state': 'present'})
    if operator_templates:
        roles.append({'team': s['operators_team'], 'role': 'execute', 'job_templates': operator_templates,
                      'lookup_organization': org, 'state': 'present'})
    if has_workflow:
        roles.append({'team': s['security_team'], 'role': 'approval', 'workflows': [workflow_name],
                      'lookup_organization': org, 'state': 'present'})
    objects['role'] = roles
    for kind in MANAGED_KINDS:
        for item in objects[kind]:
            item['description'] = ('%s %s' % (item.get('description') or '', MANAGED_MARKER)).strip()
    return objects


# The order in which the objects must be created (each refers only to earlier ones).
CREATION_ORDER = ('organization', 'credential_type', 'credential', 'execution_environment', 'project', 'inventory',
                  'inventory_source', 'label', 'team', 'notification_template', 'job_template', 'workflow_job_template',
                  'schedule', 'role')


# ------------------------------------------------------------------------------------------------ reconciling
# What awx_configure reads from AWX before it changes anything: per kind, the controller_api endpoint and query.
_ENDPOINTS = {
    'credential_type': 'credential_types', 'credential': 'credentials', 'execution_environment': 'execution_environments',
    'project': 'projects', 'inventory': 'inventories', 'notification_template': 'notification_templates',
    'job_template': 'job_templates', 'workflow_job_template': 'workflow_job_templates', 'schedule': 'schedules',
}


def existing_queries(objects, settings=None):
    """The controller_api lookups (endpoint, query_params) that read every object awx_configure could touch.

    Job templates, workflows and schedules are read by name prefix (so a marked one no longer planned is found),
    the others by their planned names; the workflow's nodes by the workflow's name.
    """
    s = merged_settings(settings)
    queries = {}
    for kind in MANAGED_KINDS:
        if kind in ('job_template', 'workflow_job_template', 'schedule'):
            query = {'name__startswith': s['name_prefix'] + ' '}
        else:
            query = {'name__in': ','.join(sorted(set(o['name'] for o in objects[kind])))}
        queries[kind] = {'endpoint': _ENDPOINTS[kind], 'query': query}
    for flow in objects['workflow_job_template']:
        queries['workflow_node'] = {'endpoint': 'workflow_job_template_nodes',
                                    'query': {'workflow_job_template__name': flow['name']}}
    return queries


def _owned(record):
    return MANAGED_MARKER in (record.get('description') or '')


def _organization(record):
    return ((record.get('summary_fields') or {}).get('organization') or {}).get('name')


def _node_signature(nodes):
    """A workflow's nodes as comparable tuples, from the planned workflow_nodes or from AWX's node records."""
    result = []
    if nodes and 'summary_fields' in nodes[0]:
        by_id = dict((n['id'], n.get('identifier')) for n in nodes)
        for n in nodes:
            ujt = (n.get('summary_fields') or {}).get('unified_job_template') or {}
            inventory = ((n.get('summary_fields') or {}).get('inventory') or {}).get('name')
            kind = 'workflow_approval' if ujt.get('unified_job_type') == 'workflow_approval' else ujt.get('unified_job_type')
            result.append((n.get('identifier'), ujt.get('name'), kind, inventory,
                           tuple(sorted(by_id.get(i) for i in n.get('success_nodes') or []))))
    else:
        for n in nodes or []:
            ujt = n['unified_job_template']
            kind = 'job' if ujt.get('type') == 'job_template' else ujt.get('type')
            inventory = (n.get('inventory') or {}).get('name')
            success = tuple(sorted(x['identifier'] for x in (n.get('related') or {}).get('success_nodes', [])))
            result.append((n['identifier'], ujt['name'], kind, inventory, success))
    return sorted(result)


def awx_reconcile(objects, existing, settings=None):
    """What to send, given what AWX holds (``existing``: kind -> list of API records, from existing_queries()).

    Returns ``objects`` to send (a copy), ``conflicts`` (planned names held by objects this collection does not own:
    awx_configure refuses to run), ``removed`` (marked job templates and schedules no longer planned: sent with
    ``state: absent``) and ``workflow_nodes`` (``unchanged``: the nodes are left alone, ``rebuilt``: recreated).
    """
    s = merged_settings(settings)
    org = s['organization']
    plan = copy.deepcopy(objects)
    conflicts, removed = [], []
    for kind in MANAGED_KINDS:
        planned = set(o['name'] for o in plan[kind])
        for record in existing.get(kind) or []:
            name = record.get('name')
            same_org = _organization(record) in (None, org)
            if name in planned and same_org and not _owned(record):
                conflicts.append('%s %r (id %s) exists and is not managed by awx_configure (its description lacks %s)'
                                 % (kind, name, record.get('id'), MANAGED_MARKER))
            elif kind == 'credential' and name in planned and same_org:
                # The placeholder inputs are for creation only: sent again they would replace the secrets people
                # filled in (AWX replaces the whole inputs dict; update_secrets=false does not prevent that)
                for item in plan[kind]:
                    if item['name'] == name:
                        item.pop('inputs', None)
            elif kind == 'notification_template' and name in planned and same_org:
                # awx.awx (update_secrets defaults to true) PATCHes a configuration holding $encrypted$ fields at every
                # run, and AWX's modified time moves although nothing changed: send it only when a value differs
                for item in plan[kind]:
                    if item['name'] == name and _configuration_holds(record, item):
                        item.pop('notification_configuration', None)
            elif kind == 'inventory' and name in planned and same_org:
                # awx.awx sends host_filter always (None unless given) and AWX turns a PATCHed None into '': send
                # what AWX holds, so that an inventory of a regular kind is never rewritten by a rerun
                for item in plan[kind]:
                    if item['name'] == name:
                        item['host_filter'] = record.get('host_filter')
            elif (kind in ('job_template', 'schedule') and name not in planned and _owned(record) and same_org):
                removed.append('%s %r' % (kind, name))
                plan[kind].append({'name': name, 'state': 'absent'} if kind == 'schedule'
                                  else {'name': name, 'organization': org, 'state': 'absent'})
    workflow_nodes = 'none'
    for flow in plan['workflow_job_template']:
        current = existing.get('workflow_node') or []
        if current and _node_signature(current) == _node_signature(flow['workflow_nodes']) and \
                all(_approval_matches(n, flow['workflow_nodes']) for n in current):
            flow.pop('workflow_nodes')
            flow.pop('destroy_current_nodes')
            workflow_nodes = 'unchanged'
        else:
            workflow_nodes = 'rebuilt'
    return {'objects': plan, 'conflicts': conflicts, 'removed': removed, 'workflow_nodes': workflow_nodes}


def _configuration_holds(record, item):
    """True when AWX's notification configuration already has every planned value (a secret shown as $encrypted$
    counts as equal: AWX never shows it, change it in AWX or rename the template to have it sent again)."""
    current = record.get('notification_configuration') or {}
    if record.get('notification_type') != item.get('notification_type'):
        return False
    for key, value in (item.get('notification_configuration') or {}).items():
        if key not in current or (current[key] != value and current[key] != '$encrypted$'):
            return False
    return True


def _approval_matches(record, planned_nodes):
    ujt = (record.get('summary_fields') or {}).get('unified_job_template') or {}
    if ujt.get('unified_job_type') != 'workflow_approval':
        return True
    for node in planned_nodes:
        if node['identifier'] == record.get('identifier'):
            want = node['unified_job_template']
            return ujt.get('name') == want.get('name') and ujt.get('description', want.get('description')) == \
                want.get('description') and ujt.get('timeout', want.get('timeout')) == want.get('timeout')
    return False


def placeholders(objects):
    """Where the objects still hold the collection's placeholder addresses (``example.invalid``): kind, name, key."""
    found = []

    def walk(value, where):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, where + [str(key)])
        elif isinstance(value, list):
            for item in value:
                walk(item, where)
        elif isinstance(value, str) and PLACEHOLDER_DOMAIN in value:
            found.append(' '.join(where))
    for kind in CREATION_ORDER:
        for item in objects.get(kind) or []:
            walk(dict((k, v) for k, v in item.items() if k not in ('description', 'name')),
                 ['%s %r:' % (kind, item.get('name'))])
    return found


def _version_tuple(version):
    parts = []
    for part in str(version).split('.')[:3]:
        digits = ''.join(ch for ch in part if ch.isdigit()) or '0'
        parts.append(int(digits))
    return tuple(parts + [0] * (3 - len(parts)))


def collection_problem(version, minimum=AWX_COLLECTION_MIN_VERSION, name='awx.awx'):
    """None when ``version`` of the awx.awx collection is usable, else the reason (missing or too old)."""
    if not version:
        return ('the %s collection is not installed (it ships in the `ansible` package; or '
                '`ansible-galaxy collection install %s:>=%s`)' % (name, name, minimum))
    if _version_tuple(version) < _version_tuple(minimum):
        return '%s %s is too old: awx_configure needs %s >= %s' % (name, version, name, minimum)
    return None


def installed_collection_version(name='awx.awx'):
    """The version in MANIFEST.json of an installed collection, as Ansible's collection loader finds it; '' if absent."""
    try:
        package = importlib.import_module('ansible_collections.' + name)
    except ImportError:
        return ''
    for path in list(getattr(package, '__path__', [])):
        manifest = os.path.join(path, 'MANIFEST.json')
        if os.path.exists(manifest):
            with open(manifest) as handle:
                return json.load(handle).get('collection_info', {}).get('version') or ''
    return ''
