"""A user's project that installs this collection from its built tarball (issue 17): its own directory, ansible.cfg
and inventory, nothing of this checkout on the paths, the environment of a fresh shell."""

import os
import subprocess

from .paths import ROOT, python_interpreter

VENV_BIN = os.path.dirname(python_interpreter())
_TARBALLS = {}


def built_tarball(directory):
    """``ansible-galaxy collection build`` of this checkout into ``directory`` (once per process)."""
    if ROOT not in _TARBALLS or not os.path.exists(_TARBALLS[ROOT]):
        proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-galaxy'), 'collection', 'build', '--force',
                               '--output-path', str(directory), ROOT], capture_output=True, text=True, check=False,
                              env=clean_env())
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (name,) = [n for n in os.listdir(str(directory)) if n.endswith('.tar.gz')]
        _TARBALLS[ROOT] = os.path.join(str(directory), name)
    return _TARBALLS[ROOT]


def clean_env(home=None, extra=None):
    """The environment of a fresh shell: no ANSIBLE_*, AUTOPILOTCX_* or PG* setting of the test run leaks in."""
    env = dict((k, v) for k, v in os.environ.items()
               if not k.startswith(('ANSIBLE_', 'AUTOPILOTCX_', 'PG')) and k not in ('PYTHONPATH',))
    env['PATH'] = VENV_BIN + os.pathsep + env.get('PATH', '/usr/bin:/bin')
    if home:
        env['HOME'] = str(home)
    env.update(extra or {})
    return env


def make_project(base, tarball, config='', inventory='localhost ansible_connection=local\n'):
    """``base``/project with the collection installed from ``tarball`` under ./collections, an ansible.cfg (the
    collections path, the outcome callback, then ``config``) and inventories/production/hosts."""
    project = base / 'project'
    (project / 'inventories' / 'production').mkdir(parents=True)
    (project / 'inventories' / 'production' / 'hosts').write_text(
        inventory + '\n[all:vars]\nansible_python_interpreter=%s\n' % python_interpreter())
    if config is not None:
        (project / 'ansible.cfg').write_text(
            '[defaults]\ncollections_path = ./collections\ncallbacks_enabled = autopilotcx.maintenance.outcomes\n'
            'interpreter_python = auto_silent\n' + config)
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-galaxy'), 'collection', 'install', '-p',
                           str(project / 'collections'), tarball], capture_output=True, text=True, check=False,
                          env=clean_env(base / 'home'), cwd=str(project))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return project
