"""Run real ``ansible-playbook`` processes against this collection, with the outcome callback enabled."""

import json
import os
import subprocess
import sys

from .paths import ROOT, ensure_collection_link, python_interpreter
from .tier import needs_service


def ansible_env(outcome_log=None, extra=None):
    """Environment for an ansible-playbook run: this collection, the venv's python, the outcome callback."""
    collections = ensure_collection_link()
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': collections,
        'ANSIBLE_PYTHON_INTERPRETER': python_interpreter(),
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_RETRY_FILES_ENABLED': 'False',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_DEPRECATION_WARNINGS': 'False',
        'ANSIBLE_LOCALHOST_WARNING': 'False',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'False',
        'ANSIBLE_CALLBACKS_ENABLED': 'autopilotcx.maintenance.outcomes',
        'ANSIBLE_ROLES_PATH': os.path.join(ROOT, 'roles'),
        'ANSIBLE_CONFIG': os.path.join(ROOT, 'tests', 'ansible.cfg'),
    })
    if outcome_log:
        env['AUTOPILOTCX_OUTCOME_LOG'] = str(outcome_log)
    env.update(extra or {})
    return env


def ansible_bin(name):
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    return candidate if os.path.exists(candidate) else name


def run_playbook(playbook, inventory=None, extra_vars=None, outcome_log=None, env=None, args=(), timeout=900, cwd=None):
    """Run ansible-playbook (one playbook or a list); returns the CompletedProcess (stdout and stderr as text)."""
    needs_service('an ansible-playbook run')
    playbooks = playbook if isinstance(playbook, (list, tuple)) else [playbook]
    command = [ansible_bin('ansible-playbook')] + [str(p) for p in playbooks]
    if inventory is not None:
        command += ['-i', str(inventory)]
    if extra_vars:
        command += ['-e', json.dumps(extra_vars)]
    command += list(args)
    return subprocess.run(command, env=ansible_env(outcome_log, env), capture_output=True, text=True, check=False,
                          timeout=timeout, cwd=cwd or ROOT)


def read_outcomes(path, kind='task'):
    with open(path) as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return [r for r in records if kind is None or r.get('kind') == kind]
