"""Every role and playbook builds its alerts the one way (issue 16): the priority from the alert_priority filter (or a
fixed one), never a Jinja copy of the rule, and a dedup key in the one format ``<role>:<subject>[:<detail>...]``."""

import glob
import os
import re

import pytest
import yaml

from tests.harness.paths import ROOT

FILES = sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'tasks', '*.yml')) + glob.glob(os.path.join(ROOT, 'playbooks', '*.yml')))


def notify_vars(node, found):
    """(name, value) of every notify_priority / notify_dedup_key set anywhere in a task file or playbook."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ('notify_priority', 'notify_dedup_key'):
                found.append((key, value))
            else:
                notify_vars(value, found)
    elif isinstance(node, list):
        for item in node:
            notify_vars(item, found)
    return found


def owner(path):
    """The role (or playbook) a file belongs to: the first segment of its dedup keys."""
    parts = os.path.relpath(path, ROOT).split(os.sep)
    return parts[1] if parts[0] == 'roles' else os.path.splitext(parts[1])[0]


ALL = [(os.path.relpath(path, ROOT), owner(path), key, value)
       for path in FILES for key, value in notify_vars(yaml.safe_load(open(path)), [])]


def test_the_scan_finds_the_alerts():
    assert len([a for a in ALL if a[2] == 'notify_dedup_key']) >= 15
    assert len([a for a in ALL if a[2] == 'notify_priority']) >= 15


@pytest.mark.parametrize('path,owner,key,value', [a for a in ALL if a[2] == 'notify_dedup_key'])
def test_dedup_keys_have_the_one_format(path, owner, key, value):
    value = str(value)
    if re.match(r'^\{\{ *[\w.]+ *\}\}$', value):   # a key a module made (maintenance_window's notices), tested there
        return
    assert value.startswith(owner + ':'), '%s: %s should start with %s:' % (path, value, owner)
    static = re.sub(r'\{\{.*?\}\}', '', value)
    assert '/' not in static and ' ' not in static and '-' not in static.split(':')[0], (path, value)


@pytest.mark.parametrize('path,owner,key,value', [a for a in ALL if a[2] == 'notify_priority'])
def test_priorities_are_fixed_or_from_the_filter(path, owner, key, value):
    value = str(value).strip()
    fixed = value in ('low', 'medium', 'high') or re.match(r'^\{\{ *[\w.]+ *\}\}$', value)
    assert fixed or 'autopilotcx.maintenance.alert_priority' in value, (
        '%s derives a priority in Jinja (%s): use the alert_priority filter' % (path, value))
    assert value != 'auto', path
