#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection at .tmp/ansible-test/ansible_collections/autopilotcx/maintenance.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv="$root/.venv"
# Offline pip bootstrap (see tests/sanity/get_pip_standin.py): ansible-test pins pip 24.2 here.
pip_version=$("$venv/bin/python" - <<'PY'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py'
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PY
)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
cp tests/sanity/get_pip_standin.py "$cache"
dest=$(bash scripts/collection-copy.sh "$root/.tmp/ansible-test")
cd "$dest"
git init -q . && git add -A >/dev/null 2>&1 || true
export PATH="$venv/bin:$PATH"
"$venv/bin/ansible-test" sanity --python 3.11 --venv --color no "$@"
