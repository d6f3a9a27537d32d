#!/usr/bin/env bash
# mypy on plugins/module_utils/core/ and plugins/module_utils/outcomes/ (mypy.ini), through the collection's import path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
base="$root/.tmp/mypy"
mkdir -p "$base/ansible_collections/autopilotcx"
ln -sfn "$root" "$base/ansible_collections/autopilotcx/maintenance"
pkg=ansible_collections.autopilotcx.maintenance.plugins.module_utils
cd "$base"
exec "$root/.venv/bin/mypy" --config-file "$root/mypy.ini" --cache-dir "$root/.tmp/mypy_cache" \
  -p "$pkg.core" -p "$pkg.outcomes" "$@"
