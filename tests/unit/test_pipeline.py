"""pipeline.plan: the command line merged with [tool.subinterp-audit], checked before a probe."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import ConfigError, UsageError
from auditor.model import Verdict
from auditor.pipeline import DEFAULT_HTML, DEFAULT_JSON, ScanOptions, plan
from auditor.project_settings import load


def settings(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.subinterp-audit]\n" + body)
    return load(path)


def test_outputs_come_from_the_config_relative_to_it(tmp_path: Path) -> None:
    config = settings(tmp_path, 'json = "out/a.json"\nsarif = "out/a.sarif"\n')
    (tmp_path / "out").mkdir()
    scan = plan(ScanOptions(), config)
    assert scan.outputs == {"json": tmp_path / "out/a.json", "sarif": tmp_path / "out/a.sarif"}
    assert not scan.default_outputs


def test_the_command_line_wins_per_output(tmp_path: Path) -> None:
    config = settings(tmp_path, 'json = "a.json"\nhtml = "a.html"\n')
    scan = plan(ScanOptions(outputs={"json": tmp_path / "b.json"}), config)
    assert scan.outputs == {"json": tmp_path / "b.json", "html": tmp_path / "a.html"}


def test_no_output_anywhere_means_json_and_html_under_reports(tmp_path: Path) -> None:
    scan = plan(ScanOptions(), settings(tmp_path, 'require = "own_gil"\n'))
    assert scan.outputs == {"json": DEFAULT_JSON, "html": DEFAULT_HTML}
    assert scan.default_outputs
    assert scan.policy.require is Verdict.OWN_GIL


def test_an_unwritable_configured_output_fails_before_scanning(tmp_path: Path) -> None:
    config = settings(tmp_path, 'junit = "junit.xml"\n')
    (tmp_path / "junit.xml").mkdir()
    with pytest.raises(UsageError, match=r"cannot write the JUnit report to .*: it is a directory"):
        plan(ScanOptions(), config)


def test_an_output_must_be_a_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'html' must be a path"):
        settings(tmp_path, "html = 3\n")


def test_usage_errors_name_the_problem(tmp_path: Path) -> None:
    config = settings(tmp_path, "")
    with pytest.raises(UsageError, match="--update-baseline needs --baseline"):
        plan(ScanOptions(update_baseline=True), config)
    with pytest.raises(UsageError, match=r"baseline .*nope\.json does not exist"):
        plan(ScanOptions(baseline=tmp_path / "nope.json"), config)
    with pytest.raises(UsageError, match="--smoke is not valid Python"):
        plan(ScanOptions(smoke="import ("), config)
    with pytest.raises(UsageError, match="unknown verdict"):
        plan(ScanOptions(fail_on=("crashes,nonsense",)), config)
