"""Which interpreters a wheel's tags accept, best first (scan WHEEL without --python)."""

from __future__ import annotations

import pytest

from auditor.errors import InstallError
from auditor.probing.throwaway import requirement, wheel_pythons


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x-1-cp313-cp313-linux_x86_64.whl", ["3.13"]),
        ("x-1-cp314-cp314t-linux_x86_64.whl", ["3.14t"]),  # free-threaded: the ABI has the t
        ("x-1-cp313-cp313.cp313t-linux_x86_64.whl", ["3.13", "3.13t"]),  # the GIL build first
        ("x-1-cp39-abi3-linux_x86_64.whl", ["3.15", "3.14", "3.13", "3.12", "3.11", "3.10", "3.9"]),
        ("x-1-cp315-abi3t-linux_x86_64.whl", ["3.15t"]),  # the free-threaded stable ABI
        ("x-1-py3-none-any.whl", []),  # pure: any interpreter
    ],
)
def test_wheel_pythons(name: str, expected: list[str]) -> None:
    assert wheel_pythons(name) == expected


def test_requirement_names_its_distribution() -> None:
    assert requirement("Pydantic_Core==2.5").distribution == "pydantic-core"
    with pytest.raises(InstallError, match="not a requirement"):
        requirement("not a requirement ===")
    with pytest.raises(InstallError, match="not a URL"):
        requirement("x @ https://example.com/x.whl")
