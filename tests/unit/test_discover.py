"""Discovery: file names -> the names modules are imported by (no compiler: empty files)."""

from __future__ import annotations

import importlib.machinery
import os
import sys
from pathlib import Path

import pytest

from auditor._target import environment
from auditor.model import Interpreter
from auditor.probing.discover import discover

VERSIONED, STABLE, BARE = importlib.machinery.EXTENSION_SUFFIXES[:3]


def _tree(root: Path, *files: str) -> Path:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return root


def _found(root: Path) -> dict[str, tuple[str, bool]]:
    """name -> (path relative to root, whether the name is made of identifiers)."""
    data = environment.discover([str(root)])
    return {
        m["name"]: (str(Path(m["path"]).relative_to(root)), m["identifier"])
        for m in data["modules"]
    }


def test_package_init_is_the_package(tmp_path: Path) -> None:
    """black/__init__<suffix> is `black` (mypyc): never `black.__init__`."""
    root = _tree(
        tmp_path,
        f"black/__init__{VERSIONED}",
        "black/__init__.py",  # mypyc wheels ship the sources too: the extension wins
        f"black/resources/__init__{VERSIONED}",
        f"black/mode{VERSIONED}",
        f"__init__{VERSIONED}",  # a sys.path entry is no package: nothing imports this
    )
    assert _found(root) == {
        "black": (f"black/__init__{VERSIONED}", True),
        "black.mode": (f"black/mode{VERSIONED}", True),
        "black.resources": (f"black/resources/__init__{VERSIONED}", True),
    }
    data = environment.discover([str(root)])
    assert [m["init_suffix"] for m in data["modules"]] == ["_black", "_mode", "_resources"]


def test_names_only_c_code_can_import(tmp_path: Path) -> None:
    """mypyc's runtime "<hash>__mypyc" is listed by that name; a dotted stem cannot be."""
    root = _tree(
        tmp_path,
        f"85cae5375ceb5d1ca6c6__mypyc{VERSIONED}",
        f"fd7dcdb10166ebd4db98__mypyc{VERSIONED}",
        f"libfoo-1{BARE}",
        f"libbar.so.1{BARE}",
    )
    assert _found(root) == {
        "85cae5375ceb5d1ca6c6__mypyc": (f"85cae5375ceb5d1ca6c6__mypyc{VERSIONED}", False),
        "fd7dcdb10166ebd4db98__mypyc": (f"fd7dcdb10166ebd4db98__mypyc{VERSIONED}", True),
        "libfoo-1": (f"libfoo-1{BARE}", False),
    }


def test_shadowing_follows_filefinder(tmp_path: Path) -> None:
    """Within a directory the suffixes count in EXTENSION_SUFFIXES order, and a regular
    package (an __init__ with any suffix, an extension's included) beats a module file."""
    root = _tree(
        tmp_path,
        f"mod{STABLE}",
        f"mod{VERSIONED}",
        f"pkg{VERSIONED}",
        f"pkg/__init__{VERSIONED}",
        f"pyc{VERSIONED}",
        "pyc/__init__.pyc",
    )
    data = environment.discover([str(root)])
    chosen = {m["name"]: Path(m["path"]).name for m in data["modules"]}
    assert chosen == {"mod": f"mod{VERSIONED}", "pkg": f"__init__{VERSIONED}"}
    shadowed = {(s["name"], Path(s["path"]).name, Path(s["by"]).name) for s in data["shadowed"]}
    assert shadowed == {
        ("mod", f"mod{STABLE}", f"mod{VERSIONED}"),
        ("pkg", f"pkg{VERSIONED}", "pkg"),
        ("pyc", f"pyc{VERSIONED}", "pyc"),
    }


@pytest.mark.parametrize(
    ("exports", "listed"),
    [
        ({"PyInit_85ca__mypyc", "CPyInit_x"}, True),
        ({"PyInit_other"}, False),  # a shared library with an extension-like name: skipped
        (set(), False),
        (None, False),  # not ELF: nothing says it is a module
    ],
    # Stable ids (a set's order varies between processes: pytest-xdist needs the same ids).
    ids=lambda value: ",".join(sorted(value)) if isinstance(value, set) else str(value),
)
def test_host_keeps_c_only_names_that_export_their_init(
    tmp_path: Path, exports: set[str] | None, listed: bool
) -> None:
    root = _tree(tmp_path, f"85ca__mypyc{VERSIONED}", f"plain{VERSIONED}")
    interp = Interpreter(
        sys.executable,
        "3",
        (3, 13, 0),
        "",
        "cpython",
        None,
        VERSIONED,
        False,
        sys.platform,
        sys.prefix,
        sys.base_prefix,
        (),
        {},
    )

    def exports_of(path: str) -> set[str] | None:
        return {"PyInit_plain"} if path.endswith(f"plain{VERSIONED}") else exports

    found = discover(interp, paths=[root], exports_of=exports_of)
    assert [m.name for m in found.modules] == (["85ca__mypyc", "plain"] if listed else ["plain"])
    assert found.non_extensions == ()


@pytest.mark.parametrize(
    ("suffix", "abi"),
    [
        (".cpython-315-x86_64-linux-gnu.so", "version"),
        (".cpython-314t-x86_64-linux-gnu.so", "version"),
        (".abi3.so", "stable"),
        (".abi3-x86_64-linux-gnu.so", "stable"),  # 3.15's platform-tagged abi3
        (".abi3t.so", "stable_free_threading"),  # PEP 803
        (".abi3t-x86_64-linux-gnu.so", "stable_free_threading"),
        (".so", "version"),
    ],
)
def test_abi_of_each_suffix(suffix: str, abi: str) -> None:
    assert environment._abi(suffix) == abi


def test_owner_map_reads_record_and_metadata_headers(tmp_path: Path) -> None:
    """Distribution owners come from RECORD and the metadata headers, read directly (the
    email parser and Distribution.files' stat of every file cost more than discovery)."""
    suffix = environment.importlib.machinery.EXTENSION_SUFFIXES[0]
    info = tmp_path / "odd_pkg-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: Odd-Pkg\nVersion: 1.2\n\nName: not a header\n"
    )
    (info / "RECORD").write_text(
        f'odd/_fast{suffix},sha256=x,1\n"odd/we,ird{suffix}",sha256=y,2\nodd/__init__.py,,\n'
    )
    owners, seen = environment._owner_map([str(tmp_path)])
    assert seen == [["Odd-Pkg", "1.2"]]
    assert sorted(owners) == sorted(
        os.path.realpath(tmp_path / "odd" / name) for name in (f"_fast{suffix}", f"we,ird{suffix}")
    )
    assert set(map(str, owners.values())) == {str({"name": "Odd-Pkg", "version": "1.2"})}
