"""Event-Driven Ansible for real: ``ansible-rulebook`` (PyPI, with its Java 17 rule engine) running the collection's
rulebook on a real log file, nftables in a network namespace made here, and a writer appending bursts to the log.

Used by tests/integration/test_eda_realtime.py and benchmarks/bench_realtime.py. The namespace holds no interface
but its loopback: the block table lives in it and nothing of the machine's own network is touched.
"""

import os
import shutil
import signal
import subprocess
import time
import uuid

import yaml

from .ansible_run import ansible_bin, ansible_env
from .paths import python_interpreter
from .tier import needs_service

MGMT_NET = '192.0.2.0/24'
ALLOWED_NET = '10.9.0.0/16'
RULEBOOK = 'autopilotcx.maintenance.auth_log_response'


def syslog_line(epoch, message, pid, host='web-01', program='sshd'):
    """One RFC 3164 line, stamped in UTC (the source is told ``utc: true``)."""
    tm = time.gmtime(epoch)
    stamp = '%s %2d %02d:%02d:%02d' % (time.strftime('%b', tm), tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
    return '%s %s %s[%d]: %s\n' % (stamp, host, program, pid, message)


def failed_line(ip, pid, user='root', epoch=None):
    return syslog_line(time.time() if epoch is None else epoch,
                       'Failed password for %s from %s port %d ssh2' % (user, ip, 30000 + pid % 30000), pid)


class Namespace(object):
    """One network namespace for the block table."""

    def __init__(self):
        self.name = 'apx-eda-%s' % uuid.uuid4().hex[:6]

    def create(self):
        needs_service('a network namespace')
        subprocess.run(['ip', 'netns', 'add', self.name], check=True)
        subprocess.run(['ip', '-n', self.name, 'link', 'set', 'lo', 'up'], check=True)
        return self

    @property
    def prefix(self):
        return ['ip', 'netns', 'exec', self.name]

    def blocked(self):
        """The addresses of the block set (``blocked_v4``), or an empty set before the table exists."""
        result = subprocess.run(self.prefix + ['nft', '-j', 'list', 'set', 'inet', 'autopilotcx_block', 'blocked_v4'],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return set()
        import json
        found = set()
        for item in json.loads(result.stdout).get('nftables', ()):
            for element in (item.get('set') or {}).get('elem') or ():
                value = element.get('elem', {}).get('val') if isinstance(element, dict) else element
                if isinstance(value, dict) and 'prefix' in value:
                    value = '%s/%s' % (value['prefix']['addr'], value['prefix']['len'])
                found.add(str(value))
        return found

    def destroy(self):
        subprocess.run(['ip', 'netns', 'del', self.name], check=False)


def write_setup(directory, log, namespace, webhook_url, allow=(ALLOWED_NET,), extra_host_vars=None, rulebook_vars=None,
                source_block=True):
    """Inventory and rulebook variables for a run; returns (inventory, vars file). ``source_block``: the source blocks
    in-process (``auth_log_block``, the same networks and timeout as the action's nft_block) before it sends the event."""
    host = {
        'ansible_connection': 'local',
        'ansible_python_interpreter': python_interpreter(),
        'security_incident_management_networks': [MGMT_NET],
        'security_incident_allow': list(allow),
        'security_incident_command_prefix': namespace.prefix,
        'security_eda_become': False,
        'security_eda_block_timeout': 600,
        'notify_channels': [{'name': 'hook', 'type': 'webhook', 'url': webhook_url}] if webhook_url else [],
        'notify_state_file': os.path.join(str(directory), 'notify-state.json'),
    }
    host.update(extra_host_vars or {})
    inventory = os.path.join(str(directory), 'inventory.yml')
    with open(inventory, 'w') as handle:
        yaml.safe_dump({'all': {'hosts': {'web-01': host}}}, handle)
    variables = {
        'auth_log_paths': [str(log)],
        'auth_log_state_file': os.path.join(str(directory), 'eda-state.json'),
        'auth_log_allow_list': list(allow),
        'auth_log_utc': True,
        'auth_log_interval': 0.1,
    }
    if source_block:
        variables['auth_log_block'] = {'management_networks': [MGMT_NET], 'allow': list(allow),
                                       'command_prefix': namespace.prefix, 'timeout': 600}
    variables.update(rulebook_vars or {})
    vars_file = os.path.join(str(directory), 'rulebook-vars.yml')
    with open(vars_file, 'w') as handle:
        yaml.safe_dump(variables, handle)
    return inventory, vars_file


class Rulebook(object):
    """``ansible-rulebook`` running the collection's rulebook in its own process group (stopped by its pid)."""

    def __init__(self, inventory, vars_file, output, rulebook=RULEBOOK, args=()):
        self.command = [ansible_bin('ansible-rulebook'), '--rulebook', rulebook, '-i', inventory, '--vars', vars_file,
                        '-v'] + list(args)
        self.output = output
        self.process = None

    def start(self):
        needs_service('ansible-rulebook')
        if shutil.which('java') is None:
            raise RuntimeError('ansible-rulebook needs Java 17 (Debian openjdk-17-jre-headless, tests/system-packages.txt)')
        env = ansible_env()
        env['PATH'] = os.path.dirname(ansible_bin('ansible-playbook')) + os.pathsep + env.get('PATH', '')
        self._out = open(self.output, 'w')
        self.process = subprocess.Popen(self.command, env=env, stdout=self._out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        return self

    def wait_ready(self, timeout=60):
        """Until the rule engine is connected (the source is loaded just before)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('ansible-rulebook stopped: %s' % self.log()[-3000:])
            if 'Async channel connected' in self.log():
                return
            time.sleep(0.2)
        raise RuntimeError('ansible-rulebook not ready after %d s: %s' % (timeout, self.log()[-3000:]))

    def gone(self):
        return self.process.poll() is not None

    def log(self):
        with open(self.output) as handle:
            return handle.read()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if getattr(self, '_out', None):
            self._out.close()


def wait_for(predicate, timeout, step=0.02):
    """Poll ``predicate`` until true; returns the seconds it took, or None after ``timeout``."""
    start = time.time()
    while time.time() - start < timeout:
        if predicate():
            return time.time() - start
        time.sleep(step)
    return None
