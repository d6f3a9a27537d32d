#!/usr/bin/env bash
# make demo: start the demo environment, run playbooks/demo.yml on it with the outcome callback, stop everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
demo="$root/.tmp/demo"
# an interrupted demo may have left the security audit's overlay root mounted under $demo: unmount it first
awk -v d="$demo/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount
rm -rf "$demo"; mkdir -p "$demo"
.venv/bin/python scripts/demo_env.py --dir "$demo" --ready-file "$demo/ready" > "$demo/env.log" 2>&1 &
env_pid=$!
trap 'kill $env_pid 2>/dev/null; wait $env_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  [ -e "$demo/ready" ] && break
  kill -0 $env_pid 2>/dev/null || { cat "$demo/env.log"; echo "demo environment failed to start" >&2; exit 1; }
  sleep 0.5
done
[ -e "$demo/ready" ] || { cat "$demo/env.log"; echo "demo environment not ready after 120 s" >&2; exit 1; }
cat "$demo/env.log"
export ANSIBLE_COLLECTIONS_PATH="$root/.tmp/collections"
export ANSIBLE_CALLBACKS_ENABLED=autopilotcx.maintenance.outcomes
export AUTOPILOTCX_OUTCOME_LOG="$demo/outcomes.jsonl"
export ANSIBLE_PYTHON_INTERPRETER="$root/.venv/bin/python"
export ANSIBLE_ROLES_PATH="$root/roles"
export ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_DEPRECATION_WARNINGS=False
rc=0
.venv/bin/ansible-playbook -i inventories/demo -i "$demo/env-inventory.yml" playbooks/demo.yml || rc=$?
bash scripts/demo_summary.sh "$demo" "$rc"
exit $rc
