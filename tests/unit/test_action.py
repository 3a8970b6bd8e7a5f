"""The composite GitHub Action builds the right command line from its inputs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

ACTION = Path(__file__).resolve().parents[2] / "action.yml"


def _scan_step() -> dict:
    action = yaml.safe_load(ACTION.read_text())
    (step,) = [s for s in action["runs"]["steps"] if s.get("id") == "scan"]
    return step


def run_step(tmp_path: Path, exit_code: int, **inputs: str) -> tuple[list[str], str]:
    """Run the step's script with a stand-in subinterp-audit that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "subinterp-audit"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path}/argv"\nexit {exit_code}\n')
    fake.chmod(0o755)
    output = tmp_path / "output"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(output)}
    env.update({f"SA_{k.upper()}": v for k, v in inputs.items()})
    subprocess.run(["bash", "-e", "-c", _scan_step()["run"]], env=env, check=True)
    return (tmp_path / "argv").read_text().splitlines(), output.read_text()


def test_inputs_become_arguments(tmp_path: Path) -> None:
    argv, output = run_step(
        tmp_path,
        1,
        python="3.12 3.13",
        package="mypkg",
        require="shared_gil",
        fail_on="crashes,hangs",
        baseline="ci/base.json",
        args="build/lib --timeout 30",
    )
    assert argv[:9] == [
        "scan",
        "--json",
        "reports/subinterp-audit.json",
        "--html",
        "reports/subinterp-audit.html",
        "--junit",
        "reports/subinterp-audit.junit.xml",
        "--sarif",
        "reports/subinterp-audit.sarif",
    ]
    assert argv[9:] == [
        "--python",
        "3.12",
        "--python",
        "3.13",
        "--package",
        "mypkg",
        "--require",
        "shared_gil",
        "--fail-on",
        "crashes,hangs",
        "--baseline",
        "ci/base.json",
        "build/lib",
        "--timeout",
        "30",
    ]
    assert output == "exit-code=1\n"  # recorded, so that the reports upload before failing


def test_hostile_input_stays_one_argument(tmp_path: Path) -> None:
    argv, _ = run_step(
        tmp_path,
        0,
        python="/usr/bin/python3",
        package="",
        require="",
        fail_on="",
        baseline="x; touch pwned $(touch pwned2)",
        args="",
    )
    assert argv[-2:] == ["--baseline", "x; touch pwned $(touch pwned2)"]
    assert not (tmp_path / "pwned").exists() and not Path("pwned2").exists()
