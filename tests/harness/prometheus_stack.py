"""Debian's Prometheus stack as real processes for the tests: each on a free loopback port, its data in a temporary
directory, started with Popen and stopped by its PID (never by name). Debian starts nothing by itself here."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from .net import free_port, wait_port
from .tier import needs_service

BINARIES = {
    'prometheus': 'prometheus',
    'node_exporter': 'prometheus-node-exporter',
    'alertmanager': 'prometheus-alertmanager',
    'pushgateway': 'prometheus-pushgateway',
    'blackbox': 'prometheus-blackbox-exporter',
}


def binary(kind):
    path = shutil.which(BINARIES[kind]) or os.path.join('/usr/bin', BINARIES[kind])
    return path if os.path.exists(path) else None


class Daemon:
    kind = None
    ready_path = '/-/ready'

    def __init__(self):
        self.binary = binary(self.kind)
        if self.binary is None:
            raise RuntimeError('%s not found; install the %s package (tests/system-packages.txt)' % (BINARIES[self.kind], BINARIES[self.kind]))
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='apcx-%s-' % self.kind)
        self.proc = None
        self.log = os.path.join(self.dir, 'daemon.log')

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def args(self):
        raise NotImplementedError

    def start(self):
        needs_service('a %s' % BINARIES[self.kind])
        with open(self.log, 'wb') as log:
            self.proc = subprocess.Popen([self.binary] + self.args(), stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        try:
            wait_port(self.port, timeout=60)
        except TimeoutError:
            self.stop()
            raise RuntimeError('%s did not start: %s' % (self.kind, self.output()))
        deadline = time.monotonic() + 60
        while True:  # listening is not ready: Prometheus answers 503 until its storage is open
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=5) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError('%s never became ready: %s' % (self.kind, self.output()))
            time.sleep(0.1)

    def output(self):
        try:
            with open(self.log) as handle:
                return handle.read()[-3000:]
        except OSError:
            return ''

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def get_json(self, path, **query):
        url = self.url + path + ('?' + urllib.parse.urlencode(query) if query else '')
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read().decode())

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


class NodeExporter(Daemon):
    """Only the textfile collector, reading ``textfile_dir``."""
    kind = 'node_exporter'
    ready_path = '/metrics'

    def __init__(self, textfile_dir):
        super().__init__()
        self.textfile_dir = str(textfile_dir)

    def args(self):
        return ['--web.listen-address=127.0.0.1:%d' % self.port, '--collector.disable-defaults', '--collector.textfile',
                '--collector.textfile.directory=%s' % self.textfile_dir]


class Pushgateway(Daemon):
    kind = 'pushgateway'

    def args(self):
        return ['--web.listen-address=127.0.0.1:%d' % self.port, '--web.enable-admin-api']


class Alertmanager(Daemon):
    kind = 'alertmanager'

    def __init__(self, config_text):
        super().__init__()
        self.config = os.path.join(self.dir, 'alertmanager.yml')
        with open(self.config, 'w') as handle:
            handle.write(config_text)

    def args(self):
        return ['--config.file=%s' % self.config, '--storage.path=%s' % os.path.join(self.dir, 'data'),
                '--web.listen-address=127.0.0.1:%d' % self.port, '--cluster.listen-address=']

    def alerts(self, **filters):
        return self.get_json('/api/v2/alerts', **filters)


class Prometheus(Daemon):
    """Scrapes ``targets`` every second and evaluates ``rule_files`` every second; alerts go to ``alertmanager_url``."""
    kind = 'prometheus'

    def __init__(self, targets, rule_files=(), alertmanager=None, honor_labels=True):
        super().__init__()
        self.config = os.path.join(self.dir, 'prometheus.yml')
        config = {
            'global': {'scrape_interval': '1s', 'evaluation_interval': '1s'},
            'rule_files': [str(f) for f in rule_files],
            'scrape_configs': [{'job_name': 'autopilotcx', 'honor_labels': honor_labels,
                                'static_configs': [{'targets': list(targets)}]}],
        }
        if alertmanager:
            config['alerting'] = {'alertmanagers': [{'static_configs': [{'targets': [alertmanager]}]}]}
        with open(self.config, 'w') as handle:
            json.dump(config, handle)   # JSON is YAML

    def args(self):
        return ['--config.file=%s' % self.config, '--storage.tsdb.path=%s' % os.path.join(self.dir, 'data'),
                '--web.listen-address=127.0.0.1:%d' % self.port]

    def query(self, expr):
        return self.get_json('/api/v1/query', query=expr)['data']['result']


def wait_until(what, timeout=60.0, message='condition'):
    deadline = time.monotonic() + timeout
    while True:
        result = what()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ss waiting for %s' % (timeout, message))
        time.sleep(0.25)
