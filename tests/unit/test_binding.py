"""auditor.static.binding on tiny shared objects compiled here: fingerprints, evidence and hints."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.model import TOOLKITS, StaticInfo
from auditor.static.binding import inspect_binary

GUARD_CYTHON = (
    "Interpreter change detected - this module can only be loaded into one interpreter per process."
)
GUARD_PYO3 = (
    "PyO3 modules do not yet support subinterpreters, see https://github.com/PyO3/pyo3/issues/576"
)
PYBIND11_V11 = "__pybind11_internals_v11_system_libstdcpp_gxx_abi_1xxx_use_cxx11_abi_1__"


@dataclass(frozen=True)
class Source:
    """A shared object to compile: the strings it keeps, the symbols it imports and defines."""

    strings: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    exports: tuple[str, ...] = ("PyInit_x",)
    local_names: tuple[str, ...] = ()  # .symtab only (hidden), e.g. Rust-mangled names
    comment: str | None = None  # a line in .comment, as rustc adds one
    cxx: bool = False

    def text(self) -> str:
        c = 'extern "C" ' if self.cxx else ""
        lines = ["#include <vector>", "std::vector<int> keep_(3);"] if self.cxx else []
        lines += [f"{c}void {name}(void);" for name in self.imports]
        lines.append(f"{c}void touch_imports_(void) {{")
        lines += [f"    {name}();" for name in self.imports]
        lines.append("}")
        strings = ", ".join(f'"{text}"' for text in self.strings)
        lines.append(
            f"{c}const char *const kept_strings_[] = {{{strings}{', ' if strings else ''}0}};"
        )
        lines += [f"{c}int {name} = 1;" for name in self.exports]
        lines += [
            f'__attribute__((visibility("hidden"))) int local_{i}_ __asm__("{name}") = 1;'
            for i, name in enumerate(self.local_names)
        ]
        if self.comment:
            lines.append(
                f'__asm__(".section .comment\\n.string \\"{self.comment}\\"\\n.previous");'
            )
        return "\n".join(lines) + "\n"


def build(tmp_path: Path, source: Source, name: str = "x") -> Path:
    compiler = shutil.which("g++" if source.cxx else "gcc")
    if compiler is None:
        pytest.skip(f"{'g++' if source.cxx else 'gcc'} is not installed: cannot compile fixtures")
    src = tmp_path / (f"{name}.cpp" if source.cxx else f"{name}.c")
    src.write_text(source.text())
    out = tmp_path / f"{name}.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(out), str(src)], check=True)
    return out


def inspect(tmp_path: Path, source: Source) -> StaticInfo:
    info = inspect_binary(str(build(tmp_path, source)))
    assert info is not None
    assert info.binding.toolkit in TOOLKITS
    return info


# (id, source, toolkit, version, a fragment of the evidence)
CASES = [
    ("c-single-phase", Source(imports=("PyModule_Create2",)), "c", None, "Python C API"),
    ("c++", Source(imports=("PyModuleDef_Init",), cxx=True), "c++", None, "needs libstdc++"),
    (
        "cython",
        Source(
            strings=(GUARD_CYTHON, "cython_runtime", "_cython_3_1_4.cython_function_or_method"),
            imports=("PyModuleDef_Init",),
            exports=("PyInit_mod", "__pyx_module_is_main_pkg__mod"),
        ),
        "cython",
        "3.1.4",
        "symbol __pyx_module_is_main_pkg__mod",
    ),
    (
        "cython-hidden-export",
        Source(strings=(GUARD_CYTHON,)),
        "cython",
        None,
        "string 'Interpreter change detected",
    ),
    (
        "pyo3-with-cffi-strings",
        Source(
            strings=(
                GUARD_PYO3,
                "/root/.cargo/registry/src/index.crates.io-0/pyo3-0.23.4/src/impl_/pymodule.rs",
                "_init_cffi_1_0_external_module",
                "_cffi_backend",
            ),
        ),
        "pyo3",
        "0.23.4",
        "string 'PyO3 modules do not yet support subinterpreters",
    ),
    (
        "pyo3-ffi-mangled",
        Source(
            imports=("PyModuleDef_Init",),
            local_names=("_ZN8pyo3_ffi6object9Py_DECREF17h0123456789abcdefE",),
        ),
        "pyo3-ffi",
        None,
        "symbol-table name '*8pyo3_ffi*'",
    ),
    (
        "pyo3-ffi-path",
        Source(strings=("/cargo/registry/src/x/pyo3-ffi-0.22.6/src/object.rs",)),
        "pyo3-ffi",
        "0.22.6",
        "string 'pyo3-ffi-0.22.6",
    ),
    (
        "rust-only-rustc-comment",
        Source(
            imports=("PyModuleDef_Init",), comment="rustc version 1.80.0 (051478957 2024-07-21)"
        ),
        "pyo3-ffi",
        None,
        ".comment 'rustc version 1.80.0",
    ),
    (
        "pybind11-3",
        Source(
            strings=(PYBIND11_V11, "pybind11::error_already_set"), imports=("PyModuleDef_Init",)
        ),
        "pybind11",
        "3.x (internals v11)",
        "imports PyModuleDef_Init",
    ),
    (
        "pybind11-2",
        Source(
            strings=("__pybind11_internals_v5_gcc_libstdcpp_cxxabi1018__",),
            imports=("PyModule_Create2",),
        ),
        "pybind11",
        "2.x (internals v5)",
        "imports PyModule_Create2",
    ),
    (
        "nanobind",
        Source(strings=("nanobind.nb_func", "__nb_internals_%s_%s__")),
        "nanobind",
        None,
        "nb_",
    ),
    (
        "swig",
        Source(strings=("swig_runtime_data4", "SwigPyObject")),
        "swig",
        None,
        "swig_runtime_data",
    ),
    (
        "mypyc-group",
        Source(exports=("PyInit_ab12__mypyc", "CPyInit_pkg___mod")),
        "mypyc",
        None,
        "CPyInit_",
    ),
    ("mypyc-shim", Source(strings=("ab12__mypyc", "init_pkg___mod")), "mypyc", None, "__mypyc"),
    (
        # The group library by its init function alone (its name: a hash, often starting with
        # a digit, as black's 85cae5375ceb5d1ca6c6__mypyc).
        "mypyc-runtime",
        Source(exports=("PyInit_85cae5375ceb5d1ca6c6__mypyc",)),
        "mypyc",
        None,
        "symbol PyInit_85cae5375ceb5d1ca6c6__mypyc (mypyc's shared runtime)",
    ),
    ("f2py", Source(strings=("fortranobject.c:get_elsize",)), "f2py", None, "fortranobject"),
    ("hpy", Source(exports=("PyInit_x", "HPyInit_x")), "hpy", None, "symbol HPyInit_x"),
    (
        "cffi-out-of-line",
        Source(strings=("_cffi_backend", "_init_cffi_1_0_external_module")),
        "cffi",
        None,
        "_init_cffi_1_0_external_module",
    ),
    (
        "cffi-runtime-is-c",
        Source(strings=("_init_cffi_1_0_external_module",), exports=("PyInit__cffi_backend",)),
        "c",
        None,
        "the cffi runtime itself",
    ),
    (
        "not-python",
        Source(imports=("malloc",), exports=("frobnicate",)),
        "unknown",
        None,
        "no Python",
    ),
]


@pytest.mark.parametrize(
    ("source", "toolkit", "version", "evidence"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_toolkit(
    tmp_path: Path, source: Source, toolkit: str, version: str | None, evidence: str
) -> None:
    binding = inspect(tmp_path, source).binding
    assert (binding.toolkit, binding.version) == (toolkit, version)
    assert any(evidence in item for item in binding.evidence), binding.evidence


def test_single_phase_red_flag(tmp_path: Path) -> None:
    info = inspect(tmp_path, Source(imports=("PyModule_Create2", "PyState_FindModule")))
    assert info.imports_python_api
    assert [(h.symbol, h.kind) for h in info.hints] == [
        ("PyModule_Create2", "red_flag"),
        ("PyState_FindModule", "red_flag"),
    ]
    assert "single-phase" in info.red_flags[0].meaning
    assert info.good_signs == ()


def test_multi_phase_good_signs(tmp_path: Path) -> None:
    imports = (
        "PyModuleDef_Init",
        "PyModule_GetState",
        "PyType_FromModuleAndSpec",
        "PyLong_FromLong",
    )
    info = inspect(tmp_path, Source(imports=imports, exports=("PyInit_x", "PyModExport_x")))
    assert info.red_flags == ()
    assert [h.symbol for h in info.good_signs] == [*imports[:3], "PyModExport_x"]
    assert all(h.meaning for h in info.hints)


def test_defined_symbols_are_not_hints(tmp_path: Path) -> None:
    """A module that defines PyType_Ready or PyGILState_Ensure itself does not import them."""
    info = inspect(tmp_path, Source(exports=("PyInit_x", "PyType_Ready", "PyGILState_Ensure")))
    assert info.hints == ()
    assert not info.imports_python_api


def test_gil_state_and_capsule(tmp_path: Path) -> None:
    imports = ("PyGILState_Ensure", "PyGILState_Release", "PyCapsule_Import", "Py_AtExit")
    info = inspect(tmp_path, Source(imports=imports))
    assert [h.symbol for h in info.red_flags] == list(imports)


def test_interpreter_id_is_a_note_not_a_good_sign(tmp_path: Path) -> None:
    """PyInterpreterState_GetID is how Cython's and PyO3's guards refuse: neither good nor bad."""
    info = inspect(tmp_path, Source(imports=("PyModuleDef_Init", "PyInterpreterState_GetID")))
    assert [h.symbol for h in info.good_signs] == ["PyModuleDef_Init"]
    (note,) = [h for h in info.hints if h.kind == "note"]
    assert note.symbol == "PyInterpreterState_GetID" and "guards" in note.meaning


@pytest.mark.parametrize("content", [b"", b"not an ELF file", b"\x7fELF\x02\x01\x01" + b"\0" * 9])
def test_not_elf(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bogus.so"
    path.write_bytes(content)
    assert inspect_binary(str(path)) is None


def test_truncated_elf(tmp_path: Path) -> None:
    whole = build(tmp_path, Source(imports=("PyModuleDef_Init",))).read_bytes()
    path = tmp_path / "truncated.so"
    path.write_bytes(whole[:200])
    assert inspect_binary(str(path)) is None


def test_missing_file(tmp_path: Path) -> None:
    assert inspect_binary(str(tmp_path / "missing.so")) is None
