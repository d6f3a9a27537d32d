"""The built-in demo environment for `make demo`.

Starts real services on free loopback ports: a PostgreSQL cluster (TLS on, database
``demo_app``), an HTTPS API with an auth service (certificate from a demo CA), Redis,
a webhook receiver and an SMTP server (STARTTLS + AUTH). Writes their coordinates to
``.tmp/demo/env.yml`` (and as an inventory source, ``.tmp/demo/env-inventory.yml``), runs every
``scripts/demo_setup/*.py`` ``setup(env)`` hook (one that returns a callable gets it called at the stop), then waits until it is told to stop
(SIGTERM/SIGINT), stopping everything it started.

    python scripts/demo_env.py --ready-file .tmp/demo/ready
"""

import argparse
import importlib.util
import glob
import json
import os
import signal
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.harness.http import HttpServer, WebhookReceiver  # noqa: E402
from tests.harness.paths import ensure_collection_link  # noqa: E402
from tests.harness.pki import CertificateAuthority  # noqa: E402
from tests.harness.postgres import PostgresCluster  # noqa: E402
from tests.harness.services import RedisServer, SmtpServer  # noqa: E402

SMTP_CREDENTIALS = ('alerts', 'demo-smtp-pw')


def run_setup_hooks(env, stack):
    """Run every hook; a hook may return a callable that undoes what it set up (run when the demo stops)."""
    for path in sorted(glob.glob(os.path.join(ROOT, 'scripts', 'demo_setup', '*.py'))):
        name = os.path.splitext(os.path.basename(path))[0]
        if name.startswith('_'):
            continue
        spec = importlib.util.spec_from_file_location('demo_setup_' + name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print('demo: setting up %s' % name, flush=True)
        cleanup = module.setup(env)
        if callable(cleanup):
            stack.append(cleanup)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--dir', default=os.path.join(ROOT, '.tmp', 'demo'))
    parser.add_argument('--ready-file', help='created once everything runs')
    args = parser.parse_args()
    ensure_collection_link()
    demo_dir = os.path.abspath(args.dir)
    os.makedirs(demo_dir, exist_ok=True)
    os.chmod(demo_dir, 0o755)

    stack = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    try:
        ca = CertificateAuthority(name='AutopilotCX Demo CA', directory=os.path.join(demo_dir, 'pki'))
        cert, key, _issued = ca.write_leaf('api', hostnames=('localhost', '127.0.0.1'))
        pg_cert, pg_key, _pg_issued = ca.write_leaf('postgres', hostnames=('localhost', '127.0.0.1'))
        pg = PostgresCluster(ssl_cert=pg_cert, ssl_key=pg_key).init().start()
        stack.append(pg.destroy)
        pg.create_database('demo_app')
        api = HttpServer(tls=(cert, key)).start()
        stack.append(api.stop)
        redis = RedisServer().start()
        stack.append(redis.stop)
        webhook = WebhookReceiver().start()
        stack.append(webhook.stop)
        smtp = SmtpServer(tls=(cert, key), credentials=SMTP_CREDENTIALS).start()
        stack.append(smtp.stop)
        env = {
            'demo_dir': demo_dir,
            'demo_https_url': api.url.replace('127.0.0.1', 'localhost'),
            'demo_ca_path': ca.ca_path,
            'demo_pg': {'login_host': pg.host, 'port': pg.port, 'login_user': pg.user, 'login_password': pg.password,
                        'login_db': 'demo_app', 'ssl_mode': 'verify-full', 'ca_cert': ca.ca_path},
            'demo_redis': {'host': redis.host, 'port': redis.port},
            'demo_webhook_url': webhook.url + '/hook',
            'demo_smtp': {'host': smtp.host, 'port': smtp.port, 'username': SMTP_CREDENTIALS[0],
                          'password': SMTP_CREDENTIALS[1], 'ca_path': ca.ca_path},
        }
        env['demo_pg']['login_host'] = 'localhost'
        run_setup_hooks(env, stack)
        with open(os.path.join(demo_dir, 'env.yml'), 'w') as handle:
            json.dump(env, handle, indent=2)  # JSON is YAML
        # The same values as an inventory source: inventory variables, not extra vars, so the outcome
        # callback (which redacts every extra-var value) keeps host names and ports readable.
        with open(os.path.join(demo_dir, 'env-inventory.yml'), 'w') as handle:
            json.dump({'all': {'vars': env}}, handle, indent=2)
        if args.ready_file:
            with open(args.ready_file, 'w') as handle:
                handle.write('ready\n')
        print('demo: environment ready (%s)' % os.path.join(demo_dir, 'env.yml'), flush=True)
        stop.wait()
        with open(os.path.join(demo_dir, 'received.json'), 'w') as handle:
            json.dump({'webhook': [r.get('json') for r in webhook.received],
                       'smtp': [{'to': m['to'], 'subject': next((line for line in m['data'].splitlines()
                                                                 if line.startswith('Subject:')), '')}
                                for m in smtp.messages]}, handle, indent=2)
    finally:
        for close in reversed(stack):
            try:
                close()
            except Exception as exc:  # keep stopping the rest
                print('demo: stop failed: %s' % exc, file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
