"""The patch rollout playbooks against real Debian chroots (debootstrap, cached in ~/.cache/autopilotcx-maintenance/debroot) and a local apt repository.

Two staging and two production hosts, reached through the community.general.chroot connection. The only stand-in
is the reboot: a chroot cannot reboot, so the tests use ``patch_rollout_reboot: command`` with a command that clears
``/var/run/reboot-required`` as a real reboot would; the post-reboot health gate then runs as after a real one.
"""

import datetime
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.outcome_query import package_hash
from tests.harness.ansible_run import ansible_bin, ansible_env, read_outcomes, run_playbook
from tests.harness.debroot import (
    LIBRARIES,
    PACKAGES,
    SECURITY_PACKAGES,
    DebianRoot,
    PatchFleet,
    PreparedLayer,
    build_repository,
    publish,
)
from tests.harness.paths import ROOT
from tests.unit.plugins.modules.test_return_keys import misused

pytestmark = [pytest.mark.slow]

if os.geteuid() != 0 or not shutil.which('chroot'):
    pytest.skip('the chroot hosts need root', allow_module_level=True)

IN_WEEKLY = '2026-11-29T02:10:00Z'   # last Sunday of November 2026: inside the weekly and the monthly window
OUTSIDE = '2026-11-24T10:00:00Z'     # a Tuesday
LEADS = ['alice', 'bob']
ALL_1_0 = dict((name, '1.0') for name in PACKAGES)

COMMON = {
    'maintenance_security_leads': LEADS,
    'patch_health_gate_roles': [],
    'patch_rollout_reboot': 'command',
    'patch_rollout_reboot_command': 'rm -f /var/run/reboot-required /var/run/reboot-required.pkgs',
}


@pytest.fixture(scope='session')
def prepared_layer(tmp_path_factory):
    """Debootstrap root (cached tarball in ~/.cache/autopilotcx-maintenance/debroot) + local apt repository + the 1.0 packages, built once."""
    repository = build_repository(str(tmp_path_factory.mktemp('apt-repo')))
    layer = PreparedLayer(str(tmp_path_factory.mktemp('prepared')), repository)
    yield layer
    layer.remove()


@pytest.fixture()
def fleet(tmp_path, prepared_layer):
    hosts = PatchFleet(str(tmp_path / 'hosts'), prepared_layer, extra_vars=COMMON)
    yield hosts
    hosts.remove()


@pytest.fixture(scope='module')
def pristine_fleet(tmp_path_factory, prepared_layer):
    """Shared by the tests in which nothing may change (each asserts that nothing did)."""
    hosts = PatchFleet(str(tmp_path_factory.mktemp('pristine')), prepared_layer, extra_vars=COMMON)
    yield hosts
    hosts.remove()


def notify_vars(receiver, tmp_path):
    """Alerts go to a real webhook receiver; the notify role's dedup state stays inside the test."""
    return {'notify_channels': [{'type': 'webhook', 'url': receiver.url + '/hook'}],
            'notify_state_file': str(tmp_path / 'notify-state.json')}


def titles(receiver):
    return [r['json']['title'] for r in receiver.received if 'json' in r]


def readme_config(tmp_path, log):
    """The README's configuration and nothing else: the store is set once, in ansible.cfg's [autopilotcx_outcomes]
    section (no AUTOPILOTCX_OUTCOME_LOG), so the promotion gate must find staging's records where the callback wrote
    them (issue 24: with the README's configuration production was never patched)."""
    with open(os.path.join(ROOT, 'tests', 'ansible.cfg')) as handle:
        base = handle.read()
    path = tmp_path / ('ansible-%s.cfg' % log.stem)
    path.write_text(base + '\n[autopilotcx_outcomes]\npath = %s\n' % log)
    return str(path)


def play(name, fleet, tmp_path, extra=None, args=(), receiver=None):
    log = tmp_path / ('%s-%s.jsonl' % (name, len(list(tmp_path.glob('*.jsonl')))))
    extra_vars = dict(extra or {})
    if receiver is not None:
        extra_vars.update(notify_vars(receiver, tmp_path))
    result = run_playbook(os.path.join(ROOT, 'playbooks', name + '.yml'), inventory=fleet.inventory,
                          extra_vars=extra_vars, args=args,
                          env={'ANSIBLE_PIPELINING': 'True', 'ANSIBLE_CONFIG': readme_config(tmp_path, log)})
    return result, read_outcomes(str(log)) if log.exists() else []


def checks_named(records, name):
    return [(r['host'], c) for r in records for c in r.get('checks', []) if c['name'] == name]


def expected_after_security():
    return dict((name, '1.1' if name in SECURITY_PACKAGES else '1.0') for name in PACKAGES)


SECURITY_SET = ['apcx-kernel=1.1', 'apcx-libssl=1.1', 'apcx-openssl=1.1']
APPLY_TASK = 'Apply the planned package set'


def task_records(records, task_suffix):
    """{host: record} of the task whose name ends with task_suffix."""
    return dict((r['host'], r) for r in records if r.get('task', '').endswith(task_suffix))


def task_output(stdout, task_suffix):
    """The console block of one task (from its TASK banner to the next banner), all occurrences joined."""
    blocks = re.split(r'\n(?=TASK \[|PLAY \[|PLAY RECAP)', stdout)
    return '\n'.join(b for b in blocks if b.startswith('TASK [') and b.split(']', 1)[0].endswith(task_suffix))


def failure_msg(stdout, prefix):
    match = re.search(r'"msg": "(%s[^"]*)"' % re.escape(prefix), stdout)
    assert match, stdout[-3000:]
    return match.group(1)


MAPPER = ('import mmap, sys, time\n'
          'handle = open(sys.argv[1], "rb")\n'
          'mapped = mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ)\n'
          'print("mapped", flush=True)\n'
          'time.sleep(900)\n')


class LibraryUser(object):
    """A process inside a host that maps apcx-libssl's library as a program maps a shared library; /proc mounted
    in that host so the module there can see it."""

    def __init__(self, root):
        self.root = root
        self.proc_dir = os.path.join(root.path, 'proc')
        subprocess.run(['mount', '-t', 'proc', 'proc', self.proc_dir], check=True)
        self.process = subprocess.Popen(['chroot', root.path, 'python3', '-c', MAPPER, '/' + LIBRARIES['apcx-libssl']],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == 'mapped'

    def stop(self):
        self.process.kill()
        self.process.wait()
        subprocess.run(['umount', self.proc_dir], check=False)


def service_health_gate(url):
    """The real health-check role of the collection as the gate (resource_usage is left out on purpose: inside a
    chroot it would measure this shared test machine's load, not the host's)."""
    return {'patch_health_gate_roles': ['autopilotcx.maintenance.service_health'],
            'service_health_endpoints': [{'name': 'app', 'url': url}]}


def test_weekly_patching_security_only_staging_then_production(fleet, tmp_path, webhook_receiver, http_server):
    extra = dict(service_health_gate(http_server.url + '/health'), patch_rollout_window_now=IN_WEEKLY)
    result, records = play('weekly_patching', fleet, tmp_path, extra, args=['--diff'], receiver=webhook_receiver)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for host, versions in fleet.versions().items():
        # security only: the two security packages; the ordinary update and the held package stay at 1.0
        assert versions == expected_after_security(), host
        assert versions['apcx-pinned'] == '1.0' and versions['apcx-tool'] == '1.0'
        # the kernel-like package asked for a reboot; the (simulated) reboot cleared it
        assert not fleet.hosts[host].reboot_required()
    verified = checks_named(records, 'patch.staging_verified')
    assert sorted(h for h, _c in verified) == ['stg1', 'stg2']
    assert verified[0][1]['details']['package_set'] == SECURITY_SET
    # issue 24: every host left apcx-pinned (held) and apcx-tool (not security) alone, and the module said so under
    # `skipped`: Ansible then showed the run as skipped, hid its diff, and the outcome record said skipped
    plans = task_records(records, 'Plan the selection (simulated, nothing changes)')
    assert dict((h, r['status']) for h, r in plans.items()) == dict((h, 'changed') for h in fleet.hosts)
    assert 'skipping:' not in task_output(result.stdout, 'Plan the selection (simulated, nothing changes)')
    applies = task_records(records, APPLY_TASK)
    assert dict((h, r['status']) for h, r in applies.items()) == dict((h, 'changed') for h in fleet.hosts)
    shown = task_output(result.stdout, APPLY_TASK)
    assert 'skipping:' not in shown and 'changed: [prd2]' in shown
    assert '-apcx-libssl 1.0' in shown and '+apcx-libssl 1.1' in shown
    summary = checks_named(records, 'patch.rollout_summary')[0][1]
    assert summary['reason'].startswith('4 of 4 host(s) patched (2 staging, 2 production), 12 package change(s), 4 reboot(s)')
    gates = checks_named(records, 'patch.promotion_gate')
    assert sorted(h for h, c in gates if c['status'] == 'ok') == ['prd1', 'prd2']
    applied = dict((h, c) for h, c in checks_named(records, 'patch.apply') if c['details'].get('changes'))
    assert set(applied) == {'stg1', 'stg2', 'prd1', 'prd2'}
    assert applied['prd1']['details']['changes'] == [
        {'name': 'apcx-kernel', 'before': '1.0', 'after': '1.1'},
        {'name': 'apcx-libssl', 'before': '1.0', 'after': '1.1'},
        {'name': 'apcx-openssl', 'before': '1.0', 'after': '1.1'}]
    # production ran as a canary batch of one, then the rest
    assert result.stdout.count('PLAY [Weekly security patches - production') == 2
    # the reboot ran on every host (required by apcx-kernel), followed by the post-reboot health gate
    reboots = [r for r in records if r.get('task', '').endswith('Reboot by command') and r['status'] == 'changed']
    assert len(reboots) == 4
    assert checks_named(records, 'patch.rollout_summary')
    assert titles(webhook_receiver) == ['weekly_patching finished']
    # the service_health role ran as part of the gate after every batch (and after the reboots)
    assert [c for _h, c in checks_named(records, 'http.status') if c['status'] == 'ok']


def test_check_mode_previews_ends_green_and_alerts_nobody(pristine_fleet, tmp_path, webhook_receiver):
    before = pristine_fleet.versions()
    assert all(v == ALL_1_0 for v in before.values())
    result, records = play('weekly_patching', pristine_fleet, tmp_path, {'patch_rollout_window_now': IN_WEEKLY},
                           args=['--check', '--diff'], receiver=webhook_receiver)
    assert pristine_fleet.versions() == before
    # issue 24: the dry run ended rc 2 with a critical patch.rollout_stopped and a "rollout stopped" page
    assert result.returncode == 0, result.stdout[-4000:]
    assert webhook_receiver.received == []
    assert not checks_named(records, 'patch.rollout_stopped')
    assert not [r for r in records if r['status'] in ('failed', 'unreachable')]
    # it did plan: apt's simulation of the exact set, shown as a diff
    planned = [c for _h, c in checks_named(records, 'patch.apply') if c['details'].get('would_change')]
    assert planned, result.stdout[-3000:]
    assert '+apcx-openssl 1.1' in result.stdout
    # per host and per stage, what would be installed; production says it would wait for staging
    for host in ('stg1', 'stg2'):
        assert '%s (staging) would install: apcx-kernel 1.0 -> 1.1, apcx-libssl 1.0 -> 1.1, apcx-openssl 1.0 -> 1.1' % host \
            in result.stdout
    assert '; left alone: apcx-pinned (held (holds are always respected)), apcx-tool (not a security update)' in result.stdout
    for host in ('prd1', 'prd2'):
        assert '%s (production) would install: apcx-kernel 1.0 -> 1.1' % host in result.stdout
        assert '%s (production) would wait for a real staging verification of apcx-kernel=1.1, apcx-libssl=1.1, ' \
            'apcx-openssl=1.1' % host in result.stdout
    # a check run verifies nothing, so production is not promoted by it
    assert not checks_named(records, 'patch.staging_verified')
    summary = checks_named(records, 'patch.rollout_summary')
    assert summary and summary[0][1]['reason'].startswith('check mode, nothing was changed: 4 host(s) previewed')
    assert 'patched' not in summary[0][1]['reason']


def test_outside_the_window_nothing_starts(pristine_fleet, tmp_path):
    before = pristine_fleet.versions()
    for name in ('weekly_patching', 'monthly_os_updates'):
        result, records = play(name, pristine_fleet, tmp_path, {'patch_rollout_window_now': OUTSIDE})
        assert result.returncode != 0
        assert 'No new batch: outside' in result.stdout
        assert not [r for r in records if r.get('action', '').endswith('patch_apply') and r['status'] == 'changed']
    assert pristine_fleet.versions() == before


def test_after_the_cutoff_no_batch_starts(pristine_fleet, tmp_path):
    before = pristine_fleet.versions()
    result, _records = play('weekly_patching', pristine_fleet, tmp_path, {'patch_rollout_window_now': '2026-11-29T03:45:00Z'})
    assert result.returncode != 0
    assert 'past its batch cutoff' in result.stdout
    assert pristine_fleet.versions() == before


@pytest.mark.parametrize('approval', [
    {},                                                   # approved_by missing
    {'approved_by': 'mallory', 'change_ref': 'CHG-1'},    # not a security lead
    {'approved_by': 'alice'},                             # no change reference
])
def test_emergency_refused_without_listed_approver(pristine_fleet, tmp_path, approval):
    before = pristine_fleet.versions()
    extra = dict(approval, emergency_hotfix_packages=['apcx-openssl=1.1'])
    result, records = play('emergency_hotfix', pristine_fleet, tmp_path, extra)
    assert result.returncode != 0
    message = failure_msg(result.stdout, 'Emergency change refused before any change')
    # issue 24: the refusal named role variables (emergency_approval_approved_by) instead of what the user passes
    assert 'emergency_approval_' not in message
    if 'approved_by' not in approval:
        assert 'approved_by is missing (-e approved_by=' in message
    elif approval['approved_by'] == 'mallory':
        assert "approved_by 'mallory' is not one of the approvers (alice, bob)" in message
    if 'change_ref' not in approval:
        assert 'change_ref is missing (-e change_ref=' in message
    # nothing ran on any target host
    assert not [r for r in records if r.get('host') in pristine_fleet.hosts]
    assert pristine_fleet.versions() == before


def test_failing_staging_health_gate_never_touches_production(fleet, tmp_path, webhook_receiver):
    open(os.path.join(fleet.hosts['stg2'].path, 'etc/apcx-unhealthy'), 'w').close()
    probes = [{'name': 'app.unhealthy_marker', 'command': 'test -e /etc/apcx-unhealthy && echo 1 || echo 0',
               'limits': {'critical': 0, 'priority': 'high'}}]
    extra = {'patch_rollout_window_now': IN_WEEKLY, 'patch_health_gate_probes': probes}
    result, records = play('weekly_patching', fleet, tmp_path, extra, receiver=webhook_receiver)
    assert result.returncode != 0
    assert 'weekly_patching stopped on stg2' in titles(webhook_receiver)
    versions = fleet.versions()
    assert versions['prd1'] == ALL_1_0 and versions['prd2'] == ALL_1_0
    assert not [r for r in records if r.get('host') in ('prd1', 'prd2')]
    assert not checks_named(records, 'patch.staging_verified')
    stopped = dict(checks_named(records, 'patch.rollout_stopped'))
    assert 'stg2' in stopped   # (any_errors_fatal stops stg1 with it)
    assert 'unhealthy marker 1 > 0' in stopped['stg2']['reason']  # (the check name is an extra var: redacted)


def test_failing_service_health_gate_stops_before_production(fleet, tmp_path, http_server):
    extra = dict(service_health_gate(http_server.url + '/error'), patch_rollout_window_now=IN_WEEKLY)
    result, records = play('weekly_patching', fleet, tmp_path, extra)
    assert result.returncode != 0
    versions = fleet.versions()
    assert versions['stg1'] == expected_after_security()      # staging was patched, then its gate failed
    assert versions['prd1'] == ALL_1_0 and versions['prd2'] == ALL_1_0
    assert not [r for r in records if r.get('host') in ('prd1', 'prd2')]
    assert [c for _h, c in checks_named(records, 'http.status') if c['status'] == 'critical']


def test_failing_production_canary_stops_the_rollout(fleet, tmp_path):
    open(os.path.join(fleet.hosts['prd1'].path, 'etc/apcx-unhealthy'), 'w').close()
    probes = [{'name': 'app.unhealthy_marker', 'command': 'test -e /etc/apcx-unhealthy && echo 1 || echo 0',
               'limits': {'critical': 0}}]
    extra = {'patch_rollout_window_now': IN_WEEKLY, 'patch_health_gate_probes': probes}
    result, _records = play('weekly_patching', fleet, tmp_path, extra)
    assert result.returncode != 0
    versions = fleet.versions()
    assert versions['prd1'] == expected_after_security()   # the canary was patched and failed its gate
    assert versions['prd2'] == ALL_1_0                     # the next batch never started


def test_emergency_hotfix_with_approval(fleet, tmp_path, webhook_receiver):
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    user = LibraryUser(fleet.hosts['stg1'])   # a program on stg1 using the library the hotfix replaces
    try:
        result, records = play('emergency_hotfix', fleet, tmp_path, {
            'approved_by': 'alice', 'change_ref': 'CHG-2026-001', 'reason': 'CVE-2026-0001',
            'emergency_hotfix_packages': ['apcx-openssl=1.1'],
            'patch_rollout_window_now': OUTSIDE},   # the window is bypassed for an approved emergency
            receiver=webhook_receiver)
    finally:
        user.stop()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # issue 24: restart needs were silent; the process on stg1 still maps the replaced library, the other hosts
    # (chroots without /proc) cannot tell, and both are said
    summary = checks_named(records, 'patch.rollout_summary')[0][1]
    by_host = dict((h['host'], h) for h in summary['details']['hosts'])
    assert [p['pid'] for p in by_host['stg1']['processes_needing_restart']] == [user.process.pid]
    assert by_host['stg1']['processes_needing_restart'][0]['files'] == ['/' + LIBRARIES['apcx-libssl']]
    assert by_host['stg1']['restart_method'] == 'proc' and by_host['prd1']['restart_method'] is None
    # (the unit is the test runner's own cgroup, or the command when that is no service)
    assert 'restart needed on stg1: ' in summary['reason'] and '(pid %d)' % user.process.pid in summary['reason']
    assert 'restart needs unknown on prd1, prd2, stg2' in summary['reason']
    assert summary['status'] == 'warning'
    assert 'cannot tell which services still use the replaced libraries' in result.stderr   # the module's warning
    for host, versions in fleet.versions().items():
        assert versions == dict(ALL_1_0, **{'apcx-openssl': '1.1', 'apcx-libssl': '1.1'}), host
    # issue 24: staging verified only the named package; apcx-libssl came in as a dependency and was compared by nothing
    verified = checks_named(records, 'patch.staging_verified')
    assert sorted(h for h, _c in verified) == ['stg1', 'stg2']
    assert sorted(verified[0][1]['details']['package_hashes']) == sorted(
        package_hash(p) for p in ['apcx-libssl=1.1', 'apcx-openssl=1.1'])
    assert 'apcx-libssl=1.1' in verified[0][1]['details']['package_set']
    assert set(r['status'] for r in task_records(records, APPLY_TASK).values()) == {'changed'}
    # the outcome log has the record with its timestamps; approved_by/change_ref/reason are audit extra vars the
    # outcome callback keeps readable (keep_extra_vars)
    approval = checks_named(records, 'emergency.approval')[0][1]['details']
    assert approval['approved_by'] == 'alice' and approval['change_ref'] == 'CHG-2026-001'
    approved = datetime.datetime.strptime(approval['approved_at'], '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
    due = datetime.datetime.strptime(approval['documentation_due'], '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
    assert started - datetime.timedelta(seconds=2) <= approved <= started + datetime.timedelta(minutes=10)
    assert due - approved == datetime.timedelta(hours=24)
    assert approval['postmortem_required'] in (True, 'True', 'true')
    files = glob.glob(os.path.join(str(tmp_path), 'incidents', 'CHG-2026-001-*.json'))
    assert len(files) == 1
    with open(files[0]) as handle:
        incident = json.load(handle)
    assert incident['name'] == 'emergency.completed'
    assert incident['details']['approved_by'] == 'alice' and incident['details']['change_ref'] == 'CHG-2026-001'
    assert incident['details']['reason'] == 'CVE-2026-0001'
    assert incident['details']['completed_at'] >= incident['details']['approved_at']
    assert incident['details']['documentation_due'] == approval['documentation_due']
    assert len(incident['details']['hosts']) == 4
    sent = titles(webhook_receiver)
    assert sent[0] == 'Emergency change CHG-2026-001 starting'   # immediately, before any host is touched
    assert webhook_receiver.received[0]['json']['priority'] == 'high'
    assert 'emergency_hotfix finished' in sent


def test_monthly_os_updates_pinned_packages_then_a_second_run(fleet, tmp_path):
    # the mode selection takes only apcx-tool; the pinned list adds apcx-openssl and names the held apcx-pinned
    extra = {'patch_rollout_window_now': IN_WEEKLY, 'patch_rollout_include': ['apcx-tool'],
             'monthly_os_updates_pinned_packages': ['apcx-openssl=1.1', 'apcx-pinned=1.1']}
    result, records = play('monthly_os_updates', fleet, tmp_path, extra)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    expected = dict(ALL_1_0, **{'apcx-tool': '1.1', 'apcx-openssl': '1.1', 'apcx-libssl': '1.1'})
    # issue 24: one held package in the pinned list made the pinned step look skipped, so no pinned package was applied
    for host, versions in fleet.versions().items():
        assert versions == expected, host
    pinned = task_records(records, 'Apply the pinned packages')
    assert dict((h, r['status']) for h, r in pinned.items()) == dict((h, 'changed') for h in fleet.hosts)
    verified = dict(checks_named(records, 'patch.staging_verified'))
    assert sorted(verified['stg1']['details']['package_hashes']) == sorted(
        package_hash(p) for p in ['apcx-libssl=1.1', 'apcx-openssl=1.1', 'apcx-tool=1.1'])
    summary = checks_named(records, 'patch.rollout_summary')[0][1]
    assert summary['reason'].startswith('4 of 4 host(s) patched')
    not_applied = dict((h['host'], h['not_applied']) for h in summary['details']['hosts'])
    assert {'name': 'apcx-pinned', 'reason': 'held (holds are always respected)'} in not_applied['prd1']

    # a second run: nothing left to do, nothing changed, and the summary does not claim a patch
    again, records = play('monthly_os_updates', fleet, tmp_path, extra)
    assert again.returncode == 0, again.stdout[-4000:]
    for host, versions in fleet.versions().items():
        assert versions == expected, host
    assert not [r for r in records if r.get('action', '').endswith('patch_apply') and r['status'] == 'changed']
    summary = checks_named(records, 'patch.rollout_summary')[0][1]
    assert summary['reason'].startswith('4 host(s) checked, nothing to patch'), summary['reason']
    assert 'patched' not in summary['reason']


def test_held_on_staging_refuses_production_naming_only_the_difference(fleet, tmp_path, webhook_receiver):
    for host in ('stg1', 'stg2'):
        fleet.hosts[host].chroot('apt-mark', 'hold', 'apcx-kernel')
    result, records = play('weekly_patching', fleet, tmp_path, {'patch_rollout_window_now': IN_WEEKLY},
                           receiver=webhook_receiver)
    assert result.returncode != 0
    versions = fleet.versions()
    for host in ('stg1', 'stg2'):
        assert versions[host] == dict(ALL_1_0, **{'apcx-openssl': '1.1', 'apcx-libssl': '1.1'}), host
    assert versions['prd1'] == ALL_1_0 and versions['prd2'] == ALL_1_0
    # staging changed its hosts: recorded as changed, not skipped (issue 24)
    applies = task_records(records, APPLY_TASK)
    assert applies['stg1']['status'] == 'changed' and applies['stg2']['status'] == 'changed'
    gate = dict(checks_named(records, 'patch.promotion_gate'))['prd1']
    assert gate['status'] == 'critical'
    # issue 24: the refusal listed every package; only the one staging did not verify differs
    assert gate['details']['not_verified'] == ['apcx-kernel=1.1']
    assert 'apcx-kernel=1.1 (not verified by staging)' in gate['reason']
    assert 'apcx-openssl' not in gate['reason'] and 'apcx-libssl' not in gate['reason']
    assert 'weekly_patching stopped on prd1' in titles(webhook_receiver)


def test_production_refused_when_apt_would_pull_a_dependency_staging_did_not_test(fleet, tmp_path):
    # production's mirror moved on after staging: the hotfix names apcx-openssl=1.1 only, and apt would pull in
    # apcx-libssl 1.2 on production where staging tested 1.1
    for host in ('prd1', 'prd2'):
        publish(fleet.hosts[host], str(tmp_path / ('debs-' + host)), 'apcx-libssl', '1.2')
    result, records = play('emergency_hotfix', fleet, tmp_path, {
        'approved_by': 'alice', 'change_ref': 'CHG-2026-002', 'emergency_hotfix_packages': ['apcx-openssl=1.1']})
    assert result.returncode != 0
    versions = fleet.versions()
    for host in ('stg1', 'stg2'):
        assert versions[host] == dict(ALL_1_0, **{'apcx-openssl': '1.1', 'apcx-libssl': '1.1'}), host
    # issue 24: production was promoted on apcx-openssl alone and installed an untested apcx-libssl 1.2
    assert versions['prd1'] == ALL_1_0 and versions['prd2'] == ALL_1_0
    gate = dict(checks_named(records, 'patch.promotion_gate'))['prd1']
    assert gate['details']['not_verified'] == ['apcx-libssl=1.2']
    assert 'apcx-libssl=1.2 (staging verified apcx-libssl=1.1)' in gate['reason']
    assert "Rollout stopped on prd1" in result.stdout


def test_ad_hoc_apply_shows_changed_and_its_diff(prepared_layer, tmp_path):
    # issue 24: `ansible prd2 -m patch_apply -a mode=security` installed the updates and printed "prd2 | SKIPPED"
    root = DebianRoot(str(tmp_path / 'prd2'), prepared_layer)
    try:
        inventory = tmp_path / 'inventory.yml'
        inventory.write_text(json.dumps({'all': {'hosts': {'prd2': {
            'ansible_host': root.path, 'ansible_connection': 'community.general.chroot',
            'ansible_python_interpreter': '/usr/bin/python3'}}}}))

        def adhoc():
            return subprocess.run([ansible_bin('ansible'), 'prd2', '-i', str(inventory), '--diff',
                                   '-m', 'autopilotcx.maintenance.patch_apply', '-a', 'mode=security'],
                                  env=ansible_env(extra={'ANSIBLE_PIPELINING': 'True'}), capture_output=True, text=True,
                                  check=False, timeout=600, cwd=ROOT)

        first = adhoc()
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
        assert root.versions() == expected_after_security()
        assert 'prd2 | CHANGED' in first.stdout and 'SKIPPED' not in first.stdout
        assert '-apcx-openssl 1.0' in first.stdout and '+apcx-openssl 1.1' in first.stdout
        returned = json.loads(first.stdout.split('prd2 | CHANGED => ', 1)[1].split('\n}', 1)[0] + '\n}')
        assert returned['changed'] is True and misused(returned) == []
        assert [n['name'] for n in returned['not_applied']] == ['apcx-pinned', 'apcx-tool']
        second = adhoc()
        assert second.returncode == 0 and 'prd2 | SUCCESS' in second.stdout, second.stdout[-3000:]
        assert root.versions() == expected_after_security()
    finally:
        root.remove()


def test_maintenance_notices(tmp_path, webhook_receiver):
    inventory = tmp_path / 'inventory.yml'
    windows = {
        'weekly': {'rrule': 'FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0', 'duration': '2h', 'timezone': 'UTC', 'notice': '24h'},
        'monthly': {'rrule': 'FREQ=MONTHLY;BYDAY=-1SU;BYHOUR=2;BYMINUTE=0', 'duration': '4h', 'timezone': 'UTC', 'notice': '72h'},
        'quarterly': {'dates': ['2027-01-16T02:00:00'], 'duration': '8h', 'timezone': 'UTC', 'notice': '14d'},
    }
    inventory.write_text(json.dumps({'all': {'hosts': {}, 'vars': {'maintenance_windows': windows}}}))
    expectations = {
        '2026-11-26T08:00:00Z': ['monthly'],             # Thursday: 72 h before the last Sunday of November
        '2026-11-28T08:00:00Z': ['weekly'],              # Saturday: 24 h before Sunday 02:00
        '2027-01-02T08:00:00Z': ['quarterly', 'weekly'],  # two weeks before the quarterly date
        '2026-11-24T08:00:00Z': [],
    }
    for now, names in expectations.items():
        log = tmp_path / ('n-%s.jsonl' % now[:10])
        del webhook_receiver.received[:]
        result = run_playbook(os.path.join(ROOT, 'playbooks', 'maintenance_notice.yml'), inventory=str(inventory),
                              extra_vars=dict(notify_vars(webhook_receiver, tmp_path), maintenance_notice_now=now),
                              outcome_log=str(log))
        assert result.returncode == 0, result.stdout[-3000:]
        sent = sorted(c['target'] for _h, c in checks_named(read_outcomes(str(log)), 'maintenance.notice'))
        assert sent == sorted(names), now
        assert sorted(t.split()[2] for t in titles(webhook_receiver)) == sorted(names)   # "Maintenance notice: <name> window ..."
