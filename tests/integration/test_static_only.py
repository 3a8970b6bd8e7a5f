"""scan --static-only on a real wheel built for Python 3.13: its modules read, never imported."""

from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from auditor.static.artifact import NO_PROBE, RUN_SCAN
from auditor.static.reader import GUESS_EXPORT_HOOK, GUESS_MULTI, GUESS_SINGLE
from auditor.static_scan import run_static
from tests.conftest import find_target
from tests.fixtures.wheels import OWN_GIL, SINGLE_PHASE, c_source, make_wheel

# Its init writes a marker file, then aborts the process: loading it at all would show.
BOOBY_TRAP = """
#include "Python.h"
#include <stdio.h>
#include <stdlib.h>
PyMODINIT_FUNC PyInit_trap(void) {
    FILE *f = fopen("%(marker)s", "w");
    if (f) fclose(f);
    abort();
}
"""

# Only a PEP 793 export hook (3.15), compiled here for 3.13: never called.
EXPORT_HOOK = """
#include "Python.h"
PyMODINIT_FUNC PyModExport_hooked(void) { return NULL; }
"""


@pytest.fixture(scope="module")
def python() -> str:
    return find_target("3.13")


@pytest.fixture(scope="module")
def built(python: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel and the marker path its booby-trapped module would create."""
    work = tmp_path_factory.mktemp("static")
    marker = work / "imported.marker"
    wheel = make_wheel(
        python,
        work / "dist",
        "Static-Demo",
        "1.0",
        {
            "pkg.multi": c_source(OWN_GIL, "pkg.multi"),
            "pkg.sub.single": c_source(SINGLE_PHASE, "pkg.sub.single"),
            "pkg.trap": BOOBY_TRAP % {"marker": marker},
            "platpkg._plat": c_source(OWN_GIL, "platpkg._plat"),
            "hooks.hooked": EXPORT_HOOK,
        },
        pure={"pkg/__init__.py": "", "pkg/sub/__init__.py": ""},
    )
    # Move platpkg/ under static_demo-1.0.data/platlib/, as some build backends lay wheels out.
    moved = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(moved, "w") as target:
        for info in source.infolist():
            name = info.filename
            if name.startswith("platpkg/"):
                name = "static_demo-1.0.data/platlib/" + name
            target.writestr(name, source.read(info))
    moved.replace(wheel)
    return wheel, marker


def test_static_wheel(built: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, marker = built
    out = tmp_path / "static.json"
    screen = Console(file=io.StringIO(), width=80, record=True, color_system=None)
    assert run_static([wheel], [], out, screen) == 0
    assert not marker.exists()  # no module was loaded

    data = json.loads(out.read_text())
    assert (data["kind"], data["no_probe_ran"]) == ("static", True)
    (artifact,) = data["artifacts"]
    tag = next(iter(artifact["tags"]))
    assert (tag["tag"], tag["meaning"]) == ("cp313-cp313", "CPython 3.13")
    modules = {m["name"]: m for m in artifact["modules"]}
    assert {name: m["init_guess"] for name, m in modules.items()} == {
        "hooks.hooked": GUESS_EXPORT_HOOK,
        "pkg.multi": GUESS_MULTI,
        "pkg.sub.single": GUESS_SINGLE,
        "pkg.trap": "unknown",
        "platpkg._plat": GUESS_MULTI,
    }
    assert modules["platpkg._plat"]["file"].startswith("static_demo-1.0.data/platlib/platpkg/")
    assert modules["pkg.multi"]["exports"] == ["PyInit_multi"]
    assert modules["pkg.multi"]["toolkit"] == "c"
    assert modules["pkg.multi"]["abi"] == "CPython 3.13"
    assert modules["hooks.hooked"]["exports"] == ["PyModExport_hooked"]
    flags = [h["symbol"] for h in modules["pkg.sub.single"]["hints"] if h["kind"] == "red_flag"]
    assert flags == ["PyModule_Create2"]
    assert artifact["refused"] == [] and artifact["not_extensions"] == []

    flat = " ".join(screen.export_text().split())
    assert flat.startswith(NO_PROBE) and flat.endswith(f"{NO_PROBE} {RUN_SCAN}")
    platform = wheel.name.rsplit("-", 1)[1].removesuffix(".whl")
    assert f"cp313-cp313 (CPython 3.13) on {platform}" in flat
    assert "pkg.sub.single c single-phase (probably) 1" in flat


def test_the_trap_is_real(python: str, built: tuple[Path, Path], tmp_path: Path) -> None:
    """The test above has teeth: importing the trapped module does write the marker."""
    wheel, marker = built
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path)
    environ = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [python, "-c", "import pkg.trap"], env=environ, capture_output=True, check=False
    )
    assert done.returncode != 0
    assert marker.exists()
    marker.unlink()
