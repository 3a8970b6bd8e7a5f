"""The result cache never answers for a changed environment, and never keeps the tool's faults.

Real scans through the CLI with a private cache directory, on 3.12 and 3.13.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.build import _compile, _Job, _toolchain
from tests.integration.conftest import PROBE_TIMEOUT, run_cli

TINY = """
#include "Python.h"
static int tiny_exec(PyObject *m) { return PyModule_AddIntConstant(m, "answer", 42); }
static PyModuleDef_Slot tiny_slots[] = {
    {Py_mod_exec, tiny_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL}
};
static struct PyModuleDef tiny_def = {
    PyModuleDef_HEAD_INIT, .m_name = "tinyext", .m_size = 0, .m_slots = tiny_slots,
};
PyMODINIT_FUNC PyInit_tinyext(void) { return PyModuleDef_Init(&tiny_def); }
"""


def _package(python: str, root: Path, name: str) -> Path:
    """root/name/__init__.py (empty) and root/name/tinyext<EXT_SUFFIX>, an own-GIL module."""
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    source = root / "tinyext.c"
    source.write_text(TINY)
    toolchain = _toolchain(python)
    with tempfile.TemporaryDirectory() as objdir:
        _compile(_Job(source, package / f"tinyext{toolchain.ext_suffix}"), toolchain, Path(objdir))
    return package


class Scanner:
    """Scans with one private cache, as a user's repeated runs do."""

    def __init__(self, python: str, tmp: Path) -> None:
        self.python, self.tmp, self.cache = python, tmp, tmp / "cache"

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> tuple[Any, str, int]:
        out = self.tmp / "report.json"
        done = run_cli(
            "scan",
            "--python",
            self.python,
            "--timeout",
            PROBE_TIMEOUT,
            "--jobs",
            "2",
            "--json",
            str(out),
            "--html",
            str(self.tmp / "report.html"),
            *args,
            env={"SUBINTERP_AUDIT_CACHE": str(self.cache), **(env or {})},
        )
        assert "Traceback" not in done.stderr, done.stderr
        return json.loads(out.read_text()), done.stderr, done.returncode


def _verdict(report: Any, name: str) -> str:
    (module,) = [m for m in report["targets"][0]["modules"] if m["name"] == name]
    return str(module["verdict"])


def test_edited_pure_python_package_is_probed_again(python: str, tmp_path: Path) -> None:
    site = tmp_path / "site"
    package = _package(python, site, "cachepkg")
    scan = Scanner(python, tmp_path)
    report, err, code = scan(str(site))
    assert (code, _verdict(report, "cachepkg.tinyext")) == (0, "own_gil")
    report, err, _ = scan(str(site))
    assert "1 unchanged since the last scan" in err
    # The package's pure-Python __init__ now imports a single-phase module.
    (package / "__init__.py").write_text("import readline\n")
    report, err, _ = scan(str(site))
    assert "unchanged since the last scan" not in err
    assert _verdict(report, "cachepkg.tinyext") == "legacy_only"
    (module,) = report["targets"][0]["modules"]
    assert any(
        r["code"] == "blocked_by" and r["module"] == "readline" for r in module["reasons"]
    ), module["reasons"]
    # Back as it was: probed again (the entry now holds the readline closure).
    (package / "__init__.py").write_text("")
    report, err, _ = scan(str(site))
    assert "unchanged since the last scan" not in err
    assert _verdict(report, "cachepkg.tinyext") == "own_gil"


def test_environment_is_part_of_the_key(python: str, tmp_path: Path) -> None:
    site = tmp_path / "site"
    package = _package(python, site, "warnpkg")
    (package / "__init__.py").write_text(
        "import warnings\nwarnings.warn('warnpkg is deprecated', UserWarning)\n"
    )
    scan = Scanner(python, tmp_path)
    report, _, _ = scan(str(site))
    assert _verdict(report, "warnpkg.tinyext") == "own_gil"
    before = report["targets"][0]["environment"]
    assert "PYTHONWARNINGS" not in before
    report, err, _ = scan(str(site), env={"PYTHONWARNINGS": "error::UserWarning"})
    assert "unchanged since the last scan" not in err
    assert _verdict(report, "warnpkg.tinyext") == "broken"
    assert report["targets"][0]["environment"] == {**before, "PYTHONWARNINGS": "error::UserWarning"}
    main = report["targets"][0]["modules"][0]["probes"]["main"]
    assert (main["exception"], main["message"]) == ("UserWarning", "warnpkg is deprecated")


def test_only_changed_closures_are_probed_again(python: str, tmp_path: Path) -> None:
    site = tmp_path / "site"
    _package(python, site, "pkga")
    changed = _package(python, site, "pkgb")
    scan = Scanner(python, tmp_path)
    scan(str(site))
    (changed / "__init__.py").write_text("# a new release\n")
    report, err, _ = scan(str(site))
    assert "1 unchanged since the last scan" in err  # pkga's module only
    assert {m["verdict"] for m in report["targets"][0]["modules"]} == {"own_gil"}


# Smoke code that kills the process (SIGABRT) the second time it runs in a subinterpreter
# on the process's main OS thread: the reuse probe's interpreter B, the cycles probe's second
# cycle; never an import probe's single visit, nor the concurrent probe's worker threads.
CRASH_ON_SECOND_VISIT = """
import os, sys, threading
if not hasattr(sys.modules["__main__"], "__file__") and threading.get_native_id() == os.getpid():
    path = os.path.join(%r, str(os.getpid()))
    with open(path, "a") as counter:
        counter.write("x")
    if os.path.getsize(path) == 2:
        os.abort()
"""


def test_a_crash_after_the_first_visit_is_keyed_by_its_closure(python: str, tmp_path: Path) -> None:
    """A depth probe that crashes after one whole visit of its module has said what it
    loaded: touching another package's extension (the whole environment's fingerprint
    changes) does not probe it again."""
    site = tmp_path / "site"
    _package(python, site, "crashpkg")
    other = _package(python, site, "otherpkg")
    visits = tmp_path / "visits"
    visits.mkdir()
    small = ("--cycles", "3", "--rounds", "1", "--concurrency", "2", "--repeat", "1")
    cache = {"SUBINTERP_AUDIT_CACHE": str(tmp_path / "cache")}

    def scan() -> tuple[Any, str]:
        out = tmp_path / "report.json"
        done = run_cli(
            "scan", "--python", python, "--timeout", PROBE_TIMEOUT, "--json", str(out),
            "--module", "crashpkg.tinyext", "--smoke", CRASH_ON_SECOND_VISIT % str(visits),
            *small, str(site), env=cache, depth=True,
        )  # fmt: skip
        assert "Traceback" not in done.stderr, done.stderr
        return json.loads(out.read_text()), done.stderr

    report, err = scan()
    (module,) = report["targets"][0]["modules"]
    reuse = next(p for name, p in module["probes"].items() if name.endswith("reuse"))
    assert (reuse["outcome"], reuse["signal"], reuse["stage"]) == ("crash", "SIGABRT", "B:use")
    assert "unchanged since the last scan" not in err
    extension = next(other.glob("tinyext*"))
    os.utime(extension, ns=(time.time_ns(), time.time_ns()))  # same content, new stat
    report, err = scan()
    assert "1 unchanged since the last scan" in err, err
    (again,) = report["targets"][0]["modules"]
    assert again["probes"] == module["probes"]


def test_a_quick_scan_serves_the_import_probes_of_a_full_one(python: str, tmp_path: Path) -> None:
    """--depth import, then a full scan: only the depth probes run the second time.  Counted
    by smoke code, which runs after every import of every probe (main's and each
    subinterpreter's): quick + full must equal one full scan from a cold cache."""
    site = tmp_path / "site"
    _package(python, site, "pkga")
    counter = tmp_path / "imports.txt"
    smoke = ("--smoke", f"open({str(counter)!r}, 'a').write('x')")
    small = ("--cycles", "3", "--rounds", "1", "--concurrency", "2", "--repeat", "1")

    def full(scan: Scanner) -> tuple[Any, str]:
        out = scan.tmp / "full.json"
        done = run_cli(
            "scan", "--python", python, "--timeout", PROBE_TIMEOUT, "--json", str(out),
            *smoke, *small, str(site),
            env={"SUBINTERP_AUDIT_CACHE": str(scan.cache)}, depth=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(out.read_text()), done.stderr

    warm = Scanner(python, tmp_path / "warm")
    warm.tmp.mkdir()
    warm(*smoke, *small, str(site))  # --depth import
    quick = len(counter.read_text())
    report, err = full(warm)
    assert "unchanged since the last scan" not in err  # the depth probes were not cached
    (module,) = report["targets"][0]["modules"]
    assert {"reuse", "concurrent", "cycles"} <= set(module["probes"])
    assert module["verdict"] == "own_gil"
    second = len(counter.read_text()) - quick

    counter.unlink()
    cold = Scanner(python, tmp_path / "cold")
    cold.tmp.mkdir()
    full(cold)
    assert quick > 0 and second > 0
    assert quick + second == len(counter.read_text())


def test_a_deadlock_is_a_result_and_cached(python: str, fixtures_dir: Path, tmp_path: Path) -> None:
    """A deadlock found with its stacks is deterministic evidence: the next scan of the
    unchanged environment reuses it instead of hanging again."""
    scan = Scanner(python, tmp_path)
    args = ("--module", "hangs_in_subinterp", str(fixtures_dir))
    report, _, _ = scan(*args)
    assert _verdict(report, "hangs_in_subinterp") == "hangs"
    (module,) = report["targets"][0]["modules"]
    assert module["probes"]["own_gil"]["deadlock"] is not None
    report, err, _ = scan(*args)
    assert "1 unchanged since the last scan" in err
    assert _verdict(report, "hangs_in_subinterp") == "hangs"


def test_busy_timeouts_are_never_cached(python: str, fixtures_dir: Path, tmp_path: Path) -> None:
    """A probe still busy at its deadline says more about this run than about the module."""
    scan = Scanner(python, tmp_path)
    args = ("--module", "multiphase_own_gil", "--timeout", "2", "--smoke", SPIN)
    report, _, _ = scan(*args, "--depth", "import", str(fixtures_dir))
    (module,) = report["targets"][0]["modules"]
    assert module["verdict"] == "hangs"
    assert module["probes"]["main"]["outcome"] == "timeout"
    assert module["probes"]["main"]["deadlock"] is None  # on the CPU: not stuck
    report, err, _ = scan(*args, "--depth", "import", str(fixtures_dir))
    assert "unchanged since the last scan" not in err
    assert _verdict(report, "multiphase_own_gil") == "hangs"


# A zygote that cannot fork, as under a pids limit (EAGAIN): what the real one says then.
BROKEN_ZYGOTE = """
import os, sys
while True:
    data = os.read(0, 1 << 20)
    if not data:
        break
    os.write(1, b"error fork: [Errno 11] Resource temporarily unavailable\\n")
"""


def test_tool_failures_are_the_tools_and_never_cached(
    python: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    scan = Scanner(python, tmp_path)
    args = ("--module", "multiphase_own_gil", "--module", "singlephase_basic", str(fixtures_dir))
    scan("--module", "exec_raises", str(fixtures_dir))  # builds the helper into the cache
    (helper_dir,) = (scan.cache / "helpers").iterdir()
    worker = helper_dir / "worker.py"
    real = worker.read_text()
    worker.write_text(BROKEN_ZYGOTE)
    try:
        report, err, code = scan(*args)
    finally:
        worker.write_text(real)
    assert code == 3
    target = report["targets"][0]
    assert sorted(target["incomplete"]) == ["multiphase_own_gil", "singlephase_basic"]
    for module in target["modules"]:
        assert any(r["code"] == "tool_failure" for r in module["reasons"])
        for probe in ("init", "main"):
            result = module["probes"][probe]
            assert result["outcome"] == "tool_failure", result
            assert "Resource temporarily unavailable" in result["message"]
        assert module["verdict"] != "crashes"
    # Nothing of that run was kept: the next scan probes for real.
    report, err, code = scan(*args)
    assert code == 0
    assert "unchanged since the last scan" not in err
    assert _verdict(report, "multiphase_own_gil") == "own_gil"
    assert _verdict(report, "singlephase_basic") == "legacy_only"


# Busy for two minutes, on the CPU (a sleep would be reported as a deadlock in seconds).
SPIN = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end:\n    pass\n"


def test_interrupted_scan_keeps_what_finished(python: str, tmp_path: Path) -> None:
    """Ctrl-C in the middle of a scan: the modules whose probes ended are not probed again."""
    root = tmp_path / "tree"
    _package(python, root, "fastpkg")
    _package(python, root, "slowpkg")
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.subinterp-audit]\nsmoke = {{"slowpkg.tinyext" = {json.dumps(SPIN)}}}\n'
    )
    cache = tmp_path / "cache"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    command = [sys.executable, "-m", "auditor", "scan", "--python", python, "--jobs", "2"]
    command += ["--timeout", "200", "--depth", "import", "--json", str(tmp_path / "r.json")]
    scan = subprocess.Popen(
        [*command, str(root)],
        cwd=tmp_path,
        env={**environ, "SUBINTERP_AUDIT_CACHE": str(cache)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list((cache / "results").rglob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list((cache / "results").rglob("*.json")), "fastpkg's entry was never stored"
        assert scan.poll() is None, "the scan ended before it was interrupted"
        scan.send_signal(signal.SIGINT)
        _, err = scan.communicate(timeout=60)
    finally:
        scan.kill()
    assert scan.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert not (tmp_path / "r.json").exists()  # no report of a scan that did not end

    again = run_cli(
        "scan", "--python", python, "--module", "fastpkg", "--timeout", "200",
        "--json", str(tmp_path / "r.json"), str(root),
        cwd=tmp_path, env={"SUBINTERP_AUDIT_CACHE": str(cache)},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "1 unchanged since the last scan" in again.stderr, again.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert _verdict(report, "fastpkg.tinyext") == "own_gil"


def test_a_known_bugs_stdlib_control_is_cached(python: str, tmp_path: Path) -> None:
    """CPython 3.13's gh-136423 (`_datetime` freed twice when interpreters end): a package
    that imports datetime is judged against the stdlib control `_datetime`, probed on demand
    in the same kind; the next scan of the unchanged environment reuses the module and the
    control alike."""
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if version != "3.13":
        pytest.skip(f"gh-136423 is a bug of CPython 3.13 only (this is {version})")
    site = tmp_path / "site"
    (site / "dtpkg").mkdir(parents=True)
    (site / "dtpkg" / "__init__.py").write_text("import datetime\n")
    cache = tmp_path / "cache"

    def scan() -> tuple[Any, str]:
        out = tmp_path / "report.json"
        done = run_cli(
            "scan", "--python", python, "--timeout", PROBE_TIMEOUT, "--json", str(out),
            "--import", "dtpkg", "--cycles", "3",
            cwd=site, env={"SUBINTERP_AUDIT_CACHE": str(cache)}, depth=True,
        )  # fmt: skip
        assert "Traceback" not in done.stderr, done.stderr
        (module,) = json.loads(out.read_text())["targets"][0]["modules"]
        return module, done.stderr

    first, _ = scan()
    bug = next(r for r in first["reasons"] if r["code"] == "interpreter_bug")
    assert bug["details"]["cpython_issue"] == "gh-136423"
    assert (first["verdict"], first["verdict_on_fixed_interpreter"]) == ("legacy_only", "own_gil")
    again, err = scan()
    assert "1 unchanged since the last scan" in err
    assert (again["verdict"], again["reasons"]) == (first["verdict"], first["reasons"])
    # The control's cached runs are what the next scan judges by: edited to a pass, the
    # bug is no longer recognised (probing the control again would find it again).
    controls = 0
    for path in (cache / "results").rglob("*.json"):
        entry = json.loads(path.read_text())
        if set(entry["replies"]) == {"concurrent"}:  # a control's entry, not the module's
            entry["replies"]["concurrent"].update(outcome="ok", signal=None, stage="process_exit")
            path.write_text(json.dumps(entry))
            controls += 1
    assert controls == 2  # own_gil and isolated, the kinds the module crashed in
    edited, err = scan()
    assert "1 unchanged since the last scan" in err
    assert not any(r["code"] == "interpreter_bug" for r in edited["reasons"])
    assert edited["verdict_on_fixed_interpreter"] is None
