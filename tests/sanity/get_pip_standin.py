"""Offline stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test bootstraps pip into each sanity virtual environment by downloading
get-pip.py from a CI file host that this network cannot reach. It looks for a
cached copy at ~/.ansible/test/cache/get_pip_<version>.py first, so
scripts/ansible-test-sanity.sh copies this file there. It does what get-pip.py
does with the standard library's ensurepip and then pip itself (packages come
from the configured package index, which is reachable).
"""

import subprocess
import sys

GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)


if __name__ == '__main__':
    main()
