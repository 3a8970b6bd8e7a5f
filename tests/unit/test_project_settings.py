"""[tool.subinterp-audit] in pyproject.toml: validation names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import ConfigError
from auditor.judging.policy import Ignore
from auditor.model import Verdict
from auditor.project_settings import load


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text("[project]\nname = 'x'\n\n[tool.subinterp-audit]\n" + body)
    return path


def test_full_table(tmp_path: Path) -> None:
    settings = load(
        write(
            tmp_path,
            """
python = ["3.12", "3.13"]
package = "mypkg"
paths = ["build/lib"]
require = "shared_gil"
fail-on = ["crashes", "hangs"]
baseline = "ci/baseline.json"
timeout = 30
jobs = 2
ignore = [{module = "mypkg._legacy", reason = "kept for old callers, see #12"}]
""",
        )
    )
    assert settings.python == ("3.12", "3.13") and settings.package == ("mypkg",)
    assert settings.paths == (tmp_path / "build/lib",)
    assert settings.require is Verdict.SHARED_GIL
    assert settings.fail_on == {Verdict.CRASHES, Verdict.HANGS}
    assert settings.baseline == tmp_path / "ci/baseline.json"
    assert (settings.timeout, settings.jobs) == (30.0, 2)
    assert settings.ignore == (Ignore("mypkg._legacy", "kept for old callers, see #12"),)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("requires = 'own_gil'\n", "unknown key 'requires'"),
        ("require = 'crashes'\n", "'require' must be one of own_gil, shared_gil, legacy_only"),
        ("fail-on = ['crashes', 'segfault']\n", "unknown verdict 'segfault'"),
        ("ignore = [{module = 'm'}]\n", "ignore entry 1 (m) needs a 'reason'"),
        ("ignore = [{module = 'm', reason = '  '}]\n", "needs a 'reason'"),
        ("ignore = [{module = 'm', reason = 'r', until = 1}]\n", "unknown key 'until'"),
        ("timeout = -1\n", "'timeout' must be a positive number"),
        ("jobs = true\n", "'jobs' must be a positive integer"),
        ("package = 3\n", "'package' must be a string or a list of strings"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(write(tmp_path, body))


def test_no_file_no_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load(None).require is None  # no pyproject.toml at all
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert load(None).source == Path("pyproject.toml")
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[tool\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load(tmp_path / "bad.toml")
