"""`subinterp-audit test` for real: tiny projects whose tests import fixture extensions of the
zoo, run with pytest in a venv of each target, in the main interpreter and in subinterpreters
at once, by the real command in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import find_target
from tests.fixtures.build import build_fixtures

# Each target's venv (pytest installed from the index) and zoo are made once: one worker.
pytestmark = pytest.mark.xdist_group("suites")

PASSES = """\
import json
import multiphase_own_gil

def test_uses_an_isolated_module():
    assert json.loads("[1]") == [1]
    assert multiphase_own_gil.__name__ == "multiphase_own_gil"

def test_fails_in_main_too():
    assert 1 == 2, "broken everywhere"
"""
# busy_init's exec keeps a C static "busy" flag for 100 ms: a second interpreter importing it
# meanwhile gets RuntimeError("busy_init: library init is not reentrant").
# Both interpreters of a test file meet before they import, however long each pytest took to
# start (a file per interpreter; a K=1 run waits the 3 s out alone).
MEET = """\
import glob, os, threading, time

def _meet(count=2, wait=3.0):
    open(f".meet-{os.getpid()}-{threading.get_ident()}", "w").close()
    end = time.monotonic() + wait
    while len(glob.glob(f".meet-{os.getpid()}-*")) < count and time.monotonic() < end:
        time.sleep(0.005)
"""
STATIC_RACE = (
    MEET
    + """\

def test_imports_busy_init():
    _meet()
    import busy_init
    assert busy_init.__name__ == "busy_init"

def test_plain():
    assert sum([1, 2]) == 3
"""
)
# single_instance aborts when a second interpreter loads it while the first holds it.
SECOND_CRASHES = (
    MEET
    + """\

def test_imports_single_instance():
    _meet()  # both interpreters import it at once
    import single_instance
    time.sleep(1)  # and hold it
    assert single_instance.answer == 42
"""
)


@pytest.fixture(scope="module", params=["3.12", "3.13"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv of the target with pytest, and the zoo built for it."""
    python = find_target(request.param)
    venv = tmp_path_factory.mktemp(f"venv{request.param}")
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        # rich and packaging: what the pytest plugin needs of subinterp-audit beside it.
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "pytest", "rich", "packaging"],
        check=True,
        capture_output=True,
    )
    build_fixtures(python, venv / "zoo")
    return venv


def _two_at_once(target: Path) -> None:
    version = subprocess.run(
        [str(target / "bin" / "python"), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if version == "(3, 12)":
        pytest.skip(
            "CPython 3.12 crashes running pytest in two own-GIL interpreters at once, whatever "
            "the suite (3.12.1 here: munmap_chunk(): invalid pointer, both inside pytest, every "
            "run); two at once are tested on 3.13 and newer"
        )


def _project(target: Path, tmp_path: Path, source: str, modules: tuple[str, ...]) -> Path:
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_it.py").write_text(source)
    for name in modules:
        shutil.copy(next((target / "zoo").glob(f"{name}.*.so")), project)
    return project


def _run(target: Path, project: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "test", "--python", str(target), "--json", "r.json",
         "--junit", "j.xml", *args, "--", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads((project / "r.json").read_text()) if done.returncode in (0, 1) else {}
    return done.returncode, done.stdout, report


def _outcomes(report: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    found = {}
    for test in report["tests"]:
        subs = [s["outcome"] for s in test["subinterpreters"]]
        found[test["nodeid"].split("::")[-1]] = (test["main"]["outcome"], subs)
    return found


@pytest.mark.parametrize("interpreters", [1, 2])
def test_a_suite_that_passes_everywhere(target: Path, tmp_path: Path, interpreters: int) -> None:
    if interpreters > 1:
        _two_at_once(target)
    project = _project(target, tmp_path, PASSES, ("multiphase_own_gil",))
    code, out, report = _run(target, project, "--interpreters", str(interpreters))
    assert code == 0, out
    assert _outcomes(report) == {
        "test_uses_an_isolated_module": ("passed", ["passed"] * interpreters),
        "test_fails_in_main_too": ("failed", ["failed"] * interpreters),
    }
    assert report["summary"] == {"tests": 2, "differ": 0, "fail_in_main": 1, "run_failed": False}
    assert "1 fail in the main interpreter too (not the subinterpreters'): " in out
    assert "No test differs between main and own_gil." in out
    # After the tests, CPython's own bugs may kill the run: named, and not the suite's.
    run = report["run"]
    if run["end"] == "crash_at_exit":  # 3.12.1: pytest imported ssl in an isolated interpreter
        assert run["cpython_bug"]["cpython_issue"] == "gh-116510", run
        assert "That is CPython's bug gh-116510 (fixed in 3.12.14)" in out
    elif run["end"] == "crash_at_end":  # 3.13.0: interpreters that imported _datetime end
        assert (interpreters, run["cpython_bug"]["cpython_issue"]) == (2, "gh-136423"), run
        assert "That is CPython's bug gh-136423 (fixed in 3.14.0)" in out
    else:
        assert run["end"] == "ok", run
    junit = (project / "j.xml").read_text()
    assert '<skipped message="failed in the main interpreter too"' in junit


def test_a_static_breaks_only_two_interpreters_at_once(target: Path, tmp_path: Path) -> None:
    project = _project(target, tmp_path, STATIC_RACE, ("busy_init",))
    code, _, report = _run(target, project, "--interpreters", "1")
    assert code == 0 and report["summary"]["differ"] == 0
    _two_at_once(target)
    code, out, report = _run(target, project, "--interpreters", "2")
    assert code == 1, out
    main, subs = _outcomes(report)["test_imports_busy_init"]
    assert main == "passed" and sorted(subs) == ["failed", "passed"]
    assert _outcomes(report)["test_plain"] == ("passed", ["passed", "passed"])
    assert "1 pass in main but not in own_gil:" in out
    assert "busy_init: library init is not reentrant" in out
    junit = (project / "j.xml").read_text()
    assert 'name="test_imports_busy_init[own_gil]"><failure message="interpreter ' in junit


def test_a_second_interpreter_crashes(target: Path, tmp_path: Path) -> None:
    project = _project(target, tmp_path, SECOND_CRASHES, ("single_instance",))
    code, _, report = _run(target, project, "--interpreters", "1")
    assert code == 0 and report["run"]["end"] in ("ok", "crash_at_exit")
    _two_at_once(target)
    code, out, report = _run(target, project, "--interpreters", "2")
    assert code == 1, out
    assert (report["run"]["end"], report["run"]["signal"]) == ("crash", "SIGABRT")
    main, subs = _outcomes(report)["test_imports_single_instance"]
    assert main == "passed" and "crash" in subs
    assert "The own_gil run itself killed by SIGABRT" in out
    assert "single_instance: a second live instance; the library supports one" in out


def test_a_kind_the_target_cannot_make_is_a_usage_error(target: Path, tmp_path: Path) -> None:
    project = _project(target, tmp_path, PASSES, ("multiphase_own_gil",))
    code, _, _ = _run(target, project, "--kind", "isolated")
    version = subprocess.run(
        [str(target / "bin" / "python"), "-c", "import sys; print(sys.version_info[1])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert code == (2 if version == "12" else 0)


def test_the_pytest_plugin_runs_the_same_engine(target: Path, tmp_path: Path) -> None:
    """pytest -p subinterp_audit --subinterpreters=own_gil: the same runs and the same words,
    as pytest's exit code."""
    project = _project(target, tmp_path, STATIC_RACE, ("busy_init",))
    root = Path(__file__).resolve().parents[2]  # subinterp_audit and auditor, as installed

    def plugin(*more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(target / "bin" / "python"), "-m", "pytest", "-p", "subinterp_audit",
             "--subinterpreters=own_gil", *more, "tests"],
            cwd=project, capture_output=True, text=True, timeout=600,
            env={"PYTHONPATH": str(root), "COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip

    done = plugin()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 tests in the main interpreter and in 1 own_gil interpreter at once" in done.stdout
    assert "No test differs between main and own_gil." in done.stdout
    _two_at_once(target)
    done = plugin("--subinterpreters-count=2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 pass in main but not in own_gil:" in done.stdout
    assert "busy_init: library init is not reentrant" in done.stdout


PLAIN = """\
def test_plain():
    assert sum([1, 2]) == 3

def test_fails_in_main_too():
    assert 1 == 2, "broken everywhere"

class TestPlain:
    def test_method(self):
        assert "a".upper() == "A"

def test_needs_a_fixture(tmp_path):
    assert tmp_path.exists()
"""
USES_PYTEST = """\
import pytest

def test_raises():
    with pytest.raises(ZeroDivisionError):
        1 / 0
"""


def test_pytest_blocked_in_the_kind_falls_back_to_plain_functions(
    target: Path, tmp_path: Path
) -> None:
    """pytest itself cannot be imported in isolated interpreters when one of its imports is
    refused there (here the project shadows pytest's `iniconfig` with a copy that first
    imports a single-phase module): the report names the chain, and the plain test
    functions still run, without pytest."""
    project = _project(target, tmp_path, PLAIN, ("singlephase_basic",))
    (project / "tests" / "test_pytest.py").write_text(USES_PYTEST)
    real = subprocess.run(
        [str(target / "bin" / "python"), "-c", "import iniconfig; print(iniconfig.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    shutil.copytree(Path(real).parent, project / "iniconfig")
    init = project / "iniconfig" / "__init__.py"
    init.write_text(
        "import singlephase_basic  # refused in isolated interpreters\n" + init.read_text()
    )
    code, out, report = _run(target, project, "--interpreters", "1")
    assert code == 1, out
    assert _outcomes(report) == {
        "test_plain": ("passed", ["passed"]),
        "test_fails_in_main_too": ("failed", ["failed"]),
        "test_method": ("passed", ["passed"]),
        "test_needs_a_fixture": ("passed", ["skipped"]),
        "test_raises": ("passed", ["error"]),
    }
    (blocked,) = report["run"]["pytest_blocked"]
    assert blocked["chain"][0] == "pytest" and blocked["chain"][-2:] == [
        "iniconfig",
        "singlephase_basic",
    ], blocked
    assert "does not support loading in subinterpreters" in blocked["error"]
    assert report["run"]["minimal_collector"] == [4]
    assert "pytest cannot be imported in own_gil interpreters (interpreter 1): pytest -> " in out
    assert "-> iniconfig -> singlephase_basic: ImportError: " in out
    assert "minimal collector: 4 tests; no fixtures, parameters or plugins" in out


HANGS = """\
def test_imports_a_module_that_hangs_in_subinterpreters():
    import hangs_in_subinterp
    assert hangs_in_subinterp.answer == 42
"""


def test_a_deadlocked_run_is_stopped_with_its_evidence(target: Path, tmp_path: Path) -> None:
    """hangs_in_subinterp sleeps forever in a subinterpreter's exec, holding its GIL: the run
    writes nothing and uses no CPU, and is stopped as deadlocked long before --timeout."""
    project = _project(target, tmp_path, HANGS, ("hangs_in_subinterp",))
    code, out, report = _run(
        target, project, "--interpreters", "1", "--deadlock-after", "3", "--timeout", "300"
    )
    assert code == 1, out
    run = report["run"]
    assert run["end"] == "hang" and run["stages"] == ["run"], run
    assert run["deadlock"]["idle_seconds"] >= 3, run["deadlock"]
    assert run["deadlock"]["native_stacks"] or run["deadlock"]["native_stacks_from"]
    assert _outcomes(report) == {
        "test_imports_a_module_that_hangs_in_subinterpreters": ("passed", ["hang"])
    }
    assert "The own_gil run itself deadlocked (no progress and no CPU time for " in out


SCAN_SUITE = """\
def test_isolated_module():
    import multiphase_own_gil
    assert multiphase_own_gil.__name__ == "multiphase_own_gil"

def test_single_phase_module():
    import singlephase_basic
    assert singlephase_basic.__name__ == "singlephase_basic"
"""


def test_a_scan_reports_the_suite_of_the_same_run(target: Path, tmp_path: Path) -> None:
    """scan --suite: the project's suite runs in main and in an own-GIL interpreter of the
    target after the scan; its difference is in the terminal, the JSON and the HTML, and it
    fails the gate."""
    project = _project(target, tmp_path, SCAN_SUITE, ("multiphase_own_gil", "singlephase_basic"))
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", "--python", str(target), "--depth", "import",
         "--module", "multiphase_own_gil", "--module", "singlephase_basic", str(target / "zoo"),
         "--suite", "tests -q", "--json", "r.json", "--html", "r.html"],
        cwd=project, capture_output=True, text=True, timeout=600,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin",
             "SUBINTERP_AUDIT_CACHE": str(tmp_path / "c")},
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    suite = json.loads((project / "r.json").read_text())["targets"][0]["suite"]
    assert _outcomes(suite) == {
        "test_isolated_module": ("passed", ["passed"]),
        "test_single_phase_module": ("passed", ["failed"]),
    }
    assert "Your test suite in own-GIL interpreters" in done.stdout
    assert "1 pass in main but not in own_gil:" in done.stdout
    html = (project / "r.html").read_text()
    assert "Your test suite in own-GIL interpreters" in html
    assert "tests.test_it::test_single_phase_module" in html
    assert "does not support loading in subinterpreters" in html
