"""Schedule the probes over J zygotes of the target, one task at a time per zygote.

The CLI process never imports anything of the audited environment.  Each job thread owns a
zygote (auditor/probing/supervisor.py, which runs auditor/_target/worker.py in the target), hands it
one task at a time, and records what came back; every failure of the tool becomes that
task's ``tool_failure`` reply, so no thread and no module is ever lost.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from auditor.model import ExtensionModule, Interpreter
from auditor.probe_plan import (
    CONTROL_PROBE,
    DEPTH_PROBES,
    ISOLATION_MODES,
    SUBINTERPRETER_PROBES,
    DepthSettings,
    ProbeSettings,
    depth_deadline,
)
from auditor.probing.helper import Helper
from auditor.probing.replies import Reply, tool_failure_reply
from auditor.probing.supervisor import Spec, ToolFailure, Zygote, stop_all, stopped


@dataclass(frozen=True)
class _Task:
    module: ExtensionModule
    probe: str
    after: tuple[str, ...] = ()  # with probe "main": after-main probes forked from its child

    @property
    def probes(self) -> tuple[str, ...]:
        return (self.probe, *self.after)


@dataclass
class ProbeRun:
    """What the scheduler collected for one module."""

    replies: dict[str, Reply]
    failure: str | None = None  # the tool itself failed on this module


def zygote_command(interp: Interpreter, helper: Helper) -> list[str]:
    """How the target runs the zygote.  ``-P`` (3.11+): no script directory on sys.path,
    so that subinterpreters, which copy it since 3.12.1, do not see the tool's files."""
    flags = ["-P"] if interp.short_version >= (3, 11) else []
    return [interp.executable, *flags, str(helper.worker), "--zygote", str(helper.directory)]


def run_probes(
    interp: Interpreter,
    helper: Helper,
    modules: Iterable[ExtensionModule],
    probes: tuple[str, ...],
    settings: ProbeSettings,
    *,
    kinds: Mapping[str, str] | None = None,
    import_seconds: Mapping[str, float] | None = None,
    controls: Mapping[str, int] | None = None,
    on_progress: Callable[[int, int, str], None] = lambda done, total, name: None,
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
    module, sized by `settings.depth`, each with a deadline from the module's
    `import_seconds` (auditor/probe_plan.py depth_deadline); a cycles probe in a kind of
    `controls` skips its empty control (the scan measured it, probe CONTROL_PROBE: its heap
    growth per cycle, from which the probe judges whether it may settle early).  The
    maintainer's smoke code runs after the import in every interpreter of every probe.
    """
    if settings.isolation not in ISOLATION_MODES:
        raise ValueError(f"unknown isolation mode {settings.isolation!r}")
    schedule = _Schedule(
        interp, helper, modules, probes, settings, kinds or {}, import_seconds or {}, controls or {}
    )
    return schedule.run(on_progress, on_finished)


class _Schedule:
    """The tasks of one run_probes call, the job threads that serve them, and the counts."""

    def __init__(
        self,
        interp: Interpreter,
        helper: Helper,
        modules: Iterable[ExtensionModule],
        probes: tuple[str, ...],
        settings: ProbeSettings,
        kinds: Mapping[str, str],
        import_seconds: Mapping[str, float],
        controls: Mapping[str, int],
    ) -> None:
        self.interp, self.helper, self.settings, self.kinds = interp, helper, settings, kinds
        self.import_seconds, self.controls = import_seconds, controls
        self.strict = settings.isolation == "strict"
        self.modules = sorted(modules, key=lambda m: (-_size(m.path), m.name))
        self.extra_roots = {m.root for m in self.modules} - set(interp.sys_path)
        after_main = tuple(p for p in probes if p.endswith("_after_main"))
        self.after_main = () if self.strict else after_main
        # Queued once main imported the module (the after-main ones run in main's group).
        self.later = tuple(
            p for p in probes if p in SUBINTERPRETER_PROBES and (self.strict or p not in after_main)
        )
        self.runs = {m.name: ProbeRun({}) for m in self.modules}
        is_import = sum(m.is_import for m in self.modules)
        self.total = len(self.modules) * len(probes) - is_import * ("init" in probes)
        self.done = 0
        self.lock = threading.Lock()
        self.tasks: queue.PriorityQueue[tuple[int, int, _Task | None]] = queue.PriorityQueue()
        self.sequence = itertools.count()
        self.outstanding = 0  # tasks queued or running
        self.pending = {m.name: 0 for m in self.modules}  # the same, per module
        self.stopping = threading.Event()  # Ctrl-C: no task starts after it
        with self.lock:
            for rank, module in enumerate(self.modules):
                if "init" in probes and not module.is_import:  # --import: no init function
                    self._put(_Task(module, "init"), rank)
                if "main" in probes:
                    self._put(_Task(module, "main", self.after_main), rank)
                for probe in probes:
                    if probe in (*DEPTH_PROBES, CONTROL_PROBE):  # main has already worked
                        self._put(_Task(module, probe), rank)

    def run(
        self,
        on_progress: Callable[[int, int, str], None],
        on_finished: Callable[[str, ProbeRun], None],
    ) -> dict[str, ProbeRun]:
        if not self.modules:
            return self.runs
        self.on_progress, self.on_finished = on_progress, on_finished
        jobs = max(1, self.settings.jobs)
        threads = [threading.Thread(target=self._serve, daemon=True) for _ in range(jobs)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (auditor/commands/__init__.py)
            # The zygotes run in sessions of their own: end each with every probe it forked,
            # and start no other.
            self.stopping.set()
            stop_all()
            for thread in threads:  # each returns once its probe is dead, closing its zygote
                thread.join(timeout=5)
            raise
        return self.runs

    def _put(self, task: _Task, priority: int) -> None:
        """Queue a task (the lock held)."""
        self.outstanding += 1
        self.pending[task.module.name] += 1
        self.tasks.put((priority, next(self.sequence), task))

    def _finish(self, task: _Task, replies: list[Reply], failure: str | None) -> None:
        run = self.runs[task.module.name]
        with self.lock:
            for reply in replies:
                run.replies[reply["probe"]] = reply
                if reply.get("outcome") == "tool_failure" and run.failure is None:
                    run.failure = f"probe {reply['probe']}: {reply.get('message')}"
            if failure is not None:
                for probe in task.probes:
                    run.replies.setdefault(probe, tool_failure_reply(probe, failure))
                if run.failure is None:
                    run.failure = f"probe {task.probe}: {failure}"
            self.done += len(task.probes)  # a probe that did not report counts as not run
            if task.probe == "main":
                main = run.replies.get("main")
                if main is not None and main.get("outcome") == "ok" and not failure:
                    # The group's after-main probes that did not run (its main import left
                    # threads running) start fresh, each in its own process.
                    missing = tuple(p for p in task.after if p not in run.replies)
                    self.done -= len(missing)
                    for probe in (*self.later, *missing):
                        self._put(_Task(task.module, probe), -1)  # finish started modules first
                else:
                    self.total -= len(self.later)
            self.outstanding -= 1
            self.pending[task.module.name] -= 1
            finished = self.pending[task.module.name] == 0
            if self.outstanding == 0:
                for _ in range(max(1, self.settings.jobs)):
                    self.tasks.put((1 << 30, next(self.sequence), None))
            counts = (self.done, self.total)
        self.on_progress(counts[0], counts[1], task.module.name)
        if finished and not self.stopping.is_set():  # a probe killed by Ctrl-C is no result
            self.on_finished(task.module.name, run)

    def _spec(self, task: _Task) -> Spec:
        module, depth = task.module, self.settings.depth or DepthSettings()
        return Spec(
            mode="exec" if self.strict else "fork",
            probe=task.probe,
            module=module.name,
            path=module.path,
            init_name=module.init_suffix,
            paths=(module.root,) if module.root in self.extra_roots else (),
            after=task.after,
            kind=self.kinds.get(module.name, ""),
            threads=depth.threads,
            rounds=depth.rounds,
            cycles=depth.cycles,
            control_cycles=0 if self.kinds.get(module.name) in self.controls else depth.cycles,
            control_growth=self.controls.get(self.kinds.get(module.name, "")),
            smoke=self.settings.smoke_for(module.name) or "",
        )

    def _deadline(self, task: _Task) -> float:
        timeout = self.settings.timeout
        if task.probe not in (*DEPTH_PROBES, CONTROL_PROBE):
            return timeout
        depth = self.settings.depth or DepthSettings()
        seconds = self.import_seconds.get(task.module.name, timeout)
        return depth_deadline(task.probe, seconds, depth, timeout)

    def _serve(self) -> None:
        """One job thread: its own zygote, one task at a time, until the queue ends."""
        zygote = Zygote(zygote_command(self.interp, self.helper))
        try:
            while True:
                _, _, task = self.tasks.get()
                if task is None or self.stopping.is_set() or stopped():
                    return
                # Every failure becomes this task's result: a thread is never lost.
                try:
                    replies = zygote.run(self._spec(task), self._deadline(task))
                except ToolFailure as exc:
                    self._finish(task, [], str(exc))
                except Exception as exc:  # a bug of ours: the module is not to blame
                    self._finish(task, [], f"{type(exc).__name__}: {exc}")
                else:
                    self._finish(task, replies, None)
        finally:
            zygote.close()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
