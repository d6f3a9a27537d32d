"""Redis and SMTP servers for the tests: real processes / real protocol servers on loopback."""

import os
import shutil
import subprocess
import tempfile
import time

from .net import free_port, wait_port
from .tier import needs_service


class RedisServer:
    """``redis-server`` from Debian on a free loopback port, no persistence; ``with RedisServer() as r:``."""

    def __init__(self, password=None):
        self.binary = shutil.which('redis-server') or '/usr/bin/redis-server'
        if not os.path.exists(self.binary):
            raise RuntimeError('redis-server not found; install the redis-server package (make deps does)')
        self.port = free_port()
        self.host = '127.0.0.1'
        self.password = password
        self.dir = tempfile.mkdtemp(prefix='apcx-redis-')
        self.proc = None

    def start(self):
        needs_service('a Redis server')
        args = [self.binary, '--port', str(self.port), '--bind', self.host, '--save', '', '--appendonly', 'no',
                '--dir', self.dir, '--daemonize', 'no', '--protected-mode', 'no']
        if self.password:
            args += ['--requirepass', self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def client(self, **kwargs):
        import redis
        return redis.Redis(host=self.host, port=self.port, password=self.password, **kwargs)

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


class SmtpServer:
    """An aiosmtpd server recording every message; STARTTLS and AUTH when given a certificate and credentials."""

    def __init__(self, tls=None, credentials=None):
        self.host = '127.0.0.1'
        self.port = free_port()
        self.tls = tls
        self.credentials = credentials  # (user, password)
        self.messages = []
        self.controller = None

    def start(self):
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append({'from': envelope.mail_from, 'to': list(envelope.rcpt_tos),
                                       'data': envelope.content.decode('utf-8', 'replace'),
                                       'authenticated': bool(getattr(session, 'authenticated', False))})
                return '250 Message accepted for delivery'

        def authenticator(server, session, envelope, mechanism, auth_data):
            if not isinstance(auth_data, LoginPassword) or not outer.credentials:
                return AuthResult(success=False, handled=False)
            user, password = outer.credentials
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok, handled=False)

        kwargs = {}
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls[0], self.tls[1])
            kwargs.update(tls_context=context, require_starttls=True)
        if self.credentials:
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(self.tls))
        else:
            kwargs.update(auth_require_tls=False)
        self.controller = Controller(Handler(), hostname=self.host, port=self.port, **kwargs)
        self.controller.start()
        wait_port(self.port)
        return self

    def wait_for(self, count=1, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
