"""The scan command's selection, targets and outputs, through the real CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from tests.conftest import find_target
from tests.fixtures.build import build_fixtures
from tests.integration.conftest import run_cli


def _names(report: dict) -> list[str]:
    return [m["name"] for t in report["targets"] for m in t["modules"]]


def test_module_filter_and_default_report_location(
    python: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    done = run_cli(
        "scan",
        "--python",
        python,
        "--module",
        "multiphase_own_gil",
        "--module",
        "blockpkg",
        str(fixtures_dir),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "reports" / "subinterp-audit.json").read_text())
    assert sorted(_names(report)) == ["blockpkg._accel", "blockpkg._core", "multiphase_own_gil"]
    assert (tmp_path / "reports" / ".gitignore").read_text() == "*\n"
    assert "report written to reports/subinterp-audit.json" in done.stdout


def test_single_file_path(python: str, fixtures_dir: Path, tmp_path: Path) -> None:
    (so,) = fixtures_dir.glob("multiphase_no_slot.*so")
    out = tmp_path / "one.json"
    done = run_cli("scan", "--python", python, "--json", str(out), str(so))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert _names(report) == ["multiphase_no_slot"]
    assert report["targets"][0]["modules"][0]["verdict"] == "shared_gil"


def test_unknown_module_is_a_clear_error(python: str, fixtures_dir: Path, tmp_path: Path) -> None:
    done = run_cli("scan", "--python", python, "--module", "nope", str(fixtures_dir), cwd=tmp_path)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("subinterp-audit: error: no extension modules found for --module nope")
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("content", ["empty", "python_only", "not_an_extension"])
def test_nothing_to_scan_is_one_error(
    python: str, fixtures_dir: Path, tmp_path: Path, content: str
) -> None:
    """An empty directory, one with only Python, one with only a non-extension .so: exit 2."""
    tree = tmp_path / "tree"
    tree.mkdir()
    if content == "python_only":
        (tree / "plain.py").write_text("x = 1\n")
    if content == "not_an_extension":
        (so,) = fixtures_dir.glob("not_an_extension.*so")
        shutil.copy(so, tree)
    done = run_cli("scan", "--python", python, str(tree), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"subinterp-audit: error: no extension modules found for {tree}"), last
    if content == "not_an_extension":
        assert last.endswith("not a Python extension module"), last
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "reports").exists()


def test_import_names_the_blocking_extension_and_the_chain(
    python: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    """--import pa: a pure-Python package whose __init__ imports the single-phase pb._speedups,
    found in the current directory as `python -c "import pa"` would find it."""
    out = tmp_path / "imports.json"
    done = run_cli("scan", "--python", python, "--import", "pa", "--json", str(out),
                   cwd=fixtures_dir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "found 0 extension modules and 1 --import name" in done.stderr
    (module,) = json.loads(out.read_text())["targets"][0]["modules"]
    assert (module["name"], module["origin"], module["verdict"]) == ("pa", "import", "legacy_only")
    assert "init" not in module["probes"]  # a pure-Python package has no init function
    assert module["probes"]["legacy"]["outcome"] == "ok"
    assert module["probes"]["own_gil"]["outcome"] == "import_error"
    (reason,) = module["reasons"]
    assert reason["code"] == "blocked_by" and reason["module"] == "pb._speedups"
    assert reason["details"]["chain"] == ["pa", "pb._speedups"]
    assert "WSGIApplicationGroup %{GLOBAL}" in reason["advice"]["fix"]
    assert "imports (--import)" in done.stdout
    assert "pa (legacy_only): refused because it imports pb._speedups" in done.stdout

    missing = run_cli("scan", "--python", python, "--import", "no_such_app", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == (
        f"subinterp-audit: error: --import no_such_app: no module named 'no_such_app' in {python}"
    )


def test_two_targets_in_one_run(tmp_path: Path) -> None:
    pythons = [find_target("3.12"), find_target("3.13")]
    out = tmp_path / "two.json"
    done = run_cli(
        "scan",
        "--python",
        pythons[0],
        "--python",
        pythons[1],
        "--module",
        "xxlimited_35",
        "--json",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert [t["python"]["version"][:4] for t in report["targets"]] == ["3.12", "3.13"]
    for target in report["targets"]:
        (module,) = target["modules"]
        # xxlimited_35 has only an exec slot: CPython reads that as "shared GIL only".
        assert (module["verdict"], module["init"]["multiple_interpreters"]) == ("shared_gil", None)
        assert module["distribution"] is None and module["origin"] == "stdlib"


def test_stock_313_stdlib_classification(tmp_path: Path) -> None:
    """Stock 3.13's stdlib: readline and _curses are single-phase, _curses_panel declares
    not-supported, xxlimited_35 has no slot (shared GIL), _json is fully isolated."""
    out = tmp_path / "stdlib.json"
    done = run_cli(
        "scan",
        "--python",
        find_target("3.13"),
        "--json",
        str(out),
        *[
            arg
            for name in ("readline", "_curses", "_curses_panel", "xxlimited_35", "_json")
            for arg in ("--module", name)
        ],
    )
    assert done.returncode == 0, done.stderr
    modules = {m["name"]: m for m in json.loads(out.read_text())["targets"][0]["modules"]}
    assert {
        n: (m["init"]["style"], m["init"]["multiple_interpreters"], m["verdict"])
        for n, m in modules.items()
    } == {
        "readline": ("single_phase", None, "legacy_only"),
        "_curses": ("single_phase", None, "legacy_only"),
        "_curses_panel": ("multi_phase", "not_supported", "legacy_only"),
        "xxlimited_35": ("multi_phase", None, "shared_gil"),
        "_json": ("multi_phase", "per_interpreter_gil", "own_gil"),
    }
    # The zygote imports built-in modules only: even _json is probed in a fork of it.
    assert modules["_json"]["probes"]["own_gil"]["fresh_exec"] is False
    assert modules["readline"]["probes"]["own_gil"]["message"] == (
        "module readline does not support loading in subinterpreters"
    )


def test_pre_312_target_is_degraded_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "311.json"
    done = run_cli("scan", "--python", find_target("3.11"), "--module", "_json", "--json", str(out))
    assert done.returncode == 0, done.stderr
    (target,) = json.loads(out.read_text())["targets"]
    assert target["notes"] and "predates PEP 684" in target["notes"][0]
    (module,) = target["modules"]
    assert sorted(module["probes"]) == ["init", "legacy", "legacy_after_main", "main"]
    assert module["verdict"] == "legacy_only"
    assert done.stdout.count("predates PEP 684") == 1


@pytest.fixture()
def venv_with_distribution(tmp_path: Path) -> Path:
    """A real venv of the 3.13 target holding one installed distribution (RECORD and all)."""
    python = find_target("3.13")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python3.*/site-packages")
    build_fixtures(python, tmp_path / "zoo")
    (so,) = (tmp_path / "zoo").glob("multiphase_shared_gil.*so")
    shutil.copy2(so, site / so.name)
    info = site / "demo_dist-2.5.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-dist\nVersion: 2.5\n")
    (info / "RECORD").write_text(
        f"{so.name},,\ndemo_dist-2.5.dist-info/METADATA,,\ndemo_dist-2.5.dist-info/RECORD,,\n"
    )
    return venv


def test_package_filter_in_a_venv(venv_with_distribution: Path, tmp_path: Path) -> None:
    out = tmp_path / "pkg.json"
    # --python takes the venv directory; --package matches the normalized distribution name.
    done = run_cli(
        "scan",
        "--python",
        str(venv_with_distribution),
        "--package",
        "Demo_Dist",
        "--json",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    (target,) = json.loads(out.read_text())["targets"]
    (module,) = target["modules"]
    assert module["name"] == "multiphase_shared_gil"
    assert module["distribution"] == {"name": "demo-dist", "version": "2.5"}
    assert "demo-dist 2.5" in done.stdout


def test_default_outputs_are_json_and_html(python: str, fixtures_dir: Path, tmp_path: Path) -> None:
    done = run_cli(
        "scan", "--python", python, "--module", "singlephase_basic", str(fixtures_dir), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "reports" / "subinterp-audit.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "singlephase_basic" in html
    assert "report written to reports/subinterp-audit.html" in done.stdout


def test_reports_keep_links_and_devices(python: str, fixtures_dir: Path, tmp_path: Path) -> None:
    (so,) = fixtures_dir.glob("multiphase_no_slot.*so")
    real = tmp_path / "real.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    null_before = os.stat("/dev/null")
    done = run_cli(
        "scan",
        "--python",
        python,
        "--json",
        str(link),
        "--html",
        "/dev/null",
        "--junit",
        "/dev/stdout",  # a pipe here: written through, before the table
        str(so),
    )
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert _names(json.loads(real.read_text())) == ["multiphase_no_slot"]
    assert real.stat().st_mode & 0o777 == 0o640
    null_after = os.stat("/dev/null")
    assert stat.S_ISCHR(null_after.st_mode) and null_after.st_ino == null_before.st_ino
    assert done.stdout.startswith('<?xml version="1.0" encoding="utf-8"?>')
    assert "multiphase_no_slot" in done.stdout.split("</testsuites>")[1]  # then the table


def test_unwritable_output_fails_before_probing(
    python: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    # The whole zoo, hang fixture included, would take at least --timeout seconds.
    (tmp_path / "somefile").write_text("x")
    done = run_cli(
        "scan",
        "--python",
        python,
        "--timeout",
        "30",
        "--no-cache",
        "--json",
        "somefile/report.json",
        str(fixtures_dir),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "subinterp-audit: error: cannot write the JSON report to somefile/report.json: "
        "somefile is not a directory\n"
    )
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somefile"]


def test_explain_probes_and_prints_fixes(python: str, fixtures_dir: Path) -> None:
    done = run_cli(
        "explain", "blockpkg._accel", str(fixtures_dir), "--python", python, "--timeout", "10"
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "blockpkg._accel" in out
    version = re.search(r"^Python (\S+) ", out, re.MULTILINE)
    assert version is not None, out
    if Version(version[1]) < Version("3.12.7") and "verdict: crashes" in out:
        # CPython gh-116510 (fixed in 3.12.7): in about half the runs on 3.12.1, the legacy
        # interpreters of the `concurrent` depth probe crash as they end, in
        # PyObject_GC_UnTrack, on the functions of the single-phase blockpkg._core made by an
        # interpreter that has already ended (CPython's own _xxsubinterpreters alike).  That
        # crash must be the only one, and explain must name the bug.
        crashes = re.findall(r"^ (\w+) +\S+ crash +(.*)$", out, re.MULTILINE)
        assert len(crashes) == 1, out
        ((probe, evidence),) = crashes
        assert probe == "concurrent"
        assert re.match(r"SIG(SEGV|ABRT) at stage round \d+:interpreter_end \[legacy;", evidence)
        words = " ".join(out.split())  # the reason's line is wrapped
        assert "(CPython gh-116510, fixed in 3.12.7): not a defect of this module" in words
    else:
        assert "verdict: legacy_only" in out
    for probe in ("init", "main", "own_gil_after_main"):
        assert probe in out
    assert "module _core does not support loading in subinterpreters" in out
    assert "Blocked by another module" in out and "Fix:" in out
    assert "refused because it imports blockpkg._core" in out


def test_explain_from_a_report_as_json(zoo_scan: object, tmp_path: Path) -> None:
    from tests.integration.conftest import Scan

    assert isinstance(zoo_scan, Scan)
    report = tmp_path / "zoo.json"
    report.write_text(json.dumps(zoo_scan.report))
    done = run_cli("explain", "segv_in_subinterp", "--report", str(report), "--json")
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)
    assert entry["verdict"] == "crashes"
    assert entry["reasons"][0]["advice"]["topic"] == "crash.import"
    text = run_cli("explain", "segv_in_subinterp", "--report", str(report)).stdout
    assert "Crash while importing in a subinterpreter" in text
    assert "Fatal Python error: Segmentation fault" in text


def test_explain_a_wrapped_refusal_at_80_columns(zoo_scan: object, tmp_path: Path) -> None:
    """guard_wrapped re-raises interp_guard's refusal under its own words: explain says each
    message once, in lines of 80 columns that keep their indent, URLs whole."""
    from tests.integration.conftest import Scan

    assert isinstance(zoo_scan, Scan)
    report = tmp_path / "zoo.json"
    report.write_text(json.dumps(zoo_scan.report))
    done = run_cli("explain", "guard_wrapped", "--report", str(report), env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    why = lines[lines.index("Why, and what to do") :]
    why = why[: next((i for i, line in enumerate(why) if line.startswith("Static")), None)]
    # The path line is one line whatever its length (a path is never split); the rest fits.
    assert all(len(line.rstrip()) <= 80 for line in why), max(why, key=len)
    numbered = [line for line in why if line[:1].isdigit()]
    assert numbered and all(
        line.startswith("   ") for line in why[1:] if line and line not in numbered
    ), why
    text = done.stdout
    # Each distinct message of the probes once; the others refer to it.
    assert text.count("interp_guard failed to import") == len(
        {line for line in lines if "interp_guard failed to import" in line}
    )
    for url in re.findall(r"https://\S+", json.dumps(zoo_scan.module("guard_wrapped"))):
        url = url.rstrip('",')
        if url in text:
            assert any(url in line for line in lines)  # never split across two lines
    codes = [line.split("[")[-1].rstrip("]") for line in numbered]
    assert len(codes) == len(set(codes)) and "refused_by_cpython" not in codes


def test_explain_errors(zoo_scan: object, tmp_path: Path) -> None:
    from tests.integration.conftest import Scan

    assert isinstance(zoo_scan, Scan)
    report = tmp_path / "zoo.json"
    report.write_text(json.dumps(zoo_scan.report))
    done = run_cli("explain", "blockpkg", "--report", str(report))
    assert done.returncode == 2
    assert (
        "blockpkg is a package; explain one of its extension modules: blockpkg._accel, "
        "blockpkg._core" in done.stderr
    )
    done = run_cli("explain", "nope", "--report", str(report))
    assert done.returncode == 2 and "no extension module named nope" in done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    done = run_cli("explain", "x", "--report", str(bad))
    assert done.returncode == 2 and "is not a JSON report" in done.stderr
    assert "Traceback" not in done.stderr


def test_rescan_reuses_the_cache_until_something_changes(
    python: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    env = {"SUBINTERP_AUDIT_CACHE": str(tmp_path / "cache")}
    scope = (
        "--module",
        "interp_guard",
        "--module",
        "singlephase_basic",
        "--module",
        "multiphase_no_slot",
    )

    def scan(name: str) -> tuple[dict, str]:
        out = tmp_path / f"{name}.json"
        done = run_cli(
            "scan", "--python", python, *scope, "--json", str(out), str(fixtures_dir), env=env
        )
        assert done.returncode == 0, done.stderr
        return json.loads(out.read_text()), done.stderr

    def outcomes(report: dict) -> dict:
        return {
            (m["name"], p): (r["outcome"], r["message"], r["main_after"])
            for m in report["targets"][0]["modules"]
            for p, r in m["probes"].items()
        }

    cold, err = scan("cold")
    assert "unchanged since the last scan" not in err
    warm, err = scan("warm")
    assert "3 unchanged since the last scan" in err
    assert outcomes(warm) == outcomes(cold)
    assert [m["verdict"] for m in warm["targets"][0]["modules"]] == [
        m["verdict"] for m in cold["targets"][0]["modules"]
    ]
    # A new time stamp is not new content: entries are keyed by the content of what the
    # probes loaded (test_cache_soundness.py changes content, environment and closures).
    touched = next(fixtures_dir.glob("singlephase_basic.*so"))
    touched.touch()
    _, err = scan("after-touch")
    assert "3 unchanged since the last scan" in err


def test_ctrl_c_ends_the_scan_and_every_probe(
    python: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    """SIGINT: one line, exit 130, no report, and no probe left running (a hanging one here)."""
    import signal
    import time

    cache = tmp_path / "cache"  # its path is in every worker's and probe's command line
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "auditor",
            "scan",
            "--python",
            python,
            "--timeout",
            "120",
            "--module",
            "hangs_in_subinterp",
            "--json",
            str(tmp_path / "r.json"),
            str(fixtures_dir),
        ],
        env={**env, "SUBINTERP_AUDIT_CACHE": str(cache)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _processes_with(str(cache)):
        time.sleep(0.2)
    time.sleep(2)  # let the probes start (main, then the hanging subinterpreter ones)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("subinterp-audit: interrupted (no report")
    assert "Traceback" not in err
    assert not (tmp_path / "r.json").exists()
    time.sleep(1)
    assert _processes_with(str(cache)) == []


def _processes_with(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as stream:
                    if text.encode() in stream.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _pyenv(*args: str) -> str | None:
    if shutil.which("pyenv") is None:
        return None
    done = subprocess.run(["pyenv", *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def test_a_bad_python_is_named_for_what_it_is(tmp_path: Path) -> None:
    done = run_cli("scan", "--python", "/bin/ls")
    assert done.returncode == 2
    assert done.stderr.strip() == "subinterp-audit: error: /bin/ls is not a Python interpreter"
    script = tmp_path / "python3"
    script.write_text("#!/bin/sh\necho 'Python 2.7.18' >&2\necho 'CPython 2.7'\n")
    script.chmod(0o755)
    done = run_cli("scan", "--python", str(script))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"subinterp-audit: error: {script} is CPython 2.7, which is not supported: "
        "3.8+ needed (3.12+ for isolated interpreters)"
    )


def test_a_real_python_2_and_a_pyenv_shim(tmp_path: Path) -> None:
    """With pyenv's own files where this machine has them."""
    root = _pyenv("root")
    if root is None:
        pytest.skip("pyenv is not installed")
    old = sorted(Path(root, "versions").glob("2.7*/bin/python2.7"))
    if old:
        done = run_cli("scan", "--python", str(old[0]))
        assert "is CPython 2.7, which is not supported: 3.8+ needed" in done.stderr
    shim = tmp_path / "python3.99"
    shutil.copy(Path(root, "shims", "python3"), shim)  # a shim for a version nobody has
    done = run_cli("scan", "--python", str(shim))
    assert done.returncode == 2
    assert "is a pyenv shim that runs no Python here (pyenv: python3.99: command not found" in (
        done.stderr
    )


def test_bare_command_shows_short_usage() -> None:
    done = run_cli()
    assert done.returncode == 2
    assert done.stderr.startswith("Usage: subinterp-audit COMMAND [OPTIONS] [ARGS]...")
    assert len(done.stderr.splitlines()) <= 12 and "error" not in done.stderr  # one screen
    listed = [line.split()[0] for line in done.stderr.splitlines() if line.startswith("  ")]
    assert listed == ["scan", "explain", "diff", "survey", "merge", "test"]


def test_the_same_python_twice_is_scanned_once(tmp_path: Path) -> None:
    python = find_target("3.13")
    out = tmp_path / "r.json"
    done = run_cli(
        "scan", "--python", "3.13", "--python", python, "--module", "_json", "--depth",
        "import", "--no-cache", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(json.loads(out.read_text())["targets"]) == 1
    assert "the same interpreter again, scanned once" in " ".join(done.stderr.split())
    assert "1 module: 1 own_gil" in done.stdout
    assert "found 1 extension module\n" in done.stderr


def test_a_scan_on_a_terminal_shows_progress_and_finishes(tmp_path: Path) -> None:
    """On a terminal the live progress display swaps sys.stdout/sys.stderr for proxies; the
    consoles must write past them (a scan once looped forever there)."""
    import threading

    master, slave = os.openpty()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "scan", "--python", "3.13", "--module", "_json",
         "--no-cache", "--json", str(tmp_path / "r.json")],
        stdin=slave, stdout=slave, stderr=slave, env={**environ, "COLUMNS": "80"},
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert proc.wait(timeout=180) == 0
    finally:
        proc.kill()
        reader.join(5)
        os.close(master)
    output = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    assert "probing" in output and "1/1 modules" in output  # the live progress, in modules
    progress = [seg for seg in re.split(r"[\r\n]", output) if "probing" in seg]
    assert progress and all(len(seg.rstrip()) <= 80 for seg in progress), progress
    assert any(" left " in seg for seg in progress)  # the time left, in full at 80 columns
    assert "1 module: 1 own_gil" in output


def test_paths_that_are_not_utf8_are_scanned_and_reported(
    python: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    """A directory or file name need not be UTF-8 on Linux: the zoo's package pa holds a file
    named b"caf\\xe9..." (not an importable name: skipped), and here a module sits in such a
    directory.  Every report is written, with the name's bytes shown as Python shows them.
    CPython itself cannot import an extension from there (3.12, 3.13: `import m` raises
    UnicodeEncodeError), so the verdict is broken; its init is still read from the file."""
    where = Path(os.fsdecode(bytes(tmp_path) + b"/d\xe9p"))
    where.mkdir()
    (module,) = fixtures_dir.glob("multiphase_own_gil.*so")
    shutil.copy2(module, where / module.name)
    outputs = {kind: tmp_path / f"r.{kind}" for kind in ("json", "html", "junit", "sarif")}
    options = [arg for kind, path in outputs.items() for arg in (f"--{kind}", str(path))]
    done = run_cli("scan", "--python", python, "--no-cache", *options, str(where))
    assert done.returncode == 0, done.stderr
    report = json.loads(outputs["json"].read_text(encoding="utf-8"))
    (entry,) = report["targets"][0]["modules"]
    assert entry["path"].endswith("/d\\xe9p/" + module.name)
    assert (entry["verdict"], entry["probes"]["main"]["exception"]) == (
        "broken",
        "UnicodeEncodeError",
    )
    assert (entry["init"]["style"], entry["init"]["multiple_interpreters"]) == (
        "multi_phase",
        "per_interpreter_gil",
    )
    assert "d\\\\xe9p" in outputs["html"].read_text(encoding="utf-8")  # its JSON, embedded
