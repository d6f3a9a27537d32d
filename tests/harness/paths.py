"""Where things are, and making the collection importable as ansible_collections.autopilotcx.maintenance."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TMP = os.path.join(ROOT, '.tmp')
COLLECTIONS = os.path.join(TMP, 'collections')
COLLECTION_LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'autopilotcx', 'maintenance')
VENV_PYTHON = os.path.join(ROOT, '.venv', 'bin', 'python')


def ensure_collection_link():
    """Link the repository as ansible_collections/autopilotcx/maintenance under .tmp/collections."""
    parent = os.path.dirname(COLLECTION_LINK)
    os.makedirs(parent, exist_ok=True)
    if not os.path.islink(COLLECTION_LINK) or os.path.realpath(COLLECTION_LINK) != ROOT:
        try:
            os.unlink(COLLECTION_LINK)
        except FileNotFoundError:
            pass
        try:
            os.symlink(ROOT, COLLECTION_LINK)
        except FileExistsError:  # another test process made it at the same moment
            pass
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)
    return COLLECTIONS


def python_interpreter():
    """The interpreter ansible must use for local targets (discovery finds a broken shim here)."""
    return VENV_PYTHON if os.path.exists(VENV_PYTHON) else sys.executable
