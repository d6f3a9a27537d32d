"""Real HTTP(S) servers on loopback: scripted endpoints, an auth service, and a webhook receiver."""

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from .net import free_port


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: 16 clients opening fresh connections at once overflow it, the kernel drops
    # the SYNs and each client waits a whole second for its retransmission (seen as ListenOverflows in nstat, and as
    # 1 s stalls in the blackbox benchmark). nginx listens with 511; so does this test server.
    request_queue_size = 511


VALID_TOKEN = 'tok-3f1c9a0e-valid'


class Request:
    def __init__(self, handler, body):
        parsed = urlparse(handler.path)
        self.method = handler.command
        self.path = parsed.path
        self.query = dict((k, v[0]) for k, v in parse_qs(parsed.query).items())
        self.headers = dict(handler.headers.items())
        self.body = body

    def json(self):
        return json.loads(self.body.decode('utf-8') or 'null')


def reply(status=200, body=b'', content_type='application/json', headers=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    result_headers = {'Content-Type': content_type}
    result_headers.update(headers or {})
    return status, result_headers, body


def default_routes():
    """Endpoints the check tests need: healthy, failing, slow, wrong body, and an auth service."""

    def login(req):
        try:
            data = req.json() or {}
        except ValueError:
            return reply(400, {'error': 'bad json'})
        if data.get('username') == 'monitor' and data.get('password') == 'monitor-pw':
            return reply(200, {'access_token': VALID_TOKEN, 'token_type': 'Bearer', 'expires_in': 3600})
        return reply(401, {'error': 'invalid credentials'})

    def me(req):
        if req.headers.get('Authorization') == 'Bearer %s' % VALID_TOKEN:
            return reply(200, {'user': 'monitor', 'active': True})
        return reply(401, {'error': 'token rejected'})

    def slow(req):
        time.sleep(float(req.query.get('s', '3')))
        return reply(200, {'status': 'ok'})

    return {
        '/health': lambda req: reply(200, {'status': 'ok', 'version': '1.4.2', 'checks': {'db': 'up'}}),
        '/error': lambda req: reply(500, {'status': 'error'}),
        '/unavailable': lambda req: reply(503, {'status': 'maintenance'}),
        '/slow': slow,
        '/wrong-body': lambda req: reply(200, '<html>It works, but not the API</html>', 'text/html'),
        '/auth/login': login,
        '/auth/me': me,
        '/echo': lambda req: reply(200, {'method': req.method, 'headers': req.headers, 'body': req.body.decode('utf-8', 'replace')}),
    }


class HttpServer:
    """``with HttpServer(tls=(cert, key)) as srv:`` serves ``routes`` on ``srv.url``.

    ``routes`` maps a path to ``callable(Request) -> (status, headers, body)``.
    Every request is kept in ``srv.requests``.
    """

    def __init__(self, routes=None, tls=None, host='127.0.0.1', port=None):
        self.routes = default_routes() if routes is None else routes
        self.tls = tls
        self.host = host
        self.port = port or free_port(host)
        self.requests = []
        self.lock = threading.Lock()
        self.server = None
        self.thread = None

    @property
    def scheme(self):
        return 'https' if self.tls else 'http'

    @property
    def url(self):
        return '%s://%s:%d' % (self.scheme, self.host, self.port)

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):  # keep test output clean
                pass

            def _serve(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                request = Request(self, body)
                with outer.lock:
                    outer.requests.append(request)
                route = outer.routes.get(request.path)
                if route is None:
                    status, headers, payload = reply(404, {'error': 'not found'})
                else:
                    status, headers, payload = route(request)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header('Content-Length', str(len(payload)))
                self.end_headers()
                if self.command != 'HEAD':
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

        return Handler

    def start(self):
        self.server = _Server((self.host, self.port), self._handler())
        self.server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls[0], self.tls[1])
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class WebhookReceiver(HttpServer):
    """Records every POSTed JSON body in ``received``; answers ``status`` (200 unless told)."""

    def __init__(self, status=200, **kwargs):
        self.received = []
        self.status = status

        def hook(req):
            try:
                self.received.append({'path': req.path, 'headers': req.headers, 'json': req.json()})
            except ValueError:
                self.received.append({'path': req.path, 'headers': req.headers, 'raw': req.body})
            return reply(self.status, {'ok': self.status < 300})

        routes = {'/hook': hook, '/slack': hook, '/hooks/%s' % 'alerts': hook}
        super().__init__(routes=routes, **kwargs)
