# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Network containment for security incidents: host isolation and address blocking.

Plain Python (unit tests import it without Ansible):

* ``isolation_ruleset(...)`` builds the nftables ruleset of the dedicated
  ``inet autopilotcx_isolation`` table: input/output/forward chains with policy
  drop that accept loopback, the management network(s) and the control node.
  It refuses to build a ruleset without a management network, so an isolation
  can never cut the responders off.
* ``iptables_isolation_commands(...)`` does the same for hosts without nft.
* ``block_plan(...)`` splits the addresses to block into those to block and
  those refused (management network, allow-list, loopback, not an address).
* ``Isolation`` / ``Blocker`` apply these through the ``nft``/``iptables``
  commands; a self-revert timer is armed *before* the rules are loaded.
"""

import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError

ISOLATION_TABLE = 'autopilotcx_isolation'
BLOCK_TABLE = 'autopilotcx_block'
IPTABLES_CHAIN_IN = 'AUTOPILOTCX_ISOL_IN'
IPTABLES_CHAIN_OUT = 'AUTOPILOTCX_ISOL_OUT'
REVERT_MARKER = 'autopilotcx-isolation-revert'
PRIORITY = -200          # before the usual filter chains (priority 0)
WIDEST_PREFIX = 8        # a network wider than a /8 (0.0.0.0/0, ::/0, 0.0.0.0/1 ...) is never a management network
# nor a target to block: it covers 1/256 or more of all addresses of its family


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return str(value).strip()


def parse_network(value, what='network'):
    """An ``ipaddress`` network from ``value`` (address or CIDR); MaintenanceError when invalid."""
    text = _text(value)
    if not text:
        raise MaintenanceError('%s: an empty value is not an address or network' % what)
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise MaintenanceError('%s: %r is not a valid IPv4/IPv6 address or CIDR network (%s)' % (what, text, exc))


def parse_networks(values, what='network'):
    """Validated, de-duplicated networks in input order."""
    result = []
    for value in values or []:
        net = parse_network(value, what)
        if net not in result:
            result.append(net)
    return result


def too_wide(net):
    """Why ``net`` covers too much of its address family to isolate around or to block (None when it does not).

    The one validator for isolation (``management_networks``, ``control_node``, ``allow``: an isolation that keeps
    0.0.0.0/0 reachable isolates nothing) and for blocking (the addresses to block, the management networks).
    """
    if net.prefixlen == 0:
        return 'covers a whole address family'
    if net.prefixlen < WIDEST_PREFIX:
        return 'covers 1/%d of all IPv%d addresses (a /%d; the widest accepted is a /%d)' % (
            2 ** net.prefixlen, net.version, net.prefixlen, WIDEST_PREFIX)
    return None


def parse_kept_networks(values, what):
    """``parse_networks`` for networks kept reachable: one covering (nearly) everything is refused, naming ``what``."""
    result = parse_networks(values, what)
    for net in result:
        reason = too_wide(net)
        if reason:
            raise MaintenanceError('%s: %s %s; keeping it reachable would make the isolation or the block a no-op, '
                                   'name the real network' % (what, net, reason))
    return result


def _elements(networks):
    return ', '.join(str(n) for n in networks)


def spec_digest(spec):
    """Short digest of an isolation specification, stored as the table comment for idempotence."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode('utf-8')).hexdigest()[:16]


def isolation_spec(management_networks, control_node=None, extra_allow=None):
    """The validated networks an isolation keeps reachable. Raises when no management network is given."""
    management = parse_kept_networks(management_networks, 'management_networks')
    if not management:
        raise MaintenanceError('refusing to isolate without a management network: management_networks is empty, '
                               'the host would be cut off from every responder')
    allow = list(management)
    for value in ([control_node] if control_node else []):
        for net in parse_kept_networks([value], 'control_node'):
            if net not in allow:
                allow.append(net)
    for net in parse_kept_networks(extra_allow, 'allow'):
        if net not in allow:
            allow.append(net)
    return {
        'management_networks': [str(n) for n in management],
        'allow': [str(n) for n in allow],
    }


def isolation_ruleset(spec, table=ISOLATION_TABLE):
    """nftables text that (re)creates the isolation table atomically from an ``isolation_spec``."""
    allow = parse_networks(spec['allow'], 'allow')
    management = parse_networks(spec['management_networks'], 'management_networks')
    if not management or any(net not in allow for net in management):
        raise MaintenanceError('internal: the management networks must all be in the allow list')
    v4 = [n for n in allow if n.version == 4]
    v6 = [n for n in allow if n.version == 6]
    digest = spec_digest(spec)

    def named_set(name, kind, nets):
        lines = ['  set %s {' % name, '    type %s' % kind, '    flags interval']
        if nets:
            lines.append('    elements = { %s }' % _elements(nets))
        lines.append('  }')
        return lines

    def chain(name, hook, direction):
        iface = 'iifname' if direction == 'in' else 'oifname'
        addr = 'saddr' if direction == 'in' else 'daddr'
        lines = ['  chain %s {' % name,
                 '    type filter hook %s priority %d; policy drop;' % (hook, PRIORITY),
                 '    %s "lo" accept' % iface,
                 '    ip %s @allow_v4 accept' % addr,
                 '    ip6 %s @allow_v6 accept' % addr,
                 # IPv6 needs neighbour discovery to reach even the management network
                 '    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept',
                 '    counter comment "dropped by incident isolation"',
                 '  }']
        return lines

    lines = [
        '# autopilotcx.maintenance incident isolation; release with incident_release.yml',
        '# or: nft delete table inet %s' % table,
        'table inet %s' % table,
        'delete table inet %s' % table,
        'table inet %s {' % table,
        '  comment "autopilotcx isolation %s"' % digest,
    ]
    lines += named_set('allow_v4', 'ipv4_addr', v4)
    lines += named_set('allow_v6', 'ipv6_addr', v6)
    lines += chain('input', 'input', 'in')
    lines += chain('output', 'output', 'out')
    lines += ['  chain forward {',
              '    type filter hook forward priority %d; policy drop;' % PRIORITY,
              '  }',
              '}']
    return '\n'.join(lines) + '\n'


def iptables_isolation_commands(spec, version=4):
    """iptables/ip6tables argument lists that build the isolation chains (hosts without nft)."""
    allow = [n for n in parse_networks(spec['allow'], 'allow') if n.version == version]
    cmds = []
    for chain, iface, flag in ((IPTABLES_CHAIN_IN, '-i', '-s'), (IPTABLES_CHAIN_OUT, '-o', '-d')):
        cmds.append(['-N', chain])
        cmds.append(['-F', chain])
        cmds.append(['-A', chain, iface, 'lo', '-j', 'RETURN'])
        for net in allow:
            cmds.append(['-A', chain, flag, str(net), '-j', 'RETURN'])
        if version == 6:
            cmds.append(['-A', chain, '-p', 'ipv6-icmp', '-j', 'RETURN'])
        cmds.append(['-A', chain, '-j', 'DROP'])
    return cmds


def iptables_jumps():
    """(builtin chain, our chain) pairs; the jump is inserted first in each built-in chain."""
    return [('INPUT', IPTABLES_CHAIN_IN), ('OUTPUT', IPTABLES_CHAIN_OUT), ('FORWARD', IPTABLES_CHAIN_IN)]


def block_plan(candidates, management_networks, allow=None, control_node=None):
    """Split candidate addresses into ``block`` (networks to block) and ``refused`` (with reasons).

    Never blocks loopback, link-local, the management networks, the control node or the allow-list.
    """
    protected = []
    for label, values in (('management network', management_networks), ('allow-list', allow or []),
                          ('control node', [control_node] if control_node else [])):
        for net in parse_networks(values, label.replace(' ', '_')):
            protected.append((label, net))
    block, refused = [], []
    seen = set()
    for raw in candidates or []:
        if isinstance(raw, dict):
            raw = raw.get('ip') or raw.get('address') or ''
        text = _text(raw)
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            refused.append({'address': text, 'reason': 'not an IPv4/IPv6 address or network'})
            continue
        if str(net) in seen:
            continue
        seen.add(str(net))
        reason = None
        if net.is_loopback or net.is_link_local or net.is_unspecified or net.is_multicast:
            reason = 'loopback, link-local, multicast or unspecified addresses are never blocked'
        elif too_wide(net):
            reason = 'blocking %s is refused: it %s' % (net, too_wide(net))
        else:
            for label, protect in protected:
                if net.version == protect.version and (net.overlaps(protect)):
                    reason = 'overlaps the %s %s' % (label, protect)
                    break
        if reason:
            refused.append({'address': str(net), 'reason': reason})
        else:
            block.append(net)
    collapsed = []
    for version in (4, 6):
        # overlapping entries (an address and its /28) would be conflicting intervals in the set
        collapsed += ipaddress.collapse_addresses([n for n in block if n.version == version])
    return {'block': [str(n) for n in collapsed], 'refused': refused}


def block_table_ruleset(timeout, table=BLOCK_TABLE):
    """nftables text that creates the block table when absent (existing elements are kept)."""
    return '\n'.join([
        'table inet %s {' % table,
        '  set blocked_v4 { type ipv4_addr; flags interval, timeout; timeout %ds; }' % timeout,
        '  set blocked_v6 { type ipv6_addr; flags interval, timeout; timeout %ds; }' % timeout,
        '  chain input {',
        '    type filter hook input priority %d; policy accept;' % (PRIORITY + 10),
        '    ip saddr @blocked_v4 counter drop',
        '    ip6 saddr @blocked_v6 counter drop',
        '  }',
        '  chain output {',
        '    type filter hook output priority %d; policy accept;' % (PRIORITY + 10),
        '    ip daddr @blocked_v4 counter drop',
        '    ip6 daddr @blocked_v6 counter drop',
        '  }',
        '  chain forward {',
        '    type filter hook forward priority %d; policy accept;' % (PRIORITY + 10),
        '    ip saddr @blocked_v4 counter drop',
        '    ip daddr @blocked_v4 counter drop',
        '    ip6 saddr @blocked_v6 counter drop',
        '    ip6 daddr @blocked_v6 counter drop',
        '  }',
        '}',
    ]) + '\n'


def block_elements_ruleset(networks, timeout, table=BLOCK_TABLE):
    lines = []
    for version, name in ((4, 'blocked_v4'), (6, 'blocked_v6')):
        nets = [n for n in parse_networks(networks) if n.version == version]
        if nets:
            lines.append('add element inet %s %s { %s }' % (
                table, name, ', '.join('%s timeout %ds' % (n, timeout) for n in nets)))
    return '\n'.join(lines) + ('\n' if lines else '')


def _flatten_elements(elems):
    """Addresses/networks in an ``nft -j`` set's elem list."""
    result = []
    for item in elems or []:
        if isinstance(item, dict) and 'elem' in item:
            item = item['elem'].get('val')
        if isinstance(item, dict) and 'prefix' in item:
            result.append('%s/%s' % (item['prefix']['addr'], item['prefix']['len']))
        elif isinstance(item, dict) and 'range' in item:
            result.append('%s-%s' % tuple(item['range']))
        elif item is not None:
            result.append(str(item))
    return [str(ipaddress.ip_network(r, strict=False)) if '-' not in r else r for r in result]


class Runner(object):
    """Runs the firewall tools; ``prefix`` is prepended to each command (e.g. ``['ip', 'netns', 'exec', 'ns1']``)."""

    def __init__(self, nft='nft', iptables='iptables', ip6tables='ip6tables', prefix=None):
        self.nft = nft
        self.iptables = iptables
        self.ip6tables = ip6tables
        self.prefix = list(prefix or [])
        self.commands = []

    def run(self, args, input_text=None, check=True):
        command = self.prefix + list(args)
        self.commands.append(' '.join(command))
        try:
            proc = subprocess.run(command, input=input_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, check=False)
        except OSError as exc:
            raise MaintenanceError('cannot run %s: %s' % (command[0], exc))
        if check and proc.returncode != 0:
            raise MaintenanceError('%s failed (exit %d): %s'
                                   % (' '.join(command), proc.returncode, (proc.stderr or proc.stdout).strip()))
        return proc

    def nft_file(self, ruleset, check_only=False):
        """Load (or with ``check_only`` just validate, ``nft -c``) a ruleset text."""
        handle, path = tempfile.mkstemp(prefix='autopilotcx-nft-', suffix='.nft')
        try:
            with os.fdopen(handle, 'w') as out:
                out.write(ruleset)
            return self.run([self.nft] + (['-c'] if check_only else []) + ['-f', path])
        finally:
            os.unlink(path)


def nft_available(nft='nft'):
    return bool(shutil.which(nft) if os.sep not in nft else os.access(nft, os.X_OK))


def _table_comment(runner, table):
    """The comment of an existing table ('' without one), None when the table does not exist.

    Read from the text listing: ``nft -j`` of nftables 1.0.6 leaves table comments out.
    """
    proc = runner.run([runner.nft, 'list', 'table', 'inet', table], check=False)
    if proc.returncode != 0:
        return None
    match = re.search(r'^\s*comment "([^"]*)"', proc.stdout, re.M)
    return match.group(1) if match else ''


# ------------------------------------------------------------------ self-revert timer

def _revert_pidfile(state_dir, table):
    return os.path.join(state_dir, '%s.revert.pid' % table)


def _systemd_running():
    return os.path.isdir('/run/systemd/system')


def disarm_revert(state_dir, table, runner=None):
    """Stop a pending self-revert timer. Returns a description of what was disarmed, or None."""
    disarmed = None
    path = _revert_pidfile(state_dir, table)
    if os.path.exists(path):
        with open(path) as handle:
            info = json.load(handle)
        if info.get('kind') == 'systemd':
            if runner is not None:
                runner.run(['systemctl', 'stop', info['unit'] + '.timer'], check=False)
            disarmed = 'systemd timer %s' % info['unit']
        else:
            pid = int(info['pid'])
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as handle:
                    cmdline = handle.read()
            except (IOError, OSError):
                cmdline = b''
            if REVERT_MARKER.encode() in cmdline:
                try:
                    os.killpg(pid, signal.SIGTERM)
                except OSError:
                    pass
                disarmed = 'revert process %d' % pid
        os.unlink(path)
    return disarmed


def arm_revert(state_dir, table, seconds, runner, revert_command):
    """Arm a timer that runs ``revert_command`` after ``seconds`` (before any rule is loaded).

    Uses a transient systemd timer when systemd runs, else a detached ``sleep`` process in its own
    session (it inherits the network namespace of the caller). Returns the timer description.
    """
    if not os.path.isdir(state_dir):
        os.makedirs(state_dir, 0o700, exist_ok=True)
    disarm_revert(state_dir, table, runner)
    revert_command = list(runner.prefix) + list(revert_command)
    path = _revert_pidfile(state_dir, table)
    due = time.time() + seconds
    if _systemd_running() and shutil.which('systemd-run'):
        unit = '%s-%d' % (REVERT_MARKER, int(due))
        runner.run(['systemd-run', '--unit', unit, '--on-active=%ds' % seconds, '--timer-property=AccuracySec=1s',
                    '--description', 'autopilotcx: revert incident isolation'] + revert_command)
        info = {'kind': 'systemd', 'unit': unit, 'due': due}
    else:
        script = 'sleep %d; %s; rm -f %s' % (seconds, ' '.join(_shell_quote(a) for a in revert_command),
                                             _shell_quote(path))
        proc = subprocess.Popen(['sh', '-c', script, REVERT_MARKER], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
                                start_new_session=True)
        info = {'kind': 'process', 'pid': proc.pid, 'due': due}
    with open(path, 'w') as handle:
        json.dump(info, handle)
    info['description'] = ('systemd timer %s' % info['unit']) if info['kind'] == 'systemd' else (
        'background process %d' % info['pid'])
    return info


def _shell_quote(arg):
    if arg and all(c.isalnum() or c in '@%+=:,./-_' for c in arg):
        return arg
    return "'" + arg.replace("'", "'\"'\"'") + "'"


def pending_revert(state_dir, table):
    path = _revert_pidfile(state_dir, table)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


# ------------------------------------------------------------------ isolation

def isolate(runner, spec, state, check_mode=False, backend='auto', timeout=0, state_dir='/run/autopilotcx',
            table=ISOLATION_TABLE):
    """Bring the isolation to ``state`` (``isolated``/``released``). Returns a result dict."""
    if backend == 'auto':
        backend = 'nftables' if nft_available(runner.nft) else 'iptables'
    result = {'backend': backend, 'table': table, 'state': state, 'changed': False, 'timer': None}
    if backend == 'nftables':
        current = _table_comment(runner, table)
        present = current is not None
        if state == 'isolated':
            ruleset = isolation_ruleset(spec, table)
            result['ruleset'] = ruleset
            wanted = 'autopilotcx isolation %s' % spec_digest(spec)
            result['changed'] = current != wanted
            if result['changed'] and not check_mode:
                runner.nft_file(ruleset, check_only=True)
                if timeout:
                    result['timer'] = arm_revert(state_dir, table, timeout, runner,
                                                 [runner.nft, 'delete', 'table', 'inet', table])
                runner.nft_file(ruleset)
            elif result['changed'] and check_mode:
                runner.nft_file(ruleset, check_only=True)
        else:
            result['changed'] = present or pending_revert(state_dir, table) is not None
            if not check_mode:
                result['disarmed'] = disarm_revert(state_dir, table, runner)
                if present:
                    runner.run([runner.nft, 'delete', 'table', 'inet', table])
        return result
    return _isolate_iptables(runner, spec, state, check_mode, timeout, state_dir)


def _iptables_present(runner, tool):
    return runner.run([tool, '-S', IPTABLES_CHAIN_IN], check=False).returncode == 0


def _isolate_iptables(runner, spec, state, check_mode, timeout, state_dir):
    table = 'iptables'
    tools = [(4, runner.iptables)] + ([(6, runner.ip6tables)] if shutil.which(runner.ip6tables) else [])
    present = any(_iptables_present(runner, tool) for _v, tool in tools)
    result = {'backend': 'iptables', 'table': IPTABLES_CHAIN_IN, 'state': state, 'changed': False, 'timer': None}
    release = []
    for _v, tool in tools:
        for builtin, chain in iptables_jumps():
            release.append([tool, '-D', builtin, '-j', chain])
        for chain in (IPTABLES_CHAIN_IN, IPTABLES_CHAIN_OUT):
            release.append([tool, '-F', chain])
            release.append([tool, '-X', chain])
    if state == 'isolated':
        plan = []
        for version, tool in tools:
            plan += [[tool] + c for c in iptables_isolation_commands(spec, version)]
            for builtin, chain in iptables_jumps():
                plan.append([tool, '-I', builtin, '1', '-j', chain])
        result['ruleset'] = '\n'.join(' '.join(c) for c in plan) + '\n'
        result['changed'] = True  # the chains are rebuilt every time: iptables has no atomic compare
        if check_mode:
            return result
        if present:
            for command in release:
                runner.run(command, check=False)
        if timeout:
            script = '; '.join(' '.join(c) + ' 2>/dev/null' for c in release)
            result['timer'] = arm_revert(state_dir, table, timeout, runner, ['sh', '-c', script])
        for command in plan:
            runner.run(command, check=not command[1] == '-N')
    else:
        result['changed'] = present
        if not check_mode:
            result['disarmed'] = disarm_revert(state_dir, table, runner)
            for command in release:
                runner.run(command, check=False)
    return result


# ------------------------------------------------------------------ blocking

def blocked_now(runner, table=BLOCK_TABLE):
    """Networks currently in the block sets (empty when the table is absent)."""
    found = []
    for name in ('blocked_v4', 'blocked_v6'):
        proc = runner.run([runner.nft, '-j', 'list', 'set', 'inet', table, name], check=False)
        if proc.returncode != 0:
            continue
        for item in json.loads(proc.stdout).get('nftables', []):
            if 'set' in item:
                found += _flatten_elements(item['set'].get('elem'))
    return found


def block(runner, plan, timeout, check_mode=False, table=BLOCK_TABLE):
    """Add the planned networks to the block sets with ``timeout`` seconds. Returns a result dict."""
    if not nft_available(runner.nft):
        raise MaintenanceError('blocking needs nftables: %s was not found on this host' % runner.nft)
    already = [ipaddress.ip_network(n) for n in blocked_now(runner, table) if '-' not in n]

    def covered(text):
        net = ipaddress.ip_network(text)
        return any(net.version == old.version and net.subnet_of(old) for old in already)

    new = [n for n in plan['block'] if not covered(n)]
    result = {'table': table, 'blocked': new, 'already_blocked': [n for n in plan['block'] if covered(n)],
              'refused': plan['refused'], 'changed': bool(new), 'timeout': timeout}
    ruleset = block_table_ruleset(timeout, table) + block_elements_ruleset(new, timeout, table)
    result['ruleset'] = ruleset
    if new:
        runner.nft_file(ruleset, check_only=True)
        if not check_mode:
            runner.nft_file(ruleset)
    return result


def unblock(runner, networks=None, check_mode=False, table=BLOCK_TABLE):
    """Remove ``networks`` from the block sets, or the whole block table when ``networks`` is empty."""
    current = blocked_now(runner, table)
    table_present = runner.run([runner.nft, 'list', 'table', 'inet', table], check=False).returncode == 0
    if not networks:
        result = {'table': table, 'unblocked': current, 'changed': table_present}
        if table_present and not check_mode:
            runner.run([runner.nft, 'delete', 'table', 'inet', table])
        return result
    wanted = [str(n) for n in parse_networks(networks, 'addresses')]
    remove = [n for n in wanted if n in current]
    result = {'table': table, 'unblocked': remove, 'changed': bool(remove)}
    if remove and not check_mode:
        for version, name in ((4, 'blocked_v4'), (6, 'blocked_v6')):
            nets = [n for n in remove if ipaddress.ip_network(n).version == version]
            if nets:
                runner.run([runner.nft, 'delete', 'element', 'inet', table, name, '{ %s }' % ', '.join(nets)])
    return result


def isolation_result(runner, params, check_mode=False):
    """The nft_isolation module's work: (result dict, ``incident.isolation`` check)."""
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import make_check
    if params['timeout'] < 0:
        raise MaintenanceError('timeout must be 0 (no self-revert) or a number of seconds, not %d' % params['timeout'])
    spec = None
    if params['state'] == 'isolated':
        spec = isolation_spec(params['management_networks'], params.get('control_node'), params.get('allow'))
    result = isolate(runner, spec, params['state'], check_mode=check_mode, backend=params['backend'],
                     timeout=params['timeout'], state_dir=params['state_dir'])
    if spec:
        result['allow'] = spec['allow']
        reason = 'host %s; only %s reachable' % ('would be isolated' if check_mode and result['changed'] else 'isolated',
                                                 ', '.join(spec['allow']))
        if params['timeout']:
            reason += '; reverts by itself after %d s unless released' % params['timeout']
    else:
        reason = 'isolation %s' % ('would be released' if check_mode and result['changed'] else
                                   'released' if result['changed'] else 'was not in place')
    check = make_check('incident.isolation', 'ok', reason, value=params['state'], priority='high',
                       details={'backend': result['backend'], 'timeout': params['timeout'],
                                'changed': result['changed']})
    if result.get('timer') is None:
        result.pop('timer', None)
    return result, check


def block_result(runner, params, check_mode=False):
    """The nft_block module's work: (result dict, ``incident.blocked_ips`` check)."""
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import make_check
    if params['state'] == 'absent':
        result = unblock(runner, [a.get('ip') if isinstance(a, dict) else a for a in params['addresses']],
                         check_mode=check_mode)
        result['refused'] = []
        result['blocked'] = []
        check = make_check('incident.blocked_ips', 'ok', '%d network(s) %sunblocked' % (
            len(result['unblocked']), 'would be ' if check_mode else ''), value=len(result['unblocked']),
            priority='high', details={'unblocked': result['unblocked']})
        return result, check
    if params['timeout'] <= 0:
        raise MaintenanceError('timeout must be a positive number of seconds, not %d' % params['timeout'])
    if not params['management_networks']:
        raise MaintenanceError('management_networks is empty: name the network responders use, it is never blocked')
    parse_kept_networks(params['management_networks'], 'management_networks')
    plan = block_plan(params['addresses'], params['management_networks'], params.get('allow'),
                      params.get('control_node'))
    result = block(runner, plan, params['timeout'], check_mode=check_mode)
    verb = 'would block' if check_mode else 'blocked'
    reason = '%s %d network(s) for %d s' % (verb, len(result['blocked']), params['timeout'])
    if result['already_blocked']:
        reason += ', %d already blocked' % len(result['already_blocked'])
    status = 'ok'
    if result['refused']:
        status = 'warning'
        reason += '; refused %d: %s' % (len(result['refused']), '; '.join(
            '%s (%s)' % (r['address'], r['reason']) for r in result['refused']))
    check = make_check('incident.blocked_ips', status, reason, value=len(result['blocked']) + len(result['already_blocked']),
                       unit='networks', priority='high',
                       details={'ips': result['blocked'] + result['already_blocked'], 'refused': result['refused'],
                                'timeout': params['timeout']})
    return result, check
