"""Roles set the checks' shared options once (issue 16): `module_defaults` for the
`group/autopilotcx.maintenance.checks` action group, never `thresholds:` / `fail_on: never` repeated on each task.

The effective options of every check task are worked out the way Ansible does (block and import keywords inherited,
module_defaults merged outside in, the task's own arguments last) from every entry point of every role: `main.yml`
and the files called with `tasks_from`. The behaviour is pinned: every check records (fail_on never) and is judged
against the collection's thresholds, except the tasks named below, which fail the host on a critical check."""

import glob
import os

import pytest
import yaml

from tests.harness.paths import ROOT

GROUP = yaml.safe_load(open(os.path.join(ROOT, 'meta', 'runtime.yml')))['action_groups']['checks']
PREFIX = 'autopilotcx.maintenance.'
THRESHOLDS = '{{ maintenance_checks_thresholds }}'
# Entry points other than main.yml (tasks_from in playbooks/ and tests/).
ENTRY_POINTS = ['security_incident/release.yml', 'patch_rollout/record.yml', 'patch_rollout/promotion.yml']
# Check tasks that fail the host on a critical check (the module's default before issue 16, now said explicitly).
FAIL_ON = {
    ('data_fix', 'Record what the correction did'): 'critical',
    ('emergency_approval', 'Record the approval in the outcome log and as a JSON file'): 'critical',
    ('patch_rollout', 'Plan the selection (simulated, nothing changes)'): 'critical',
    ('patch_rollout', 'Plan the pinned packages (simulated)'): 'critical',
    ('patch_rollout', 'Require a recent staging verification of the same package set'): 'critical',
    ('patch_rollout', 'Apply the planned package set'): 'critical',
    ('patch_rollout', 'Apply the pinned packages'): 'critical',
    ('patch_rollout', 'Record that staging verified this package set'): 'critical',
    ('notify', 'Send the alert through the configured channels'): '{{ notify_fail_on }}',
}
# Modules that read `thresholds` (the others take the shared option and ignore it).
READ_THRESHOLDS = {'backup_verify', 'cache_check', 'dependency_audit', 'file_cleanup', 'http_check', 'log_scan',
                   'logrotate_check', 'metric_check', 'patch_facts', 'pg_check', 'pg_maintenance', 'resource_check',
                   'security_scan', 'session_cleanup', 'tls_check', 'token_check'}


def load(role, name):
    with open(os.path.join(ROOT, 'roles', role, 'tasks', name)) as handle:
        return yaml.safe_load(handle) or []


def module_of(task):
    for key in task:
        if key.startswith(PREFIX) and key[len(PREFIX):] in GROUP:
            return key[len(PREFIX):]
    return None


def walk(role, tasks, defaults, found, seen):
    for task in tasks:
        here = dict(defaults)
        here.update((task.get('module_defaults') or {}).get('group/' + PREFIX + 'checks') or {})
        for key in ('block', 'rescue', 'always'):
            walk(role, task.get(key) or [], here, found, seen)
        for key in ('ansible.builtin.import_tasks', 'ansible.builtin.include_tasks'):
            if key in task:
                name = task[key] if isinstance(task[key], str) else task[key]['file']
                if '{{' not in name and name not in seen:
                    walk(role, load(role, name), here, found, seen | {name})
        module = module_of(task)
        if module:
            effective = dict(here)
            effective.update(task[PREFIX + module] or {})
            found.append((role, task.get('name'), module, effective, task[PREFIX + module] or {}))
    return found


def check_tasks():
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'tasks', 'main.yml'))):
        role = path.split(os.sep)[-3]
        walk(role, load(role, 'main.yml'), {}, found, {'main.yml'})
    for entry in ENTRY_POINTS:
        role, name = entry.split('/')
        walk(role, load(role, name), {}, found, {name})
    return found


TASKS = check_tasks()


def test_the_walk_finds_the_check_tasks():
    assert len(TASKS) >= 50 and {t[0] for t in TASKS} >= {'service_health', 'patch_rollout', 'security_incident'}
    assert set(FAIL_ON) <= {(t[0], t[1]) for t in TASKS}


@pytest.mark.parametrize('role,name,module,effective,own', TASKS)
def test_every_check_records_and_is_judged_against_the_thresholds(role, name, module, effective, own):
    assert effective.get('fail_on', 'critical') == FAIL_ON.get((role, name), 'never'), (role, name)
    if module in READ_THRESHOLDS:
        assert effective.get('thresholds') == THRESHOLDS, (role, name)


@pytest.mark.parametrize('role,name,module,effective,own', TASKS)
def test_no_task_repeats_what_module_defaults_says(role, name, module, effective, own):
    assert 'thresholds' not in own and own.get('fail_on') != 'never', (role, name)
