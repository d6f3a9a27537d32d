"""log_scan against real log files written here in the exact formats of OpenSSH 9, PAM and nginx 1.22.

Every test writes real files (and rotates them for real: rename, copytruncate, gzip) and runs the scanner on them.
"""

import calendar
import datetime
import gzip
import json
import os
import random
import shutil
import subprocess
import time

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan import parsers as lp
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.log_scan import scan
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.scanner import Scanner
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.sources import gnu_grep

NOW = calendar.timegm((2026, 11, 24, 5, 14, 30, 0, 0, 0))
THRESHOLDS = {
    'failed_logins_per_minute': {'critical': 10, 'unit': '/min', 'priority': 'high'},
    'suspicious_ip_failures': {'warning': 20, 'priority': 'high'},
    'suspicious_ip_distinct_users': {'warning': 5, 'priority': 'high'},
    'suspicious_ip_rate_limited': {'warning': 50},
    'suspicious_ip_probes': {'warning': 30},
    'suspicious_ip_count': {'warning': 0, 'priority': 'high'},
    'api_error_rate': {'warning': 1, 'unit': '%'},
    'rate_limit_violations': {'warning': 100},
    'http_response_time': {'warning': 2, 'unit': 's'},
    'slow_request_share': {'warning': 5, 'unit': '%'},
    'request_rate_spike': {'warning': 3, 'critical': 10, 'priority': {'warning': 'medium', 'critical': 'high'}},
}


# ---------------------------------------------------------------- writers (exact formats)

def syslog(epoch, message, program='sshd', pid=1000, host='web-01', fmt='3164'):
    """One rsyslog line: RFC 3164 (traditional) or RFC 3339 (Debian 12 default)."""
    if fmt == '3164':
        tm = time.gmtime(epoch)
        stamp = '%s %2d %02d:%02d:%02d' % (time.strftime('%b', tm), tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
    else:
        stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec='microseconds')
    tag = '%s[%d]' % (program, pid) if pid else program
    return '%s %s %s: %s\n' % (stamp, host, tag, message)


def ssh_session_ok(epoch, pid, user='deploy', ip='10.0.0.5', port=50000):
    """A successful OpenSSH 9 login and logout (normal traffic)."""
    return ''.join([
        syslog(epoch, 'Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:Qm9vYmFyYmF6cXV4' % (user, ip, port), pid=pid),
        syslog(epoch, 'pam_unix(sshd:session): session opened for user %s(uid=1000) by (uid=0)' % user, pid=pid),
        syslog(epoch, 'New session 12 of user %s.' % user, program='systemd-logind', pid=612),
        syslog(epoch + 1, 'Received disconnect from %s port %d:11: disconnected by user' % (ip, port), pid=pid),
        syslog(epoch + 1, 'Disconnected from user %s %s port %d' % (user, ip, port), pid=pid),
        syslog(epoch + 1, 'pam_unix(sshd:session): session closed for user %s' % user, pid=pid),
    ])


def every_failure_form(epoch, fmt='3164', pids=0):
    """One connection per OpenSSH 9 / PAM failure form. 8 failed login attempts, 3 probes."""
    def s(msg, pid, **kw):
        return syslog(epoch, msg, pid=pid + pids, fmt=fmt, **kw)
    return ''.join([
        # password failure through PAM: pam line + Failed line + PAM summary: one attempt
        s('pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=root', 2001),
        s('Failed password for root from 203.0.113.5 port 51234 ssh2', 2001),
        s('PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=root', 2001),
        # invalid user with a password: one attempt
        s('Invalid user admin from 203.0.113.6 port 51236', 2002),
        s('Failed password for invalid user admin from 203.0.113.6 port 51236 ssh2', 2002),
        s('Connection closed by invalid user admin 203.0.113.6 port 51236 [preauth]', 2002),
        # public key refused: one attempt
        s('Failed publickey for git from 203.0.113.7 port 40000 ssh2: RSA SHA256:aGVsbG8gd29ybGQ', 2003),
        # invalid user on a publickey-only server: no Failed line, one attempt
        s('Invalid user oracle from 203.0.113.8 port 40001', 2004),
        s('Connection closed by invalid user oracle 203.0.113.8 port 40001 [preauth]', 2004),
        # too many attempts: the error line alone (a connection), one attempt
        s('error: maximum authentication attempts exceeded for root from 203.0.113.9 port 40002 ssh2 [preauth]', 2005),
        # key offered, refused silently, client gave up: one attempt
        s('Connection closed by authenticating user ubuntu 203.0.113.10 port 40003 [preauth]', 2006),
        s('Disconnected from authenticating user test 203.0.113.11 port 40004 [preauth]', 2007),
        # probes
        s('Received disconnect from 203.0.113.12 port 40005:11: Bye Bye [preauth]', 2008),
        s('Connection reset by 203.0.113.13 port 40006 [preauth]', 2009),
        s('Timeout before authentication for 203.0.113.14 port 40007', 2010),
        # su with a wrong password (PAM only): one attempt
        s('pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=root',
          3001, program='su'),
    ])


def nginx(epoch, ip, status, request='GET /api/orders HTTP/1.1', request_time=None, size=512):
    """nginx 1.22 ``combined``, optionally followed by ``$request_time`` (log_format main_timed)."""
    stamp = time.strftime('%d/%b/%Y:%H:%M:%S +0000', time.gmtime(epoch))
    line = '%s - - [%s] "%s" %d %d "-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"' % (ip, stamp, request, status, size)
    if request_time is not None:
        line += ' %.3f' % request_time
    return line + '\n'


def write(path, text, mode='a'):
    with open(str(path), mode + 'b') as handle:
        handle.write(text.encode() if isinstance(text, str) else text)


# How auth files are read: by Python alone, or with GNU grep finding the candidate lines (normally only for reads of
# 16 MiB or more; here for every read). Tests that take the ``reader`` fixture run both ways with the same asserts.
READERS = {'python': {'prefilter': 'never'}, 'grep': {'prefilter_min_bytes': 0}}
_reader = {}


@pytest.fixture(params=sorted(READERS))
def reader(request):
    assert gnu_grep(), 'GNU grep is part of every Debian system (Essential: yes)'
    _reader.clear()
    _reader.update(READERS[request.param])
    yield request.param
    _reader.clear()


def run_scan(sources, state, now=NOW, check_mode=False, **options):
    params = dict(sources=sources, state_file=str(state), thresholds=THRESHOLDS, now=now, utc=True)
    params.update(_reader)
    params.update(options)
    result = scan(params, check_mode=check_mode)
    if _reader.get('prefilter_min_bytes') == 0:
        for source in result['sources']:
            if source['type'] == 'auth' and source.get('bytes_read') and not source.get('error'):
                assert source.get('prefilter') == 'grep', source
    return result


def check(result, name, target=None):
    found = [c for c in result['checks'] if c['name'] == name and (target is None or c.get('target') == target)]
    assert len(found) == 1, (name, result['checks'])
    return found[0]


# ---------------------------------------------------------------- formats

@pytest.mark.parametrize('fmt', ['3164', '3339'])
@pytest.mark.parametrize('thorough', [False, True])
def test_every_openssh_and_pam_failure_form(tmp_path, fmt, thorough, reader):
    log = tmp_path / 'auth.log'
    write(log, ssh_session_ok(NOW - 100, 1500) + every_failure_form(NOW - 30, fmt) + ssh_session_ok(NOW - 20, 1501))
    result = run_scan([{'type': 'auth', 'path': str(log), 'thorough': thorough}], tmp_path / 'state.json')
    failed = result['failed_logins']
    assert failed['total'] == 8
    kinds = failed['by_kind']
    assert kinds['failed_password'] == 2 and kinds['failed_publickey'] == 1
    assert kinds['pam_failure'] == 2 and kinds['pam_more_failures'] == 1
    assert kinds['max_auth_attempts'] == 1 and kinds['closed_preauth_user'] == 4
    assert kinds['preauth_disconnect'] == 2 and kinds['preauth_timeout'] == 1
    assert kinds.get('invalid_user', 0) == (2 if thorough else 0)
    ips = dict((entry['ip'], entry['failures']) for entry in result['top_ips'])
    assert ips['203.0.113.5'] == 1 and ips['203.0.113.8'] == 1 and '203.0.113.12' not in ips
    users = dict((entry['user'], entry['failures']) for entry in result['top_users'])
    assert users['root'] == 3      # ssh password, max attempts, su
    assert check(result, 'security.failed_logins_per_minute')['status'] == 'ok'
    assert check(result, 'log_scan.source')['status'] == 'ok'


@pytest.mark.parametrize('odd_line, expected', [
    ('', 3),                                                                          # bulk path
    ('Failed password for invalid user Failed from 203.0.113.78 port 2 ssh2', 4),     # needle twice: line by line
    ('pam_unix(sshd:auth): Failed to do something', 3),                               # needle, other form
])
def test_a_line_matching_both_needles_counts_once(tmp_path, odd_line, expected, reader):
    log = tmp_path / 'auth.log'
    text = syslog(NOW - 60, 'Failed password for oauth from 203.0.113.77 port 1 ssh2', pid=1)       # 'auth' too
    text += syslog(NOW - 59, 'Failed publickey for authbot from 203.0.113.77 port 2 ssh2: RSA SHA256:x', pid=2)
    text += syslog(NOW - 58, 'Connection closed by authenticating user oauth 203.0.113.77 port 1 [preauth]', pid=1)
    text += syslog(NOW - 57, 'Failed none for root from 203.0.113.79 port 3 ssh2', pid=3)
    if odd_line:
        text += syslog(NOW - 56, odd_line, pid=4)
    write(log, text)
    result = run_scan([{'type': 'auth', 'path': str(log)}], tmp_path / 'state.json')
    assert total(result) == expected
    assert result['failed_logins']['by_kind']['closed_preauth_user'] == 1


@pytest.mark.parametrize('fmt', ['3164', '3339'])
def test_user_names_cannot_choose_the_counted_address(tmp_path, fmt, reader):
    """OpenSSH logs the name a client sent; a name holding "from <ip> port <n>" or "rhost=" must not make the
    scanner blame (and the incident playbooks block) an address of the attacker's choosing."""
    log = tmp_path / 'auth.log'
    decoy = '192.0.2.66'
    text = ''.join(syslog(NOW - 40 + i, message, pid=700 + i - (i > 2), fmt=fmt) for i, message in enumerate([
        'Failed password for invalid user x from %s port 22 from 203.0.113.90 port 40000 ssh2' % decoy,
        'Failed password for root from %s port 22 ssh2 from 203.0.113.90 port 40001 ssh2' % decoy,
        'Invalid user y from %s port 1 from 203.0.113.91 port 40002' % decoy,
        'Connection closed by invalid user y from %s port 1 203.0.113.91 port 40002 [preauth]' % decoy,
        'error: maximum authentication attempts exceeded for z from %s port 1 from 203.0.113.92 port 40003 ssh2 [preauth]'
        % decoy,
        'Connection closed by authenticating user w %s port 1 203.0.113.93 port 40004 [preauth]' % decoy,
        'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.94  '
        'user=v rhost=%s' % decoy,
    ]))
    write(log, text)
    result = run_scan([{'type': 'auth', 'path': str(log), 'thorough': True}], tmp_path / 'state.json')
    ips = dict((entry['ip'], entry['failures']) for entry in result['top_ips'])
    assert decoy not in ips and decoy not in result['suspicious_ips']
    assert ips == {'203.0.113.90': 2, '203.0.113.91': 1, '203.0.113.92': 1, '203.0.113.93': 1}
    # the PAM line of sshd is not an attempt of its own (sshd logs one), but its address is the first rhost=
    assert lp.classify_auth(b'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= '
                            b'rhost=203.0.113.94  user=v rhost=192.0.2.66')[1] == b'203.0.113.94'


def test_rfc3339_stamps_with_a_numeric_zone_count_at_their_utc_minute(tmp_path, reader):
    """rsyslog's RFC 3339 stamps carry the host's offset; the minute is the UTC one whatever the offset. The file
    switches format after its first line (rsyslog reconfigured): both count."""
    log = tmp_path / 'auth.log'
    write(log, 'Nov 24 05:11:09 web-01 sshd[9]: Failed password for root from 203.0.113.5 port 9 ssh2\n'
               '2026-11-24T07:14:03.123456+02:00 web-01 sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n'
               '2026-11-24T00:13:59-05:00 web-01 sshd[2]: Failed password for root from 203.0.113.5 port 2 ssh2\n'
               '2026-11-24T05:12:00Z web-01 sshd[3]: Connection closed by authenticating user bob 203.0.113.6 port 3 '
               '[preauth]\n')
    result = run_scan([{'type': 'auth', 'path': str(log)}], tmp_path / 'state.json')
    assert result['failed_logins']['per_minute'] == {'2026-11-24T05:11:00Z': 1, '2026-11-24T05:12:00Z': 1,
                                                     '2026-11-24T05:13:00Z': 1, '2026-11-24T05:14:00Z': 1}
    assert result['failed_logins']['by_kind'] == {'failed_password': 3, 'closed_preauth_user': 1}


def test_state_files_of_earlier_versions_keep_their_users_per_address(tmp_path, reader):
    """Before 1.1 the state kept the users each address tried per minute ("iu"); they still count."""
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    minute = NOW // 60 - 2
    state.write_text(json.dumps({'version': 1, 'files': {}, 'journal': {}, 'connections': {}, 'buckets': {
        str(minute): {'a': 4, 'k': {'failed_password': 4}, 'fi': {'198.51.100.4': 4},
                      'fu': {'u1': 1, 'u2': 1, 'u3': 1, 'u4': 1}, 'iu': {'198.51.100.4': ['u1', 'u2', 'u3', 'u4']}}}}))
    write(log, ''.join(syslog(NOW - 20 + i, 'Failed password for invalid user %s from 198.51.100.4 port %d ssh2'
                              % (user, 100 + i), pid=500 + i) for i, user in enumerate(['u4', 'u5', 'u6'])))
    result = run_scan([{'type': 'auth', 'path': str(log)}], state)
    details = dict((d['ip'], d) for d in result['suspicious_ip_details'])
    assert details['198.51.100.4']['distinct_users'] == 6 and total(result) == 7
    saved = json.loads(state.read_text())
    assert 'iu' not in saved['buckets'][str(minute)]
    assert sorted(saved['seen']['198.51.100.4']) == ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']
    assert saved['seen']['198.51.100.4']['u4'] == NOW // 60      # the latest minute that address tried u4


def test_only_recent_connections_are_remembered_for_the_next_run(tmp_path, reader):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 3600, 50, pid=1000) + failures(NOW - 120, 3, pid=5000))
    run_scan([{'type': 'auth', 'path': str(log)}], state, history_minutes=120)
    remembered = json.loads(state.read_text())['connections']['auth:%s' % log]['attempted']
    assert sorted(remembered) == ['web-01 5000', 'web-01 5001', 'web-01 5002']


def _month_log(month, day):
    """The same traffic stamped in another month: many lines starting with the needle's first byte in February."""
    base = calendar.timegm((2026, month, day, 5, 0, 0, 0, 0, 0))
    text = ''
    for i in range(300):
        text += ssh_session_ok(base + i * 5, 1500 + i)
    text += every_failure_form(base + 1600)
    for i in range(30):
        text += syslog(base + 1700 + i, 'Failed password for root from 198.51.100.%d port %d ssh2' % (i % 7, 3000 + i),
                       pid=5000 + i)
    return base + 1800, text


def test_february_logs_count_the_same_as_november_logs(tmp_path):
    """In February every line starts with "F": finding "Failed " by its first byte stops being cheap, the scanner
    switches to the regular-expression search for that needle, and the counts stay the same."""
    results = {}
    finders = {}
    for month, day in ((11, 17), (2, 17)):
        now, text = _month_log(month, day)
        log = tmp_path / ('auth-%d.log' % month)
        write(log, text)
        scanner = Scanner([{'type': 'auth', 'path': str(log)}], str(tmp_path / ('state-%d.json' % month)), now=now,
                          thresholds=THRESHOLDS, utc=True)
        results[month] = scanner.run()
        finders[month] = list(scanner.collector._finders.values())[0]
    assert finders[2].memchr == [False, False]       # "F" everywhere; "auth": "a" everywhere
    november, february = results[11]['failed_logins'], results[2]['failed_logins']
    assert november['total'] == february['total'] == 38
    assert november['by_kind'] == february['by_kind']
    assert results[11]['top_ips'] == results[2]['top_ips']


@pytest.mark.parametrize('seed', range(6))
def test_line_finder_agrees_with_a_plain_line_by_line_search(seed):
    rnd = random.Random(seed)
    words = [b'Failed ', b'auth', b'F', b'Fa', b'au', b'x', b'Invalid user ', b'Failed', b'\xff', b' ']
    lines = [b''.join(rnd.choice(words) for dummy in range(rnd.randrange(0, 12)))
             for dummy2 in range(rnd.randrange(1, 400))]
    buf = b'\n'.join(lines) + b'\n'
    start = rnd.randrange(0, len(buf) // 2)          # anywhere, not only at a line start
    end = rnd.randrange(start, len(buf) + 1)
    finder = lp.LineFinder(lp.AUTH_NEEDLES_THOROUGH)
    if seed % 2:
        finder.memchr = [False] * 3                   # the regular-expression search
    for index, needle in enumerate(finder.needles):
        expected = {}
        line_start = start
        while line_start < end:
            cut = buf.find(b'\n', line_start, end)
            line_end = end if cut < 0 else cut
            if needle in buf[line_start:line_end]:
                expected[line_start] = line_end
            line_start = line_end + 1
        assert finder.lines(buf, start, end, index) == expected, (needle, start, end)


def test_failed_logins_per_minute_peak_and_current_against_threshold(tmp_path, reader):
    log = tmp_path / 'auth.log'
    text = ''
    for i in range(14):     # 14 in the minute 05:12
        text += syslog(NOW - 150 + i, 'Failed password for root from 198.51.100.%d port %d ssh2' % (i, 4000 + i), pid=100 + i)
    for i in range(3):      # 3 in the current minute 05:14
        text += syslog(NOW - 20 + i, 'Failed password for admin from 198.51.100.77 port %d ssh2' % (5000 + i), pid=300 + i)
    write(log, text)
    result = run_scan([{'type': 'auth', 'path': str(log)}], tmp_path / 'state.json')
    assert result['failed_logins']['peak_per_minute'] == 14
    assert result['failed_logins']['current_per_minute'] == 3
    assert result['failed_logins']['peak_minute'] == '2026-11-24T05:12:00Z'
    flagged = check(result, 'security.failed_logins_per_minute')
    assert flagged['status'] == 'critical' and flagged['priority'] == 'high' and flagged['value'] == 14
    assert flagged['threshold'] == 10


def test_year_inference_around_new_year():
    new_year = calendar.timegm((2027, 1, 1, 0, 0, 30, 0, 0, 0))
    clock = lp.MinuteClock(new_year, utc=True)
    assert clock.rfc3164(b'Dec 31 23:59:58') == calendar.timegm((2026, 12, 31, 23, 59, 0, 0, 0, 0)) // 60
    assert clock.rfc3164(b'Jan  1 00:00:10') == calendar.timegm((2027, 1, 1, 0, 0, 0, 0, 0, 0)) // 60
    late = lp.MinuteClock(calendar.timegm((2026, 12, 31, 23, 59, 59, 0, 0, 0)), utc=True)
    # a line from a host whose clock runs a few seconds ahead, already in the new year
    assert late.rfc3164(b'Jan  1 00:00:05') == calendar.timegm((2027, 1, 1, 0, 0, 0, 0, 0, 0)) // 60
    leap = lp.MinuteClock(calendar.timegm((2029, 3, 1, 0, 0, 0, 0, 0, 0)), utc=True)
    assert leap.rfc3164(b'Feb 29 12:00:00') == calendar.timegm((2028, 2, 29, 12, 0, 0, 0, 0, 0)) // 60
    assert clock.rfc3164(b'Foo 31 23:59:58') is None
    assert clock.rfc3339(b'2026-11-24T05:14:45.123456+01:00') == calendar.timegm((2026, 11, 24, 4, 14, 0, 0, 0, 0)) // 60
    assert clock.rfc3339(b'2026-11-24T05:14:45Z') == calendar.timegm((2026, 11, 24, 5, 14, 0, 0, 0, 0)) // 60
    assert clock.rfc3339(b'2026-13-24T05:14:45Z') is None


# ---------------------------------------------------------------- incremental reading and rotation

def failures(start, count, ip='203.0.113.50', pid=7000, user='root'):
    return ''.join(syslog(start + i * 0.5, 'Failed password for %s from %s port %d ssh2' % (user, ip, 30000 + i), pid=pid + i)
                   for i in range(count))


def total(result):
    return result['failed_logins']['total']


def test_incremental_reads_only_new_bytes_and_never_counts_twice(tmp_path, reader):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 200, 5))
    first = run_scan([{'type': 'auth', 'path': str(log)}], state)
    assert total(first) == 5
    size = os.path.getsize(log)
    assert first['sources'][0]['cursor']['offset'] == size
    again = run_scan([{'type': 'auth', 'path': str(log)}], state)
    assert again['sources'][0]['bytes_read'] == 0 and total(again) == 5 and again['changed'] is False
    # half a line written: not consumed until complete
    line = failures(NOW - 100, 1, pid=9000)
    write(log, failures(NOW - 120, 3, pid=8000) + line[:20])
    third = run_scan([{'type': 'auth', 'path': str(log)}], state)
    assert total(third) == 8
    assert third['sources'][0]['cursor']['offset'] == os.path.getsize(log) - 20
    write(log, line[20:])
    fourth = run_scan([{'type': 'auth', 'path': str(log)}], state)
    assert total(fourth) == 9
    assert fourth['sources'][0]['bytes_read'] == len(line)


@pytest.mark.parametrize('thorough', [False, True])
def test_a_connection_split_between_two_runs_counts_once(tmp_path, thorough, reader):
    """A 5-minute job cuts connections in two: "Invalid user" in one run, its "Failed" line in the next; "Failed" in
    one run, "Connection closed by ..." in the next. Each connection is still one attempt."""
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    source = [{'type': 'auth', 'path': str(log), 'thorough': thorough}]
    write(log, syslog(NOW - 30, 'Invalid user admin from 203.0.113.50 port 4000', pid=901) +
          syslog(NOW - 20, 'Failed password for root from 203.0.113.51 port 4001 ssh2', pid=902))
    first = run_scan(source, state)
    assert total(first) == 1                         # the Failed line; the invalid user waits for its next line
    if thorough:
        assert 'wait one run' in ' '.join(first['sources'][0]['notes'])
    write(log, syslog(NOW + 10, 'Failed password for invalid user admin from 203.0.113.50 port 4000 ssh2', pid=901) +
          syslog(NOW + 11, 'Connection closed by invalid user admin 203.0.113.50 port 4000 [preauth]', pid=901) +
          syslog(NOW + 12, 'Connection closed by authenticating user root 203.0.113.51 port 4001 [preauth]', pid=902))
    second = run_scan(source, state, now=NOW + 60)
    ips = dict((entry['ip'], entry['failures']) for entry in second['top_ips'])
    assert ips == {'203.0.113.50': 1, '203.0.113.51': 1}
    assert total(second) == 2


def test_an_invalid_user_without_a_next_line_counts_in_the_next_run_at_its_own_minute(tmp_path, reader):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    source = [{'type': 'auth', 'path': str(log), 'thorough': True}]
    write(log, syslog(NOW - 30, 'Invalid user oracle from 203.0.113.52 port 4002', pid=903))
    assert total(run_scan(source, state)) == 0
    write(log, syslog(NOW + 200, 'Accepted publickey for deploy from 10.0.0.5 port 5 ssh2: ED25519 SHA256:abc', pid=904))
    later = run_scan(source, state, now=NOW + 300)
    assert total(later) == 1
    assert later['failed_logins']['per_minute'] == {'2026-11-24T05:14:00Z': 1}
    assert later['top_ips'][0]['ip'] == '203.0.113.52'
    with open(str(state)) as handle:
        assert json.load(handle).get('connections', {}) == {}       # nothing left waiting or remembered for long


def test_rotation_rename_and_new_file_finishes_the_old_file(tmp_path, reader):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 300, 4))
    assert total(run_scan([{'type': 'auth', 'path': str(log)}], state)) == 4
    write(log, failures(NOW - 250, 3, pid=8000))            # written before rotation, not yet read
    os.rename(log, str(log) + '.1')                         # logrotate "create"
    write(log, failures(NOW - 200, 2, pid=9000), mode='w')
    result = run_scan([{'type': 'auth', 'path': str(log)}], state)
    assert total(result) == 9
    notes = ' '.join(result['sources'][0]['notes'])
    assert 'rotated: finished %s.1' % log in notes
    assert total(run_scan([{'type': 'auth', 'path': str(log)}], state)) == 9


def test_rotation_with_gzip_of_the_rotated_file(tmp_path, reader):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 300, 4))
    assert total(run_scan([{'type': 'auth', 'path': str(log)}], state)) == 4
    read_so_far = os.path.getsize(log)
    write(log, failures(NOW - 250, 6, pid=8000))
    rotated = str(log) + '.1'
    os.rename(log, rotated)
    with open(rotated, 'rb') as source, gzip.open(rotated + '.gz', 'wb') as target:   # no delaycompress
        shutil.copyfileobj(source, target)
    os.unlink(rotated)
    write(log, failures(NOW - 200, 1, pid=9000), mode='w')
    result = run_scan([{'type': 'auth', 'path': str(log)}], state)
    assert total(result) == 11
    assert result['sources'][0]['read_from'] == [{'path': rotated + '.gz', 'offset': read_so_far},
                                                 {'path': str(log), 'offset': 0}]
    assert total(run_scan([{'type': 'auth', 'path': str(log)}], state)) == 11


@pytest.mark.parametrize('compress', [False, True])
def test_copytruncate_finishes_the_copy(tmp_path, compress, reader):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 300, 4))
    assert total(run_scan([{'type': 'auth', 'path': str(log)}], state)) == 4
    write(log, failures(NOW - 250, 5, pid=8000))
    shutil.copyfile(log, str(log) + '.1')                  # logrotate copytruncate
    with open(log, 'r+b') as handle:
        handle.truncate(0)
    if compress:                                           # ... and compress (no delaycompress)
        with open(str(log) + '.1', 'rb') as source, gzip.open(str(log) + '.1.gz', 'wb') as target:
            shutil.copyfileobj(source, target)
        os.unlink(str(log) + '.1')
    write(log, failures(NOW - 200, 2, pid=9000))
    result = run_scan([{'type': 'auth', 'path': str(log)}], state)
    assert total(result) == 11
    assert 'copytruncate' in ' '.join(result['sources'][0]['notes'])
    assert check(result, 'log_scan.source')['status'] == 'ok'


def test_copytruncate_when_new_data_outgrew_the_old_offset(tmp_path, reader):
    """The new content is longer than the old offset: the head hash, not the size, shows the truncation."""
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 300, 2))
    assert total(run_scan([{'type': 'auth', 'path': str(log)}], state)) == 2
    shutil.copyfile(log, str(log) + '.1')
    with open(log, 'r+b') as handle:
        handle.truncate(0)
    write(log, failures(NOW - 200, 6, pid=9000, ip='203.0.113.60'))
    result = run_scan([{'type': 'auth', 'path': str(log)}], state)
    assert total(result) == 8


def test_truncated_between_runs_without_a_copy_is_a_warning(tmp_path, reader):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 300, 6))
    assert total(run_scan([{'type': 'auth', 'path': str(log)}], state)) == 6
    with open(log, 'r+b') as handle:
        handle.truncate(0)
    write(log, failures(NOW - 100, 1, pid=9000))
    result = run_scan([{'type': 'auth', 'path': str(log)}], state)
    assert total(result) == 7
    source = check(result, 'log_scan.source')
    assert source['status'] == 'warning' and 'truncated' in source['reason'] and 'tampering' in source['reason']


def test_file_replaced_by_another(tmp_path, reader):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 300, 3))
    assert total(run_scan([{'type': 'auth', 'path': str(log)}], state)) == 3
    replacement = tmp_path / 'new.log'
    write(replacement, failures(NOW - 100, 2, pid=9000, ip='203.0.113.99') + failures(NOW - 90, 10, pid=9100, ip='203.0.113.98'))
    os.rename(replacement, log)
    result = run_scan([{'type': 'auth', 'path': str(log)}], state)
    assert total(result) == 15
    assert 'replaced' in ' '.join(result['sources'][0]['notes'])


def test_start_at_end_skips_the_backlog(tmp_path, reader):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 300, 30))
    assert total(run_scan([{'type': 'auth', 'path': str(log), 'start_at': 'end'}], state)) == 0
    write(log, failures(NOW - 60, 2, pid=9000))
    assert total(run_scan([{'type': 'auth', 'path': str(log), 'start_at': 'end'}], state)) == 2


def _fake_grep(tmp_path, body):
    """A ``grep`` for the scanner: a shell script that does ``body`` (with "$@" the scanner's arguments), mostly
    running the real grep. A stand-in because a grep that dies half-way, or a file that grows exactly while grep
    reads it, cannot be had on demand otherwise."""
    path = tmp_path / 'grep'
    path.write_text('#!/bin/sh\nif [ "$1" = --version ]; then exec grep --version; fi\n' + body + '\n')
    path.chmod(0o755)
    return str(path)


def _grep_scan(tmp_path, log, state, grep, **options):
    scanner = Scanner([{'type': 'auth', 'path': str(log)}], str(state), thresholds=THRESHOLDS, now=NOW, utc=True,
                      prefilter_min_bytes=0, grep=grep, **options)
    result = scanner.run()
    scanner.save_state()
    return result


def test_grep_prefilter_drops_what_the_file_gained_during_the_read(tmp_path):
    """Lines appended while grep reads (a busy auth.log) are past the planned end: grep's byte offsets drop them,
    the cursor stays at the planned end, and the next run counts them once."""
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    partial = 'Nov 24 05:10:00 web-01 sshd[1]: Failed password for root from 203.0.113.9 po'
    write(log, failures(NOW - 300, 4) + partial)
    planned = os.path.getsize(log)
    late = failures(NOW - 200, 3, pid=8000)
    grep = _fake_grep(tmp_path, "printf 'rt 22 ssh2\\n%s' >> '%s'\nexec grep \"$@\"" % (late.replace('%', '%%'), log))
    first = _grep_scan(tmp_path, log, state, grep)
    assert total(first) == 4
    assert first['sources'][0]['prefilter'] == 'grep'
    assert first['sources'][0]['cursor']['offset'] == planned - len(partial)
    second = _grep_scan(tmp_path, log, state, 'grep')
    assert total(second) == 4 + 1 + 3
    assert second['sources'][0]['cursor']['offset'] == os.path.getsize(log)


@pytest.mark.parametrize('body, note', [
    ('grep "$@" | head -c 700; exit 2', 'grep exited with 2'),                       # dies half-way
    ('echo "999999:Nov 24 05:10:00 nothing" ; exit 0', 'do not match the file'),     # offsets from elsewhere
    ('exit 2', 'grep exited with 2'),                                               # dies at once
])
def test_a_failing_grep_hands_over_to_the_plain_reader_without_losing_or_doubling_lines(tmp_path, body, note):
    log = tmp_path / 'auth.log'
    write(log, failures(NOW - 300, 20) + every_failure_form(NOW - 100) + failures(NOW - 50, 7, pid=9000))
    expected = run_scan([{'type': 'auth', 'path': str(log)}], tmp_path / 'plain.json', prefilter='never')
    result = _grep_scan(tmp_path, log, tmp_path / 'state.json', _fake_grep(tmp_path, body))
    assert 'prefilter' not in result['sources'][0]
    assert note in ' '.join(result['sources'][0]['notes'])
    for key in ('failed_logins', 'top_ips', 'top_users', 'suspicious_ips'):
        assert result[key] == expected[key], key
    assert result['sources'][0]['cursor'] == expected['sources'][0]['cursor']
    assert result['sources'][0]['bytes_read'] == os.path.getsize(log)


def test_grep_offsets_counted_from_the_file_start_are_understood(tmp_path):
    """Some grep versions count -b offsets from the start of the file, not from where they started reading."""
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 300, 5))
    assert total(_grep_scan(tmp_path, log, state, 'grep')) == 5
    write(log, failures(NOW - 200, 6, pid=8000))
    absolute = _fake_grep(tmp_path, 'start=$(python3 -c "import os; print(os.lseek(0, 0, os.SEEK_CUR))")\n'
                                    'grep "$@" | awk -F: -v s="$start" \'{o=$1; sub(/^[0-9]+:/, ""); '
                                    'printf "%d:%s\\n", o + s, $0}\'')
    result = _grep_scan(tmp_path, log, state, absolute)
    assert result['sources'][0]['prefilter'] == 'grep' and total(result) == 11


def test_an_interrupted_parse_does_not_leave_grep_running(tmp_path, monkeypatch):
    """A parse error is skipped and counted (see the next test); an interrupt (the task being stopped) goes through,
    and grep must not outlive it."""
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan import collector

    def broken(self, buf, start, end):
        raise KeyboardInterrupt('task stopped')

    monkeypatch.setattr(collector.Collector, 'feed_auth_lines', broken)
    log = tmp_path / 'auth.log'
    write(log, failures(NOW - 300, 5000))
    started = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, 'Popen', popen)
    with pytest.raises(KeyboardInterrupt):
        _grep_scan(tmp_path, log, tmp_path / 'state.json', 'grep')
    grep = [process for process in started if '-b' in process.args]
    assert len(grep) == 1 and grep[0].returncode is not None      # reaped: no zombie, nothing left running


@pytest.mark.parametrize('method', ['feed_auth_lines', 'feed_auth_text'])
def test_a_parse_error_in_a_block_of_syslog_lines_skips_and_counts_that_block(tmp_path, monkeypatch, method):
    """The bulk parse of auth files has no known line that breaks it (the hostile-line tests above try), so a parser
    that raises on one block stands in for a bug not found yet: the lines of that block (one read chunk: here the
    whole small file) are skipped and counted, the cursor moves on, grep (``feed_auth_lines``) is reaped, and the next
    run counts what is new."""
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan import collector
    real = getattr(collector.Collector, method)

    def broken_on_pid_7(self, buf, start, end, *args):
        if b'sshd[7]' in buf[start:end]:
            raise RuntimeError('parse failed')
        return real(self, buf, start, end, *args)

    monkeypatch.setattr(collector.Collector, method, broken_on_pid_7)
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 300, 3) + syslog(NOW - 200, 'Failed password for x from 203.0.113.9 port 1 ssh2', pid=7))
    options = {'prefilter_min_bytes': 0} if method == 'feed_auth_lines' else {'prefilter': 'never'}
    result = run_scan([{'type': 'auth', 'path': str(log)}], state, **options)
    assert result['sources'][0]['unreadable_lines'] == 4 and total(result) == 0
    assert '4 unreadable lines skipped (RuntimeError: parse failed)' in check(result, 'log_scan.source')['reason']
    assert json.loads(state.read_text())['files']['auth:%s' % log]['offset'] == os.path.getsize(str(log))
    write(log, failures(NOW - 100, 2, pid=8000))
    result = run_scan([{'type': 'auth', 'path': str(log)}], state, **options)
    assert result['sources'][0]['unreadable_lines'] == 0 and total(result) == 2


@pytest.mark.parametrize('grep', ['busybox', 'missing'])
def test_without_gnu_grep_the_plain_reader_reads(tmp_path, grep):
    log = tmp_path / 'auth.log'
    write(log, failures(NOW - 300, 5))
    if grep == 'busybox':
        path = tmp_path / 'grep'
        path.write_text('#!/bin/sh\necho "BusyBox v1.36.1 (2023-06-10) multi-call binary."\nexit 0\n')
        path.chmod(0o755)
        grep = str(path)
    else:
        grep = str(tmp_path / 'no-such-grep')
    result = _grep_scan(tmp_path, log, tmp_path / 'state.json', grep)
    assert total(result) == 5 and 'prefilter' not in result['sources'][0]


def test_parallel_workers_give_the_same_result_as_one_process(tmp_path, monkeypatch, reader):
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan import sources as log_sources
    monkeypatch.setattr(log_sources, 'PARALLEL_MIN_BYTES', 1)
    log = tmp_path / 'auth.log'
    text = ''
    for i in range(300):
        text += ssh_session_ok(NOW - 500 + i, 1000 + i)
        if i % 3 == 0:
            text += every_failure_form(NOW - 500 + i, pids=i * 100000)
        text += failures(NOW - 500 + i, 2, ip='203.0.113.%d' % (i % 9), pid=20000 + i * 10)
    write(log, text + 'Nov 24 05:14:00 web-01 sshd[9]: Failed password for root from 203.0.113.200 port 1 ss')
    serial = run_scan([{'type': 'auth', 'path': str(log)}], tmp_path / 'serial.json', workers=1)
    parallel = run_scan([{'type': 'auth', 'path': str(log)}], tmp_path / 'parallel.json', workers=3)
    assert parallel['sources'][0]['workers'] == 3
    for key in ('failed_logins', 'top_ips', 'top_users', 'suspicious_ips', 'suspicious_ip_details'):
        assert parallel[key] == serial[key], key
    assert parallel['sources'][0]['cursor'] == serial['sources'][0]['cursor']
    assert parallel['sources'][0]['bytes_read'] == serial['sources'][0]['bytes_read'] == os.path.getsize(log)
    assert serial['failed_logins']['total'] == 100 * 8 + 600
    assert json.loads((tmp_path / 'serial.json').read_text())['buckets'] == \
        json.loads((tmp_path / 'parallel.json').read_text())['buckets']


# ---------------------------------------------------------------- check mode

def test_check_mode_does_not_move_the_cursor(tmp_path, reader):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 300, 4))
    dry = run_scan([{'type': 'auth', 'path': str(log)}], state, check_mode=True)
    assert total(dry) == 4 and dry['changed'] is True and dry['state_saved'] is False
    assert not state.exists()
    real = run_scan([{'type': 'auth', 'path': str(log)}], state)
    before = state.read_bytes()
    write(log, failures(NOW - 100, 3, pid=9000))
    for dummy in range(2):
        dry = run_scan([{'type': 'auth', 'path': str(log)}], state, check_mode=True)
        assert total(dry) == 7 and dry['changed'] is True and dry['state_saved'] is False
        assert state.read_bytes() == before
    assert real['state_saved'] is True
    assert total(run_scan([{'type': 'auth', 'path': str(log)}], state)) == 7
    assert state.read_bytes() != before


# ---------------------------------------------------------------- suspicious IPs, allow-list

def test_suspicious_ips_by_failures_and_by_distinct_users_minus_allow_list(tmp_path, reader):
    log = tmp_path / 'auth.log'
    text = failures(NOW - 400, 25, ip='203.0.113.66')                         # > 20 failures
    users = ['root', 'admin', 'oracle', 'test', 'ubuntu', 'postgres', 'git']  # 7 distinct users > 5
    text += ''.join(syslog(NOW - 300 + i, 'Failed password for invalid user %s from 198.51.100.4 port %d ssh2' % (u, 100 + i),
                           pid=500 + i) for i, u in enumerate(users))
    text += failures(NOW - 200, 40, ip='10.1.2.3', pid=9000)                  # allow-listed
    text += failures(NOW - 100, 3, ip='198.51.100.200', pid=9900)             # below every limit
    write(log, text)
    result = run_scan([{'type': 'auth', 'path': str(log)}], tmp_path / 'state.json', allow_list=['10.0.0.0/8'])
    assert result['suspicious_ips'] == ['203.0.113.66', '198.51.100.4']
    details = dict((d['ip'], d) for d in result['suspicious_ip_details'])
    assert details['203.0.113.66']['reasons'] == ['25 failed logins > 20']
    assert details['198.51.100.4']['reasons'] == ['7 distinct users > 5']
    flagged = check(result, 'security.suspicious_ips')
    assert flagged['status'] == 'warning' and flagged['priority'] == 'high' and flagged['value'] == 2
    assert '203.0.113.66' in flagged['reason']
    top = dict((e['ip'], e) for e in result['top_ips'])
    assert top['10.1.2.3']['allow_listed'] is True and top['10.1.2.3']['failures'] == 40


def test_bad_allow_list_entry_is_a_clear_error(tmp_path):
    with pytest.raises(MaintenanceError, match='allow_list entry'):
        Scanner([{'type': 'auth', 'path': str(tmp_path / 'x')}], str(tmp_path / 's'), allow_list=['not-an-ip'])


# ---------------------------------------------------------------- bad input

def test_binary_garbage_long_lines_and_lines_without_timestamps(tmp_path, reader):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    rnd = random.Random(7)
    garbage = bytes(rnd.randrange(256) for dummy in range(200000))
    long_line = b'Nov 24 05:13:00 web-01 sshd[42]: Failed password for ' + b'A' * 1000000 + b' from 203.0.113.1 port 1 ssh2\n'
    huge_line = b'x' * (3 << 20) + b' Failed password for root from 203.0.113.2 port 2 ssh2\n'
    text = (failures(NOW - 300, 2).encode() + garbage + b'\n' + long_line + huge_line +
            b'sshd[77]: Failed password for root from 203.0.113.3 port 3 ssh2\n' +        # no timestamp
            b'\x00\x00\xff\xfe Invalid user \xff\xfe from 203.0.113.4 port 4\n' +
            failures(NOW - 100, 3, pid=9000).encode())
    write(log, text)
    result = run_scan([{'type': 'auth', 'path': str(log), 'thorough': True}], state)
    source = result['sources'][0]
    assert total(result) == 6          # 2 + the 1 MB line + 3
    assert source['oversized_lines'] == 1
    assert source['events_without_timestamp'] >= 1
    reason = check(result, 'log_scan.source')['reason']
    assert 'longer than' in reason and 'without a readable timestamp' in reason
    # nothing counted twice on the next run
    assert total(run_scan([{'type': 'auth', 'path': str(log), 'thorough': True}], state)) == 6


def test_missing_and_unreadable_sources_are_reported_and_the_others_still_run(tmp_path):
    log = tmp_path / 'auth.log'
    write(log, failures(NOW - 100, 12))
    result = run_scan([{'type': 'auth', 'path': str(tmp_path / 'missing.log')},
                       {'type': 'auth', 'path': str(tmp_path)},
                       {'type': 'auth', 'path': str(log)}], tmp_path / 'state.json')
    missing = check(result, 'log_scan.source', str(tmp_path / 'missing.log'))
    assert missing['status'] == 'unknown' and 'does not exist' in missing['reason']
    directory = check(result, 'log_scan.source', str(tmp_path))
    assert directory['status'] == 'critical' and 'not a regular file' in directory['reason']
    assert check(result, 'security.failed_logins_per_minute')['status'] == 'critical'


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which('runuser') or not os.path.exists('/usr/bin/python3'),
                    reason='needs root (to switch to nobody) and the system python')
def test_permission_denied_as_an_unprivileged_user(tmp_path):
    """Root reads everything, so the scan runs as nobody against a root-only file (a real EACCES).
    The module_utils are copied next to the script because nobody cannot enter the venv's home."""
    import tempfile
    base = tempfile.mkdtemp(prefix='log-scan-eacces-')
    request_cleanup = shutil.rmtree
    os.chmod(base, 0o755)
    tmp_path = type(tmp_path)(base)
    log = tmp_path / 'auth.log'
    write(log, failures(NOW - 100, 2))
    os.chmod(str(log), 0o600)
    work = tmp_path / 'work'
    package = work / 'ansible_collections' / 'autopilotcx' / 'maintenance' / 'plugins' / 'module_utils'
    source_dir = os.path.dirname(os.path.dirname(lp.__file__))  # module_utils/, above the log_scan package
    shutil.copytree(source_dir, str(package), ignore=shutil.ignore_patterns('__pycache__'))
    for root, dirs, files in os.walk(str(work)):
        os.chmod(root, 0o777)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    script = work / 'run.py'
    script.write_text(
        'import json, sys\n'
        'sys.path.insert(0, %r)\n'
        'from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.log_scan import scan\n'
        'print(json.dumps(scan({"sources": [{"type": "auth", "path": %r}], "state_file": %r, "now": %r})))\n'
        % (str(work), str(log), str(work / 'state.json'), NOW))
    try:
        out = subprocess.run(['runuser', '-u', 'nobody', '--', '/usr/bin/python3', str(script)], capture_output=True,
                             text=True, check=False, timeout=60)
    finally:
        request_cleanup(base, ignore_errors=True)
    assert out.returncode == 0, out.stderr
    assert 'Traceback' not in out.stderr
    result = json.loads(out.stdout)
    source = [c for c in result['checks'] if c['name'] == 'log_scan.source'][0]
    assert source['status'] == 'critical' and 'permission denied' in source['reason']
    assert result['failed_logins']['total'] == 0


def test_damaged_state_file_starts_over(tmp_path):
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    write(log, failures(NOW - 100, 2))
    state.write_bytes(b'{not json')
    result = run_scan([{'type': 'auth', 'path': str(log)}], state)
    assert total(result) == 2 and 'started over' in result['state_note']
    assert json.loads(state.read_text())['version'] == 1


# ---------------------------------------------------------------- access logs

def test_nginx_combined_with_request_time(tmp_path):
    log, state = tmp_path / 'access.log', tmp_path / 'state.json'
    text = ''
    for i in range(200):
        status = 200
        if i % 50 == 0:
            status = 502                                   # 4 of 200 = 2 %
        text += nginx(NOW - 240 + i, '192.0.2.%d' % (i % 7 + 1), status, request_time=0.05 + (3.0 if i % 20 == 0 else 0))
    for i in range(60):
        text += nginx(NOW - 100 + i, '203.0.113.80', 429, request='POST /auth/login HTTP/1.1', request_time=0.001)
    text += '192.0.2.1 - - [24/Nov/2026:05:14:00 +0000] "\\x16\\x03\\x01\\x00" 400 157 "-" "-" 0.000\n'   # TLS on plain port
    write(log, text)
    result = run_scan([{'type': 'access', 'path': str(log)}], state)
    http = result['http']
    assert http['requests'] == 261 and http['errors_5xx'] == 4 and http['rate_limited'] == 60
    assert http['rate_limited_by_ip'] == [{'ip': '203.0.113.80', 'count': 60}]
    error_rate = check(result, 'security.api_error_rate')
    assert error_rate['status'] == 'warning' and abs(error_rate['value'] - 100.0 * 4 / 261) < 0.01
    assert check(result, 'security.rate_limit_violations')['status'] == 'ok'
    assert result['suspicious_ips'] == ['203.0.113.80']
    assert abs(http['p50'] - 0.05) < 0.05 * 0.03
    assert abs(http['p99'] - 3.05) < 3.05 * 0.03
    slow = check(result, 'http.slow_request_share')
    assert slow['value'] == round(100.0 * 10 / 261, 3) and slow['status'] == 'ok'     # 3.8 % <= 5 %
    assert check(result, 'http.response_time_p95')['status'] == 'ok'
    assert check(result, 'log_scan.source')['status'] == 'ok'


def test_nginx_combined_without_request_time_and_apache_microseconds(tmp_path):
    plain, apache = tmp_path / 'plain.log', tmp_path / 'apache.log'
    write(plain, ''.join(nginx(NOW - 60 + i, '192.0.2.9', 200) for i in range(10)))
    write(apache, ''.join(nginx(NOW - 60 + i, '192.0.2.9', 200).rstrip('\n') + ' 2500000\n' for i in range(10)))
    result = run_scan([{'type': 'access', 'path': str(plain)}], tmp_path / 's1.json')
    assert result['http']['requests'] == 10 and result['http']['timed_requests'] == 0
    assert not [c for c in result['checks'] if c['name'] == 'http.response_time_p95']
    result = run_scan([{'type': 'access', 'path': str(apache), 'request_time_unit': 'us'}], tmp_path / 's2.json')
    assert abs(result['http']['p50'] - 2.5) < 0.1
    assert check(result, 'http.response_time_p95')['status'] == 'warning'


def test_request_rate_spike_against_previous_windows(tmp_path):
    log, state = tmp_path / 'access.log', tmp_path / 'state.json'
    start = NOW - 50 * 60
    text = ''.join(nginx(start + i * 3, '192.0.2.%d' % (i % 20), 200) for i in range(40 * 20))   # 20/min for 40 min
    write(log, text)
    quiet = run_scan([{'type': 'access', 'path': str(log)}], state, now=start + 40 * 60)
    assert check(quiet, 'security.request_rate_spike')['status'] == 'ok'
    flood = ''.join(nginx(start + 40 * 60 + 5 + i * 0.2, '198.51.100.%d' % (i % 200), 200) for i in range(1500))
    write(log, flood)                                      # 300/min for 5 min
    result = run_scan([{'type': 'access', 'path': str(log)}], state, now=start + 46 * 60)
    spike = check(result, 'security.request_rate_spike')
    assert spike['status'] == 'critical' and spike['value'] > 10 and spike['priority'] == 'high'
    assert result['http']['baseline_requests_per_minute'] == pytest.approx(20, rel=0.1)


def test_access_log_that_is_not_an_access_log(tmp_path):
    log = tmp_path / 'access.log'
    write(log, failures(NOW - 100, 30))
    result = run_scan([{'type': 'access', 'path': str(log)}], tmp_path / 'state.json')
    source = check(result, 'log_scan.source')
    assert source['status'] == 'unknown' and 'not in the expected access format' in source['reason']


# ---------------------------------------------------------------- JSON lines

def test_json_lines_with_a_field_mapping(tmp_path):
    log = tmp_path / 'app.jsonl'
    records = []
    for i in range(12):
        records.append({'ts': '2026-11-24T05:13:%02dZ' % i, 'event': 'login_failed', 'client': {'ip': '203.0.113.30'},
                        'who': 'user%d' % i})
    for i in range(100):
        records.append({'ts': NOW - 30 + i * 0.1, 'event': 'request', 'client': {'ip': '192.0.2.4'},
                        'http': {'status': 500 if i < 3 else 200}, 'took_ms': 2500 if i < 10 else 40})
    text = '\n'.join(json.dumps(r) for r in records) + '\nnot json\n[1, 2]\n'
    write(log, text)
    source = {'type': 'jsonl', 'path': str(log), 'duration_unit': 'ms',
              'fields': {'time': 'ts', 'ip': 'client.ip', 'user': 'who', 'status': 'http.status', 'duration': 'took_ms'}}
    result = run_scan([source], tmp_path / 'state.json')
    assert result['failed_logins']['peak_per_minute'] == 12
    assert check(result, 'security.failed_logins_per_minute')['status'] == 'critical'
    assert result['suspicious_ips'] == ['203.0.113.30']     # 12 distinct users
    assert result['http']['requests'] == 100 and result['http']['errors_5xx'] == 3
    assert result['http']['slow_share'] == 10.0
    assert result['sources'][0]['unparsed_lines'] == 2


# ---------------------------------------------------------------- journal

JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote'


def journal_export(entries):
    out = []
    for epoch, message, identifier, pid in entries:
        fields = [('__REALTIME_TIMESTAMP', str(int(epoch * 1e6))), ('__MONOTONIC_TIMESTAMP', str(int(epoch * 1e6) - 10 ** 12)),
                  ('_BOOT_ID', '0123456789abcdef0123456789abcdef'), ('MESSAGE', message), ('SYSLOG_IDENTIFIER', identifier),
                  ('_PID', str(pid)), ('_HOSTNAME', 'web-01')]
        out.append(''.join('%s=%s\n' % item for item in fields))
    return '\n'.join(out) + '\n'


def write_journal(tmp_path, journal, entries, name):
    export = tmp_path / name
    export.write_text(journal_export(entries))
    subprocess.run([JOURNAL_REMOTE, '-o', str(journal), str(export)], check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(not (shutil.which('journalctl') and os.path.exists(JOURNAL_REMOTE)),
                    reason='needs journalctl and systemd-journal-remote (to write a real journal file)')
def test_journal_source_with_a_real_journal_file(tmp_path):
    """No journald runs in the test container, so systemd-journal-remote writes a real journal file from the export
    format and the scanner reads it with ``journalctl --file`` - the same code path as the system journal."""
    journal, state = tmp_path / 'remote.journal', tmp_path / 'state.json'
    first = [(NOW - 100 + i * 0.5, 'Failed password for root from 203.0.113.40 port %d ssh2' % (2000 + i), 'sshd', 400 + i)
             for i in range(11)]
    first.append((NOW - 90, 'Accepted publickey for deploy from 10.0.0.5 port 5 ssh2: ED25519 SHA256:abc', 'sshd', 600))
    first.append((NOW - 80, 'pam_unix(su:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/1 ruser=bob '
                            'rhost=  user=root', 'su', 700))
    write_journal(tmp_path, journal, first, 'one.export')
    source = {'type': 'journal', 'journal_file': str(journal)}
    result = run_scan([source], state)
    assert result['failed_logins']['total'] == 12
    assert check(result, 'security.failed_logins_per_minute')['status'] == 'critical'
    assert check(result, 'log_scan.source')['status'] == 'ok'
    write_journal(tmp_path, journal, [(NOW - 20, 'Invalid user admin from 203.0.113.41 port 3000', 'sshd', 800),
                                      (NOW - 19, 'Connection closed by invalid user admin 203.0.113.41 port 3000 [preauth]',
                                       'sshd', 800)], 'two.export')
    result = run_scan([source], state)
    assert result['failed_logins']['total'] == 13          # the cursor continued: nothing counted twice
    assert result['failed_logins']['by_kind']['invalid_user'] == 1
    assert result['sources'][0]['lines'] == 2


def test_journal_json_parsing_of_non_utf8_messages():
    entry = {'MESSAGE': list(b'Failed password for \xff\xfe from 203.0.113.42 port 22 ssh2'), '_PID': '5'}
    message = lp.journal_field(entry, 'MESSAGE')
    kind, ip, user, _service = lp.classify_auth(message)
    assert kind == 'failed_password' and ip == b'203.0.113.42' and user == b'\xff\xfe'


def test_journalctl_missing_is_unknown_not_a_traceback(tmp_path):
    scanner = Scanner([{'type': 'journal'}], str(tmp_path / 'state.json'), now=NOW, journalctl=str(tmp_path / 'nope'))
    result = scanner.run()
    source = [c for c in result['checks'] if c['name'] == 'log_scan.source'][0]
    assert source['status'] == 'unknown' and 'journalctl not found' in source['reason']


# ---------------------------------------------------------------- option validation

@pytest.mark.parametrize('sources, message', [
    ([], 'at least one source'),
    ([{'type': 'syslog', 'path': '/x'}], 'type must be one of'),
    ([{'type': 'auth'}], 'needs a path'),
    ([{'type': 'auth', 'path': '/x'}, {'type': 'auth', 'path': '/x'}], 'listed twice'),
])
def test_bad_sources_are_clear_errors(tmp_path, sources, message):
    with pytest.raises(MaintenanceError, match=message):
        Scanner(sources, str(tmp_path / 'state.json'))


@pytest.mark.parametrize('options, message', [
    ({'window_minutes': 0}, 'window_minutes must be at least 1'),
    ({'window_minutes': 30, 'history_minutes': 20}, 'history_minutes'),
    ({'max_line_bytes': 10}, 'max_line_bytes'),
])
def test_bad_options_are_clear_errors(tmp_path, options, message):
    with pytest.raises(MaintenanceError, match=message):
        run_scan([{'type': 'auth', 'path': str(tmp_path / 'auth.log')}], tmp_path / 'state.json', **options)


# ---------------------------------------------------------------- hostile lines: skipped and counted, never a stop
# One line crafted to break a parser (deep nesting, numbers out of range, bytes that are not text, ...) must cost
# that line only: the cursor moves past it, the state is saved, the lines around it count, the next run reads nothing.

ANY_FORMAT_HOSTILE = {
    'deep_array': b'[' * 200000,
    'deep_object': b'{"a":' * 100000,
    'invalid_utf8': b'\xff\xfe\xfd {"time": "\xc3\x28"} \x80\x81',
    'nul_bytes': b'\x00' * 64 + b'{"status": 500}' + b'\x00' * 64,
    'one_megabyte': b'[' * 1000000,             # under max_line_bytes (1 MiB): it is parsed, not skipped as too long
    'json_number': b'42',
    'json_list': b'[1, 2, 3]',
    'json_null': b'null',
    'huge_number': b'1e999',
}


def _jsonl(record):
    return json.dumps(record).encode() if isinstance(record, dict) else record


# JSON lines: (line, requests it counts itself): out-of-range numbers and times in every field the scan reads
JSONL_HOSTILE = dict((name, (line, 0)) for name, line in ANY_FORMAT_HOSTILE.items())
JSONL_HOSTILE.update({
    'time_1e999': (b'{"time": 1e999, "status": 200}', 0),
    'time_minus_1e999': (b'{"time": -1e999, "status": 200}', 0),
    'time_nan': (b'{"time": NaN, "status": 200}', 0),
    'time_string_inf': (b'{"time": "inf", "status": 200}', 0),
    'time_400_digits': (b'{"time": "1' + b'0' * 400 + b'", "status": 200}', 0),
    'time_garbage': (b'{"time": "9999-99-99T99:99:99Z", "status": 200}', 0),
    'time_year_99999': (b'{"time": "99999-01-01T00:00:00Z", "status": 200}', 0),
    'time_1e300': (b'{"time": 1e300, "status": 200}', 0),
    'status_1e999': (b'{"time": %d, "status": 1e999}' % (NOW - 90), 0),
    'status_nan': (b'{"time": %d, "status": NaN}' % (NOW - 90), 0),
    'duration_1e999': (b'{"time": %d, "status": 200, "duration": 1e999}' % (NOW - 90), 1),
    'duration_nan': (b'{"time": %d, "status": 200, "duration": NaN}' % (NOW - 90), 1),
    'failed_login_time_1e999': (b'{"time": 1e999, "event": "login_failed", "ip": "203.0.113.9", "user": "x"}', 0),
})


def _access_line(epoch=NOW - 90, extra=b' 0.100', stamp=None, ip=b'192.0.2.1'):
    stamp = stamp or time.strftime('%d/%b/%Y:%H:%M:%S +0000', time.gmtime(epoch)).encode()
    return ip + b' - - [' + stamp + b'] "GET /api HTTP/1.1" 200 5 "-" "Mozilla/5.0"' + extra


ACCESS_HOSTILE = dict((name, (line, 0)) for name, line in ANY_FORMAT_HOSTILE.items())
ACCESS_HOSTILE.update({
    'request_time_400_digits': (_access_line(extra=b' ' + b'9' * 400), 1),
    'request_time_400_decimals': (_access_line(extra=b' 1.' + b'9' * 400), 1),
    'stamp_year_99999': (_access_line(stamp=b'24/Nov/99999:05:13:30 +0000'), 0),
    'stamp_garbage': (_access_line(stamp=b'99/Nov/2026:99:99:99 +0000'), 0),
    'stamp_zone_out_of_range': (_access_line(stamp=b'24/Nov/2026:05:13:30 +9999'), 0),
    'nul_in_request': (_access_line().replace(b'GET', b'G\x00T'), 1),
    'invalid_utf8_address': (_access_line(ip=b'\xff\xfe'), 1),
})


def _auth_line(stamp=b'Nov 24 05:13:30', message=b'Failed password for root from 203.0.113.5 port 22 ssh2'):
    return stamp + b' web-01 sshd[4242]: ' + message


AUTH_HOSTILE = dict((name, (line, 0)) for name, line in ANY_FORMAT_HOSTILE.items())
AUTH_HOSTILE.update({
    'failed_then_deep_array': (_auth_line(message=b'Failed ' + b'[' * 200000), 0),
    'auth_then_deep_object': (_auth_line(message=b'auth' + b'{"a":' * 100000), 0),
    'nul_in_user': (_auth_line(message=b'Failed password for r\x00t from 203.0.113.5 port 22 ssh2'), 1),
    'invalid_utf8_user': (_auth_line(message=b'Failed password for \xff\xfe from 203.0.113.5 port 22 ssh2'), 1),
    'many_from_no_port': (_auth_line(message=b'Failed password for ' + b' from x' * 140000), 0),
    'stamp_3339_garbage': (_auth_line(stamp=b'9999-99-99T99:99:99Z'), 0),
    'stamp_3339_zone_out_of_range': (_auth_line(stamp=b'0001-01-01T00:00:00+99:99'), 0),
    'stamp_3164_garbage': (_auth_line(stamp=b'Nov 99 99:99:99'), 0),
})


def _hostile_file(path, good, hostile, count=2):
    """``count`` good lines, the hostile line, ``count`` good lines; returns the size."""
    write(path, b''.join(good(i) + b'\n' for i in range(count)) + hostile + b'\n' +
          b''.join(good(count + i) + b'\n' for i in range(count)), mode='w')
    return os.path.getsize(str(path))


def _assert_moved_on(state, key, size, result):
    saved = json.loads(state.read_text())
    assert saved['files'][key]['offset'] == size, (saved['files'], size)
    assert result['state_saved'] is True
    assert not result['sources'][0].get('error'), result['sources'][0]


def _skipped(source):
    return sum(source.get(key) or 0 for key in ('unparsed_lines', 'events_without_timestamp', 'events_outside_history',
                                                'unreadable_lines', 'oversized_lines'))


@pytest.mark.parametrize('name', sorted(JSONL_HOSTILE))
def test_a_hostile_json_line_is_skipped_and_counted_never_a_stop(tmp_path, name):
    line, counts = JSONL_HOSTILE[name]
    log, state = tmp_path / 'app.jsonl', tmp_path / 'state.json'
    size = _hostile_file(log, lambda i: _jsonl({'time': NOW - 120 + i, 'status': 500, 'ip': '192.0.2.7'}), line)
    source = {'type': 'jsonl', 'path': str(log)}
    result = run_scan([source], state)
    _assert_moved_on(state, 'jsonl:%s' % log, size, result)
    assert result['http']['requests'] == 4 + counts and result['http']['errors_5xx'] == 4
    assert _skipped(result['sources'][0]) == 1 - counts, result['sources'][0]
    if not counts:
        assert 'could not be parsed' in check(result, 'log_scan.source')['reason'] or \
            'without a readable timestamp' in check(result, 'log_scan.source')['reason'] or \
            'older than' in check(result, 'log_scan.source')['reason']
    again = run_scan([source], state)
    assert again['sources'][0]['bytes_read'] == 0 and again['http']['requests'] == 4 + counts


@pytest.mark.parametrize('name', sorted(ACCESS_HOSTILE))
def test_a_hostile_access_log_line_is_skipped_and_counted_never_a_stop(tmp_path, name):
    line, counts = ACCESS_HOSTILE[name]
    log, state = tmp_path / 'access.log', tmp_path / 'state.json'
    size = _hostile_file(log, lambda i: _access_line(NOW - 120 + i), line)
    source = {'type': 'access', 'path': str(log)}
    result = run_scan([source], state)
    _assert_moved_on(state, 'access:%s' % log, size, result)
    assert result['http']['requests'] == 4 + counts
    assert _skipped(result['sources'][0]) == 1 - counts, result['sources'][0]
    again = run_scan([source], state)
    assert again['sources'][0]['bytes_read'] == 0 and again['http']['requests'] == 4 + counts


@pytest.mark.parametrize('name', sorted(AUTH_HOSTILE))
def test_a_hostile_auth_log_line_is_skipped_never_a_stop(tmp_path, name, reader):
    line, counts = AUTH_HOSTILE[name]
    log, state = tmp_path / 'auth.log', tmp_path / 'state.json'
    size = _hostile_file(log, lambda i: _auth_line(message=b'Failed password for root from 203.0.113.5 port %d ssh2'
                                                   % (3000 + i)), line)
    source = {'type': 'auth', 'path': str(log), 'thorough': True}
    result = run_scan([source], state)
    _assert_moved_on(state, 'auth:%s' % log, size, result)
    assert total(result) == 4 + counts
    again = run_scan([source], state)
    assert again['sources'][0]['bytes_read'] == 0 and total(again) == 4 + counts


JOURNALCTL_STANDIN = '''#!%(python)s
"""Stands in for journalctl (reads the entries file, honours --after-cursor): journalctl itself never writes a
malformed JSON line, so the hostile lines reach the parser only this way."""
import sys
args = sys.argv[1:]
after = args[args.index('--after-cursor') + 1] if '--after-cursor' in args else None
with open(%(entries)r, 'rb') as handle:
    lines = handle.read().split(b'\\n')
out = sys.stdout.buffer
skipping = after is not None
for line in lines:
    if not line:
        continue
    if skipping:
        skipping = ('"__CURSOR": "%%s"' %% after).encode() not in line
        continue
    out.write(line + b'\\n')
'''


@pytest.mark.parametrize('name', sorted(ANY_FORMAT_HOSTILE) + ['timestamp_1e999', 'timestamp_garbage'])
def test_a_hostile_journal_line_is_skipped_and_counted_never_a_stop(tmp_path, name):
    entries = tmp_path / 'entries.json'

    def entry(i):
        return _jsonl({'__CURSOR': 'c%d' % i, '__REALTIME_TIMESTAMP': str(int((NOW - 120 + i) * 1e6)),
                       'MESSAGE': 'Failed password for root from 203.0.113.5 port %d ssh2' % (3000 + i),
                       'SYSLOG_IDENTIFIER': 'sshd', '_PID': str(500 + i), '_HOSTNAME': 'web-01'})
    hostile = ANY_FORMAT_HOSTILE.get(name)
    if hostile is None:
        stamp = {'timestamp_1e999': 1e999, 'timestamp_garbage': '9' * 400}[name]
        hostile = json.dumps({'__CURSOR': 'c99', '__REALTIME_TIMESTAMP': stamp, 'MESSAGE': 'Failed password for root '
                              'from 203.0.113.6 port 1 ssh2', 'SYSLOG_IDENTIFIER': 'sshd', '_PID': '9'}).encode()
    _hostile_file(entries, entry, hostile)
    journalctl = tmp_path / 'journalctl'
    journalctl.write_text(JOURNALCTL_STANDIN % {'python': shutil.which('python3'), 'entries': str(entries)})
    journalctl.chmod(0o755)
    state = tmp_path / 'state.json'
    scanner = Scanner([{'type': 'journal'}], str(state), now=NOW, utc=True, journalctl=str(journalctl))
    result = scanner.run()
    scanner.save_state()
    assert result['failed_logins']['total'] == 4
    assert json.loads(state.read_text())['journal']['journal:system']['cursor'] == 'c3'
    assert _skipped(result['sources'][0]) == 1, result['sources'][0]
    again = Scanner([{'type': 'journal'}], str(state), now=NOW, utc=True, journalctl=str(journalctl)).run()
    assert again['sources'][0]['lines'] == 0 and again['failed_logins']['total'] == 4


@pytest.mark.parametrize('now', [1e20, -1e20, float('inf'), float('nan'), 253402300800])
def test_now_out_of_range_is_a_clear_error_naming_now(tmp_path, now):
    with pytest.raises(MaintenanceError, match='now'):
        run_scan([{'type': 'auth', 'path': str(tmp_path / 'auth.log')}], tmp_path / 'state.json', now=now)
