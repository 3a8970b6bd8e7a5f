"""Run a pytest suite in the main interpreter and in K subinterpreters of a kind, each run in
a sacrificial process of the target (auditor/_target/suite.py), and tell the difference.

The runs are real processes: a crash, a hang, an ``os._exit`` or a flood of output costs the
run, not the tool.  What each interpreter reached (its stages) comes from a status file written
as it goes, so that a crash still says which interpreter was running tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import UsageError
from auditor.judging.interpreter_bugs import InterpreterBug, recognise
from auditor.model import Outcome, ProbeResult
from auditor.probing.stall import CHECK_EVERY, Watch, deadlock_evidence
from auditor.probing.target import target_script

KINDS = ("legacy", "isolated", "own_gil")
PASSED = "passed"
# A test's outcome: pytest's (passed, failed, error, skipped), or what happened to the run it
# was in when it never reported one: crash, hang, not_run (its interpreter failed before).
OUTCOMES = ("passed", "failed", "error", "skipped", "crash", "hang", "not_run")
TAIL = 4000  # bytes of stderr kept
# A run that writes nothing (status, pytest's progress, output) and uses almost no CPU for
# this long is deadlocked (auditor/probing/stall.py): stopped then, not at --timeout.  Longer
# than the probes' 3 s: a test may sleep or wait on purpose.
DEADLOCK_SECONDS = 30.0
SUITE_TIMEOUT = 600.0  # a run's time limit by default (--timeout of `test`)


@dataclass(frozen=True)
class CaseResult:
    nodeid: str
    outcome: str
    message: str = ""


@dataclass
class SuiteRun:
    """One process: the main interpreter's run, or K subinterpreters' at once."""

    kind: str  # "main" or a subinterpreter kind
    interpreters: int
    end: str  # "ok", "crash", "hang"; after every interpreter reported its tests:
    # "crash_at_end" (as they ended), "crash_at_exit" (after they had ended)
    signal: str | None = None
    exit_code: int | None = None
    stderr_tail: str = ""
    unsupported: str | None = None  # the target cannot create this kind
    python_version: str = ""
    cpython_bug: InterpreterBug | None = None  # a known CPython bug explains `end`
    stages: list[str] = field(default_factory=list)  # each interpreter's last stage
    errors: list[str | None] = field(default_factory=list)  # what escaped each interpreter
    tests: list[dict[str, CaseResult]] = field(default_factory=list)  # per interpreter
    # Per interpreter: pytest could not be imported there ({"chain": the imports that led to
    # the module that refused, outermost first, "error"}), and how many plain test functions
    # the minimal collector ran instead (None: pytest ran).
    blocked: list[dict[str, Any] | None] = field(default_factory=list)
    minimal: list[int | None] = field(default_factory=list)
    # A hang found stuck (no progress, no CPU): how long, and every thread's native stack.
    deadlock: dict[str, Any] | None = None


def project_path(python: Path, cwd: Path) -> tuple[list[str], str]:
    """The target's sys.path as ``python -m pytest`` started in `cwd` has it (cwd first), and
    its version ("3.12.1")."""
    script = "import json, platform, sys; print(json.dumps([sys.path, platform.python_version()]))"
    try:
        done = subprocess.run(
            [str(python), "-c", script],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"cannot start {python}: {exc}") from None
    paths, version = json.loads(done.stdout)
    return [str(cwd) if p == "" else p for p in paths], version


def read_junit(path: Path) -> dict[str, CaseResult]:
    """pytest's JUnit XML -> nodeid-like name -> result; {} when missing or unreadable."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    found = {}
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome, message = PASSED, ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                message = _message(child.get("message") or "", child.text or "")
                break
        found[name] = CaseResult(name, outcome, message[:2000])
    return found


def _message(summary: str, text: str) -> str:
    """A failure's message: pytest's summary, or for a collection error ("collection
    failure") the exception it reports (the last ``E   `` line of its traceback)."""
    raised = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    if raised and (not summary or summary == "collection failure"):
        return raised[-1]
    return (summary or text).strip()


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as source:
            source.seek(0, os.SEEK_END)
            source.seek(max(0, source.tell() - TAIL))
            return source.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_suite(
    python: Path,
    kind: str,
    interpreters: int,
    args: Sequence[str],
    cwd: Path,
    timeout: float,
    deadlock_seconds: float = DEADLOCK_SECONDS,
) -> SuiteRun:
    """Run pytest with `args` in `cwd`: in the main interpreter of a fresh process (`kind`
    "main"), or in `interpreters` subinterpreters of `kind` at once, one process."""
    count = 1 if kind == "main" else interpreters
    paths, version = project_path(python, cwd)
    with tempfile.TemporaryDirectory(prefix="subinterp-suite-") as scratch:
        work = Path(scratch)
        status = work / "status.jsonl"
        junit = [work / f"junit-{i}.xml" for i in range(count)]
        plan = {
            "kind": kind,
            "interpreters": count,
            "paths": paths,
            "args": list(args),
            "junit": [str(p) for p in junit],
            "status": str(status),
        }
        (work / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
        stdout, stderr = work / "stdout", work / "stderr"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            proc = subprocess.Popen(
                [str(python), str(target_script("suite.py")), str(work / "plan.json")],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: killed whole
            )
            try:
                code, deadlock = _wait(proc, timeout, deadlock_seconds, (status, stdout, stderr))
                end = "hang" if code is None else "ok" if code == 0 else "crash"
            except BaseException:
                _kill(proc)
                raise
            finally:
                _kill(proc)
        run = SuiteRun(kind, count, end, stderr_tail=_tail(stderr), python_version=version)
        run.deadlock = deadlock
        if code is not None and code < 0:
            run.signal = signal.Signals(-code).name
        elif code:
            run.exit_code = code
        _read_status(run, status)
        run.tests = [read_junit(p) for p in junit]
        if run.end == "crash" and run.signal is None and "process_exit" in run.stages:
            run.end = "ok"  # pytest's own exit code (tests failed): not a crash
        elif run.end == "crash" and all(s in ("end", "done") for s in run.stages[:count]):
            # Every interpreter had reported its tests: the crash came as they ended.
            done = all(s == "done" for s in run.stages[:count])
            run.end = "crash_at_exit" if done else "crash_at_end"
            run.cpython_bug = _cpython_bug(run)
    return run


def _cpython_bug(run: SuiteRun) -> InterpreterBug | None:
    """The known CPython bug that explains a run that crashed after its tests, recognised as
    the probes' are (auditor/judging/interpreter_bugs.py ``recognise``): the run's end as the
    probe that would have seen it, at exit after isolated interpreters (3.12, gh-116510), or
    as concurrent interpreters end (3.13, gh-136423).  pytest imports datetime, so the suite
    stands as its own ``_datetime`` control."""
    if not run.python_version or run.kind not in ("isolated", "own_gil"):
        return None
    seen: dict[str, ProbeResult] = {}
    if run.end == "crash_at_exit":
        seen[run.kind] = ProbeResult(
            run.kind,
            Outcome.CRASH,
            signal=run.signal,
            stage="exit_after_subinterpreter",
            stderr_tail=run.stderr_tail,
            import_outcome=Outcome.OK,
        )
    if run.interpreters > 1:
        seen["concurrent"] = ProbeResult(
            "concurrent",
            Outcome.CRASH,
            signal=run.signal,
            stage="interpreter_end",
            stderr_tail=run.stderr_tail,
            kind=run.kind,
        )
    matches, _ = recognise(run.python_version, "", seen, module="_datetime")
    return matches[0].bug if matches else None


def _wait(
    proc: subprocess.Popen[bytes], timeout: float, deadlock_seconds: float, files: Sequence[Path]
) -> tuple[int | None, dict[str, Any] | None]:
    """The run's exit code, or None when it hung: past `timeout`, or stuck for
    `deadlock_seconds` (then with the evidence: idle seconds and native stacks)."""
    watch = Watch(seconds=deadlock_seconds) if deadlock_seconds > 0 else None
    deadline = time.monotonic() + timeout
    while True:
        try:
            return proc.wait(timeout=CHECK_EVERY), None
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if now > deadline:
            return None, None
        progress = tuple(p.stat().st_size if p.exists() else 0 for p in files)
        if watch is not None and watch.stalled(proc.pid, now, progress):
            return None, deadlock_evidence(proc.pid, watch)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """The run's whole process group: whatever the suite forked goes with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _read_status(run: SuiteRun, path: Path) -> None:
    stages: dict[int, str] = {}
    errors: dict[int, str | None] = {}
    blocked: dict[int, dict[str, Any]] = {}
    minimal: dict[int, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash
        index = entry.get("interpreter")
        if entry.get("stage") == "blocked" and isinstance(index, int):
            blocked[index] = {"chain": entry.get("chain") or [], "error": entry.get("error")}
        elif entry.get("stage") == "minimal" and isinstance(index, int):
            minimal[index] = int(entry.get("tests") or 0)
        elif entry.get("stage") == "unsupported":
            run.unsupported = entry.get("error")
        elif index is None:
            run.stages.append(entry.get("stage", ""))
        else:
            stages[index] = entry.get("stage", "")
            if "error" in entry:
                errors[index] = entry["error"]
    per = [stages.get(i, "not_started") for i in range(run.interpreters)]
    run.stages = per + run.stages  # each interpreter's, then the process's ("process_exit")
    run.errors = [errors.get(i) for i in range(run.interpreters)]
    run.blocked = [blocked.get(i) for i in range(run.interpreters)]
    run.minimal = [minimal.get(i) for i in range(run.interpreters)]


@dataclass(frozen=True)
class CaseDifference:
    """One test across the runs: its outcome in main and in each subinterpreter."""

    nodeid: str
    main: CaseResult
    sub: tuple[CaseResult, ...]

    @property
    def differs(self) -> bool:
        """Passes in main, and not in some subinterpreter: the gate's failure."""
        return self.main.outcome == PASSED and any(s.outcome != PASSED for s in self.sub)

    @property
    def fails_in_main(self) -> bool:
        return self.main.outcome in ("failed", "error")


def compare(main: SuiteRun, sub: SuiteRun) -> list[CaseDifference]:
    """Every test main ran, with what each subinterpreter made of it.  A test a
    subinterpreter never reported gets its run's end: crash, hang, or not_run."""
    missing_outcome = {"crash": "crash", "hang": "hang"}.get(sub.end, "not_run")
    found = []
    for nodeid, result in sorted((main.tests[0] if main.tests else {}).items()):
        others = []
        for index, tests in enumerate(sub.tests):
            if nodeid in tests:
                others.append(tests[nodeid])
                continue
            # Its file failed to import there (pytest reports a collection error under the
            # module's name; a test class's tests are named "module.Class::test"): that
            # error is the test's.
            collected = _collection_error(tests, nodeid)
            if collected is not None:
                others.append(CaseResult(nodeid, "error", f"collecting: {collected.message}"))
                continue
            why = sub.errors[index] if index < len(sub.errors) else None
            stage = sub.stages[index] if index < len(sub.stages) else ""
            outcome = missing_outcome if stage in ("run", "create") else "not_run"
            message = why or (
                f"not reported: pytest in interpreter {index + 1} did not run it"
                if stage == "done"
                else f"interpreter {index + 1} stopped at stage {stage}"
            )
            others.append(CaseResult(nodeid, outcome, message))
        found.append(CaseDifference(nodeid, result, tuple(others)))
    return found


def _collection_error(tests: dict[str, CaseResult], nodeid: str) -> CaseResult | None:
    """The collection error pytest reported for the file of `nodeid`, if any."""
    prefix = nodeid.partition("::")[0]
    while prefix:
        found = tests.get("::" + prefix)
        if found is not None and found.outcome == "error":
            return found
        prefix = prefix.rpartition(".")[0]
    return None


def run_both(
    python: Path,
    kind: str,
    interpreters: int,
    args: Sequence[str],
    cwd: Path,
    timeout: float,
    deadlock_seconds: float = DEADLOCK_SECONDS,
) -> tuple[SuiteRun, SuiteRun, list[CaseDifference], float]:
    """The suite in main, then in the kind: both runs, the comparison, the seconds taken."""
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    if interpreters < 1:
        raise UsageError("--interpreters must be 1 or more")
    started = time.monotonic()
    main = run_suite(python, "main", 1, args, cwd, timeout, deadlock_seconds)
    if not main.tests or not main.tests[0]:
        why = main.stderr_tail.strip().splitlines()[-1:] or [f"it ended: {main.end}"]
        raise UsageError(f"pytest ran no test in the main interpreter ({why[0]})")
    sub = run_suite(python, kind, interpreters, args, cwd, timeout, deadlock_seconds)
    if sub.unsupported:
        raise UsageError(sub.unsupported)
    return main, sub, compare(main, sub), time.monotonic() - started
