"""scan WHEEL and scan --pypi: a throwaway venv per target, offline from a local wheelhouse.

Real wheels (tests/fixtures/wheels.py), installed by the target's own pip, probed for real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.wheels import make_wheelhouse
from tests.integration.conftest import PROBE_TIMEOUT, run_cli


@pytest.fixture(scope="session")
def wheelhouse(python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good wheel, a single-phase one, and one whose pure-Python __init__ imports the
    single-phase module of the wheel it requires."""
    return make_wheelhouse(python, tmp_path_factory.mktemp("wheelhouse"))


def _scan(tmp_path: Path, *args: str) -> tuple[Any, str, str, int]:
    out = tmp_path / "report.json"
    done = run_cli("scan", "--timeout", PROBE_TIMEOUT, "--json", str(out), *args, cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(out.read_text()) if out.exists() else None
    return report, done.stdout, done.stderr, done.returncode


def _wheel(wheelhouse: Path, name: str) -> str:
    (path,) = wheelhouse.glob(f"{name}-*.whl")
    return str(path)


def test_a_wheel_is_audited_alone_in_a_throwaway_venv(
    python: str, wheelhouse: Path, tmp_path: Path
) -> None:
    report, stdout, stderr, code = _scan(
        tmp_path, _wheel(wheelhouse, "uses_old"), "--python", python,
        "--no-index", "--find-links", str(wheelhouse),
    )  # fmt: skip
    assert code == 0, stderr
    assert "installing " in stderr and "into a throwaway venv of" in stderr
    (target,) = report["targets"]
    # Only the wheel's own distribution: its dependency old-single is installed, not audited.
    (module,) = target["modules"]
    assert (module["name"], module["distribution"]["name"]) == ("usesold._fast", "uses-old")
    assert module["verdict"] == "legacy_only"
    (reason,) = [r for r in module["reasons"] if r["code"] == "blocked_by"]
    assert reason["details"]["chain"] == ["usesold._fast", "usesold", "oldsingle"]
    assert "uses-old 0.3" in stdout
    # The venv is gone once the scan ends.
    assert not Path(target["python"]["executable"]).exists()


def test_the_wheel_tags_choose_the_interpreter_and_the_gate_applies(
    python: str, wheelhouse: Path, tmp_path: Path
) -> None:
    version = ".".join(python.rsplit("python", 1)[1].split(".")[:2])
    good = _wheel(wheelhouse, "goodext")
    report, _, stderr, code = _scan(tmp_path, good, "--no-index", "--require", "own_gil")
    assert code == 0, stderr
    (target,) = report["targets"]
    assert target["python"]["version"].startswith(version + ".")  # from the cp3XY tag
    assert [m["verdict"] for m in target["modules"]] == ["own_gil"]
    report, stdout, _, code = _scan(
        tmp_path, _wheel(wheelhouse, "old_single"), "--no-index", "--require", "own_gil"
    )
    assert code == 1 and "gate FAILED" in stdout
    assert [m["verdict"] for m in report["targets"][0]["modules"]] == ["legacy_only"]


def test_pypi_installs_from_the_index_or_says_why_not(
    python: str, wheelhouse: Path, tmp_path: Path
) -> None:
    offline = ("--python", python, "--no-index", "--find-links", str(wheelhouse))
    report, _, stderr, code = _scan(tmp_path, "--pypi", "goodext==1.0", *offline)
    assert code == 0, stderr
    assert [m["name"] for m in report["targets"][0]["modules"]] == ["goodext"]

    _, _, stderr, code = _scan(tmp_path, "--pypi", "goodext==9.9", *offline)
    assert code == 2
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("subinterp-audit: error: cannot install goodext==9.9 into a venv of")
    assert "No matching distribution found for goodext==9.9" in last

    _, _, stderr, code = _scan(tmp_path, "--pypi", "goodext", "--module", "x", *offline)
    assert code == 2
    assert "a wheel or --pypi is audited on its own" in stderr
