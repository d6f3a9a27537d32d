# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incremental security scan of logs (``log_scan``): failed logins, suspicious IPs, HTTP error and rate figures.

Sources (``type``):

* ``auth``: OpenSSH/PAM syslog files (``/var/log/auth.log``, ``/var/log/secure``), RFC 3164 or RFC 3339 stamps;
* ``journal``: the systemd journal through ``journalctl -o json``;
* ``access``: nginx/Apache combined access logs, optionally with ``$request_time`` after the user agent;
* ``jsonl``: JSON-lines application logs with a field mapping.

Each run reads only what is new (cursors in ``log_sources``), adds the events to
per-minute buckets kept in the state file for ``history_minutes`` and judges the
last ``window_minutes`` against the collection's thresholds. The state file is
written only when not in check mode. Plain Python, importable without Ansible.

The work is split along its parts: ``scanner`` (one run: ``Scanner``), ``collector`` (events into per-minute
buckets), ``state`` (the state file, its lock, the buckets), ``parsers`` and ``sources`` (reading with cursors).
This file is the module's backend entry: ``run``, and ``scan`` which the EDA event source calls too.
"""

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.sources import PREFILTER_MIN_BYTES
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.scanner import Scanner
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import Report


def scan(params, check_mode=False):
    """Run a scan from module parameters; returns the module result (checks + data), state saved unless check mode."""
    def option(name, default):
        value = params.get(name)
        return default if value is None else value

    scanner = Scanner(
        params['sources'], params['state_file'], thresholds=params.get('thresholds'),
        window_minutes=option('window_minutes', 10), history_minutes=option('history_minutes', 60),
        allow_list=params.get('allow_list'), top=option('top', 10), now=params.get('now'),
        utc=option('utc', False), max_line_bytes=option('max_line_bytes', 1 << 20),
        spike_min_rate=option('spike_min_rate', 10.0), check_mode=check_mode, workers=option('workers', 1),
        prefilter=option('prefilter', 'auto'),
        prefilter_min_bytes=option('prefilter_min_bytes', PREFILTER_MIN_BYTES),      # tests: grep for any size
        lock_timeout=params.get('lock_timeout'),
        find_minutes=option('find_minutes', 10), slow_find_minutes=option('slow_find_minutes', 120))
    try:
        output = scanner.run()
        changed = scanner.state_changed()
        if changed:
            scanner.save_state()
    finally:
        scanner.close()
    output['state_file'] = params['state_file']
    output['state_saved'] = changed and not check_mode
    output['changed'] = changed
    return output


def run(params, check_mode=False, host=None):
    """The log_scan module's entry (``result.Report``)."""
    return Report.from_result(scan(params, check_mode=check_mode))
