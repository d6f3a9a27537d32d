"""resource_check logic: the parsers on edge-case text, the whole check on this (Linux) machine."""

import os
import shutil

import pytest
import yaml

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import resource_check as resources
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from tests.harness.paths import ROOT

THRESHOLDS = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'maintenance', 'defaults', 'main.yml')))['maintenance_thresholds']
STATUSES = ('ok', 'warning', 'critical', 'unknown')


def with_thresholds(**changes):
    merged = dict(THRESHOLDS)
    merged.update(changes)
    return merged


def test_cpu_utilisation_counts_iowait_as_idle():
    before = resources.parse_cpu_times('cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n')
    after = resources.parse_cpu_times('cpu  200 0 150 1000 150 0 0 0 0 0\n')
    value, shares = resources.cpu_utilisation(before, after)
    assert value == 30.0  # (100 user + 50 system) of 500 jiffies
    assert shares['iowait'] == 10.0 and shares['idle'] == 60.0


def test_cpu_utilisation_of_an_old_kernel_line_and_no_progress():
    sample = resources.parse_cpu_times('cpu 1 2 3 4\n')  # four fields only
    assert sample['steal'] == 0
    assert resources.cpu_utilisation(sample, sample) == (None, {})
    with pytest.raises(MaintenanceError, match='no aggregate cpu line'):
        resources.parse_cpu_times('intr 1 2 3\n')


def test_meminfo_and_swap():
    info = resources.parse_meminfo('MemTotal:       1000 kB\nMemAvailable:    250 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n'
                                   'HugePages_Total:       0\n')
    assert info['MemTotal'] == 1024000 and info['HugePages_Total'] == 0
    memory = resources.check_memory(info, THRESHOLDS)
    assert memory['value'] == 75.0 and memory['status'] == 'ok'
    swap = resources.check_swap(info, THRESHOLDS)
    assert swap['status'] == 'ok' and swap['reason'] == 'no swap configured'
    swap = resources.check_swap(resources.parse_meminfo('SwapTotal: 100 kB\nSwapFree: 10 kB\n'), THRESHOLDS)
    assert swap['value'] == 90.0 and swap['status'] == 'critical' and swap['priority'] == 'medium'


def test_old_kernel_without_memavailable():
    info = resources.parse_meminfo('MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 50 kB\n')
    assert resources.check_memory(info, THRESHOLDS)['value'] == 80.0


def test_mount_and_net_dev_parsing():
    mounts = resources.parse_mounts('/dev/sda1 /srv/my\\040data ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n')
    assert mounts[0]['mount'] == '/srv/my data' and mounts[1]['fstype'] == 'proc'
    text = ('Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n'
            '  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n    lo:5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n')
    parsed = resources.parse_net_dev(text)
    assert parsed['eth0'] == {'rx_bytes': 1000, 'rx_packets': 10, 'rx_errs': 1, 'rx_drop': 2,
                              'tx_bytes': 2000, 'tx_packets': 20, 'tx_errs': 3, 'tx_drop': 4}
    assert parsed['lo']['rx_bytes'] == 5


def test_interface_rates_and_errors():
    before = {'eth0': dict(rx_bytes=0, rx_packets=0, rx_errs=0, rx_drop=0, tx_bytes=0, tx_packets=0, tx_errs=0, tx_drop=0),
              'lo': dict(rx_bytes=0, rx_packets=0, rx_errs=0, rx_drop=0, tx_bytes=0, tx_packets=0, tx_errs=0, tx_drop=0)}
    after = {'eth0': dict(rx_bytes=250000000, rx_packets=5, rx_errs=300, rx_drop=2, tx_bytes=1000, tx_packets=5,
                          tx_errs=0, tx_drop=0),
             'lo': dict(before['lo'])}
    checks = resources.check_interfaces(before, after, 2.0, THRESHOLDS, dict(resources.DEFAULT_OPTIONS))
    named = dict((c['name'], c) for c in checks)
    assert [c['target'] for c in checks] == ['eth0', 'eth0']  # lo excluded by default
    assert named['resource.network_throughput']['value'] == 1000.0  # 250 MB in 2 s = 1000 Mbit/s
    assert named['resource.network_throughput']['status'] == 'critical'
    assert named['resource.network_errors']['value'] == 150.0 and named['resource.network_errors']['status'] == 'critical'
    assert named['resource.network_errors']['details']['rx_drops'] == 2


def _by(checks, name):
    return [c for c in checks if c['name'] == name]


def test_this_machine_structure_and_sane_ranges():
    checks, host = resources.run_resource_checks(thresholds=THRESHOLDS, options={'interval': 0.3})
    names = set(c['name'] for c in checks)
    assert {'resource.cpu_utilisation', 'resource.load_per_core', 'resource.memory_used', 'resource.swap_used',
            'resource.disk_used', 'resource.inodes_used'} <= names
    for check in checks:
        assert check['status'] in STATUSES and check['reason']
        if check['unit'] == '%' and check['value'] is not None:
            assert 0 <= check['value'] <= 100, check
    cpu = _by(checks, 'resource.cpu_utilisation')[0]
    assert cpu['details']['interval_seconds'] >= 0.29
    assert host['cpus'] == os.cpu_count()
    load = _by(checks, 'resource.load_per_core')[0]
    assert load['value'] == pytest.approx(os.getloadavg()[1] / os.cpu_count(), abs=0.5)
    root = [c for c in _by(checks, 'resource.disk_used') if c['target'] == '/']
    assert root, 'the root filesystem must be checked'
    usage = shutil.disk_usage('/')
    assert root[0]['value'] == pytest.approx(100.0 * usage.used / (usage.used + usage.free), abs=1.0)
    assert root[0]['details']['size_bytes'] == usage.total
    mounts = [c['target'] for c in _by(checks, 'resource.disk_used')]
    assert not any(m.startswith('/proc') or m.startswith('/sys') or m == '/dev/shm' for m in mounts), mounts
    assert len(mounts) == len(set(mounts)) == len(host['mounts'])
    for check in _by(checks, 'resource.network_throughput'):
        assert check['value'] >= 0 and check['target'] != 'lo'


def test_thresholds_force_warning_and_critical():
    thresholds = with_thresholds(
        cpu_utilisation={'warning': -1, 'unit': '%'},
        load_per_core={'critical': -1},
        memory_used={'warning': 0, 'critical': 100, 'unit': '%'},
        disk_used={'warning': 0, 'critical': 0.001, 'unit': '%', 'priority': {'warning': 'medium', 'critical': 'high'}},
        inodes_used={'warning': 0.0001, 'unit': '%'},
        network_throughput={'warning': -1, 'unit': 'Mbit/s'},
    )
    checks, _host = resources.run_resource_checks(['cpu', 'load', 'memory', 'disk', 'inodes', 'network'], thresholds,
                                                  {'interval': 0.1, 'mounts': ['/']})
    status = dict(((c['name'], c.get('target')), c) for c in checks)
    assert status[('resource.cpu_utilisation', None)]['status'] == 'warning'
    assert status[('resource.load_per_core', None)]['status'] == 'critical'
    assert status[('resource.memory_used', None)]['status'] == 'warning'
    disk = status[('resource.disk_used', '/')]
    assert disk['status'] == 'critical' and disk['priority'] == 'high' and disk['threshold'] == 0.001
    assert status[('resource.inodes_used', '/')]['status'] == 'warning'
    assert [c for c in checks if c['name'] == 'resource.network_throughput' and c['status'] == 'warning']


def test_mount_selection_and_pseudo_filesystems():
    checks, host = resources.run_resource_checks(['disk'], THRESHOLDS, {'mounts': ['/dev/shm']})
    # named explicitly, a tmpfs is checked even though tmpfs is a pseudo filesystem by default
    assert host['mounts'] == ['/dev/shm'] and checks[0]['details']['fstype'] == 'tmpfs'
    checks, host = resources.run_resource_checks(['disk', 'inodes'], THRESHOLDS, {'mounts': ['/nonexistent*']})
    assert [c['status'] for c in checks] == ['unknown', 'unknown'] and 'no mount matched' in checks[0]['reason']
    checks, host = resources.run_resource_checks(['disk'], THRESHOLDS, {'exclude_mounts': ['/*']})
    assert checks[0]['status'] == 'unknown'


def test_interface_selection():
    checks, host = resources.run_resource_checks(['network'], THRESHOLDS, {'interval': 0.1, 'interfaces': ['lo'],
                                                                           'exclude_interfaces': []})
    assert host['interfaces'] == ['lo'] and set(c['target'] for c in checks) == {'lo'}
    checks, host = resources.run_resource_checks(['network'], THRESHOLDS, {'interval': 0.1, 'interfaces': ['nope*']})
    assert checks[0]['status'] == 'unknown' and 'no interface matched' in checks[0]['reason']


@pytest.mark.parametrize('pieces, options, message', [
    (['gpu'], {}, 'unknown resource_check piece'),
    (['cpu'], {'interval': 0}, 'interval must be between'),
    (['cpu'], {'interval': 'x'}, 'interval must be between'),
    (['load'], {'load_average': 3}, 'load_average must be 1, 5 or 15'),
])
def test_bad_options_are_clear_errors(pieces, options, message):
    with pytest.raises(MaintenanceError, match=message):
        resources.run_resource_checks(pieces, THRESHOLDS, options)


def test_not_linux_is_said_clearly(tmp_path):
    with pytest.raises(MaintenanceError, match='Linux only'):
        resources.run_resource_checks(['load'], THRESHOLDS, {'proc': str(tmp_path)})


def test_missing_proc_file_is_a_clear_error(tmp_path):
    (tmp_path / 'stat').write_text('cpu 1 2 3 4\n')
    with pytest.raises(MaintenanceError, match='Error while reading .*loadavg'):
        resources.run_resource_checks(['load'], THRESHOLDS, {'proc': str(tmp_path)})
