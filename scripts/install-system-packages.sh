#!/usr/bin/env bash
# Install the Debian packages listed in $1 that are missing (needs root or sudo; apt-get update once first).
set -euo pipefail
list=${1:-tests/system-packages.txt}
mapfile -t wanted < <(grep -v '^\s*#' "$list" | awk 'NF {print $1}')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts services it installs where systemd runs; the tests start their own on free ports.
for svc in redis-server postgresql; do
  $sudo service "$svc" stop >/dev/null 2>&1 || true
done
