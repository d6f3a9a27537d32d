"""No module of the collection returns a top-level key that Ansible reads for itself.

Ansible's TaskResult reads ``skipped``, ``failed``, ``changed``, ``unreachable`` and the loop key ``results`` from any
result, the executor turns a non-zero ``rc`` into a failure, and callbacks and the strategy treat ``skip_reason``,
``invocation``, ``msg``, ``censored``, ``ansible_facts``, ``_ansible_*`` ... as their own. A module that returned, say,
a list of packages under ``skipped`` made every run that left one package alone show as SKIPPED, with no ``changed``
and no diff (issue 24). The documented RETURN of every module is parsed here; the patching tests check real results
against the same list (``reserved_keys()``).
"""

import ast
import os

import pytest
import yaml

from tests.harness.module_specs import MODULES_DIR, module_names

# Keys a module may return with Ansible's own meaning: set by module_support.finish (changed) or the diff protocol.
STANDARD = frozenset(('changed', 'diff'))

# Kept by ansible-core outside the constants below (task_executor, TaskResult, callbacks, async, loops, registration).
ANSIBLE_KEYS = frozenset((
    'skipped', 'skip_reason', 'failed', 'failed_when_result', 'changed_when_result', 'unreachable', 'invocation',
    'results', 'rc', 'msg', 'censored', 'exception', 'warnings', 'deprecations', 'attempts', 'retries',
    'module_stdout', 'module_stderr', 'parsed', 'ansible_job_id', 'started', 'finished', 'results_file',
    'ansible_facts', 'ansible_stats', 'item', 'ansible_loop_var', 'ansible_index_var', 'ansible_loop',
    'changed', 'diff', 'stdout', 'stderr', 'stdout_lines', 'stderr_lines',
))

# Modules another change is reworking; strict: the marker must go when the key does.
KNOWN = {}


def reserved_keys():
    """Top-level result keys Ansible reserves, from ansible-core itself where it names them, plus ANSIBLE_KEYS."""
    from ansible import constants
    from ansible.executor import task_result
    keys = set(ANSIBLE_KEYS)
    keys.update(getattr(task_result, '_IGNORE', ()))
    keys.update(k for k in getattr(task_result, '_PRESERVE', ()) if not k.startswith('_'))
    keys.update(constants.INTERNAL_RESULT_KEYS)
    keys.update(constants.RESTRICTED_RESULT_KEYS)
    return frozenset(keys)


def misused(keys):
    """The keys of a result (or RETURN doc) that Ansible reserves and that are not used with Ansible's meaning."""
    return sorted(k for k in keys if (k in reserved_keys() and k not in STANDARD) or str(k).startswith('_ansible'))


def documented_return(name):
    with open(os.path.join(MODULES_DIR, name + '.py')) as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == 'RETURN' for t in node.targets):
            return yaml.safe_load(node.value.value) or {}
    raise AssertionError('%s has no RETURN documentation' % name)


def test_the_reserved_list_knows_what_ansible_reads():
    keys = reserved_keys()
    assert {'skipped', 'failed', 'changed', 'unreachable', 'results', 'skip_reason', 'invocation', 'rc'} <= keys
    assert {'add_host', 'ansible_facts'} <= keys


@pytest.mark.parametrize('name', [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN[n])) if n in KNOWN else n
    for n in module_names()])
def test_return_documentation_uses_no_reserved_key(name):
    documented = documented_return(name)
    assert documented, name
    assert misused(documented) == [], '%s documents result keys Ansible reserves' % name
