#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: notify
short_description: Send an alert to webhooks, Slack and e-mail, routed by priority and deduplicated
version_added: 0.1.0
description:
  - Sends one alert to the configured channels - a generic JSON webhook, a Slack-compatible incoming webhook
    (also understood by Mattermost and Rocket.Chat), and e-mail over SMTP with STARTTLS and AUTH.
  - Routes by priority to the escalation levels of the collection's data (C(maintenance_escalation_levels),
    C(maintenance_alert_routing)); the message names each level, its response-time target and its contacts,
    and e-mail goes to the e-mail contacts of the routed levels besides the channel's own recipients.
  - Deduplicates with a key and a small state file, like Alertmanager's C(repeat_interval) - a condition that persists
    is sent once and repeated only after O(repeat_after), or at once when its priority rises or the set of firing
    checks changes; O(state=resolved) sends one "resolved" message when an alert was firing under that key.
  - An unreachable webhook or SMTP server is a failed delivery, returned as a critical C(notify.delivery) check with
    the reason; the other channels are still tried and the state is kept so the next run retries.
  - In check mode nothing is sent and the state file is not written; the module says what it would send.
  - "Normally runs on the control node (C(delegate_to: localhost)), where the state file lives."
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  title:
    description: One-line title of the alert.
    type: str
    required: true
  body:
    description: Body text of the alert (C(message) is a name Ansible reserves).
    type: str
    default: ""
  priority:
    description:
      - Priority of the alert; selects the escalation levels through O(routing).
      - C(auto) takes the highest priority among the O(checks) at warning or critical (C(medium) when none fires).
    type: str
    default: medium
    choices: [high, medium, low, auto]
  checks:
    description: Checks in the collection's result model; those not C(ok) are listed in the alert.
    type: list
    elements: dict
    default: []
  state:
    description: C(firing) sends (or suppresses a repeat); C(resolved) sends the resolved message once.
    type: str
    default: firing
    choices: [firing, resolved]
  dedup_key:
    description:
      - Key of the condition, for example C(token_check:api.example.com). The same key still firing is not sent again
        within O(repeat_after).
      - When empty, a key is derived from O(source) and O(title).
    type: str
    default: ""
  repeat_after:
    description: How long a persisting alert stays quiet, a duration such as C(30m), C(4h) or C(1d). A bare number is seconds.
    type: str
    default: 4h
  state_file:
    description:
      - JSON file keeping the deduplication state (created with mode 0600). Empty disables deduplication.
      - Locked from read to save (C(<state_file>.lock)), written atomically; overlapping runs take turns.
      - With a PostgreSQL DSN (O(state_dsn)) the state lives in the C(autopilotcx_state) table instead, in the row
        named after this file's base name, so it outlives the job's container under AWX.
    type: str
    default: ~/.ansible/autopilotcx-notify-state.json
  state_dsn:
    description:
      - libpq DSN of the PostgreSQL database keeping the deduplication state (table C(autopilotcx_state), row locked
        FOR UPDATE from read to commit).
      - Unset - the outcome store's DSN (E(AUTOPILOTCX_OUTCOME_DSN), else the C(ansible.cfg) C([autopilotcx_outcomes]
        pg_dsn)); when there is none, O(state_file). An empty string keeps the state in O(state_file).
    type: str
  source:
    description: Where the alert comes from (host, playbook); shown in the message.
    type: str
    default: ""
  escalation_levels:
    description: The escalation levels, normally C(maintenance_escalation_levels).
    type: list
    elements: dict
    default: []
  routing:
    description:
      - "Escalation levels per priority, normally C(maintenance_alert_routing), for example C({high: [1, 2], medium: [1], low: []})."
    type: dict
    default: {}
  timeout:
    description: Seconds to wait for each channel; greater than 0 and at most 86400.
    type: float
    default: 10
  channels:
    description:
      - Where the alert goes. Without channels the alert is only returned (and recorded by the outcome callback).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name shown in results; defaults to the type and the server address.
        type: str
      type:
        description:
          - C(webhook) posts the alert as JSON; C(slack) posts Slack's message format; C(email) sends mail.
          - C(alertmanager) posts to O(channels[].url)C(/api/v2/alerts) of a Prometheus Alertmanager, one alert per firing
            check, labelled C(alertname), C(check), C(target), C(host), C(priority), C(severity), C(escalation_level),
            C(dedup_key), annotated with the reason and the response target; the resolved state ends them (C(endsAt)).
            See docs/prometheus.md for the routing tree.
        type: str
        default: webhook
        choices: [webhook, slack, email, alertmanager]
      priorities:
        description: Priorities this channel takes (all when unset).
        type: list
        elements: str
        choices: [high, medium, low]
      url:
        description:
          - Webhook URL (C(webhook), C(slack)) or Alertmanager base URL (C(alertmanager)), C(http://) or C(https://).
            Never logged; only its scheme, host and port are ever shown, because the path and the query of a webhook URL (Slack's) are its secret.
        type: str
      headers:
        description: Extra HTTP headers (for example an C(Authorization) header); never logged or shown in a message.
        type: dict
      validate_certs:
        description: Verify the TLS certificate of the webhook or SMTP server.
        type: bool
        default: true
      ca_path:
        description: CA bundle to verify the server with.
        type: path
      host:
        description: SMTP server (C(email)).
        type: str
      port:
        description: SMTP port (1 to 65535); 587 for C(starttls) and C(none), 465 for C(tls).
        type: int
      security:
        description: C(starttls) upgrades the connection and fails when the server does not offer it; C(tls) is implicit TLS; C(none) is plain.
        type: str
        default: starttls
        choices: [starttls, tls, none]
      username:
        description: SMTP AUTH user.
        type: str
      password:
        description: SMTP AUTH password; never logged or returned.
        type: str
      sender:
        description: From address.
        type: str
      to:
        description: Recipients besides the routed contacts.
        type: list
        elements: str
      route_to_contacts:
        description: Also send to the e-mail contacts of the escalation levels the priority routes to.
        type: bool
        default: true
attributes:
  check_mode:
    support: full
    details: Nothing is sent and the state file is not written; RV(deliveries) lists what would be sent.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - O(fail_on) defaults to C(critical), so a failed delivery fails the task; the C(autopilotcx.maintenance.notify)
    role passes C(never) so that a broken channel is recorded without stopping the play.
  - A contact in C(maintenance_escalation_levels) is a string (an e-mail address or a name) or a mapping with
    C(name), C(email), C(slack), C(phone).
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - name: Security checks and alerts
    description: Routing, deduplication and the channels in detail.
    link: https://example.invalid/autopilotcx/maintenance/docs/security_checks_and_alerts.md
'''

EXAMPLES = r'''
---
- name: Alert the on-call levels about expiring signing keys
  autopilotcx.maintenance.notify:
    title: "Token validation: problems on {{ inventory_hostname }}"
    body: The JWKS or the sample token needs attention.
    priority: auto
    checks: "{{ token_result.checks }}"
    state: "{{ 'firing' if token_result.failed_checks | length > 0 else 'resolved' }}"
    dedup_key: "token_check:{{ inventory_hostname }}"
    repeat_after: 4h
    escalation_levels: "{{ maintenance_escalation_levels }}"
    routing: "{{ maintenance_alert_routing }}"
    fail_on: never
    channels:
      - name: ops-slack
        type: slack
        url: "{{ vault_slack_webhook }}"
      - name: ops-mail
        type: email
        host: smtp.example.com
        username: alerts
        password: "{{ vault_smtp_password }}"
        sender: alerts@example.com
        to: [ops@example.com]
  delegate_to: localhost
  register: alert

- name: Show what happened
  ansible.builtin.assert:
    that: alert.action in ['sent', 'suppressed', 'resolved', 'none']
    fail_msg: "{{ alert.deliveries }}"
'''

RETURN = r'''
action:
  description:
    - C(sent), C(suppressed) (a repeat within O(repeat_after)), C(resolved) (the resolved message was sent),
      C(none) (resolved, but nothing was firing), C(failed) (no channel took it),
      C(would_send) or C(would_resolve) in check mode.
  returned: always
  type: str
  sample: sent
decision:
  description: Why the alert was sent or not.
  returned: always
  type: str
  sample: "same alert sent 5m ago; repeats after 4h"
dedup_key:
  description: The deduplication key used.
  returned: always
  type: str
  sample: "token_check:app1"
priority:
  description: The priority after C(auto) was resolved.
  returned: always
  type: str
  sample: high
escalation:
  description: The escalation levels the alert was routed to.
  returned: always
  type: list
  elements: dict
  sample: [{level: 1, role: System Administrator, response: 30m, contacts: [ops@example.com]}]
deliveries:
  description: One entry per channel tried (status C(sent), C(failed) or C(would_send)), with the reason and recipients.
  returned: always
  type: list
  elements: dict
  sample: [{channel: ops-mail, type: email, status: sent, reason: "accepted for ops@example.com", recipients: [ops@example.com]}]
skipped_channels:
  description: Channels that do not take this priority.
  returned: always
  type: list
  elements: str
  sample: [pager]
text:
  description: The rendered message (empty when nothing was sent).
  returned: always
  type: str
  sample: "[HIGH] FIRING: Token validation ..."
checks:
  description:
    - C(notify.delivery) per channel (critical when delivery failed), C(notify.dedup) when suppressed or nothing to resolve,
      C(notify.recorded), a warning, when no channel takes the priority (the alert is only recorded).
  returned: always
  type: list
  elements: dict
  sample: [{name: notify.delivery, status: ok, reason: "firing alert sent via ops-slack: HTTP 200", priority: low, target: ops-slack,
            value: null, unit: null, threshold: null}]
status:
  description: The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);
    C(ok) when there is no check.
  returned: always
  type: str
  sample: ok
counts:
  description: Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.
  returned: always
  type: dict
  sample: {ok: 1, warning: 0, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.alerts import notify
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import (
    check_argument_spec,
    finish,
    run,
)


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            title=dict(type='str', required=True),
            body=dict(type='str', default=''),
            priority=dict(type='str', default='medium', choices=['high', 'medium', 'low', 'auto']),
            checks=dict(type='list', elements='dict', default=[]),
            state=dict(type='str', default='firing', choices=['firing', 'resolved']),
            dedup_key=dict(type='str', default='', no_log=False),
            repeat_after=dict(type='str', default='4h'),
            state_file=dict(type='str', default='~/.ansible/autopilotcx-notify-state.json'),
            state_dsn=dict(type='str', no_log=True),
            source=dict(type='str', default=''),
            escalation_levels=dict(type='list', elements='dict', default=[]),
            routing=dict(type='dict', default={}),
            timeout=dict(type='float', default=10),
            channels=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str'),
                type=dict(type='str', default='webhook', choices=['webhook', 'slack', 'email', 'alertmanager']),
                priorities=dict(type='list', elements='str', choices=['high', 'medium', 'low']),
                url=dict(type='str', no_log=True),
                headers=dict(type='dict', no_log=True),
                validate_certs=dict(type='bool', default=True),
                ca_path=dict(type='path'),
                host=dict(type='str'),
                port=dict(type='int'),
                security=dict(type='str', default='starttls', choices=['starttls', 'tls', 'none']),
                username=dict(type='str'),
                password=dict(type='str', no_log=True),
                sender=dict(type='str'),
                to=dict(type='list', elements='str'),
                route_to_contacts=dict(type='bool', default=True),
            )),
        ),
        supports_check_mode=True,
    )
    report = run(module, notify.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
