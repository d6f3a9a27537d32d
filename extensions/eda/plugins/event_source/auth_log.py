# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""autopilotcx.maintenance.auth_log: follow auth logs live and emit one event when a per-address rule fires.

Event-Driven Ansible event source (``ansible-rulebook``). It runs the ``log_scan`` module's scanner
(``plugins/module_utils/log_scan/``, through ``log_scan.scan``) on the new lines of the logs as they are written: the same parsers, the same
per-address rules (``suspicious_ip_per_minute``, ``suspicious_ip_find_failures``, ``suspicious_ip_slow_failures``,
window totals), the same cursor in its own state file (rotation-safe: rename, copytruncate, gzip; a restart resumes
where the last run stopped).

Arguments (all but ``state_file`` optional):

* ``paths``: auth log files (default ``[/var/log/auth.log]``), or ``sources``: ``log_scan`` sources as given to the
  module (``type: auth|journal|access|jsonl`` ...);
* ``state_file``: the source's cursor and per-minute history; never the file of a cadence ``log_scan`` run;
* ``thresholds``: the collection's ``maintenance_thresholds`` (default: the per-address rules of the guide below);
* ``allow_list``, ``window_minutes`` (10), ``history_minutes`` (60), ``find_minutes`` (10), ``slow_find_minutes``
  (120), ``utc`` (false): as the ``log_scan`` module's options;
* ``interval``: seconds between looks at the files (0.2); a scan runs only when a file changed;
* ``cpu_share``: the most of one core the scans may take (0.05): after a scan that took ``t`` seconds the next one
  waits at least ``t / cpu_share``, so under a flood the latency grows, never the load;
* ``repeat_after``: seconds after which an address that still breaks a rule is sent again (600; the block of the
  first event may have expired). An address is also sent again at once when a rule of higher priority fires for it.
* ``block``: block in the source itself, before the event is sent, the way fail2ban bans from its own process:
  ``{management_networks (required), allow, control_node, command_prefix, timeout (86400)}``, the options of the
  ``nft_block`` module. It runs the module's own code (``plugins/module_utils/incidents/nft.py``: the same plan,
  the same refusals of the management networks, the control node, the allow-list (plus ``allow_list``), loopback
  and anything wider than a /8, the same ``inet autopilotcx_block`` table and sets, the same timeout), once per
  scan for all the addresses of that scan, in the worker thread of the scan. Empty (the default): no block here,
  the rulebook's action blocks. The process needs CAP_NET_ADMIN (root) or a ``command_prefix`` that gives it.

Event: ``{"autopilotcx_log_scan": {address, priority (high/medium/low), rule (the first that fired), rules, reasons,
first_fired, host, sources, detected[, block]}}``; ``block`` (with the ``block`` argument): ``{status: blocked,
already_blocked, refused or error, reason, seconds, timeout}``. Allow-listed addresses never make an event (as in
``suspicious_ips``). A source that cannot be read is logged once per change of its error and the source goes on; a
block that fails is logged and said in the event (``status: error``), and the event is sent all the same.
"""

from __future__ import absolute_import, division, print_function

import asyncio
import ipaddress
import logging
import os
import socket
import sys
import time

try:
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan import log_scan as _log_scan
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import result as _result
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import nft as _nft
except ImportError:         # run from a checkout of the collection: the directory holding ansible_collections is seven levels up
    _here = os.path.dirname(os.path.abspath(__file__))
    _root = os.path.normpath(os.path.join(_here, '..', '..', '..', '..', '..', '..', '..'))
    sys.path.insert(0, _root)
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan import log_scan as _log_scan
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import result as _result
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents import nft as _nft
LOG = logging.getLogger(__name__)
EVENT_KEY = 'autopilotcx_log_scan'
PRIORITY_ORDER = {'low': 0, 'medium': 1, 'high': 2}
# the per-address rules of the guide (the maintenance role's defaults), used when no thresholds are given
DEFAULT_THRESHOLDS = {
    'suspicious_ip_per_minute': {'critical': 10, 'priority': 'high'},
    'suspicious_ip_find_failures': {'warning': 4, 'priority': 'high'},
    'suspicious_ip_slow_failures': {'warning': 9, 'priority': 'medium'},
    'suspicious_ip_failures': {'warning': 20, 'priority': 'high'},
    'suspicious_ip_distinct_users': {'warning': 5, 'priority': 'high'},
    'suspicious_ip_probes': {'warning': 30, 'priority': 'medium'},
}
RULE_THRESHOLDS = {
    'per_minute': 'suspicious_ip_per_minute',
    'find_window': 'suspicious_ip_find_failures',
    'slow': 'suspicious_ip_slow_failures',
    'failures': 'suspicious_ip_failures',
    'distinct_users': 'suspicious_ip_distinct_users',
    'rate_limited': 'suspicious_ip_rate_limited',
    'probes': 'suspicious_ip_probes',
}
BACKLOG_WARNING = 1000       # events waiting for the rule engine: said once each time the backlog grows past this
BLOCK_OPTIONS = ('management_networks', 'allow', 'control_node', 'command_prefix', 'timeout')


def _native(value, kind):
    """A rulebook argument as ``kind`` (list, dict or bool): a templated argument may arrive as its text."""
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        if kind is bool:
            return text.lower() in ('1', 'true', 'yes', 'on')
        import ast
        try:
            value = ast.literal_eval(text) if text else kind()
        except (ValueError, SyntaxError):
            value = [text] if kind is list else value
    if kind is bool:
        return bool(value)
    if value is not None and not isinstance(value, kind):
        raise ValueError('auth_log: expected a %s, not %r' % (kind.__name__, value))
    return value


def rule_priority(thresholds, rule):
    """The priority a rule's threshold gives when it fires (its warning limit, else its critical one)."""
    name = RULE_THRESHOLDS.get(rule)
    spec = _result.Threshold.from_spec(name, thresholds.get(name)) if name else None
    if spec is None:
        return 'medium'
    status = _result.WARNING if spec.warning is not None else _result.CRITICAL
    return spec.priority_for(status)


class Blocker(object):
    """The ``block`` argument: ``nft_block``'s work (``incidents.nft.block_result``) from inside the event source."""

    def __init__(self, spec, allow_list=(), runner_factory=None):
        unknown = sorted(set(spec) - set(BLOCK_OPTIONS))
        if unknown:
            raise ValueError('auth_log: block: unknown option(s) %s (known: %s)' % (', '.join(unknown), ', '.join(BLOCK_OPTIONS)))
        try:
            timeout = int(spec.get('timeout', 86400))
        except (TypeError, ValueError):
            raise ValueError('auth_log: block.timeout must be a whole number of seconds, not %r' % (spec.get('timeout'),))
        self.params = {
            'state': 'present',
            'timeout': timeout,
            'management_networks': [str(n) for n in _native(spec.get('management_networks'), list) or []],
            # the source's allow_list is never blocked either, whatever the block's own allow says
            'allow': [str(n) for n in (_native(spec.get('allow'), list) or [])] + [str(n) for n in allow_list],
            'control_node': str(spec['control_node']) if spec.get('control_node') else None,
        }
        self.prefix = [str(part) for part in _native(spec.get('command_prefix'), list) or []]
        self.runner_factory = runner_factory or (lambda: _nft.Runner(prefix=self.prefix))
        # refuse a bad block at start, as the module would (no management network, one covering everything ...)
        try:
            if self.params['timeout'] <= 0:
                raise MaintenanceError('timeout must be a positive number of seconds, not %d' % self.params['timeout'])
            if not self.params['management_networks']:
                raise MaintenanceError('management_networks is empty: name the network responders use, it is never '
                                       'blocked')
            _nft.parse_kept_networks(self.params['management_networks'], 'management_networks')
            _nft.block_plan([], self.params['management_networks'], self.params['allow'], self.params['control_node'])
        except MaintenanceError as exc:
            raise ValueError('auth_log: block: %s' % exc)

    def block(self, addresses):
        """Block ``addresses`` in one ``nft`` transaction; returns ``{address: outcome}`` (see the event's ``block``)."""
        started = time.monotonic()
        runner = self.runner_factory()
        try:
            result, dummy = _nft.block_result(runner, dict(self.params, addresses=list(addresses)), check_mode=False)
        except (MaintenanceError, OSError, ValueError) as exc:
            LOG.error('auth_log: block of %s failed: %s', ', '.join(addresses), exc)
            return dict((address, {'status': 'error', 'reason': str(exc), 'timeout': self.params['timeout'],
                                   'seconds': round(time.monotonic() - started, 3)}) for address in addresses)
        seconds = round(time.monotonic() - started, 3)
        status = {}
        for key, label in (('blocked', 'blocked'), ('already_blocked', 'already_blocked')):
            for network in result.get(key) or ():
                status[network] = (label, 'in inet %s for %d s' % (result.get('table'), self.params['timeout']))
        for refused in result.get('refused') or ():
            status[refused['address']] = ('refused', refused['reason'])
        outcome = {}
        for address in addresses:
            found = status.get(_network_text(address))
            if found is None:               # inside a wider network of the same transaction (a collapsed /N)
                found = next((status[net] for net in status if status[net][0] != 'refused' and _within(address, net)),
                             ('error', 'not in the result of the block'))
            outcome[address] = {'status': found[0], 'reason': found[1], 'timeout': self.params['timeout'],
                                'seconds': seconds}
        return outcome


def _network_text(address):
    try:
        return str(ipaddress.ip_network(str(address).strip(), strict=False))
    except ValueError:
        return str(address).strip()


def _within(address, network):
    try:
        return ipaddress.ip_network(str(address).strip(), strict=False).subnet_of(ipaddress.ip_network(network))
    except (ValueError, TypeError):
        return False


class Follower(object):
    """The state of one event source: scan parameters, the files' last look, what was already sent."""

    def __init__(self, args, clock=time.time):
        if not args.get('state_file'):
            raise ValueError('auth_log: the argument state_file is required')
        sources = _native(args.get('sources'), list)
        if not sources:
            paths = _native(args.get('paths'), list) or ['/var/log/auth.log']
            sources = [{'type': 'auth', 'path': str(path)} for path in paths]
        self.thresholds = dict(_native(args.get('thresholds'), dict) or DEFAULT_THRESHOLDS)
        self.params = {
            'sources': sources,
            'state_file': str(args['state_file']),
            'thresholds': self.thresholds,
            'allow_list': list(_native(args.get('allow_list'), list) or []),
            'window_minutes': int(args.get('window_minutes', 10)),
            'history_minutes': int(args.get('history_minutes', 60)),
            'find_minutes': int(args.get('find_minutes', 10)),
            'slow_find_minutes': int(args.get('slow_find_minutes', 120)),
            'utc': _native(args.get('utc', False), bool),
        }
        self.interval = float(args.get('interval', 0.2))
        self.cpu_share = float(args.get('cpu_share', 0.05))
        self.repeat_after = float(args.get('repeat_after', 600))
        if self.interval <= 0 or not 0 < self.cpu_share <= 1 or self.repeat_after < 0:
            raise ValueError('auth_log: interval must be > 0, cpu_share in (0, 1], repeat_after >= 0')
        self.paths = [s.get('path') for s in sources if s.get('path')]
        self.clock = clock
        self.looked = None
        self.sent = {}                  # address -> (time sent, priority)
        self.errors = {}                # source -> the last error logged
        self.host = socket.gethostname()
        self.scan_seconds = 0.0
        block = _native(args.get('block'), dict)
        self.blocker = Blocker(block, self.params['allow_list']) if block else None

    def _look(self):
        """What the files look like now (size, inode, mtime): a scan runs only when it changed."""
        looks = []
        for path in self.paths:
            try:
                st = os.stat(path)
                looks.append((path, st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError as exc:
                looks.append((path, exc.errno))
        return looks

    def changed(self):
        look = self._look()
        if not self.paths or look != self.looked:
            self.looked = look
            return True
        return False

    def scan(self):
        """One incremental scan; returns the events to send."""
        started = time.process_time()
        output = _log_scan.scan(dict(self.params, now=self.clock()))
        self.scan_seconds = time.process_time() - started
        for source in output.get('sources', ()):
            error = source.get('error')
            key = source.get('path') or source.get('type')
            if error and self.errors.get(key) != error:
                LOG.warning('auth_log: source %s: %s', key, error)
            self.errors[key] = error
        events = self.events(output)
        if events and self.blocker is not None:
            outcome = self.blocker.block([event[EVENT_KEY]['address'] for event in events])
            for event in events:
                event[EVENT_KEY]['block'] = outcome[event[EVENT_KEY]['address']]
        return events

    def events(self, output):
        now = self.clock()
        events = []
        for entry in output.get('suspicious_ip_details') or ():
            rules = entry.get('rules') or []
            if not rules:
                continue
            priority = max((rule_priority(self.thresholds, rule['rule']) for rule in rules),
                           key=lambda p: PRIORITY_ORDER.get(p, 1))
            address = entry['ip']
            known = self.sent.get(address)
            if known is not None:
                sent_at, sent_priority = known
                higher = PRIORITY_ORDER.get(priority, 1) > PRIORITY_ORDER.get(sent_priority, 1)
                if not higher and now - sent_at < self.repeat_after:
                    continue
            self.sent[address] = (now, priority)
            first = sorted(rules, key=lambda rule: (rule.get('at') or '9', rule['rule']))[0]
            events.append({EVENT_KEY: {
                'address': address,
                'priority': priority,
                'rule': first['rule'],
                'rules': rules,
                'reasons': entry.get('reasons') or [],
                'first_fired': entry.get('first_fired'),
                'failures': entry.get('failures', 0),
                'host': self.host,
                'sources': self.paths,
                'detected': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now)),
            }})
        # forget what has not fired for a long time (memory stays bounded)
        horizon = now - max(self.repeat_after, 3600)
        for address in [a for a, (at, p) in self.sent.items() if at < horizon]:
            del self.sent[address]
        return events

    def pause(self):
        """Seconds to wait before the next look: the interval, longer when the last scan was costly."""
        return max(self.interval, self.scan_seconds / self.cpu_share)


async def main(queue, args):
    """Entry point of ansible-rulebook.

    The events go to ``queue`` through a task of their own: ansible-rulebook's queue holds one event and is not read
    while its actions fall behind, and the scans (and the blocks of ``block``) must not wait for that."""
    follower = Follower(args)
    loop = asyncio.get_running_loop()
    pending = asyncio.Queue()

    async def forward():
        while True:
            event = await pending.get()
            await queue.put(event)

    forwarder = asyncio.ensure_future(forward())
    warned = False
    try:
        while True:
            if follower.changed():
                try:
                    events = await loop.run_in_executor(None, follower.scan)
                except Exception as exc:        # a bad state file or option: say it, keep following
                    LOG.error('auth_log: scan failed: %s: %s', type(exc).__name__, exc)
                    events = []
                for event in events:
                    pending.put_nowait(event)
                if pending.qsize() > BACKLOG_WARNING and not warned:
                    LOG.warning('auth_log: %d events wait for the rule engine (its actions fall behind)', pending.qsize())
                warned = pending.qsize() > BACKLOG_WARNING
            if forwarder.done():            # cannot happen but by a bug: say it rather than hold events forever
                forwarder.result()
            await asyncio.sleep(follower.pause())
    finally:
        forwarder.cancel()


if __name__ == '__main__':
    # a quick look without ansible-rulebook: print the events of the given files
    class _Print(object):
        async def put(self, event):
            print(event, flush=True)

    asyncio.run(main(_Print(), {'paths': sys.argv[1:-1], 'state_file': sys.argv[-1]}))
