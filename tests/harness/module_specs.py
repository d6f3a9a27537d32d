"""The real argument spec of every module of the collection, captured by importing it and calling its main()."""

import importlib
import os

from .paths import ROOT, ensure_collection_link

MODULES_DIR = os.path.join(ROOT, 'plugins', 'modules')


class _Captured(Exception):
    def __init__(self, spec):
        Exception.__init__(self, 'captured')
        self.spec = spec


def module_names():
    """Modules that run as modules (a documentation-only file beside an action plugin builds no AnsibleModule)."""
    names = []
    for name in sorted(os.listdir(MODULES_DIR)):
        if name.endswith('.py') and not name.startswith('_'):
            with open(os.path.join(MODULES_DIR, name)) as handle:
                if 'AnsibleModule(' in handle.read():
                    names.append(name[:-3])
    return names


def argument_spec(name):
    """The argument_spec the module passes to AnsibleModule (main() is stopped right there)."""
    ensure_collection_link()
    module = importlib.import_module('ansible_collections.autopilotcx.maintenance.plugins.modules.%s' % name)
    original = module.AnsibleModule

    class Capture(object):
        def __init__(self, argument_spec=None, **_kwargs):
            raise _Captured(argument_spec or {})

    module.AnsibleModule = Capture
    try:
        module.main()
    except _Captured as captured:
        return captured.spec
    finally:
        module.AnsibleModule = original
    raise AssertionError('%s.main() never built an AnsibleModule' % name)
