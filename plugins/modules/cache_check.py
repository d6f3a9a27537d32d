#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: cache_check
short_description: Check the hit ratio, evictions, memory and clients of a Redis cache
version_added: 0.1.0
description:
  - Pings one Redis server, reads C(INFO) and returns each measurement as a check of the collection's result model.
  - C(connection) is the PING round trip; an unreachable server, a timeout or refused credentials make it critical
    with the reason, and the other pieces C(unknown).
  - C(hit_ratio) is C(keyspace_hits) against C(keyspace_hits + keyspace_misses) since the statistics were last reset
    (threshold C(cache_hit_ratio), lower is worse); the ratio within the sampling interval is added to the details.
  - C(evictions) is the rate of evicted keys per second, sampled over O(interval) seconds (averaged over the uptime
    when O(interval=0)); threshold C(cache_evictions).
  - C(memory) is C(used_memory) against C(maxmemory) (C(cache_memory_used)); without C(maxmemory) it is held against the
    system memory and the reason says that Redis is unbounded.
  - C(clients) is C(connected_clients), this check's own connection included (C(cache_connected_clients)).
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
  - autopilotcx.maintenance.checks
options:
  host:
    description: Host name or address of the Redis server.
    type: str
    default: localhost
  port:
    description: Port of the Redis server.
    type: int
    default: 6379
  db:
    description: Database number to select.
    type: int
    default: 0
  username:
    description: ACL user (Redis 6 and later); leave empty for C(requirepass) authentication.
    type: str
  password:
    description: Password (C(requirepass) or the ACL user's). Never logged, never returned.
    type: str
  tls:
    description: Connect with TLS.
    type: bool
    default: false
  ca_cert:
    description: CA bundle that verifies the server certificate when O(tls=true).
    type: path
  validate_certs:
    description: Verify the server certificate when O(tls=true).
    type: bool
    default: true
  timeout:
    description: Seconds to wait for the connection and for each answer.
    type: float
    default: 5
  checks:
    description: The pieces to run. The default runs all of them.
    type: list
    elements: str
    choices: [connection, hit_ratio, evictions, memory, clients]
    default: [connection, hit_ratio, evictions, memory, clients]
  interval:
    description: Seconds between the two C(INFO) samples that give the eviction rate (0 to 60; 0 means one sample).
    type: float
    default: 1.0
requirements:
  - redis >= 3.5 (redis-py) on the host running the task (the distribution's C(python3-redis) on Debian 11-13 and Ubuntu
    22.04/24.04; RHEL 9 does not ship it in BaseOS/AppStream, run the task on another host with C(delegate_to), the
    server is reached over the network; see docs/support-matrix.md).
attributes:
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.pg_check
  - name: Redis INFO
    description: The fields this module reads.
    link: https://redis.io/docs/latest/commands/info/
'''

EXAMPLES = r'''
---
- name: Cache hit rate analysis (hourly)
  autopilotcx.maintenance.cache_check:
    host: cache1.example.com
    password: "{{ vault_redis_password }}"
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
  register: cache

- name: Hit ratio must stay above the critical limit
  ansible.builtin.assert:
    that: cache.checks | selectattr('name', 'equalto', 'cache.hit_ratio') | map(attribute='status') | first != 'critical'
    fail_msg: "{{ cache.checks | map(attribute='reason') | join('; ') }}"
'''

RETURN = r'''
checks:
  description:
    - One entry per piece in the collection's result model; names are C(cache.connection), C(cache.hit_ratio),
      C(cache.evictions), C(cache.memory_used) and C(cache.connected_clients).
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Check name., type: str, returned: always, sample: cache.hit_ratio}
    status: {description: "C(ok), C(warning), C(critical) or C(unknown).", type: str, returned: always, sample: warning}
    value: {description: Measured value., type: raw, returned: always, sample: 86.5}
    unit: {description: Unit of the value., type: str, returned: always, sample: "%"}
    threshold: {description: The limit the value was held against., type: raw, returned: always, sample: 90}
    priority: {description: "C(low), C(medium) or C(high).", type: str, returned: always, sample: medium}
    reason: {description: One line saying why., type: str, returned: always,
             sample: "hit ratio 86.5 % < 90 % (865 hits, 135 misses since the statistics were reset)"}
    target: {description: "The server as C(redis://host:port/db).", type: str, returned: always, sample: "redis://cache1:6379/0"}
    details: {description: The INFO figures behind the check., type: dict, returned: when available,
              sample: {keyspace_hits: 865, keyspace_misses: 135}}
server:
  description: What was learned about the server.
  returned: always
  type: dict
  sample: {reachable: true, version: 7.0.15, mode: standalone, role: master, uptime_seconds: 86400, ping_seconds: 0.0004}
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
  sample: {ok: 4, warning: 1, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: ["cache.hit_ratio (redis://cache1:6379/0)"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import check_argument_spec, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import cache_check


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            host=dict(type='str', default='localhost'),
            port=dict(type='int', default=6379),
            db=dict(type='int', default=0),
            username=dict(type='str'),
            password=dict(type='str', no_log=True),
            tls=dict(type='bool', default=False),
            ca_cert=dict(type='path'),
            validate_certs=dict(type='bool', default=True),
            timeout=dict(type='float', default=5),
            checks=dict(type='list', elements='str', choices=list(cache_check.PIECES), default=list(cache_check.PIECES)),
            interval=dict(type='float', default=1.0),
        ),
        supports_check_mode=True,
    )
    deps.require(module, 'redis')
    report = run(module, cache_check.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
