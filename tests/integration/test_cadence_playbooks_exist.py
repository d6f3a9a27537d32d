"""Every playbook named in maintenance_cadences exists in playbooks/ and passes ansible-playbook --syntax-check.

The cadence playbooks are written by several engineers in parallel; those not yet merged are listed in PENDING
with the issue that brings them and are expected failures (xfail) only until then: remove an entry when its
playbook lands (a pending playbook that exists shows up as XPASS in the report).
"""

import os

import pytest
import yaml

from tests.harness.ansible_run import run_playbook
from tests.harness.paths import ROOT

TABLE = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'maintenance', 'defaults', 'main.yml')))['maintenance_cadences']

# playbook -> why it is not here yet (remove the entry when it lands in main)
PENDING = {}


def _params():
    for entry in TABLE:
        marks = []
        if entry['playbook'] in PENDING:
            marks.append(pytest.mark.xfail(reason=PENDING[entry['playbook']], strict=True))
        yield pytest.param(entry, id=entry['name'], marks=marks)


def test_pending_list_names_only_table_playbooks():
    assert set(PENDING) <= {e['playbook'] for e in TABLE}


@pytest.mark.slow
@pytest.mark.parametrize('entry', list(_params()))
def test_cadence_playbook_exists_and_parses(entry):
    path = os.path.join(ROOT, 'playbooks', entry['playbook'])
    assert os.path.isfile(path), 'maintenance_cadences entry %s names %s, which does not exist' % (entry['name'], path)
    text = open(path).read()
    assert isinstance(yaml.safe_load(text), list), '%s is not a list of plays' % path
    assert 'maintenance_cadence: %s' % entry['name'] in text, \
        'a play of %s should set maintenance_cadence: %s (the outcome records name the cadence)' % (path, entry['name'])
    proc = run_playbook(path, args=['--syntax-check'])
    assert proc.returncode == 0, proc.stdout + proc.stderr
