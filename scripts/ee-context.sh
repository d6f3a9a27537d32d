#!/usr/bin/env bash
# Build the collection tarball and the execution-environment build context (ansible-builder create).
# Output: .tmp/ee/context (Containerfile + _build); build it with podman/docker where available.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-$root/.tmp/ee}
mkdir -p "$out/build" "$root/.tmp/ee"
"$root/.venv/bin/ansible-galaxy" collection build --force --output-path "$out/build" . >/dev/null
version=$("$root/.venv/bin/python" -c "import yaml;print(yaml.safe_load(open('galaxy.yml'))['version'])")
cp "$out/build/autopilotcx-maintenance-$version.tar.gz" "$root/.tmp/ee/autopilotcx-maintenance.tar.gz"
"$root/.venv/bin/ansible-builder" create -f execution-environment.yml --context "$out/context" --output-filename Containerfile
echo "$out/context"
