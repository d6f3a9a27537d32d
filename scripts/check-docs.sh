#!/usr/bin/env bash
# ansible-doc must render every plugin of the collection (modules, callbacks, filters, lookups, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
.venv/bin/python -c "import sys; sys.path.insert(0, '.'); from tests.harness.paths import ensure_collection_link; ensure_collection_link()"
export ANSIBLE_COLLECTIONS_PATH="$root/.tmp/collections"
failed=0; count=0
for dir in plugins/*/; do
  type=$(basename "$dir")
  # action plugins are documented by the module file of the same name
  case "$type" in module_utils|doc_fragments|plugin_utils|action|__pycache__) continue ;; modules) type=module ;; esac
  for file in "$dir"*.py "$dir"*.yml; do
    [ -e "$file" ] || continue
    name=$(basename "$file"); name=${name%.*}
    case "$name" in __init__|_*) continue ;; esac
    # filter/test plugins may keep several plugins in one file; their docs are .yml sidecars
    if [ "$type" = filter ] || [ "$type" = test ]; then [[ "$file" == *.yml ]] || continue; fi
    count=$((count + 1))
    if out=$(.venv/bin/ansible-doc -t "$type" "autopilotcx.maintenance.$name" 2>&1) && ! grep -q "^\[WARNING\]: .*autopilotcx" <<<"$out"; then
      echo "ansible-doc ok: $type autopilotcx.maintenance.$name"
    else
      echo "ansible-doc FAILED: $type autopilotcx.maintenance.$name"; echo "$out" | head -20; failed=1
    fi
  done
done
echo "ansible-doc: $count plugin(s) checked"
exit $failed
