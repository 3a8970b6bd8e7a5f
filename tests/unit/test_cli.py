"""The command line's error paths: one line, exit code 2, no traceback, no report."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.commands import main


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
    _one_line_error(code, err, "is not a Python interpreter")


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


@pytest.fixture
def never_run_python(tmp_path: Path) -> Path:
    """A --python that leaves a mark and takes 30 s if anything ever starts it."""
    fake = tmp_path / "slow-python"
    fake.write_text('#!/bin/sh\ntouch "$0.ran"\nsleep 30\n')
    fake.chmod(0o755)
    return fake


@pytest.mark.parametrize(
    ("options", "label"),
    [
        (["--json", "somefile/report.json"], "JSON report"),
        (["--html", "somefile/report.html"], "HTML report"),
        (["--junit", "somefile/junit.xml"], "JUnit report"),
        (["--sarif", "somefile/report.sarif"], "SARIF report"),
        (["--update-baseline", "--baseline", "somefile/base.json"], "baseline"),
    ],
    ids=["json", "html", "junit", "sarif", "baseline"],
)
def test_unwritable_output_fails_before_probing(
    capsys: pytest.CaptureFixture[str], never_run_python: Path, options: list[str], label: str
) -> None:
    Path("somefile").write_text("not a directory\n")
    code, out, err = run(capsys, "scan", "--python", str(never_run_python), *options)
    path = options[-1]
    _one_line_error(code, err, f"cannot write the {label} to {path}: somefile is not a directory")
    assert out == ""
    assert "target:" not in err  # the first thing a scan prints, before discovery
    assert not Path(f"{never_run_python}.ran").exists()  # the target was never even started
    assert Path("somefile").read_text() == "not a directory\n"


def test_default_reports_dir_not_a_directory(
    capsys: pytest.CaptureFixture[str], never_run_python: Path
) -> None:
    Path("reports").write_text("a file\n")
    code, out, err = run(capsys, "scan", "--python", str(never_run_python))
    assert code == 2 and out == ""
    assert err.strip() == (
        "subinterp-audit: error: cannot write the JSON report to "
        "reports/subinterp-audit.json: reports is not a directory"
    )
    assert not Path(f"{never_run_python}.ran").exists()
    assert Path("reports").read_text() == "a file\n"


def test_output_directory_fails_before_probing(
    capsys: pytest.CaptureFixture[str], never_run_python: Path
) -> None:
    Path("out").mkdir()
    code, _, err = run(capsys, "scan", "--python", str(never_run_python), "--json", "out")
    assert code == 2
    assert "'out' is a directory" in err
    assert len(err.strip().splitlines()) == 1
    assert not Path(f"{never_run_python}.ran").exists()
    assert list(Path("out").iterdir()) == []


def test_baseline_from_the_configuration_is_checked(
    capsys: pytest.CaptureFixture[str], never_run_python: Path
) -> None:
    Path("somefile").write_text("not a directory\n")
    Path("pyproject.toml").write_text('[tool.subinterp-audit]\nbaseline = "somefile/base.json"\n')
    code, _, err = run(capsys, "scan", "--python", str(never_run_python), "--update-baseline")
    assert code == 2
    assert "cannot write the baseline to " in err and "somefile is not a directory" in err
    assert len(err.strip().splitlines()) == 1
    assert not Path(f"{never_run_python}.ran").exists()


def test_static_only_refuses_what_needs_a_probe(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "x.so").write_bytes(b"not ELF")
    code, _, err = run(capsys, "scan", "--static-only", "--require", "own_gil", str(tmp_path))
    _one_line_error(code, err, "--static-only runs nothing, so --require cannot apply")
    code, _, err = run(capsys, "scan", "--static-only")
    _one_line_error(code, err, "--static-only needs wheels or paths to read")
    code, out, _ = run(capsys, "scan", "--static-only", str(tmp_path / "x.so"))
    assert code == 0 and "no probe ran" in out
    assert not (tmp_path / "reports").exists()  # nothing written without --json


def test_a_command_leaves_the_process_able_to_probe_again() -> None:
    """Each command ends every probe process it started (stop_all) and then lets a later
    command in the same process start zygotes again."""
    from auditor.probing import supervisor

    assert main(["diff", "--help"]) == 0
    assert not supervisor.stopped()
