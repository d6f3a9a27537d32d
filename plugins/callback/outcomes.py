# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
name: outcomes
type: aggregate
short_description: Records the outcome of every task on every host, with its checks
description:
  - Appends one JSON object per task result per host to a JSON-lines file, and one C(run) record at the end of the run.
  - Each record holds the run id, UTC ISO 8601 timestamps, playbook, play, cadence, tags, host, task, module FQCN,
    status (C(ok), C(changed), C(failed), C(skipped), C(unreachable), C(ignored)), duration, and the checks the module
    returned in the collection's result model.
  - Optionally sends the records to PostgreSQL. Records are spooled to a local file first and sent at the end of the run;
    when the database cannot be reached the playbook goes on, the spool is kept and sent by the next run.
  - Honours C(no_log), strips Ansible's internal keys, never stores task arguments, redacts secret-looking keys,
    the values of extra vars and play vars whose names look secret (O(redact_keys), or starting with C(vault)) or are
    listed in O(redact_extra_var_names), URL passwords and secret-looking query or C(key=value) parameters in any text.
  - A task name templated from a secret variable (an extra var, or a variable whose name looks secret) is recorded
    with that expression's output replaced by C(********). Ansible's own stdout callback still prints the task name
    as rendered, so do not template secrets into task names.
  - Prints an end-of-run summary per host (checks by status, then every critical, warning and unknown check with its
    reason, most severe first, and the failed tasks with their message) and where the records went.
  - It is not a stdout callback, so it runs beside AWX's own stdout callback.
  - A misconfiguration (unwritable path, bad DSN, psycopg missing) gives one clear warning and never fails the playbook.
  - The file and the PostgreSQL sink are independent. On a full disk a record is held and retried, and at the end of
    the run what the file still refuses goes to a fallback file in the temporary directory; one warning names the
    file, the error and the fallback. A torn last line left by a crash is cut before appending.
version_added: 0.1.0
requirements:
  - psycopg >= 3.1 on the control node, only for the PostgreSQL sink
options:
  path:
    description: JSON-lines file the records are appended to.
    type: path
    default: ~/.ansible/autopilotcx-outcomes.jsonl
    env:
      - name: AUTOPILOTCX_OUTCOME_LOG
    ini:
      - section: autopilotcx_outcomes
        key: path
  pg_dsn:
    description:
      - libpq connection string or URI of the PostgreSQL sink; unset disables the sink.
      - Prefer a password file (C(~/.pgpass), C(PGPASSFILE)) or E(PGPASSWORD) to a password inside the DSN;
        a password in the DSN is never shown in warnings.
    type: str
    env:
      - name: AUTOPILOTCX_OUTCOME_DSN
    ini:
      - section: autopilotcx_outcomes
        key: pg_dsn
  pg_table:
    description: Table of the PostgreSQL sink, created on first use.
    type: str
    default: maintenance_outcomes
    env:
      - name: AUTOPILOTCX_OUTCOME_TABLE
    ini:
      - section: autopilotcx_outcomes
        key: pg_table
  pg_schema:
    description: Schema of the sink table (created when missing); the connection's search path when unset.
    type: str
    env:
      - name: AUTOPILOTCX_OUTCOME_SCHEMA
    ini:
      - section: autopilotcx_outcomes
        key: pg_schema
  spool_dir:
    description: Directory holding the records not yet sent to PostgreSQL, one file per run.
    type: path
    default: ~/.ansible/autopilotcx-outcomes-spool
    env:
      - name: AUTOPILOTCX_OUTCOME_SPOOL
    ini:
      - section: autopilotcx_outcomes
        key: spool_dir
  redact_keys:
    description: Case-insensitive substrings of result keys whose values are replaced by C(********).
    type: list
    elements: str
    default: [password, passwd, passphrase, secret, token, api_key, apikey, private_key, authorization, cookie,
              credential, client_secret, login_password, dsn]
    env:
      - name: AUTOPILOTCX_OUTCOME_REDACT_KEYS
    ini:
      - section: autopilotcx_outcomes
        key: redact_keys
  redact_extra_vars:
    description:
      - Replace every value given as an extra var (4 characters or longer) wherever it appears in a record.
      - Off by default since 0.2.0; extra vars whose names look secret (O(redact_keys)) and those named in
        O(redact_extra_var_names) are always redacted, so a host name passed with C(-e) stays readable.
    type: bool
    default: false
    env:
      - name: AUTOPILOTCX_OUTCOME_REDACT_EXTRA_VARS
    ini:
      - section: autopilotcx_outcomes
        key: redact_extra_vars
  redact_extra_var_names:
    description:
      - Extra vars whose values are secrets although their names do not look like one (O(redact_keys)); their values
        are replaced by C(********) wherever they appear in a record or in the summary.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
    env:
      - name: AUTOPILOTCX_OUTCOME_REDACT_EXTRA_VAR_NAMES
    ini:
      - section: autopilotcx_outcomes
        key: redact_extra_var_names
  keep_extra_vars:
    description:
      - Extra vars whose values are audit data, not secrets, and stay readable in the records even with
        O(redact_extra_vars) (who approved an emergency change, its reference and reason).
    type: list
    elements: str
    default: [approved_by, change_ref, reason, security_incident_id, security_incident_title, security_incident_summary,
              security_incident_block_ips, system_outage_id, maintenance_cadence, review_period]
    env:
      - name: AUTOPILOTCX_OUTCOME_KEEP_EXTRA_VARS
    ini:
      - section: autopilotcx_outcomes
        key: keep_extra_vars
  summary:
    description: Print the end-of-run summary.
    type: bool
    default: true
    env:
      - name: AUTOPILOTCX_OUTCOME_SUMMARY
    ini:
      - section: autopilotcx_outcomes
        key: summary
  prometheus_textfile_dir:
    description:
      - Directory of node_exporter's textfile collector; when set, every check is written there as Prometheus metrics,
        one file per cadence and host, replaced atomically at the end of the run (see docs/prometheus.md).
    type: path
    version_added: 0.2.0
    env:
      - name: AUTOPILOTCX_PROMETHEUS_TEXTFILE_DIR
    ini:
      - section: autopilotcx_outcomes
        key: prometheus_textfile_dir
  prometheus_pushgateway_url:
    description:
      - Base URL of a Prometheus Pushgateway (for AWX jobs, whose execution environments have no node_exporter);
        the run's metrics replace the group C(job/autopilotcx/cadence/<cadence>/host/<host>).
    type: str
    version_added: 0.2.0
    env:
      - name: AUTOPILOTCX_PROMETHEUS_PUSHGATEWAY_URL
    ini:
      - section: autopilotcx_outcomes
        key: prometheus_pushgateway_url
  run_id:
    description:
      - Identifier of the run stored in every record; a new UUID when unset.
      - Under AWX, the job id is used when E(JOB_ID) is set.
    type: str
    env:
      - name: AUTOPILOTCX_OUTCOME_RUN_ID
notes:
  - Enable it with C(callbacks_enabled = autopilotcx.maintenance.outcomes) in C(ansible.cfg) (section C([defaults]))
    or E(ANSIBLE_CALLBACKS_ENABLED); under AWX set that variable in the job template's environment or the project's
    C(ansible.cfg).
seealso:
  - name: Outcome records
    description: The record format and how to query it.
    link: https://example.invalid/autopilotcx/maintenance/docs/outcomes.md
'''

import getpass
import os
import socket
import time
import uuid

from ansible import constants as C
from ansible.plugins.callback import CallbackBase

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core import deps
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.store import (
    OutcomeFile,
    PostgresSink,
    Redactor,
    redact_rendered,
    string_leaves,
)
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.times import iso_utc_micro, utc_now
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.prometheus import MetricsCollector
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.outcomes.settings import export_controller_config
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.result import STATUSES, summarize

# The summary's order: what needs a person first. At most this many failed tasks per host are listed.
SUMMARY_ORDER = ('critical', 'warning', 'unknown')
SUMMARY_FAILURES = 10


def _result_data(result):
    data = getattr(result, 'result', None)
    if data is None:
        data = result._result
    return data


def _task(result):
    return getattr(result, 'task', None) or result._task


def _host_name(result):
    host = getattr(result, 'host', None) or result._host
    return host.get_name()


def collect_checks(data):
    """Checks a module returned, including those of every loop item."""
    checks = []
    if isinstance(data.get('checks'), list):
        checks.extend(c for c in data['checks'] if isinstance(c, dict) and c.get('status') in STATUSES)
    for item in data.get('results') or []:
        if isinstance(item, dict) and isinstance(item.get('checks'), list):
            checks.extend(c for c in item['checks'] if isinstance(c, dict) and c.get('status') in STATUSES)
    return checks


class OutcomeRecorder(object):
    """Builds records and keeps the per-host tallies; no Ansible objects inside."""

    def __init__(self, run_id, writer, redactor, sink=None):
        self.run_id = run_id
        self.writer = writer
        self.redactor = redactor
        self.sink = sink
        self.seq = 0
        self.context = {}
        self.hosts = {}
        self.reports = []
        self.started = utc_now()

    def record(self, kind, **fields):
        self.seq += 1
        record = dict(self.context)
        record.update(fields)
        record.update(id='%s:%06d' % (self.run_id, self.seq), run_id=self.run_id, kind=kind, recorded_at=iso_utc_micro(utc_now()))
        record = self.redactor(record)
        # Neither write raises (a full disk holds the record for a retry or a fallback file), and neither depends on
        # the other: the PostgreSQL sink gets every record whatever happens to the file.
        if self.writer is not None:
            self.writer.write(record)
        if self.sink is not None:
            self.sink.write(record)
        return record

    def task_result(self, host, status, checks, **fields):
        if checks:
            fields.update(summarize(checks))
            fields['worst'] = fields.pop('status')
        record = self.record('task', host=host, status=status, checks=checks, **fields)
        tally = self.hosts.setdefault(host, {'tasks': dict.fromkeys(('ok', 'changed', 'failed', 'skipped', 'unreachable', 'ignored'), 0),
                                             'checks': dict.fromkeys(STATUSES, 0), 'critical': [], 'warning': [],
                                             'unknown': [], 'reasons': {}, 'failures': []})
        tally['tasks'][status] += 1
        for check in record['checks']:  # the redacted copy: the summary shows what the record holds
            tally['checks'][check['status']] += 1
            if check['status'] in SUMMARY_ORDER:
                label = check['name'] + (' (%s)' % check['target'] if check.get('target') else '')
                if label not in tally[check['status']]:
                    tally[check['status']].append(label)
                    tally['reasons'][(check['status'], label)] = ' '.join(str(check.get('reason') or '').split())
        if status in ('failed', 'unreachable') and len(tally['failures']) < SUMMARY_FAILURES:
            tally['failures'].append('%s %s: %s' % (status, record.get('task'), ' '.join(str(record.get('msg') or '').split())[:300]))
        return record

    def run_record(self):
        ended = utc_now()
        hosts = {}
        for host, tally in self.hosts.items():
            hosts[host] = {'tasks': tally['tasks'], 'checks': tally['checks'], 'critical': tally['critical']}
        failed = any(t['tasks']['failed'] or t['tasks']['unreachable'] for t in self.hosts.values())
        critical = any(t['checks']['critical'] for t in self.hosts.values())
        return self.record('run', host=None, status='failed' if failed else 'ok', started_at=iso_utc_micro(self.started),
                           ended_at=iso_utc_micro(ended), duration=round((ended - self.started).total_seconds(), 3),
                           hosts=hosts, worst='critical' if critical else None)

    def summary_lines(self, where=None):
        """Per host: the counts, then every non-ok check with its reason (most severe first) and the failed tasks;
        last, where the records are. What a person on call reads first."""
        lines = []
        for host in sorted(self.hosts):
            tally = self.hosts[host]
            if not any(tally['checks'].values()) and not tally['failures']:
                continue
            counts = ' '.join('%s=%d' % (s, tally['checks'][s]) for s in ('ok', 'warning', 'critical', 'unknown'))
            lines.append('%s: %s' % (host, counts))
            for status in SUMMARY_ORDER:
                for label in tally[status]:
                    reason = tally['reasons'].get((status, label))
                    lines.append('  %-8s %s%s' % (status, label, ': %s' % reason if reason else ''))
            for failure in tally['failures']:
                lines.append('  %s' % failure)
        if (lines or self.reports) and where:
            lines.extend('%s: %s' % item for item in where)
        lines.extend('report: %s' % self.redactor.text(path) for path in self.reports)
        return lines


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'autopilotcx.maintenance.outcomes'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.recorder = None
        self.disabled_reason = None
        self.warned = set()
        self.playbook = None
        self.playbook_cadence = None
        self.starts = {}
        self.secret_vars = set()
        self.metrics = None

    def _warn_once(self, key, message):
        if key not in self.warned:
            self.warned.add(key)
            self._display.warning('autopilotcx.maintenance.outcomes: %s' % message)

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super(CallbackModule, self).set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        # the modules run locally (notify, token_check, review_report ...) resolve the store from this ansible.cfg:
        # the local connection gives them the playbook's directory as cwd, not this one (issue 17)
        export_controller_config(getattr(C, 'CONFIG_FILE', None) or None)
        run_id = self.get_option('run_id') or (('awx-job-%s' % os.environ['JOB_ID']) if os.environ.get('JOB_ID') else None)
        run_id = run_id or uuid.uuid4().hex
        redactor = Redactor(keys=self.get_option('redact_keys') or ())
        dsn = self.get_option('pg_dsn')
        try:
            writer = OutcomeFile(self.get_option('path'))
        except (IOError, OSError) as exc:
            self._warn_once('path', 'cannot write outcome records to %s (%s); %s'
                            % (self.get_option('path'), exc.strerror or exc,
                               'records go to the PostgreSQL sink only' if dsn else 'outcomes are not recorded for this run'))
            if not dsn:
                self.disabled_reason = 'path'
                return
            writer = None
        sink = None
        if dsn:
            redactor.add_values([dsn])
            if not deps.available('psycopg'):
                self._warn_once('psycopg', 'pg_dsn is set but psycopg >= 3.1 is not installed on the control node; '
                                '%s' % ('records go to %s only' % writer.path if writer else 'outcomes are not recorded for this run'))
            else:
                try:
                    sink = PostgresSink(dsn, self.get_option('spool_dir'), run_id, schema=self.get_option('pg_schema'),
                                        table=self.get_option('pg_table'))
                except (IOError, OSError) as exc:
                    self._warn_once('spool', 'cannot use the spool directory %s (%s); the PostgreSQL sink is off for this run'
                                    % (self.get_option('spool_dir'), exc.strerror or exc))
        if writer is None and sink is None:
            self.disabled_reason = 'path'
            return
        self.recorder = OutcomeRecorder(run_id, writer, redactor, sink)
        if self.get_option('prometheus_textfile_dir') or self.get_option('prometheus_pushgateway_url'):
            self.metrics = MetricsCollector(self.get_option('prometheus_textfile_dir'), self.get_option('prometheus_pushgateway_url'))
        self.recorder.context.update(control_node=socket.gethostname(), user=getpass.getuser())

    # ------------------------------------------------------------------ context
    def v2_playbook_on_start(self, playbook):
        self.playbook = os.path.basename(playbook._file_name)
        if self.recorder:
            self.playbook_cadence = os.path.splitext(self.playbook)[0]
            self.recorder.context.update(playbook=self.playbook, cadence=self.playbook_cadence)

    def v2_playbook_on_play_start(self, play):
        if not self.recorder:
            return
        play_vars = play.get_vars() or {}
        cadence = play_vars.get('maintenance_cadence')
        self.recorder.context.update(play=play.get_name(), tags=list(play.tags or []))
        # each play its own cadence, else the playbook's: never the cadence an earlier play of the run set
        if isinstance(cadence, str) and '{{' not in cadence:
            self.recorder.context['cadence'] = cadence
        else:
            self.recorder.context['cadence'] = self.playbook_cadence or self.recorder.context.get('cadence')
        manager = getattr(play, '_variable_manager', None)
        extra = getattr(manager, 'extra_vars', None) or {}
        keep = set(self.get_option('keep_extra_vars') or ())
        listed = set(self.get_option('redact_extra_var_names') or ())
        every = self.get_option('redact_extra_vars')
        # Secret-looking names and the listed ones always; every other value only with redact_extra_vars (a host
        # name passed with -e is what the summary must show).
        hidden = [k for k in extra if k in listed or (k not in keep and (every or self._secret_name(k)))]
        self.recorder.redactor.add_values(string_leaves(dict((k, extra[k]) for k in hidden)))
        self.secret_vars.update(hidden)
        secret = dict((k, v) for k, v in play_vars.items() if self._secret_var(k))
        self.recorder.redactor.add_values(v for v in string_leaves(secret) if '{{' not in v)

    def _secret_name(self, name):
        name = str(name)
        return bool(self.recorder.redactor.secret_key(name) or name.lower().startswith('vault'))

    def _secret_var(self, name):
        """A variable whose value must not be recorded: a hidden extra var, or a secret-looking name."""
        return str(name) in self.secret_vars or self._secret_name(name)

    def _task_name(self, task):
        """The task's name with the output of expressions on secret variables replaced by ********."""
        name = task.get_name()
        source = getattr(task, '_ds', None)  # the task as written: its name is still the template
        template = source.get('name') if isinstance(source, dict) else None
        if not task.name or not isinstance(template, str):
            return name
        return name[:len(name) - len(task.name)] + redact_rendered(str(template), str(task.name), self._secret_var)

    def v2_runner_on_start(self, host, task):
        self.starts[(host.get_name(), task._uuid)] = time.monotonic()

    # ------------------------------------------------------------------ results
    def _record(self, result, status):
        if not self.recorder:
            return
        task = _task(result)
        host = _host_name(result)
        data = _result_data(result)
        started = self.starts.pop((host, task._uuid), None)
        fields = {
            'task': self._task_name(task),
            'action': getattr(task, 'resolved_action', None) or task.action,
            'changed': bool(data.get('changed')),
            'check_mode': bool(task.check_mode) if task.check_mode is not None else False,
            'duration': round(time.monotonic() - started, 3) if started is not None else None,
        }
        if task.tags:
            fields['task_tags'] = list(task.tags)
        delegated = data.get('_ansible_delegated_vars') or {}
        if delegated.get('ansible_host'):
            fields['delegated_to'] = delegated.get('ansible_delegated_host') or delegated.get('ansible_host')
        if data.get('censored'):
            fields['msg'] = data['censored']
        elif status in ('failed', 'unreachable', 'ignored') and data.get('msg'):
            fields['msg'] = str(data['msg'])[:2000]
        elif status == 'skipped' and data.get('skip_reason'):
            fields['msg'] = str(data['skip_reason'])
        checks = [] if data.get('censored') else collect_checks(data)
        record = self.recorder.task_result(host, status, checks, **fields)
        if self.metrics is not None:  # the redacted checks, as recorded
            self.metrics.add(host, self.recorder.context.get('cadence'), status, record['checks'])
        files = data.get('files') if status in ('ok', 'changed') and fields['action'].startswith('autopilotcx.maintenance.') else None
        if isinstance(files, dict):  # reports written (review_report): the summary says where they are
            self.recorder.reports.extend(p for p in files.values() if isinstance(p, str) and p not in self.recorder.reports)

    def v2_runner_on_ok(self, result):
        self._record(result, 'changed' if _result_data(result).get('changed') else 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'ignored' if ignore_errors else 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    # ------------------------------------------------------------------ end
    def v2_playbook_on_stats(self, stats):
        if not self.recorder:
            return
        self.recorder.run_record()
        writer, sink = self.recorder.writer, self.recorder.sink
        if writer is not None:
            writer.close()
            if writer.problem():  # once per command, naming the file, the error and where the records went
                self._warn_once('file', writer.problem())
        if sink is not None:
            sent, kept, error = sink.flush()
            if error:
                self._warn_once('pg', 'outcome database not reachable (%s); %d record(s) kept in %s and sent by the next run'
                                % (error, kept, sink.spool_dir))
            if sink.problem():
                self._warn_once('spool', sink.problem())
        for problem in self.metrics.finish() if self.metrics is not None else ():
            self._warn_once('prometheus:' + problem, problem)
        if self.get_option('summary'):
            where = [('records', writer.path if writer else 'PostgreSQL (%s)' % (self.get_option('pg_table')))]
            if writer is not None and sink is not None:
                where.append(('records also in', 'PostgreSQL table %s' % self.get_option('pg_table')))
            lines = self.recorder.summary_lines(where)
            if lines:
                self._display.banner('AUTOPILOTCX OUTCOMES (%s)' % (writer.path if writer else 'PostgreSQL'))
                for line in lines:
                    self._display.display(line)
