"""Independent oracle for the depth probes: reuse, concurrent and cycles with CPython's own API.

Run by the *target* interpreter (3.12+, stdlib only, no auditor code):

    python bench/depth_oracle.py [--path DIR] [--kind own_gil|isolated|legacy]
                                 [--rounds 2 --threads 4 --cycles 30] [--timeout 60]
                                 [--probes reuse,concurrent,cycles] [--smoke CODE]
                                 [--json OUT] MODULE...

For every module x probe it runs one fresh child process (``depth_oracle.py --child``) with a
deadline, and prints one JSON object per line (``--json OUT`` also writes them all to OUT as a
JSON array):

    {"module", "probe": "reuse" | "concurrent" | "cycles", "kind", "python",
     "outcome":   "ok" | "import_error" | "error" | "crash" | "timeout",
     "step":      where it failed (null when ok): "A:create", "A:import", "A:use", "A:end",
                  "B:...", "main:import", "main:use", "C:...", "main again:use", "round 2",
                  "control cycle 5", "cycle 7", "exit",
     "where":     concurrent: which interpreter (1-based, one per thread) and phase failed
                  first, e.g. "interpreter 3: import"; cycles: the phase,
     "exception": type name of the first failure (ImportError subclasses give "import_error",
                  decided with isinstance in the interpreter that raised them),
     "message":   str() of that exception,
     "signal", "exit_code": how the child ended (signal name, e.g. "SIGSEGV"),
     "stderr_tail": last bytes of the child's stderr (crash/timeout only),
     cycles only: "heap_growth_per_cycle", "control_growth_per_cycle" (bytes of C heap per cycle,
                  glibc mallinfo2 uordblks + hblkhd), "rss_growth_per_cycle",
                  "control_rss_growth_per_cycle" (bytes), "leak" (heap growth over the control
                  > 256 KiB per cycle), "cycles_done"}

A sequence stops at its first failure (that failure is the record's outcome); the child then
exits normally. A crash or a deadline during a step names that step; one at the very end is
step "exit".

The probes, as subinterp-audit's depth probes define them ("use" = ``dir(m)``, ``repr()`` of up
to 8 public attributes (sorted ``dir``, names not starting with ``_``), ``gc.collect()``, then
the ``--smoke`` code with the module bound to ``m``; each step is one exec in the interpreter):

- ``reuse``: interpreter A imports and uses the module, A ends; interpreter B does the same;
  then main imports and uses it; then interpreter C does the same while main holds the module,
  and main uses it again; then a normal process exit.
- ``concurrent``: ``--threads`` K ``threading.Thread`` each create an interpreter, wait at a
  ``threading.Barrier``, import and use the module, wait at the barrier again and destroy their
  interpreter (InterpreterPoolExecutor's pattern); then this thread creates K interpreters, K
  threads use them at once, and this thread destroys them (``create()`` / ``exec`` /
  ``close()``); ``--rounds`` R such pairs of rounds, one after the other.
- ``cycles``: first a control (``--cycles`` N x create / exec ``pass`` / destroy), then N x
  create / import / use / destroy, measuring the C heap and RSS after each cycle. Growth per
  cycle = (value after the last cycle - value after the first) / (N - 1).

Interpreter kinds (the tool's names):

- ``own_gil``: ``_interpreters.new_config('isolated')`` (3.13+), ``_xxsubinterpreters.create(
  isolated=True)`` (3.12): own GIL, own obmalloc, check_multi_interp_extensions.
- ``isolated``: the same with a shared GIL: ``new_config('isolated', gil='shared')`` (3.13+).
  3.12's Python API cannot create it, so on 3.12 each interpreter is one
  ``_testcapi.run_in_subinterp_with_config`` call (create, run, end at once) whose script does
  all of its steps and reports them itself; its barriers are pipes inside the script.
- ``legacy``: ``new_config('legacy')`` (3.13+), ``_xxsubinterpreters.create(isolated=False)``.

Exit status: 0 once the arguments are valid (whatever the modules did), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gc
import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

PROBES = ("reuse", "concurrent", "cycles")
KINDS = ("own_gil", "isolated", "legacy")
LEAK_THRESHOLD = 256 * 1024  # bytes of C heap per cycle over the control
_STDERR_TAIL = 600
_MESSAGE_MAX = 2000
_MODULE_NAME = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")


# --------------------------------------------------------------------------------------------------
# Code run inside the interpreters.


def _use_code(module: str, smoke: str) -> str:
    """The "use" step: the module is already imported in this interpreter."""
    code = (
        "import gc, sys\n"
        f"m = sys.modules[{module!r}]\n"
        "_names = [n for n in sorted(dir(m)) if not n.startswith('_')][:8]\n"
        "for _n in _names:\n"
        "    repr(getattr(m, _n))\n"
        "gc.collect()\n"
    )
    if smoke:
        code += smoke.rstrip("\n") + "\n"
    return code


def _import_code(path: str | None, module: str) -> str:
    code = "import sys\n"
    if path is not None:
        code += f"sys.path.insert(0, {path!r})\n"
    return code + f"__import__({module!r})\n"


def _reporting(body: str, fd: int) -> str:
    """Wrap `body` so that it reports (outcome, exception, message) on `fd` as a repr() line.

    Whether a failure is an ImportError is decided by isinstance where it was raised: a module's
    own ImportError subclass is one, and its name alone cannot tell.
    """
    indented = "".join(f"    {line}\n" for line in body.splitlines()) or "    pass\n"
    return (
        "try:\n"
        f"{indented}"
        "except BaseException as _exc:\n"
        "    try:\n"
        "        _msg = str(_exc)\n"
        "    except BaseException:\n"
        "        _msg = '<str() failed>'\n"
        "    _rec = ('import_error' if isinstance(_exc, ImportError) else 'error',\n"
        f"            type(_exc).__qualname__, _msg[:{_MESSAGE_MAX}])\n"
        "else:\n"
        "    _rec = ('ok', None, None)\n"
        "import os as _os\n"
        # A module may fork() (forks_on_import): its copy must neither report nor read.
        f"if _os.getpid() != {os.getpid()}:\n"
        "    _os._exit(0)\n"
        f"_os.write({fd}, (repr(_rec) + '\\n').encode())\n"
    )


# --------------------------------------------------------------------------------------------------
# Child side: one sacrificial process per (module, probe).


class _Reporter:
    """Progress records to the parent: 'begin' before each step, 'fail' on the first failure."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pid = os.getpid()
        self.lock = threading.Lock()

    def emit(self, ev: str, **fields: object) -> None:
        if os.getpid() != self.pid:  # a forked copy of this process must stay silent
            os._exit(0)
        data = (json.dumps({"ev": ev, **fields}) + "\n").encode()
        with self.lock:
            os.write(self.fd, data)

    def begin(self, step: str) -> None:
        self.emit("begin", step=step)


def _read_result(fd: int) -> tuple | None:
    """The (outcome, exception, message) line a _reporting script wrote (None if it did not)."""
    os.set_blocking(fd, False)
    data = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            data += chunk
    lines = data.decode("utf-8", "replace").splitlines()
    return ast.literal_eval(lines[-1]) if lines else None


# 3.12 _xxsubinterpreters.RunFailedError text: "<class 'pkg.Name'>: message".
_RUN_FAILED = re.compile(r"^<class '(?:[\w.]+\.)?(?P<name>\w+)'>(?:: (?P<msg>.*))?$", re.S)


class _Interp:
    """One subinterpreter of a kind: create(), run(code) -> (outcome, exc, msg), end().

    3.13+: _interpreters; 3.12: _xxsubinterpreters (own_gil, legacy).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.id: Any = None  # the interpreter's ID once created
        self.api: Any
        if sys.version_info >= (3, 13):
            import _interpreters  # type: ignore[import-not-found]

            self.api = _interpreters
        else:
            import _xxsubinterpreters  # type: ignore[import-not-found]

            self.api = _xxsubinterpreters

    def create(self) -> None:
        if sys.version_info >= (3, 13):
            if self.kind == "legacy":
                config = self.api.new_config("legacy")
            elif self.kind == "isolated":
                config = self.api.new_config("isolated", gil="shared")
            else:
                config = self.api.new_config("isolated", gil="own")
            self.id = self.api.create(config)
        else:
            self.id = self.api.create(isolated=self.kind == "own_gil")

    def run(self, body: str) -> tuple:
        read_fd, write_fd = os.pipe()
        failure = None
        try:
            script = _reporting(body, write_fd)
            try:
                if sys.version_info >= (3, 13):
                    excinfo = self.api.exec(self.id, script)
                    if excinfo is not None:  # the reporting wrapper itself failed
                        failure = ("error", excinfo.type.__name__, str(excinfo.msg))
                else:
                    self.api.run_string(self.id, script)
            except Exception as exc:
                match = _RUN_FAILED.match(str(exc)) if sys.version_info < (3, 13) else None
                if match is not None:  # 3.12 RunFailedError: "<class 'X'>: message"
                    failure = ("error", match["name"], match["msg"] or "")
                else:
                    failure = ("error", type(exc).__qualname__, str(exc))
            result = _read_result(read_fd)
        finally:
            os.close(read_fd)
            os.close(write_fd)
        return result or failure or ("error", None, "the script reported nothing")

    def end(self) -> None:
        if self.id is not None:
            self.api.destroy(self.id)
            self.id = None


def _use_312_testcapi() -> bool:
    return sys.version_info < (3, 13)


class _PipeBarrier:
    """A barrier that scripts in 3.12 run_in_subinterp_with_config interpreters can wait at:
    each writes one byte to `ready`, then reads one byte from `go`; a thread of the child
    releases everyone once `parties` bytes have arrived."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.ready_r, self.ready_w = os.pipe()
        self.go_r, self.go_w = os.pipe()
        self.thread = threading.Thread(target=self._release, daemon=True)
        self.thread.start()

    def _release(self) -> None:
        got = 0
        while got < self.parties:
            chunk = os.read(self.ready_r, self.parties - got)
            if not chunk:
                return
            got += len(chunk)
        os.write(self.go_w, b"g" * self.parties)

    def code(self) -> str:
        return f"import os as _o\n_o.write({self.ready_w}, b'r')\n_o.read({self.go_r}, 1)\n"

    def close(self) -> None:
        self.thread.join()
        for fd in (self.ready_r, self.ready_w, self.go_r, self.go_w):
            os.close(fd)


def _indent(code: str) -> str:
    return "".join(f"    {line}\n" for line in code.splitlines())


def _begin_code(rep: _Reporter | None, step: str) -> str:
    """Script lines announcing `step` to the parent (3.12 isolated: the script runs alone)."""
    if rep is None:
        return ""
    line = (json.dumps({"ev": "begin", "step": step}) + "\n").encode()
    return f"import os as _o\n_o.write({rep.fd}, {line!r})\n"


def _run_312_isolated(
    steps: list[tuple[str, str]],
    rep: _Reporter | None = None,
    prefix: str = "",
    start: _PipeBarrier | None = None,
    end: _PipeBarrier | None = None,
) -> tuple[str, tuple]:
    """3.12, isolated kind: one run_in_subinterp_with_config call creates the interpreter, runs
    every step of `steps` ((name, code) pairs, each only if the previous one succeeded) and
    ends it.

    Each step reports its result on a pipe; with `rep`, the script also announces each step to
    the parent itself, so that a crash names its step. `start` and `end` are barriers waited at
    before the first step and before the end. Returns ("", ok) or (failed step, result).
    """
    import _testcapi  # type: ignore[import-not-found]

    read_fd, write_fd = os.pipe()
    script = ""
    for name, body in reversed(steps):  # innermost last step first
        inner = _begin_code(rep, prefix + name) + _reporting(body, write_fd)
        if script:
            inner += "if _rec[0] == 'ok':\n" + _indent(script)
        script = inner
    if start is not None:
        script = start.code() + script
    if end is not None:
        script += end.code()
    script += _begin_code(rep, prefix + "end")
    try:
        rc = _testcapi.run_in_subinterp_with_config(
            script,
            use_main_obmalloc=False,
            allow_fork=False,
            allow_exec=False,
            allow_threads=True,
            allow_daemon_threads=False,
            check_multi_interp_extensions=True,
            gil=1,  # PyInterpreterConfig_SHARED_GIL
        )
        os.set_blocking(read_fd, False)
        data = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(read_fd, 65536):
                data += chunk
    finally:
        os.close(read_fd)
        os.close(write_fd)
    results = [ast.literal_eval(line) for line in data.decode("utf-8", "replace").splitlines()]
    for (name, _), result in zip(steps, results, strict=False):  # results stop at a failure
        if result[0] != "ok":
            return name, result
    if len(results) < len(steps) or rc != 0:
        return "create", ("error", None, f"run_in_subinterp_with_config returned {rc}")
    return "", ("ok", None, None)


def _in_main(body: str) -> tuple:
    try:
        exec(body, {"__name__": "__depth_oracle_main__"})
    except BaseException as exc:
        return (
            "import_error" if isinstance(exc, ImportError) else "error",
            type(exc).__qualname__,
            str(exc)[:_MESSAGE_MAX],
        )
    return ("ok", None, None)


def _fail(rep: _Reporter, step: str, result: tuple, **extra: object) -> None:
    outcome, exception, message = result
    rep.emit("fail", step=step, outcome=outcome, exception=exception, message=message, **extra)


def _sub_sequence(rep: _Reporter, tag: str, args: argparse.Namespace, use: str) -> bool:
    """One interpreter: create, import, use, end, each step announced. False on a failure."""
    module = args.modules[0]
    if args.kind == "isolated" and _use_312_testcapi():
        rep.begin(f"{tag}:create")
        steps = [("import", _import_code(args.path, module)), ("use", use)]
        step, result = _run_312_isolated(steps, rep, f"{tag}:")
        if result[0] != "ok":
            _fail(rep, f"{tag}:{step}", result)
            return False
        return True
    interp = _Interp(args.kind)
    rep.begin(f"{tag}:create")
    try:
        interp.create()
    except Exception as exc:  # a config CPython rejects
        _fail(rep, f"{tag}:create", ("error", type(exc).__qualname__, str(exc)))
        return False
    ok = True
    for name, body in (("import", _import_code(args.path, module)), ("use", use)):
        rep.begin(f"{tag}:{name}")
        result = interp.run(body)
        if result[0] != "ok":
            _fail(rep, f"{tag}:{name}", result)
            ok = False
            break
    rep.begin(f"{tag}:end")
    interp.end()
    return ok


def child_reuse(rep: _Reporter, args: argparse.Namespace) -> None:
    module = args.modules[0]
    use = _use_code(module, args.smoke)
    for tag in ("A", "B"):
        if not _sub_sequence(rep, tag, args, use):
            return
    if args.path is not None:
        sys.path.insert(0, args.path)
    rep.begin("main:import")
    result = _in_main(f"__import__({module!r})")
    if result[0] != "ok":
        _fail(rep, "main:import", result)
        return
    rep.begin("main:use")
    result = _in_main(use)
    if result[0] != "ok":
        _fail(rep, "main:use", result)
        return
    # One more interpreter while main holds the module, then main uses it again (what a C
    # global that each exec replaces does to main).
    if not _sub_sequence(rep, "C", args, use):
        return
    rep.begin("main again:use")
    result = _in_main(use)
    if result[0] != "ok":
        _fail(rep, "main again:use", result)


def _concurrent_round(args: argparse.Namespace, use: str) -> list[tuple[int, str, tuple]]:
    """One round: K threads, each with its own interpreter. Returns the failures."""
    module = args.modules[0]
    k = args.threads
    failures: list[tuple[int, str, tuple]] = []
    lock = threading.Lock()

    def record(i: int, phase: str, result: tuple) -> None:
        with lock:
            failures.append((i, phase, result))

    if args.kind == "isolated" and _use_312_testcapi():
        # Both barriers are pipes the scripts wait at (see _PipeBarrier).
        start = _PipeBarrier(k)
        end = _PipeBarrier(k)

        def worker_312(i: int) -> None:
            steps = [("import", _import_code(args.path, module)), ("use", use)]
            try:
                step, result = _run_312_isolated(steps, start=start, end=end)
            except Exception as exc:
                step, result = "create", ("error", type(exc).__qualname__, str(exc))
            if result[0] != "ok":
                record(i, step, result)

        threads = [threading.Thread(target=worker_312, args=(i,)) for i in range(k)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        start.close()
        end.close()
        return failures

    barrier = threading.Barrier(k)

    def worker(i: int) -> None:
        interp = _Interp(args.kind)
        try:
            interp.create()
        except Exception as exc:
            record(i, "create", ("error", type(exc).__qualname__, str(exc)))
        try:
            barrier.wait()
            if interp.id is not None:
                for phase, body in (("import", _import_code(args.path, module)), ("use", use)):
                    result = interp.run(body)
                    if result[0] != "ok":
                        record(i, phase, result)
                        break
            barrier.wait()
        finally:
            interp.end()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures


def _handed_over_round(args: argparse.Namespace, use: str) -> list[tuple[int, str, tuple]]:
    """One round as concurrent.interpreters' users write it: this thread creates K
    interpreters, K threads use them at once (exec), this thread destroys them."""
    module = args.modules[0]
    failures: list[tuple[int, str, tuple]] = []
    lock = threading.Lock()
    interps = [_Interp(args.kind) for _ in range(args.threads)]
    for i, interp in enumerate(interps):
        try:
            interp.create()
        except Exception as exc:
            failures.append((i, "create", ("error", type(exc).__qualname__, str(exc))))
    barrier = threading.Barrier(args.threads)

    def worker(i: int) -> None:
        barrier.wait()
        if interps[i].id is None:
            return
        for phase, body in (("import", _import_code(args.path, module)), ("use", use)):
            result = interps[i].run(body)
            if result[0] != "ok":
                with lock:
                    failures.append((i, phase, result))
                break

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for interp in interps:
        interp.end()
    return failures


def child_concurrent(rep: _Reporter, args: argparse.Namespace) -> None:
    """Each round: the pool pattern, then the handed-over pattern (3.12's isolated kind
    has no Python API for the second: there, the first only)."""
    use = _use_code(args.modules[0], args.smoke)
    patterns = [("round %d", _concurrent_round)]
    if not (args.kind == "isolated" and _use_312_testcapi()):
        patterns.append(("round %d handed over", _handed_over_round))
    for r in range(1, args.rounds + 1):
        for label_format, run_round in patterns:
            label = label_format % r
            rep.begin(label)
            failures = run_round(args, use)
            if failures:
                failures.sort(key=lambda f: f[0])
                i, phase, result = failures[0]
                where = f"interpreter {i + 1}: {phase}"
                if len(failures) > 1:
                    where += f" (and {len(failures) - 1} more of {args.threads})"
                _fail(rep, label, result, where=where)
                return


def _mallinfo() -> Callable[[], int] | None:
    """A function returning the C heap in use (uordblks + hblkhd), or None without glibc."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    for name, field in (("mallinfo2", ctypes.c_size_t), ("mallinfo", ctypes.c_int)):
        func = getattr(libc, name, None)
        if func is None:
            continue

        class Info(ctypes.Structure):
            _fields_ = [
                (f, field)
                for f in (
                    "arena", "ordblks", "smblks", "hblks", "hblkhd",
                    "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
                )
            ]  # fmt: skip

        func.restype = Info
        func.argtypes = []

        def heap(func: Any = func) -> int:
            info = func()
            # mallinfo's int fields wrap above 2 GiB; good enough for growth per cycle.
            return (info.uordblks + info.hblkhd) & ((1 << 64) - 1)

        return heap
    return None


def _rss() -> int:
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child_cycles(rep: _Reporter, args: argparse.Namespace) -> None:
    module = args.modules[0]
    use = _use_code(module, args.smoke)
    heap = _mallinfo()
    n = args.cycles
    series: dict[str, tuple[list, list]] = {}
    for label, steps in (
        ("control cycle", (("import", "pass"),)),
        ("cycle", (("import", _import_code(args.path, module)), ("use", use))),
    ):
        heaps: list[int] = []
        rsss: list[int] = []
        for c in range(1, n + 1):
            rep.begin(f"{label} {c}")
            if args.kind == "isolated" and _use_312_testcapi():
                step, result = _run_312_isolated(list(steps))
                if result[0] != "ok":
                    _fail(rep, f"{label} {c}", result, where=step, cycles_done=c - 1)
                    return
            else:
                interp = _Interp(args.kind)
                try:
                    interp.create()
                except Exception as exc:
                    _fail(rep, f"{label} {c}", ("error", type(exc).__qualname__, str(exc)),
                          where="create", cycles_done=c - 1)  # fmt: skip
                    return
                try:
                    for phase, body in steps:
                        result = interp.run(body)
                        if result[0] != "ok":
                            _fail(rep, f"{label} {c}", result, where=phase, cycles_done=c - 1)
                            return
                finally:
                    interp.end()
            gc.collect()
            heaps.append(heap() if heap is not None else 0)
            rsss.append(_rss())
        series[label] = (heaps, rsss)

    def per_cycle(values: list[int]) -> int:
        return round((values[-1] - values[0]) / (len(values) - 1)) if len(values) > 1 else 0

    fields = {
        "heap_growth_per_cycle": per_cycle(series["cycle"][0]) if heap else None,
        "control_growth_per_cycle": per_cycle(series["control cycle"][0]) if heap else None,
        "rss_growth_per_cycle": per_cycle(series["cycle"][1]),
        "control_rss_growth_per_cycle": per_cycle(series["control cycle"][1]),
        "cycles_done": n,
    }
    rep.emit("measure", **fields)


def child_main(args: argparse.Namespace) -> None:
    rep = _Reporter(args.fd)
    {"reuse": child_reuse, "concurrent": child_concurrent, "cycles": child_cycles}[args.probe](
        rep, args
    )
    rep.begin("exit")


# --------------------------------------------------------------------------------------------------
# Parent side: one child per (module, probe), deadline, exit status, record assembly.


def _signal_name(returncode: int | None) -> str | None:
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def run_probe(args: argparse.Namespace, module: str, probe: str) -> dict:
    read_fd, write_fd = os.pipe()
    cmd = [
        sys.executable, "-P", os.path.abspath(__file__), "--child",
        "--probe", probe, "--kind", args.kind, "--fd", str(write_fd),
        "--rounds", str(args.rounds), "--threads", str(args.threads),
        "--cycles", str(args.cycles), "--smoke", args.smoke,
    ]  # fmt: skip
    if args.path is not None:
        cmd += ["--path", args.path]
    cmd.append(module)
    chunks: list[bytes] = []

    def drain() -> None:  # keep the pipe from filling up while the child runs
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)

    started = time.monotonic()
    with tempfile.TemporaryFile() as stderr_file:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file,
            pass_fds=(write_fd,),
            start_new_session=True,  # own process group: kill forked leftovers too
        )
        os.close(write_fd)
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(5)
        os.close(read_fd)
        stderr_file.seek(0)
        stderr = stderr_file.read()
    elapsed = time.monotonic() - started

    events = []
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    last_step = next((e["step"] for e in reversed(events) if e["ev"] == "begin"), None)
    fail = next((e for e in events if e["ev"] == "fail"), None)
    measure = next((e for e in events if e["ev"] == "measure"), None)
    rc = proc.returncode
    record: dict = {
        "module": module,
        "probe": probe,
        "kind": args.kind,
        "python": "{}.{}.{}".format(*sys.version_info[:3])
        + ("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""),
        "outcome": "ok",
        "step": None,
        "exception": None,
        "message": None,
        "signal": None if timed_out else _signal_name(rc),
        "exit_code": None if timed_out or rc is None or rc < 0 else rc,
        "elapsed": round(elapsed, 2),
    }
    if probe == "concurrent":
        record["where"] = None
    if probe == "cycles":
        record.update(
            heap_growth_per_cycle=None, control_growth_per_cycle=None,
            rss_growth_per_cycle=None, control_rss_growth_per_cycle=None,
            leak=None, cycles_done=None,
        )  # fmt: skip
    if fail is not None:
        record.update({k: v for k, v in fail.items() if k != "ev"})
    elif timed_out or rc != 0:
        record["outcome"] = "timeout" if timed_out else "crash"
        record["step"] = last_step or "start"
        if not timed_out and rc > 0:
            record["message"] = f"exit status {rc}"
    if timed_out or rc != 0:
        record["stderr_tail"] = stderr[-_STDERR_TAIL:].decode("utf-8", "replace")
    if measure is not None:
        record.update({k: v for k, v in measure.items() if k != "ev"})
        heap, control = record["heap_growth_per_cycle"], record["control_growth_per_cycle"]
        if heap is not None and control is not None:
            record["leak"] = heap - control > LEAK_THRESHOLD
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="See the module docstring for the record format.",
    )
    parser.add_argument("--path", help="directory prepended to sys.path in every interpreter")
    parser.add_argument("--kind", choices=KINDS, default="own_gil")
    parser.add_argument("--probes", default=",".join(PROBES), help="comma-separated subset")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per sequence")
    parser.add_argument("--smoke", default="", help="code run after 'use', module bound to m")
    parser.add_argument("--json", metavar="OUT", help="also write all records to OUT")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--probe", choices=PROBES, help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("modules", nargs="+", metavar="MODULE")
    args = parser.parse_args(argv)

    if tuple(sys.version_info) < (3, 12):
        parser.error("needs CPython 3.12 or later (per-interpreter GIL)")
    for module in args.modules:
        if not _MODULE_NAME.match(module):
            parser.error(f"not a dotted module name: {module!r}")
    probes = args.probes.split(",")
    if not set(probes) <= set(PROBES):
        parser.error(f"--probes: choose from {', '.join(PROBES)}")
    if args.rounds < 1 or args.threads < 1 or args.cycles < 2:
        parser.error("--rounds and --threads must be >= 1, --cycles >= 2")
    if args.smoke:
        try:
            compile(args.smoke, "<smoke>", "exec")
        except SyntaxError as exc:
            parser.error(f"--smoke: {exc}")
    if args.path is not None:
        args.path = os.path.abspath(args.path)
    if args.child:
        child_main(args)
        return 0

    records = []
    for module in args.modules:
        for probe in probes:
            record = run_probe(args, module, probe)
            records.append(record)
            print(json.dumps(record), flush=True)
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(records, stream, indent=1)
            stream.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
