"""What test_fuzz_params.py needs: the modules' real argument specs, bad values for each option, a sandbox, a canary.

* ``argument_spec(name)`` imports a module and captures the ``argument_spec`` (and the other AnsibleModule
  keywords) its ``main()`` builds, by replacing ``AnsibleModule.__init__`` for the duration of the call.
* ``params_strategy(name, spec, ...)`` is a hypothesis strategy of bad and borderline parameter sets: a base
  that passes the argument spec (required options filled), with one to three options (nested ones included)
  replaced by a value from the pools below, sometimes an unknown key. Every option that names a place is only
  ever given a place inside the example's sandbox; every host or URL is loopback on a closed port (or garbage
  that cannot resolve); every option that names a command gets a command that cannot do anything.
* ``Worker`` runs examples in ``fuzz_worker.py`` (a fork server), inside a fresh network namespace with only
  loopback when ``unshare -n`` works (as root), so no example can reach beyond the machine or touch the host's
  firewall rules whatever it is given.
* ``Sandbox`` is the per-example cwd/HOME/TMPDIR with a file, a directory, an empty file, a FIFO and a
  nested tree in it; ``snapshot`` lists a tree's names, sizes and mtimes.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

from hypothesis import strategies as st

from tests.harness.paths import COLLECTIONS, ensure_collection_link

PACKAGE = 'ansible_collections.autopilotcx.maintenance.plugins.modules.'
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))


def _runs_as_module(name):
    """A documentation-only file beside an action plugin (role_vars_check) builds no AnsibleModule: nothing to fuzz."""
    with open(os.path.join(ROOT, 'plugins', 'modules', name)) as handle:
        return 'AnsibleModule(' in handle.read()


MODULES = sorted(n[:-3] for n in os.listdir(os.path.join(ROOT, 'plugins', 'modules'))
                 if n.endswith('.py') and not n.startswith('_') and _runs_as_module(n))

# A port nothing listens on: inside the worker's own network namespace no port is open at all; outside it
# (no unshare) port 9 (discard) is not served on a test machine either.
CLOSED_PORT = 9
LOOPBACK = '127.0.0.1'


# ------------------------------------------------------------------ argument specs

class _Captured(Exception):
    pass


def argument_spec(name):
    """``(argument_spec, keywords)`` exactly as the module's ``main()`` passes them to AnsibleModule."""
    import importlib
    ensure_collection_link()
    from ansible.module_utils import basic
    module = importlib.import_module(PACKAGE + name)
    captured = {}
    original = basic.AnsibleModule.__init__

    def capture(self, argument_spec=None, **keywords):
        captured['spec'] = argument_spec
        captured['keywords'] = keywords
        raise _Captured()

    basic.AnsibleModule.__init__ = capture
    try:
        module.main()
    except _Captured:
        pass
    finally:
        basic.AnsibleModule.__init__ = original
    if 'spec' not in captured:
        raise AssertionError('%s.main() did not build an AnsibleModule' % name)
    return captured['spec'], captured['keywords']


# ------------------------------------------------------------------ what an option is about

def _kind(name, option):
    """What the values of an option must be drawn from: 'path', 'host', 'url', 'port', 'command', 'network',
    'secret' or the option's Ansible type."""
    kind = option.get('type', 'str')
    elements = option.get('elements')
    if name in ('command_prefix', 'sshd_command', 'binary'):
        return 'command'
    if name in ('management_networks', 'allow', 'addresses', 'listen_allow', 'control_node'):
        return 'network'
    if re.search(r'(^|_)port$', name) and kind == 'int':
        return 'port'
    if re.search(r'(^|_)(host|hostname|server_name|proxy|login_unix_socket)$', name):
        return 'host'
    if re.search(r'url$', name):
        return 'url'
    if kind == 'path' or elements == 'path':
        return 'path'
    if kind in ('str', 'list') and re.search(
            r'(^|_)(file|path|paths|dir|dest|config|root|archive|custody_log|manifest|history_patterns|'
            r'rotated_patterns|outcome_logs|journal_directory|journal_file|row_counts_file|state_file|'
            r'password_file|repository)$', name):
        return 'path'
    return kind


# ------------------------------------------------------------------ value pools

# Left out on purpose, because ansible-core itself raises on them inside AnsibleModule() before a module's
# code runs (nothing a module can catch): lone surrogates in any string (AnsibleModule._log_invocation
# encodes every parameter as UTF-8) and inf/nan for an int option (check_type_int: OverflowError).
FINITE_NUMBERS = [-1, -2 ** 31, 0, 1, 99999, 2 ** 63, 10 ** 30, 1e20, -1e20, 1.5, -0.5]
BAD_NUMBERS = FINITE_NUMBERS + [float('nan'), float('inf'), float('-inf')]
BAD_STRINGS = [
    '', ' ', '\t', 'a\r\nb', 'line1\nline2', 'nul\x00byte', 'x' * 100000,
    'ünïcödé ✓', '%s%d{0}{}', '${HOME}', "'; DROP TABLE x; --", '"', '*', '[', '(', '\\', 'yes', 'no',
    '0', '-1', '99999', '1e20', 'nan', 'inf', '-5m', '0s', '5 parsecs', '1h30', '99999999999d', '1.5.6',
    '%', '5%', '-10%', '101%', 'null', 'None', '{"a": 1}', '[1, 2]',
]
BAD_SCALARS = [None, True, False, {}, [], {'a': 'b'}, ['x'], [[]], {'nested': {'deeper': [1, None]}}]


def _safe_text():
    """Random text that cannot name an absolute place or climb out of the sandbox."""
    return st.text(max_size=30).filter(lambda s: not s.startswith(('/', '~')) and '..' not in s)


def _str_values():
    return st.one_of(st.sampled_from(BAD_STRINGS), _safe_text())


def _any_value():
    return st.one_of(
        st.sampled_from(BAD_NUMBERS),
        st.sampled_from(BAD_STRINGS),
        st.sampled_from(BAD_SCALARS),
        st.integers(),
        _safe_text(),
    )


def _path_values(sandbox_dir):
    """Places inside the sandbox only: missing, a directory, a file, an empty file, a FIFO, odd names."""
    join = os.path.join
    return st.sampled_from([
        join(sandbox_dir, 'missing', 'nope.json'),
        join(sandbox_dir, 'dir'),
        join(sandbox_dir, 'dir') + '/',
        join(sandbox_dir, 'file.txt'),
        join(sandbox_dir, 'empty'),
        join(sandbox_dir, 'fifo'),
        join(sandbox_dir, 'binary.bin'),
        join(sandbox_dir, 'tree'),
        join(sandbox_dir, 'tree', '*.log'),
        join(sandbox_dir, 'new', 'deeper', 'out.json'),
        join(sandbox_dir, 'file.txt', 'under-a-file'),
        join(sandbox_dir, 'bad\nname'),
        join(sandbox_dir, 'nul\x00name'),
        join(sandbox_dir, 'x' * 300),
        join(sandbox_dir, *(['d'] * 2000)),
        'relative/in/cwd',
        '.',
        '',
        '~',
        '~/home-file',
    ])


def _host_values():
    return st.sampled_from([
        LOOPBACK, '::1', '[::1]', 'localhost', '', ' ', '127.0.0.1:99999', '127.0.0.1\r\nX-Injected: 1',
        '127.0.0.1\x00', 'x' * 300, '127.0.0.1 ', '-127.0.0.1', '127.0.0.1/8', 'http://127.0.0.1:9',
        'no_such_host.invalid',
    ])


def _url_values():
    port = CLOSED_PORT
    return st.sampled_from([
        'http://127.0.0.1:%d/' % port, 'https://127.0.0.1:%d/path?q=1' % port, 'http://[::1]:%d/' % port,
        '127.0.0.1:%d/no-scheme' % port, 'no-scheme', '', ' ', 'http://', 'http:///x', 'ftp://127.0.0.1:%d/' % port,
        'bogus://127.0.0.1/', 'http://127.0.0.1:99999/', 'http://127.0.0.1:-1/', 'http://127.0.0.1:abc/',
        'http://127.0.0.1:%d/\r\nX-Injected: 1' % port, 'http://127.0.0.1:%d/\x00' % port,
        'http://user:pw@127.0.0.1:%d/' % port, 'http://[::1/', 'x' * 100000,
        'http://no_such_host.invalid:%d/' % port,
    ])


def _port_values():
    return st.sampled_from([CLOSED_PORT, -1, 0, 65536, 99999, 2 ** 40, 1e20, 1.5, '', 'abc', '80x', None,
                            [], {}])


def _command_values(sandbox_dir):
    """Commands that cannot do anything: missing programs, non-executables, directories, garbage."""
    missing = os.path.join(sandbox_dir, 'missing', 'no-such-program')
    return st.sampled_from([
        missing, [missing], [], [''], ['', ''], os.path.join(sandbox_dir, 'file.txt'),
        [os.path.join(sandbox_dir, 'file.txt')], os.path.join(sandbox_dir, 'dir'), [os.path.join(sandbox_dir, 'dir')],
        'no-such-program-autopilotcx', ['no-such-program-autopilotcx', '-x'], ['nul\x00byte'], '',
        'x' * 100000, {}, None, 5,
    ])


def _network_values():
    return st.sampled_from([
        [LOOPBACK], ['::1'], ['127.0.0.0/8'], ['::1/128'], ['127.0.0.1/33'], ['::1/129'], ['127.0.0.1/-1'],
        ['not-an-ip'], [''], [], ['', ''], ['127.0.0.1', '127.0.0.1'], ['127.0.0.1\n'], ['127.0.0.1\x00'],
        ['127.0.0.1/8'], ['0.0.0.0/0'], ['::/0'], ['127.1'], ['127.0.0.256'], [{}], [None], [5],
        [['127.0.0.1']], [{'address': '127.0.0.1'}], 'not-a-list', LOOPBACK, '', None,
        ['x' * 100000],
    ])


def bad_value(kind, option, sandbox_dir):
    """A strategy of wrong, borderline and hostile values for one option."""
    choices = option.get('choices')
    special = {
        'path': _path_values(sandbox_dir),
        'host': _host_values(),
        'url': _url_values(),
        'port': _port_values(),
        'command': _command_values(sandbox_dir),
        'network': _network_values(),
    }
    if kind in special:
        pool = special[kind]
        if option.get('type') == 'list' and kind in ('path', 'host', 'url'):
            pool = st.one_of(pool, st.lists(pool, max_size=3), st.sampled_from([[], [''], ['', ''], [None]]))
        return pool
    pools = []
    if choices:
        good = [c for c in choices if isinstance(c, str)]
        outside = ['bogus', '', 'ALL', None, 0, -1, 99999]
        outside += [c.upper() for c in good if c.upper() != c][:2] + [c + ' ' for c in good][:1]
        if option.get('type') == 'list':
            pools.append(st.sampled_from([[o] for o in outside] + [[], [''], good + ['bogus'], good + good]))
        else:
            pools.append(st.sampled_from(outside))
    if kind == 'int' or kind == 'float':
        pools.append(st.sampled_from(BAD_NUMBERS if kind == 'float' else FINITE_NUMBERS))
        pools.append(st.integers())
        pools.append(st.sampled_from(['', 'abc', '12abc', '0x10', '1e3', ' 5 ', None, [], {}, True]))
    elif kind == 'bool':
        pools.append(st.sampled_from(['maybe', 2, -1, 0.5, [], {}, '', None, 'yes', 'off']))
    elif kind == 'list':
        element = _element_values(option, sandbox_dir)
        pools.append(st.lists(element, max_size=4))
        pools.append(st.sampled_from([[], [''], ['', ''], [None], [[]], [{}], {}, 'a,b', '', 'x' * 100000, 5]))
    elif kind == 'dict':
        pools.append(st.sampled_from([{}, 'a string', 'k=v', [], ['x'], 5, {'': ''}, {'unknown_key': 1},
                                      {'a': None}, {'x': {'y': [1, None]}}, {'k': 'x' * 100000},
                                      {'k': float('nan')}, {'k\x00': 'v'}]))
        pools.append(st.dictionaries(_safe_text(), _any_value(), max_size=3))
    elif kind == 'raw':
        pools.append(_any_value())
    else:  # str and anything else
        pools.append(_str_values())
        pools.append(st.sampled_from(BAD_NUMBERS + BAD_SCALARS))
    return st.one_of(*pools)


def _element_values(option, sandbox_dir):
    elements = option.get('elements', 'str')
    if elements == 'dict':
        return st.one_of(st.sampled_from(BAD_SCALARS + ['', 5]), st.dictionaries(_safe_text(), _any_value(), max_size=3))
    if elements in ('int', 'float'):
        return st.one_of(st.sampled_from(BAD_NUMBERS if elements == 'float' else FINITE_NUMBERS),
                         st.sampled_from(['', 'abc', None]))
    if elements == 'path':
        return _path_values(sandbox_dir)
    if elements == 'raw':
        return _any_value()
    return st.one_of(_str_values(), st.sampled_from(BAD_SCALARS + BAD_NUMBERS[:4]))


# ------------------------------------------------------------------ base parameter sets

def base_value(name, option, sandbox_dir):
    """A value that passes the argument spec, or None to leave the option to its default."""
    kind = _kind(name, option)
    default = option.get('default')
    if kind == 'port':
        return CLOSED_PORT
    if kind == 'host' and name != 'login_unix_socket':
        return LOOPBACK
    if kind == 'url' and option.get('required'):
        return 'http://127.0.0.1:%d/' % CLOSED_PORT
    if kind == 'path':
        # every place an option names, the default included, is moved into the sandbox
        if option.get('type') == 'list':
            if option.get('required') or default:
                return [os.path.join(sandbox_dir, 'tree')]
            return None
        if option.get('required') or default or name in ('state_file', 'baseline_file'):
            return os.path.join(sandbox_dir, 'work', name)
        return None
    if kind == 'command':
        return None
    if not option.get('required'):
        return None
    if option.get('choices'):
        return [option['choices'][0]] if option.get('type') == 'list' else option['choices'][0]
    if kind == 'list' and option.get('elements') == 'dict' and option.get('options'):
        return [base_params(option['options'], sandbox_dir)]
    if kind == 'list':
        return ['x']
    if kind == 'dict':
        if option.get('options'):
            return base_params(option['options'], sandbox_dir)
        return {}
    if kind in ('int', 'float'):
        return 1
    if kind == 'bool':
        return False
    return 'fuzz-%s' % name


def base_params(spec, sandbox_dir, overrides=None):
    params = {}
    for name, option in sorted(spec.items()):
        value = base_value(name, option, sandbox_dir)
        if value is not None:
            params[name] = value
    for name, value in (overrides or {}).items():
        params[name] = value
    return params


def mutation_targets(spec, prefix=()):
    """Every option, nested ones included, as a path of keys (list elements as index 0)."""
    targets = []
    for name, option in sorted(spec.items()):
        path = prefix + (name,)
        targets.append((path, option))
        sub = option.get('options')
        if sub:
            if option.get('type') == 'list':
                targets.extend(mutation_targets(sub, path + (0,)))
            else:
                targets.extend(mutation_targets(sub, path))
    return targets


def _set(params, path, value, spec, sandbox_dir):
    """Set ``value`` at ``path`` in ``params``, creating the containers (with their base) on the way."""
    node = params
    options = spec
    for i, key in enumerate(path[:-1]):
        if isinstance(key, int):
            if not isinstance(node, list) or not node:
                return False
            if not isinstance(node[0], dict):
                return False
            node = node[0]
            continue
        option = options.get(key, {})
        sub = option.get('options') or {}
        if key not in node or not isinstance(node[key], (dict, list)):
            if option.get('type') == 'list':
                node[key] = [base_params(sub, sandbox_dir)]
            else:
                node[key] = base_params(sub, sandbox_dir)
        node = node[key]
        options = sub
    if not isinstance(node, dict):
        return False
    node[path[-1]] = value
    return True


@st.composite
def params_strategy(draw, spec, sandbox_dir, bases=None, check_mode=None):
    """One bad parameter set: ``(module_args_without_internal_keys, check_mode, description)``.

    ``bases`` are alternative sets of good values laid over the generated base (one is drawn), so that the
    bad values reach past the first check of each mode of the module.
    """
    overrides = draw(st.sampled_from(bases)) if bases else None
    params = json.loads(json.dumps(base_params(spec, sandbox_dir, overrides)))
    targets = mutation_targets(spec)
    count = draw(st.integers(min_value=1, max_value=3))
    chosen = draw(st.lists(st.sampled_from(targets), min_size=count, max_size=count,
                           unique_by=lambda t: t[0]))
    described = []
    for path, option in chosen:
        kind = _kind(path[-1], option)
        value = draw(bad_value(kind, option, sandbox_dir))
        if _set(params, path, value, spec, sandbox_dir):
            described.append('.'.join(str(p) for p in path))
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        params['unknown_option_%s' % draw(st.sampled_from(['a', 'zz']))] = draw(_any_value())
        described.append('unknown option')
    if check_mode is None:
        check_mode = draw(st.booleans())
    return params, check_mode, described


# ------------------------------------------------------------------ sandbox, canary, snapshots

def make_sandbox(directory):
    """The places a parameter may name: all under ``directory``."""
    os.makedirs(os.path.join(directory, 'dir'))
    os.makedirs(os.path.join(directory, 'tree', 'sub'))
    os.makedirs(os.path.join(directory, 'work'))
    with open(os.path.join(directory, 'file.txt'), 'w') as handle:
        handle.write('some text\nsecond line\n')
    open(os.path.join(directory, 'empty'), 'w').close()
    with open(os.path.join(directory, 'binary.bin'), 'wb') as handle:
        handle.write(b'\x00\xff\xfe' * 100)
    for name in ('a.log', 'b.log.1', 'sess_abc', '.hidden', 'sub/c.log'):
        with open(os.path.join(directory, 'tree', name), 'w') as handle:
            handle.write('x' * 64)
        os.utime(os.path.join(directory, 'tree', name), (1000000000, 1000000000))
    os.mkfifo(os.path.join(directory, 'fifo'))
    return directory


def make_canary(directory):
    """A tree that no parameter ever names; nothing may change it."""
    os.makedirs(os.path.join(directory, 'data', 'nested'))
    for name in ('important.db', 'old.log', 'sess_keep', 'data/nested/keep.txt', 'data/old.tmp'):
        path = os.path.join(directory, name)
        with open(path, 'w') as handle:
            handle.write('canary %s\n' % name)
        os.utime(path, (1000000000, 1000000000))
    return directory


APT_FIXTURES = os.path.join(os.path.dirname(HERE), 'module_utils', 'fixtures', 'apt')
FAKE_TOOLS = {
    'apt': 'case "$*" in "list --upgradable") cat "%(fix)s/host-apt-list-upgradable.txt";; esac',
    'apt-cache': 'if [ "$#" -eq 1 ]; then cat "%(fix)s/host-apt-cache-policy.txt"; '
                 'else cat "%(fix)s/host-apt-cache-policy-packages.txt"; fi',
    'apt-mark': 'exit 0',
    'apt-get': 'case " $* " in *" -s "*) echo "Inst openssl [3.0.19-1~deb12u2] (3.0.22-1~deb12u2 Debian-Security)";; '
               '*) echo "fake apt-get: only simulates" >&2; exit 100;; esac',
    'dnf': 'echo "fake dnf: no repositories here" >&2; exit 1',
}


def make_fake_package_tools(directory):
    """apt/apt-get/apt-cache/apt-mark/dnf answering from the recorded apt fixtures (apt-get only simulates).

    The real package manager of the test machine takes 10-20 s per patch_facts run (apt-cache policy over its
    real lists); the patching tests run the real tools in debootstrap roots. Here only the modules' handling
    of bad parameters is under test, so these stand-ins answer in milliseconds.
    """
    os.makedirs(directory)
    for name, body in FAKE_TOOLS.items():
        path = os.path.join(directory, name)
        with open(path, 'w') as handle:
            handle.write('#!/bin/sh\n' + body % {'fix': APT_FIXTURES} + '\n')
        os.chmod(path, 0o755)
    return directory


def snapshot(directory, ignore=()):
    """``{relative path: (kind, size, mtime_ns)}`` of a tree (symlinks not followed)."""
    result = {}
    for root, dirs, files in os.walk(directory):
        rel_root = os.path.relpath(root, directory)
        if any(rel_root == i or rel_root.startswith(i + os.sep) for i in ignore):
            dirs[:] = []
            continue
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.normpath(os.path.join(rel_root, name))
            if rel in ignore:
                continue
            info = os.lstat(path)
            kind = 'dir' if stat.S_ISDIR(info.st_mode) else 'file'
            result[rel] = (kind, 0 if kind == 'dir' else info.st_size, 0 if kind == 'dir' else info.st_mtime_ns)
    return result


def diff(before, after):
    changes = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            changes.append('%s: %s -> %s' % (path, before.get(path), after.get(path)))
    return changes


# ------------------------------------------------------------------ the worker

def netns_available():
    if not shutil.which('unshare') or not shutil.which('ip'):
        return False
    proc = subprocess.run(['unshare', '-n', 'true'], capture_output=True, check=False)
    return proc.returncode == 0


class Worker(object):
    """``fuzz_worker.py`` in a private network namespace (only loopback) when possible."""

    def __init__(self, modules, netns):
        self.netns = netns
        command = [sys.executable, os.path.join(HERE, 'fuzz_worker.py'), COLLECTIONS] + list(modules)
        if netns:
            command = ['unshare', '-n', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'fuzz-worker'] + command
        env = dict(os.environ)
        for key in list(env):
            if key.startswith(('PG', 'REDIS', 'ANSIBLE_')) or key.lower().endswith('_proxy'):
                del env[key]
        env.update(PGHOST=LOOPBACK, PGPORT=str(CLOSED_PORT), PGCONNECT_TIMEOUT='2', NO_PROXY='*', no_proxy='*')
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     universal_newlines=True, cwd=tempfile.gettempdir())
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError('fuzz worker did not start (exit %s)' % self.proc.wait())
        self.ready = json.loads(line)['ready']

    def run(self, module, args, cwd, env, timeout, out):
        request = dict(module=module, args=args, cwd=cwd, env=env, timeout=timeout, out=out)
        self.proc.stdin.write(json.dumps(request) + '\n')
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError('fuzz worker died (exit %s)' % self.proc.wait())
        answer = json.loads(line)
        with open(out + '.stdout', 'rb') as handle:
            answer['stdout'] = handle.read().decode('utf-8', 'replace')
        with open(out + '.stderr', 'rb') as handle:
            answer['stderr'] = handle.read().decode('utf-8', 'replace')
        return answer

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------ judging one run

INTERNAL_ERROR = re.compile(
    r"Traceback \(most recent call last\)|object has no attribute|'NoneType' object|unsupported operand|"
    r"not subscriptable|object is not iterable|takes \d+ positional argument|unhashable type|"
    r"must be str, not|can only concatenate|argument must be|object cannot be interpreted|"
    r"list index out of range|string index out of range|codec can't (en|de)code|embedded null|"
    r"^KeyError|^ValueError|^TypeError|^AttributeError|^IndexError")


def parse_result(stdout):
    """The module's JSON result (the last JSON object on stdout), or None."""
    text = stdout.strip()
    start = text.find('{')
    while start != -1:
        try:
            return json.loads(text[start:])
        except ValueError:
            start = text.find('{', start + 1)
    return None


def _crash_summary(output):
    """The exception line of a traceback and the innermost frame of this collection that it passed."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    if not lines:
        return '(no output)'
    frames = [line.strip() for line in lines if line.strip().startswith('File "') and '/autopilotcx/' in line]
    where = (' at ' + frames[-1]) if frames else ''
    return '%s%s' % (lines[-1][:500], where)


def problems(answer):
    """What is wrong with one module run, as a list of sentences (empty: the run is acceptable)."""
    if answer['timed_out']:
        return ['the module did not finish within the timeout (hang)']
    result = parse_result(answer['stdout'])
    if result is None:
        output = answer['stderr'] or answer['stdout']
        return ['no JSON result (exit %s): %s' % (answer['rc'], _crash_summary(output))]
    found = []
    exception = result.get('exception')
    msg = result.get('msg')
    missing_lib = isinstance(msg, str) and 'Failed to import the required Python library' in msg
    if exception and not missing_lib:
        found.append('result carries an exception/traceback: %s' % str(exception)[-2000:])
    if result.get('failed'):
        if not isinstance(msg, str) or not msg.strip():
            found.append('failed without a message: %r' % (msg,))
        elif INTERNAL_ERROR.search(msg):
            found.append('failure message is a Python internal error, not a clear one: %s' % msg[:1000])
    elif answer['rc'] != 0:
        found.append('exit %s without failed: true' % answer['rc'])
    return found
