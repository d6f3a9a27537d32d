# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one result model every check in this collection returns.

A *check* is a plain dict with these keys (see ``Check.as_dict``)::

    name       short dotted name, e.g. "http.response_time"
    status     "ok" | "warning" | "critical" | "unknown"
    value      the measured value (number, string, bool or None when unmeasured)
    unit       unit of ``value`` ("s", "%", "/min", "days", ...) or None
    threshold  the limit the value was held against (the breached one, or the
               lowest one when nothing was breached), or None
    priority   "high" | "medium" | "low": how urgent the check is when it fires
    reason     one line saying why the status is what it is
    target     what was checked (URL, host:port, database, path ...), optional
    details    dict with anything else worth keeping, optional

Thresholds are data (``maintenance_thresholds`` in the ``maintenance`` role's
defaults); this module only knows how to hold a value against one.
This file is plain Python: unit tests import it without Ansible.
"""

import math
import numbers
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Union

OK = 'ok'
WARNING = 'warning'
CRITICAL = 'critical'
UNKNOWN = 'unknown'

STATUSES = (OK, UNKNOWN, WARNING, CRITICAL)
"""All statuses, least to most severe. ``unknown`` (could not measure) ranks
above ``ok`` and below ``warning``."""

_SEVERITY = dict((status, index) for index, status in enumerate(STATUSES))

PRIORITIES = ('low', 'medium', 'high')

FAIL_ON_CHOICES = ('critical', 'warning', 'unknown', 'never')
"""Values of the shared ``fail_on`` option: the least severe status that fails
the task (``never``: the task never fails because of a check)."""

DIRECTIONS = ('above', 'below')

CheckDict = Dict[str, Any]
"""A check as modules return it (``Check.as_dict``)."""


class ResultModelError(ValueError):
    """Raised for invalid checks or threshold specifications."""


def severity(status: str) -> int:
    """Rank of a status; larger is worse."""
    try:
        return _SEVERITY[status]
    except KeyError:
        raise ResultModelError('unknown status %r; expected one of %s' % (status, ', '.join(STATUSES)))


def worst(statuses: Iterable[Union[str, CheckDict]], default: str = OK) -> str:
    """The most severe of ``statuses`` (an iterable of status strings or check dicts)."""
    result = default
    for item in statuses:
        status = item['status'] if isinstance(item, dict) else item
        if severity(status) > severity(result):
            result = status
    return result


def counts(checks: Iterable[CheckDict]) -> Dict[str, int]:
    """Number of checks per status, every status present."""
    result = dict((status, 0) for status in STATUSES)
    for item in checks:
        result[item['status']] += 1
    return result


def should_fail(status: str, fail_on: str) -> bool:
    """True when a worst status of ``status`` must fail the task under ``fail_on``."""
    if fail_on == 'never':
        return False
    if fail_on not in FAIL_ON_CHOICES:
        raise ResultModelError('fail_on must be one of %s, not %r' % (', '.join(FAIL_ON_CHOICES), fail_on))
    return severity(status) >= severity(fail_on)


def format_value(value: object, unit: Optional[str] = None) -> str:
    """Human form of a measured value: ``2.31 s``, ``1.5 %``, ``12 /min``."""
    if isinstance(value, bool) or value is None:
        text = str(value).lower() if value is not None else 'n/a'
    elif isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            text = str(value)
        elif value == int(value) and abs(value) < 1e15:
            text = '%d' % int(value)
        elif abs(value) >= 100:
            text = '%.0f' % value
        elif abs(value) >= 1:
            text = ('%.2f' % value).rstrip('0').rstrip('.')
        else:
            text = ('%.3g' % value)
    else:
        text = str(value)
    if unit:
        return '%s %s' % (text, unit)
    return text


class Check(object):
    """One named check; ``as_dict()`` gives the shared shape."""

    __slots__ = ('name', 'status', 'value', 'unit', 'threshold', 'priority', 'reason', 'target', 'details')

    def __init__(self, name: str, status: str, reason: object, value: Any = None, unit: Optional[str] = None,
                 threshold: Optional[float] = None, priority: str = 'medium', target: Any = None,
                 details: Optional[Dict[str, Any]] = None) -> None:
        if not name:
            raise ResultModelError('a check needs a name')
        severity(status)
        if priority not in PRIORITIES:
            raise ResultModelError('check %s: priority must be one of %s, not %r' % (name, ', '.join(PRIORITIES), priority))
        self.name = name
        self.status = status
        self.reason = ' '.join(str(reason).split()) if reason is not None else ''
        self.value = value
        self.unit = unit
        self.threshold = threshold
        self.priority = priority
        self.target = target
        self.details = details

    def as_dict(self) -> CheckDict:
        result = {
            'name': self.name,
            'status': self.status,
            'value': self.value,
            'unit': self.unit,
            'threshold': self.threshold,
            'priority': self.priority,
            'reason': self.reason,
        }
        if self.target is not None:
            result['target'] = self.target
        if self.details:
            result['details'] = self.details
        return result


def make_check(name: str, status: str, reason: object, **kwargs: Any) -> CheckDict:
    """Shortcut: ``Check(...).as_dict()``."""
    return Check(name, status, reason, **kwargs).as_dict()


def unknown(name: str, reason: object, target: Any = None, priority: str = 'medium', **kwargs: Any) -> CheckDict:
    """A check that could not be measured (missing privilege, extension, tool)."""
    return make_check(name, UNKNOWN, reason, target=target, priority=priority, **kwargs)


def critical(name: str, reason: object, target: Any = None, priority: str = 'high', **kwargs: Any) -> CheckDict:
    """A check that failed outright (unreachable, refused, corrupt ...)."""
    return make_check(name, CRITICAL, reason, target=target, priority=priority, **kwargs)


def ok(name: str, reason: object, target: Any = None, priority: str = 'low', **kwargs: Any) -> CheckDict:
    return make_check(name, OK, reason, target=target, priority=priority, **kwargs)


class Threshold(object):
    """A limit specification as written in ``maintenance_thresholds``.

    Keys: ``warning`` and/or ``critical`` (numbers or null), ``direction``
    (``above``: larger is worse, the default; ``below``: smaller is worse),
    ``unit`` (for display), ``priority`` (a priority, or a mapping
    ``{warning: ..., critical: ...}``).
    """

    __slots__ = ('name', 'warning', 'critical', 'direction', 'unit', 'priorities')

    def __init__(self, name: str, warning: object = None, critical: object = None, direction: str = 'above',
                 unit: Optional[str] = None, priority: Union[str, Mapping[str, str]] = 'medium') -> None:
        self.name = name
        if direction not in DIRECTIONS:
            raise ResultModelError('threshold %s: direction must be above or below, not %r' % (name, direction))
        self.direction = direction
        self.warning = _number(name, 'warning', warning)
        self.critical = _number(name, 'critical', critical)
        if self.warning is not None and self.critical is not None:
            if (direction == 'above' and self.critical < self.warning) or (direction == 'below' and self.critical > self.warning):
                raise ResultModelError('threshold %s: critical %s is less severe than warning %s for direction %s'
                                       % (name, self.critical, self.warning, direction))
        self.unit = unit
        if isinstance(priority, dict):
            unexpected = set(priority) - set([WARNING, CRITICAL])
            if unexpected:
                raise ResultModelError('threshold %s: priority mapping takes warning and critical, not %s'
                                       % (name, ', '.join(sorted(unexpected))))
            priorities = dict(priority)
        else:
            priorities = {WARNING: priority, CRITICAL: priority}
        for level in (WARNING, CRITICAL):
            priorities.setdefault(level, 'high' if level == CRITICAL else 'medium')
            if priorities[level] not in PRIORITIES:
                raise ResultModelError('threshold %s: priority must be one of %s, not %r'
                                       % (name, ', '.join(PRIORITIES), priorities[level]))
        self.priorities = priorities

    @classmethod
    def from_spec(cls, name: str, spec: object) -> 'Threshold':
        """Build from a mapping (inventory data) or a bare number (a warning limit)."""
        if isinstance(spec, Threshold):
            return spec
        if spec is None:
            return cls(name)
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return cls(name, warning=spec)
        if not isinstance(spec, dict):
            raise ResultModelError('threshold %s must be a mapping with warning/critical keys, not %r' % (name, spec))
        unexpected = set(spec) - set(['warning', 'critical', 'direction', 'unit', 'priority', 'description'])
        if unexpected:
            raise ResultModelError('threshold %s has unknown keys: %s' % (name, ', '.join(sorted(unexpected))))
        return cls(name, warning=spec.get('warning'), critical=spec.get('critical'),
                   direction=spec.get('direction', 'above'), unit=spec.get('unit'),
                   priority=spec.get('priority', 'medium'))

    def _breaches(self, value: float, limit: Optional[float]) -> bool:
        if limit is None:
            return False
        return value > limit if self.direction == 'above' else value < limit

    def evaluate(self, value: float) -> Tuple[str, Optional[float]]:
        """Return ``(status, limit)`` for a measured number."""
        if self._breaches(value, self.critical):
            return CRITICAL, self.critical
        if self._breaches(value, self.warning):
            return WARNING, self.warning
        return OK, self.warning if self.warning is not None else self.critical

    def priority_for(self, status: str) -> str:
        if status == CRITICAL:
            return self.priorities[CRITICAL]
        if status == WARNING:
            return self.priorities[WARNING]
        # ok / unknown: the priority it carries when it fires first
        return self.priorities[WARNING] if self.warning is not None else self.priorities[CRITICAL]


def _number(name: str, key: str, value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ResultModelError('threshold %s: %s must be a number, not %r' % (name, key, value))
    try:
        number = float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        raise ResultModelError('threshold %s: %s must be a number, not %r' % (name, key, value))
    if math.isnan(number):
        # NaN compares false with everything: a NaN limit would let every value pass
        raise ResultModelError('threshold %s: %s must be a number, not %r' % (name, key, value))
    return number


def _text_of(value: object) -> str:
    """A value that cannot be judged, as short text (JSON has no NaN or infinity)."""
    if isinstance(value, numbers.Number):
        text = str(value).lower()
    else:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


def _not_finite(value: object) -> Optional[str]:
    """Why ``value`` cannot be held against a limit (None when it can): not a number, NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return 'is not a number'
    try:
        finite = math.isfinite(value)  # type: ignore[arg-type]  # any Number: a complex raises TypeError
    except (TypeError, ValueError, ArithmeticError):
        finite = False
    return None if finite else 'is not a finite number'


def evaluate(name: str, value: Any, threshold: object, label: Optional[str] = None, target: Any = None,
             details: Optional[Dict[str, Any]] = None, unit: Optional[str] = None) -> CheckDict:
    """Hold a measured ``value`` against a ``threshold`` spec and return a check dict.

    ``label`` names the quantity in the reason (defaults to the last part of
    ``name``). A ``None`` value gives an ``unknown`` check. A value that is not
    a finite number (NaN, infinite, a string, a boolean) is never ``ok``: it is
    ``unknown`` with the reason, or the breach it is (``inf`` above a limit).
    NaN compares false with everything, so without this every limit would pass it.
    """
    spec = Threshold.from_spec(name, threshold)
    unit = unit if unit is not None else spec.unit
    label = label or name.rsplit('.', 1)[-1].replace('_', ' ')
    if value is None:
        return make_check(name, UNKNOWN, '%s not measured' % label, unit=unit,
                          threshold=spec.warning if spec.warning is not None else spec.critical,
                          priority=spec.priority_for(UNKNOWN), target=target, details=details)
    problem = _not_finite(value)
    if problem:
        status, limit = UNKNOWN, spec.warning if spec.warning is not None else spec.critical
        if problem == 'is not a finite number':
            try:
                breach, breached = spec.evaluate(value)
            except ArithmeticError:  # a decimal NaN refuses to be compared
                breach, breached = OK, None
            if breach != OK:  # an infinite value beyond a limit keeps its breach
                status, limit = breach, breached
        text = _text_of(value)
        reason = '%s: value %s %s, nothing to judge against a threshold' % (label, text, problem)
        return make_check(name, status, reason, value=text, unit=unit, threshold=limit,
                          priority=spec.priority_for(status), target=target, details=details)
    status, limit = spec.evaluate(value)
    shown = format_value(value, unit)
    if status == OK:
        if limit is None:
            reason = '%s %s (no threshold set)' % (label, shown)
        else:
            reason = '%s %s %s %s' % (label, shown, '<=' if spec.direction == 'above' else '>=', format_value(limit, unit))
    else:
        reason = '%s %s %s %s' % (label, shown, '>' if spec.direction == 'above' else '<', format_value(limit, unit))
    return make_check(name, status, reason, value=value, unit=unit, threshold=limit,
                      priority=spec.priority_for(status), target=target, details=details)


def threshold_for(thresholds: Optional[Mapping[str, Any]], key: str) -> Any:
    """Look a threshold spec up by name in a ``maintenance_thresholds`` mapping (None when absent)."""
    if not thresholds:
        return None
    return thresholds.get(key)


def summarize(checks: Iterable[CheckDict]) -> Dict[str, Any]:
    """The aggregate every module returns beside its ``checks`` list."""
    checks = list(checks)
    return {
        'status': worst(checks),
        'counts': counts(checks),
        'failed_checks': [c['name'] + (' (%s)' % c['target'] if c.get('target') else '') for c in checks
                          if c['status'] in (WARNING, CRITICAL)],
    }


class Report(object):
    """What every backend entry returns, and the one thing ``module_support.finish`` takes.

    The contract between a module and its logic: each backend exposes ``run(params, check_mode, host=None)``
    (``params``: the module's parsed parameters; ``check_mode``: change nothing; ``host``: a
    ``module_support.ModuleHost`` for backends that run commands, move files or hide secrets) and returns a
    ``Report``:

    checks    list of check dicts (``Check.as_dict``), or None for a module that returns no checks
    changed   the module's ``changed``
    data      every other key of the module result
    warnings  messages Ansible shows as warnings (``module.warn``)
    diff      returned as ``diff`` only when the task runs in diff mode (a ``diff`` key in ``data`` is always returned)
    judged    the result carries ``status``/``counts``/``failed_checks`` and ``fail_on`` applies (always False
              without checks; False for a module without ``fail_on`` whose checks are records, not a verdict)
    """

    __slots__ = ('checks', 'changed', 'data', 'warnings', 'diff', 'judged')

    def __init__(self, checks: Optional[Iterable[CheckDict]] = None, changed: bool = False, data: Optional[Mapping[str, Any]] = None,
                 warnings: Optional[Iterable[str]] = None, diff: Any = None, judged: bool = True) -> None:
        self.checks = list(checks) if checks is not None else None
        self.changed = changed
        self.data = dict(data or {})
        clash = sorted(set(self.data) & set(('changed', 'checks')))
        if clash:
            raise ResultModelError('report data must not hold %s: they are fields of the report' % ', '.join(clash))
        self.warnings = list(warnings or [])
        self.diff = diff
        self.judged = bool(judged) and self.checks is not None

    @classmethod
    def from_result(cls, result: Mapping[str, Any], **fields: Any) -> 'Report':
        """A report from a result dict holding ``checks`` (and ``changed``) beside the rest of its data."""
        data = dict(result)
        return cls(data.pop('checks', None), changed=data.pop('changed', False), data=data, **fields)

    def result(self, diff_mode: bool = False) -> Dict[str, Any]:
        """The module result: ``changed``, ``checks``, the data, and the summary of the checks when judged."""
        result = dict(self.data)
        result['changed'] = self.changed
        if self.checks is not None:
            result['checks'] = self.checks
        if self.judged and self.checks is not None:  # judged implies checks (__init__)
            result.update(summarize(self.checks))
        if diff_mode and self.diff is not None:
            result['diff'] = self.diff
        return result
