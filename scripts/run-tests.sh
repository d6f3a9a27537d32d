#!/usr/bin/env bash
# Every test of the collection, in the order that fails fastest. Run by `make test` (and so by .ci/run).
# Each stage runs even when an earlier one failed; the script exits non-zero if any failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p .tmp/results
failed=()
stage() {
  local name=$1; shift
  echo; echo "=================== $name"
  local start=$SECONDS
  if "$@"; then echo "=== $name: passed ($((SECONDS - start)) s)"; else echo "=== $name: FAILED ($((SECONDS - start)) s)"; failed+=("$name"); fi
}
stage "changelog lint" .venv/bin/antsibull-changelog lint
stage "ruff" .venv/bin/ruff check --no-cache --output-format concise .   # ruff.toml
stage "mypy" bash scripts/mypy.sh   # mypy.ini: module_utils/core and the outcome store
stage "ansible-doc" bash scripts/check-docs.sh
stage "ansible-lint (production profile)" bash scripts/lint.sh
stage "collection build" .venv/bin/ansible-galaxy collection build --force --output-path .tmp/build .
stage "ansible-test sanity" bash scripts/ansible-test-sanity.sh
# Unit and integration tests last, so that pytest's summary is the closing line of the run.
stage "pytest (unit + integration)" .venv/bin/python -m pytest -q -n 2 --dist loadfile \
  --junitxml=.tmp/results/pytest.xml tests/unit tests/integration
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED stages: ${failed[*]}"
fi
.venv/bin/python - <<'PY'
import xml.etree.ElementTree as ET
try:
    root = ET.parse('.tmp/results/pytest.xml').getroot()
except (OSError, ET.ParseError):
    print('tests: 0 passed, 1 failed')
else:
    suites = [root] if root.tag == 'testsuite' else list(root)
    total = sum(int(s.get('tests', 0)) for s in suites)
    failures = sum(int(s.get('failures', 0)) + int(s.get('errors', 0)) for s in suites)
    skipped = sum(int(s.get('skipped', 0)) for s in suites)
    print('tests: %d passed, %d failed, %d skipped' % (total - failures - skipped, failures, skipped))
PY
[ ${#failed[@]} -eq 0 ]
