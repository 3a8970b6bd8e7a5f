"""Schedule the probes over J zygotes of the target, and turn their replies into results.

The CLI process never imports anything of the audited environment.  Each job thread owns a
zygote (auditor/probing/supervisor.py, which runs auditor/_target/worker.py in the target), hands it
one task at a time, and records what came back; every failure of the tool becomes that
task's ``tool_failure`` result, so no thread and no module is ever lost.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.model import (
    GIL,
    MULTIPLE_INTERPRETERS,
    Deadlock,
    ExitCheck,
    ExtensionModule,
    HeapFigures,
    ImportAttempt,
    InitInfo,
    Interpreter,
    Outcome,
    ProbeResult,
    slot_ids,
)
from auditor.probe_plan import DEPTH_PROBES, SUBINTERPRETER_PROBES, DepthSettings
from auditor.probing.helper import Helper
from auditor.probing.supervisor import Spec, ToolFailure, Zygote


@dataclass(frozen=True)
class _Task:
    module: ExtensionModule
    probe: str
    after: tuple[str, ...] = ()  # with probe "main": after-main probes forked from its child

    @property
    def probes(self) -> tuple[str, ...]:
        return (self.probe, *self.after)


def zygote_command(interp: Interpreter, helper: Helper) -> list[str]:
    """How the target runs the zygote.  ``-P`` (3.11+): no script directory on sys.path,
    so that subinterpreters, which copy it since 3.12.1, do not see the tool's files."""
    flags = ["-P"] if interp.short_version >= (3, 11) else []
    return [interp.executable, *flags, str(helper.worker), "--zygote", str(helper.directory)]


def _attempt(data: dict[str, Any] | None) -> ImportAttempt | None:
    if data is None:
        return None
    return ImportAttempt(
        Outcome(data["outcome"]),
        data.get("exception"),
        data.get("message"),
        data.get("cause"),
        tuple(data.get("importers") or ()),
    )


def _exit_check(data: dict[str, Any] | None) -> ExitCheck | None:
    if data is None:
        return None
    return ExitCheck(
        Outcome(data["outcome"]), data.get("signal"), data.get("exit_code"), data.get("message")
    )


def result_from_reply(reply: dict[str, Any]) -> ProbeResult:
    """A reply (auditor/probing/supervisor.py's _reply) -> ProbeResult."""
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
        exit_after_sub=_exit_check(reply.get("exit_after_sub")),
        gil_enabled=reply.get("gil_enabled"),
        step=reply.get("step"),
        kind=reply.get("kind"),
        heap=_heap(reply.get("heap")),
        runs=reply.get("runs") or 1,
        failed_runs=reply.get("failed_runs") or 0,
        deadlock=Deadlock(**reply["deadlock"]) if reply.get("deadlock") else None,
        importers=tuple(reply.get("importers") or ()),
    )


def _heap(data: dict[str, Any] | None) -> HeapFigures | None:
    if not data:
        return None
    return HeapFigures(
        cycles=int(data.get("cycles") or 0),
        heap_growth_per_cycle=data.get("heap_growth_per_cycle"),
        control_heap_growth_per_cycle=data.get("control_heap_growth_per_cycle"),
        rss_growth_per_cycle=data.get("rss_growth_per_cycle"),
        control_rss_growth_per_cycle=data.get("control_rss_growth_per_cycle"),
    )


def init_from_reply(reply: dict[str, Any] | None, version: tuple[int, int]) -> InitInfo:
    """The `init` probe's raw findings -> InitInfo, through the slot table of `version`.

    An init function that raised has run module code in PyInit itself, which a multi-phase
    init (it only returns its PyModuleDef) never does: single-phase, inferred.
    """
    if reply is not None and reply.get("outcome") in ("import_error", "error"):
        # The helper's own refusals: the file did not load, or has no init function.
        unloadable = reply.get("exception") == "ImportError" and str(
            reply.get("message", "")
        ).startswith(("dlopen failed", "no PyInit"))
        if not unloadable:
            return InitInfo(style="single_phase", export="PyInit", basis="inferred")
    data = (reply or {}).get("init")
    if not data:
        return InitInfo(style="unknown")
    pairs = [(int(slot), int(value)) for slot, value in data.get("slots", ())]
    ids = slot_ids(version)

    def value_of(name: str, table: dict[int, str]) -> str | None:
        for slot, value in pairs:
            if slot in ids[name]:
                return table.get(value, str(value))
        return None

    return InitInfo(
        style=data.get("style", "unknown"),
        export=data.get("export"),
        multiple_interpreters=value_of("multiple_interpreters", MULTIPLE_INTERPRETERS),
        gil=value_of("gil", GIL),
        # An export hook (3.15) declares its state size in a slot, not in a PyModuleDef.
        m_size=data.get("m_size", next((v for s, v in pairs if s in ids["state_size"]), None)),
        slots=tuple(ids["classic"].get(slot, slot) for slot, _ in pairs),
    )


@dataclass
class ProbeRun:
    """What the scheduler collected for one module."""

    replies: dict[str, dict[str, Any]]
    failure: str | None = None  # the tool itself failed on this module


ISOLATION_MODES = ("shared", "strict")
# A depth probe does the work of several imports: its deadline is this many --timeout.
DEPTH_TIMEOUT_FACTOR = 3


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
    kinds: Mapping[str, str] | None = None,
    depth: DepthSettings | None = None,
    smoke: Mapping[str, str] | None = None,
    on_finished: Callable[[str, ProbeRun], None] = lambda name, run: None,
) -> dict[str, ProbeRun]:
    """Probe every module; returns module name -> its replies.

    `on_finished(name, run)` is called (from a worker thread) once a module has no probe left
    to run, so that a caller can keep what finished when the scan is interrupted.

    `init` and `main` run first; the other probes of a module are queued only once its `main`
    probe imported it (nothing else can be judged of a module that main cannot import).
    Biggest files first, so that a long import does not end the scan alone.

    isolation "shared" (the default): each probe runs in a child forked from a zygote (the
    state of a newly started interpreter), and the after-main probes are forked from the
    child that did the `main` import, unless that import left threads running (then each
    starts fresh).  "strict": every probe in a newly exec'd interpreter (the reference the
    shared mode is tested against).  Both give the same results (bench/, tests).

    Depth probes (auditor/probe_plan.py DEPTH_PROBES) run in the kind `kinds` names for each
    module, sized by `depth`.  `smoke`: module name -> the maintainer's smoke code, run after
    the import in every interpreter of every probe.
    """
    if isolation not in ISOLATION_MODES:
        raise ValueError(f"unknown isolation mode {isolation!r}")
    strict = isolation == "strict"
    mode = "exec" if strict else "fork"
    modules = sorted(modules, key=lambda m: (-_size(m.path), m.name))
    extra_roots = {m.root for m in modules} - set(interp.sys_path)
    after_main = tuple(p for p in probes if p.endswith("_after_main"))
    later = tuple(
        p for p in probes if p in SUBINTERPRETER_PROBES and (strict or p not in after_main)
    )
    runs = {m.name: ProbeRun({}) for m in modules}
    total = [len(modules) * len(probes) - sum(m.is_import for m in modules) * ("init" in probes)]
    done = [0]
    lock = threading.Lock()
    tasks: queue.PriorityQueue[tuple[int, int, _Task | None]] = queue.PriorityQueue()
    sequence = itertools.count()
    outstanding = [0]
    pending = {m.name: 0 for m in modules}  # tasks queued or running, per module

    def put(task: _Task, priority: int) -> None:
        outstanding[0] += 1
        pending[task.module.name] += 1
        tasks.put((priority, next(sequence), task))

    with lock:
        for rank, module in enumerate(modules):
            if "init" in probes and not module.is_import:  # --import: no init function
                put(_Task(module, "init"), rank)
            if "main" in probes:
                put(_Task(module, "main", () if strict else after_main), rank)
            for probe in probes:
                if probe in DEPTH_PROBES:  # a depth phase: main has already worked
                    put(_Task(module, probe), rank)

    def finish(task: _Task, replies: list[dict[str, Any]], failure: str | None) -> None:
        run = runs[task.module.name]
        with lock:
            for reply in replies:
                run.replies[reply["probe"]] = reply
                if reply.get("outcome") == "tool_failure" and run.failure is None:
                    run.failure = f"probe {reply['probe']}: {reply.get('message')}"
            if failure is not None:
                for probe in task.probes:
                    run.replies.setdefault(probe, _failed(probe, failure))
                if run.failure is None:
                    run.failure = f"probe {task.probe}: {failure}"
            done[0] += len(task.probes)  # a probe that did not report counts as not run
            if task.probe == "main":
                main = run.replies.get("main")
                if main is not None and main.get("outcome") == "ok" and not failure:
                    # The group's after-main probes that did not run (its main import left
                    # threads running) start fresh, each in its own process.
                    missing = tuple(p for p in task.after if p not in run.replies)
                    done[0] -= len(missing)
                    for probe in (*later, *missing):
                        put(_Task(task.module, probe), -1)  # finish started modules first
                else:
                    total[0] -= len(later)
            outstanding[0] -= 1
            pending[task.module.name] -= 1
            finished = pending[task.module.name] == 0
            if outstanding[0] == 0:
                for _ in range(jobs):
                    tasks.put((1 << 30, next(sequence), None))
            counts = (done[0], total[0])
        on_progress(counts[0], counts[1], task.module.name)
        if finished and not stopping.is_set():  # a probe killed by Ctrl-C is no result
            on_finished(task.module.name, run)

    zygotes: list[Zygote] = []
    command = zygote_command(interp, helper)
    settings = depth or DepthSettings()

    stopping = threading.Event()  # Ctrl-C: no task starts after it

    def serve() -> None:
        zygote = Zygote(command)
        zygotes.append(zygote)
        try:
            while True:
                _, _, task = tasks.get()
                if task is None or stopping.is_set():
                    return
                module = task.module
                spec = Spec(
                    mode=mode,
                    probe=task.probe,
                    module=module.name,
                    path=module.path,
                    init_name=module.init_suffix,
                    paths=(module.root,) if module.root in extra_roots else (),
                    after=task.after,
                    kind=(kinds or {}).get(module.name, ""),
                    threads=settings.threads,
                    rounds=settings.rounds,
                    cycles=settings.cycles,
                    smoke=(smoke or {}).get(module.name, ""),
                )
                # Every failure becomes this task's result: a thread is never lost.
                try:
                    deadline = timeout * (DEPTH_TIMEOUT_FACTOR if task.probe in DEPTH_PROBES else 1)
                    replies = zygote.run(spec, deadline)
                except ToolFailure as exc:
                    finish(task, [], str(exc))
                except Exception as exc:  # a bug of ours: the module is not to blame
                    finish(task, [], f"{type(exc).__name__}: {exc}")
                else:
                    finish(task, replies, None)
        finally:
            zygote.close()

    if not modules:
        return runs
    threads = [threading.Thread(target=serve, daemon=True) for _ in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        # The zygotes run in sessions of their own: end each with every probe it forked.
        stopping.set()
        for zygote in zygotes:
            zygote.terminate()
        for thread in threads:  # each returns once its probe is dead, closing its zygote
            thread.join(timeout=5)
        raise
    return runs


def _failed(probe: str, why: str) -> dict[str, Any]:
    """The reply of a probe that the tool itself could not run."""
    return {
        "probe": probe,
        "outcome": "tool_failure",
        "exception": None,
        "message": f"subinterp-audit failed: {why}",
    }


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
