"""The plays that docs/ show are run exactly as they stand (marked with an HTML comment `<!-- recipe: NAME -->`)."""

import os
import re

import pytest

from tests.harness.ansible_run import run_playbook
from tests.harness.paths import ROOT

RECIPE = re.compile(r'<!-- recipe: (?P<name>[\w-]+) -->\s*```yaml\n(?P<body>.*?)```', re.S)


def recipes():
    found = []
    docs = os.path.join(ROOT, 'docs')
    for name in sorted(os.listdir(docs)):
        if name.endswith('.md'):
            with open(os.path.join(docs, name)) as handle:
                for match in RECIPE.finditer(handle.read()):
                    found.append(pytest.param(match.group('body'), id='%s:%s' % (name, match.group('name'))))
    return found


def test_the_docs_mark_their_recipes():
    assert any('module_defaults' in p.id for p in recipes())


@pytest.mark.slow
@pytest.mark.parametrize('body', recipes())
def test_recipe_runs_as_written(tmp_path, body):
    playbook = tmp_path / 'recipe.yml'
    playbook.write_text('---\n' + body)
    inventory = tmp_path / 'inventory.ini'
    inventory.write_text('[web]\nweb1 ansible_connection=local\n')
    run = run_playbook(str(playbook), inventory=str(inventory), outcome_log=tmp_path / 'outcomes.jsonl',
                       env={'HOME': str(tmp_path)})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert 'failed=0' in run.stdout and 'ok=' in run.stdout
