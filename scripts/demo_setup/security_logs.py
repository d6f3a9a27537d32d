"""Demo data for security monitoring: an sshd auth.log and an nginx access log with an attack in the last minutes.

``setup(env)`` writes, under ``env['demo_dir']/logs``:

* ``auth.log`` (RFC 3164 stamps, OpenSSH 9 / PAM lines): an hour of normal logins and cron/sudo noise, an older
  rotated ``auth.log.1.gz``, then in the last 4 minutes a password-guessing run from 203.0.113.66 (about 25 per
  minute, many user names) and a user-enumeration run from 198.51.100.23, plus pre-auth probes;
* ``nginx/access.log`` (nginx 1.22 ``combined`` followed by ``$request_time``): an hour of normal API traffic,
  then in the last 4 minutes a request flood with HTTP 429 answers to 198.51.100.77, a burst of 502s and slow
  responses.

The security_monitoring playbook on the demo inventory then reports critical failed logins, suspicious IPs,
a request-rate spike, an API error rate above 1 % and rate-limit violations.
"""

import gzip
import os
import random
import time

MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')
HOST = 'demo-app'


def _syslog(epoch, program, pid, message):
    tm = time.localtime(epoch)
    return '%s %2d %02d:%02d:%02d %s %s[%d]: %s\n' % (MONTHS[tm.tm_mon - 1], tm.tm_mday, tm.tm_hour, tm.tm_min,
                                                      tm.tm_sec, HOST, program, pid, message)


def _access(epoch, ip, method, path, status, size, seconds, agent='Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0'):
    stamp = time.strftime('%d/%b/%Y:%H:%M:%S +0000', time.gmtime(epoch))
    return '%s - - [%s] "%s %s HTTP/1.1" %d %d "-" "%s" %.3f\n' % (ip, stamp, method, path, status, size, agent, seconds)


def auth_log(now, rnd):
    lines = []
    pid = 41000
    clock = now - 3600
    users = ('deploy', 'alice', 'bob', 'backup')
    while clock < now - 5:
        pid += 1
        user = rnd.choice(users)
        ip = '10.20.%d.%d' % (rnd.randrange(4), rnd.randrange(2, 250))
        port = rnd.randrange(30000, 65000)
        lines.append((clock, _syslog(clock, 'sshd', pid, 'Accepted publickey for %s from %s port %d ssh2: ED25519 '
                                     'SHA256:p8Vt0yq1mD0lX7c3Yb2fK9sQ4wE6rT1uZ5nH8jA0gLk' % (user, ip, port))))
        lines.append((clock, _syslog(clock, 'sshd', pid, 'pam_unix(sshd:session): session opened for user %s(uid=1001) '
                                     'by (uid=0)' % user)))
        lines.append((clock + 30, _syslog(clock + 30, 'sshd', pid, 'Received disconnect from %s port %d:11: disconnected '
                                          'by user' % (ip, port))))
        lines.append((clock + 30, _syslog(clock + 30, 'sshd', pid, 'pam_unix(sshd:session): session closed for user %s'
                                          % user)))
        if rnd.random() < 0.3:
            lines.append((clock + 5, _syslog(clock + 5, 'CRON', pid + 5000, 'pam_unix(cron:session): session opened for '
                                             'user root(uid=0) by (uid=0)')))
        if rnd.random() < 0.05:   # a colleague mistyping a password now and then
            lines.append((clock + 2, _syslog(clock + 2, 'sshd', pid + 9000, 'Failed password for %s from %s port %d ssh2'
                                             % (user, ip, port + 1))))
        clock += rnd.uniform(20, 60)
    # the attack: password guessing with many user names from one address
    guesses = ('root', 'admin', 'oracle', 'postgres', 'ubuntu', 'test', 'git', 'deploy', 'jenkins', 'ftp')
    clock = now - 240
    while clock < now - 3:
        pid += 1
        user = rnd.choice(guesses)
        port = rnd.randrange(30000, 65000)
        if user in ('root', 'deploy'):
            lines.append((clock, _syslog(clock, 'sshd', pid, 'pam_unix(sshd:auth): authentication failure; logname= uid=0 '
                                         'euid=0 tty=ssh ruser= rhost=203.0.113.66  user=%s' % user)))
            lines.append((clock, _syslog(clock, 'sshd', pid, 'Failed password for %s from 203.0.113.66 port %d ssh2'
                                         % (user, port))))
        else:
            lines.append((clock, _syslog(clock, 'sshd', pid, 'Invalid user %s from 203.0.113.66 port %d' % (user, port))))
            lines.append((clock, _syslog(clock, 'sshd', pid, 'Failed password for invalid user %s from 203.0.113.66 port '
                                         '%d ssh2' % (user, port))))
        lines.append((clock + 1, _syslog(clock + 1, 'sshd', pid, 'Connection closed by %s user %s 203.0.113.66 port %d '
                                         '[preauth]' % ('authenticating' if user in ('root', 'deploy') else 'invalid',
                                                        user, port))))
        clock += rnd.uniform(1.5, 3)
    # user enumeration on publickey: no Failed lines, many names
    for index, user in enumerate(('admin', 'support', 'oracle', 'test1', 'user', 'guest', 'pi', 'mysql')):
        stamp = now - 200 + index * 7
        port = 40000 + index
        lines.append((stamp, _syslog(stamp, 'sshd', 60000 + index, 'Invalid user %s from 198.51.100.23 port %d'
                                     % (user, port))))
        lines.append((stamp + 1, _syslog(stamp + 1, 'sshd', 60000 + index, 'Connection closed by invalid user %s '
                                         '198.51.100.23 port %d [preauth]' % (user, port))))
    for index in range(5):
        stamp = now - 150 + index * 20
        lines.append((stamp, _syslog(stamp, 'sshd', 61000 + index, 'Received disconnect from 192.0.2.200 port %d:11: '
                                     'Bye Bye [preauth]' % (50000 + index))))
    lines.sort(key=lambda item: item[0])
    return ''.join(text for _stamp, text in lines)


def access_log(now, rnd):
    lines = []
    clock = now - 3600
    paths = ('/api/orders', '/api/orders/42', '/api/customers', '/health', '/api/cart', '/static/app.js')
    while clock < now - 240:
        ip = '10.30.%d.%d' % (rnd.randrange(3), rnd.randrange(2, 250))
        status = 200 if rnd.random() > 0.002 else 500
        lines.append(_access(clock, ip, 'GET', rnd.choice(paths), status, rnd.randrange(200, 5000),
                             rnd.uniform(0.01, 0.25)))
        clock += rnd.uniform(0.5, 2.5)       # ~ 40 requests per minute
    while clock < now - 2:
        ip = '10.30.%d.%d' % (rnd.randrange(3), rnd.randrange(2, 250))
        roll = rnd.random()
        if roll < 0.55:                      # the flood, answered 429 by limit_req
            lines.append(_access(clock, '198.51.100.77', 'POST', '/auth/login', 429, 169, 0.001,
                                 agent='python-requests/2.31.0'))
        elif roll < 0.60:
            lines.append(_access(clock, ip, 'GET', rnd.choice(paths), 502, 157, rnd.uniform(2.5, 6.0)))
        elif roll < 0.68:
            lines.append(_access(clock, ip, 'GET', rnd.choice(paths), 200, rnd.randrange(200, 5000),
                                 rnd.uniform(2.1, 4.0)))
        else:
            lines.append(_access(clock, ip, 'GET', rnd.choice(paths), 200, rnd.randrange(200, 5000),
                                 rnd.uniform(0.01, 0.3)))
        clock += rnd.uniform(0.05, 0.15)     # ~ 600 requests per minute
    return ''.join(lines)


def setup(env):
    """Write the demo logs under ``env['demo_dir']/logs`` (fresh each time) and an empty state directory."""
    base = os.path.join(env['demo_dir'], 'logs')
    os.makedirs(os.path.join(base, 'nginx'), exist_ok=True)
    os.makedirs(os.path.join(env['demo_dir'], 'state'), exist_ok=True)
    state = os.path.join(env['demo_dir'], 'state', 'log_scan.json')
    if os.path.exists(state):
        os.unlink(state)
    rnd = random.Random(20261124)
    now = time.time()
    older = auth_log(now - 86400, rnd)
    with gzip.open(os.path.join(base, 'auth.log.1.gz'), 'wt') as handle:
        handle.write(older)
    with open(os.path.join(base, 'auth.log'), 'w') as handle:
        handle.write(auth_log(now, rnd))
    with open(os.path.join(base, 'nginx', 'access.log'), 'w') as handle:
        handle.write(access_log(now, rnd))
    return {'auth_log': os.path.join(base, 'auth.log'), 'access_log': os.path.join(base, 'nginx', 'access.log')}


if __name__ == '__main__':
    import sys
    import tempfile
    print(setup({'demo_dir': sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix='demo-')}))
