"""Probe worker, run BY THE TARGET interpreter: forks one sacrificial child per probe.

Standard library only, and Python 3.8+ syntax: this file is copied next to the compiled C
helper (native/probe.c) and executed by the audited interpreter, never imported by the CLI.

Two modes:

``worker.py HELPER_DIR``
    Serve probe requests: one JSON object per line on stdin, one JSON result per line on
    stdout (parsed by auditor/probe.py).  Each probe runs in a child forked from this
    process, which has imported nothing of the audited environment.  A module that the
    worker itself had to import (``_json``, ``select``) cannot be probed fresh in a fork:
    such probes fork and then exec a brand-new interpreter in child mode.

``worker.py --child HELPER_DIR PROBE MODULE FILE INIT_NAME [PATH ...]``
    Child mode: run one probe and report on file descriptor 3.  Imports only built-in
    modules before the probe.

A child reports on its own pipe (never on stdout, which it shares with the audited
module): ``stage <name>`` lines as it goes, then ``result <json>``.  The worker adds what
only the parent can know: exit status or signal, timeout, the stage reached, the tail of
stderr and how much was written to stdout.
"""

import os
import sys

RESULT_FD = 3  # the result pipe's descriptor in a child started in exec mode
TAIL_BYTES = 4096  # how much of the child's stderr is kept as evidence
SUB_KINDS = ("legacy", "isolated", "own_gil")


# ---- child side: built-in modules only ------------------------------------------------


def _encode(value):
    """A tiny JSON encoder, so that the child needs no ``_json`` extension."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        out = ['"']
        for ch in value:
            code = ord(ch)
            if ch == '"' or ch == "\\":
                out.append("\\" + ch)
            elif code < 0x20 or code >= 0x7F:
                if code > 0xFFFF:
                    code -= 0x10000
                    out.append("\\u%04x\\u%04x" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)))
                else:
                    out.append("\\u%04x" % code)
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_encode(str(k)) + ":" + _encode(v) for k, v in value.items()) + "}"
    return _encode(repr(value))


class _Reporter:
    """Writes protocol lines to the result pipe, from the probing process only."""

    def __init__(self, fd):
        self.fd = fd
        self.pid = os.getpid()

    def _write(self, line):
        if os.getpid() != self.pid:  # a fork() made by the audited module: stay silent
            return
        data = (line + "\n").encode("ascii")
        while data:
            data = data[os.write(self.fd, data) :]

    def stage(self, name):
        self._write("stage " + name)

    def line(self, text):
        self._write(text)

    def result(self, payload):
        self._write("result " + _encode(payload))


def _text(exc):
    try:
        return str(exc)
    except BaseException:  # a hostile __str__ must not lose the probe
        return "<exception message could not be converted to str>"


def _chain(exc):
    """What `exc` was raised from, as native/probe.c's describe_chain() spells it."""
    parts = []
    current = exc
    for _ in range(5):
        nxt = current.__cause__
        if nxt is None and not current.__suppress_context__:
            nxt = current.__context__
        if nxt is None:
            break
        parts.append("%s: %s" % (type(nxt).__name__, _text(nxt)))
        current = nxt
    return " <- ".join(parts)[:8191] or None


def _exception_fields(exc):
    return {"exception": type(exc).__name__, "message": _text(exc)[:8192], "cause": _chain(exc)}


OK = {"outcome": "ok", "exception": None, "message": None, "cause": None}


def _import_in_main(name):
    """Import ``name`` in the main interpreter: {"outcome", "exception", "message", "cause"}."""
    try:
        __import__(name)
        sys.modules[name]
    except ImportError as exc:
        return dict(outcome="import_error", **_exception_fields(exc))
    except BaseException as exc:  # SystemExit and friends are evidence too
        return dict(outcome="error", **_exception_fields(exc))
    return dict(OK)


def _import_in_sub(helper, kind, name, paths, reporter):
    status, first, second, cause = helper.run_in_subinterpreter(
        kind, name, paths, reporter.fd, reporter.pid
    )
    if status == "ok":
        return dict(OK)
    if status == "create_failed":
        return dict(OK, outcome="error", exception="PyStatus", message=first + ": " + second)
    outcome = "import_error" if first in ("ImportError", "ModuleNotFoundError") else "error"
    return {"outcome": outcome, "exception": first, "message": second, "cause": cause}


def _leave_if_create_failed(result, reporter):
    """On 3.12 a failed Py_NewInterpreterFromConfig breaks the GIL state: report and leave
    without finalizing (../shared/research/subinterp-tech.md, 1.3)."""
    if result.get("exception") == "PyStatus":
        reporter.result(result)
        os._exit(0)


def run_probe(helper, probe, module, path, init_name, paths, reporter, main_done=False):
    """Run one probe in this (sacrificial) process and report its result.

    `main_done`: an after-main probe forked from a process that has already imported the
    module in its main interpreter (Worker.probe_group).
    """
    sys.path[0:0] = paths
    result = {"probe": probe}
    if probe == "init":
        reporter.stage("init")
        try:
            result["init"] = helper.read_init(path, init_name)
            result["outcome"] = "ok"
        except BaseException as exc:
            result["outcome"] = "import_error" if isinstance(exc, ImportError) else "error"
            result.update(_exception_fields(exc))
    elif probe == "main":
        reporter.stage("main_import")
        result.update(_import_in_main(module))
    elif probe in SUB_KINDS:
        # Fresh: the subinterpreter is the first to load the module, then main tries.
        result.update(_import_in_sub(helper, probe, module, paths, reporter))
        _leave_if_create_failed(result, reporter)
        reporter.stage("main_import")
        result["main_after"] = _import_in_main(module)
    elif probe.endswith("_after_main") and probe[: -len("_after_main")] in SUB_KINDS:
        if main_done:
            before = {"outcome": "ok"}
        else:
            reporter.stage("main_import")
            before = _import_in_main(module)
        if before["outcome"] != "ok":
            result.update(outcome="not_run", exception=before["exception"], cause=None)
            result["message"] = "the import in the main interpreter failed first: %s" % (
                before["message"],
            )
        else:
            kind = probe[: -len("_after_main")]
            result.update(_import_in_sub(helper, kind, module, paths, reporter))
            _leave_if_create_failed(result, reporter)
    else:
        raise SystemExit("worker: unknown probe %r" % (probe,))
    reporter.result(result)
    reporter.stage("process_exit")


def load_helper(helper_dir):
    sys.path.insert(0, helper_dir)
    try:
        import _subinterp_probe  # type: ignore[import-not-found]  # built by auditor/native.py
    finally:
        del sys.path[0]
    return _subinterp_probe


def child_main(argv):
    """Exec mode: ``--child HELPER_DIR PROBE MODULE FILE INIT_NAME [PATH ...]``."""
    import faulthandler

    faulthandler.enable(all_threads=True)
    helper_dir, probe, module, path, init_name = argv[:5]
    helper = load_helper(helper_dir)
    run_probe(helper, probe, module, path, init_name, list(argv[5:]), _Reporter(RESULT_FD))
    # Returning lets the interpreter finalize normally: a crash at exit is evidence.


# ---- worker side --------------------------------------------------------------------


def _signal_name(number):
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal %d" % number


class _Stream:
    """Drains one pipe of the child, keeping the byte count and the last TAIL_BYTES."""

    def __init__(self, fd, keep_all=False):
        self.fd = fd
        self.keep_all = keep_all
        self.total = 0
        self.data = bytearray()

    def read(self):
        """Read what is there; False at end of file."""
        try:
            chunk = os.read(self.fd, 65536)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        self.total += len(chunk)
        self.data += chunk
        if not self.keep_all and len(self.data) > 2 * TAIL_BYTES:
            del self.data[:-TAIL_BYTES]
        return True

    def tail(self):
        return bytes(self.data[-TAIL_BYTES:]).decode("utf-8", "replace")


class Worker:
    def __init__(self, helper_dir):
        import json
        import select

        self.json = json
        self.select = select
        self.helper_dir = helper_dir
        self.helper = load_helper(helper_dir)
        # Extension modules this process already holds: a fork would not probe them fresh.
        self.preloaded = {
            name
            for name, mod in list(sys.modules.items())
            if getattr(mod, "__file__", None) and not mod.__file__.endswith((".py", ".pyc"))
        }
        self._watch_children()
        self._children = []  # process groups of the probes under way (for SIGTERM)
        # Ctrl-C in the terminal reaches every process of its group: the CLI decides, and
        # ends this worker with SIGTERM, which takes the probe under way down with it.
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._terminate)

    def _terminate(self, signum, frame):
        """SIGTERM: end the probes under way (a group child ends its own), then exit."""
        import time

        for sig, pause in ((15, 0.2), (9, 0)):
            for pgid in self._children:
                try:
                    os.killpg(pgid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(pause)
        os._exit(143)

    def _watch_children(self):
        """SIGCHLD wakes select() through a pipe, so that a child's exit is seen at once."""
        import signal

        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_w)

    def serve(self):
        """Answer requests until stdin closes."""
        out = sys.stdout
        out.write(self.json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
        out.flush()
        for line in sys.stdin:
            if not line.strip():
                continue
            request = self.json.loads(line)
            # Both return only in the worker, never in a child.
            if request.get("after"):
                reply = {"replies": self.probe_group(request)}
            else:
                reply = self.probe(request)
            reply["id"] = request.get("id")
            out.write(self.json.dumps(reply) + "\n")
            out.flush()

    def probe(self, request, on_spawn=None):
        """One probe in one child: forked from here, or (exec mode) a new interpreter."""
        name = request["module"]
        fresh_exec = request.get("exec", False) or name in self.preloaded
        args = [
            self.helper_dir,
            request["probe"],
            name,
            request["path"],
            request["init_name"],
        ] + list(request.get("paths", []))

        def child(reporter):
            if fresh_exec:
                os.set_inheritable(RESULT_FD, True)
                script = os.path.abspath(__file__)
                os.execv(sys.executable, [sys.executable, script, "--child"] + args)
            run_probe(
                self.helper,
                args[1],
                name,
                args[3],
                args[4],
                args[5:],
                reporter,
                main_done=request.get("main_done", False),
            )

        reply = self._spawn(request, child, float(request.get("timeout", 60)), on_spawn)
        reply["fresh_exec"] = fresh_exec
        return reply

    def probe_group(self, request):
        """`main`, then the after-main probes, sharing one import in the main interpreter.

        A child imports the module in its main interpreter (that is the `main` probe), then
        forks one grandchild per after-main probe: each starts from exactly the state a fresh
        process has after that import, and only does the subinterpreter part.  Equivalent to
        running each after-main probe in its own process (--isolation strict), one import
        cheaper each.
        """
        timeout = float(request.get("timeout", 60))
        after = list(request["after"])
        if request.get("exec") or request["module"] in self.preloaded:
            # A module this process holds cannot be probed in a fork: one process each.
            replies = [self.probe(dict(request, probe="main"))]
            if replies[0].get("outcome") == "ok":
                replies += [self.probe(dict(request, probe=p)) for p in after]
            return replies

        def child(reporter):
            import signal

            self._watch_children()  # this child waits for grandchildren of its own
            self._children = []
            signal.signal(signal.SIGTERM, self._terminate)
            sys.path[0:0] = request.get("paths", [])
            reporter.stage("main_import")
            main = _import_in_main(request["module"])
            reporter.result(dict(probe="main", **main))
            if main["outcome"] == "ok":
                for probe in after:
                    sub = dict(request, probe=probe, main_done=True)
                    reply = self.probe(sub, on_spawn=lambda pid: reporter.line("spawned %d" % pid))
                    reporter.line("subresult " + self.json.dumps(reply))
            reporter.stage("process_exit")

        # The group may take one timeout for main and one per after-main probe.
        reply = self._spawn(dict(request, probe="main"), child, timeout * (1 + len(after)))
        reply["fresh_exec"] = False
        subresults = reply.pop("subresults", [])
        for sub in subresults:
            # What the shared main import wrote belongs to each after-main probe too, as it
            # does when each probe imports in main itself.
            sub["stdout_bytes"] += reply["stdout_bytes"]
            sub["stderr_tail"] = (reply["stderr_tail"] + sub["stderr_tail"])[-TAIL_BYTES:]
        return [reply] + subresults

    def _spawn(self, request, child, timeout, on_spawn=None):
        """Fork; run `child(reporter)` there with its own pipes; watch it; return its reply."""
        import signal
        import time

        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # ---- the child
            try:
                os.setpgid(0, 0)
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                # stdin from /dev/null, stdout and stderr to the worker's pipes, the result
                # pipe on RESULT_FD.  Each source descriptor is duplicated before the one
                # that could overwrite it (they are all > 2; only RESULT_FD can collide).
                for fd in (self.wake_r, self.wake_w, res_r, out_r, err_r):
                    os.close(fd)
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                if res_w != RESULT_FD:
                    os.dup2(res_w, RESULT_FD)
                for fd in {devnull, out_w, err_w, res_w} - {RESULT_FD}:
                    os.close(fd)
                import faulthandler

                faulthandler.enable(all_threads=True)
                child(_Reporter(RESULT_FD))
            except SystemExit:
                raise
            except BaseException:  # a bug of ours: show it in stderr
                import traceback

                traceback.print_exc()
                os._exit(70)
            # Leave through normal interpreter finalization (the worker's stack has no
            # cleanup of its own), so that a crash at exit shows.
            raise SystemExit(0)
        # ---- the parent
        self._children.append(pid)
        if on_spawn is not None:
            on_spawn(pid)
        for fd in (res_w, out_w, err_w):
            os.close(fd)
        try:
            return self._watch(pid, request, started, timeout, res_r, out_r, err_r)
        finally:
            self._children.remove(pid)

    def _watch(self, pid, request, started, timeout, res_r, out_r, err_r):
        import time

        streams = {fd: _Stream(fd, keep_all=(fd == res_r)) for fd in (res_r, out_r, err_r)}
        for fd in streams:
            os.set_blocking(fd, False)
        deadline = started + timeout
        status = None
        timed_out = False
        open_fds = set(streams)
        while status is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            try:
                # SIGCHLD normally wakes us at once; the 0.1 s cap covers an audited module
                # that replaced our SIGCHLD handler (a main-import child runs its code).
                ready, _, _ = self.select.select(
                    list(open_fds) + [self.wake_r], [], [], min(remaining, 0.1)
                )
            except InterruptedError:
                ready = []
            for fd in ready:
                if fd == self.wake_r:
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                elif not streams[fd].read():
                    open_fds.discard(fd)
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = wait_status
        # Kill the child's process group: the child after a timeout, and whatever the
        # audited module forked, in every case.
        try:
            os.killpg(pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        if status is None:
            _, status = os.waitpid(pid, 0)
        seconds = time.monotonic() - started
        # Drain what is left.  The writers are gone, unless something the module forked
        # left the process group: do not wait for that one.
        drain_until = time.monotonic() + 1.0
        while open_fds and time.monotonic() < drain_until:
            ready, _, _ = self.select.select(list(open_fds), [], [], 0.2)
            for fd in ready:
                if not streams[fd].read():
                    open_fds.discard(fd)
        for fd in streams:
            os.close(fd)
        return self._reply(
            request, streams[res_r], streams[out_r], streams[err_r], status, timed_out, seconds
        )

    def _reply(self, request, res, out, err, status, timed_out, seconds):
        stage = None
        result = None
        imported = None  # what the import in a subinterpreter reported, before its end
        subresults = []  # a group's after-main probes, reported by its child
        for line in bytes(res.data).decode("ascii", "replace").splitlines():
            key, _, value = line.partition(" ")
            if key == "stage":
                stage = value
            elif key == "import_outcome":
                imported = value
            elif key == "result":
                result = self.json.loads(value)
            elif key == "subresult":
                subresults.append(self.json.loads(value))
            elif key == "spawned":
                # A grandchild's process group: gone with its parent, whatever happened.
                try:
                    os.killpg(int(value), 9)
                except (ProcessLookupError, PermissionError, ValueError):
                    pass
        reply = {
            "probe": request["probe"],
            "stage": stage,
            "seconds": round(seconds, 4),
            "stdout_bytes": out.total,
            "stderr_tail": err.tail(),
            "exit_code": None,
            "signal": None,
        }
        if subresults:
            reply["subresults"] = subresults
        if os.WIFSIGNALED(status):
            reply["signal"] = _signal_name(os.WTERMSIG(status))
        elif os.WIFEXITED(status):
            reply["exit_code"] = os.WEXITSTATUS(status)
        if result is not None:
            reply.update(result)
        died = reply["signal"] is not None or reply["exit_code"] not in (0, None)
        if timed_out or died or result is None:
            # A hang or a crash at `stage`, even when the import itself had already
            # reported (then import_outcome says what it did).  Exiting 0 without a
            # result is os._exit(0) during the probe: a crash too.
            reply["import_outcome"] = reply.get("outcome", imported)
            reply["outcome"] = "timeout" if timed_out else "crash"
            if timed_out:
                reply["signal"] = None  # the SIGKILL was ours
        return reply


def main(argv):
    script_dir = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == script_dir:
        del sys.path[0]  # the helper directory must not shadow audited modules
    if argv[:1] == ["--child"]:
        child_main(argv[1:])
    else:
        Worker(argv[0]).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
