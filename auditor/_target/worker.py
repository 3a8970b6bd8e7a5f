"""Probe processes, run BY THE TARGET interpreter: a zygote and the probe children it forks.

Standard library only, built-in modules only, Python 3.8+ syntax: this file is copied next
to the compiled C helper (native/probe.c) and executed by the audited interpreter, never
imported by the CLI.  The supervisor (deadlines, pipes, evidence) is the CLI's
auditor/probing/scheduler.py; nothing here imports an extension module of its own.

Roles (each a process; the CLI starts the first two):

``worker.py --zygote HELPER_DIR``
    The zygote.  It does exactly what a strict-mode child does before its probe (enable
    faulthandler, import the C helper) and then waits: for each request on stdin it forks
    a probe child, says ``forked PID`` on stdout, waits for the child, and says
    ``reaped PID STATUS``.  A fork of the zygote therefore starts from the state of a newly
    started target interpreter running the helper: the same main-interpreter modules, one
    thread, no signal handlers of the tool's.

``worker.py --child FIELD...``
    The strict mode's probe child (``--isolation strict``), exec'd by a fork of the zygote:
    the same request, in a brand-new interpreter.

A probe child runs ONE probe.  It reports on descriptor RESULT_FD (never on stdout, which
it shares with the audited module): ``stage <name>`` lines as it goes, then
``result <json>``.  Its stdout and stderr go to the supervisor too.  A *group* child runs
``main`` and then, if that import left no thread running, forks one grandchild per
after-main probe from that exact state (``forked K PID`` / ``reaped K STATUS`` on its
result pipe).  A fresh probe forks once more after its subinterpreter ended, so that the
exit of a process that used the module only in a subinterpreter is observed too.

Requests are NUL-separated fields (see ``Request``), so that no JSON parser is needed.
"""

import os
import sys

RESULT_FD = 3  # the result pipe's descriptor in every probe child
SUB_KINDS = ("legacy", "isolated", "own_gil")
EXIT_TOOL_FAILURE = 70  # a probe child that failed through a fault of this file
MAX_MESSAGE = 8192  # characters kept of any exception message (native/probe.c copies enough)
# The cycles probe settles early: after this many cycles, a module whose C heap grew by at
# most CLEAN_GROWTH bytes per cycle beyond the empty control's (a quarter of the leak
# threshold, LEAK_BYTES_PER_CYCLE in auditor/judging/classify.py) stops there; any other, or
# any whose control is unknown, runs all N cycles and is judged on them, as before.  Six: on
# the 30-cycle series of 293 cycles probes of real modules (3.12.1, 3.13.0, 3.14.10;
# bench/settle.py), settling after 4, 5, 6, 8 or 10 cycles decided alike, and no probe that
# settled leaked over all 30.
SETTLE_CYCLES = 6
CLEAN_GROWTH = 64 * 1024


# ---- encoding: built-in modules only ------------------------------------------------------


def _encode(value):
    """A tiny JSON encoder, so that no process here needs the ``_json`` extension."""
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


def _decode(data):
    """UTF-8 bytes (possibly cut by the C helper inside a character) -> str."""
    if data is None:
        return None
    for cut in range(4):  # a cut character is at most 3 bytes of a 4-byte sequence
        try:
            return data[: len(data) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "replace")


class Request:
    """One probe request: the fields the supervisor sends, in this order.

    ``mode probe module path init_name N path*N out err res M (probe out err res)*M
    kind threads rounds cycles control_cycles control_growth smoke``; mode is ``fork`` or
    ``exec``; out/err/res are the FIFOs of the probe child's stdout, stderr and result pipe;
    the M entries are after-main probes of a group; the last seven are the depth probes'
    interpreter kind and sizes (control_cycles 0: the cycles probe skips its empty control,
    measured once for the scan by the ``control`` probe, whose C heap growth per cycle is
    control_growth, "" when unknown), and the maintainer's smoke code ("" for none).
    """

    def __init__(self, fields):
        it = iter(fields)
        self.fields = list(fields)
        self.mode = next(it)
        self.probe = next(it)
        self.module = next(it)
        self.path = next(it)
        self.init_name = next(it)
        self.paths = [next(it) for _ in range(int(next(it)))]
        self.fifos = (next(it), next(it), next(it))
        self.after = [(next(it), (next(it), next(it), next(it))) for _ in range(int(next(it)))]
        self.kind = next(it)
        self.threads, self.rounds, self.cycles = int(next(it)), int(next(it)), int(next(it))
        self.control_cycles = int(next(it))
        growth = next(it)
        self.control_growth = int(growth) if growth else None
        self.smoke = next(it) or None


class _Reporter:
    """Writes protocol lines to the result pipe, from the probing process only."""

    def __init__(self, fd, pid):
        self.fd = fd
        self.pid = pid

    def _write(self, line):
        if os.getpid() != self.pid:  # a fork() made by the audited module: stay silent
            return
        data = (line + "\n").encode("ascii")
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError:  # the supervisor is gone, or the module closed our pipe
            pass

    def leave_if_copy(self):
        """Called right after the audited module's code ran: a process that the module
        forked (with a raw fork(), which nothing can stop) continues here as a copy of the
        prober.  It must not probe on, fork probe children or report: it leaves at once,
        quietly, in every isolation mode alike."""
        if os.getpid() != self.pid:
            os._exit(0)

    def stage(self, name):
        self._write("stage " + name)

    def line(self, text):
        self._write(text)

    def result(self, payload):
        self._write("result " + _encode(payload))

    def closure(self, sub_files):
        """What this process has loaded, said as soon as one whole visit of the module (its
        import in a subinterpreter that has ended) is behind a fresh probe.  The steps after
        it repeat that import (in main); if one of them kills the process, the cache can
        still key the result by these files instead of by the whole environment.  (A depth
        probe's first visit has the C helper say it before its interpreter ends.)"""
        self.files(_loaded_files(sub_files))
        self._write("files_said")

    def files(self, names):
        """Loaded files, one "filehex" line each (the path's bytes in hex, as the C helper
        writes them when a depth probe's first visit ends: say_files)."""
        for name in names:
            self._write("filehex " + os.fsencode(name).hex())


# ---- what happened: one formatter, one ImportError rule -----------------------------------


def _text(exc):
    try:
        return str(exc)
    except BaseException:  # a hostile __str__ must not lose the probe
        return "<exception message could not be converted to str>"


def _decode_message(data):
    """A message from the C helper -> str, cut like any other message."""
    text = _decode(data)
    return None if text is None else text[:MAX_MESSAGE]


def _format_chain(links):
    """[(type name, message), ...] -> "Type: message <- Type: message" (None if empty)."""
    text = " <- ".join("%s: %s" % (kind, message) for kind, message in links)
    return text[:MAX_MESSAGE] or None


def _chain(exc):
    """What `exc` was raised from: its __cause__, else its unsuppressed __context__."""
    links = []
    current = exc
    for _ in range(5):
        nxt = current.__cause__
        if nxt is None and not current.__suppress_context__:
            nxt = current.__context__
        if nxt is None:
            break
        links.append((type(nxt).__name__, _text(nxt)[:MAX_MESSAGE]))
        current = nxt
    return _format_chain(links)


def _outcome(is_import_error):
    """The one rule: an ImportError (or a subclass) is a refusal, anything else an error."""
    return "import_error" if is_import_error else "error"


def _importers(exc):
    """__name__ of every module whose body is on the traceback of `exc` or of what it was
    raised from, outermost first: the modules whose import led to the failure (CPython
    removes importlib's own frames from import errors).  native/probe.c does the same."""
    names = []
    current = exc
    for _ in range(6):
        if current is None:
            break
        tb = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_name == "<module>":
                name = frame.f_globals.get("__name__")
                if isinstance(name, str) and name not in names:
                    names.append(name)
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    return names


def _exception_fields(exc):
    return {
        "exception": type(exc).__name__,
        "message": _text(exc)[:MAX_MESSAGE],
        "cause": _chain(exc),
        "importers": _importers(exc),
    }


OK = {"outcome": "ok", "exception": None, "message": None, "cause": None}


def _import_in_main(name, use=None):
    """Import ``name`` in the main interpreter, then run the source `use` if given:
    {"outcome", "exception", "message", "cause"} (and "step": "use" if `use` failed)."""
    try:
        __import__(name)
        sys.modules[name]
    except BaseException as exc:  # SystemExit and friends are evidence too
        return dict(outcome=_outcome(isinstance(exc, ImportError)), **_exception_fields(exc))
    if use is not None:
        try:
            exec(compile(use, "<use>", "exec"), {"__builtins__": __builtins__})
        except BaseException as exc:
            return dict(outcome="error", step="use", **_exception_fields(exc))
    return dict(OK)


# "Use" of a module in the depth probes: what any program does with it, then the
# maintainer's smoke code.  Run as source in the interpreter that imported the module.
_USE = (
    "import gc, sys\n"
    "_m = sys.modules[%r]\n"
    "for _n in [n for n in dir(_m) if not n.startswith('_')][:8]:\n"
    "    repr(getattr(_m, _n))\n"
    "_m = _n = None\n"
    "gc.collect()\n"
)


def _smoke_source(smoke):
    """The maintainer's smoke code, compiled as its own file in a namespace of its own; its
    failure is told apart from the import's (auditor/judging/classify.py SMOKE_FAILED)."""
    return (
        "try:\n"
        "    exec(compile(" + repr(smoke) + ", '<smoke>', 'exec'), {'__name__': '__smoke__'})\n"
        "except BaseException as _e:\n"
        "    raise RuntimeError('smoke code failed: ' + type(_e).__name__ + ': ' + str(_e))"
        " from _e\n"
    )


def _use_source(module, smoke):
    return _USE % (module,) + (_smoke_source(smoke) if smoke else "")


def _import_in_sub(helper, kind, request, reporter, files, label="", use=None, say_files=False):
    raw = helper.run_in_subinterpreter(
        kind, request.module, request.paths, reporter.fd, reporter.pid, label, use, say_files
    )
    return _visit(raw, files)


def _visit(raw, files):
    """One subinterpreter's visit (the C helper's raw dict) -> a result dict; a failure
    of the `use` code says so in "step"."""
    files.extend(os.fsdecode(f) for f in raw.get("files", ()))
    if raw["status"] == "ok":
        return dict(OK)
    if raw["status"] == "create_failed":
        message = "%s: %s" % (raw["exception"], _decode(raw["message"]))
        return dict(OK, outcome="error", exception="PyStatus", message=message)
    links = []
    for record in (raw.get("chain") or b"").split(b"\x1e"):
        if record:
            kind_name, _, text = record.partition(b"\x1f")
            links.append((_decode(kind_name), _decode_message(text)))
    message = raw.get("message")
    failed_at = raw.get("failed_at")
    importers = [_decode(n) for n in (raw.get("importers") or b"").split(b"\x1e") if n]
    return {
        "importers": importers,
        "step": "use" if failed_at == "use" else None,
        "outcome": "error" if failed_at == "use" else _outcome(raw["import_error"]),
        "exception": raw["exception"],
        "message": (
            _decode_message(message)
            if message is not None
            else "<exception message could not be converted to str>"
        ),
        "cause": _format_chain(links),
    }


def _say_imported(result, reporter):
    """What the subinterpreter's import did, said at once: if the process dies later (at the
    interpreter's end, at exit, in main's import), the evidence still has the exception."""
    reporter.line(
        "imported "
        + _encode({k: result.get(k) for k in ("outcome", "exception", "message", "cause")})
    )


def _leave_if_create_failed(result, reporter):
    """On 3.12 a failed Py_NewInterpreterFromConfig breaks the GIL state: report and leave
    without finalizing (native/probe.c, run_in_subinterpreter: on 3.12.1 the main thread
    state, current again, does not really hold its GIL)."""
    if result.get("exception") == "PyStatus":
        reporter.result(result)
        os._exit(0)


# ---- process state ----------------------------------------------------------------------


def _thread_count():
    """Threads of this process (Linux /proc); None when it cannot be told."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def _status(status):
    """A wait status -> {"outcome", "signal", "exit_code"} (signal as a number)."""
    if os.WIFSIGNALED(status):
        return {"outcome": "crash", "signal": os.WTERMSIG(status), "exit_code": None}
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    return {"outcome": "ok" if code == 0 else "crash", "signal": None, "exit_code": code}


def _observe_exit(reporter):
    """Fork: the copy exits at once, through normal finalization; this process waits for it.

    A process that used the module only in a subinterpreter may die at exit (CPython 3.12.1
    after ``ssl`` in an isolated interpreter); the rest of a fresh probe imports in main,
    which would hide that.  Not done when threads run: fork copies their locks, not them.
    """
    threads = _thread_count()
    if threads != 1:
        why = "threads are running" if threads else "the thread count is unknown"
        return {"outcome": "not_run", "signal": None, "exit_code": None, "message": why}
    reporter.stage("exit_after_subinterpreter")
    pid = os.fork()
    if pid == 0:
        raise SystemExit(0)  # up through every frame: nothing of ours runs on the way out
    _, status = os.waitpid(pid, 0)
    return _status(status)


def _loaded_files(extra=()):
    """What this process loaded: __file__ of main's modules, the subinterpreter's
    (`extra`), and every mapped file (extension modules and the libraries they link)."""
    files = set(extra)
    for module in list(sys.modules.values()):
        try:
            name = module.__dict__.get("__file__")
        except BaseException:  # a hostile module object
            continue
        if isinstance(name, str):
            files.add(name)
    try:
        with open("/proc/self/maps", "rb") as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith(b"/"):
                    path = parts[5].rstrip(b"\n")
                    if not path.endswith(b" (deleted)"):
                        files.add(os.fsdecode(path))
    except OSError:
        pass
    return sorted(os.path.abspath(f) for f in files)


# ---- probe child -------------------------------------------------------------------------


def run_probe(helper, request, reporter, main_done=False):
    """Run one probe in this (sacrificial) process and report its result.

    `main_done`: an after-main probe forked from a group child that has already imported
    the module in its main interpreter.
    """
    probe = request.probe
    sys.path[0:0] = request.paths
    result = {"probe": probe}
    sub_files = []
    smoke = _smoke_source(request.smoke) if request.smoke else None
    if probe == "init":
        reporter.stage("init")
        try:
            result["init"] = helper.read_init(request.path, request.init_name)
            result["outcome"] = "ok"
        except BaseException as exc:
            result["outcome"] = _outcome(isinstance(exc, ImportError))
            result.update(_exception_fields(exc))
        reporter.leave_if_copy()
    elif probe == "main":
        reporter.stage("main_import")
        result.update(_import_in_main(request.module, smoke))
        reporter.leave_if_copy()
    elif probe in SUB_KINDS:
        # Fresh: the subinterpreter is the first to load the module, then main tries.
        result.update(_import_in_sub(helper, probe, request, reporter, sub_files, "", smoke))
        reporter.leave_if_copy()
        _leave_if_create_failed(result, reporter)
        _say_imported(result, reporter)
        reporter.closure(sub_files)
        result["exit_after_sub"] = _observe_exit(reporter)
        reporter.stage("main_import")
        result["main_after"] = _import_in_main(request.module, smoke)
        reporter.leave_if_copy()
    elif probe.endswith("_after_main") and probe[: -len("_after_main")] in SUB_KINDS:
        before = {"outcome": "ok"}
        if not main_done:
            reporter.stage("main_import")
            before = _import_in_main(request.module, smoke)
            reporter.leave_if_copy()
        if before["outcome"] != "ok":
            result.update(outcome="not_run", exception=before["exception"], cause=None)
            result["message"] = "the import in the main interpreter failed first: %s" % (
                before["message"],
            )
        else:
            kind = probe[: -len("_after_main")]
            result.update(_import_in_sub(helper, kind, request, reporter, sub_files, "", smoke))
            reporter.leave_if_copy()
            _leave_if_create_failed(result, reporter)
            _say_imported(result, reporter)
    elif probe in DEPTH_PROBES:
        result["kind"] = request.kind
        if probe != "control":
            reporter.files(_loaded_files())  # main's part; the first visit says the rest
        result.update(DEPTH_PROBES[probe](helper, request, reporter, sub_files))
    else:
        raise ValueError("unknown probe %r" % (probe,))
    result["files"] = _loaded_files(sub_files)
    result["gil_enabled"] = _gil_enabled()
    reporter.result(result)
    reporter.stage("process_exit")


# ---- depth probes: real use, in the best kind the import probes passed ---------------------


def _failed_at(result, step):
    """A clean failure (no crash) of a depth probe, and where: "B:import", "round 2:use"."""
    result = dict(result)
    result["step"] = step + ":" + (result.get("step") or "import")
    return result


def _reuse(helper, request, reporter, files):
    """Interpreter A imports and uses the module and ends; then B; then main; then C while
    main holds it, and main uses it again; then the process exits normally (a crash there is
    this probe's, at stage process_exit)."""
    use = _use_source(request.module, request.smoke)
    for label in ("A", "B"):
        # A says what the process has loaded before it ends (a crash after that keeps it).
        result = _import_in_sub(
            helper, request.kind, request, reporter, files, label, use, say_files=label == "A"
        )
        reporter.leave_if_copy()
        _leave_if_create_failed(result, reporter)
        if result["outcome"] != "ok":
            return _failed_at(result, label)
    reporter.stage("main:import")
    result = _import_in_main(request.module, use)
    reporter.leave_if_copy()
    if result["outcome"] != "ok":
        return _failed_at(result, "main")
    # One more interpreter while main holds the module, then main uses it again: what a C
    # global replaced by each exec (an exception class, a type) does to main.
    result = _import_in_sub(helper, request.kind, request, reporter, files, "C", use)
    reporter.leave_if_copy()
    if result["outcome"] != "ok":
        return _failed_at(result, "C")
    reporter.stage("main:use")
    result = _import_in_main(request.module, use)
    reporter.leave_if_copy()
    if result["outcome"] != "ok":
        return _failed_at(result, "main again")
    return dict(OK)


def _concurrent(helper, request, reporter, files):
    """R rounds, each of the two ways people run K interpreters at once, each interpreter
    importing and using the module: K interpreters living on K OS threads, released
    together and ended together (InterpreterPoolExecutor); then K interpreters created by
    this thread, used by K other threads together, and ended by this thread
    (concurrent.interpreters' create(), exec() or call_in_thread(), close())."""
    use = _use_source(request.module, request.smoke)
    patterns = (("round %d", helper.run_together), ("round %d handed over", helper.run_handed_over))
    for number in range(1, request.rounds + 1):
        for label_format, run in patterns:
            label = label_format % number
            raws = run(
                request.kind,
                request.module,
                request.paths,
                reporter.fd,
                reporter.pid,
                label,
                use,
                request.threads,
                label == "round 1",  # interpreter 1 says what was loaded before it ends
            )
            reporter.leave_if_copy()
            for index, raw in enumerate(raws):
                result = _visit(raw, files)
                _leave_if_create_failed(result, reporter)
                if result["outcome"] != "ok":
                    return _failed_at(result, "%s, interpreter %d" % (label, index + 1))
    return dict(OK)


def _growth(samples):
    """Bytes per cycle from the first cycle's end to the last's (the first load's one-time
    costs, dlopen and caches, are not a leak); None when unknown."""
    if len(samples) < 2 or samples[0] < 0 or samples[-1] < 0:
        return None
    return (samples[-1] - samples[0]) // (len(samples) - 1)


def _settled(heaps, control):
    """The first SETTLE_CYCLES cycles grew the C heap by CLEAN_GROWTH a cycle or less beyond
    the control's growth (known)."""
    growth = _growth(heaps)
    return growth is not None and control is not None and growth - control <= CLEAN_GROWTH


def _cycles(helper, request, reporter, files):
    """N x create / import / use / end (6 when the first 6 are clean: SETTLE_CYCLES), the
    C heap and RSS after each, against a control of the same kind that imports nothing:
    measured first, in this same process, unless the scan measured it once already
    (control_cycles 0)."""
    runs = [("module", request.module, _use_source(request.module, request.smoke))]
    if request.control_cycles:
        runs.insert(0, ("control", "sys", None))
    return _heap_cycles(helper, request, reporter, files, runs)


def _control(helper, request, reporter, files):
    """The empty control alone: N x create / import sys / end in the kind, the C heap and
    RSS after each (the scan measures it once per kind, for every cycles probe)."""
    return _heap_cycles(helper, request, reporter, files, [("control", "sys", None)])


def _heap_cycles(helper, request, reporter, files, runs):
    """Each run's cycles, the heap and RSS after each.  The control always runs all N; the
    module's run settles early when clean (SETTLE_CYCLES), and ``cycles`` says how many ran."""
    figures = {"cycles": request.cycles}
    control = request.control_growth  # None until known
    for name, module, use in runs:
        heaps, rss = [], []
        for number in range(1, request.cycles + 1):
            if name == "module" and number == SETTLE_CYCLES + 1 and _settled(heaps, control):
                break
            label = "%s %d" % ("control cycle" if name == "control" else "cycle", number)
            first = name == "module" and number == 1  # says what was loaded before it ends
            raw = helper.run_in_subinterpreter(
                request.kind, module, request.paths, reporter.fd, reporter.pid, label, use, first
            )
            reporter.leave_if_copy()
            result = _visit(raw, files if name == "module" else [])
            _leave_if_create_failed(result, reporter)
            if result["outcome"] != "ok":
                result = _failed_at(result, label)
                result["heap"] = figures
                return result
            heap, resident = helper.heap()
            heaps.append(heap)
            rss.append(resident)
        prefix = "control_" if name == "control" else ""
        if name == "control":
            control = _growth(heaps)
        if name == "module":
            figures["cycles"] = len(heaps)
        figures[prefix + "heap_growth_per_cycle"] = _growth(heaps)
        figures[prefix + "rss_growth_per_cycle"] = _growth(rss)
    return dict(OK, heap=figures)


DEPTH_PROBES = {
    "reuse": _reuse,
    "concurrent": _concurrent,
    "cycles": _cycles,
    "control": _control,
}


def _gil_enabled():
    """Free-threaded builds (3.13+): whether something this probe loaded re-enabled the GIL
    for the whole process.  None on builds that always have one."""
    if not hasattr(sys, "_is_gil_enabled"):
        return None
    return sys._is_gil_enabled()


def run_group(helper, request, reporter):
    """``main``, then each after-main probe in a grandchild forked from that state."""
    sys.path[0:0] = request.paths
    reporter.stage("main_import")
    main = _import_in_main(request.module, _smoke_source(request.smoke) if request.smoke else None)
    reporter.leave_if_copy()
    main["probe"] = "main"
    main["files"] = _loaded_files()
    main["gil_enabled"] = _gil_enabled()
    reporter.result(main)
    if main["outcome"] != "ok" or not request.after:
        reporter.stage("process_exit")
        return
    threads = _thread_count()
    if threads != 1:
        # A fork now would copy the threads' locks but not the threads: the supervisor
        # runs the after-main probes in fresh processes instead.
        reporter.line("threads %s" % (threads,))
        reporter.stage("process_exit")
        return
    del sys.path[: len(request.paths)]  # each grandchild prepends them as a probe does
    for index, (probe, fifos) in enumerate(request.after):
        sub = Request(request.fields)
        sub.probe, sub.fifos, sub.after = probe, fifos, []
        pid = _fork_probe(helper, sub, main_done=True)
        reporter.line("forked %d %d" % (index, pid))
        _, status = os.waitpid(pid, 0)
        reporter.line("reaped %d %d" % (index, status))
    reporter.stage("process_exit")


def _install_fifos(fifos):
    """In a new probe child: stdin from /dev/null, stdout, stderr and RESULT_FD to the
    supervisor's FIFOs.  Sources move out of the way first: the audited module may have
    closed descriptors 0-2, so an opened FIFO can sit on any low number."""
    high = []
    for number, path in enumerate(fifos):
        fd = os.open(path, os.O_WRONLY)
        os.dup2(fd, 100 + number)
        os.close(fd)
        high.append(100 + number)
    devnull = os.open(os.devnull, os.O_RDONLY)
    if devnull != 0:
        os.dup2(devnull, 0)
        os.close(devnull)
    for target, fd in zip((1, 2, RESULT_FD), high):  # noqa: B905 - 3.8 syntax, equal lengths
        os.dup2(fd, target)
        os.close(fd)


def _fork_probe(helper, request, main_done=False):
    """Fork a probe child for `request`; in the parent, return its pid."""
    pid = os.fork()
    if pid != 0:
        try:
            os.setpgid(pid, pid)  # also done by the child: whichever runs first
        except OSError:
            pass
        return pid
    # ---- the probe child: never returns
    owner = os.getpid()
    try:
        os.setpgid(0, 0)  # its own process group: the supervisor kills it whole
        _install_fifos(request.fifos)
        reporter = _Reporter(RESULT_FD, owner)
        if request.mode == "exec":
            os.set_inheritable(RESULT_FD, True)
            os.execv(sys.executable, _exec_argv() + request.fields)
        if request.after:
            run_group(helper, request, reporter)
        else:
            run_probe(helper, request, reporter, main_done=main_done)
    except SystemExit:
        raise
    except BaseException:
        _tool_failure(owner)
    # Leave through normal interpreter finalization, so that a crash at exit shows.
    raise SystemExit(0)


def _tool_failure(owner):
    """A fault of this file, not of the audited module: say so, and leave.  Only the probe
    child itself (`owner`) speaks; a copy the module forked leaves quietly."""
    if os.getpid() != owner:
        os._exit(0)
    import traceback

    exc = sys.exc_info()[1]
    _Reporter(RESULT_FD, owner).line(
        "tool_failure " + _encode("%s: %s" % (type(exc).__name__, _text(exc)))
    )
    traceback.print_exc()
    os._exit(EXIT_TOOL_FAILURE)


def _exec_argv():
    """How to start this file again in a new interpreter with the flags of this one."""
    flags = ["-P"] if getattr(sys.flags, "safe_path", False) else []
    return [sys.executable] + flags + [os.path.abspath(__file__), "--child"]


# ---- zygote ------------------------------------------------------------------------------


def _read_request(buffer):
    """Read one request from stdin: ``<length>\\n<NUL-separated fields>``; None at EOF."""
    while True:
        head, sep, rest = buffer.partition(b"\n")
        if sep:
            size = int(head)
            if len(rest) >= size:
                fields = [os.fsdecode(f) for f in rest[:size].split(b"\0")]
                return fields, rest[size:]
        chunk = os.read(0, 65536)
        if not chunk:
            return None, b""
        buffer += chunk


def _say(text):
    data = (text + "\n").encode("utf-8", "replace")
    while data:
        data = data[os.write(1, data) :]


def zygote_main(helper):
    """Serve requests until stdin closes (see the module docstring)."""
    buffer = b""
    while True:
        fields, buffer = _read_request(buffer)
        if fields is None:
            return
        try:
            pid = _fork_probe(helper, Request(fields))
        except SystemExit:
            raise  # only ever in the child
        except OSError as exc:  # fork refused (EAGAIN under a pids limit), ...
            _say("error fork: %s" % (exc,))
            continue
        _say("forked %d" % pid)
        _, status = os.waitpid(pid, 0)
        _say("reaped %d %d" % (pid, status))


def load_helper(helper_dir):
    sys.path.insert(0, helper_dir)
    try:
        import _subinterp_probe  # type: ignore[import-not-found]  # built by auditor/probing/helper.py
    finally:
        del sys.path[0]
    return _subinterp_probe


def main(argv):
    script_dir = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == script_dir:
        del sys.path[0]  # the helper directory must not shadow audited modules
    # The state every probe starts from, in both modes: faulthandler on, the helper loaded,
    # argv without the tool's arguments.
    import faulthandler

    faulthandler.enable(all_threads=True)
    mode, rest = argv[0], argv[1:]
    if mode == "--zygote":
        helper = load_helper(rest[0])
        sys.argv[:] = [sys.argv[0]]
        zygote_main(helper)
        return
    if mode != "--child":
        raise SystemExit("usage: worker.py --zygote HELPER_DIR | --child FIELD...")
    request = Request(rest)
    helper = load_helper(os.path.dirname(os.path.abspath(__file__)))
    sys.argv[:] = [sys.argv[0]]
    owner = os.getpid()
    try:
        run_probe(helper, request, _Reporter(RESULT_FD, owner))
    except SystemExit:
        raise
    except BaseException:
        _tool_failure(owner)
    # Returning lets the interpreter finalize normally: a crash at exit is evidence.


if __name__ == "__main__":
    main(sys.argv[1:])
