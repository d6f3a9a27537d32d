"""The result keys every check module shares are documented once, the same way, and as core's result model makes them.

``module_support.finish`` returns ``checks`` and adds ``summarize(checks)`` (``status``, ``counts``, ``failed_checks``)
to every module that ends with it. Their RETURN entries are copies in each module (ansible-doc has no RETURN
fragments), so this test holds every copy to the one wording below and checks each module's samples against the
result model: a status that exists, every status counted, a failed check named ``name (target)``, and the three
samples describing one and the same result.
"""

import ast
import os
import re

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import STATUSES, WARNING, CRITICAL, worst
from tests.harness.module_specs import MODULES_DIR, module_names
from tests.unit.plugins.modules.test_return_keys import documented_return

# The one wording of the entries summarize() adds (description, returned, type, elements); samples vary per module.
SHARED = {
    'status': {
        'description': 'The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);'
                       ' C(ok) when there is no check.',
        'returned': 'always',
        'type': 'str',
    },
    'counts': {
        'description': 'Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.',
        'returned': 'always',
        'type': 'dict',
    },
    'failed_checks': {
        'description': 'The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its'
                       ' target in parentheses when it has one; checks at C(unknown) are not listed.',
        'returned': 'always',
        'type': 'list',
        'elements': 'str',
    },
}

FAILED_CHECK = re.compile(r'^[A-Za-z0-9_.<>-]+( \(.+\))?$')


def _source(name):
    with open(os.path.join(MODULES_DIR, name + '.py')) as handle:
        return handle.read()


def _calls_finish(name):
    tree = ast.parse(_source(name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if getattr(func, 'id', None) == 'finish' or getattr(func, 'attr', None) == 'finish':
                return True
    return False


# Modules whose backend returns an unjudged Report (result.Report: judged=False or no checks): finish adds no
# status/counts/failed_checks and applies no fail_on. pg_data_fix's checks are its validations, expected to fail
# before the fix; review_report has no checks.
UNJUDGED = ('pg_data_fix', 'review_report')

FINISHING = [n for n in module_names() if _calls_finish(n) and n not in UNJUDGED]


@pytest.mark.parametrize('name', UNJUDGED)
def test_an_unjudged_module_documents_no_summary_it_does_not_return(name):
    assert _calls_finish(name)
    returned = documented_return(name)
    assert not set(SHARED) & set(returned), '%s documents %s but finish adds no summary to it' % (name, set(SHARED) & set(returned))


def test_the_shared_entries_are_what_summarize_returns():
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import summarize
    summary = summarize([{'name': 'a', 'status': 'ok'}, {'name': 'b', 'status': 'critical', 'target': 't'},
                         {'name': 'c', 'status': 'unknown'}, {'name': 'd', 'status': 'warning'}])
    assert set(summary) == set(SHARED)
    assert summary == {'status': 'critical', 'counts': {'ok': 1, 'unknown': 1, 'warning': 1, 'critical': 1},
                       'failed_checks': ['b (t)', 'd']}
    assert summarize([])['status'] == 'ok'


def test_most_modules_finish():
    assert len(FINISHING) >= 25, FINISHING


@pytest.mark.parametrize('name', FINISHING)
def test_shared_entries_have_one_wording(name):
    documented = documented_return(name)
    for key, expected in SHARED.items():
        assert key in documented, '%s returns %s (finish adds it) but does not document it' % (name, key)
        entry = documented[key]
        assert {k: v for k, v in entry.items() if k != 'sample'} == expected, '%s: RETURN %s differs' % (name, key)
        assert 'sample' in entry, '%s: RETURN %s has no sample' % (name, key)


@pytest.mark.parametrize('name', FINISHING)
def test_shared_samples_fit_the_result_model(name):
    documented = documented_return(name)
    status = documented['status']['sample']
    counts = documented['counts']['sample']
    failed = documented['failed_checks']['sample']
    assert status in STATUSES, name
    assert sorted(counts) == sorted(STATUSES), '%s: counts sample must hold every status' % name
    assert all(isinstance(v, int) and v >= 0 for v in counts.values()), name
    assert all(isinstance(f, str) and FAILED_CHECK.match(f) for f in failed), '%s: %r' % (name, failed)
    # One result: the status is the worst counted one, and every check at warning or critical is named.
    assert status == worst(s for s in STATUSES if counts[s]), '%s: status %s but counts %s' % (name, status, counts)
    assert len(failed) == counts[WARNING] + counts[CRITICAL], '%s: failed_checks %s but counts %s' % (name, failed, counts)


@pytest.mark.parametrize('name', FINISHING)
def test_checks_entry_is_a_list_of_checks(name):
    entry = documented_return(name)['checks']
    assert (entry['type'], entry.get('elements'), entry['returned']) == ('list', 'dict', 'always'), name
    for check in entry.get('sample') or []:
        assert isinstance(check.get('name'), str) and check.get('status') in STATUSES, '%s: %r' % (name, check)
