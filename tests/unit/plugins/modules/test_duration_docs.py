"""Every duration option says what a bare number means, and one option name means one unit everywhere.

``statement_timeout: 30`` was 30 seconds for pg_maintenance and session_cleanup (the collection's duration parser)
and 30 milliseconds for pg_check and pg_data_fix (handed to PostgreSQL as is); a window's ``duration: 90`` is 90
minutes where a file's ``age: 90`` is 90 seconds. The documentation is the contract, so it is parsed here: every
option whose name says it holds a time (module DOCUMENTATION with its doc fragments, and the roles'
``meta/argument_specs.yml``) must state its bare-number unit, and one module option name must never have two.

How an option states its unit (``unit_of``):

* the name ends in the unit (``window_minutes``, ``stale_days``, ``horizon_days``);
* an option that takes unit strings (type ``str``/``raw``) says ``A bare number is seconds`` (or minutes, or
  ``A bare number is refused``: such an option can never be misread, so it agrees with any unit);
* a number option (``int``/``float``) names its unit word in its description (``Seconds to wait ...``).
"""

import ast
import glob
import os
import re

import pytest
import yaml

from tests.harness.module_specs import MODULES_DIR
from tests.harness.paths import ROOT

# A name that says "time" (the part of the leaf name between underscores).
DURATION_WORDS = ('timeout', 'leeway', 'interval', 'window', 'age', 'older_than', 'duration', 'ttl', 'grace', 'budget',
                  'lifetime', 'after', 'notice', 'delay', 'wait', 'pause', 'seconds', 'minutes', 'hours', 'days',
                  'settle', 'cutoff', 'period', 'retention')
DURATION_NAME = re.compile(r'(^|_)(%s)(_|$)' % '|'.join(DURATION_WORDS))

# Names that match DURATION_NAME and hold no duration, each with what they hold.
NOT_DURATIONS = {
    'age_from': 'which file timestamp the age is measured from (mtime, ctime, atime)',
    'age_threshold': 'the name of a threshold',
    'duration_threshold': 'the name of a threshold',
    'duration_unit': 'the unit of a log field, a choice',
    'freeze_xid_age': 'a number of transaction IDs',
    'windows': 'window definitions, or their names (the duration and notice keys of a window are documented with it)',
    'window': 'the name of a window',
    'now': 'a moment (ISO 8601)',
    'priority': 'a priority (maintenance_notice_priority)',
    'period': 'weekly, monthly or quarterly',
}

UNIT_WORDS = {'second': 'seconds', 'seconds': 'seconds', 'minute': 'minutes', 'minutes': 'minutes', 'hour': 'hours',
              'hours': 'hours', 'day': 'days', 'days': 'days', 'millisecond': 'milliseconds',
              'milliseconds': 'milliseconds', 'ms': 'milliseconds'}
BARE = re.compile(r'\ba bare number (?:is|means) (seconds|minutes|hours|days|milliseconds|refused)\b', re.IGNORECASE)
UNIT_WORD = re.compile(r'\b(%s)\b' % '|'.join(sorted(UNIT_WORDS, key=len, reverse=True)), re.IGNORECASE)
NAME_UNIT = re.compile(r'_(seconds|minutes|hours|days|ms)$')
REFUSED = 'refused'


def _text(description):
    if isinstance(description, list):
        return ' '.join(str(part) for part in description)
    return str(description or '')


def _module_docs():
    """{module: options} from each module's DOCUMENTATION, the collection's doc fragments merged in."""
    fragments = {}
    for path in glob.glob(os.path.join(ROOT, 'plugins', 'doc_fragments', '*.py')):
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == 'DOCUMENTATION' for t in node.targets):
                doc = yaml.safe_load(node.value.value) or {}
                fragments['autopilotcx.maintenance.' + os.path.basename(path)[:-3]] = doc.get('options') or {}
    docs = {}
    for path in sorted(glob.glob(os.path.join(MODULES_DIR, '*.py'))):
        tree = ast.parse(open(path).read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == 'DOCUMENTATION' for t in node.targets):
                doc = yaml.safe_load(node.value.value) or {}
        options = dict(doc.get('options') or {})
        extends = doc.get('extends_documentation_fragment') or []
        for fragment in [extends] if isinstance(extends, str) else extends:
            options.update(fragments.get(fragment, {}))
        docs[os.path.basename(path)[:-3]] = options
    return docs


def _role_docs():
    docs = {}
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'meta', 'argument_specs.yml'))):
        with open(path) as handle:
            specs = yaml.safe_load(handle) or {}
        for entry, spec in (specs.get('argument_specs') or {}).items():
            docs['role %s (%s)' % (path.split(os.sep)[-3], entry)] = spec.get('options') or {}
    return docs


def _walk(options, prefix=''):
    for name, option in sorted((options or {}).items()):
        option = option or {}
        yield prefix + name, name, option
        for key in ('suboptions', 'options'):
            if isinstance(option.get(key), dict):
                yield from _walk(option[key], prefix + name + '.')


def _not_a_duration(leaf):
    """True for a name in NOT_DURATIONS, also behind a role prefix (``db_maintenance_freeze_xid_age``)."""
    return any(leaf == name or leaf.endswith('_' + name) for name in NOT_DURATIONS)


def duration_options(docs):
    """[(owner, dotted name, leaf name, option)] of every option whose name says it holds a time."""
    found = []
    for owner, options in sorted(docs.items()):
        for dotted, leaf, option in _walk(options):
            if DURATION_NAME.search(leaf) and not _not_a_duration(leaf) and option.get('type') not in ('bool', 'dict', 'list'):
                found.append((owner, dotted, leaf, option))
    return found


def unit_of(leaf, option):
    """What a bare number of this option means according to its documentation; None when it does not say."""
    named = NAME_UNIT.search(leaf)
    if named:
        return UNIT_WORDS[named.group(1)]
    text = _text(option.get('description'))
    stated = BARE.search(text)
    if stated:
        return stated.group(1).lower()
    if option.get('type') in ('int', 'float'):
        word = UNIT_WORD.search(text)
        return UNIT_WORDS[word.group(1).lower()] if word else None
    return None


MODULE_OPTIONS = duration_options(_module_docs())
ROLE_OPTIONS = duration_options(_role_docs())


def test_the_collector_finds_the_options_it_is_about():
    names = set((owner, dotted) for owner, dotted, _leaf, _option in MODULE_OPTIONS)
    for expected in [('pg_check', 'statement_timeout'), ('pg_maintenance', 'statement_timeout'), ('notify', 'repeat_after'),
                     ('maintenance_window', 'notice_grace'), ('file_cleanup', 'age'), ('pg_check', 'connect_timeout'),
                     ('backup_verify', 'sets.restore.timeout'), ('session_cleanup', 'default_ttl')]:
        assert expected in names
    assert len(MODULE_OPTIONS) >= 40 and len(ROLE_OPTIONS) >= 30


@pytest.mark.parametrize('owner, dotted, leaf, option', MODULE_OPTIONS + ROLE_OPTIONS,
                         ids=['%s:%s' % (o[0], o[1]) for o in MODULE_OPTIONS + ROLE_OPTIONS])
def test_every_duration_option_states_its_bare_number_unit(owner, dotted, leaf, option):
    assert unit_of(leaf, option), (
        '%s option %s does not say what a bare number means: write "A bare number is seconds." (or minutes, or '
        '"refused") in its description, or name the unit in a number option\'s description' % (owner, dotted))


def conflicts(found):
    """{leaf name: {unit: [owner:option, ...]}} for every name documented with more than one bare-number unit."""
    units = {}
    for owner, dotted, leaf, option in found:
        unit = unit_of(leaf, option)
        if unit and unit != REFUSED:
            units.setdefault(leaf, {}).setdefault(unit, []).append('%s:%s' % (owner, dotted))
    return dict((leaf, meanings) for leaf, meanings in units.items() if len(meanings) > 1)


def test_one_option_name_has_one_unit():
    assert conflicts(MODULE_OPTIONS) == {}


def test_a_name_with_two_units_is_found():
    """The check above on the shape the collection had: statement_timeout in seconds here, milliseconds there."""
    docs = {
        'pg_maintenance': {'statement_timeout': {'type': 'str', 'description': 'A bare number is seconds.'}},
        'pg_check': {'statement_timeout': {'type': 'str', 'description': ['C(statement_timeout).', 'A bare number is milliseconds.']}},
        'pg_data_fix': {'statement_timeout': {'type': 'str', 'description': 'A bare number is refused.'}},
        'cache_check': {'timeout': {'type': 'float', 'description': 'Seconds to wait.'}},
        'log_scan': {'window_minutes': {'type': 'int', 'description': 'The window.'}},
    }
    assert conflicts(duration_options(docs)) == {
        'statement_timeout': {'seconds': ['pg_maintenance:statement_timeout'], 'milliseconds': ['pg_check:statement_timeout']}}
