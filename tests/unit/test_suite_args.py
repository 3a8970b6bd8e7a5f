"""The pytest plugin hands each run this invocation's arguments, without its own."""

from __future__ import annotations

import pytest

from subinterp_audit import suite_args


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (["-p", "subinterp_audit", "--subinterpreters=own_gil", "tests"], ["tests"]),
        (["-psubinterp_audit", "--subinterpreters", "legacy", "-k", "x"], ["-k", "x"]),
        (
            ["-p", "xdist", "-p", "subinterp_audit", "--subinterpreters-count", "4", "-x"],
            ["-p", "xdist", "-x"],
        ),
        (["--subinterpreters-timeout=5", "--subinterpreters-count=2", "t.py::f"], ["t.py::f"]),
        ([], []),
    ],
)
def test_suite_args(given: list[str], kept: list[str]) -> None:
    assert suite_args(given) == kept
