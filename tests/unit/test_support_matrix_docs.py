"""docs/support-matrix.md says, for every module, where it runs and which library it needs, and that matches the code.

What the matrix itself promises is run by tests/integration/test_support_matrix.py; this keeps the page honest.
"""

import glob
import importlib
import os
import re

import yaml

from tests.harness.paths import ROOT

DOC = os.path.join(ROOT, 'docs', 'support-matrix.md')
MODULES = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py')))
WHERE = ('managed host', 'control node')


def _read(path):
    with open(path) as handle:
        return handle.read()


def _backend(source, name):
    """The module_utils module a module's source imports as ``name``."""
    package = re.search(r"^from (\S+) import .*\b%s\b" % name, source, re.M).group(1)
    return importlib.import_module('%s.%s' % (package, name))


def _module_rows():
    rows = {}
    for line in _read(DOC).splitlines():
        match = re.match(r'^\|\s*`([a-z_]+)`\s*\|(.*)\|\s*$', line)
        if match and match.group(1) in MODULES:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split('|')]
    return rows


def test_every_module_says_where_it_runs_and_what_it_needs():
    rows = _module_rows()
    assert sorted(rows) == MODULES
    for name, (where, needs) in ((n, r[:2]) for n, r in rows.items()):
        assert any(w in where for w in WHERE), (name, where)
        source = _read(os.path.join(ROOT, 'plugins', 'modules', name + '.py'))
        required = set()
        for call in re.findall(r"deps\.require\(module, ([^)]*)\)", source):
            backend = re.match(r"\*(\w+)\.REQUIRES\[", call)
            if backend:  # the libraries depend on an option: the backend's REQUIRES names them per choice
                required.update(lib for libs in _backend(source, backend.group(1)).REQUIRES.values() for lib in libs)
            else:
                required.update(re.findall(r"'(\w+)'", call))
        for lib in required:
            assert lib.lower() in needs.lower(), '%s needs %s but docs/support-matrix.md says %r' % (name, lib, needs)
        if not required:
            assert 'standard library' in needs, (name, needs)


def test_library_floors_in_the_docs_are_the_gate():
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
    text = _read(DOC)
    for name in ('cryptography', 'redis'):
        requirement = deps.LIBRARIES[name][1]
        assert requirement in text, requirement


def test_claimed_ansible_core_and_python_lines_are_written_down():
    claim = yaml.safe_load(_read(os.path.join(ROOT, 'meta', 'runtime.yml')))['requires_ansible']
    text = _read(DOC)
    assert claim.lstrip('>=').rsplit('.', 1)[0] in text
    assert 'Python 3.8' in text and '2.20' in text  # 2.20+ refuses Python 3.8 targets: said
    for distribution in ('Debian 11', 'Debian 12', 'Debian 13', 'Ubuntu 22.04', 'Ubuntu 24.04', 'RHEL 9'):
        assert distribution in text


def test_nothing_tells_users_to_pip_install_into_a_system_python():
    for path in glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py')) + [os.path.join(ROOT, 'README.md')]:
        for line in _read(path).splitlines():
            if 'pip install' in line:
                assert 'venv' in line or 'control node' in line or 'execution environment' in line, (path, line)
