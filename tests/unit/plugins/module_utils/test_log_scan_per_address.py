"""log_scan's per-address rules (issue 19), judged against what fail2ban's sshd jail would catch on the same lines.

Every test writes a real auth.log in OpenSSH 9's exact formats and runs the scanner on it, read by Python alone and
with GNU grep as the prefilter.
"""

import calendar
import time

import pytest

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.log_scan import scan

NOW = calendar.timegm((2026, 11, 24, 5, 14, 30, 0, 0, 0))
MINUTE = NOW // 60 * 60         # the start of the current minute
RULES = {
    'failed_logins_per_minute': {'critical': 10, 'unit': '/min', 'priority': 'high'},
    'suspicious_ip_failures': {'warning': 20, 'priority': 'high'},
    'suspicious_ip_distinct_users': {'warning': 5, 'priority': 'high'},
    'suspicious_ip_per_minute': {'critical': 10, 'priority': 'high'},
    'suspicious_ip_find_failures': {'warning': 4, 'priority': 'high'},
    'suspicious_ip_slow_failures': {'warning': 9, 'priority': 'medium'},
    'suspicious_ip_probes': {'warning': 30},
    'suspicious_ip_count': {'warning': 0, 'priority': 'high'},
}
READERS = {'python': {'prefilter': 'never'}, 'grep': {'prefilter_min_bytes': 0}}


@pytest.fixture(params=sorted(READERS))
def reader(request):
    return READERS[request.param]


def syslog(epoch, message, pid=1000, host='web-01', program='sshd'):
    tm = time.gmtime(epoch)
    stamp = '%s %2d %02d:%02d:%02d' % (time.strftime('%b', tm), tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
    return '%s %s %s[%d]: %s\n' % (stamp, host, program, pid, message)


def failed(epoch, ip, pid, user='root', port=40000):
    return syslog(epoch, 'Failed password for %s from %s port %d ssh2' % (user, ip, port), pid=pid)


def run(tmp_path, text, reader, **options):
    log = tmp_path / 'auth.log'
    with open(str(log), 'ab') as handle:
        handle.write(text.encode())
    params = dict(sources=[{'type': 'auth', 'path': str(log)}], state_file=str(tmp_path / 'state.json'),
                  thresholds=RULES, now=NOW, utc=True)
    params.update(reader)
    params.update(options)
    return scan(params)


def details(result):
    return dict((entry['ip'], entry) for entry in result['suspicious_ip_details'])


def fired(entry):
    return dict((rule['rule'], rule) for rule in entry['rules'])


def check(result, name):
    found = [c for c in result['checks'] if c['name'] == name]
    assert len(found) == 1, found
    return found[0]


def test_a_burst_inside_one_minute_is_flagged_per_address_and_named_behind_the_peak(tmp_path, reader):
    # 16 failures inside one minute: fewer than 20 in the window, yet the guide's "> 10/minute" for that address
    burst = ''.join(failed(MINUTE - 240 + i * 3, '203.0.113.16', 5000 + i) for i in range(16))
    # a dictionary attacker at 3 a minute for 8 minutes: 24 in the window
    slow = ''.join(failed(MINUTE - 480 + i * 20, '198.51.100.3', 6000 + i) for i in range(24))
    result = run(tmp_path, slow + burst, reader)
    found = details(result)
    assert '203.0.113.16' in result['suspicious_ips']
    rate = fired(found['203.0.113.16'])['per_minute']
    assert rate['count'] == 16 and rate['limit'] == 10
    assert rate['at'] == time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(MINUTE - 240))
    assert 'per_minute' not in fired(found['198.51.100.3'])
    peak = check(result, 'security.failed_logins_per_minute')
    assert peak['status'] == 'critical'
    assert peak['details']['peak_ips'][0] == {'ip': '203.0.113.16', 'failures': 16}
    assert '203.0.113.16' in peak['reason']


def test_a_low_and_slow_source_is_caught_by_the_find_window_and_the_slow_rule(tmp_path, reader):
    # 6 attempts in 10 minutes (fail2ban's default: maxretry 5 within findtime 10m)
    find = ''.join(failed(MINUTE - 540 + i * 100, '192.0.2.6', 7000 + i) for i in range(6))
    # 12 attempts over two hours: one every 10 minutes, never 5 in 10 minutes
    slow = ''.join(failed(MINUTE - 7000 + i * 600, '192.0.2.12', 8000 + i) for i in range(12))
    # 4 attempts in 10 minutes: below maxretry
    few = ''.join(failed(MINUTE - 500 + i * 60, '192.0.2.4', 9000 + i) for i in range(4))
    result = run(tmp_path, slow + find + few, reader, history_minutes=180, slow_find_minutes=120)
    found = details(result)
    assert fired(found['192.0.2.6'])['find_window']['count'] >= 5
    assert fired(found['192.0.2.6'])['find_window']['minutes'] == 10
    assert set(fired(found['192.0.2.12'])) == set(['slow'])
    assert fired(found['192.0.2.12'])['slow']['count'] == 12
    assert '192.0.2.4' not in found
    assert all(entry['reasons'] for entry in result['suspicious_ip_details'])


def test_the_slow_rule_keeps_per_address_detail_between_runs(tmp_path, reader):
    first = ''.join(failed(MINUTE - 7000 + i * 600, '192.0.2.12', 8000 + i) for i in range(8))
    run(tmp_path, first, reader, history_minutes=180, slow_find_minutes=120)
    later = ''.join(failed(MINUTE - 2200 + i * 600, '192.0.2.12', 8100 + i) for i in range(4))
    result = run(tmp_path, later, reader, history_minutes=180, slow_find_minutes=120)
    assert fired(details(result)['192.0.2.12'])['slow']['count'] == 12


def test_syslog_message_repeated_counts_every_repeat(tmp_path, reader):
    text = failed(MINUTE - 120, '203.0.113.9', 4242)
    text += syslog(MINUTE - 110, 'message repeated 5 times: [ Failed password for root from 203.0.113.9 port 4242 ssh2]',
                   pid=4242)
    result = run(tmp_path, text, reader)
    assert result['failed_logins']['total'] == 6
    assert dict((e['ip'], e['failures']) for e in result['top_ips'])['203.0.113.9'] == 6
    source = result['sources'][0]
    assert not source.get('lines_without_timestamp'), source


def test_pre_auth_probes_count_once_per_connection(tmp_path, reader):
    text = ''
    for i in range(40):
        port = 50000 + i
        text += syslog(MINUTE - 300 + i, 'Received disconnect from 198.51.100.40 port %d:11: Bye Bye [preauth]' % port,
                       pid=3000 + i)
        text += syslog(MINUTE - 300 + i, 'Disconnected from 198.51.100.40 port %d [preauth]' % port, pid=3000 + i)
    result = run(tmp_path, text, reader)
    assert details(result)['198.51.100.40']['probes'] == 40


def test_pid_reuse_neither_merges_nor_drops_connections(tmp_path, reader):
    # 13 hours, the same 10 sshd pids every hour: even hours a password failure, odd hours an invalid user on a
    # publickey-only server (no "Failed" line): every connection is one attempt
    text = ''
    start = MINUTE - 13 * 3600 + 60
    for hour in range(13):
        for n in range(10):
            at = start + hour * 3600 + n * 7
            pid = 3000 + n
            ip = '203.0.113.%d' % (100 + n)
            if hour % 2 == 0:
                text += failed(at, ip, pid, port=41000 + n)
                text += syslog(at + 1, 'Connection closed by authenticating user root %s port %d [preauth]' % (ip, 41000 + n),
                               pid=pid)
            else:
                text += syslog(at, 'Invalid user oracle from %s port %d' % (ip, 42000 + n), pid=pid)
                text += syslog(at + 1, 'Connection closed by invalid user oracle %s port %d [preauth]' % (ip, 42000 + n),
                               pid=pid)
    result = run(tmp_path, text, reader, window_minutes=13 * 60 + 5, history_minutes=13 * 60 + 5)
    assert result['failed_logins']['total'] == 130


@pytest.mark.parametrize('option', ['find_minutes', 'slow_find_minutes'])
@pytest.mark.parametrize('value', [0, -5, 'ten', True])
def test_a_bad_rule_span_is_a_clear_error_naming_the_option(tmp_path, option, value):
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.errors import MaintenanceError
    with pytest.raises(MaintenanceError, match=option):
        run(tmp_path, '', READERS['python'], **{option: value})


def test_a_longer_rule_keeps_the_request_rate_baseline_to_the_history_asked_for(tmp_path):
    # 100 requests a minute from 110 to 61 minutes ago, then 10 a minute: with a 60-minute history the quiet hour is
    # the baseline and the window is no spike; the slow rule (120 min) must not pull the busy hour into the baseline
    from ansible_collections.autopilotcx.maintenance.plugins.module_utils.log_scan.log_scan import scan as run_scan
    log = tmp_path / 'access.log'
    lines = []
    for minute in range(110, 0, -1):
        per_minute = 100 if minute > 60 else 10
        for n in range(per_minute):
            at = MINUTE - minute * 60 + n * 60.0 / per_minute
            stamp = time.strftime('%d/%b/%Y:%H:%M:%S +0000', time.gmtime(at))
            lines.append('203.0.113.1 - - [%s] "GET / HTTP/1.1" 200 5 "-" "x"\n' % stamp)
    log.write_text(''.join(lines))
    thresholds = dict(RULES, request_rate_spike={'warning': 3})
    result = run_scan(dict(sources=[{'type': 'access', 'path': str(log)}], state_file=str(tmp_path / 's.json'),
                           thresholds=thresholds, now=NOW, utc=True, history_minutes=60))
    assert result['http']['baseline_requests_per_minute'] == pytest.approx(10, rel=0.2)


def _straddling(ip, first_pid, minute_start):
    """8 failures at :55-:59 of the minute before ``minute_start`` and 8 at :00-:04 of that minute (16 within 10 s,
    never more than 8 in one clock minute)."""
    before = ''.join(failed(minute_start - 5 + i * 0.6, ip, first_pid + i) for i in range(8))
    after = ''.join(failed(minute_start + i * 0.6, ip, first_pid + 8 + i) for i in range(8))
    return before, after


def test_per_minute_is_a_sliding_60_second_window_not_a_clock_minute(tmp_path, reader):
    before, after = _straddling('203.0.113.58', 5800, MINUTE - 240)
    result = run(tmp_path, before + after, reader)
    rules = fired(details(result)['203.0.113.58'])
    assert 'per_minute' in rules, rules
    assert rules['per_minute']['count'] == 16 and rules['per_minute']['limit'] == 10
    # it went over the limit with the 11th failure, in the second minute
    assert rules['per_minute']['at'] == time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(MINUTE - 240))
    # the clock minutes alone hold 8 each: the failed-logins peak is still per clock minute
    assert result['failed_logins']['peak_per_minute'] == 8


def test_the_sliding_per_minute_window_spans_two_incremental_runs(tmp_path, reader):
    # the event source's case: the first 8 lines are read by one run, the next 8 by the next one (state in between)
    before, after = _straddling('203.0.113.59', 5900, MINUTE)
    first = run(tmp_path, before, reader, now=MINUTE - 1)
    assert '203.0.113.59' not in details(first) or 'per_minute' not in fired(details(first)['203.0.113.59'])
    result = run(tmp_path, after, reader, now=MINUTE + 5)
    rules = fired(details(result)['203.0.113.59'])
    assert rules['per_minute']['count'] == 16, rules


def test_failures_spread_over_more_than_60_seconds_do_not_fire_per_minute(tmp_path, reader):
    # 16 failures, one every 8 s: at most 8 in any 60 s (a clock minute or not), 16 within 10 minutes
    text = ''.join(failed(MINUTE - 300 + i * 8, '203.0.113.60', 6100 + i) for i in range(16))
    result = run(tmp_path, text, reader)
    assert 'per_minute' not in fired(details(result)['203.0.113.60'])
    assert fired(details(result)['203.0.113.60'])['find_window']['count'] == 16
