"""The support matrix (docs/support-matrix.md): control-node venvs per ansible-core line, target interpreters.

Every venv lives under ``~/.cache/autopilotcx-maintenance/matrix/<name>-<key>`` where the key is a hash of the interpreter version and the
pinned requirements, so a venv is built once and reused until a pin changes. A venv that cannot be built (no
interpreter of that version on this machine, a pin with no wheel for it, no network) raises ``Unavailable`` with the
reason; the tests turn that into a visible skip, never into a silent pass.

Pins: the oldest ansible-core ``meta/runtime.yml`` claims and the newest on PyPI when this was written; the
libraries each distribution ships (its own package versions, listed in docs/support-matrix.md).
"""

import glob
import hashlib
import os
import shutil
import subprocess
import time


# Outside the checkout by default: CI runs in a fresh clone on the same machine, and the venvs (keyed by interpreter
# and pins, nothing of the checkout) are worth keeping between runs.
CACHE = os.environ.get('AUTOPILOTCX_MATRIX_CACHE') or os.path.join(
    os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'autopilotcx-maintenance', 'matrix')
FAILED_TTL = 86400  # a pin with no build for a Python is not retried for a day (a network failure is not final)

# ansible-core lines: the oldest one meta/runtime.yml claims, and the newest on PyPI (needs Python >= 3.12).
CONTROL = {
    'oldest': {'python': '3.11', 'pins': ['ansible-core==2.17.14', 'PyYAML>=6', 'python-dateutil>=2.8', 'jmespath>=1.0']},
    'newest': {'python': '3.13', 'pins': ['ansible-core==2.21.5', 'PyYAML>=6', 'python-dateutil>=2.8', 'jmespath>=1.0']},
}

# The library versions each distribution ships as python3-* packages, on the Python that distribution ships.
# Debian 12 is not here: its own /usr/bin/python3 with Debian's packages is tested directly (DEBIAN_SYSTEM_PYTHON).
DISTRIBUTIONS = {
    'debian11': {'python': '3.9', 'pins': ['cryptography==3.3.2', 'redis==3.5.3']},
    'ubuntu2204': {'python': '3.10', 'pins': ['cryptography==3.4.8', 'redis==3.5.3']},
    'rhel9': {'python': '3.9', 'pins': ['cryptography==36.0.1']},
    'ubuntu2404': {'python': '3.12', 'pins': ['cryptography==41.0.7', 'redis==4.3.4', 'psycopg==3.1.18']},
}

TARGET_PYTHONS = ('3.8', '3.9', '3.10', '3.11', '3.12', '3.13')
DEBIAN_SYSTEM_PYTHON = '/usr/bin/python3'


class Unavailable(Exception):
    """This cell of the matrix cannot run here; the message says why."""


def find_python(version):
    """An interpreter of ``version`` (``3.9``) on this machine: PATH, /usr/bin, then pyenv's versions (not its shims)."""
    candidates = [os.path.join(d, 'python' + version) for d in ('/usr/bin', '/usr/local/bin')]
    candidates += sorted(glob.glob(os.path.expanduser('~/.pyenv/versions/%s.*/bin/python%s' % (version, version))),
                         reverse=True)
    candidates += sorted(glob.glob('/opt/python*/%s*/bin/python%s' % (version, version)), reverse=True)
    for path in candidates:
        if os.path.exists(path):
            try:
                out = subprocess.run([path, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
                                     capture_output=True, text=True, timeout=60, check=False)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if out.returncode == 0 and out.stdout.strip() == version:
                return path
    raise Unavailable('no Python %s on this machine (looked in /usr/bin, /usr/local/bin, ~/.pyenv/versions)' % version)


def venv(name, python_version, pins):
    """The venv ``name`` with ``pins`` installed on Python ``python_version``; built once, then reused."""
    python = find_python(python_version)
    version = subprocess.run([python, '-c', 'import sys; print(sys.version)'], capture_output=True, text=True, check=False).stdout
    key = hashlib.sha256(('\n'.join([version] + list(pins))).encode()).hexdigest()[:12]
    path = os.path.join(CACHE, '%s-py%s-%s' % (name, python_version, key))
    stamp = os.path.join(path, '.complete')
    failed = os.path.join(CACHE, '%s-py%s-%s.failed' % (name, python_version, key))
    if os.path.exists(stamp):
        return path
    if os.path.exists(failed) and time.time() - os.path.getmtime(failed) < FAILED_TTL:
        raise Unavailable(open(failed).read())  # a pin with no build for this Python is not retried on every run
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(CACHE, exist_ok=True)
    steps = [[python, '-m', 'venv', path],
             [os.path.join(path, 'bin', 'python'), '-m', 'pip', 'install', '-q', '--disable-pip-version-check',
              '--only-binary', 'cryptography'] + list(pins)]
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            reason = 'cannot build the %s venv on Python %s (%s): %s' % (
                name, python_version, ' '.join(pins), ' / '.join(tail))
            if 'No matching distribution' in reason or 'Could not find a version' in reason:
                with open(failed, 'w') as handle:
                    handle.write(reason)
            shutil.rmtree(path, ignore_errors=True)
            raise Unavailable(reason)
    open(stamp, 'w').close()
    return path


def control_venv(which):
    spec = CONTROL[which]
    return venv('control-' + which, spec['python'], spec['pins'])


def distribution_python(name):
    spec = DISTRIBUTIONS[name]
    return os.path.join(venv('target-' + name, spec['python'], spec['pins']), 'bin', 'python')


def debian_system_python():
    """Debian 12's own /usr/bin/python3 with Debian's python3-* packages (tests/system-packages.txt)."""
    try:
        release = open('/etc/os-release').read()
    except OSError:
        release = ''
    if 'VERSION_ID="12"' not in release or 'ID=debian' not in release:
        raise Unavailable('this machine is not Debian 12, so there is no Debian 12 /usr/bin/python3 to test')
    proc = subprocess.run([DEBIAN_SYSTEM_PYTHON, '-c', 'import cryptography, redis'], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise Unavailable('Debian packages python3-cryptography / python3-redis are not installed (make deps)')
    return DEBIAN_SYSTEM_PYTHON


def library_versions(python):
    code = ('import importlib\n'
            'for n in ("cryptography", "redis", "psycopg"):\n'
            '    try:\n        print(n, importlib.import_module(n).__version__)\n'
            '    except Exception:\n        print(n, "-")\n')
    out = subprocess.run([python, '-c', code], capture_output=True, text=True, check=False).stdout
    return dict(line.split(' ', 1) for line in out.splitlines() if ' ' in line)
