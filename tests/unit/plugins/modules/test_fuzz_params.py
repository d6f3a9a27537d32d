"""Every module, fed generated bad parameters: no traceback, a clear message, no change outside its scope.

For each module in plugins/modules/ the test captures the real argument spec and lets hypothesis build bad
and borderline parameter sets from it (wrong types, out-of-range and non-finite numbers, CR/LF, NUL bytes,
lone surrogates, 100 KB strings, empty lists and strings, dicts for strings, unknown keys, choices outside
the set, places that are missing, directories, FIFOs or under a file, URLs without a scheme, ports out of
range; see fuzz_support.py). Each example runs the module's ``main()`` in a forked child of a worker process
(``fuzz_worker.py``) with a hard timeout, with cwd, HOME and TMPDIR in a fresh sandbox, and must:

* end with a JSON result (no escaped exception, no hang), with no ``exception`` traceback in it other than
  the one Ansible adds for a missing library;
* when it fails, say so with a non-empty message that is not a Python internal error;
* change nothing in a canary tree beside the sandbox that no parameter names, create nothing in the
  system places the modules' defaults point at, and in check mode change nothing in the sandbox either.

Every place a parameter names lies inside the sandbox, every host is loopback on a closed port, and the worker
runs in its own network namespace (``unshare -n``, only ``lo``) when it can, so no example reaches the network
or the host's firewall. The modules that change the host outside any path parameter (nft_block,
nft_isolation: the firewall; patch_apply, patch_facts: the package manager) run in check mode only, and the
nft ones only inside that namespace.

Deterministic: ``derandomize=True``, no example database, no shrinking: every failing example of a module is
reported as drawn (FUZZ_SHRINK=1 stops at the first one and shrinks it to a minimal example instead).
FUZZ_EXAMPLES overrides the number of examples per module, FUZZ_TIMEOUT the seconds one example may take.
"""

import os
import shutil

import pytest
import hypothesis
from hypothesis import HealthCheck, Phase, given, settings

from . import fuzz_support as fz

# about 100 s on 2 cores: runs in `make test`, not in the fast tier (`make unit`)
pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get('FUZZ_EXAMPLES', '20'))
TIMEOUT = float(os.environ.get('FUZZ_TIMEOUT', '15'))
SHRINK = bool(os.environ.get('FUZZ_SHRINK'))

# Modules whose other effects cannot be confined to the sandbox: check mode only.
CHECK_MODE_ONLY = {
    'nft_block': 'loads nftables rules',
    'nft_isolation': 'loads nftables/iptables rules and arms a revert timer',
    'patch_apply': 'installs packages on this machine',
    'patch_facts': 'update_cache refreshes the package lists of this machine',
}
# Modules that must never run outside the private network namespace, even in check mode (they run nft/iptables).
NETNS_ONLY = {'nft_block', 'nft_isolation'}

# Modules being fixed on other branches at the same time; their failing examples are xfail (not strict) until
# those branches are merged. The lead removes an entry once its module passes.
KNOWN_FAILURES = {}  # module: reason, for a failure fixed on another branch (xfail until merged)


def _found(module, sandbox):
    """Parameter sets the generator found failing (tracebacks, hangs), replayed first on every run.

    ``(params, check_mode, what)``; laid over the same base as the generated examples.
    """
    j = os.path.join
    fifo, binary, directory = j(sandbox, 'fifo'), j(sandbox, 'binary.bin'), j(sandbox, 'dir')
    found = {
        'cache_check': [(dict(port=99999), True, 'port out of range: redis-py ValueError')],
        'evidence_collect': [(dict(dest=j(sandbox, 'nul\x00name')), False, 'NUL in dest: embedded null byte'),
                             (dict(dest=binary), False, 'dest an existing file: FileExistsError')],
        'evidence_verify': [
            (dict(custody_log=j(sandbox, 'file.txt')), False, 'custody log not JSON: JSONDecodeError'),
            (dict(custody_log=directory), False, 'custody log a directory: IsADirectoryError'),
            (dict(custody_log=j(sandbox, 'missing', 'nope.json')), False, 'custody log dir missing: FileNotFoundError'),
        ],
        'incident_record': [
            (dict(path=j(sandbox, 'x' * 300)), False, 'name too long: OSError'),
            (dict(path=binary), True, 'binary file at path: UnicodeDecodeError'),
        ],
        'log_scan': [
            (dict(now=float('inf')), True, 'now=inf: OverflowError'),
            (dict(state_file=fifo), False, 'state_file a FIFO: hangs'),
        ],
        'logrotate_check': [
            (dict(state_file=binary), False, 'binary state file: UnicodeDecodeError'),
            (dict(state_file=fifo), True, 'state file a FIFO: logrotate -d blocks'),
            (dict(config=fifo), True, 'config a FIFO: logrotate -d blocks'),
        ],
        'maintenance_window': [(dict(notice_grace='101%', batch_cutoff_minutes=10 ** 30), False,
                                'huge batch_cutoff_minutes: OverflowError')],
        'notify': [(dict(checks=[{}]), True, "a check without status: KeyError 'status'")],
        'outcome_query': [
            (dict(now='99999999999d'), True, 'now not ISO 8601: ValueError'),
            (dict(path=fifo), False, 'path a FIFO: hangs'),
        ],
        'review_report': [(dict(outcome_logs=[directory]), False, 'outcome log a directory: IsADirectoryError')],
        'security_scan': [(dict(integrity_paths=[j(sandbox, 'nul\x00name')]), True, 'NUL in a path: ValueError')],
        'tls_check': [(dict(files=[dict(path=j(sandbox, 'nul\x00name'))]), True, 'NUL in a path: ValueError')],
        'token_check': [
            (dict(jwks_url='http://127.0.0.1:%d/\x00' % fz.CLOSED_PORT), False, 'NUL in the URL: InvalidURL'),
            (dict(jwks_url='http://127.0.0.1:%d/' % fz.CLOSED_PORT, headers={'a': None}), True,
             'a header value None: TypeError'),
            (dict(jwks_url='http://127.0.0.1:%d/' % fz.CLOSED_PORT, timeout=-1e20), False,
             'timeout -1e20: OverflowError'),
            (dict(jwks_path=fifo), True, 'jwks_path a FIFO: hangs'),
            (dict(jwks_url='http://127.0.0.1:%d/' % fz.CLOSED_PORT, ca_path=fifo), True, 'ca_path a FIFO: hangs'),
        ],
    }
    return found.get(module, [])


# System places the modules' defaults point at: an example may not create them (their sandboxed
# counterparts are used instead). Only whether they exist: other test runs on the machine may write to them.
WATCHED = ['/var/lib/autopilotcx', '/run/autopilotcx', '/var/lib/autopilotcx/evidence',
           '/var/lib/autopilotcx/security-baseline.json']


def _bases(module, sandbox):
    """Good values laid over the generated base, so the bad ones reach past each mode's first check."""
    tree = os.path.join(sandbox, 'tree')
    work = os.path.join(sandbox, 'work')
    url = 'http://127.0.0.1:%d/' % fz.CLOSED_PORT
    bases = {
        'backup_verify': [
            dict(sets=[dict(name='dumps', path=tree, pattern='*.log', min_size=1)]),
            dict(sets=[dict(name='dumps', path=tree, kind='pg_dump', restore=dict(enabled=True))],
                 restore_in_check_mode=True),
            dict(restic=[dict(name='files', repository=os.path.join(sandbox, 'dir'), password='x', timeout=5)]),
            dict(pgbackrest=[dict(stanza='main', config=os.path.join(work, 'pgbackrest.conf'), timeout=5)]),
        ],
        'cache_check': [dict(interval=0.01, timeout=2)],
        'evidence_collect': [
            dict(categories=['users', 'logs', 'shell_histories'], log_paths=[tree],
                 history_patterns=[os.path.join(sandbox, '.*history')], dest=os.path.join(work, 'evidence')),
        ],
        'evidence_verify': [dict(archive=os.path.join(sandbox, 'file.txt'),
                                 custody_log=os.path.join(work, 'custody.jsonl'))],
        'file_cleanup': [dict(paths=[tree], age='1d'), dict(paths=[tree], max_size='1K', patterns=['*.log'])],
        'http_check': [dict(endpoints=[dict(url=url, timeout=2)], timeout=2, workers=2)],
        'incident_record': [dict(incident_id='INC-1', kind='security', title='t', path=os.path.join(work, 'inc.json'))],
        'log_scan': [
            dict(sources=[dict(type='auth', path=os.path.join(tree, 'a.log'))], state_file=os.path.join(work, 's.json')),
            dict(sources=[dict(type='access', path=os.path.join(tree, 'a.log'))],
                 state_file=os.path.join(work, 's.json')),
            dict(sources=[dict(type='jsonl', path=os.path.join(tree, 'a.log'), fields={'ts': 'time'})],
                 state_file=os.path.join(work, 's.json')),
        ],
        'logrotate_check': [dict(config=os.path.join(sandbox, 'file.txt'), state_file=os.path.join(work, 'status'),
                                 watch=[os.path.join(tree, 'a.log')], timeout=10)],
        'maintenance_record': [dict(name='fuzz.event', path=os.path.join(work, 'rec.json'))],
        'maintenance_window': [dict(windows={'weekly': {'rrule': 'FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0',
                                                        'duration': '2h', 'timezone': 'UTC', 'notice': '24h'}},
                                    now='2026-11-29T02:30:00Z')],
        'metric_check': [dict(metrics=[dict(name='app.queue', value=5, limits={'warning': 10, 'critical': 20})])],
        'nft_block': [dict(addresses=['127.0.0.1'], management_networks=['127.0.0.0/8']),
                      dict(state='absent', addresses=['127.0.0.1'])],
        'nft_isolation': [dict(management_networks=['127.0.0.0/8'], state_dir=work),
                          dict(state='released', state_dir=work)],
        'notify': [dict(title='fuzz', channels=[dict(type='webhook', url=url)], checks=[],
                        state_file=os.path.join(work, 'notify.json'), timeout=2)],
        'outcome_query': [dict(package_set=['pkg'], path=os.path.join(sandbox, 'file.txt'))],
        'pg_data_fix': [dict(change_ref='CHG-1', statements=[dict(sql='UPDATE t SET x = 1 WHERE id = 1')],
                             connect_timeout=2)],
        'pg_check': [dict(connect_timeout=2)],
        'pg_maintenance': [dict(connect_timeout=2, tables=['t'])],
        'resource_check': [dict(interval=0.01, mounts=[sandbox])],
        'review_report': [dict(output_dir=work, period='weekly', outcome_logs=[os.path.join(sandbox, 'file.txt')])],
        'security_scan': [dict(root=sandbox, scan_paths=[tree], integrity_paths=[os.path.join(sandbox, 'file.txt')],
                               baseline_file=os.path.join(work, 'baseline.json'), pending_security_updates=[],
                               sshd_output='permitrootlogin no\npasswordauthentication no\n',
                               categories=['world_writable', 'suid', 'sshd', 'integrity', 'updates'])],
        'session_cleanup': [
            dict(backend='files', path=tree, lifetime='1h'),
            dict(backend='postgres', table='sessions', connect_timeout=2),
            dict(backend='redis', pattern='sess:*', redis_port=fz.CLOSED_PORT),
        ],
        'tls_check': [dict(targets=[dict(host='127.0.0.1', port=fz.CLOSED_PORT, timeout=2)], timeout=2, workers=2),
                      dict(files=[dict(path=os.path.join(sandbox, 'file.txt'))])],
        'token_check': [dict(token='aaa.bbb.ccc', state_file=os.path.join(work, 'jwks.json')),
                        dict(jwks_path=os.path.join(sandbox, 'file.txt'), state_file=os.path.join(work, 'jwks.json')),
                        dict(jwks_url=url, timeout=2, state_file=os.path.join(work, 'jwks.json'))],
    }
    return bases.get(module)


@pytest.fixture(scope='module')
def fake_tools(tmp_path_factory):
    return fz.make_fake_package_tools(str(tmp_path_factory.mktemp('fuzz-tools') / 'bin'))


def _environment(module, sandbox, fake_tools):
    env = dict(HOME=sandbox, TMPDIR=os.path.join(sandbox, 'tmp'))
    if module in ('patch_apply', 'patch_facts'):
        env['PATH'] = fake_tools + os.pathsep + os.environ.get('PATH', '/usr/bin:/bin')
    return env


@pytest.fixture(scope='module')
def worker():
    netns = fz.netns_available()
    runner = fz.Worker(fz.MODULES, netns)
    yield runner
    runner.close()


def _watched():
    return dict((path, os.path.lexists(path)) for path in WATCHED)


def _short(value, limit=400):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + '...(%d chars)' % len(text)


@pytest.mark.parametrize('module', fz.MODULES)
def test_bad_parameters_are_refused_cleanly(module, worker, fake_tools, tmp_path):
    if module in NETNS_ONLY and not worker.netns:
        pytest.skip('%s runs nft/iptables even in check mode: needs a private network namespace (unshare -n, root)'
                    % module)
    known = KNOWN_FAILURES.get(module)
    spec, _keywords = fz.argument_spec(module)
    run_dir = str(tmp_path)
    sandbox = os.path.join(run_dir, 'sandbox')
    canary = fz.make_canary(os.path.join(run_dir, 'canary'))
    out = os.path.join(run_dir, 'out')
    check_only = True if module in CHECK_MODE_ONLY else None
    failures = []

    strategy = fz.params_strategy(spec, sandbox, _bases(module, sandbox), check_mode=check_only)

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate] + ([Phase.shrink] if SHRINK else []),
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def example(drawn):
        params, check_mode, mutated = drawn
        shutil.rmtree(sandbox, ignore_errors=True)
        fz.make_sandbox(sandbox)
        os.makedirs(os.path.join(sandbox, 'tmp'))
        args = dict(params, _ansible_check_mode=check_mode)
        canary_before = fz.snapshot(canary)
        sandbox_before = fz.snapshot(sandbox)
        watched_before = _watched()
        env = _environment(module, sandbox, fake_tools)
        answer = worker.run(module, args, sandbox, env, TIMEOUT, out)
        found = fz.problems(answer)
        changed = fz.diff(canary_before, fz.snapshot(canary))
        if changed:
            found.append('changed the canary outside its scope: %s' % changed)
        if _watched() != watched_before:
            found.append('changed system places: %s -> %s' % (watched_before, _watched()))
        if check_mode:
            changed = fz.diff(sandbox_before, fz.snapshot(sandbox))
            if changed:
                found.append('changed the sandbox in check mode: %s' % changed[:10])
        if found:
            failures.append('%s (check_mode=%s, bad options: %s)\nparams: %s\n- %s' % (
                module, check_mode, ', '.join(mutated) or 'none', _short(params), '\n- '.join(found)))
            if SHRINK:
                raise AssertionError(failures[-1])

    first_base = (_bases(module, sandbox) or [{}])[0]
    for params, check_mode, what in reversed(_found(module, sandbox)):
        replay = fz.base_params(spec, sandbox, dict(first_base, **params))
        example = hypothesis.example((replay, check_mode if check_only is None else True, ['found: ' + what]))(example)
    try:
        example()
    except AssertionError:
        if not known:
            raise
    if failures and known:
        pytest.xfail('known failure, fixed on another branch: %s' % known)
    assert not failures, '%d of the examples failed:\n\n%s' % (len(failures), '\n\n'.join(failures))
