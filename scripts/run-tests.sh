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
# The real-AWX tests (tests/integration/test_awx_real.py) run beside every other stage from the start: they spend
# most of their time waiting on AWX, and alone they take longer than the rest. Their fixture starts AWX once
# (../shared/awx/up.sh) and stops it with down.sh; the trap stops it too if this script is interrupted.
# AUTOPILOTCX_AWX_TESTS=0 switches them off (docs/scheduling.md); an AWX that cannot start fails them.
AWX_TEST=tests/integration/test_awx_real.py
awx_stop() {   # on an interrupt: end the AWX pytest, then stop AWX as its fixture would have (down.sh, keeping the data)
  [ -n "${awx_pid:-}" ] && kill "$awx_pid" 2>/dev/null && wait "$awx_pid" 2>/dev/null
  local dir=${AUTOPILOTCX_AWX_TEST_DIR:-} up=$root
  while [ -z "$dir" ] && [ "$up" != / ]; do up=$(dirname "$up"); [ -f "$up/shared/awx/down.sh" ] && dir=$up/shared/awx; done
  [ -n "$dir" ] && bash "$dir/down.sh"
}
rm -f .tmp/results/pytest-awx.xml
awx_start=$SECONDS
.venv/bin/python -m pytest -q -n 0 -p no:cacheprovider --junitxml=.tmp/results/pytest-awx.xml "$AWX_TEST" \
  >.tmp/results/pytest-awx.log 2>&1 &
awx_pid=$!
trap 'awx_stop; exit 130' INT TERM
stage "changelog lint" .venv/bin/antsibull-changelog lint
stage "ruff" .venv/bin/ruff check --no-cache --output-format concise .   # ruff.toml
stage "mypy" bash scripts/mypy.sh   # mypy.ini: module_utils/core and the outcome store
stage "ansible-doc" bash scripts/check-docs.sh
stage "ansible-lint (production profile)" bash scripts/lint.sh
stage "collection build" .venv/bin/ansible-galaxy collection build --force --output-path .tmp/build .
stage "ansible-test sanity" bash scripts/ansible-test-sanity.sh
# Unit and integration tests last, so that pytest's summary is the closing line of the run.
stage "pytest (unit + integration)" .venv/bin/python -m pytest -q -n 2 --dist loadfile \
  --junitxml=.tmp/results/pytest.xml --ignore="$AWX_TEST" tests/unit tests/integration
awx_wait() { wait "$awx_pid"; local rc=$?; awx_pid=; cat .tmp/results/pytest-awx.log; echo "(started with the first stage, ended $((SECONDS - awx_start)) s later)"; return $rc; }
stage "pytest (real AWX)" awx_wait
trap - INT TERM
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED stages: ${failed[*]}"
fi
.venv/bin/python - <<'PY'
import xml.etree.ElementTree as ET
total = failures = skipped = 0
for path in ('.tmp/results/pytest.xml', '.tmp/results/pytest-awx.xml'):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        total += 1
        failures += 1             # a report missing: its pytest did not finish
        continue
    suites = [root] if root.tag == 'testsuite' else list(root)
    total += sum(int(s.get('tests', 0)) for s in suites)
    failures += sum(int(s.get('failures', 0)) + int(s.get('errors', 0)) for s in suites)
    skipped += sum(int(s.get('skipped', 0)) for s in suites)
print('tests: %d passed, %d failed, %d skipped' % (total - failures - skipped, failures, skipped))
PY
[ ${#failed[@]} -eq 0 ]
