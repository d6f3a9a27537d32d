#!/usr/bin/env bash
# The end of `make demo`: where the records and the reports are, and the playbook's exit code.
#   scripts/demo_summary.sh <demo dir> <exit code>
set -euo pipefail
demo=$1
rc=${2:-0}
echo
if [ -f "$demo/outcomes.jsonl" ]; then
  echo "Outcome records: $demo/outcomes.jsonl ($(wc -l < "$demo/outcomes.jsonl") records)"
else
  echo "Outcome records: none written ($demo/outcomes.jsonl is missing)"
fi
reports=$( (find "$demo/reviews" -maxdepth 1 -name 'review-*.html' 2>/dev/null || true) | sort)
if [ -n "$reports" ]; then
  while IFS= read -r report; do
    echo "Review report: $report (open file://$report in a browser)"
    for other in "${report%.html}.md" "${report%.html}.json"; do
      [ -f "$other" ] && echo "               $other"
    done
  done <<< "$reports"
else
  echo "Review report: none written (the review play did not run; see the output above)"
fi
# The monthly security audit of the planted root: every finding with its reason (from the outcome records).
if [ -f "$demo/outcomes.jsonl" ]; then
  python3 - "$demo/outcomes.jsonl" "$demo/env.yml" <<'PY'
import json
import sys

records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
modules = ('access_review', 'security_scan', 'firewall_review', 'config_drift', 'compliance_check')
audit = [r for r in records if r.get('cadence') == 'monthly_security_audit' and r.get('checks')
         and str(r.get('action', '')).rsplit('.', 1)[-1] in modules]
if audit:
    try:
        env = json.load(open(sys.argv[2]))
    except (OSError, ValueError):
        env = {}
    print('Security audit of %s (%s):' % (env.get('demo_audit_root', 'the planted root'), env.get('demo_audit_root_kind', '')))
    shown = ('access.accounts', 'access.sudo', 'access.ssh_keys', 'access.changes', 'security.sshd', 'drift.files',
             'firewall.rules', 'firewall.default_drop')
    for record in audit:
        for check in record['checks']:
            if check['name'] not in shown or check['status'] == 'ok':
                continue
            print('  %-8s %s' % (check['status'], check['name']))
            findings = (check.get('details') or {}).get('findings') or []
            for item in findings or [check]:
                print('           - %s' % item.get('reason'))
    failed = [c for r in audit for c in r['checks'] if c['name'].startswith('compliance.') and c['status'] not in ('ok', 'unknown')
              and c['name'] != 'compliance.summary']
    if failed:
        print('  failed controls: %s' % ', '.join(c['name'][len('compliance.'):] for c in failed))
else:
    print('Security audit: no records (the monthly security audit play did not run; see the output above)')
PY
fi
echo "ansible-playbook exit code: $rc"
