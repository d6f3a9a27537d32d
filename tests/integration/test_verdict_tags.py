"""Verdicts and alerts always run: a tag that selects a role reaches the tasks it includes dynamically.

`include_role`/`include_tasks` are dynamic: the included tasks do not inherit the tags of the include task, so
`ansible-playbook health_check.yml --tags service_health` used to run the probe, skip the verdict and end rc 0 on a
refused endpoint (a silent green). Every dynamic include in roles/ now applies `tags: [always]` to what it includes;
the include itself is selected by the role's tags as before.
"""

import json
import os

import pytest
import yaml

from tests.harness.ansible_run import run_playbook
from tests.harness.net import free_port
from tests.harness.paths import ROOT

DYNAMIC = ('ansible.builtin.include_role', 'ansible.builtin.include_tasks', 'include_role', 'include_tasks')


def _tasks(node):
    """Every task dict in a task list, blocks included."""
    for task in node or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ('block', 'rescue', 'always'):
            yield from _tasks(task.get(key))


def dynamic_includes():
    found = []
    for dirpath, _dirs, files in os.walk(os.path.join(ROOT, 'roles')):
        if os.path.basename(dirpath) not in ('tasks', 'handlers'):
            continue
        for name in sorted(files):
            if not name.endswith('.yml'):
                continue
            path = os.path.join(dirpath, name)
            with open(path) as handle:
                for task in _tasks(yaml.safe_load(handle)):
                    for key in DYNAMIC:
                        if key in task:
                            found.append((os.path.relpath(path, ROOT), task.get('name', key), task[key]))
    return found


def test_every_dynamic_include_applies_always():
    includes = dynamic_includes()
    assert len(includes) >= 20, includes  # the collection's roles include the verdict and notify roles everywhere
    missing = []
    for path, name, spec in includes:
        tags = (spec.get('apply') or {}).get('tags') if isinstance(spec, dict) else None
        if not tags or 'always' not in tags:
            missing.append('%s: %s' % (path, name))
    assert not missing, 'dynamic includes whose tasks a --tags run would skip:\n' + '\n'.join(missing)


def _inventory(tmp_path, variables):
    path = tmp_path / 'inventory.yml'
    path.write_text(json.dumps({'all': {'hosts': {'app1': {'ansible_connection': 'local'}}, 'vars': variables}}))
    return str(path)


CASES = [
    ('health_check.yml', 'service_health',
     lambda port: {'service_health_endpoints': [{'name': 'api', 'url': 'http://127.0.0.1:%d/health' % port}]}),
    ('cache_analysis.yml', 'cache_health',
     lambda port: {'cache_health_instances': [{'name': 'cache', 'host': '127.0.0.1', 'port': port}],
                   'cache_health_checks': ['connection']}),
    ('tls_check.yml', 'tls_certificates',
     lambda port: {'tls_certificates_targets': [{'host': '127.0.0.1', 'port': port}]}),
]


@pytest.mark.slow
@pytest.mark.parametrize('playbook,tag,variables', CASES, ids=['%s-%s' % (c[0], c[1]) for c in CASES])
def test_tagged_run_of_a_failing_check_ends_non_zero(tmp_path, playbook, tag, variables):
    refused = free_port()
    run = run_playbook(os.path.join(ROOT, 'playbooks', playbook), inventory=_inventory(tmp_path, variables(refused)),
                       outcome_log=tmp_path / 'outcomes.jsonl', args=['--tags', tag],
                       env={'HOME': str(tmp_path)})
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-4000:]
    assert 'at or above critical' in out, out[-4000:]
