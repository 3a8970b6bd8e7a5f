"""classify: probe outcomes -> verdict and reasons (pure; table-driven, no compiler)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from auditor.judging.classify import blamed_module, classify, resolve_module_name, verdict_of
from auditor.model import (
    UNKNOWN_INIT,
    ExtensionModule,
    ImportAttempt,
    InitInfo,
    Outcome,
    ProbeResult,
    Verdict,
)

SUBS = (
    "legacy",
    "isolated",
    "own_gil",
    "legacy_after_main",
    "isolated_after_main",
    "own_gil_after_main",
)
OK = ImportAttempt(Outcome.OK)


def refusal(name: str) -> str:
    return f"module {name} does not support loading in subinterpreters"


def probes(spec: str, main: str = "ok", **messages: str) -> dict[str, ProbeResult]:
    """`spec` is six letters for SUBS: o ok, p ok but main fails after, i ImportError,
    e other error, c crash, t timeout, n not run."""
    outcomes = {
        "o": Outcome.OK,
        "p": Outcome.OK,
        "i": Outcome.IMPORT_ERROR,
        "e": Outcome.ERROR,
        "c": Outcome.CRASH,
        "t": Outcome.TIMEOUT,
        "n": Outcome.NOT_RUN,
    }
    result = {"init": ProbeResult("init", Outcome.OK), "main": ProbeResult("main", Outcome(main))}
    for name, letter in zip(SUBS, spec, strict=True):
        fresh = not name.endswith("_after_main")
        after = None
        if fresh and letter in "op":
            after = (
                OK
                if letter == "o"
                else ImportAttempt(
                    Outcome.IMPORT_ERROR, "ImportError", messages.get("main_after", "guard")
                )
            )
        result[name] = ProbeResult(
            name,
            outcomes[letter],
            exception="ImportError" if letter == "i" else None,
            message=messages.get(name, refusal("m")) if letter in "ie" else None,
            signal="SIGSEGV" if letter == "c" else None,
            stage="import" if letter in "ct" else None,
            main_after=after,
        )
    return result


@pytest.mark.parametrize(
    ("spec", "main", "verdict"),
    [
        ("oooooo", "ok", Verdict.OWN_GIL),
        ("ooiooi", "ok", Verdict.SHARED_GIL),
        ("oiioii", "ok", Verdict.LEGACY_ONLY),
        ("ppiiii", "ok", Verdict.ONE_INTERPRETER),  # Cython: sub first works, main then refused
        ("oooiii", "ok", Verdict.ONE_INTERPRETER),  # loads fresh, refuses after main
        ("iiiiii", "ok", Verdict.UNSUPPORTED),
        ("eeeeee", "ok", Verdict.UNSUPPORTED),
        ("ooocoo", "ok", Verdict.CRASHES),  # any crash wins
        ("otoooo", "ok", Verdict.HANGS),
        ("ctoooo", "ok", Verdict.CRASHES),  # crash outranks hang
        ("nnnnnn", "import_error", Verdict.BROKEN),
        ("nnnnnn", "error", Verdict.BROKEN),
        ("nnnnnn", "crash", Verdict.CRASHES),
        ("nnnnnn", "timeout", Verdict.HANGS),
    ],
    ids=str,
)
def test_verdict_table(spec: str, main: str, verdict: Verdict) -> None:
    assert verdict_of(probes(spec, main)) is verdict


def _module(name: str = "pkg.m") -> ExtensionModule:
    return ExtensionModule(name, f"/x/{name}.so", "unowned", None, "_m", "/x")


def test_single_phase_reasons() -> None:
    verdict, reasons = classify(
        _module("m"), InitInfo("single_phase", m_size=-1), probes("oiioii"), {"m"}
    )
    assert verdict is Verdict.LEGACY_ONLY
    assert [r.code for r in reasons] == ["single_phase_init", "refused_by_cpython"]
    assert reasons[1].probes == ("isolated", "own_gil", "isolated_after_main", "own_gil_after_main")


def test_blocked_by_resolves_short_name_in_same_package() -> None:
    msgs = {k: refusal("_core") for k in ("isolated", "own_gil")}
    msgs |= {k: refusal("pkg._core") for k in ("isolated_after_main", "own_gil_after_main")}
    verdict, reasons = classify(
        _module("pkg.m"),
        InitInfo("multi_phase", multiple_interpreters="per_interpreter_gil"),
        probes("oiioii", **msgs),
        {"pkg.m", "pkg._core", "other._core"},
    )
    assert verdict is Verdict.LEGACY_ONLY
    assert [(r.code, r.module) for r in reasons] == [("blocked_by", "pkg._core")]


def test_binding_refusal_and_declared_vs_observed() -> None:
    icd = (
        "Interpreter change detected - this module can only be loaded into one interpreter "
        "per process."
    )
    verdict, reasons = classify(
        _module(),
        InitInfo("multi_phase"),
        probes(
            "ppiiii",
            legacy_after_main=icd,
            isolated_after_main=icd,
            main_after=icd,
            own_gil=refusal("pkg.m"),
            own_gil_after_main=refusal("pkg.m"),
        ),
        {"pkg.m"},
    )
    assert verdict is Verdict.ONE_INTERPRETER
    codes = [r.code for r in reasons]
    assert codes == [
        "binding_refusal",
        "no_multi_interp_slot",
        "declared_vs_observed",
        "refused_by_cpython",
    ]
    binding = reasons[0]
    assert dict(binding.details) == {"binding": "cython"}
    assert set(binding.probes) == {
        "legacy:main_after",
        "isolated:main_after",
        "legacy_after_main",
        "isolated_after_main",
    }


def test_crash_reasons_merge_probes_with_same_evidence() -> None:
    _, reasons = classify(_module(), InitInfo("multi_phase"), probes("cccooo"), {"pkg.m"})
    (crash,) = [r for r in reasons if r.code == "crash"]
    assert crash.message == (
        "killed by SIGSEGV while importing (probes: legacy, isolated, own_gil)"
    )


def test_broken_stops_at_main() -> None:
    result = probes("nnnnnn", "import_error")
    result["main"] = ProbeResult(
        "main", Outcome.IMPORT_ERROR, "ModuleNotFoundError", "No module named 'objgraph'"
    )
    verdict, reasons = classify(_module(), InitInfo("single_phase"), result, ())
    assert verdict is Verdict.BROKEN
    assert [r.message for r in reasons] == [
        "does not import in the main interpreter: ModuleNotFoundError: No module named 'objgraph'"
    ]


@pytest.mark.parametrize(
    ("blocker_dist", "same", "wording"),
    [
        ("pkg", True, "pkg._core (same distribution)"),
        ("numpy", False, "pkg._core (another distribution)"),
        (None, None, "pkg._core,"),
    ],
)
def test_blocked_by_tells_whether_the_blocker_is_ours(
    blocker_dist: str | None, same: bool | None, wording: str
) -> None:
    msgs = {
        k: refusal("pkg._core")
        for k in ("isolated", "own_gil", "isolated_after_main", "own_gil_after_main")
    }
    _, reasons = classify(
        _module("pkg.m"),
        InitInfo("multi_phase"),
        probes("oiioii", **msgs),
        {"pkg.m": "pkg", "pkg._core": blocker_dist},
    )
    (reason,) = [r for r in reasons if r.code == "blocked_by"]
    assert dict(reason.details) == {"same_distribution": same, "chain": ["pkg.m", "pkg._core"]}
    assert wording in reason.message


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("pkg._core", "pkg._core"),
        ("_core", "pkg._core"),  # same package preferred
        ("_only", "far._only"),  # unique elsewhere
        ("_nowhere", "_nowhere"),  # unknown: as CPython said it
    ],
)
def test_resolve_module_name(reported: str, expected: str) -> None:
    known = {"pkg.m", "pkg._core", "other._core", "far._only"}
    assert resolve_module_name(reported, "pkg.m", known) == expected


def test_short_blocker_name_resolved_from_the_modules_own_messages() -> None:
    """`explain` scans one module: the sibling is unknown, but the after-main message names it."""
    msgs = {
        "isolated": refusal("_core"),
        "own_gil": refusal("_core"),
        "isolated_after_main": refusal("pkg._core"),
        "own_gil_after_main": refusal("pkg._core"),
    }
    _, reasons = classify(
        _module("pkg.m"),
        InitInfo("multi_phase", multiple_interpreters="per_interpreter_gil"),
        probes("oiioii", **msgs),
        {"pkg.m": "pkg"},
    )
    assert [(r.code, r.module) for r in reasons] == [("blocked_by", "pkg._core")]


def test_refusal_hidden_in_the_exception_chain_names_the_blocker() -> None:
    """pandas re-raises numpy's refusal as 'Unable to import required dependency numpy'."""
    result = probes(
        "oiioii",
        isolated="Unable to import required dependency numpy",
        own_gil="Unable to import required dependency numpy",
        isolated_after_main=refusal("pandas._libs.lib"),
        own_gil_after_main=refusal("pandas._libs.lib"),
    )
    chain = "ImportError: " + refusal("numpy._core._multiarray_umath")
    for name in ("isolated", "own_gil"):
        result[name] = replace(result[name], cause=chain)
    _, reasons = classify(
        _module("pandas._libs.lib"),
        InitInfo("multi_phase"),
        result,
        {"pandas._libs.lib": "pandas", "numpy._core._multiarray_umath": "numpy"},
    )
    (blocked,) = [r for r in reasons if r.code == "blocked_by"]
    assert blocked.module == "numpy._core._multiarray_umath"
    assert dict(blocked.details) == {
        "same_distribution": False,
        "chain": ["pandas._libs.lib", "numpy._core._multiarray_umath"],
    }


def test_guard_quoted_from_the_chain() -> None:
    """The wrapper names the dependency whose guard refused: blame it, quoting the guard."""
    result = probes("ppiiii", main_after="Unable to import required dependency numpy")
    for name in ("legacy", "isolated"):
        after = result[name].main_after
        assert after is not None
        result[name] = replace(
            result[name],
            main_after=replace(
                after, cause="ImportError: cannot load module more than once per process"
            ),
        )
    _, reasons = classify(_module("pandas._libs.lib"), InitInfo("multi_phase"), result, ())
    assert not [r for r in reasons if r.code == "binding_refusal"]
    (guard,) = [r for r in reasons if r.code == "blocked_by" and dict(r.details).get("guard")]
    assert guard.module == "numpy"
    assert dict(guard.details) == {
        "guard": "numpy",
        "same_distribution": None,
        "chain": ["pandas._libs.lib", "numpy"],
    }
    assert guard.message == (
        "refused because it imports numpy, which refuses a second interpreter in the same "
        "process (NumPy's once-per-process guard; the error names it): ImportError: cannot "
        "load module more than once per process"
    )


# ---- blame: is it this module, or the one it imports? ----------------------------------------

ICD = (
    "Interpreter change detected - this module can only be loaded into one interpreter per process."
)
PYO3 = (
    "PyO3 modules do not yet support subinterpreters, see https://github.com/PyO3/pyo3/issues/576"
)
NUMPY_GUARD = "cannot load module more than once per process"
NUMPY_WRAPPER = (
    "\n\nIMPORTANT: PLEASE READ THIS FOR ADVICE ON HOW TO SOLVE THIS ISSUE!\n\nImporting the "
    "numpy C-extensions failed. This error can happen for many reasons, often due to issues "
    "with your setup or how NumPy was installed."
)
CLEAN = InitInfo("multi_phase", "PyInit", multiple_interpreters="per_interpreter_gil", slots=(2, 3))
NO_SLOT = InitInfo("multi_phase", "PyInit", slots=(2,))
CYTHON = InitInfo("multi_phase", "PyInit", slots=(1, 2))  # create + exec, no slot: Cython's
SINGLE = InitInfo("single_phase", "PyInit", m_size=-1)
SHORT_THEN_FULL = {  # a single-phase pb._speedups, first loaded in the subinterpreter or not
    "isolated": refusal("_speedups"),
    "own_gil": refusal("_speedups"),
    "isolated_after_main": refusal("pb._speedups"),
    "own_gil_after_main": refusal("pb._speedups"),
}
GUARDED_DEPENDENCY = {  # imports interp_guard (no slot, Cython's guard in its create slot)
    "main_after": ICD,
    "own_gil": refusal("interp_guard"),
    "legacy_after_main": ICD,
    "isolated_after_main": ICD,
    "own_gil_after_main": refusal("interp_guard"),
}


def _with_causes(
    result: dict[str, ProbeResult], cause: str, only: str | None = None
) -> dict[str, ProbeResult]:
    """The failures in `result` (those saying `only`, if given), raised from `cause`."""
    out = {}
    for name, probe in result.items():
        after = probe.main_after
        if after is not None and not after.ok and only in (None, after.message):
            probe = replace(probe, main_after=replace(after, cause=cause))
        failed = probe.outcome in (Outcome.IMPORT_ERROR, Outcome.ERROR)
        if failed and name not in ("init", "main") and only in (None, probe.message):
            probe = replace(probe, cause=cause)
        out[name] = probe
    return out


# (id, probed module, its init, probes, scanned modules, expected (code, module, guard) list)
BLAME = [
    (
        # pa/__init__.py imports the single-phase pb._speedups; pa._speedups itself is clean.
        # Its short name on the first load is pa._speedups's last component, but a multi-phase
        # module is always refused by its full name.
        "sibling-with-the-same-last-name",
        "pa._speedups",
        CLEAN,
        probes("oiioii", **SHORT_THEN_FULL),
        {"pa._speedups", "pb._speedups"},
        [("blocked_by", "pb._speedups", None)],
    ),
    (
        "sibling-not-scanned-named-in-full-after-main",
        "pa._speedups",
        CLEAN,
        probes("oiioii", **SHORT_THEN_FULL),
        {"pa._speedups"},
        [("blocked_by", "pb._speedups", None)],
    ),
    (
        "short-name-never-the-multi-phase-module-itself",
        "pa._speedups",
        CLEAN,
        probes("oiiooo", isolated=refusal("_speedups"), own_gil=refusal("_speedups")),
        {"pa._speedups"},
        [("blocked_by", "_speedups", None)],
    ),
    (
        "single-phase-refused-by-its-short-name",
        "pb._speedups",
        SINGLE,
        probes("oiioii", **SHORT_THEN_FULL),
        {"pa._speedups", "pb._speedups"},
        [("single_phase_init", None, None), ("refused_by_cpython", None, None)],
    ),
    (
        # Both single-phase: the after-main probes name the other one in full.
        "single-phase-whose-package-imports-a-namesake",
        "pa._speedups",
        SINGLE,
        probes("oiioii", **SHORT_THEN_FULL),
        {"pa._speedups", "pb._speedups"},
        [("blocked_by", "pb._speedups", None), ("single_phase_init", None, None)],
    ),
    (
        # CPython never refuses a per-interpreter-GIL module: "x" is the first-load name of
        # the single-phase pkg.x it imports.
        "full-name-of-a-module-cpython-cannot-refuse",
        "x",
        CLEAN,
        probes("oiiooo", isolated=refusal("x"), own_gil=refusal("x")),
        {"x", "pkg.x"},
        [("blocked_by", "pkg.x", None)],
    ),
    (
        "no-slot-refused-by-its-full-name-with-an-own-gil",
        "pkg.m",
        NO_SLOT,
        probes("ooiooi", own_gil=refusal("pkg.m"), own_gil_after_main=refusal("pkg.m")),
        {"pkg.m"},
        [("no_multi_interp_slot", None, None), ("refused_by_cpython", None, None)],
    ),
    (
        "cython-guard-of-the-module-itself",
        "pkg.m",
        CYTHON,
        probes(
            "ppiiii",
            main_after=ICD,
            own_gil=refusal("pkg.m"),
            legacy_after_main=ICD,
            isolated_after_main=ICD,
            own_gil_after_main=refusal("pkg.m"),
        ),
        {"pkg.m"},
        [
            ("binding_refusal", None, None),
            ("no_multi_interp_slot", None, None),
            ("declared_vs_observed", None, None),
            ("refused_by_cpython", None, None),
        ],
    ),
    (
        # No create slot: the guard is the dependency's, which CPython names in own-GIL.
        "cython-guard-of-a-dependency-named-by-cpython",
        "guard_user",
        CLEAN,
        probes("ppiiii", **GUARDED_DEPENDENCY),
        {"guard_user", "interp_guard"},
        [("blocked_by", "interp_guard", "cython"), ("blocked_by", "interp_guard", None)],
    ),
    (
        "cython-guard-of-an-unnamed-dependency",
        "guard_user",
        CLEAN,
        probes("ppoiio", main_after=ICD, legacy_after_main=ICD, isolated_after_main=ICD),
        {"guard_user"},
        [("blocked_by", None, "cython")],
    ),
    (
        "cython-guard-and-a-single-phase-module",
        "m",
        SINGLE,
        probes("ppiiii", main_after=ICD, legacy_after_main=ICD, isolated_after_main=ICD),
        {"m"},
        [
            ("blocked_by", None, "cython"),
            ("single_phase_init", None, None),
            ("refused_by_cpython", None, None),
        ],
    ),
    (
        # The module could carry Cython's guard, but the wrapper names the one that raised it.
        "guard-named-by-a-wrapper",
        "pkg.m",
        CYTHON,
        _with_causes(
            probes(
                "ppoiio",
                main_after="interp_guard failed to import",
                legacy_after_main="interp_guard failed to import",
                isolated_after_main="interp_guard failed to import",
            ),
            "ImportError: " + ICD,
        ),
        {"pkg.m", "interp_guard"},
        [("blocked_by", "interp_guard", "cython"), ("no_multi_interp_slot", None, None)],
    ),
    (
        # Cython's re-initialisation message names the module by its last component.
        "cython-reinit-names-another-module",
        "pkg.m",
        CYTHON,
        probes(
            "oooeoo",
            legacy_after_main="Module 'other' has already been imported. Re-initialisation "
            "is not supported.",
        ),
        {"pkg.m", "pkg.other"},
        [("blocked_by", "pkg.other", "cython"), ("no_multi_interp_slot", None, None)],
    ),
    (
        "cython-reinit-names-this-module",
        "pkg.m",
        CYTHON,
        probes(
            "oooeoo",
            legacy_after_main="Module 'm' has already been imported. Re-initialisation is "
            "not supported.",
        ),
        {"pkg.m"},
        [("binding_refusal", None, None), ("no_multi_interp_slot", None, None)],
    ),
    (
        # NumPy's wrapper names numpy, a package that contains the probed module: its own.
        "numpy-guard-in-numpy-itself",
        "numpy._core._multiarray_umath",
        InitInfo("multi_phase", "PyInit", multiple_interpreters="not_supported", slots=(2, 3)),
        _with_causes(
            probes(
                "piiiii",
                main_after=NUMPY_WRAPPER,
                legacy_after_main=NUMPY_WRAPPER,
                isolated=refusal("numpy._core._multiarray_umath"),
                own_gil=refusal("numpy._core._multiarray_umath"),
                isolated_after_main=refusal("numpy._core._multiarray_umath"),
                own_gil_after_main=refusal("numpy._core._multiarray_umath"),
            ),
            "ImportError: " + NUMPY_GUARD,
            only=NUMPY_WRAPPER,
        ),
        {"numpy._core._multiarray_umath"},
        [
            ("binding_refusal", None, None),
            ("declares_not_supported", None, None),
            ("refused_by_cpython", None, None),
        ],
    ),
    (
        # Any module may carry PyO3's guard: unnamed, it stays with the module.
        "pyo3-guard-stays-with-the-module",
        "pkg.m",
        NO_SLOT,
        probes(
            "ppiiii",
            main_after=PYO3,
            own_gil=refusal("pkg.m"),
            legacy_after_main=PYO3,
            isolated_after_main=PYO3,
            own_gil_after_main=refusal("pkg.m"),
        ),
        {"pkg.m"},
        [
            ("binding_refusal", None, None),
            ("no_multi_interp_slot", None, None),
            ("declared_vs_observed", None, None),
            ("refused_by_cpython", None, None),
        ],
    ),
]


@pytest.mark.parametrize(
    ("name", "init", "result", "known", "expected"),
    [case[1:] for case in BLAME],
    ids=[case[0] for case in BLAME],
)
def test_blame(
    name: str,
    init: InitInfo,
    result: dict[str, ProbeResult],
    known: set[str],
    expected: list[tuple[str, str | None, str | None]],
) -> None:
    _, reasons = classify(_module(name), init, result, known)
    got = [(r.code, r.module, dict(r.details).get("guard")) for r in reasons]
    assert got == expected


def test_dependency_guard_message_says_how_it_was_told() -> None:
    _, reasons = classify(
        _module("guard_user"),
        CLEAN,
        probes("ppiiii", **GUARDED_DEPENDENCY),
        {"guard_user": None, "interp_guard": None},
    )
    (guard,) = [r for r in reasons if dict(r.details).get("guard")]
    assert guard.message == (
        "refused because it imports interp_guard, which refuses a second interpreter in the "
        "same process (Cython's interpreter-change guard; this module's own init cannot "
        f"raise it): {ICD}"
    )
    assert guard.probes == (
        "legacy:main_after",
        "isolated:main_after",
        "legacy_after_main",
        "isolated_after_main",
    )


@pytest.mark.parametrize(
    ("outcome", "exception"),
    [
        (Outcome.IMPORT_ERROR, "ImportError"),
        (Outcome.IMPORT_ERROR, "MyImportError"),  # an ImportError subclass
        (Outcome.ERROR, "MyImportError"),  # as a target that compares type names reports it
        (Outcome.ERROR, "RuntimeError"),
    ],
    ids=str,
)
def test_reasons_do_not_depend_on_the_exception_type(outcome: Outcome, exception: str) -> None:
    """What an exception says decides; its type name and outcome do not."""
    base = probes("iiiiii", legacy=ICD, legacy_after_main=ICD)
    result = {
        name: replace(p, outcome=outcome, exception=exception)
        if p.outcome is Outcome.IMPORT_ERROR
        else p
        for name, p in base.items()
    }
    verdict, reasons = classify(_module("m"), CYTHON, result, {"m"})
    assert verdict is Verdict.UNSUPPORTED
    assert [r.code for r in reasons] == [
        "binding_refusal",
        "no_multi_interp_slot",
        "declared_vs_observed",
        "refused_by_cpython",
    ]


@pytest.mark.parametrize(
    ("reported", "init", "kind", "known", "seen", "expected"),
    [
        # CPython cannot refuse it, but a full dotted name is nobody's short name: itself.
        ("pkg.m", CLEAN, "own_gil", {"pkg.m", "other.pkg.m"}, (), None),
        ("pkg.m", NO_SLOT, "own_gil", {"pkg.m"}, (), None),
        ("pkg.m", NO_SLOT, "isolated", {"pkg.m", "m"}, (), None),  # nothing else named so
        ("m", SINGLE, "isolated", {"pkg.m", "other.m"}, (), None),
        ("m", SINGLE, "isolated", {"pkg.m"}, ("other.m",), "other.m"),
        ("m", SINGLE, "isolated", {"pkg.m"}, ("other.m", "pkg.m"), None),
        ("m", CLEAN, "isolated", {"pkg.m", "other.m"}, (), "other.m"),
        ("m", UNKNOWN_INIT, "isolated", {"pkg.m", "other.m"}, (), None),
    ],
)
def test_blamed_module(
    reported: str,
    init: InitInfo,
    kind: str,
    known: set[str],
    seen: tuple[str, ...],
    expected: str | None,
) -> None:
    got = blamed_module(reported, "pkg.m", init, kind, known, seen)
    assert got == expected


def test_the_chain_runs_from_the_module_to_the_blocker() -> None:
    from auditor.judging.classify import import_chain

    assert import_chain(
        "jwt", ("jwt", "jwt.algorithms", "cryptography.hazmat.bindings._rust"), "_cffi_backend"
    ) == ["jwt", "jwt.algorithms", "cryptography.hazmat.bindings._rust", "_cffi_backend"]
    # The blocker is last even when its own body was on the traceback.
    assert import_chain("a._x", ("a", "b", "a.c"), "b") == ["a._x", "a", "a.c", "b"]
