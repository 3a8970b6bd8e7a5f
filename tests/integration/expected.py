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


@dataclass(frozen=True)
class Expect:
    verdict: str
    style: str
    multiple_interpreters: str | None
    m_size: int | None
    probes: dict[str, P]
    reasons: frozenset[str] = field(default_factory=frozenset)
    blocked_by: str | None = None


CATALOGUE: dict[str, Expect] = {
    "singlephase_basic": Expect(
        "legacy_only",
        "single_phase",
        None,
        -1,
        refused_in(("isolated", "own_gil"), "singlephase_basic"),
        frozenset({"single_phase_init", "refused_by_cpython"}),
    ),
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
    ),
}

NON_EXTENSIONS = ("not_an_extension",)
