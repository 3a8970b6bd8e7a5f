"""auditor.static.binding on real wheels (a developer-machine venv) and the stdlib's lib-dynload."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from auditor.static.binding import inspect_binary
from auditor.static.elf import exported_init_symbols
from tests.conftest import find_target

# A venv of real PyPI wheels on CPython 3.13 (see research §5).  It lives on the developer machine
# only; CI has no such venv, so these tests skip there.
REAL_VENV = Path("/work/venvs/real313")
SITE = REAL_VENV / "lib" / "python3.13" / "site-packages"

# module -> toolkit, checked by hand against the strings and symbols of each file.
EXPECTED = {
    "lxml.etree": "cython",
    "msgpack._cmsgpack": "cython",
    "pyarrow.lib": "cython",
    "pydantic_core._pydantic_core": "pyo3",
    # PyO3 with cffi-generated bindings compiled in: the PyO3 guard wins.
    "cryptography.hazmat.bindings._rust": "pyo3",
    # Raw pyo3_ffi: _ZN8pyo3_ffi... in .symtab, no PyO3 guard.
    "isojson.isojson": "pyo3-ffi",
    # Rust (rustc in .comment), stripped, and no trace of pyo3 or pyo3-ffi: its own C-API calls.
    "orjson.orjson": "pyo3-ffi",
    # Hand-written C with C++ parts (npysort, highway): links libstdc++, exports _Z symbols.
    "numpy._core._multiarray_umath": "c++",
    "markupsafe._speedups": "c",
    # The cffi runtime itself is hand-written C; only the modules cffi generates are "cffi".
    "_cffi_backend": "c",
    "zstandard._cffi": "cffi",
    "zstandard.backend_c": "c",
    "psutil._psutil_linux": "c",
    "greenlet._greenlet": "c++",
    "scipy.spatial._distance_pybind": "pybind11",
    "scipy.optimize._highspy._core": "pybind11",
    "scipy.linalg._flapack": "f2py",
    "scipy.linalg._fblas": "f2py",
    "numpy.random._generator": "cython",
}

needs_venv = pytest.mark.skipif(
    not SITE.is_dir(), reason=f"{REAL_VENV} (a developer-machine venv of real wheels) is missing"
)


def module_file(name: str) -> Path:
    *package, last = name.split(".")
    found = list(SITE.joinpath(*package).glob(f"{last}.*.so"))
    if not found:  # each developer machine's venv holds its own set of packages
        pytest.skip(f"{name} is not installed in {REAL_VENV}")
    (path,) = found
    return path


@needs_venv
@pytest.mark.parametrize(("module", "toolkit"), EXPECTED.items(), ids=list(EXPECTED))
def test_real_module(module: str, toolkit: str) -> None:
    info = inspect_binary(str(module_file(module)))
    assert info is not None
    assert info.binding.toolkit == toolkit, info.binding.evidence
    assert info.imports_python_api


@needs_venv
def test_versions() -> None:
    def version(module: str) -> str | None:
        info = inspect_binary(str(module_file(module)))
        assert info is not None
        return info.binding.version

    assert version("pydantic_core._pydantic_core") == "0.30.1"
    assert version("lxml.etree") == "3.2.9"
    assert version("scipy.spatial._distance_pybind") == "3.x (internals v11)"


@needs_venv
def test_hints_of_real_modules() -> None:
    psutil = inspect_binary(str(module_file("psutil._psutil_linux")))
    markupsafe = inspect_binary(str(module_file("markupsafe._speedups")))
    assert psutil is not None and markupsafe is not None
    assert "PyModule_Create2" in {hint.symbol for hint in psutil.red_flags}
    assert "PyModuleDef_Init" in {hint.symbol for hint in markupsafe.good_signs}
    assert "PyModule_Create2" not in {hint.symbol for hint in markupsafe.hints}


@needs_venv
def test_whole_venv_classified() -> None:
    """Every .so is read and every extension gets a toolkit (bench/static_read.py times it)."""
    counts: dict[str, int] = {}
    for path in sorted(REAL_VENV.rglob("*.so")):
        info = inspect_binary(str(path))
        assert info is not None, path
        if exported_init_symbols(str(path)):
            assert info.binding.toolkit != "unknown", path
        counts[info.binding.toolkit] = counts.get(info.binding.toolkit, 0) + 1
    print(f"toolkits: {dict(sorted(counts.items()))}")


def test_stdlib_lib_dynload_is_c() -> None:
    python = find_target("3.13")
    script = "import sysconfig; print(sysconfig.get_path('platstdlib'))"
    stdlib = Path(subprocess.check_output([python, "-c", script], text=True).strip())
    files = sorted((stdlib / "lib-dynload").glob("*.so"))
    if not files:
        pytest.skip(f"{stdlib}/lib-dynload holds no .so (a static build of Python 3.13?)")
    for path in files:
        info = inspect_binary(str(path))
        assert info is not None, path
        assert info.binding.toolkit == "c", (path, info.binding)
