"""The survey for real: wheels built by tests/fixtures/wheels.py, installed offline into
throwaway venvs of 3.13, surveyed by the real command in a subprocess, sharded and merged."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from auditor.throwaway import InstallOptions, installed, requirement
from tests.conftest import find_target
from tests.fixtures.wheels import make_wheel

# Every test here shares the wheels built once: one xdist worker.
pytestmark = pytest.mark.xdist_group("survey")

OWN_GIL = """
#include "Python.h"
static int exec_mod(PyObject *m) { return PyModule_AddIntConstant(m, "answer", 42); }
static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_mod},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL}
};
static struct PyModuleDef def = {
    PyModuleDef_HEAD_INIT, .m_name = "%(name)s", .m_size = 0, .m_slots = slots,
};
PyMODINIT_FUNC PyInit_%(last)s(void) { return PyModuleDef_Init(&def); }
"""

SINGLE_PHASE = """
#include "Python.h"
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, .m_name = "%(name)s", .m_size = -1};
PyMODINIT_FUNC PyInit_%(last)s(void) { return PyModule_Create(&def); }
"""


def c_source(template: str, dotted: str) -> str:
    return template % {"name": dotted, "last": dotted.rpartition(".")[2]}


@pytest.fixture(scope="module")
def python() -> str:
    return find_target("3.13")


@pytest.fixture(scope="module")
def wheelhouse(python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three wheels: an own-GIL module, a single-phase module, and a package whose pure-Python
    __init__ imports the single-phase module of the wheel it requires."""
    dest = tmp_path_factory.mktemp("wheelhouse")
    make_wheel(python, dest, "goodext", "1.0", {"goodext": c_source(OWN_GIL, "goodext")})
    make_wheel(
        python, dest, "old-single", "2.0", {"oldsingle": c_source(SINGLE_PHASE, "oldsingle")}
    )
    make_wheel(
        python,
        dest,
        "Uses_Old",
        "0.3",
        {"usesold._fast": c_source(OWN_GIL, "usesold._fast")},
        requires=["old-single"],
        pure={"usesold/__init__.py": "import oldsingle\n"},
    )
    return dest


def test_make_wheel_installs_offline_and_imports(python: str, wheelhouse: Path) -> None:
    options = InstallOptions(find_links=(str(wheelhouse),), no_index=True, binary_only=True)
    with installed(Path(python), requirement("uses-old"), options) as venv_python:
        done = subprocess.run(
            [
                str(venv_python),
                "-c",
                "import usesold._fast as f, oldsingle, importlib.metadata as m; "
                "print(f.answer, m.version('uses-old'), m.requires('uses-old'))",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(None, 2) == ["42", "0.3", "['old-single']\n"]


def test_make_wheel_record_hashes_match(wheelhouse: Path) -> None:
    (built,) = wheelhouse.glob("uses_old-0.3-cp313-cp313-*.whl")
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
        record = archive.read("uses_old-0.3.dist-info/RECORD").decode().splitlines()
        listed = set()
        for line in record:
            path, digest, size = line.rsplit(",", 2)
            listed.add(path)
            if path.endswith("RECORD"):
                assert (digest, size) == ("", "")
                continue
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode()
            assert int(size) == len(data)
        wheel_meta = archive.read("uses_old-0.3.dist-info/WHEEL").decode()
    assert listed == names
    assert any(n.startswith("usesold/_fast.cpython-313") for n in names), names
    assert "\nTag: cp313-cp313-linux_" in wheel_meta
