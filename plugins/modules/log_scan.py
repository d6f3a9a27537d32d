#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: log_scan
short_description: Scan authentication, access and application logs incrementally for security findings
version_added: 0.1.0
description:
  - Reads only what was appended to each log since the previous run (a cursor per file in O(state_file)) and reports
    failed logins per minute, the top source addresses and users, suspicious IP addresses, HTTP rate-limit
    violations (429), the API error rate (5xx), response-time percentiles and request-rate spikes.
  - "Sources: OpenSSH/PAM syslog files (RFC 3164 or RFC 3339 time stamps), the systemd journal (C(journalctl -o json)),
    nginx/Apache combined access logs (with C($request_time) after the user agent when the format has it) and
    JSON-lines application logs with a field mapping."
  - "Cursors survive rotation: a renamed file (also when compressed to C(.gz)) is finished from the stored offset
    before the new file is read, C(copytruncate) is detected by the file's head hash, and a file truncated without a
    rotated copy is reported as a warning. A line is never counted twice."
  - Events are kept per minute in the state file for O(history_minutes); checks judge the last O(window_minutes).
    In check mode the state file is not written, so the next run reads the same data again.
  - The returned RV(suspicious_ips) is a plain list of addresses, never holding an address of O(allow_list),
    ready for an nftables set or a firewall module.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  sources:
    description: The logs to scan.
    type: list
    elements: dict
    required: true
    suboptions:
      type:
        description:
          - C(auth) is an OpenSSH/PAM syslog file such as C(/var/log/auth.log) or C(/var/log/secure).
          - C(journal) reads the systemd journal with C(journalctl -o json), filtered on O(sources[].identifiers).
          - C(access) is an nginx or Apache combined access log.
          - C(jsonl) is an application log with one JSON object per line, read through O(sources[].fields).
        type: str
        required: true
        choices: [auth, journal, access, jsonl]
      path:
        description: The log file (required except for C(journal)). Rotated siblings (C(<path>.1), C(<path>.1.gz), C(<path>-YYYYMMDD)) are found by themselves.
        type: path
      name:
        description: Label shown in the results; defaults to O(sources[].path).
        type: str
      start_at:
        description: Where the first run (no cursor yet) starts, C(beginning) of the file or its C(end).
        type: str
        choices: [beginning, end]
        default: beginning
      rotated_patterns:
        description: Glob patterns (relative to the log's directory) of its rotated versions; default C(<name>.*) and C(<name>-*).
        type: list
        elements: str
      thorough:
        description:
          - For C(auth) files, also search for C(Invalid user) lines (fills C(by_kind.invalid_user)). Without it the
            same attempts are found through the C(Failed ... for invalid user) and C(... invalid user ... [preauth])
            lines that follow them. An C(Invalid user) line of the last 2 minutes whose connection has not ended waits
            one run for its C(Failed) line, so that the attempt counts once.
        type: bool
        default: false
      request_time_field:
        description:
          - For C(access) logs, which number after the user agent is the request time (0 is the first); C(-1) when
            the format has none. C(rt=), C(request_time=) and C(urt=) prefixes are accepted.
        type: int
        default: 0
      request_time_unit:
        description: Unit of that number, C(s) (nginx C($request_time)), C(ms), or C(us) (Apache C(%D)).
        type: str
        choices: [s, ms, us]
        default: s
      fields:
        description:
          - For C(jsonl) logs, the field names (dotted paths allowed) of C(time), C(ip), C(user), C(status),
            C(duration) and C(event). Defaults are the same names.
        type: dict
      failed_login_values:
        description: For C(jsonl) logs, values of the C(event) field that mean a failed login.
        type: list
        elements: str
        default: [login_failed, auth_failure]
      duration_unit:
        description: For C(jsonl) logs, unit of the C(duration) field.
        type: str
        choices: [s, ms, us]
        default: s
      identifiers:
        description: For C(journal), the C(SYSLOG_IDENTIFIER) values read (any of them).
        type: list
        elements: str
        default: [sshd, sshd-session, sshd-auth, login, su, sudo]
      journal_file:
        description: For C(journal), read this journal file (C(journalctl --file)) instead of the system journal.
        type: path
      journal_directory:
        description: For C(journal), read the journal files of this directory (C(journalctl --directory)).
        type: path
  state_file:
    description:
      - JSON file holding the cursors and the per-minute history. Created with mode 0600; its directory is created.
      - It belongs to the scanned host and stays there. A run holds an exclusive lock (C(<state_file>.lock)) from
        reading it to saving it, so an overlapping run (cron overlap, a slow host) waits and then reads only what
        is new; a state file changed by someone else meanwhile is never overwritten with older cursors.
    type: path
    required: true
  lock_timeout:
    description:
      - Seconds to wait for an overlapping run to finish; then the task fails naming the lock, having read and
        counted nothing. Unset - wait as long as it takes.
    type: float
  window_minutes:
    description: The checks judge the events of this many last minutes.
    type: int
    default: 10
  history_minutes:
    description: Minutes of per-minute counts kept in the state file; the request-rate baseline is the part before the window.
    type: int
    default: 60
  find_minutes:
    description:
      - The span of the per-address rule C(suspicious_ip_find_failures) (fail2ban's C(findtime)) in minutes; any span
        of this length that ends in the window is judged.
      - The per-address failures are kept in the state file for the longest rule in use, and O(history_minutes) is
        raised to it when shorter.
    type: int
    default: 10
  slow_find_minutes:
    description: The span of the low-and-slow per-address rule C(suspicious_ip_slow_failures) in minutes.
    type: int
    default: 120
  allow_list:
    description: Addresses and networks (CIDR) that are never reported as suspicious (monitoring probes, office NAT, bastions).
    type: list
    elements: str
    default: []
  top:
    description: Length of the top-address and top-user lists.
    type: int
    default: 10
  spike_min_rate:
    description: Requests per minute below which a request-rate spike is not judged (a quiet site doubling is not a DDoS).
    type: float
    default: 10
  utc:
    description: RFC 3164 syslog time stamps (which carry no zone) are UTC rather than the host's local time.
    type: bool
    default: false
  max_line_bytes:
    description: Lines longer than this are skipped and counted.
    type: int
    default: 1048576
  now:
    description:
      - Evaluate as if it were this time (epoch seconds); for replaying old logs and for tests.
      - Between 0 and 253402300799 (the end of year 9999).
    type: float
  workers:
    description:
      - Processes that read a large backlog (64 MiB or more of new data in one plain file) in parallel, each a range of
        whole lines, merged afterwards; C(0) means as many as the CPUs available to the task, at most 4. Small
        increments are always read by one process.
      - For C(auth) files the O(prefilter) already keeps two CPUs busy (grep searches while the module parses), so
        more processes gain little (on 2 CPUs, 1 GiB in about the same time); on a busy host the forking and merging
        cost more than they save, hence the default of one process.
    type: int
    default: 1
  prefilter:
    description:
      - How C(auth) files are searched for failure lines when 16 MiB or more are new (a first run, a catch-up after an
        outage); smaller reads are always searched by the module itself.
      - C(auto) runs GNU grep (C(grep -a -b -F) with the needles of the failure forms) on the file from the cursor, in
        its own process, and parses the lines it finds while it searches; the byte offsets grep prints keep the
        cursor exact, so lines the file gains during the read are left for the next run. Without GNU grep
        (BusyBox, none), or when grep fails, the module reads on by itself from the last line grep handed over.
        With grep, lines longer than O(max_line_bytes) are only counted when they hold a needle.
      - C(never) always searches in Python, in the module's own process.
    type: str
    choices: [auto, never]
    default: auto
attributes:
  check_mode:
    support: full
    details: The logs are read and judged, but the state file is not written, so the cursors do not move.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - "Thresholds read from O(thresholds): C(failed_logins_per_minute), C(suspicious_ip_failures),
    C(suspicious_ip_distinct_users), C(suspicious_ip_rate_limited), C(suspicious_ip_probes), C(suspicious_ip_count),
    C(suspicious_ip_per_minute), C(suspicious_ip_find_failures), C(suspicious_ip_slow_failures), C(api_error_rate),
    C(rate_limit_violations), C(http_response_time) (p95, and the limit of a slow request),
    C(slow_request_share), C(request_rate_spike)."
  - Reading C(/var/log/auth.log) usually needs C(become) or membership of the C(adm) group; an unreadable source is a
    critical C(log_scan.source) check and the other sources are still scanned.
  - A failed login is one C(Failed <method>) line, a PAM C(authentication failure) of a service other than sshd, or
    a connection that ended with C(Invalid user), C(maximum authentication attempts exceeded) or
    C(Connection closed by authenticating user) without any C(Failed) line (counted once per connection, keyed by host, sshd
    pid and time, so a pid sshd reuses later is another connection).
  - "A syslog C(message repeated N times: [ ... ]) line counts as N events. A pre-auth probe is one connection,
    however many C([preauth]) lines OpenSSH wrote for it."
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.metric_check
  - name: fail2ban
    description: The intrusion prevention daemon whose sshd filter covers similar log lines.
    link: https://github.com/fail2ban/fail2ban
'''

EXAMPLES = r'''
---
- name: Scan auth.log and the nginx access log
  autopilotcx.maintenance.log_scan:
    sources:
      - {type: auth, path: /var/log/auth.log}
      - {type: access, path: /var/log/nginx/access.log}
    state_file: /var/lib/autopilotcx/log_scan.json
    allow_list: [10.0.0.0/8, 192.0.2.10]
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
  become: true
  register: scan

- name: Block what it found
  ansible.builtin.command:
    cmd: "nft add element inet filter blocked_ips { {{ scan.suspicious_ips | join(', ') }} }"
  when: scan.suspicious_ips | length > 0
  changed_when: true

- name: No more than 10 failed logins per minute
  ansible.builtin.assert:
    that: scan.failed_logins.peak_per_minute <= 10
    fail_msg: "{{ scan.checks | selectattr('name', 'eq', 'security.failed_logins_per_minute') | map(attribute='reason') | first }}"

- name: Application log with its own field names
  autopilotcx.maintenance.log_scan:
    sources:
      - type: jsonl
        path: /var/log/app/events.jsonl
        fields: {time: ts, ip: client.ip, user: user.name, status: http.status, duration: took_ms, event: event}
        duration_unit: ms
        failed_login_values: [login_failed]
    state_file: /var/lib/autopilotcx/app_scan.json
    thresholds: "{{ maintenance_checks_thresholds }}"
  register: app_scan
'''

RETURN = r'''
checks:
  description:
    - The checks in the collection's result model. C(log_scan.source) (one per source; critical when unreadable,
      unknown when missing, warning when truncated without a rotated copy), C(security.failed_logins_per_minute),
      C(security.suspicious_ips), and with HTTP data C(security.api_error_rate), C(security.rate_limit_violations),
      C(http.response_time_p95), C(http.slow_request_share), C(security.request_rate_spike).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: security.failed_logins_per_minute, status: critical, value: 42, unit: /min, threshold: 10, priority: high,
       reason: "peak failed logins per minute in the last 10 min 42 /min > 10 /min"}
suspicious_ips:
  description: The suspicious addresses, most active first, without allow-listed ones; feed them to a firewall set.
  returned: always
  type: list
  elements: str
  sample: [203.0.113.7, 198.51.100.23]
suspicious_ip_details:
  description:
    - Per suspicious address, its failed logins, distinct users tried, HTTP 429 responses, pre-auth probes (per
      connection), the reasons, and C(rules), the rules that fired, each with its C(rule), C(count), C(limit), the
      C(minutes) it looks at and C(at), the start of the minute where the count first went over the limit (null for
      window totals). C(first_fired) is the earliest C(at).
    - "Rules: C(failures), C(distinct_users), C(rate_limited), C(probes) (window totals), C(per_minute) (any 60
      seconds, by the second of each syslog line; a clock minute for failures whose second is not known: journal,
      JSON lines), C(find_window) (O(find_minutes)), C(slow) (O(slow_find_minutes))."
  returned: always
  type: list
  elements: dict
  sample:
    - {ip: 203.0.113.7, failures: 16, distinct_users: 1, rate_limited: 0, probes: 0, first_fired: "2026-11-24T05:10:00Z",
       reasons: ["16 failed logins in one minute > 10 (from 2026-11-24T05:10:00Z)"],
       rules: [{rule: per_minute, count: 16, limit: 10, minutes: 1, at: "2026-11-24T05:10:00Z"}]}
failed_logins:
  description:
    - Failed logins in the window, its peak minute, the current minute, per failure kind (lines) and per minute.
    - C(peak_ips) names the addresses behind the peak minute (at most 5, most failures first); the check
      C(security.failed_logins_per_minute) names them in its reason when it fires.
  returned: always
  type: dict
  sample: {total: 130, peak_per_minute: 42, current_per_minute: 12, peak_minute: "2026-11-24T05:14:00Z",
           by_kind: {failed_password: 120, invalid_user: 10}, per_minute: {"2026-11-24T05:14:00Z": 42}}
top_ips:
  description: Addresses with the most failed logins in the window (allow-listed ones flagged, not removed).
  returned: always
  type: list
  elements: dict
  sample: [{ip: 203.0.113.7, failures: 120, users: 14, allow_listed: false}]
top_users:
  description: Users with the most failed logins in the window.
  returned: always
  type: list
  elements: dict
  sample: [{user: root, failures: 80}]
http:
  description: HTTP figures of the window when an access or JSON-lines source is configured.
  returned: when an access or jsonl source is configured
  type: dict
  sample: {requests: 5400, errors_5xx: 81, error_rate: 1.5, rate_limited: 230, p50: 0.041, p95: 0.9, p99: 2.4,
           slow_share: 1.2, peak_requests_per_minute: 900, baseline_requests_per_minute: 120.5}
sources:
  description:
    - Per source, what was read (bytes, lines, events), from where (rotation notes) and the new cursor.
    - What was skipped and counted - C(oversized_lines), C(unparsed_lines), C(events_without_timestamp),
      C(events_outside_history) and C(unreadable_lines) (lines whose parsing failed; the first error is in the
      source's check reason).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: /var/log/auth.log, type: auth, bytes_read: 18234, events: 40,
       notes: ["rotated: finished /var/log/auth.log.1 from offset 8812, then read the new /var/log/auth.log from its start"]}
    - {name: /var/log/secure, type: auth, bytes_read: 1073741824, events: 310807, prefilter: grep,
       notes: ["first run: reading the file from its start", "GNU grep found the candidate lines"]}
window:
  description: The judged window (UTC) and the history kept.
  returned: always
  type: dict
  sample: {minutes: 10, start: "2026-11-24T05:05:00Z", end: "2026-11-24T05:15:00Z", history_minutes: 60}
state_file:
  description: The state file used.
  returned: always
  type: str
  sample: /var/lib/autopilotcx/log_scan.json
state_note:
  description: Set when the state file did not exist yet or was damaged and the scan started over.
  returned: always
  type: str
  sample: "no state yet: first run"
changed:
  description: Whether the cursors or the history moved (new data was read); in check mode, whether they would.
  returned: always
  type: bool
  sample: true
state_saved:
  description: Whether the state file (cursors and history) was written; false in check mode and when nothing changed.
  returned: always
  type: bool
  sample: true
status:
  description: The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);
    C(ok) when there is no check.
  returned: always
  type: str
  sample: critical
counts:
  description: Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.
  returned: always
  type: dict
  sample: {ok: 6, warning: 0, critical: 1, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: [security.failed_logins_per_minute]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import (
    check_argument_spec,
    finish,
    run,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan import log_scan


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            sources=dict(type='list', elements='dict', required=True, options=dict(
                type=dict(type='str', required=True, choices=['auth', 'journal', 'access', 'jsonl']),
                path=dict(type='path'),
                name=dict(type='str'),
                start_at=dict(type='str', default='beginning', choices=['beginning', 'end']),
                rotated_patterns=dict(type='list', elements='str'),
                thorough=dict(type='bool', default=False),
                request_time_field=dict(type='int', default=0),
                request_time_unit=dict(type='str', default='s', choices=['s', 'ms', 'us']),
                fields=dict(type='dict'),
                failed_login_values=dict(type='list', elements='str', default=['login_failed', 'auth_failure']),
                duration_unit=dict(type='str', default='s', choices=['s', 'ms', 'us']),
                identifiers=dict(type='list', elements='str',
                                 default=['sshd', 'sshd-session', 'sshd-auth', 'login', 'su', 'sudo']),
                journal_file=dict(type='path'),
                journal_directory=dict(type='path'),
            )),
            state_file=dict(type='path', required=True),
            lock_timeout=dict(type='float'),
            window_minutes=dict(type='int', default=10),
            history_minutes=dict(type='int', default=60),
            find_minutes=dict(type='int', default=10),
            slow_find_minutes=dict(type='int', default=120),
            allow_list=dict(type='list', elements='str', default=[]),
            top=dict(type='int', default=10),
            spike_min_rate=dict(type='float', default=10),
            utc=dict(type='bool', default=False),
            max_line_bytes=dict(type='int', default=1048576),
            now=dict(type='float'),
            workers=dict(type='int', default=1),
            prefilter=dict(type='str', default='auto', choices=['auto', 'never']),
        ),
        supports_check_mode=True,
    )
    report = run(module, log_scan.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
