"""make demo ends by saying where the review report is (issue 17: it referred to a script that did not exist)."""

import os
import subprocess

from tests.harness.paths import ROOT

SCRIPT = os.path.join(ROOT, 'scripts', 'demo_summary.sh')


def test_demo_names_the_report_it_wrote(tmp_path):
    reviews = tmp_path / 'reviews'
    reviews.mkdir()
    for suffix in ('.html', '.md', '.json'):
        (reviews / ('review-weekly-2026-12-07' + suffix)).write_text('x')
    (tmp_path / 'outcomes.jsonl').write_text('{}\n{}\n')
    run = subprocess.run(['bash', SCRIPT, str(tmp_path), '0'], capture_output=True, text=True, check=True)
    assert 'Review report: %s' % (reviews / 'review-weekly-2026-12-07.html') in run.stdout, run.stdout
    assert str(reviews / 'review-weekly-2026-12-07.md') in run.stdout
    assert 'Outcome records: %s (2 records)' % (tmp_path / 'outcomes.jsonl') in run.stdout


def test_demo_says_when_no_report_was_written(tmp_path):
    run = subprocess.run(['bash', SCRIPT, str(tmp_path), '2'], capture_output=True, text=True, check=True)
    assert 'Review report: none written' in run.stdout and 'exit code: 2' in run.stdout


def test_demo_script_calls_the_summary():
    text = open(os.path.join(ROOT, 'scripts', 'demo.sh')).read()
    assert 'demo_summary.sh' in text and 'demo_report.sh' not in text
