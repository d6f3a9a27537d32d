"""The patch rollout playbooks against real Debian chroots (debootstrap, cached in .cache/) and a local apt repository.

Two staging and two production hosts, reached through the community.general.chroot connection. The only stand-in
is the reboot: a chroot cannot reboot, so the tests use ``patch_rollout_reboot: command`` with a command that clears
``/var/run/reboot-required`` as a real reboot would; the post-reboot health gate then runs as after a real one.
"""

import datetime
import glob
import json
import os
import shutil

import pytest

from tests.harness.ansible_run import read_outcomes, run_playbook
from tests.harness.debroot import HELD, PACKAGES, SECURITY_PACKAGES, PatchFleet, PreparedLayer, build_repository
from tests.harness.paths import ROOT

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
    """Debootstrap root (cached tarball in .cache/) + local apt repository + the 1.0 packages, built once."""
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


def play(name, fleet, tmp_path, extra=None, args=(), receiver=None):
    log = tmp_path / ('%s-%s.jsonl' % (name, len(list(tmp_path.glob('*.jsonl')))))
    extra_vars = dict(extra or {})
    if receiver is not None:
        extra_vars.update(notify_vars(receiver, tmp_path))
    result = run_playbook(os.path.join(ROOT, 'playbooks', name + '.yml'), inventory=fleet.inventory,
                          extra_vars=extra_vars, outcome_log=str(log), args=args, env={'ANSIBLE_PIPELINING': 'True'})
    return result, read_outcomes(str(log)) if log.exists() else []


def checks_named(records, name):
    return [(r['host'], c) for r in records for c in r.get('checks', []) if c['name'] == name]


def expected_after_security():
    return dict((name, '1.1' if name in SECURITY_PACKAGES else '1.0') for name in PACKAGES)


def service_health_gate(url):
    """The real health-check role of the collection as the gate (resource_usage is left out on purpose: inside a
    chroot it would measure this shared test machine's load, not the host's)."""
    return {'patch_health_gate_roles': ['autopilotcx.maintenance.service_health'],
            'service_health_endpoints': [{'name': 'app', 'url': url}]}


def test_weekly_patching_security_only_staging_then_production(fleet, tmp_path, webhook_receiver, http_server):
    extra = dict(service_health_gate(http_server.url + '/health'), patch_rollout_window_now=IN_WEEKLY)
    result, records = play('weekly_patching', fleet, tmp_path, extra, receiver=webhook_receiver)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for host, versions in fleet.versions().items():
        # security only: the two security packages; the ordinary update and the held package stay at 1.0
        assert versions == expected_after_security(), host
        assert versions['apcx-pinned'] == '1.0' and versions['apcx-tool'] == '1.0'
        # the kernel-like package asked for a reboot; the (simulated) reboot cleared it
        assert not fleet.hosts[host].reboot_required()
    verified = checks_named(records, 'patch.staging_verified')
    assert sorted(h for h, _c in verified) == ['stg1', 'stg2']
    assert verified[0][1]['details']['package_set'] == ['apcx-kernel=1.1', 'apcx-openssl=1.1']
    gates = checks_named(records, 'patch.promotion_gate')
    assert sorted(h for h, c in gates if c['status'] == 'ok') == ['prd1', 'prd2']
    applied = dict((h, c) for h, c in checks_named(records, 'patch.apply') if c['details'].get('changes'))
    assert set(applied) == {'stg1', 'stg2', 'prd1', 'prd2'}
    assert applied['prd1']['details']['changes'] == [
        {'name': 'apcx-kernel', 'before': '1.0', 'after': '1.1'},
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


def test_check_mode_changes_nothing(pristine_fleet, tmp_path):
    before = pristine_fleet.versions()
    assert all(v == ALL_1_0 for v in before.values())
    result, records = play('weekly_patching', pristine_fleet, tmp_path, {'patch_rollout_window_now': IN_WEEKLY},
                           args=['--check', '--diff'])
    assert pristine_fleet.versions() == before
    # it did plan: apt's simulation of the exact set, shown as a diff
    planned = [c for _h, c in checks_named(records, 'patch.apply') if c['details'].get('would_change')]
    assert planned, result.stdout[-3000:]
    assert '+apcx-openssl 1.1' in result.stdout
    # a check run verifies nothing, so production is not promoted by it
    assert not checks_named(records, 'patch.staging_verified')
    assert result.returncode != 0  # production refused: no staging verification recorded


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
    assert 'Emergency change refused before any change' in result.stdout
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
    result, records = play('emergency_hotfix', fleet, tmp_path, {
        'approved_by': 'alice', 'change_ref': 'CHG-2026-001', 'reason': 'CVE-2026-0001',
        'emergency_hotfix_packages': ['apcx-openssl=1.1'],
        'patch_rollout_window_now': OUTSIDE},   # the window is bypassed for an approved emergency
        receiver=webhook_receiver)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for host, versions in fleet.versions().items():
        assert versions == dict(ALL_1_0, **{'apcx-openssl': '1.1'}), host
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


def test_monthly_os_updates_all_but_held(fleet, tmp_path):
    result, records = play('monthly_os_updates', fleet, tmp_path, {'patch_rollout_window_now': IN_WEEKLY})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for host, versions in fleet.versions().items():
        assert versions == dict((n, '1.0' if n in HELD else '1.1') for n in PACKAGES), host


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
