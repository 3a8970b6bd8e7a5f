"""Build the fixture zoo for each target and scan it once, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NEWER_VERSIONS, TARGET_VERSIONS, find_target
from tests.fixtures.build import build_fixtures

# Long enough for any honest probe on a loaded 2-core machine, and for the deadlock detector
# (auditor/probing/stall.py: no progress, almost no CPU for 3 s, checked every 0.5 s) to stop
# the hang fixtures first, at about 4 s: at "4" the deadline and the detector raced, and either
# could win.
PROBE_TIMEOUT = "10"


@dataclass
class Scan:
    python: str
    fixtures: Path
    report: dict[str, Any]
    stdout: str
    stderr: str
    returncode: int

    def module(self, name: str) -> dict[str, Any]:
        (target,) = self.report["targets"]
        for module in target["modules"]:
            if module["name"] == name:
                return module
        raise AssertionError(f"{name} missing from the report")


def run_cli(
    *args: str,
    cwd: Path | None = None,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    depth: bool = False,
) -> subprocess.CompletedProcess[str]:
    """The real command line, in a subprocess, as a user runs it (outside GitHub Actions).

    A scan runs its import probes only (``--depth import``) unless `depth` is true or the
    arguments choose: the depth probes are tested in test_depth.py, and running them in every
    other test would double the suite's time.
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    if args and args[0] == "scan" and not depth and "--depth" not in args:
        args = (*args, "--depth", "import")
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**environ, "COLUMNS": "120", **(env or {})},
    )


# Test modules that run on the newer targets too; the others run on the required ones only,
# to keep the suite's time in check (they test the tool, not the interpreter).
ZOO_MODULES = ("test_zoo", "test_soundness", "test_targets", "test_depth")


@pytest.fixture(scope="session", params=TARGET_VERSIONS + NEWER_VERSIONS)
def python(request: pytest.FixtureRequest) -> str:
    return find_target(request.param)


@pytest.fixture(autouse=True)
def _newer_targets_run_the_zoo(request: pytest.FixtureRequest) -> None:
    callspec = getattr(request.node, "callspec", None)
    version = callspec.params.get("python") if callspec else None
    if version in NEWER_VERSIONS and request.module.__name__.split(".")[-1] not in ZOO_MODULES:
        pytest.skip(f"on Python {version} only the fixture zoo runs (test_zoo, test_soundness)")


def free_threaded(scan: Scan) -> bool:
    return bool(scan.report["targets"][0]["python"]["gil_disabled"])


def reasons_of(scan: Scan, name: str) -> list[dict[str, Any]]:
    """A module's reasons, less `gil_reenabled` (free-threaded builds; tested on its own)."""
    return [r for r in scan.module(name)["reasons"] if r["code"] != "gil_reenabled"]


def gil_build_only(scan: Scan, verdict: str) -> None:
    """Skip an expectation written for GIL builds where a free-threaded build differs."""
    if free_threaded(scan) and verdict == "legacy_only":
        pytest.skip(
            "free-threaded build: every subinterpreter, legacy ones too, refuses single-phase "
            "and not-supported modules (CPython gh-117649); test_verdict checks that"
        )


@pytest.fixture(scope="session")
def fixtures_dir(python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("zoo")
    build_fixtures(python, dest)
    return dest


@pytest.fixture(scope="session")
def zoo_scan(python: str, fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    out = tmp_path_factory.mktemp("report") / "zoo.json"
    done = run_cli(
        "scan",
        "--python",
        python,
        "--no-cache",
        "--timeout",
        PROBE_TIMEOUT,
        "--jobs",
        "2",
        "--depth",
        "import",  # the zoo's expectations are the import probes'; test_depth has the rest
        "--json",
        str(out),
        str(fixtures_dir),
    )
    assert done.returncode == 0, done.stderr
    return Scan(
        python, fixtures_dir, json.loads(out.read_text()), done.stdout, done.stderr, done.returncode
    )
