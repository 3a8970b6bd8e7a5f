"""The command line's error paths: one line, exit code 2, no traceback, no report."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")


def _one_line_error(code: int, err: str, expected: str) -> None:
    assert code == 2
    assert err.startswith("subinterp-audit: error: ")
    assert expected in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not Path("reports").exists()


def test_unknown_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scan", "--bogus")
    _one_line_error(code, err, "No such option '--bogus'")


def test_missing_python_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scan", "--python", "3.99")
    _one_line_error(code, err, "no Python 3.99 found")


def test_python_path_missing(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scan", "--python", "/nonexistent/python3")
    _one_line_error(code, err, "--python /nonexistent/python3: no such file")


def test_python_not_an_interpreter(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    code, _, err = run(capsys, "scan", "--python", str(fake))
    _one_line_error(code, err, "printed something unexpected")


def test_jobs_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scan", "--jobs", "0")
    _one_line_error(code, err, "--jobs")


def test_missing_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scan", "does-not-exist")
    _one_line_error(code, err, "Path 'does-not-exist' does not exist")


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scan", "--help")
    assert code == 0
    for text in (
        "--python",
        "--package",
        "--module",
        "--json",
        "--timeout",
        "Exit codes",
        "Examples",
    ):
        assert text in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("subinterp-audit, version ")
