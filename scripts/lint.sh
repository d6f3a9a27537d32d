#!/usr/bin/env bash
# ansible-lint with the production profile on a copy of the collection under ansible_collections/ (so FQCNs resolve).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$(bash "$root/scripts/collection-copy.sh" "$root/.tmp/lint")
cd "$dest"
export ANSIBLE_COLLECTIONS_PATH="$root/.tmp/lint:$root/.venv/lib/python3.11/site-packages"
"$root/.venv/bin/ansible-lint" --offline --profile production "$@"
