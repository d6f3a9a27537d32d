# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Review of the live nftables ruleset against an inbound policy kept as data (``firewall_review`` module).

The ruleset is read with ``nft -j list ruleset`` (read-only). The collection's own incident tables
(``incident_net.ISOLATION_TABLE``, ``incident_net.BLOCK_TABLE``) are left out of the review and listed.
For every table with a base chain on the ``input`` hook, that chain and the table's regular chains (the
targets of its jumps) are read rule by rule:

* an ``accept`` with no match (or only a protocol match) is an any-any accept: critical;
* an ``accept`` of ports: each (protocol, port) must be in the policy's ``allow`` list, and the rule's sources
  must lie inside the entry's ``sources`` (a rule without a source match opens the port to any address);
* loopback (``iifname lo``) and return traffic (``ct state established,related``) accepts are expected, ICMP
  accepts when ``allow_icmp``; any other accept the review cannot read is a warning with the rule;
* an input chain whose policy is ``accept`` and that does not end in an unconditional drop or reject is a
  missing default drop (critical when ``require_default_drop``); no input chain at all is the same.

Plain Python: unit tests call ``review()`` without Ansible.
"""

import ipaddress
import json
import subprocess

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.incidents.nft import BLOCK_TABLE, ISOLATION_TABLE
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    CRITICAL,
    Report,
    UNKNOWN,
    WARNING,
    make_check,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.security.security_scan import category_check, finding

INCIDENT_TABLES = (ISOLATION_TABLE, BLOCK_TABLE)
ANY = ('any', '0.0.0.0/0', '::/0')
PROTOCOLS = ('tcp', 'udp', 'sctp')
FAMILIES = ('inet', 'ip', 'ip6')


# ------------------------------------------------------------------ policy

def _port_range(value, label):
    text = str(value)
    try:
        if '-' in text:
            low, high = [int(p) for p in text.split('-', 1)]
        else:
            low = high = int(text)
    except ValueError:
        raise MaintenanceError('%s: %r is not a port or a port range (22, 1000-2000)' % (label, value))
    if not (1 <= low <= high <= 65535):
        raise MaintenanceError('%s: %r is not within 1-65535' % (label, value))
    return low, high


def _network(value, label):
    if str(value).lower() in ANY:
        return None
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise MaintenanceError('%s: %r is not an address or network (or any)' % (label, value))


def parse_policy(policy):
    """A checked policy: allow entries (proto, low, high, networks or None for any), allow_icmp, require_default_drop."""
    if not isinstance(policy, dict):
        raise MaintenanceError('policy must be a mapping with allow, allow_icmp, require_default_drop')
    unknown = set(policy) - set(['allow', 'allow_icmp', 'require_default_drop', 'description'])
    if unknown:
        raise MaintenanceError('policy has unknown keys: %s' % ', '.join(sorted(unknown)))
    entries = []
    for index, entry in enumerate(policy.get('allow') or []):
        label = 'policy.allow[%d]' % index
        if not isinstance(entry, dict) or 'port' not in entry:
            raise MaintenanceError('%s must be a mapping with port (and proto, sources, name)' % label)
        proto = str(entry.get('proto') or 'tcp').lower()
        if proto not in PROTOCOLS:
            raise MaintenanceError('%s.proto must be one of %s, not %r' % (label, ', '.join(PROTOCOLS), proto))
        low, high = _port_range(entry['port'], label + '.port')
        sources = entry.get('sources') or ['any']
        if not isinstance(sources, list):
            raise MaintenanceError('%s.sources must be a list of networks' % label)
        networks = [_network(s, label + '.sources') for s in sources]
        entries.append({'proto': proto, 'low': low, 'high': high, 'networks': None if None in networks else networks,
                        'name': entry.get('name') or '%s/%s' % (proto, entry['port'])})
    return {'allow': entries, 'allow_icmp': bool(policy.get('allow_icmp', True)),
            'require_default_drop': bool(policy.get('require_default_drop', True))}


# ------------------------------------------------------------------ reading the ruleset

def read_ruleset(command, timeout=30):
    try:
        proc = subprocess.run(list(command) + ['-j', 'list', 'ruleset'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, 'cannot run %s: %s' % (' '.join(command), exc)
    if proc.returncode != 0:
        return None, '%s -j list ruleset exited %d: %s' % (' '.join(command), proc.returncode,
                                                           proc.stderr.decode('utf-8', 'replace').strip()[:300])
    return proc.stdout.decode('utf-8', 'replace'), None


def parse_ruleset(text):
    data = json.loads(text) if text.strip() else {'nftables': []}
    tables, chains, rules = [], {}, []
    for item in data.get('nftables', []):
        if 'table' in item:
            tables.append((item['table']['family'], item['table']['name']))
        elif 'chain' in item:
            chain = item['chain']
            chains[(chain['family'], chain['table'], chain['name'])] = chain
        elif 'rule' in item:
            rules.append(item['rule'])
    return tables, chains, rules


# ------------------------------------------------------------------ reading one rule

def _values(right):
    """Plain values of a match's right side: numbers, strings, (low, high) ranges, prefixes as strings."""
    if isinstance(right, dict):
        if 'set' in right:
            result = []
            for item in right['set']:
                result.extend(_values(item))
            return result
        if 'range' in right:
            return [tuple(right['range'])]
        if 'prefix' in right:
            return ['%s/%s' % (right['prefix']['addr'], right['prefix']['len'])]
        return [json.dumps(right, sort_keys=True)]
    if isinstance(right, list):
        return list(right)
    return [right]


def describe_rule(rule):
    """What a rule matches: dict(proto, ports, sources, iif, ct, other) and its verdict."""
    info = {'proto': None, 'ports': None, 'sources': None, 'iif': None, 'ct': None, 'icmp': False, 'other': [],
            'verdict': None, 'negated': False}
    for expr in rule.get('expr', []):
        if 'match' in expr:
            match = expr['match']
            left, right, op = match.get('left'), match.get('right'), match.get('op', '==')
            if op not in ('==', 'in'):
                info['negated'] = True
            if isinstance(left, dict) and 'payload' in left:
                payload = left['payload']
                proto, field = payload.get('protocol'), payload.get('field')
                if field == 'dport' and proto in PROTOCOLS:
                    info['proto'] = proto
                    info['ports'] = _values(right)
                elif field == 'saddr' and proto in ('ip', 'ip6'):
                    info['sources'] = (info['sources'] or []) + [str(v) for v in _values(right)]
                elif proto in ('icmp', 'icmpv6'):
                    info['icmp'] = True
                else:
                    info['other'].append('%s %s' % (proto, field))
            elif isinstance(left, dict) and 'meta' in left:
                key = left['meta'].get('key')
                if key in ('l4proto', 'protocol', 'nfproto'):
                    values = [str(v) for v in _values(right)]
                    if any(v in ('icmp', 'ipv6-icmp', 'icmpv6') for v in values):
                        info['icmp'] = True
                    elif key == 'l4proto' and len(values) == 1 and values[0] in PROTOCOLS:
                        info['proto'] = values[0]
                    elif key != 'nfproto':
                        info['other'].append('meta %s %s' % (key, ','.join(values)))
                elif key in ('iifname', 'iif'):
                    info['iif'] = [str(v) for v in _values(right)]
                else:
                    info['other'].append('meta %s' % key)
            elif isinstance(left, dict) and 'ct' in left and left['ct'].get('key') == 'state':
                info['ct'] = [str(v) for v in _values(right)]
            else:
                info['other'].append(json.dumps(left, sort_keys=True)[:80])
        else:
            for verdict in ('accept', 'drop', 'reject', 'jump', 'goto', 'return'):
                if verdict in expr:
                    info['verdict'] = verdict
    return info


def rule_text(rule):
    return '%s %s %s handle %s' % (rule['family'], rule['table'], rule['chain'], rule.get('handle'))


def _source_networks(sources):
    networks = []
    for source in sources:
        try:
            networks.append(ipaddress.ip_network(source, strict=False))
        except ValueError:
            return None  # a named set or something unreadable: judged as "any"
    return networks


def judge_accept(rule, info, policy):
    """Findings for one accept rule."""
    where = rule_text(rule)
    if info['negated']:
        return [finding(WARNING, 'rules', where, 'accept rule %s uses a negated match the review does not read' % where)]
    if info['iif'] and all(i == 'lo' for i in info['iif']) and not info['ports']:
        return []
    if info['ct'] and set(info['ct']) <= set(['established', 'related']):
        return []
    if info['icmp'] and not info['ports']:
        if policy['allow_icmp']:
            return []
        return [finding(WARNING, 'rules', where, 'ICMP accepted by %s but the policy does not allow ICMP' % where)]
    if info['ct'] or info['other']:
        return [finding(WARNING, 'rules', where, 'accept rule %s matches %s: not in the inbound policy'
                        % (where, ', '.join((['ct state ' + ','.join(info['ct'])] if info['ct'] else []) + info['other'])))]
    if info['ports'] is None and info['sources'] is None:
        what = 'any protocol' if not info['proto'] else 'any %s port' % info['proto']
        return [finding(CRITICAL, 'rules', where, 'any-any accept: %s accepts %s from any source' % (where, what))]
    if info['ports'] is None:
        return [finding(CRITICAL, 'rules', where, '%s accepts every port from %s: not in the inbound policy'
                        % (where, ', '.join(info['sources'])))]
    findings = []
    sources = _source_networks(info['sources']) if info['sources'] is not None else None
    shown_sources = ', '.join(info['sources']) if info['sources'] else 'any source'
    for port in info['ports']:
        low, high = (port if isinstance(port, tuple) else (port, port))
        try:
            low, high = int(low), int(high)
        except (TypeError, ValueError):
            findings.append(finding(WARNING, 'rules', where, '%s accepts %s port %s the review does not read' % (where, info['proto'], port)))
            continue
        shown = '%s/%d' % (info['proto'], low) if low == high else '%s/%d-%d' % (info['proto'], low, high)
        entries = [e for e in policy['allow'] if e['proto'] == info['proto'] and e['low'] <= low and high <= e['high']]
        if not entries:
            findings.append(finding(CRITICAL, 'rules', where, '%s accepts %s from %s: not in the inbound policy' % (where, shown, shown_sources)))
            continue
        allowed = any(e['networks'] is None for e in entries)
        if not allowed and sources is not None:
            allowed = all(any(s.version == n.version and s.subnet_of(n) for e in entries for n in e['networks']) for s in sources)
        if not allowed:
            wanted = ', '.join(str(n) for e in entries for n in e['networks'])
            findings.append(finding(CRITICAL, 'rules', where, '%s accepts %s from %s, wider than the policy (%s)'
                                    % (where, shown, shown_sources, wanted)))
    return findings


def _ends_in_drop(chain_rules):
    if not chain_rules:
        return False
    info = describe_rule(chain_rules[-1])
    return info['verdict'] in ('drop', 'reject') and info['ports'] is None and info['sources'] is None and \
        not info['other'] and not info['ct'] and not info['iif'] and not info['proto'] and not info['icmp']


# ------------------------------------------------------------------ the module's work

def review(params, check_mode=False):
    """Returns ``(checks, extra, changed)``; never changes the ruleset (check mode is the same)."""
    policy = parse_policy(params.get('policy') or {})
    text = params.get('ruleset_json')
    source = 'given ruleset_json'
    if text is None:
        command = params.get('nft_command') or ['nft']
        source = ' '.join(command) + ' -j list ruleset'
        text, error = read_ruleset(command)
        if text is None:
            check = make_check('firewall.ruleset', UNKNOWN, error, priority='high', target=source)
            return [check], {'findings': [], 'ignored_tables': [], 'rules_reviewed': 0}, False
    try:
        tables, chains, rules = parse_ruleset(text)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MaintenanceError('The nftables ruleset from %s is not the JSON of nft -j: %s' % (source, exc))
    ignored = sorted(set('%s %s' % t for t in tables if t[1] in INCIDENT_TABLES))
    input_tables = set((c['family'], c['table']) for c in chains.values()
                       if c.get('hook') == 'input' and c['family'] in FAMILIES and c['table'] not in INCIDENT_TABLES)
    by_chain = {}
    for rule in rules:
        by_chain.setdefault((rule['family'], rule['table'], rule['chain']), []).append(rule)
    rule_findings, drop_findings = [], []
    reviewed = 0
    input_chains = []
    for key, chain in sorted(chains.items()):
        family, table, _name = key
        if (family, table) not in input_tables:
            continue
        if chain.get('hook') and chain.get('hook') != 'input':
            continue
        if chain.get('hook') == 'input':
            input_chains.append(chain)
        for rule in by_chain.get(key, []):
            reviewed += 1
            info = describe_rule(rule)
            if info['verdict'] == 'accept':
                rule_findings.extend(judge_accept(rule, info, policy))
    severity = CRITICAL if policy['require_default_drop'] else WARNING
    if not input_chains:
        drop_findings.append(finding(severity, 'default_drop', 'input', 'no input chain outside the incident tables: every inbound '
                                     'packet is accepted (no default drop)'))
    for chain in input_chains:
        name = '%s %s %s' % (chain['family'], chain['table'], chain['name'])
        if chain.get('policy', 'accept') != 'drop' and not _ends_in_drop(by_chain.get((chain['family'], chain['table'], chain['name']), [])):
            drop_findings.append(finding(severity, 'default_drop', name, 'input chain %s has policy %s and no final drop: missing default drop'
                                         % (name, chain.get('policy', 'accept'))))
    checks = [
        category_check('firewall.rules', rule_findings, '%d rule(s) of %d input chain(s) reviewed, every accept is in the inbound policy'
                       % (reviewed, len(input_chains)), target=source),
        category_check('firewall.default_drop', drop_findings, 'every input chain drops what it does not accept (%s)'
                       % ', '.join('%s %s %s' % (c['family'], c['table'], c['name']) for c in input_chains), target=source),
    ]
    extra = {'findings': rule_findings + drop_findings, 'ignored_tables': ignored, 'rules_reviewed': reviewed}
    return checks, extra, False


def run(params, check_mode=False, host=None):
    """The firewall_review module's entry (``result.Report``)."""
    checks, extra, changed = review(params, check_mode=check_mode)
    return Report(checks, changed=changed, data=extra)
