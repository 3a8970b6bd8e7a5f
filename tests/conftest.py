"""Shared test configuration: the target interpreters the integration tests exercise."""

from __future__ import annotations

import os

import pytest

# The versions every integration test runs against.  On a machine without one of them the
# tests skip with the reason; set SUBINTERP_AUDIT_REQUIRE_TARGETS=1 (CI does) to fail instead.
TARGET_VERSIONS = ("3.12", "3.13")
# Newer targets, built by hand where they exist (the README says how): the fixture zoo runs on
# each one found, and skips with the reason where it is missing, in CI too.
NEWER_VERSIONS = ("3.14", "3.14t", "3.15")


def find_target(version: str) -> str:
    from auditor.errors import TargetError
    from auditor.probing.target import resolve

    try:
        return str(resolve(version))
    except TargetError as exc:
        if version in NEWER_VERSIONS:
            pytest.skip(
                f"Python {version} is not installed here ({exc}); no registry ships it for "
                f"this machine: build it from CPython's source into pyenv to test it"
            )
        if os.environ.get("SUBINTERP_AUDIT_REQUIRE_TARGETS"):
            pytest.fail(f"required target missing: {exc}")
        pytest.skip(f"Python {version} is not installed here ({exc})")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (--dist loadgroup): a target's tests share one worker, so that the
    session fixtures of that target (its fixture zoo, built and scanned) are made once."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        version = callspec.params.get("python") if callspec else None
        if isinstance(version, str):
            item.add_marker(pytest.mark.xdist_group(f"python-{version}"))
