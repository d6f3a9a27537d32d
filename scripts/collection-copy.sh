#!/usr/bin/env bash
# Copy the collection (tracked and untracked-but-not-ignored files) to $1/ansible_collections/autopilotcx/maintenance.
# ansible-test needs that path and resolves symlinks, so a link is not enough.
set -euo pipefail
base=${1:?usage: collection-copy.sh BASEDIR}
dest="$base/ansible_collections/autopilotcx/maintenance"
rm -rf "$dest"
mkdir -p "$dest"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | xargs -0 cp --parents -t "$dest"
else
  tar --exclude=.venv --exclude=.tmp --exclude=.git -cf - . | tar -C "$dest" -xf -
fi
echo "$dest"
