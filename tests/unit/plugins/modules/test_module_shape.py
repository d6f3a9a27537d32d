"""Every module has the one shape of docs/concepts.md "Where the logic of a module lives".

    module = AnsibleModule(argument_spec=..., supports_check_mode=True)
    module.no_log_values.update(backend.secrets(module.params))     # optional: secrets in ordinary options
    deps.require(module, 'psycopg')                                   # optional: libraries the host may lack
    report = run(module, backend.run, module.params, module.check_mode[, host=ModuleHost(module)])
    finish(module, report)

``backend`` is the module's package in plugins/module_utils/<domain>/, ``backend.run(params, check_mode, host=None)``
returns a ``result.Report`` and ``finish`` exits with it. Nothing else runs in a module: no helper functions, no
popping, filtering or summing of what the backend returned, no ``exit_json``/``fail_json``/``warn`` of its own.
The source is read with ``ast``; the backends are imported to check their entry's signature.
"""

import ast
import importlib
import inspect
import os

import pytest

from tests.harness.module_specs import MODULES_DIR, module_names
from tests.harness.paths import ensure_collection_link

UTILS = 'ansible_collections.autopilotcx.maintenance.plugins.module_utils'
CORE = UTILS + '.core'


def _source(name):
    with open(os.path.join(MODULES_DIR, name + '.py')) as handle:
        return ast.parse(handle.read())


def _backends(tree):
    """Names bound by ``from <module_utils>.<domain> import <backend>`` (not core), to their dotted module."""
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(UTILS + '.') \
                and not node.module.startswith(CORE) and node.module.count('.') == UTILS.count('.') + 1:
            for alias in node.names:
                names[alias.asname or alias.name] = '%s.%s' % (node.module, alias.name)
    return names


def _dump(node):
    return ast.unparse(node) if hasattr(ast, 'unparse') else ast.dump(node)


def _is_name(node, name):
    return isinstance(node, ast.Name) and node.id == name


def _is_attr(node, value, attr):
    return isinstance(node, ast.Attribute) and node.attr == attr and (
        _is_name(node.value, value) if isinstance(value, str) else value(node.value))


def _call(node, func):
    return isinstance(node, ast.Call) and func(node.func)


def shape_problems(tree):
    """What is wrong with a module's source, as readable lines (empty when it has the shape)."""
    problems = []
    functions = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    if functions != ['main']:
        problems.append('defines %s; a module defines main() only (helpers belong in its backend)' % functions)
    mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == 'main']
    if not mains:
        return problems + ['no main()']
    backends = _backends(tree)
    body = list(mains[0].body)
    if not body or not (isinstance(body[0], ast.Assign) and _is_name(body[0].targets[0], 'module')
                        and _call(body[0].value, lambda f: _is_name(f, 'AnsibleModule'))):
        problems.append('main() must start with module = AnsibleModule(...)')
    else:
        body.pop(0)
    entry = None
    while body and isinstance(body[0], ast.Expr):
        call = body[0].value
        if _call(call, lambda f: _is_attr(f, 'deps', 'require')):
            body.pop(0)
        elif _call(call, lambda f: _is_attr(f, lambda v: _is_attr(v, 'module', 'no_log_values'), 'update')) \
                and len(call.args) == 1 and _call(call.args[0], lambda f: isinstance(f, ast.Attribute) and f.attr == 'secrets'
                                                  and isinstance(f.value, ast.Name) and f.value.id in backends):
            body.pop(0)
        else:
            break
    if body and isinstance(body[0], ast.Assign) and _is_name(body[0].targets[0], 'report') \
            and _call(body[0].value, lambda f: _is_name(f, 'run')):
        call = body.pop(0).value
        args = [_dump(a) for a in call.args]
        keywords = dict((k.arg, _dump(k.value)) for k in call.keywords)
        if len(args) != 4 or args[0] != 'module' or args[2:] != ['module.params', 'module.check_mode']:
            problems.append('run(...) must be run(module, <backend>.run, module.params, module.check_mode), not run(%s)'
                            % ', '.join(args))
        elif not (isinstance(call.args[1], ast.Attribute) and call.args[1].attr == 'run'
                  and isinstance(call.args[1].value, ast.Name) and call.args[1].value.id in backends):
            problems.append('the entry %s is not <backend>.run of a module_utils/<domain>/ module imported here' % args[1])
        else:
            entry = backends[call.args[1].value.id]
        if keywords not in ({}, {'host': 'ModuleHost(module)'}):
            problems.append('run(...) takes host=ModuleHost(module) or nothing else, not %s' % keywords)
    else:
        problems.append('main() must call report = run(module, <backend>.run, module.params, module.check_mode) '
                        'after AnsibleModule (and deps.require / no_log_values.update)')
    if not (len(body) == 1 and isinstance(body[0], ast.Expr) and _dump(body[0].value) == 'finish(module, report)'):
        problems.append('main() must end with finish(module, report) and do nothing else, not: %s'
                        % '; '.join(_dump(n) for n in body))
    for node in ast.walk(mains[0]):
        if _call(node, lambda f: isinstance(f, ast.Attribute) and f.attr in ('pop', 'exit_json', 'fail_json', 'warn')):
            problems.append('main() calls .%s(): the backend shapes the result, finish reports it' % node.func.attr)
        if _call(node, lambda f: _is_name(f, 'sum')):
            problems.append('main() sums: totals belong in the backend report')
        if isinstance(node, (ast.For, ast.If, ast.IfExp, ast.ListComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)):
            problems.append('main() has a %s: decisions belong in the backend' % type(node).__name__)
    return problems, entry


@pytest.mark.parametrize('name', module_names())
def test_module_has_the_one_shape(name):
    problems, entry = shape_problems(_source(name))
    assert problems == [], '%s: %s' % (name, '; '.join(problems))
    ensure_collection_link()
    backend = importlib.import_module(entry)
    parameters = list(inspect.signature(backend.run).parameters.values())
    assert [p.name for p in parameters] == ['params', 'check_mode', 'host'], name
    assert parameters[2].default is None, '%s: host must be optional (tests call backends without Ansible)' % name


def _check(src):
    return shape_problems(ast.parse(src))[0]


GOOD = '''
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import x_check


def main():
    module = AnsibleModule(argument_spec=dict(), supports_check_mode=True)
    deps.require(module, 'psycopg')
    report = run(module, x_check.run, module.params, module.check_mode)
    finish(module, report)
'''


def test_the_shape_check_passes_the_documented_shape():
    assert _check(GOOD) == []


@pytest.mark.parametrize('change, expected', [
    (('    finish(module, report)', '    checks = report.pop("checks")\n    finish(module, report)'), 'pop'),
    (('    finish(module, report)', '    finish(module, report)\n    module.exit_json(changed=False)'), 'exit_json'),
    (('report = run(module, x_check.run, module.params, module.check_mode)',
      'report = run(module, x_check.scan, module.params, module.check_mode)'), 'not <backend>.run'),
    (('report = run(module, x_check.run, module.params, module.check_mode)',
      'report = run(module, x_check.run, module.params, check_mode=module.check_mode)'), 'must be run(module'),
    (('    finish(module, report)', '    finish(module, report.checks, total=sum(report.data["sizes"]))'), 'sums'),
    (('\ndef main():', '\ndef _helper(module):\n    return 1\n\n\ndef main():'), 'defines main() only'),
    (('    deps.require(module, \'psycopg\')', '    if module.params["x"]:\n        deps.require(module, "psycopg")'),
     'must call report = run'),
])
def test_the_shape_check_catches_a_module_that_reshapes_the_result(change, expected):
    old, new = change
    assert old in GOOD
    problems = _check(GOOD.replace(old, new))
    assert any(expected in p for p in problems), problems
