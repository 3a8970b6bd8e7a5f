"""Today's Pythons: 3.14, 3.14t (free-threaded) and 3.15, where they are installed.

These interpreters are built by hand (no registry ships them for this machine); each test
skips with that reason where its target is missing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from auditor.probing.helper import build_helper
from auditor.probing.target import describe
from tests.conftest import find_target
from tests.integration.conftest import run_cli

# What concurrent.interpreters calls each of our kinds (_interpreters.new_config names).
KIND_TO_CPYTHON = {"own_gil": "isolated", "legacy": "legacy"}

COMPARE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import _interpreters, _subinterp_probe
print(json.dumps({
    kind: [_subinterp_probe.config_of(kind), vars(_interpreters.new_config(name))]
    for kind, name in json.loads(sys.argv[2]).items()
}))
"""


@pytest.mark.parametrize("version", ["3.14", "3.14t", "3.15"])
def test_kinds_are_what_concurrent_interpreters_creates(version: str) -> None:
    """Field by field against the target's own _interpreters.new_config()."""
    python = find_target(version)
    helper = build_helper(describe(Path(python)))
    done = subprocess.run(
        [python, "-c", COMPARE, str(helper.directory), json.dumps(KIND_TO_CPYTHON)],
        capture_output=True,
        text=True,
        check=True,
    )
    for kind, (mine, cpython) in json.loads(done.stdout).items():
        assert mine == cpython, kind


def test_the_helper_keeps_the_gil_off_on_a_free_threaded_build() -> None:
    python = find_target("3.14t")
    helper = build_helper(describe(Path(python)))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import _subinterp_probe; "
        "print(sys._is_gil_enabled())"
    )
    done = subprocess.run(
        [python, "-W", "error::RuntimeWarning", "-c", code, str(helper.directory)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "False"


def test_315_stdlib_init_is_read_with_the_new_slot_numbers(tmp_path: Path) -> None:
    """PEP 820 renumbered the slots; PEP 793's PyModExport returns a PySlot array."""
    python = find_target("3.15")
    out = tmp_path / "r.json"
    names = ("_curses", "_json", "xxlimited", "xxlimited_35", "readline")
    args = [arg for name in names for arg in ("--module", name)]
    done = run_cli("scan", "--python", python, *args, "--json", str(out))
    assert done.returncode == 0, done.stderr
    init = {m["name"]: m["init"] for m in json.loads(out.read_text())["targets"][0]["modules"]}
    summary = {
        n: (i["style"], i["export"], i["multiple_interpreters"], i["gil"]) for n, i in init.items()
    }
    expected = {
        "_curses": ("multi_phase", "PyInit", "not_supported", "not_used"),
        "_json": ("multi_phase", "PyInit", "per_interpreter_gil", "not_used"),
        "xxlimited": ("multi_phase", "PyModExport", "per_interpreter_gil", "not_used"),
        # Built for the 3.5 limited API: the old slot numbers, and no isolation slot.
        "xxlimited_35": ("multi_phase", "PyInit", None, None),
        "readline": ("single_phase", "PyInit", None, None),
    }
    # A distribution may build some into the interpreter (Debian's 3.15: _json): no file, no
    # extension module to read.
    builtin = subprocess.run(
        [python, "-c", "import sys; print(*sys.builtin_module_names)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert summary == {name: e for name, e in expected.items() if name not in builtin}
    assert init["xxlimited"]["m_size"] is not None  # from its Py_mod_state_size slot
