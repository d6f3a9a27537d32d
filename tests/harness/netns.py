"""Throw-away network namespaces for the incident tests.

Three namespaces joined by two veth pairs, with TEST-NET addresses assigned ONLY inside them:

    mgmt (192.0.2.1/24)     <-veth->  host (192.0.2.10/24, 198.51.100.10/24)  <-veth->  other (198.51.100.1/24)

The veth pairs are created directly inside the namespaces (``ip -n``), so the test machine's own network
namespace never sees an interface or an address; deleting the namespaces removes everything.
"""

import subprocess
import sys
import time
import uuid

from .tier import needs_service

MGMT_NET = '192.0.2.0/24'
MGMT_ADDR = '192.0.2.1'
HOST_MGMT_ADDR = '192.0.2.10'
OTHER_NET = '198.51.100.0/24'
OTHER_ADDR = '198.51.100.1'
HOST_OTHER_ADDR = '198.51.100.10'
PORT = 7000

_SERVER = '''
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", %d)); s.listen(16)
while True:
    c, _ = s.accept(); c.sendall(b"hi"); c.close()
''' % PORT

_CLIENT = '''
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], %d), timeout=float(sys.argv[2]))
    sys.exit(0 if c.recv(2) == b"hi" else 2)
except OSError:
    sys.exit(1)
''' % PORT


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


class NetLab(object):
    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.host = 'apx-h-%s' % tag
        self.mgmt = 'apx-m-%s' % tag
        self.other = 'apx-o-%s' % tag
        self._tag = tag
        self._servers = []

    def create(self):
        needs_service('network namespaces')
        for ns in (self.host, self.mgmt, self.other):
            sh('ip', 'netns', 'add', ns)
            sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
        for peer, host_if, peer_if, host_addr, peer_addr in (
                (self.mgmt, 'hm%s' % self._tag, 'mh%s' % self._tag, HOST_MGMT_ADDR, MGMT_ADDR),
                (self.other, 'ho%s' % self._tag, 'oh%s' % self._tag, HOST_OTHER_ADDR, OTHER_ADDR)):
            sh('ip', '-n', self.host, 'link', 'add', host_if, 'type', 'veth', 'peer', 'name', peer_if, 'netns', peer)
            sh('ip', '-n', self.host, 'addr', 'add', host_addr + '/24', 'dev', host_if)
            sh('ip', '-n', peer, 'addr', 'add', peer_addr + '/24', 'dev', peer_if)
            sh('ip', '-n', self.host, 'link', 'set', host_if, 'up')
            sh('ip', '-n', peer, 'link', 'set', peer_if, 'up')
        server = subprocess.Popen(['ip', 'netns', 'exec', self.host, sys.executable, '-c', _SERVER],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._servers.append(server)
        deadline = time.time() + 10
        while not self.reaches(self.mgmt, HOST_MGMT_ADDR, 0.5):
            if time.time() > deadline:
                raise RuntimeError('the test server in %s did not come up' % self.host)
            time.sleep(0.1)
        return self

    def reaches(self, ns, address, timeout=1.0):
        """True when a TCP connection from namespace ``ns`` to ``address`` gets the server's answer."""
        return subprocess.run(['ip', 'netns', 'exec', ns, sys.executable, '-c', _CLIENT, address, str(timeout)],
                              check=False).returncode == 0

    def nft(self, *args):
        return sh('ip', 'netns', 'exec', self.host, 'nft', *args, check=False)

    def ruleset(self):
        return self.nft('list', 'ruleset').stdout

    @property
    def prefix(self):
        return ['ip', 'netns', 'exec', self.host]

    def destroy(self):
        for server in self._servers:
            server.kill()
            server.wait()
        for ns in (self.host, self.mgmt, self.other):
            sh('ip', 'netns', 'del', ns, check=False)
