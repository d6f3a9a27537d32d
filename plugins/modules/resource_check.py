#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: resource_check
short_description: Check CPU, load, memory, swap, disk, inodes and network of a Linux host
version_added: 0.1.0
description:
  - Measures the resources of the host it runs on and returns each measurement as a check of the collection's
    result model, held against the thresholds named below.
  - C(cpu) is the busy share of all CPUs sampled over O(interval) seconds from C(/proc/stat) (idle and iowait count as
    idle); threshold C(cpu_utilisation).
  - C(load) is the load average (O(load_average) minutes) divided by the online CPUs; threshold C(load_per_core).
  - C(memory) is the share of C(MemTotal) that is not C(MemAvailable) in C(/proc/meminfo) (what C(free) calls
    available, so page cache that can be dropped is not counted as used); threshold C(memory_used).
    C(swap) is the used share of swap (C(swap_used)); a host without swap is C(ok) and says so.
  - C(disk) and C(inodes) are computed like C(df) (used against used plus available to unprivileged users) for every mount
    with storage of its own; thresholds C(disk_used) and C(inodes_used), one check per mount.
    Pseudo filesystems (O(exclude_fstypes)) and bind mounts of a device already listed are left out.
  - C(network) gives, per interface, the receive or transmit rate (whichever is higher) in Mbit/s sampled over
    O(interval) (C(network_throughput)) and the interface errors per second (C(network_errors)) from C(/proc/net/dev).
    The link speed and utilisation are added when the driver reports the speed.
  - CPU and network are sampled in the same single O(interval); the other pieces are read meanwhile.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
  - autopilotcx.maintenance.checks
options:
  checks:
    description: The pieces to measure. The default measures all of them.
    type: list
    elements: str
    choices: [cpu, load, memory, swap, disk, inodes, network]
    default: [cpu, load, memory, swap, disk, inodes, network]
  interval:
    description: Seconds over which CPU utilisation and network rates are sampled (0.05 to 60).
    type: float
    default: 1.0
  load_average:
    description: Which load average is held against C(load_per_core).
    type: int
    choices: [1, 5, 15]
    default: 5
  mounts:
    description:
      - Mount points to check (shell-style patterns, for example C(/var/lib/*)). Empty means every real mount.
      - Mounts named here are checked even when their filesystem type is in O(exclude_fstypes) (for example a C(tmpfs)).
    type: list
    elements: str
    default: []
  exclude_mounts:
    description: Mount points (shell-style patterns) to leave out.
    type: list
    elements: str
    default: []
  exclude_fstypes:
    description: Filesystem types without storage of their own, left out unless O(mounts) names them.
    type: list
    elements: str
    default: [autofs, binfmt_misc, bpf, cgroup, cgroup2, configfs, debugfs, devpts, devtmpfs, efivarfs, fuse.lxcfs,
              fuse.portal, fusectl, hugetlbfs, mqueue, nsfs, proc, pstore, ramfs, rpc_pipefs, securityfs, selinuxfs,
              squashfs, sysfs, tmpfs, tracefs, nfsd, rootfs]
  interfaces:
    description: Network interfaces to check (shell-style patterns). Empty means every interface.
    type: list
    elements: str
    default: []
  exclude_interfaces:
    description: Network interfaces (shell-style patterns) to leave out.
    type: list
    elements: str
    default: [lo]
attributes:
  platform:
    platforms: linux
    details: Linux only; it reads C(/proc) and calls C(statvfs). On another system the task fails with a clear message.
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.pg_check
  - module: autopilotcx.maintenance.cache_check
  - name: proc(5)
    description: The files this module reads.
    link: https://man7.org/linux/man-pages/man5/proc.5.html
'''

EXAMPLES = r'''
---
- name: Resource usage every 15 minutes
  autopilotcx.maintenance.resource_check:
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
  register: resources

- name: Only the data volumes, sampled over 5 seconds
  autopilotcx.maintenance.resource_check:
    checks: [disk, inodes, cpu]
    interval: 5
    mounts: [/var/lib/postgresql, /srv/*]
    thresholds: "{{ maintenance_checks_thresholds }}"
  register: data_volumes

- name: No disk may be critical
  ansible.builtin.assert:
    that: resources.checks | selectattr('name', 'equalto', 'resource.disk_used') | selectattr('status', 'equalto', 'critical') | list | length == 0
    fail_msg: "{{ resources.failed_checks | join(', ') }}"
'''

RETURN = r'''
checks:
  description:
    - One entry per measurement in the collection's result model. Names are C(resource.cpu_utilisation),
      C(resource.load_per_core), C(resource.memory_used), C(resource.swap_used), C(resource.disk_used) and
      C(resource.inodes_used) (target is the mount point), C(resource.network_throughput) and
      C(resource.network_errors) (target is the interface).
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Check name., type: str, returned: always, sample: resource.disk_used}
    status: {description: "C(ok), C(warning), C(critical) or C(unknown).", type: str, returned: always, sample: warning}
    value: {description: Measured value., type: raw, returned: always, sample: 83.4}
    unit: {description: Unit of the value., type: str, returned: always, sample: "%"}
    threshold: {description: The limit the value was held against., type: raw, returned: always, sample: 80}
    priority: {description: "C(low), C(medium) or C(high).", type: str, returned: always, sample: medium}
    reason: {description: One line saying why., type: str, returned: always,
             sample: "disk used 83.4 % > 80 % on /var (16.5 GiB free of 100 GiB)"}
    target: {description: Mount point or interface., type: str, returned: "for disks, inodes and interfaces", sample: /var}
    details: {description: "The figures behind the check (bytes, inodes, shares of CPU states, rates).", type: dict,
              returned: always, sample: {device: /dev/sda2, fstype: ext4, size_bytes: 107374182400}}
host:
  description: What was measured on.
  returned: always
  type: dict
  sample: {cpus: 8, kernel: 6.1.0-18-amd64, mounts: [/, /var], interfaces: [eth0], interval_seconds: 1.0}
status:
  description: The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);
    C(ok) when there is no check.
  returned: always
  type: str
  sample: warning
counts:
  description: Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.
  returned: always
  type: dict
  sample: {ok: 9, warning: 1, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: ["resource.disk_used (/var)"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import check_argument_spec, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import resource_check


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            checks=dict(type='list', elements='str', choices=list(resource_check.PIECES), default=list(resource_check.PIECES)),
            interval=dict(type='float', default=1.0),
            load_average=dict(type='int', choices=[1, 5, 15], default=5),
            mounts=dict(type='list', elements='str', default=[]),
            exclude_mounts=dict(type='list', elements='str', default=[]),
            exclude_fstypes=dict(type='list', elements='str', default=list(resource_check.PSEUDO_FSTYPES)),
            interfaces=dict(type='list', elements='str', default=[]),
            exclude_interfaces=dict(type='list', elements='str', default=['lo']),
        ),
        supports_check_mode=True,
    )
    report = run(module, resource_check.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
