"""outage_assessment and probe_metrics: the system_outage and patch_health_gate judgements, moved out of Jinja
(issue 16), held against the Jinja they replace (copied here verbatim, rendered by Ansible's own templar) on the
inputs the roles see, and on the cases the Jinja got wrong."""

import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.autopilotcx.maintenance.plugins.filter.assessments import outage_assessment, probe_metrics


def render(expression, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


# ---------------------------------------------------------------- roles/system_outage/tasks/assess.yml before issue 16

OLD_FAILING = """{{ _checks | selectattr('status', 'equalto', 'critical')
         | map(attribute='name') | zip(_checks | selectattr('status', 'equalto', 'critical')
         | map(attribute='target', default='')) | map('join', ' ') | list }}"""
OLD_DEGRADED = """{{ _checks | selectattr('status', 'equalto', 'warning')
         | map(attribute='name') | zip(_checks | selectattr('status', 'equalto', 'warning')
         | map(attribute='target', default='')) | map('join', ' ') | list }}"""
OLD_RC = """{{ dict(_system_outage_status.results | default([]) | map(attribute='item.name')
         | zip(_system_outage_status.results | default([]) | map(attribute='rc'))) }}"""
OLD_RESULT = """{%- set down = [] -%}
      {%- for svc in system_outage_services -%}
        {%- set reasons = [] -%}
        {%- if svc.status_command is defined -%}
          {%- if _rc[svc.name] | default(0) != 0 -%}{%- set _ = reasons.append('status command exit ' ~ _rc[svc.name]) -%}{%- endif -%}
        {%- else -%}
          {%- set state = (_services[svc.name ~ '.service'] | default(_services[svc.name] | default({}))).state | default('not found') -%}
          {%- if state != 'running' -%}{%- set _ = reasons.append('service ' ~ state) -%}{%- endif -%}
        {%- endif -%}
        {%- for pattern in svc.checks | default([]) -%}
          {%- for failing in _failing if failing is search(pattern) -%}{%- set _ = reasons.append('failing check ' ~ failing) -%}{%- endfor -%}
        {%- endfor -%}
        {%- if reasons -%}{%- set _ = down.append({'host': inventory_hostname, 'service': svc.name, 'reasons': reasons,
                                                  'restart': svc.restart | default(true)}) -%}{%- endif -%}
      {%- endfor -%}
      {{ {'down': down, 'checks': _checks, 'failing': _failing, 'degraded': _degraded} | to_json }}"""


def old_assessment(services, checks, service_states, status_results, host):
    variables = dict(_checks=checks, _system_outage_status={'results': status_results})
    variables.update(_failing=render(OLD_FAILING, **variables), _degraded=render(OLD_DEGRADED, **variables),
                     _rc=render(OLD_RC, **variables), _services=service_states, system_outage_services=services,
                     inventory_hostname=host)
    return json.loads(render(OLD_RESULT, **variables))


SERVICE_NAMES = ['nginx', 'app', 'pg']
CHECK_NAMES = ['http.status', 'http.response_time', 'pg.connect', 'api.example']
PATTERNS = ['http\\.', 'api\\.example', '^pg', 'nothing']
STATES = ['running', 'stopped', 'failed', 'inactive']


@st.composite
def outage_inputs(draw):
    services = []
    for name in draw(st.lists(st.sampled_from(SERVICE_NAMES), unique=True, max_size=3)):
        service = {'name': name}
        if draw(st.booleans()):
            service['status_command'] = ['systemctl', 'is-active', name]
        if draw(st.booleans()):
            service['checks'] = draw(st.lists(st.sampled_from(PATTERNS), max_size=2))
        if draw(st.booleans()):
            service['restart'] = draw(st.booleans())
        services.append(service)
    checks = []
    for name in draw(st.lists(st.sampled_from(CHECK_NAMES), max_size=5)):
        check = {'name': name, 'status': draw(st.sampled_from(['ok', 'unknown', 'warning', 'critical'])), 'reason': 'r'}
        if draw(st.booleans()):
            check['target'] = draw(st.sampled_from(['https://shop.test/', 'db1', 'checkout']))
        checks.append(check)
    states = {}
    for name in draw(st.lists(st.sampled_from(SERVICE_NAMES), unique=True)):
        key = name + draw(st.sampled_from(['', '.service']))
        states[key] = {'name': key, 'state': draw(st.sampled_from(STATES)), 'source': 'systemd'}
    results = [{'item': s, 'rc': draw(st.sampled_from([0, 0, 1, 3])), 'changed': False}
               for s in services if 'status_command' in s]
    return services, checks, states, results, draw(st.sampled_from(['web1', 'db-1']))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outage_inputs())
def test_outage_assessment_is_the_roles_old_jinja(inputs):
    assert outage_assessment(*inputs) == old_assessment(*inputs)


def test_outage_assessment_on_the_roles_inputs():
    services = [{'name': 'nginx', 'checks': ['http\\.']}, {'name': 'app', 'status_command': ['app', 'status'], 'restart': False},
                {'name': 'pg'}, {'name': 'redis'}]
    checks = [{'name': 'http.status', 'status': 'critical', 'target': 'https://shop.test/', 'reason': 'refused'},
              {'name': 'http.response_time', 'status': 'warning', 'target': 'https://shop.test/', 'reason': 'slow'},
              {'name': 'tls.expiry', 'status': 'critical', 'reason': 'expired'}]
    states = {'nginx.service': {'state': 'running'}, 'pg': {'state': 'stopped'}}
    results = [{'item': services[1], 'rc': 3, 'changed': False}]
    assessed = outage_assessment(services, checks, states, results, 'web1')
    assert assessed == {
        'down': [{'host': 'web1', 'service': 'nginx', 'reasons': ['failing check http.status https://shop.test/'], 'restart': True},
                 {'host': 'web1', 'service': 'app', 'reasons': ['status command exit 3'], 'restart': False},
                 {'host': 'web1', 'service': 'pg', 'reasons': ['service stopped'], 'restart': True},
                 {'host': 'web1', 'service': 'redis', 'reasons': ['service not found'], 'restart': True}],
        'checks': checks,
        'failing': ['http.status https://shop.test/', 'tls.expiry '],
        'degraded': ['http.response_time https://shop.test/']}
    assert assessed == old_assessment(services, checks, states, results, 'web1')


def test_a_status_command_that_did_not_run_is_down_not_running():
    # the Jinja took a result without an exit code for exit 0 (running): no silent green
    services = [{'name': 'app', 'status_command': ['app', 'status']}]
    assessed = outage_assessment(services, [], {}, [{'item': services[0], 'failed': True, 'msg': 'no such\nfile'}], 'web1')
    assert assessed['down'][0]['reasons'] == ['status command did not run: no such file']


@pytest.mark.parametrize('services,checks,message', [
    ([{'name': 'app', 'checks': ['(']}], [{'name': 'a', 'status': 'critical'}], r'services\[0\] \(app\): checks pattern'),
    ([{'restart': True}], [], r'services\[0\]: each service is a mapping with a name'),
    ([], ['a'], r'checks\[0\]: a check is a mapping'),
])
def test_outage_assessment_bad_input_is_named(services, checks, message):
    with pytest.raises(AnsibleFilterError, match='outage_assessment: .*' + message):
        outage_assessment(services, checks, {}, [], 'web1')


# ---------------------------------------------------------------- roles/patch_health_gate/tasks/main.yml before issue 16

OLD_RAN = "{{ _patch_health_gate_probe.results | default([]) | rejectattr('skipped', 'defined') | list }}"
OLD_METRICS = """{%- set out = [] -%}
      {%- for r in _patch_health_gate_ran -%}
      {%- set m = {'name': r.item.name, 'value': (r.stdout | default('') | trim) if r.rc == 0 else '',
                   'target': inventory_hostname} -%}
      {%- if r.item.label is defined -%}{%- set _ = m.update({'label': r.item.label}) -%}{%- endif -%}
      {%- if r.item.limits is defined -%}{%- set _ = m.update({'limits': r.item.limits}) -%}
      {%- else -%}{%- set _ = m.update({'threshold': r.item.threshold | default('')}) -%}{%- endif -%}
      {%- if r.item.unit is defined -%}{%- set _ = m.update({'unit': r.item.unit}) -%}{%- endif -%}
      {%- if r.rc != 0 -%}{%- set _ = m.update({'error': 'probe exited ' ~ r.rc ~ ': ' ~ (r.stderr | default('') | trim)[:300]}) -%}{%- endif -%}
      {%- set _ = out.append(m) -%}
      {%- endfor -%}
      {{ out + patch_health_gate_metrics }}"""


def old_metrics(results, host, extra):
    variables = dict(_patch_health_gate_probe={'results': results}, inventory_hostname=host, patch_health_gate_metrics=extra)
    variables['_patch_health_gate_ran'] = render(OLD_RAN, **variables)
    return render(OLD_METRICS, **variables)


@st.composite
def probe_results(draw):
    results = []
    for name in draw(st.lists(st.sampled_from(['patch.broken_packages', 'app.version', 'disk.free']), max_size=4)):
        item = {'name': name, 'command': 'echo 1'}
        for key, values in (('label', ['packages left half-configured']), ('unit', ['packages', '%']),
                            ('threshold', ['patch_broken_packages']), ('limits', [{'critical': 0, 'priority': 'high'}])):
            if draw(st.booleans()):
                item[key] = draw(st.sampled_from(values))
        if draw(st.booleans()):
            item['when_manager'] = 'apt'
        if draw(st.integers(0, 4)) == 0:
            results.append({'item': item, 'skipped': True, 'changed': False, 'false_condition': 'x'})
            continue
        result = {'item': item, 'rc': draw(st.sampled_from([0, 0, 1, 127])), 'changed': False,
                  'stdout': draw(st.sampled_from(['0', ' 3\n', '', 'ok'])), 'stderr': draw(st.sampled_from(['', ' boom \n', 'x' * 400]))}
        results.append(result)
    return results


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(probe_results(), st.sampled_from([[], [{'name': 'm', 'value': 1, 'threshold': 'x'}]]))
def test_probe_metrics_are_the_roles_old_jinja(results, extra):
    assert probe_metrics(results, 'web1') + extra == old_metrics(results, 'web1', extra)


def test_probe_metrics_on_the_roles_default_probe():
    probe = {'name': 'patch.broken_packages', 'command': "dpkg --audit 2>/dev/null | grep -c '^ ' || true",
             'threshold': 'patch_broken_packages', 'label': 'packages left half-configured', 'when_manager': 'apt'}
    dnf = dict(probe, name='patch.dnf_problems', when_manager='dnf')
    results = [{'item': probe, 'rc': 0, 'stdout': '2\n', 'stderr': ''},
               {'item': dnf, 'skipped': True, 'changed': False},
               {'item': {'name': 'app.health', 'limits': {'critical': 0}}, 'rc': 2, 'stdout': '', 'stderr': 'curl: (7) refused\n'}]
    assert probe_metrics(results, 'web1') == [
        {'name': 'patch.broken_packages', 'value': '2', 'target': 'web1', 'label': 'packages left half-configured',
         'threshold': 'patch_broken_packages'},
        {'name': 'app.health', 'value': '', 'target': 'web1', 'limits': {'critical': 0}, 'error': 'probe exited 2: curl: (7) refused'}]


def test_a_probe_without_an_exit_code_is_an_error_not_a_template_crash():
    metric = probe_metrics([{'item': {'name': 'p', 'threshold': 't'}, 'failed': True, 'msg': 'sh: not found'}], 'web1')[0]
    assert metric['value'] == '' and metric['error'] == 'probe did not run: sh: not found'


def test_probe_metrics_bad_input_is_named():
    with pytest.raises(AnsibleFilterError, match=r'probe_metrics: results\[0\]: expected a registered probe result'):
        probe_metrics(['patch.broken_packages'], 'web1')
