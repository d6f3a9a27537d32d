"""A fork server that runs this collection's modules in-process, one forked child per call.

Started by ``fuzz_support.Worker`` (under ``unshare -n`` when it can be). It imports Ansible and every module once,
then reads one JSON request per line on stdin::

    {"module": "file_cleanup", "args": {...}, "cwd": "...", "env": {...}, "timeout": 10, "out": "..."}

For each request it forks a child in its own process group which changes to ``cwd``, sets ``env``, hands the
arguments to the module as Ansible does (``basic._ANSIBLE_ARGS``) and calls ``main()`` with stdout and stderr
going to ``<out>.stdout`` / ``<out>.stderr``. The parent kills the child's whole process group when it exits or
when ``timeout`` passes, and answers one JSON line: ``{"rc": ..., "timed_out": ...}``. A crash or a hang of a
module therefore never takes the worker or the test run with it, and no module's global state leaks into the next.
"""

import importlib
import json
import os
import signal
import sys
import tempfile
import time
import traceback

PACKAGE = 'ansible_collections.autopilotcx.maintenance.plugins.modules.'


def _child(module, request):
    os.setpgid(0, 0)
    out = request['out']
    for fd, suffix in ((1, '.stdout'), (2, '.stderr')):
        handle = os.open(out + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(handle, fd)
        os.close(handle)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    code = 1
    try:
        os.chdir(request['cwd'])
        os.environ.update(request['env'])
        tempfile.tempdir = None
        from ansible.module_utils import basic
        basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': request['args']}).encode('utf-8', 'surrogatepass')
        basic._ANSIBLE_PROFILE = 'legacy'
        try:
            module.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # the point of the harness: report what escaped main(), as Ansible would
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _run(modules, request):
    module = modules[request['module']]
    pid = os.fork()
    if pid == 0:
        _child(module, request)
    deadline = time.monotonic() + request['timeout']
    timed_out = False
    status = None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            timed_out = True
            _kill_group(pid)
            _pid, status = os.waitpid(pid, 0)
            break
        time.sleep(0.005)
    _kill_group(pid)  # whatever the module left running
    if os.WIFEXITED(status):
        rc = os.WEXITSTATUS(status)
    else:
        rc = -os.WTERMSIG(status)
    return dict(rc=rc, timed_out=timed_out)


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def main():
    sys.path.insert(0, sys.argv[1])
    modules = {}
    for name in sys.argv[2:]:
        modules[name] = importlib.import_module(PACKAGE + name)
    sys.stdout.write(json.dumps({'ready': sorted(modules)}) + '\n')
    sys.stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = _run(modules, json.loads(line))
        sys.stdout.write(json.dumps(answer) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
