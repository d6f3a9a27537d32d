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
echo "ansible-playbook exit code: $rc"
