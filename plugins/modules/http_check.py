#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: http_check
short_description: Probe many HTTP(S) endpoints concurrently, including a login flow
version_added: 0.1.0
description:
  - Sends one request to each endpoint, concurrently in a bounded pool of O(workers) threads, and judges the answer
    against the expected status codes, a body regular expression, a JMESPath assertion on a JSON body, the response
    time threshold C(http_response_time) and, for HTTPS, the certificate expiry threshold C(tls_days_to_expiry).
  - Each worker keeps its connections open (HTTP keep-alive), so many endpoints on one server cost one TCP and TLS
    handshake per worker rather than one per endpoint.
  - An unreachable endpoint (DNS failure, connection refused, timeout, TLS handshake or certificate failure) is a
    critical check with the reason, never a task error; the other endpoints are still probed.
  - "B(Login flow.) An endpoint with O(endpoints[].token_query) is a login request; the token it extracts from the JSON
    answer is sent by the endpoints whose O(endpoints[].use_token) names it (by default as C(Authorization: Bearer <token>)).
    Login endpoints run first. The checks prove that the login works (C(http.login)) and that the service accepts the
    token (C(http.auth)). The token is registered as a secret and never appears in the output."
  - Meant to run on the control node or a probe host (C(delegate_to)); it needs no library on the target except
    C(jmespath) when O(endpoints[].json_query) or O(endpoints[].token_query) is used, and C(cryptography) (optional)
    to read the certificate expiry when O(validate_certs=false).
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.attributes.READ_ONLY
  - autopilotcx.maintenance.checks
options:
  endpoints:
    description: The endpoints to probe.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name shown as the checks' target; defaults to the URL as it is recorded (see O(endpoints[].url)).
        type: str
      url:
        description:
          - C(http://) or C(https://) URL.
          - It is returned and recorded without its user info and with every query value and the fragment replaced by
            C(********), except the parameters named in O(endpoints[].record_query_params).
          - Its password, and query values whose parameter names look secret (C(api_key), C(token), C(sig)...) or that are
            12 characters or longer, are hidden from Ansible's output (the module arguments shown at C(-vvv)).
        type: str
        required: true
      record_query_params:
        description:
          - Query parameters of O(endpoints[].url) whose values are harmless and stay readable in the results and records
            (for example C(page) or C(format)). Every other query value is replaced by C(********).
        type: list
        elements: str
        default: []
      fresh_connection:
        description: Probe this endpoint on a new connection, closed afterwards; O(fresh_connections) when unset.
        type: bool
      method:
        description: HTTP method.
        type: str
        default: GET
      headers:
        description:
          - Extra request headers. Never logged - their values are hidden from Ansible's output and from every message,
            as with O(endpoints[].password); put secrets (C(Authorization), API keys) here or in O(endpoints[].secret).
        type: dict
      body:
        description: Request body; a mapping or list is sent as JSON.
        type: raw
      body_format:
        description: C(json) serialises O(endpoints[].body) as JSON, C(form) as form fields, C(raw) sends it as is.
        type: str
        choices: [raw, json, form]
        default: raw
      username:
        description: User for HTTP basic authentication.
        type: str
      password:
        description: Password for HTTP basic authentication. Never logged.
        type: str
      bearer_token:
        description: "Static bearer token sent as C(Authorization: Bearer ...). Never logged."
        type: str
      secret:
        description:
          - A secret (a password, an API key) put in place of every C({secret}) in O(endpoints[].body) and
            O(endpoints[].headers) values when the request is sent.
          - Put C({secret}) where the password goes in the login body (see the examples) and pass the password here, so it
            is never logged; the body itself is an ordinary option and shows up in verbose output.
        type: str
      status_code:
        description: Expected status codes.
        type: list
        elements: int
        default: [200]
      body_regex:
        description: Python regular expression the body must match (searched anywhere).
        type: str
      json_query:
        description: JMESPath expression evaluated on the JSON body; without O(endpoints[].json_expected) it must give a non-empty value.
        type: str
      json_expected:
        description: Value O(endpoints[].json_query) must give; a string also matches the JSON text of a number or boolean.
        type: raw
      timeout:
        description: Seconds for the connection and the answer; defaults to O(timeout).
        type: float
      validate_certs:
        description: Verify the server certificate and host name; defaults to O(validate_certs).
        type: bool
      ca_path:
        description: CA bundle to verify against instead of the system trust store; defaults to O(ca_path).
        type: path
      proxy:
        description: C(http://[user:password@]host:port) proxy; HTTPS goes through it with C(CONNECT). Defaults to O(proxy).
        type: str
      token_query:
        description: Makes this endpoint a login request; JMESPath expression selecting the token in its JSON answer.
        type: str
      token_name:
        description: Name under which the token of a login endpoint is kept for O(endpoints[].use_token).
        type: str
        default: token
      use_token:
        description: Name of a token obtained by a login endpoint; the request carries it in O(endpoints[].token_header).
        type: str
      token_header:
        description: Header that carries the token.
        type: str
        default: Authorization
      token_format:
        description: Header value; C({token}) is replaced by the token.
        type: str
        default: "Bearer {token}"
  fresh_connections:
    description:
      - Probe every endpoint on a new connection (DNS, TCP connect and TLS handshake timed for each, as
        blackbox_exporter does). By default each worker keeps one connection per server alive, and the endpoints after
        the first on a server only time the request (RV(endpoints[].reused_connection)).
    type: bool
    default: false
    version_added: 0.2.0
  detail:
    description:
      - C(compact) (the default) returns every check that is not ok and the record of every endpoint that is not ok, as
        C(full) does, and one ok check per check name saying on how many endpoints it held (for C(http.response_time),
        the slowest ok response as its value); RV(endpoint_count) and RV(endpoints_ok) give the totals. No verdict and
        no reason is lost; RV(status) and RV(failed_checks) are those of C(full), but RV(counts) counts the summary checks.
        The endpoint list is not echoed back in the task's C(invocation).
      - C(full) returns every check and one record per endpoint; ask for it when a playbook or the outcome records need
        the ok checks of each endpoint (the P(autopilotcx.maintenance.service_health#role) role does, for per-endpoint
        records and metrics). For 500 endpoints a C(full) task took 0.2 to 0.8 s longer than a C(compact) one on
        a shared 2-core machine, most of it Ansible receiving and processing the larger result.
    type: str
    default: compact
    choices: [full, compact]
    version_added: 0.2.0
  workers:
    description: Endpoints probed at the same time.
    type: int
    default: 16
  timeout:
    description: Default seconds for each request.
    type: float
    default: 10
  validate_certs:
    description: Default for O(endpoints[].validate_certs). Verification is on unless you turn it off.
    type: bool
    default: true
  ca_path:
    description: Default for O(endpoints[].ca_path).
    type: path
  proxy:
    description: Default for O(endpoints[].proxy).
    type: str
  in_process:
    description:
      - When the task runs on the control node with its own Python (connection C(local), no C(become), no
        C(environment), no C(async), and C(ansible_python_interpreter) left to discovery or set to the Python that
        runs Ansible), probe inside Ansible's worker process instead of starting a module process. The arguments are
        validated with the same argument spec, the same checks run and the same result comes back, secrets masked
        the same way; what is saved is the module start-up, about 0.25 s per task (see the comparison with
        blackbox_exporter in the health checks guide).
      - Set V(false) to always run the module process, for example to probe with the libraries of the interpreter
        discovery finds rather than those of the Python running Ansible. Anywhere else than the control node the
        module always runs as a module.
    type: bool
    default: true
    version_added: 0.2.0
notes:
  - "Thresholds read: C(http_response_time) (seconds; the guide's 2 s, medium priority) and C(tls_days_to_expiry) (days)."
  - Redirects are not followed; list 3xx codes in O(endpoints[].status_code) when they are expected.
  - The response time includes the TCP and TLS handshake when the request opened a new connection.
attributes:
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
seealso:
  - module: autopilotcx.maintenance.tls_check
  - module: ansible.builtin.uri
  - name: Health checks guide
    description: Options, inventory data, playbooks, and a comparison with blackbox_exporter.
    link: https://github.com/autopilotcx/maintenance/blob/main/docs/health_checks.md
'''

EXAMPLES = r'''
---
- name: Probe the public API and the auth service
  autopilotcx.maintenance.http_check:
    thresholds: "{{ maintenance_checks_thresholds }}"
    fail_on: never
    workers: 32
    endpoints:
      - name: api health
        url: https://api.example.com/health
        json_query: status
        json_expected: ok
      - name: login
        url: https://auth.example.com/auth/login
        method: POST
        body: {username: monitor, password: "{secret}"}
        secret: "{{ vault_monitor_password }}"
        token_query: access_token
      - name: token accepted
        url: https://auth.example.com/auth/me
        use_token: token
  delegate_to: localhost
  register: health

- name: Everything answered
  ansible.builtin.assert:
    that: health.status == 'ok'
    fail_msg: "{{ health.failed_checks | join(', ') }}"
'''

RETURN = r'''
checks:
  description:
    - Checks in the collection's result model, target = endpoint name.
    - C(http.reachable) (only when the request failed), C(http.status), C(http.response_time), C(http.tls_expiry) (HTTPS),
      C(http.body), C(http.json), C(http.login), C(http.auth).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: http.status, status: critical, value: 503, unit: null, threshold: null, priority: high,
       reason: "status 503 not in [200]", target: api health}
    - {name: http.response_time, status: warning, value: 2.31, unit: s, threshold: 2, priority: medium,
       reason: "response 2.31 s > 2 s", target: api health}
endpoints:
  description: One record per endpoint, in the order given, with O(detail=full); with O(detail=compact) (the default), only the
    endpoints that are not ok.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Endpoint name., type: str, returned: always, sample: api health}
    url: {description: "URL without credentials, query values hidden except O(endpoints[].record_query_params).", type: str,
          returned: always, sample: "https://api.example.com/health?api_key=********"}
    method: {description: HTTP method., type: str, returned: always, sample: GET}
    status_code: {description: Status code (null when no answer)., type: int, returned: always, sample: 200}
    response_time: {description: Seconds until the whole body was read., type: float, returned: always, sample: 0.042}
    bytes: {description: Body size., type: int, returned: always, sample: 57}
    tls_days_to_expiry: {description: Days until the server certificate expires., type: float, returned: HTTPS with an answer, sample: 89.5}
    tls_not_after: {description: Expiry of the server certificate (UTC)., type: str, returned: HTTPS with an answer, sample: "2027-02-22T05:00:00Z"}
    tls_version: {description: Negotiated TLS version., type: str, returned: HTTPS with an answer, sample: TLSv1.3}
    error: {description: Why the request failed (null when answered)., type: str, returned: always, sample: connection refused}
    phases:
      description:
        - Seconds per phase, C(null) for a phase that did not happen on this request (DNS, connect and TLS on a kept-alive
          connection, TLS on plain HTTP). C(first_byte) runs from sending the request to the response headers,
          C(transfer) from there to the end of the body, C(total) is RV(endpoints[].response_time) unrounded.
      type: dict
      returned: when answered
      sample: {dns: 0.0004, connect: 0.0002, tls: 0.0031, first_byte: 0.0012, transfer: 0.0001, total: 0.005}
    reused_connection: {description: True when the request went over a kept-alive connection., type: bool, returned: when answered, sample: false}
    error_kind: {description: "Class of the failure: C(dns), C(refused), C(timeout), C(tls), C(reset), C(closed), C(protocol), C(network).",
                 type: str, returned: when the request failed, sample: refused}
    ok: {description: True when every check of the endpoint is ok., type: bool, returned: always, sample: true}
    status: {description: Worst status of the endpoint's checks., type: str, returned: always, sample: ok}
endpoint_count:
  description: Number of endpoints probed.
  returned: with O(detail=compact)
  type: int
  sample: 500
endpoints_ok:
  description: Number of endpoints whose checks are all ok.
  returned: with O(detail=compact)
  type: int
  sample: 498
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
  sample: {ok: 10, warning: 1, critical: 1, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: ["http.status (api health)", "http.response_time (api health)"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import ModuleHost, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.health import http_check


def main():
    module = AnsibleModule(
        argument_spec=http_check.argument_spec(),
        supports_check_mode=True,
    )
    module.no_log_values.update(http_check.secrets(module.params))
    report = run(module, http_check.run, module.params, module.check_mode, host=ModuleHost(module))
    finish(module, report)


if __name__ == '__main__':
    main()
