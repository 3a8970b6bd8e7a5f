"""Run the probes: J worker processes of the target, each forking one child per probe.

The CLI process never imports anything of the audited environment.  It talks to workers
(auditor/_target/worker.py, run by the target interpreter) over pipes, one JSON line per
request and per result, and turns the results into ProbeResult objects.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

from auditor.configs import SUBINTERPRETER_PROBES
from auditor.errors import WorkerError
from auditor.model import (
    GIL,
    MULTIPLE_INTERPRETERS,
    ExtensionModule,
    ImportAttempt,
    InitInfo,
    Interpreter,
    Outcome,
    ProbeResult,
)
from auditor.native import Helper


@dataclass(frozen=True)
class _Task:
    module: ExtensionModule
    probe: str
    after: tuple[str, ...] = ()  # with probe "main": after-main probes forked from its child

    @property
    def probes(self) -> tuple[str, ...]:
        return (self.probe, *self.after)


class WorkerProcess:
    """One long-lived worker: a target interpreter running worker.py."""

    def __init__(self, interp: Interpreter, helper: Helper) -> None:
        self._command = [interp.executable, str(helper.worker), str(helper.directory)]
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None

    def _start(self) -> subprocess.Popen[str]:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        proc = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if not first.startswith('{"ready"'):
            raise WorkerError(f"the probe worker did not start: {self._stderr_tail(proc)}")
        self._proc = proc
        return proc

    def _stderr_tail(self, proc: subprocess.Popen[str]) -> str:
        proc.kill()
        proc.wait()
        if self._stderr is None:
            return "no output"
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {proc.returncode}"

    def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        proc = self._proc or self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(payload) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            self._proc = None
            raise WorkerError(f"the probe worker died: {self._stderr_tail(proc)}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def terminate(self) -> None:
        """End the worker and the probe it is running (Ctrl-C)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._stderr is not None:
            self._stderr.close()


def _attempt(data: dict[str, Any] | None) -> ImportAttempt | None:
    if data is None:
        return None
    return ImportAttempt(
        Outcome(data["outcome"]), data.get("exception"), data.get("message"), data.get("cause")
    )


def result_from_reply(reply: dict[str, Any]) -> ProbeResult:
    """A worker's JSON reply -> ProbeResult (the reply format is worker.py's _reply)."""
    imported = reply.get("import_outcome")
    return ProbeResult(
        probe=reply["probe"],
        outcome=Outcome(reply["outcome"]),
        exception=reply.get("exception"),
        message=reply.get("message"),
        cause=reply.get("cause"),
        signal=reply.get("signal"),
        exit_code=reply.get("exit_code"),
        stage=reply.get("stage"),
        stderr_tail=reply.get("stderr_tail") or "",
        stdout_bytes=reply.get("stdout_bytes") or 0,
        seconds=reply.get("seconds") or 0.0,
        main_after=_attempt(reply.get("main_after")),
        import_outcome=Outcome(imported) if imported else None,
        fresh_exec=bool(reply.get("fresh_exec")),
    )


def init_from_reply(reply: dict[str, Any] | None) -> InitInfo:
    """The `init` probe's findings -> InitInfo (unknown when the probe could not read them)."""
    data = (reply or {}).get("init")
    if not data:
        return InitInfo(style="unknown")
    multi, gil = data.get("multiple_interpreters"), data.get("gil")
    return InitInfo(
        style=data.get("style", "unknown"),
        export=data.get("export"),
        multiple_interpreters=MULTIPLE_INTERPRETERS.get(multi, str(multi))
        if multi is not None
        else None,
        gil=GIL.get(gil, str(gil)) if gil is not None else None,
        m_size=data.get("m_size"),
        slots=tuple(data.get("slots", ())),
    )


@dataclass
class ProbeRun:
    """What the scheduler collected for one module."""

    replies: dict[str, dict[str, Any]]
    failure: str | None = None  # the tool itself failed on this module


ISOLATION_MODES = ("shared", "strict")


def run_probes(
    interp: Interpreter,
    helper: Helper,
    modules: Iterable[ExtensionModule],
    probes: tuple[str, ...],
    *,
    jobs: int,
    timeout: float,
    isolation: str = "shared",
    on_progress: Callable[[int, int, str], None] = lambda done, total, name: None,
) -> dict[str, ProbeRun]:
    """Probe every module; returns module name -> its worker replies.

    `init` and `main` run first; the other probes of a module are queued only once its `main`
    probe imported it (nothing else can be judged of a module that main cannot import).
    Biggest files first, so that a long import does not end the scan alone.

    isolation "shared" (the default): each probe runs in a child forked from a worker, and the
    after-main probes are forked from the child that did the `main` import, so that import
    happens once.  "strict": every probe in a freshly started interpreter, nothing shared
    (the reference the shared mode is tested against).
    """
    if isolation not in ISOLATION_MODES:
        raise ValueError(f"unknown isolation mode {isolation!r}")
    strict = isolation == "strict"
    modules = sorted(modules, key=lambda m: (-_size(m.path), m.name))
    extra_roots = {m.root for m in modules} - set(interp.sys_path)
    after_main = tuple(p for p in probes if p.endswith("_after_main"))
    later = tuple(
        p for p in probes if p in SUBINTERPRETER_PROBES and (strict or p not in after_main)
    )
    runs = {m.name: ProbeRun({}) for m in modules}
    total = [len(modules) * len(probes)]
    done = [0]
    lock = threading.Lock()
    tasks: queue.PriorityQueue[tuple[int, int, _Task | None]] = queue.PriorityQueue()
    sequence = itertools.count()
    outstanding = [0]

    def put(task: _Task, priority: int) -> None:
        outstanding[0] += 1
        tasks.put((priority, next(sequence), task))

    with lock:
        for rank, module in enumerate(modules):
            if "init" in probes:
                put(_Task(module, "init"), rank)
            if "main" in probes:
                put(_Task(module, "main", () if strict else after_main), rank)

    def finish(task: _Task, replies: list[dict[str, Any]], failure: str | None) -> None:
        run = runs[task.module.name]
        with lock:
            for reply in replies:
                run.replies[reply["probe"]] = reply
            if failure is not None and run.failure is None:
                run.failure = failure
            done[0] += len(task.probes)  # a probe that did not report counts as not run
            if task.probe == "main":
                main = run.replies.get("main")
                if main is not None and main.get("outcome") == "ok" and not failure:
                    for probe in later:
                        put(_Task(task.module, probe), -1)  # finish started modules first
                else:
                    total[0] -= len(later)
            outstanding[0] -= 1
            if outstanding[0] == 0:
                for _ in range(jobs):
                    tasks.put((1 << 30, next(sequence), None))
            counts = (done[0], total[0])
        on_progress(counts[0], counts[1], task.module.name)

    workers: list[WorkerProcess] = []

    def serve() -> None:
        worker = WorkerProcess(interp, helper)
        workers.append(worker)
        try:
            while True:
                _, _, task = tasks.get()
                if task is None:
                    return
                module = task.module
                request = {
                    "module": module.name,
                    "path": module.path,
                    "init_name": module.init_suffix,
                    "probe": task.probe,
                    "after": list(task.after),
                    "exec": strict,
                    "timeout": timeout,
                    "paths": [module.root] if module.root in extra_roots else [],
                }
                try:
                    reply = worker.request(request)
                    replies = reply["replies"] if task.after else [reply]
                except (WorkerError, ValueError, KeyError) as exc:
                    finish(task, [], f"probe {task.probe}: {exc}")
                else:
                    finish(task, replies, None)
        finally:
            worker.close()

    if not modules:
        return runs
    threads = [threading.Thread(target=serve, daemon=True) for _ in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        # The workers ignore SIGINT; SIGTERM makes each end the probe under way and exit.
        for worker in workers:
            worker.terminate()
        raise
    return runs


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
