# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Alert delivery for the ``notify`` module: routing, deduplication, webhook and SMTP.

* ``route(priority, levels, routing)`` picks the escalation levels of a
  priority from the collection's data (``maintenance_escalation_levels``,
  ``maintenance_alert_routing``) with their contacts and response targets.
* ``StateStore`` keeps one entry per deduplication key in a small JSON file
  (locked, replaced atomically) so a persisting condition is repeated only
  after ``repeat_after`` and a cleared one gets one "resolved" message.
* ``send_webhook`` posts generic JSON or a Slack-compatible payload;
  ``send_email`` speaks SMTP with STARTTLS (or implicit TLS) and AUTH.
  A delivery problem raises ``DeliveryError`` and becomes a critical check.

Plain Python (stdlib only): unit tests call ``notify()`` without Ansible.
"""

import datetime
import email.message
import email.utils
import hashlib
import json
import os
import re
import smtplib
import socket
import ssl

from urllib.error import HTTPError, URLError
from urllib.request import HTTPSHandler, Request, build_opener

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.alerts.policy import alert_priority, legacy_dedup_keys
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import option_checks
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import (
    duration_text,
    iso_utc,
    parse_duration,
    parse_iso_or_none,
    utc_now,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.settings import resolve as store_settings
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.redact import (
    header_secrets,
    redact_url,
    scrub,
    url_secrets,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.state_store import open_state
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import (
    CRITICAL,
    OK,
    PRIORITIES,
    Report,
    STATUSES,
    WARNING,
    critical,
    make_check,
    ok,
    worst,
)

STATE_VERSION = 1
CHANNEL_TYPES = ('webhook', 'slack', 'email', 'alertmanager')
SLACK_COLORS = {'ok': '#2eb886', 'unknown': '#999999', 'warning': '#daa038', 'critical': '#a30200'}


class DeliveryError(Exception):
    """A channel could not take the alert; the message is the reason shown in the check."""


# ------------------------------------------------------------------ small helpers

def safe_url(url):
    """``scheme://host:port`` of a URL: webhook paths (Slack's) are secrets and never shown."""
    if not url:
        return '<invalid url>'
    shown = redact_url(url, keep_path=False)
    return '<invalid url>' if '://' not in shown else shown


def channel_secrets(channel):
    """Every secret a channel carries (URL path, query and password; header values; SMTP password)."""
    secrets = url_secrets(channel.get('url'), keep_path=False) if channel.get('url') else []
    secrets += header_secrets(channel.get('headers'))
    if channel.get('password'):
        secrets.append(str(channel['password']))
    return secrets


# ------------------------------------------------------------------ routing

def _contact_email(contact):
    if isinstance(contact, dict):
        value = contact.get('email')
        return value if value and '@' in str(value) else None
    text = str(contact)
    return text if '@' in text else None


def _contact_label(contact):
    if isinstance(contact, dict):
        name = contact.get('name')
        extras = [str(contact[k]) for k in ('email', 'slack', 'phone') if contact.get(k)]
        if name and extras:
            return '%s <%s>' % (name, ', '.join(extras))
        return name or ', '.join(extras) or '?'
    return str(contact)


def route(priority, levels, routing):
    """The escalation levels (with contacts and response targets) an alert of ``priority`` goes to."""
    if priority not in PRIORITIES:
        raise MaintenanceError('priority must be one of %s, not %r' % (', '.join(PRIORITIES), priority))
    routing = routing or {}
    wanted = routing.get(priority) or []
    if not isinstance(wanted, (list, tuple)):
        wanted = [wanted]
    by_level = {}
    for entry in levels or []:
        if not isinstance(entry, dict) or 'level' not in entry:
            raise MaintenanceError('each escalation level needs a "level" key (maintenance_escalation_levels), got %r'
                                   % (entry,))
        by_level[str(entry['level'])] = entry
    result = []
    for level in wanted:
        entry = by_level.get(str(level))
        if entry is None:
            raise MaintenanceError('alert routing for priority %s names escalation level %s, which is not defined in '
                                   'the escalation levels (defined: %s)'
                                   % (priority, level, ', '.join(sorted(by_level)) or 'none'))
        contacts = entry.get('contacts') or []
        result.append({
            'level': entry['level'],
            'role': entry.get('role') or 'level %s' % entry['level'],
            'response': entry.get('response'),
            'contacts': [_contact_label(c) for c in contacts],
            'emails': [e for e in (_contact_email(c) for c in contacts) if e],
        })
    return result


def auto_priority(checks, default='medium'):
    """Highest priority among the checks that fire (warning/critical); ``default`` when none fires (``policy``'s rule)."""
    return alert_priority(checks, default=default)


# ------------------------------------------------------------------ state file

class StateStore(object):
    """One JSON object per dedup key; ``with StateStore(path) as store:`` locks it until the block ends.

    Kept in ``path`` (flock on ``<path>.lock``, atomic rename) or, with ``dsn``, in the PostgreSQL state table
    (row ``notify`` / basename of ``path``, locked FOR UPDATE), so that under AWX - a fresh container per job - a
    persisting condition is still deduplicated and its "resolved" message still sent.
    """

    def __init__(self, path, write=True, dsn=None):
        self.path = os.path.expanduser(path)
        self.write = write
        self.entries = {}
        self._moved = {}
        self.warning = None
        self.backend = open_state('notification state', self.path, dsn=dsn, namespace='notify', write=write)

    def __enter__(self):
        self.backend.__enter__()
        self.warning = self.backend.warning
        data = self.backend.data
        if data is None:
            self.entries = {}
        elif not isinstance(data, dict) or not isinstance(data.get('alerts'), dict):
            self.warning = 'notification state %s has an unexpected layout; starting afresh' % self.backend.where
            self.entries = {}
        else:
            self.entries = data['alerts']
        return self

    def lookup(self, key):
        """The entry of ``key``; when there is none, the entry of an older form of the same key (issue 16).

        An entry found under an old key is moved to ``key`` by the next ``put``, so a condition that fired before
        the key format changed is deduplicated, repeated and resolved as if the key had never changed.
        """
        if key in self.entries:
            return self.entries[key]
        for old in legacy_dedup_keys(key):
            if old in self.entries:
                self._moved[key] = old
                return self.entries[old]
        return None

    def put(self, key, entry):
        self.entries[key] = entry
        old = self._moved.pop(key, None)
        if old is not None:
            self.entries.pop(old, None)

    def save(self):
        if not self.write:
            return
        self.backend.save({'version': STATE_VERSION, 'alerts': self.entries})

    def __exit__(self, *exc):
        return self.backend.__exit__(*exc)


def dedup_key_for(key, title, source):
    if key:
        return str(key)
    digest = hashlib.sha256(('%s\0%s' % (source or '', title)).encode('utf-8')).hexdigest()[:16]
    return 'title:%s' % digest


def _firing_names(checks):
    return sorted(set('%s|%s' % (c.get('name'), c.get('target') or '') for c in checks
                      if c.get('status') in ('warning', CRITICAL)))


def decide(entry, state, priority, checks, now, repeat_after):
    """What to do with an alert given its previous state entry.

    Returns ``(action, reason)``; action is ``send`` (first or repeated
    notification), ``suppress`` (already sent, repeat interval not over),
    ``resolve`` (send the resolved message) or ``none`` (nothing was firing).
    """
    if state == 'resolved':
        if entry and entry.get('state') == 'firing':
            return 'resolve', 'condition cleared after %s' % duration_text(
                (now - (parse_iso_or_none(entry.get('first_sent')) or now)).total_seconds())
        return 'none', 'nothing was firing under this key; no resolved message needed'
    if not entry or entry.get('state') != 'firing':
        return 'send', 'new alert'
    last = parse_iso_or_none(entry.get('last_sent'))
    if last is None:
        return 'send', 'state entry without a send time'
    previous = entry.get('priority')
    if previous in PRIORITIES and PRIORITIES.index(priority) > PRIORITIES.index(previous):
        return 'send', 'priority rose from %s to %s' % (previous, priority)
    new_names = sorted(set(_firing_names(checks)) - set(entry.get('firing') or []))
    if 'firing' in entry and new_names:
        return 'send', 'new firing check(s): %s' % ', '.join(n.rstrip('|') for n in new_names)
    age = (now - last).total_seconds()
    if age >= repeat_after:
        return 'send', 'still firing %s after the last notification (repeat interval %s)' % (
            duration_text(age), duration_text(repeat_after))
    return 'suppress', 'same alert sent %s ago; repeats after %s' % (duration_text(age), duration_text(repeat_after))


# ------------------------------------------------------------------ rendering

def render_text(alert):
    """Plain-text body used by e-mail and as the Slack/webhook ``text``."""
    lines = []
    header = '[%s] %s: %s' % (alert['priority'].upper(), alert['state'].upper(), alert['title'])
    lines.append(header)
    if alert.get('message'):
        lines.append('')
        lines.append(alert['message'])
    lines.append('')
    if alert['escalation']:
        lines.append('Escalation (priority %s):' % alert['priority'])
        for level in alert['escalation']:
            contacts = ', '.join(level['contacts']) or 'no contacts configured'
            response = ' - respond within %s' % level['response'] if level.get('response') else ''
            lines.append('  Level %s %s%s: %s' % (level['level'], level['role'], response, contacts))
    else:
        lines.append('Escalation: none for priority %s (recorded only)' % alert['priority'])
    shown = [c for c in alert['checks'] if c.get('status') != OK]
    if shown:
        lines.append('')
        lines.append('Checks:')
        for check in shown:
            target = ' (%s)' % check['target'] if check.get('target') else ''
            status = str(check.get('status', '')).upper()
            lines.append('  %s %s%s: %s' % (status, check.get('name'), target, check.get('reason', '')))
    passing = len(alert['checks']) - len(shown)
    if passing:
        lines.append('  (%d other check(s) ok)' % passing)
    lines.append('')
    lines.append('Dedup key: %s; first sent %s; notification #%d' % (
        alert['dedup_key'], alert.get('first_sent') or alert['sent_at'], alert['sequence']))
    lines.append('Source: %s at %s' % (alert.get('source') or 'autopilotcx.maintenance', alert['sent_at']))
    return '\n'.join(lines)


def webhook_payload(alert, fmt):
    """JSON document posted to a webhook: the full alert (generic) or Slack's message format."""
    if fmt == 'slack':
        fields = []
        for level in alert['escalation']:
            fields.append({'title': 'Level %s %s (within %s)' % (level['level'], level['role'], level.get('response') or '-'),
                           'value': ', '.join(level['contacts']) or 'no contacts configured', 'short': True})
        color = SLACK_COLORS['ok'] if alert['state'] == 'resolved' else SLACK_COLORS.get(alert['status'], '#daa038')
        return {
            'text': '[%s] %s: %s' % (alert['priority'].upper(), alert['state'].upper(), alert['title']),
            'attachments': [{
                'color': color,
                'title': alert['title'],
                'text': render_text(alert),
                'fields': fields,
                'footer': 'autopilotcx.maintenance | %s' % alert['dedup_key'],
            }],
        }
    document = dict((k, v) for k, v in alert.items() if k not in ('emails', 'lifecycle'))
    document['text'] = render_text(alert)
    return document


# ------------------------------------------------------------------ delivery

def _ssl_context(validate_certs, ca_path):
    context = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def send_webhook(channel, payload, timeout):
    """POST ``payload`` as JSON; a non-2xx answer, a refused connection or a timeout raises DeliveryError."""
    url = channel.get('url')
    if not url:
        raise DeliveryError('no url configured')
    try:
        return _post(channel, url, payload, timeout)
    except DeliveryError as exc:  # no message may carry the webhook's path, query or headers
        raise DeliveryError(scrub(exc, channel_secrets(channel)))


def _post(channel, url, payload, timeout):
    body = json.dumps(payload, sort_keys=True, default=str).encode('utf-8')
    headers = {'Content-Type': 'application/json', 'User-Agent': 'autopilotcx.maintenance-notify'}
    headers.update(dict((str(k), str(v)) for k, v in (channel.get('headers') or {}).items()))
    try:
        request = Request(url, data=body, headers=headers, method=channel.get('method') or 'POST')
        opener = build_opener(HTTPSHandler(context=_ssl_context(channel.get('validate_certs', True), channel.get('ca_path'))))
        response = opener.open(request, timeout=timeout)
        status = response.getcode()
        response.read(4096)
        response.close()
    except HTTPError as exc:
        raise DeliveryError('HTTP %s %s' % (exc.code, exc.reason))
    except URLError as exc:
        raise DeliveryError('cannot reach %s: %s' % (safe_url(url), getattr(exc, 'reason', exc)))
    except (socket.timeout, ssl.SSLError, OSError, ValueError) as exc:
        raise DeliveryError('cannot reach %s: %s' % (safe_url(url), exc))
    if status is None or status >= 300:
        raise DeliveryError('HTTP %s' % status)
    return 'HTTP %s' % status


def email_recipients(channel, alert):
    recipients = list(channel.get('to') or [])
    if channel.get('route_to_contacts', True):
        for level in alert['escalation']:
            recipients.extend(level['emails'])
    seen = []
    for address in recipients:
        if address not in seen:
            seen.append(address)
    return seen


_LINE_BREAKS = re.compile(r'[ \t]*(?:\r\n|\r|\n)+[ \t]*')


def one_line(text):
    """``text`` with its line breaks (and the blanks around them) folded into one space: a header value can never
    start a header of its own."""
    return _LINE_BREAKS.sub(' ', str(text))


def build_email(channel, alert, recipients):
    message = email.message.EmailMessage()
    message['Subject'] = one_line('[%s] %s: %s' % (alert['priority'].upper(), alert['state'].upper(), alert['title']))
    message['From'] = channel.get('sender') or 'autopilotcx-maintenance@%s' % socket.getfqdn()
    message['To'] = ', '.join(recipients)
    message['Date'] = email.utils.formatdate(localtime=False)
    message['Message-ID'] = email.utils.make_msgid(domain='autopilotcx.maintenance')
    message['X-Autopilotcx-Dedup-Key'] = one_line(alert['dedup_key'])
    message['X-Autopilotcx-Priority'] = alert['priority']
    message['X-Autopilotcx-State'] = alert['state']
    message.set_content(render_text(alert))
    return message


def send_email(channel, alert, timeout):
    """Deliver over SMTP: STARTTLS (default), implicit TLS or plain; AUTH when a username is given."""
    try:
        return _send_email(channel, alert, timeout)
    except DeliveryError as exc:
        raise DeliveryError(scrub(exc, channel_secrets(channel)))


def _send_email(channel, alert, timeout):
    host = channel.get('host')
    if not host:
        raise DeliveryError('no SMTP host configured')
    recipients = email_recipients(channel, alert)
    if not recipients:
        raise DeliveryError('no recipients: set the channel\'s "to" or e-mail contacts on the routed escalation levels')
    security = channel.get('security') or 'starttls'
    port = channel.get('port') or (465 if security == 'tls' else 587)
    context = _ssl_context(channel.get('validate_certs', True), channel.get('ca_path'))
    message = build_email(channel, alert, recipients)
    where = '%s:%s' % (host, port)
    client = None
    try:
        if security == 'tls':
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        client.ehlo()
        if security == 'starttls':
            if not client.has_extn('starttls'):
                raise DeliveryError('SMTP server %s does not offer STARTTLS (security: starttls)' % where)
            client.starttls(context=context)
            client.ehlo()
        if channel.get('username'):
            client.login(channel['username'], channel.get('password') or '')
        refused = client.send_message(message, to_addrs=recipients)
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError('SMTP authentication as %s failed at %s: %s' % (channel.get('username'), where, exc.smtp_code))
    except smtplib.SMTPException as exc:
        raise DeliveryError('SMTP error at %s: %s' % (where, _smtp_reason(exc)))
    except (socket.timeout, ssl.SSLError, OSError) as exc:
        raise DeliveryError('cannot reach SMTP server %s: %s' % (where, exc))
    finally:
        if client is not None:
            try:
                client.quit()
            except Exception:  # the connection may already be gone; delivery result is decided above
                pass
    if refused:
        raise DeliveryError('recipients refused: %s' % ', '.join(sorted(refused)))
    return 'accepted for %s' % ', '.join(recipients)


def _smtp_reason(exc):
    code = getattr(exc, 'smtp_code', None)
    text = getattr(exc, 'smtp_error', None)
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    if code:
        return '%s %s' % (code, text or '')
    return str(exc)


def channel_name(channel, index):
    if channel.get('name'):
        return channel['name']
    kind = channel.get('type') or 'webhook'
    if kind == 'email':
        return 'email:%s' % (channel.get('host') or '?')
    return '%s:%s' % (kind, safe_url(channel.get('url') or ''))


def validate_channels(channels):
    for index, channel in enumerate(channels):
        kind = channel.get('type') or 'webhook'
        if kind not in CHANNEL_TYPES:
            raise MaintenanceError('channel %d: type must be one of %s, not %r' % (index + 1, ', '.join(CHANNEL_TYPES), kind))
        if kind in ('webhook', 'slack', 'alertmanager') and not channel.get('url'):
            raise MaintenanceError('channel %d (%s): a %s channel needs a url' % (index + 1, channel_name(channel, index), kind))
        if kind in ('webhook', 'slack', 'alertmanager') and safe_url(channel['url']).split('://')[0] not in ('http', 'https'):
            raise MaintenanceError('channel %d (%s): url must be an http:// or https:// URL with a host (the value is not shown: '
                                   'a webhook URL is a secret)' % (index + 1, channel_name(channel, index)))
        if kind == 'email' and not channel.get('host'):
            raise MaintenanceError('channel %d (%s): an email channel needs a host' % (index + 1, channel_name(channel, index)))
        if channel.get('port') is not None:
            option_checks.port(channel['port'], 'channel %d (%s): port' % (index + 1, channel_name(channel, index)))
        for priority in channel.get('priorities') or []:
            if priority not in PRIORITIES:
                raise MaintenanceError('channel %d: priorities must be among %s, not %r'
                                       % (index + 1, ', '.join(PRIORITIES), priority))


def deliver(channel, alert, timeout):
    kind = channel.get('type') or 'webhook'
    if kind == 'email':
        return send_email(channel, alert, timeout)
    if kind == 'alertmanager':
        return send_alertmanager(channel, alert, timeout)
    return send_webhook(channel, webhook_payload(alert, 'slack' if kind == 'slack' else 'generic'), timeout)


# ------------------------------------------------------------------ Alertmanager

AM_SEVERITY = {'high': 'critical', 'medium': 'warning', 'low': 'info'}
AM_ALERTNAME = 'AutopilotcxNotify'


def _am_target(target):
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.prometheus import target_label
    label = target_label(target)
    return label if label is not None else ' '.join(str(target).split())


def alertmanager_alerts(alert, now=None):
    """The ``/api/v2/alerts`` body: one Alertmanager alert per firing check (``check|target``), or one for the whole alert.

    Labels stay the same from firing to resolved (severity follows the priority, not the check's status), so the
    resolve ends exactly the alerts that were started; ``endsAt`` is the resolve time, or, while firing, twice the
    repeat interval ahead (a notify that stops running lets the alert expire instead of firing forever).
    """
    now = now or parse_iso_or_none(alert['sent_at']) or utc_now()
    lifecycle = alert.get('lifecycle') or {}
    resolved = alert['state'] == 'resolved'
    pairs = set(lifecycle.get('previously_firing') or []) if resolved else set()
    pairs.update(_firing_names(alert['checks']))
    if resolved:
        pairs.update('%s|%s' % (c.get('name'), c.get('target') or '') for c in alert['checks'])
    reasons = dict(('%s|%s' % (c.get('name'), c.get('target') or ''), c.get('reason') or '') for c in alert['checks'])
    levels = lifecycle['fired_escalation'] if lifecycle.get('fired_priority') else alert['escalation']
    priority = lifecycle.get('fired_priority') or alert['priority']
    common = {
        'alertname': AM_ALERTNAME,
        'host': alert.get('source') or socket.gethostname(),
        'priority': priority,
        'severity': AM_SEVERITY.get(priority, 'warning'),
        'escalation_level': str(max(int(level['level']) for level in levels)) if levels else 'none',
        'dedup_key': alert['dedup_key'],
    }
    responses = [parse_duration(level['response'], 'escalation level %s: response' % level.get('level'))
                 for level in levels if level.get('response')]
    annotations = {
        'summary': alert['title'],
        'response_target': duration_text(min(responses)) if responses else 'none',
        'escalation': '; '.join('Level %s %s (respond within %s)' % (level['level'], level['role'], level.get('response') or '-')
                                for level in levels) or 'none (recorded only)',
    }
    if alert.get('message'):
        annotations['description'] = alert['message']
    ends = now if resolved else now + datetime.timedelta(seconds=max(2 * float(lifecycle.get('repeat_after') or 3600), 3600))
    result = []
    for pair in sorted(pairs) or ['']:
        labels = dict(common)
        if pair:
            name, target = pair.split('|', 1)
            labels['check'] = name
            if target:
                labels['target'] = _am_target(target)
        notes = dict(annotations)
        notes['reason'] = one_line(reasons.get(pair) or alert.get('message') or alert['title'])[:1000]
        item = {'labels': labels, 'annotations': notes, 'endsAt': iso_utc(ends)}
        if not resolved:
            item['startsAt'] = alert.get('first_sent') or iso_utc(now)
        result.append(item)
    return result


def send_alertmanager(channel, alert, timeout):
    """POST to ``<url>/api/v2/alerts`` (url: the Alertmanager's base URL); errors never show its path or headers."""
    url = channel['url'].rstrip('/') + '/api/v2/alerts'
    try:
        return _post(channel, url, alertmanager_alerts(alert), timeout)
    except DeliveryError as exc:
        raise DeliveryError(scrub(exc, channel_secrets(channel)))


# ------------------------------------------------------------------ the module's work

def _valid_checks(checks):
    """The checks an alert is about, each a mapping with a name and a known status; anything else is named."""
    for index, check in enumerate(checks):
        if not isinstance(check, dict):
            raise MaintenanceError('checks[%d]: a check is a mapping with name, status and reason, not %r'
                                   % (index, type(check).__name__))
        if not check.get('name') or 'status' not in check:
            raise MaintenanceError('checks[%d]: a check needs a name and a status (the checks of a module result)' % index)
        if check['status'] not in STATUSES:
            raise MaintenanceError('checks[%d] (%s): status must be one of %s, not %r'
                                   % (index, check['name'], ', '.join(STATUSES), check['status']))
    return list(checks)


def notify(params, check_mode=False, now=None):
    """Route, deduplicate and deliver one alert.

    ``params``: title, body, priority (high/medium/low/auto), checks, state
    (firing/resolved), dedup_key, repeat_after, state_file, channels,
    escalation_levels, routing, source, timeout.
    Returns ``(checks, extra, changed)`` for ``module_support.finish``.
    """
    now = now or utc_now()
    checks_in = _valid_checks(params.get('checks') or [])
    priority = params.get('priority') or 'medium'
    if priority == 'auto':
        priority = auto_priority(checks_in)
    state = params.get('state') or 'firing'
    if state not in ('firing', 'resolved'):
        raise MaintenanceError('state must be firing or resolved, not %r' % state)
    repeat_after = parse_duration(params.get('repeat_after', '1h'), 'repeat_after')
    channels = list(params.get('channels') or [])
    validate_channels(channels)
    escalation = route(priority, params.get('escalation_levels'), params.get('routing'))
    title = params.get('title') or ''
    if not title.strip():
        raise MaintenanceError('an alert needs a title')
    key = dedup_key_for(params.get('dedup_key'), title, params.get('source'))
    timeout = 10.0 if params.get('timeout') is None else option_checks.positive(params['timeout'], 'timeout', 86400)

    state_file = params.get('state_file')
    state_dsn = params.get('state_dsn')
    if state_dsn is None:  # unset: the outcome store's DSN (AUTOPILOTCX_OUTCOME_DSN, ansible.cfg); '' keeps the file
        state_dsn = store_settings()['pg_dsn']
    store = StateStore(state_file, write=not check_mode, dsn=state_dsn or None) if state_file else None
    if store is not None:
        store.__enter__()
    try:
        entry = store.lookup(key) if store is not None else None
        action, why = decide(entry, state, priority, checks_in, now, repeat_after)
        first_sent = entry.get('first_sent') if entry and entry.get('state') == 'firing' else None
        sequence = (entry.get('sequence', 0) if entry and entry.get('state') == 'firing' else 0) + 1
        alert = {
            'title': title,
            'message': params.get('body') or '',
            'priority': priority,
            'state': state,
            'status': OK if state == 'resolved' else worst(checks_in, default='warning' if not checks_in else OK),
            'dedup_key': key,
            'source': params.get('source') or '',
            'sent_at': iso_utc(now),
            'first_sent': first_sent or iso_utc(now),
            'sequence': sequence,
            'escalation': escalation,
            'checks': checks_in,
            # what an Alertmanager channel needs to end the very alerts it started, and to keep them alive in between
            'lifecycle': {'previously_firing': list((entry or {}).get('firing') or []), 'repeat_after': repeat_after},
        }
        fired = (entry or {}).get('priority') if state == 'resolved' else None
        if fired in PRIORITIES:  # a resolve (priority auto, no checks left) ends the alerts under the labels they fired with
            alert['lifecycle'].update(fired_priority=fired, fired_escalation=route(fired, params.get('escalation_levels'), params.get('routing')))
        routed = [c for c in channels if priority in (c.get('priorities') or PRIORITIES)]
        skipped_channels = [channel_name(c, i) for i, c in enumerate(channels) if c not in routed]
        deliveries = []
        results = []
        if action in ('send', 'resolve'):
            for index, channel in enumerate(channels):
                if channel not in routed:
                    continue
                name = channel_name(channel, index)
                kind = channel.get('type') or 'webhook'
                record = {'channel': name, 'type': kind}
                if kind == 'email':
                    record['recipients'] = email_recipients(channel, alert)
                else:
                    record['url'] = safe_url(channel.get('url'))
                if check_mode:
                    record.update(status='would_send', reason='check mode: nothing sent')
                    results.append(ok('notify.delivery', 'check mode: would send the %s alert via %s (%s)'
                                      % (state, name, kind), target=name))
                else:
                    try:
                        detail = deliver(channel, alert, timeout)
                    except Exception as exc:    # a DeliveryError, or anything else: this channel fails, alone
                        reason = str(exc) if isinstance(exc, DeliveryError) else '%s: %s' % (type(exc).__name__, exc)
                        record.update(status='failed', reason=reason)
                        results.append(critical('notify.delivery', 'delivery of %s alert %r via %s failed: %s'
                                                % (state, title, name, reason), target=name))
                    else:
                        record.update(status='sent', reason=detail)
                        results.append(ok('notify.delivery', '%s alert sent via %s: %s' % (state, name, detail),
                                          target=name))
                deliveries.append(record)
        sent = [d for d in deliveries if d['status'] == 'sent']
        failed = [d for d in deliveries if d['status'] == 'failed']

        if action == 'suppress':
            results.append(ok('notify.dedup', 'suppressed: %s' % why, target=key,
                              details={'last_sent': entry.get('last_sent'), 'suppressed': entry.get('suppressed', 0) + 1}))
        elif action == 'none':
            results.append(ok('notify.dedup', why, target=key))
        elif not routed:
            # No silent green (issue 17): an alert nobody receives is a warning the run summary shows.
            results.append(make_check('notify.recorded', WARNING, 'no channel takes %s priority alerts; the alert is only recorded'
                                      ' (set notify_channels)' % priority, target=key, priority='medium'))

        # state: remember what was delivered (a total delivery failure is retried on the next run)
        changed = False
        delivered = bool(sent) or (not routed and action in ('send', 'resolve'))
        if store is not None:
            new_entry = None
            if action == 'send' and (delivered or check_mode):
                new_entry = {'state': 'firing', 'title': title, 'priority': priority,
                             'first_sent': first_sent or iso_utc(now), 'last_sent': iso_utc(now), 'sequence': sequence,
                             'suppressed': 0, 'firing': _firing_names(checks_in)}
            elif action == 'suppress':
                new_entry = dict(entry)
                new_entry['suppressed'] = entry.get('suppressed', 0) + 1
                new_entry['last_seen'] = iso_utc(now)
            elif action == 'resolve' and (delivered or check_mode):
                new_entry = {'state': 'resolved', 'title': title, 'priority': priority,
                             'first_sent': entry.get('first_sent'), 'resolved_at': iso_utc(now), 'sequence': 0}
            if new_entry is not None and new_entry != entry:
                store.put(key, new_entry)
                store.save()
                changed = True
        if action in ('send', 'resolve') and (sent or check_mode):
            changed = True
        if check_mode and action in ('send', 'resolve'):
            action_done = 'would_send' if action == 'send' else 'would_resolve'
        elif action in ('send', 'resolve') and routed and not sent:
            action_done = 'failed'
        else:
            action_done = {'send': 'sent', 'resolve': 'resolved', 'suppress': 'suppressed', 'none': 'none'}[action]
        extra = {
            'action': action_done,
            'decision': why,
            'dedup_key': key,
            'priority': priority,
            'escalation': [dict((k, v) for k, v in level.items() if k != 'emails') for level in escalation],
            'deliveries': deliveries,
            'skipped_channels': skipped_channels,
            'text': render_text(alert) if action in ('send', 'resolve') else '',
        }
        if store is not None and store.warning:
            extra['warnings'] = [store.warning]
        if failed and not sent:
            extra['failed_deliveries'] = len(failed)
        return results, extra, changed
    finally:
        if store is not None:
            store.__exit__(None, None, None)


def run(params, check_mode=False, host=None):
    """The notify module's entry (``result.Report``); a state store that had to start afresh says so as a warning."""
    checks, extra, changed = notify(params, check_mode=check_mode)
    data = dict((key, value) for key, value in extra.items() if key != 'warnings')
    return Report(checks, changed=changed, data=data, warnings=extra.get('warnings'))
