"""The support matrix of docs/support-matrix.md, tested (the `support matrix` tier of `make test`).

Control node: the oldest ansible-core that meta/runtime.yml claims and the newest on PyPI, each in its own venv under
.cache/matrix (built once, reused until a pin changes): ansible-doc on every plugin, --syntax-check on every playbook
and the awx_configure dry run.

Managed hosts: the target-side modules on every Python 3.8-3.13 found on this machine, and tls_check / cache_check
with the library versions the distributions ship - Debian 12's own /usr/bin/python3 with Debian's python3-* packages,
and venvs pinned to the Debian 11, Ubuntu 22.04/24.04 and RHEL 9 versions. A cell that cannot run here (no such
Python, a pin with no wheel) is a visible skip with the reason.
"""

import glob
import json
import os
import subprocess

import pytest
import yaml

from tests.harness import matrix
from tests.harness.ansible_run import ansible_env, read_outcomes, run_playbook
from tests.harness.http import HttpServer
from tests.harness.paths import ROOT
from tests.harness.services import RedisServer

pytestmark = pytest.mark.slow

PLAYBOOK = os.path.join(ROOT, 'tests', 'integration', 'playbooks', 'matrix_target.yml')
MAIN_SITE = glob.glob(os.path.join(ROOT, '.venv', 'lib', 'python3*', 'site-packages'))


def _venv_or_skip(builder, *args):
    try:
        return builder(*args)
    except matrix.Unavailable as exc:
        pytest.skip(str(exc))


def _core_version(venv):
    out = subprocess.run([os.path.join(venv, 'bin', 'python'), '-c',
                          'from ansible.release import __version__; print(__version__)'], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def _control_env(venv, extra=None):
    env = ansible_env(extra=extra)
    env['PATH'] = os.path.join(venv, 'bin') + os.pathsep + env.get('PATH', '')
    env['ANSIBLE_PYTHON_INTERPRETER'] = os.path.join(venv, 'bin', 'python')
    # awx.awx (for the module_defaults group of awx_configure.yml) comes from the main venv's ansible package
    env['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join([env['ANSIBLE_COLLECTIONS_PATH']] + MAIN_SITE)
    return env


# ------------------------------------------------------------------------------------------------ the claim
def test_requires_ansible_is_the_oldest_line_tested():
    """meta/runtime.yml claims exactly what the oldest control venv runs (raise both together, or neither)."""
    with open(os.path.join(ROOT, 'meta', 'runtime.yml')) as handle:
        claim = yaml.safe_load(handle)['requires_ansible']
    pin = [p for p in matrix.CONTROL['oldest']['pins'] if p.startswith('ansible-core==')][0]
    oldest = pin.split('==')[1]
    assert claim.startswith('>=')
    assert tuple(int(x) for x in claim[2:].split('.')[:2]) == tuple(int(x) for x in oldest.split('.')[:2])


# ------------------------------------------------------------------------------------------------ control node
@pytest.mark.parametrize('which', sorted(matrix.CONTROL))
def test_control_node_ansible_core_line(which, tmp_path):
    venv = _venv_or_skip(matrix.control_venv, which)
    version = _core_version(venv)
    env = _control_env(venv)
    failures = []
    # ansible-doc on every plugin
    plugins = []  # every plugin of the collection, as scripts/check-docs.sh finds them
    for directory in sorted(glob.glob(os.path.join(ROOT, 'plugins', '*'))):
        kind = {'modules': 'module'}.get(os.path.basename(directory), os.path.basename(directory))
        if kind in ('module_utils', 'doc_fragments', 'plugin_utils', 'action', '__pycache__'):  # action: doc in modules/
            continue
        pattern = '*.yml' if kind in ('filter', 'test') else '*.py'
        plugins += [(kind, os.path.splitext(os.path.basename(p))[0]) for p in glob.glob(os.path.join(directory, pattern))
                    if not os.path.basename(p).startswith('_')]
    for kind in sorted(set(k for k, _n in plugins)):  # one ansible-doc per plugin type, every plugin of it
        names = sorted('autopilotcx.maintenance.' + n for k, n in plugins if k == kind)
        proc = subprocess.run([os.path.join(venv, 'bin', 'ansible-doc'), '-t', kind] + names,
                              env=env, capture_output=True, text=True, timeout=600, check=False)
        missing = [n for n in names if n not in proc.stdout]
        if proc.returncode != 0 or missing:
            failures.append('ansible-doc -t %s %s: %s' % (kind, ' '.join(missing), (proc.stderr or proc.stdout)[-600:]))
    # every playbook parses
    books = sorted(glob.glob(os.path.join(ROOT, 'playbooks', '*.yml')))
    proc = subprocess.run([os.path.join(venv, 'bin', 'ansible-playbook'), '--syntax-check'] + books, env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    if proc.returncode != 0:
        failures.append('--syntax-check: %s' % (proc.stdout + proc.stderr)[-1500:])
    # the awx_configure dry run: the injector template must reach the file as written, not templated
    dry = tmp_path / 'awx.json'
    proc = subprocess.run([os.path.join(venv, 'bin', 'ansible-playbook'), os.path.join(ROOT, 'playbooks', 'awx_configure.yml'),
                           '-e', json.dumps({'awx_configure_dry_run': True, 'awx_configure_dry_run_path': str(dry)})],
                          env=_control_env(venv, {'AUTOPILOTCX_OUTCOME_LOG': str(tmp_path / 'o.jsonl')}),
                          capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    if proc.returncode != 0:
        failures.append('awx_configure dry run: %s' % (proc.stdout + proc.stderr)[-1500:])
    else:
        objects = json.loads(dry.read_text())
        injectors = [c['injectors'] for c in objects['credential_type'] if c.get('injectors')]
        assert any(i['env'].get('AUTOPILOTCX_OUTCOME_DSN') == '{{ dsn }}' for i in injectors), injectors
    failures.extend(_http_check_both_ways(venv, tmp_path))
    assert not failures, 'ansible-core %s:\n%s' % (version, '\n'.join(failures))


IN_PROCESS_PLAY = '''
- hosts: all
  gather_facts: false
  tasks:
    - name: http_check in the worker
      autopilotcx.maintenance.http_check:
        endpoints: [{url: "{{ base }}/health"}, {url: "{{ base }}/error"}]
        fail_on: never
      register: inside
    - name: http_check as a module process
      autopilotcx.maintenance.http_check:
        endpoints: [{url: "{{ base }}/health"}, {url: "{{ base }}/error"}]
        fail_on: never
        in_process: false
      register: module
    - name: The same verdicts both ways
      ansible.builtin.assert:
        that:
          - inside.status == module.status == 'critical'
          - inside.failed_checks == module.failed_checks
          - inside.endpoints_ok == module.endpoints_ok == 1
'''


def _http_check_both_ways(venv, tmp_path):
    """http_check's action plugin on this ansible-core line: in the worker, and as a module process."""
    book = tmp_path / 'in_process.yml'
    book.write_text(IN_PROCESS_PLAY)
    inventory = tmp_path / 'in_process_inventory'
    inventory.write_text('probe ansible_connection=local\n')
    with HttpServer() as server:
        proc = subprocess.run([os.path.join(venv, 'bin', 'ansible-playbook'), '-vvv', str(book), '-i', str(inventory),
                               '-e', json.dumps({'base': server.url})],
                              env=_control_env(venv, {'AUTOPILOTCX_OUTCOME_LOG': str(tmp_path / 'ip.jsonl')}),
                              capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    out = proc.stdout
    if proc.returncode != 0:
        return ['http_check in process: %s' % (out + proc.stderr)[-1500:]]
    inside = out[out.index('TASK [http_check in the worker]'):out.index('TASK [http_check as a module process]')]
    module = out[out.index('TASK [http_check as a module process]'):out.index('TASK [The same verdicts both ways]')]
    if 'AnsiballZ_http_check.py' in inside or 'AnsiballZ_http_check.py' not in module:
        return ['http_check: the worker ran a module process, or in_process: false did not']
    return []


# ------------------------------------------------------------------------------------------------ managed hosts
@pytest.fixture(scope='module')
def services(tmp_path_factory):
    from tests.harness.pki import CertificateAuthority
    pki = CertificateAuthority(directory=str(tmp_path_factory.mktemp('pki')))
    chain, _key, _issued = pki.write_leaf('chain', hostnames=('localhost',), via_intermediate=True)
    expired, _key, _issued = pki.write_leaf('expired', hostnames=('localhost',), days=-2, not_before_days=-30)
    leaf, key, _issued = pki.write_leaf('endpoint', hostnames=('localhost', '127.0.0.1'))
    with RedisServer() as redis_server, HttpServer(tls=(leaf, key)) as https:
        yield {'ca_path': pki.ca_path, 'cert_chain': chain, 'cert_expired': expired, 'https_port': https.port,
               'redis_port': redis_server.port}


def _run_target(python, services, tmp_path, tls, cache):
    log = tmp_path / 'outcomes.jsonl'
    scratch = tmp_path / 'scratch'
    scratch.mkdir()
    extra = dict(services, ansible_python_interpreter=python, run_tls=tls, run_cache=cache, scratch=str(scratch))
    proc = run_playbook(PLAYBOOK, inventory='localhost,', extra_vars=extra, outcome_log=log)
    records = read_outcomes(log) if log.exists() else []
    by_task = {}
    for record in records:
        by_task[record['task'].split(' : ')[-1]] = record
    return proc, by_task


def _statuses(record):
    return sorted((c['name'], c.get('target'), c['status']) for c in record.get('checks') or [])


def _assert_tls_and_cache(proc, by_task, tls=True, cache=True):
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    for task in ('resource_check', 'metric_check', 'file_cleanup in check mode', 'log_scan'):
        record = by_task['%s (standard library only)' % task]
        assert record['checks'] and all(c['status'] != 'unknown' or c.get('reason') for c in record['checks']), record
    assert by_task['resource_check (standard library only)']['status'] == 'ok'
    assert by_task['metric_check (standard library only)']['status'] == 'ok'
    failed = [c for c in by_task['log_scan (standard library only)']['checks'] if c['name'] == 'security.failed_logins_per_minute']
    assert failed and failed[0]['value'] == 1, failed or _statuses(by_task['log_scan (standard library only)'])
    cleanup = by_task['file_cleanup in check mode (standard library only)']
    assert cleanup['checks'] and not cleanup.get('failed'), cleanup
    if tls:
        files = by_task['tls_check on certificate files (leaf + intermediate in one PEM bundle; an expired one)']
        checks = files['checks']
        chain_checks = [c for c in checks if c['name'] == 'tls.chain']
        assert [c['status'] for c in chain_checks] == ['ok', 'critical'], _statuses(files)
        assert 'expired' in chain_checks[1]['reason']
        expiry = [c for c in checks if c['name'] == 'tls.expiry']
        assert [c['status'] for c in expiry] == ['ok', 'critical'], _statuses(files)
        assert any(c['name'] == 'tls.hostname' and c['status'] == 'ok' for c in checks)
        endpoint = by_task['tls_check on a TLS endpoint']
        assert [c['status'] for c in endpoint['checks'] if c['name'] in ('tls.handshake', 'tls.chain', 'tls.expiry')] \
            == ['ok', 'ok', 'ok'], _statuses(endpoint)
    if cache:
        record = by_task['cache_check against Redis']
        connection = [c for c in record['checks'] if c['name'] == 'cache.connection']
        assert connection and connection[0]['status'] == 'ok', _statuses(record)
        assert any(c['name'] == 'cache.memory_used' and c['status'] in ('ok', 'warning', 'unknown') for c in record['checks'])


def test_debian12_system_python_with_debian_packages(services, tmp_path):
    """Debian 12's /usr/bin/python3 with python3-cryptography 38.0.4 and python3-redis 4.3.4, nothing from pip."""
    python = _venv_or_skip(matrix.debian_system_python)
    versions = matrix.library_versions(python)
    assert versions['cryptography'].startswith('38.') and versions['redis'].startswith('4.3'), versions
    proc, by_task = _run_target(python, services, tmp_path, tls=True, cache=True)
    _assert_tls_and_cache(proc, by_task)


@pytest.mark.parametrize('distribution', sorted(matrix.DISTRIBUTIONS))
def test_distribution_library_versions(distribution, services, tmp_path):
    python = _venv_or_skip(matrix.distribution_python, distribution)
    versions = matrix.library_versions(python)
    for pin in matrix.DISTRIBUTIONS[distribution]['pins']:  # the cell runs the versions it claims, nothing newer
        name, version = pin.split('==')
        assert versions[name] == version, versions
    has_redis = any(p.startswith('redis==') for p in matrix.DISTRIBUTIONS[distribution]['pins'])
    proc, by_task = _run_target(python, services, tmp_path, tls=True, cache=has_redis)
    _assert_tls_and_cache(proc, by_task, cache=has_redis)


@pytest.mark.parametrize('version', matrix.TARGET_PYTHONS)
def test_target_python(version, services, tmp_path):
    """A bare interpreter: the standard-library modules work on it."""
    python = _venv_or_skip(matrix.find_python, version)
    proc, by_task = _run_target(python, services, tmp_path, tls=False, cache=False)
    _assert_tls_and_cache(proc, by_task, tls=False, cache=False)
