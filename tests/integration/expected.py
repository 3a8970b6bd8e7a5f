"""What each fixture of tests/fixtures/ext/ must produce, probe by probe (3.12 and 3.13 alike).

Read with tests/fixtures/ext/README.md, which explains each behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SUB_PROBES = (
    "legacy",
    "isolated",
    "own_gil",
    "legacy_after_main",
    "isolated_after_main",
    "own_gil_after_main",
)
FRESH = ("legacy", "isolated", "own_gil")

ICD = (
    "Interpreter change detected - this module can only be loaded into one interpreter per process."
)


def refused(name: str) -> str:
    """CPython's only refusal text (Python/import.c)."""
    return f"module {name} does not support loading in subinterpreters"


@dataclass(frozen=True)
class P:
    """Expected probe result.  Fields left None are not checked."""

    outcome: str
    message: str | None = None
    exception: str | None = None  # the exception's type name
    main_after: str | None = None  # outcome of main's import after a fresh probe
    main_after_message: str | None = None
    signal: str | None = None
    exit_code: int | None = None
    stage: str | None = None
    import_outcome: str | None = None  # for a crash or hang after the import had returned


OK_FRESH = P("ok", main_after="ok")
OK = P("ok")


def ok_everywhere() -> dict[str, P]:
    return {p: (OK_FRESH if p in FRESH else OK) for p in SUB_PROBES}


def refused_in(
    kinds: tuple[str, ...], name: str, first_load_name: str | None = None
) -> dict[str, P]:
    """ok in the other kinds; refused in `kinds` (fresh: by `first_load_name`, if it differs)."""
    probes = ok_everywhere()
    for kind in kinds:
        probes[kind] = P("import_error", refused(first_load_name or name), main_after="ok")
        probes[f"{kind}_after_main"] = P("import_error", refused(name))
    return probes


def crashing(**fields: object) -> dict[str, P]:
    return {p: P("crash", **fields) for p in SUB_PROBES}  # type: ignore[arg-type]


# A reason as (code, blamed module, guard): the module of a "blocked_by" reason, and the
# library guard ("cython", ...) when a dependency's guard refused rather than CPython.
R = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class Expect:
    verdict: str
    style: str
    multiple_interpreters: str | None
    m_size: int | None
    probes: dict[str, P]
    reasons: frozenset[str] = field(default_factory=frozenset)
    blocked_by: str | None = None  # every blocked_by reason names this module
    toolkit: str = "c"  # auditor/static/binding.py's fingerprint of the file
    exact: tuple[R, ...] | None = None  # the reasons, in report order, when given
    export: str = "PyInit"  # the init function CPython uses


def guard_blocked(message: str, first: str = "interp_guard") -> dict[str, P]:
    """A module that imports interp_guard (Cython's guard, no slot): ok fresh in shared-GIL
    kinds, then main fails with `message`; fails so after main too; CPython refuses `first`
    (interp_guard, or the module itself if it has no slot) with an own GIL."""
    return {
        "legacy": P("ok", main_after="import_error", main_after_message=message),
        "isolated": P("ok", main_after="import_error", main_after_message=message),
        "own_gil": P("import_error", refused(first), main_after="ok"),
        "legacy_after_main": P("import_error", message),
        "isolated_after_main": P("import_error", message),
        "own_gil_after_main": P("import_error", refused(first)),
    }


SUBCLASS_REFUSAL = "import_error_subclass: refusing to load outside the main interpreter"


CATALOGUE: dict[str, Expect] = {
    "singlephase_basic": Expect(
        "legacy_only",
        "single_phase",
        None,
        -1,
        refused_in(("isolated", "own_gil"), "singlephase_basic"),
        frozenset({"single_phase_init", "refused_by_cpython"}),
    ),
    # PyModExport only from 3.15 (see SINCE); before, CPython uses its single-phase PyInit.
    "export_hook": Expect(
        "legacy_only",
        "single_phase",
        None,
        -1,
        refused_in(("isolated", "own_gil"), "export_hook"),
        frozenset({"single_phase_init", "refused_by_cpython"}),
    ),
    # The 3.12 limited API: old slot numbers on 3.15.
    "limited_api": Expect("own_gil", "multi_phase", "per_interpreter_gil", 0, ok_everywhere()),
    "singlephase_reinit": Expect(
        "legacy_only",
        "single_phase",
        None,
        0,
        refused_in(("isolated", "own_gil"), "singlephase_reinit"),
        frozenset({"single_phase_init", "refused_by_cpython"}),
    ),
    "multiphase_no_slot": Expect(
        "shared_gil",
        "multi_phase",
        None,
        0,
        refused_in(("own_gil",), "multiphase_no_slot"),
        frozenset({"no_multi_interp_slot", "refused_by_cpython"}),
    ),
    "multiphase_not_supported": Expect(
        "legacy_only",
        "multi_phase",
        "not_supported",
        0,
        refused_in(("isolated", "own_gil"), "multiphase_not_supported"),
        frozenset({"declares_not_supported", "refused_by_cpython"}),
    ),
    "multiphase_shared_gil": Expect(
        "shared_gil",
        "multi_phase",
        "supported",
        0,
        refused_in(("own_gil",), "multiphase_shared_gil"),
        frozenset({"declares_shared_gil", "refused_by_cpython"}),
    ),
    # Deadlocks only when two shared-GIL interpreters import it at once (test_depth.py).
    "once_holds_gil": Expect(
        "shared_gil",
        "multi_phase",
        "supported",
        0,
        refused_in(("own_gil",), "once_holds_gil"),
        frozenset({"declares_shared_gil", "refused_by_cpython"}),
    ),
    "multiphase_own_gil": Expect(
        "own_gil",
        "multi_phase",
        "per_interpreter_gil",
        None,
        ok_everywhere(),
    ),
    "exec_raises": Expect(
        "broken",
        "multi_phase",
        "per_interpreter_gil",
        0,
        {p: P("not_run") for p in SUB_PROBES},
        frozenset({"main_import_failed"}),
    ),
    "interp_guard": Expect(
        "one_interpreter",
        "multi_phase",
        None,
        0,
        {
            "legacy": P("ok", main_after="import_error", main_after_message=ICD),
            "isolated": P("ok", main_after="import_error", main_after_message=ICD),
            "own_gil": P("import_error", refused("interp_guard"), main_after="ok"),
            "legacy_after_main": P("import_error", ICD),
            "isolated_after_main": P("import_error", ICD),
            "own_gil_after_main": P("import_error", refused("interp_guard")),
        },
        frozenset(
            {
                "no_multi_interp_slot",
                "binding_refusal",
                "refused_by_cpython",
                "declared_vs_observed",
            }
        ),
        toolkit="cython",  # it carries Cython's guard text on purpose
    ),
    "segv_in_subinterp": Expect(
        "crashes",
        "multi_phase",
        "per_interpreter_gil",
        0,
        crashing(signal="SIGSEGV", stage="import"),
        frozenset({"crash"}),
    ),
    "abort_at_end": Expect(
        "crashes",
        "multi_phase",
        "per_interpreter_gil",
        0,
        crashing(signal="SIGABRT", stage="interpreter_end", import_outcome="ok"),
        frozenset({"crash"}),
    ),
    "exits_in_subinterp": Expect(
        "crashes",
        "multi_phase",
        "per_interpreter_gil",
        0,
        crashing(exit_code=3, stage="import"),
        frozenset({"crash"}),
    ),
    "hangs_in_subinterp": Expect(
        "hangs",
        "multi_phase",
        "per_interpreter_gil",
        0,
        {p: P("timeout", stage="import") for p in SUB_PROBES},
        frozenset({"timeout"}),
    ),
    "leaves_thread": Expect(
        "hangs",
        "multi_phase",
        "per_interpreter_gil",
        0,
        {p: P("timeout", stage="interpreter_end", import_outcome="ok") for p in SUB_PROBES},
        frozenset({"timeout"}),
    ),
    "forks_on_import": Expect(
        "own_gil",
        "multi_phase",
        "per_interpreter_gil",
        0,
        ok_everywhere(),
    ),
    "stdout_flood": Expect(
        "own_gil",
        "multi_phase",
        "per_interpreter_gil",
        0,
        ok_everywhere(),
    ),
    "blockpkg._core": Expect(
        "legacy_only",
        "single_phase",
        None,
        -1,
        refused_in(("isolated", "own_gil"), "blockpkg._core", first_load_name="_core"),
        frozenset({"single_phase_init", "refused_by_cpython"}),
    ),
    "blockpkg._accel": Expect(
        "legacy_only",
        "multi_phase",
        "per_interpreter_gil",
        0,
        refused_in(("isolated", "own_gil"), "blockpkg._core", first_load_name="_core"),
        frozenset({"blocked_by"}),
        blocked_by="blockpkg._core",
        exact=(("blocked_by", "blockpkg._core", None),),
    ),
    # Discovery: a package whose __init__ is an extension module is that package (mypyc).
    "pkginit": Expect(
        "legacy_only",
        "single_phase",
        None,
        -1,
        refused_in(("isolated", "own_gil"), "pkginit"),
        frozenset({"single_phase_init", "refused_by_cpython"}),
        exact=(("single_phase_init", None, None), ("refused_by_cpython", None, None)),
    ),
    "pkginit.nested": Expect(
        "legacy_only",
        "multi_phase",
        "per_interpreter_gil",
        0,
        refused_in(("isolated", "own_gil"), "pkginit"),
        frozenset({"blocked_by"}),
        blocked_by="pkginit",
        exact=(("blocked_by", "pkginit", None),),
    ),
    # Discovery: a module named as C code imports it, no identifier (mypyc's runtime).
    "00fixture__mypyc": Expect(
        "legacy_only",
        "single_phase",
        None,
        -1,
        refused_in(("isolated", "own_gil"), "00fixture__mypyc"),
        frozenset({"single_phase_init", "refused_by_cpython"}),
        toolkit="mypyc",
        exact=(("single_phase_init", None, None), ("refused_by_cpython", None, None)),
    ),
    "mypyc_shim": Expect(
        "legacy_only",
        "multi_phase",
        "per_interpreter_gil",
        0,
        refused_in(("isolated", "own_gil"), "00fixture__mypyc"),
        frozenset({"blocked_by"}),
        blocked_by="00fixture__mypyc",
        toolkit="mypyc",  # it names "00fixture__mypyc", as mypyc's shims name "<hash>__mypyc"
        exact=(("blocked_by", "00fixture__mypyc", None),),
    ),
    # Blame: "module _speedups" on pb's first load is not pa._speedups (multi-phase modules
    # are refused by their full name).
    "pa._speedups": Expect(
        "legacy_only",
        "multi_phase",
        "per_interpreter_gil",
        0,
        refused_in(("isolated", "own_gil"), "pb._speedups", first_load_name="_speedups"),
        frozenset({"blocked_by"}),
        blocked_by="pb._speedups",
        exact=(("blocked_by", "pb._speedups", None),),
    ),
    "pb._speedups": Expect(
        "legacy_only",
        "single_phase",
        None,
        -1,
        refused_in(("isolated", "own_gil"), "pb._speedups", first_load_name="_speedups"),
        frozenset({"single_phase_init", "refused_by_cpython"}),
        exact=(("single_phase_init", None, None), ("refused_by_cpython", None, None)),
    ),
    # Blame: a dependency's guard is the dependency's.  guard_user cannot raise Cython's
    # guard (no create slot, a per-interpreter-GIL slot); CPython names interp_guard in its
    # own-GIL probes.
    "guard_user": Expect(
        "one_interpreter",
        "multi_phase",
        "per_interpreter_gil",
        0,
        guard_blocked(ICD),
        frozenset({"blocked_by"}),
        blocked_by="interp_guard",
        exact=(("blocked_by", "interp_guard", "cython"), ("blocked_by", "interp_guard", None)),
    ),
    # guard_wrapped re-raises the guard as "interp_guard failed to import": named.
    "guard_wrapped": Expect(
        "one_interpreter",
        "multi_phase",
        None,
        0,
        guard_blocked("interp_guard failed to import", first="guard_wrapped"),
        frozenset({"blocked_by", "no_multi_interp_slot", "refused_by_cpython"}),
        blocked_by="interp_guard",
        exact=(
            ("blocked_by", "interp_guard", "cython"),
            ("no_multi_interp_slot", None, None),
            ("refused_by_cpython", None, None),
        ),
    ),
    # An ImportError subclass is an import refusal (isinstance), in every interpreter.
    "import_error_subclass": Expect(
        "unsupported",
        "multi_phase",
        "per_interpreter_gil",
        0,
        {
            p: P(
                "import_error",
                SUBCLASS_REFUSAL,
                exception="MyImportError",
                main_after="ok" if p in FRESH else None,
            )
            for p in SUB_PROBES
        },
        frozenset({"subinterpreter_import_error", "declared_vs_observed"}),
        exact=(
            ("subinterpreter_import_error", None, None),
            ("declared_vs_observed", None, None),
        ),
    ),
}

NON_EXTENSIONS = ("not_an_extension",)


# Fixtures whose expectation changes from a target version on: (major, minor) -> name -> Expect.
SINCE: dict[tuple[int, int], dict[str, Expect]] = {
    (3, 15): {
        "export_hook": Expect(
            "own_gil",
            "multi_phase",
            "per_interpreter_gil",
            None,
            ok_everywhere(),
            export="PyModExport",
        ),
    },
}


def expectation(version: str, name: str) -> Expect:
    """What `name` must produce on a target of `version` ("3.15.0rc1")."""
    major, minor = (int(part) for part in version.split(".")[:2])
    found = CATALOGUE[name]
    for since, overrides in sorted(SINCE.items()):
        if (major, minor) >= since and name in overrides:
            found = overrides[name]
    return found
