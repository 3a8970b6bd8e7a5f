"""Read an extension's shared object, without loading it: its binding generator and C-API hints."""

from __future__ import annotations

import re

from auditor.model import Binding, StaticHint, StaticInfo
from auditor.static.elf import ElfView, Image, Symbols, read_elf

# Fingerprints, verified on the wheels of research §4/§5 (subinterp-tech.md) and on the venv of
# tests/integration/test_binding_real.py.  Strings are searched (bytes.find on the mapped file)
# in the read-only data (.rodata and kin) and .data; rustc's note in .comment; the symbol names
# of an unstripped object in the raw bytes of .strtab.  The file is never loaded or executed.

# PyO3, src/impl_/pymodule.rs: the guard that refuses a second interpreter (PyO3 issue #576),
# "PyO3 modules do not yet support subinterpreters, see https://github.com/PyO3/pyo3/issues/576",
# or before 3.9 "PyO3 modules compiled for CPython 3.8 or older may only be initialized once per
# interpreter process".  Decisive: only PyO3's module machinery carries it.
PYO3_GUARD = b"PyO3 modules "
PYO3_GUARD_TEXT = re.compile(
    rb"PyO3 modules (do not yet support subinterpreters|compiled for CPython 3\.8 or older)"
)
# The panic locations of the pyo3 crate, with its version: ".../pyo3-0.30.1/src/...".
PYO3_PATH = b"/pyo3-0."
PYO3_PATH_VERSION = re.compile(rb"/pyo3-(\d+\.\d+\.\d+)")
# pyo3::impl_::pymodule, as legacy (_ZN4pyo35impl_8pymodule...) and v0 Rust mangling spell it.
PYO3_MANGLED = b"4pyo35impl_8pymodule"
# Raw bindings: the pyo3-ffi crate (isojson: _ZN8pyo3_ffi... in .symtab, no PyO3 guard).  Its
# items are mostly declarations, so a stripped module may keep no trace of it (orjson).
PYO3_FFI_MANGLED = b"8pyo3_ffi"
PYO3_FFI_PATH = b"/pyo3-ffi-"
PYO3_FFI_PATH_VERSION = re.compile(rb"/pyo3-ffi-(\d+\.\d+\.\d+)")
# Rust itself: rustc's note in .comment, panic paths into the standard library and the cargo
# registry.  A Rust extension without PyO3's machinery is classified "pyo3-ffi".
RUSTC_COMMENT = b"rustc version "
RUST_STRINGS = (b"/rustc/", b"/.cargo/registry/")

# Cython: the create slot's guard (__Pyx_check_single_interpreter, Cython >= 0.29) and the name
# of its runtime module.  Most Cython modules export __pyx_module_is_main_<dotted name, . as __>
# (not those built with -fvisibility=hidden: numpy.random, scipy).  The version comes from
# CYTHON_ABI in the names of its shared types ("_cython_3_2_9.cython_function_or_method"; 0.29
# spells "_cython_0_29_37"); modules that use a shared utility module (Cython 3.1+, scipy's
# _cyutility) have none.
CYTHON_STRINGS = (b"Interpreter change detected", b"cython_runtime")
CYTHON_ABI = (b"_cython_3_", b"_cython_0_")
CYTHON_ABI_VERSION = re.compile(rb"_cython_(\d+(?:_\d+)+)")
CYTHON_EXPORT = "__pyx_module_is_main_"
# Weak: a module that only *uses* a Cython module's C API (pyarrow's libarrow_python) has it too.
CYTHON_WEAK = (b"__pyx_capi__",)

# pybind11, detail/internals.h: PYBIND11_INTERNALS_ID "__pybind11_internals_v<N>_<platform>__".
# N is a single digit in 2.x (4, 5), 11 in scipy 1.18's pybind11 3.0 modules and 12 in the
# pybind11 3.1.0 headers; since N does not map to releases one to one, the major version is
# decided by what is observable: 3.x is multi-phase (PYBIND11_MODULE -> PyModuleDef_Init), 2.x
# is single-phase (PyModule_Create -> PyModule_Create2).  pybind11 3's embed code may link
# PyModule_Create2 too, so PyModuleDef_Init wins.
PYBIND11_INTERNALS = b"__pybind11_internals_v"
PYBIND11_INTERNALS_VERSION = re.compile(rb"__pybind11_internals_v(\d+)")
PYBIND11_STRINGS = (b"pybind11::",)
PYBIND11_EXTRA = (b"_pybind11_conduit_v1_",)

# nanobind 3.1, src/nb_internals.cpp: the internals key format, its type names
# ("nanobind.nb_func", "nanobind.nb_method", ...) and its error messages ("nanobind::detail::").
NANOBIND_STRINGS = (b"__nb_internals_", b"nanobind.nb_", b"nanobind::")

# mypyc: the shared group library is the module "<group>__mypyc" (mypyc/common.py
# shared_lib_name; the group is a 20-digit hex hash, often not an identifier) and exports
# PyInit_<group>__mypyc and CPyInit_<module>; the per-module shims import "<group>__mypyc" by
# name (mypyc/lib-rt/module_shim.tmpl); CPyStatics is its table of constants.
MYPYC_EXPORT = "CPyInit_"
MYPYC_RUNTIME_EXPORT = re.compile(r"PyInit_\w+__mypyc")
MYPYC_STRINGS = (b"__mypyc",)
MYPYC_MANGLED = b"CPyStatics"

# SWIG, Lib/python/pyrun.swg: the runtime capsule and the wrapper type.
SWIG_STRINGS = (b"swig_runtime_data", b"SwigPyObject")

# cffi, cffi/_cffi_include.h: an out-of-line module imports _cffi_backend and calls
# _init_cffi_1_0_external_module on it.  _cffi_pypyinit_<name> is exported on PyPy builds only.
# _cffi_backend (exports PyInit__cffi_backend) is the hand-written C runtime itself: never "cffi".
CFFI_STRINGS = (b"_init_cffi_1_0_external_module",)
CFFI_WEAK = (b"_cffi_backend",)
CFFI_EXPORT = "_cffi_pypyinit_"
CFFI_RUNTIME_EXPORT = "PyInit__cffi_backend"

# f2py, numpy/f2py/src/fortranobject.c: its source name (in its error messages,
# "fortranobject.c:get_elsize") and the Fortran object type.
F2PY_STRINGS = (b"fortranobject",)
F2PY_EXTRA = (b"PyFortran",)

# HPy: the universal-ABI entry point next to the generated PyInit_.
HPY_EXPORT = "HPyInit_"

# C++: the C++ runtime as a dependency, or Itanium-mangled names (_Z...) in the dynamic table.
CXX_RUNTIMES = ("libstdc++", "libc++")

# Research §6: imported C-API symbols that bear on subinterpreter support, with one line for a
# maintainer.  Hints only: the init probe reads the real def.
RED_FLAGS: dict[str, str] = {
    "PyModule_Create2": "single-phase init (PyModule_Create): isolated subinterpreters refuse it"
    " (also linked by some multi-phase code; the init probe decides)",
    "PyState_FindModule": "single-phase module-state lookup; unusable with multi-phase init",
    "PyState_AddModule": "single-phase module registration; unusable with multi-phase init",
    "PyState_RemoveModule": "single-phase module registration; unusable with multi-phase init",
    "PyType_Ready": "readies static types, which every interpreter shares (weak: Cython 3 and"
    " many heap-type modules still import it)",
    "PyGILState_Ensure": "GILState API: attaches foreign threads to the main interpreter,"
    " not to the subinterpreter that owns the module",
    "PyGILState_Release": "GILState API: pairs with PyGILState_Ensure (main interpreter only)",
    "PyGILState_GetThisThreadState": "GILState API: finds the thread state of the main"
    " interpreter only",
    "PyCapsule_Import": "uses another module's C API through a capsule: that module must work"
    " in subinterpreters too, and its pointers may be shared",
    "Py_AtExit": "process-global exit hook, run by the main interpreter only",
    "PyOS_setsig": "installs a process-wide signal handler; only the main interpreter gets signals",
    "PyOS_getsig": "reads process-wide signal handlers; only the main interpreter gets signals",
    "PyEval_InitThreads": "pre-3.7 GIL set-up: old glue, likely never audited for isolation",
    "PyThreadState_SetAsyncExc": "raises in other threads by thread id: assumes one interpreter",
    "_PyImport_FixupExtensionObject": "private single-phase import machinery",
    "Py_InitModule4": "Python 2 module init",
    "Py_InitModule4_64": "Python 2 module init",
}
GOOD_SIGNS: dict[str, str] = {
    "PyModuleDef_Init": "multi-phase init (PEP 489), which isolated subinterpreters require",
    "PyModule_FromDefAndSpec2": "creates modules from a def and spec (multi-phase)",
    "PyModule_ExecDef": "runs a def's exec slots (multi-phase)",
    "PyModule_GetState": "per-module state (m_size) instead of C globals",
    "PyType_FromModuleAndSpec": "heap types bound to their module: one set per interpreter",
    "PyType_FromMetaclass": "heap types (3.12+): one set per interpreter",
    "PyType_GetModuleByDef": "finds module state from a heap type's methods",
    "PyType_GetModule": "finds the module of a heap type",
    "PyType_GetModuleState": "finds module state from a heap type",
    "PyModule_AddType": "adds types to the module object, not to C globals",
    "PyModule_GetToken": "PEP 793 module token (3.15)",
    "PyType_GetModuleByToken": "PEP 793 module token lookup (3.15)",
}
# Neither good nor bad: what the symbol means depends on what the module does with it.
NOTES: dict[str, str] = {
    "PyInterpreterState_GetID": "knows which interpreter runs it: Cython's and PyO3's"
    " one-interpreter guards compare it with the first interpreter's, and modules that keep"
    " per-interpreter state use it to tell interpreters apart",
}
# The one hint that is an export: the PEP 793 (3.15) hook, listed with the good signs of §6.
MODEXPORT_PREFIX = "PyModExport_"
MODEXPORT_MEANING = "PEP 793 export hook (3.15): slots-based multi-phase init"

_EVIDENCE_CHARS = 60


def inspect_binary(path: str) -> StaticInfo | None:
    """The binding and C-API hints of an ELF shared object; None if it is not a readable ELF."""
    return read_elf(path, _static_info)


def _static_info(elf: ElfView) -> StaticInfo:
    symbols = elf.symbols
    return StaticInfo(
        binding=_binding(elf.image, symbols, elf.needed),
        hints=_hints(symbols),
        imports_python_api=any(name.startswith(("Py", "_Py")) for name in symbols.imports),
    )


def _quote(text: str) -> str:
    if len(text) > _EVIDENCE_CHARS:
        text = text[: _EVIDENCE_CHARS - 1] + "…"
    return f"string '{text}'"


def _version(text: str | None, pattern: re.Pattern[bytes]) -> str | None:
    match = pattern.match(text.encode("latin-1")) if text is not None else None
    return match.group(1).decode() if match else None


def _binding(image: Image, symbols: Symbols, needed: tuple[str, ...]) -> Binding:
    """The first toolkit whose fingerprint matches, in an order that settles the overlaps.

    Each toolkit is decided by few needles; the others (versions, more evidence) are only
    searched once it matched, so that a plain C module costs as few scans as possible.
    """
    imports, exports = symbols.imports, symbols.exports

    # PyO3 first: its modules may carry cffi's strings too (cryptography's _rust).
    guard = image.find(PYO3_GUARD, PYO3_GUARD_TEXT)
    path = image.find(PYO3_PATH, PYO3_PATH_VERSION)
    if guard or path or image.has_name(PYO3_MANGLED):
        evidence = [_quote(text) for text in (guard, path and path.lstrip("/")) if text]
        if not guard and not path:
            evidence.append("symbol-table name '*4pyo35impl_8pymodule*'")
        return Binding("pyo3", _version(path, PYO3_PATH_VERSION), tuple(evidence))

    main = sorted(name for name in exports if name.startswith(CYTHON_EXPORT))
    found = image.find_any(CYTHON_STRINGS)
    if main or found:
        abi = image.find_any(CYTHON_ABI)
        evidence = [f"symbol {name}" for name in main[:1]]
        evidence += [_quote(text) for text in [*found, *abi[:1], *image.find_any(CYTHON_WEAK)]]
        version = _version(abi[0], CYTHON_ABI_VERSION) if abi else None
        return Binding("cython", version and version.replace("_", "."), tuple(evidence))

    internals = image.find(PYBIND11_INTERNALS)
    found = image.find_any(PYBIND11_STRINGS)
    if internals or found:
        texts = [*([internals] if internals else []), *found, *image.find_any(PYBIND11_EXTRA)]
        return _pybind11(imports, internals, [_quote(text) for text in texts])

    for toolkit, needles in (("nanobind", NANOBIND_STRINGS), ("swig", SWIG_STRINGS)):
        found = image.find_any(needles)
        if found:
            return Binding(toolkit, None, tuple(_quote(text) for text in found))

    group_lib = sorted(name for name in exports if MYPYC_RUNTIME_EXPORT.fullmatch(name))
    cpyinit = sorted(name for name in exports if name.startswith(MYPYC_EXPORT))
    found = image.find_any(MYPYC_STRINGS)
    if group_lib or cpyinit or found or image.has_name(MYPYC_MANGLED):
        evidence = [f"symbol {name} (mypyc's shared runtime)" for name in group_lib[:1]]
        evidence += [f"symbol {name}" for name in cpyinit[:1]] + [_quote(t) for t in found]
        return Binding("mypyc", None, tuple(evidence or ["symbol-table name 'CPyStatics'"]))

    found = image.find_any(F2PY_STRINGS)
    if found:
        found += image.find_any(F2PY_EXTRA)
        return Binding("f2py", None, tuple(_quote(text) for text in found))

    hpy = sorted(name for name in exports if name.startswith(HPY_EXPORT))
    if hpy:
        return Binding("hpy", None, tuple(f"symbol {name}" for name in hpy[:1]))

    runtime = CFFI_RUNTIME_EXPORT in exports
    pypyinit = sorted(name for name in exports if name.startswith(CFFI_EXPORT))
    found = [] if runtime else image.find_any(CFFI_STRINGS)
    if found or (pypyinit and not runtime):
        evidence = [f"symbol {name}" for name in pypyinit[:1]]
        evidence += [_quote(text) for text in found + image.find_any(CFFI_WEAK)]
        return Binding("cffi", None, tuple(evidence))

    rustc = image.find(RUSTC_COMMENT, regions=[image.comment])
    rust = image.find_any(RUST_STRINGS)
    ffi_path = image.find(PYO3_FFI_PATH, PYO3_FFI_PATH_VERSION)
    ffi_mangled = image.has_name(PYO3_FFI_MANGLED)
    if rustc or rust or ffi_path or ffi_mangled:
        evidence = ["symbol-table name '*8pyo3_ffi*'"] if ffi_mangled else []
        if ffi_path:
            evidence.append(_quote(ffi_path.lstrip("/")))
        if rustc:
            evidence.append(f".comment '{rustc}'")
        evidence += [_quote(text) for text in rust[:1]]
        evidence.append("Rust without PyO3's module machinery (no guard string, no pyo3 crate)")
        return Binding("pyo3-ffi", _version(ffi_path, PYO3_FFI_PATH_VERSION), tuple(evidence))

    note = ("exports PyInit__cffi_backend: the cffi runtime itself",) if runtime else ()
    runtimes = [lib for lib in needed if lib.startswith(CXX_RUNTIMES)]
    mangled = sum(1 for name in imports | exports if name.startswith("_Z"))
    if runtimes or mangled:
        evidence = [f"needs {lib}" for lib in runtimes]
        if mangled:
            evidence.append(f"{mangled} C++-mangled dynamic symbols")
        return Binding("c++", None, (*note, *evidence))
    if any(name.startswith(("Py", "_Py")) for name in imports) or any(
        name.startswith(("PyInit_", MODEXPORT_PREFIX)) for name in exports
    ):
        return Binding("c", None, (*note, "Python C API, no generator or C++ fingerprint"))
    return Binding("unknown", None, ("no Python C-API imports, no PyInit_ export",))


def _pybind11(imports: frozenset[str], internals: str | None, evidence: list[str]) -> Binding:
    """pybind11, with its major version from the init style and the internals version."""
    major = None
    if "PyModuleDef_Init" in imports:
        major = "3.x"
        evidence.append("imports PyModuleDef_Init (multi-phase: pybind11 3)")
    elif "PyModule_Create2" in imports:
        major = "2.x"
        evidence.append("imports PyModule_Create2 (single-phase: pybind11 2)")
    number = _version(internals, PYBIND11_INTERNALS_VERSION)
    internals_v = f"internals v{number}" if number else None
    version = f"{major} ({internals_v})" if major and internals_v else major or internals_v
    return Binding("pybind11", version, tuple(evidence))


def _hints(symbols: Symbols) -> tuple[StaticHint, ...]:
    hints = [
        StaticHint(name, "red_flag", meaning)
        for name, meaning in RED_FLAGS.items()
        if name in symbols.imports
    ]
    hints += [
        StaticHint(name, "good_sign", meaning)
        for name, meaning in GOOD_SIGNS.items()
        if name in symbols.imports
    ]
    hints += [
        StaticHint(name, "note", meaning)
        for name, meaning in NOTES.items()
        if name in symbols.imports
    ]
    hints += [
        StaticHint(name, "good_sign", MODEXPORT_MEANING)
        for name in sorted(symbols.exports)
        if name.startswith(MODEXPORT_PREFIX)
    ]
    return tuple(hints)
