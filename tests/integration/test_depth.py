"""Depth probes: reuse, concurrent and cycles, on fixtures that fail only in real use.

Every fixture here passes all eight import probes; the depth probes must catch each pattern
(tests/fixtures/ext/README.md explains them), and a deadlock must be found in seconds.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from tests.integration.conftest import Scan, free_threaded, run_cli

DEPTH_FIXTURES = (
    "multiphase_own_gil",
    "stale_static",
    "leaks_per_load",
    "busy_init",
    "static_exception",
    "deadlock",
    "once_holds_gil",
)
BUSY = "busy_init: library init is not reentrant"
CYCLES = 12  # enough to tell a 1 MiB-per-load leak from the control (the default is 30)
SMOKE_FAILED = "smoke code failed: Error: static_exception: raised on request"
# Fails outside the main interpreter only: every subinterpreter import probe must fail.
IN_MAIN_ONLY = (
    "try:\n"
    "    import _interpreters as i\n"
    "except ImportError:\n"
    "    import _xxsubinterpreters as i\n"
    "if i.get_current() != i.get_main():\n"
    "    raise LookupError('not the main interpreter')\n"
)
CATCHES_ITS_ERROR = (
    "import static_exception as m\ntry:\n    m.raise_error()\nexcept m.Error:\n    pass\n"
)


@dataclass
class DepthScan:
    scan: Scan
    html: str

    def probes(self, name: str) -> dict[str, Any]:
        return dict(self.scan.module(name)["probes"])

    def codes(self, name: str) -> set[str]:
        return {r["code"] for r in self.scan.module(name)["reasons"]} - {"gil_reenabled"}


def _files(fixtures: Path, names: tuple[str, ...]) -> list[str]:
    return [str(next(fixtures.glob(f"{name}.*.so"))) for name in names]


@pytest.fixture(scope="session")
def depth_scan(
    python: str, fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> DepthScan:
    """The depth fixtures, with the maintainer's smoke code for static_exception (config)."""
    work = tmp_path_factory.mktemp("depth")
    smoke = json.dumps(CATCHES_ITS_ERROR)
    (work / "pyproject.toml").write_text(
        f'[tool.subinterp-audit]\nsmoke = {{"static_exception" = {smoke}}}\n'
    )
    out = work / "depth.json"
    done = run_cli(
        "scan",
        "--python",
        python,
        "--no-cache",
        "--timeout",
        "60",  # a deadlock must not need it
        "--jobs",
        "2",
        "--cycles",
        str(CYCLES),
        "--repeat",
        "2",
        "--json",
        str(out),
        "--html",
        str(work / "depth.html"),
        *_files(fixtures_dir, DEPTH_FIXTURES),
        cwd=work,
        depth=True,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    scan = Scan(python, fixtures_dir, report, done.stdout, done.stderr, done.returncode)
    return DepthScan(scan, (work / "depth.html").read_text())


def test_a_good_module_passes_every_depth_probe(depth_scan: DepthScan) -> None:
    probes = depth_scan.probes("multiphase_own_gil")
    for name in ("reuse", "concurrent", "cycles"):
        assert (probes[name]["outcome"], probes[name]["kind"]) == ("ok", "own_gil"), probes[name]
        assert probes[name]["runs"] == 1 and probes[name]["failed_runs"] == 0
    heap = probes["cycles"]["heap"]
    if heap["heap_growth_per_cycle"] is not None:  # glibc
        assert heap["heap_growth_per_cycle"] - heap["control_heap_growth_per_cycle"] < 64 * 1024
        assert heap["cycles"] == 6  # of CYCLES: clean after 6, it settled there
    else:
        assert heap["cycles"] == CYCLES  # nothing to settle on
    assert depth_scan.scan.module("multiphase_own_gil")["verdict"] == "own_gil"
    assert re.search(r"depth:\s+reuse,\s+concurrent,\s+cycles", depth_scan.scan.stdout)


def test_a_stale_static_object_crashes_the_second_interpreter(depth_scan: DepthScan) -> None:
    """Cython issue 8006's pattern: each exec frees the previous interpreter's object."""
    probes = depth_scan.probes("stale_static")
    if free_threaded(depth_scan.scan):
        # Observed on 3.14t: the freed object's memory (mimalloc, not a per-interpreter
        # obmalloc) is still intact when B uses it, so nothing shows.
        assert probes["reuse"]["outcome"] == "ok"
        return
    reuse = probes["reuse"]
    assert (reuse["outcome"], reuse["kind"], reuse["stage"]) == ("crash", "own_gil", "B:import")
    assert reuse["runs"] == reuse["failed_runs"] == 2  # --repeat 2
    assert probes["isolated_reuse"]["outcome"] == "crash"
    module = depth_scan.scan.module("stale_static")
    version = depth_scan.scan.report["targets"][0]["python"]["version"]
    if Version(version) < Version("3.12.7"):
        # CPython gh-116510 (fixed in 3.12.7 and 3.13.0rc3): A's registry is still linked into
        # A's garbage-collector lists, which ended with A, so B's Py_XSETREF crashes in
        # PyObject_GC_UnTrack (gdb, 3.12.1; CPython's own _xxsubinterpreters crashes alike:
        # bench/depth_oracle.py --kind legacy).  The tool names the bug and judges the module
        # as a fixed interpreter would.
        legacy = probes["legacy_reuse"]
        assert (legacy["outcome"], legacy["kind"], legacy["stage"]) == (
            "crash",
            "legacy",
            "B:import",
        )
        bugs = [r for r in module["reasons"] if r["code"] == "interpreter_bug"]
        assert [(r["details"]["cpython_issue"], r["details"]["fixed_in"]) for r in bugs] == [
            ("gh-116510", "3.12.7")
        ]
        assert "legacy_reuse" in bugs[0]["probes"]
        assert all(probes[p]["kind"] == "legacy" for p in bugs[0]["probes"])
        assert module["verdict"] == "crashes"
        assert module["verdict_on_fixed_interpreter"] == "legacy_only"
    else:
        # A legacy interpreter shares main's allocator: the stale object is still valid memory.
        assert probes["legacy_reuse"]["outcome"] == "ok"
        assert module["verdict"] == "legacy_only"
    (reason,) = [
        r for r in module["reasons"] if r["code"] == "fails_reuse" and r["probes"] == ["reuse"]
    ]
    assert "crashed (killed by " in reason["message"]  # SIGSEGV on 3.12, SIGABRT later
    assert reason["message"].endswith("at B:import, 2 of 2 runs")
    assert reason["advice"]["title"] == "Fails when a second interpreter loads it"


def test_a_per_load_leak_is_measured_against_the_control(depth_scan: DepthScan) -> None:
    cycles = depth_scan.probes("leaks_per_load")["cycles"]
    assert cycles["outcome"] == "ok"
    heap = cycles["heap"]
    if heap["heap_growth_per_cycle"] is None:
        pytest.skip("no glibc mallinfo2 on this machine")
    leak = heap["heap_growth_per_cycle"] - heap["control_heap_growth_per_cycle"]
    assert 1000 * 1024 <= leak <= 1100 * 1024  # the fixture mallocs 1 MiB per exec
    assert heap["cycles"] == CYCLES  # a leak does not settle early: all N cycles ran
    assert "leaks_per_interpreter" in depth_scan.codes("leaks_per_load")
    (reason,) = [
        r
        for r in depth_scan.scan.module("leaks_per_load")["reasons"]
        if r["code"] == "leaks_per_interpreter" and r["probes"] == ["cycles"]
    ]
    assert f"leaves {leak / 1024:.0f} KiB of C heap behind" in reason["message"]


def test_a_non_reentrant_global_init_fails_only_concurrently(depth_scan: DepthScan) -> None:
    probes = depth_scan.probes("busy_init")
    assert probes["reuse"]["outcome"] == "ok" and probes["cycles"]["outcome"] == "ok"
    concurrent = probes["concurrent"]
    assert (concurrent["outcome"], concurrent["exception"], concurrent["message"]) == (
        "error",
        "RuntimeError",
        BUSY,
    )
    assert concurrent["step"].startswith("round 1, interpreter ")
    assert concurrent["step"].endswith(":import")
    assert depth_scan.codes("busy_init") == {"fails_concurrently"}
    assert depth_scan.scan.module("busy_init")["verdict"] == "one_interpreter"


def test_the_smoke_code_runs_in_every_interpreter(depth_scan: DepthScan) -> None:
    """static_exception raises the first interpreter's class: `except m.Error` fails in
    every later interpreter, which only the maintainer's smoke code can show."""
    module = depth_scan.scan.module("static_exception")
    probes = module["probes"]
    for name in ("main", "own_gil", "isolated", "legacy"):  # the first (only) interpreter
        assert probes[name]["outcome"] == "ok", probes[name]
    for kind in ("legacy", "isolated", "own_gil"):
        after = probes[f"{kind}_after_main"]  # main was first: the subinterpreter fails
        assert (after["outcome"], after["step"], after["exception"]) == (
            "error",
            "use",
            "RuntimeError",
        )
        assert after["message"] == SMOKE_FAILED
        # Fresh: the subinterpreter was first, so main fails afterwards.
        assert probes[kind]["main_after"]["message"] == SMOKE_FAILED
    codes = [r["code"] for r in module["reasons"]]
    assert codes[0] == "smoke_failed"
    assert module["verdict"] == "one_interpreter"
    assert not any(p.get("kind") for p in probes.values())  # no depth below legacy_only


def test_a_deadlock_is_found_in_seconds_with_its_stacks(depth_scan: DepthScan) -> None:
    module = depth_scan.scan.module("deadlock")
    assert module["verdict"] == "hangs"
    own_gil = module["probes"]["own_gil"]
    assert own_gil["outcome"] == "timeout" and own_gil["stage"] == "import"
    deadlock = own_gil["deadlock"]
    assert deadlock is not None and deadlock["idle_seconds"] >= 3
    assert own_gil["seconds"] < 20  # not the 60 s --timeout
    if deadlock["native_stacks"] is not None:
        assert (
            "deadlock_exec" in deadlock["native_stacks"]
            or "pthread_mutex_lock" in (deadlock["native_stacks"])
        )
    else:
        assert "install gdb" in deadlock["native_stacks_from"]
    # faulthandler's Python stacks, from the SIGABRT that ended it (3.14+ adds the C stack).
    assert "most recent call first" in own_gil["stderr_tail"]
    assert "<frozen importlib._bootstrap" in own_gil["stderr_tail"]
    (reason,) = [r for r in module["reasons"] if r["code"] == "timeout"]
    assert reason["message"].startswith("deadlocked: no progress and almost no CPU time for ")


def test_a_deadlock_on_the_gil_is_found_in_seconds_once(depth_scan: DepthScan) -> None:
    """The pattern of a real venv's hung module (hyperjson on 3.13): one thread holds the GIL
    and waits for a lock, the other holds the lock and waits for the GIL, waking every 5 ms.
    Found from the lack of progress, not from zero CPU time; cached, never repeated."""
    probes = depth_scan.probes("once_holds_gil")
    if free_threaded(depth_scan.scan):
        assert probes["concurrent"]["outcome"] == "ok"  # no GIL to wait for
        return
    assert depth_scan.scan.module("once_holds_gil")["verdict"] == "hangs"
    for name, kind in (("concurrent", "isolated"), ("legacy_concurrent", "legacy")):
        probe = probes[name]
        assert (probe["outcome"], probe["kind"]) == ("timeout", kind), probe
        assert probe["stage"].startswith("round 1:"), probe["stage"]
        assert probe["deadlock"] is not None and probe["deadlock"]["idle_seconds"] >= 3
        assert probe["seconds"] < 10  # not the 60 s --timeout, nor 3 x 60 s for a depth probe
        assert (probe["runs"], probe["failed_runs"]) == (1, 1)  # --repeat 2: not repeated
        if probe["deadlock"]["native_stacks"] is not None:
            stacks = probe["deadlock"]["native_stacks"]
            assert "init_lock" in stacks or "once_holds_gil" in stacks  # the lock, or its code
    for name in ("reuse", "cycles"):  # one interpreter at a time: no deadlock
        assert probes[name]["outcome"] == "ok", probes[name]


def test_smoke_failures_are_told_apart_from_import_failures(
    python: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    done = run_cli(
        "scan",
        "--python",
        python,
        "--no-cache",
        "--depth",
        "import",
        "--smoke",
        IN_MAIN_ONLY,
        "--json",
        str(out),
        *_files(fixtures_dir, ("multiphase_own_gil",)),
    )
    assert done.returncode == 0, done.stderr
    (module,) = json.loads(out.read_text())["targets"][0]["modules"]
    probes = module["probes"]
    assert not any(name in probes for name in ("reuse", "concurrent", "cycles"))  # --depth import
    assert probes["main"]["outcome"] == "ok"
    own_gil = probes["own_gil"]
    assert (own_gil["outcome"], own_gil["step"], own_gil["exception"]) == (
        "error",
        "use",
        "RuntimeError",
    )
    assert own_gil["message"] == "smoke code failed: LookupError: not the main interpreter"
    assert own_gil["main_after"]["outcome"] == "ok"
    codes = [r["code"] for r in module["reasons"]]
    assert "smoke_failed" in codes
    assert module["verdict"] == "unsupported"


# Smoke code that crashes the second process that runs it on a thread other than the main one:
# only the concurrent probe uses a module there, so the first concurrent run passes and a
# confirmation run crashes, as a race that strikes some runs would.
CRASHES_SECOND_CONCURRENT_RUN = (
    "import os, threading\n"
    "if threading.get_native_id() != os.getpid():\n"
    "    with open(%r, 'a') as f:\n"
    "        f.write('%%d\\n' %% os.getpid())\n"
    "    with open(%r) as f:\n"
    "        if len(set(f.read().split())) >= 2:\n"
    "            os.abort()\n"
)


def _confirmed_scan(
    python: str, fixtures_dir: Path, tmp_path: Path, *options: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """multiphase_own_gil at full depth, small sizes, --confirm 3: (the run, its module)."""
    out = tmp_path / "r.json"
    done = run_cli(
        "scan",
        "--python",
        python,
        "--no-cache",
        "--cycles",
        "3",
        "--confirm",
        "3",
        *options,
        "--json",
        str(out),
        "--html",
        str(tmp_path / "r.html"),
        *_files(fixtures_dir, ("multiphase_own_gil",)),
        depth=True,
    )
    # 1 when a crash fails the gate (on 3.12.1 a legacy crash may read as CPython's
    # gh-116510 and pass it): the gate is not what these tests check.
    assert done.returncode in (0, 1), done.stderr
    (module,) = json.loads(out.read_text())["targets"][0]["modules"]
    return done, module


def test_a_concurrent_pass_says_how_many_runs_it_rests_on(
    depth_scan: DepthScan, python: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    legend = re.sub(r"\s+", " ", depth_scan.scan.stdout)
    assert "a concurrent pass rests on 1 run (--confirm N: N runs)" in legend
    assert "passed its one run (--confirm N runs it N times)" in depth_scan.html
    assert "A concurrent pass rests on 1 run (--confirm N: N runs)." in depth_scan.html
    done, module = _confirmed_scan(python, fixtures_dir, tmp_path)
    assert done.returncode == 0
    concurrent = module["probes"]["concurrent"]
    assert (concurrent["outcome"], concurrent["runs"], concurrent["failed_runs"]) == ("ok", 3, 0)
    assert module["probes"]["reuse"]["runs"] == 1  # only concurrent passes are confirmed
    assert module["verdict"] == "own_gil"
    assert "a concurrent pass rests on 3 runs" in re.sub(r"\s+", " ", done.stdout)
    html = (tmp_path / "r.html").read_text()
    assert "0 of 3 runs failed" in html and "A concurrent pass rests on 3 runs." in html


def test_a_confirmation_run_that_fails_is_the_evidence(
    python: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "pids"
    smoke = CRASHES_SECOND_CONCURRENT_RUN % (str(marks), str(marks))
    done, module = _confirmed_scan(
        python, fixtures_dir, tmp_path, "--repeat", "1", "--smoke", smoke
    )
    concurrent = module["probes"]["concurrent"]
    # Run 1 passed, run 2 crashed: that run is the evidence, and run 3 does not happen.
    assert (concurrent["outcome"], concurrent["signal"], concurrent["kind"]) == (
        "crash",
        "SIGABRT",
        "own_gil",
    )
    assert concurrent["stage"].startswith("round 1:"), concurrent["stage"]
    assert (concurrent["runs"], concurrent["failed_runs"]) == (2, 1)
    assert "1 of 2 runs" in re.sub(r"\s+", " ", done.stdout)
    assert "1 of 2 runs failed" in (tmp_path / "r.html").read_text()
    # The smoke code crashes every later concurrent run, in every kind: nothing is left.
    assert module["verdict"] == "crashes"


def test_strict_isolation_gives_the_same_depth_probes(
    depth_scan: DepthScan, python: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    """--isolation strict runs each depth probe in a newly exec'd interpreter: same results."""
    if depth_scan.scan.report["targets"][0]["python"]["version"] >= "3.14":
        pytest.skip("the strict comparison of depth probes runs on 3.12 and 3.13 (CI time)")
    names = ("multiphase_own_gil", "busy_init", "leaks_per_load")
    out = tmp_path / "strict.json"
    done = run_cli(
        "scan",
        "--python",
        python,
        "--no-cache",
        "--cycles",
        str(CYCLES),
        "--isolation",
        "strict",
        "--json",
        str(out),
        *_files(fixtures_dir, names),
        depth=True,
    )
    assert done.returncode == 0, done.stderr
    for module in json.loads(out.read_text())["targets"][0]["modules"]:
        shared = depth_scan.probes(module["name"])
        depth = {n: p for n, p in module["probes"].items() if p.get("kind")}
        assert depth and set(depth) == {n for n, p in shared.items() if p.get("kind")}
        for name, result in depth.items():
            assert result["fresh_exec"] is True

            # Which of the concurrent interpreters failed first is timing: the round is not.
            def facts(probe: dict[str, Any]) -> tuple[Any, ...]:
                step = (probe["step"] or "").split(", interpreter")[0]
                return (probe["outcome"], probe["kind"], step, probe["message"])

            assert facts(result) == facts(shared[name]), (module["name"], name)
        assert module["verdict"] == depth_scan.scan.module(module["name"])["verdict"]
