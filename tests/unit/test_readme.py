"""The README's --help block is the real --help (kept in sync, as abi3audit does in CI)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor.commands import main

README = Path(__file__).resolve().parents[2] / "README.md"


def test_help_block_matches(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["scan", "--help"]) == 0
    real = capsys.readouterr().out
    block = re.search(
        r"<!-- help-start -->\n```\n(.*?)```\n<!-- help-end -->", README.read_text(), re.S
    )
    assert block is not None
    assert block.group(1) == real, "update the --help block in README.md"


@pytest.mark.parametrize("marker", ["scan-command", "test-command"])
def test_setup_commands_are_marked_for_ci(marker: str) -> None:
    text = README.read_text()
    assert re.search(rf"<!-- {marker} -->\n```bash\n.+\n```", text)
