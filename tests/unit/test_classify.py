"""classify: probe outcomes -> verdict and reasons (pure; table-driven, no compiler)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from auditor.classify import classify, resolve_module_name, verdict_of
from auditor.model import (
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
    assert dict(reason.details) == {"same_distribution": same}
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
    assert dict(blocked.details) == {"same_distribution": False}


def test_guard_quoted_from_the_chain() -> None:
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
    (guard,) = [r for r in reasons if r.code == "binding_refusal"]
    assert guard.message == (
        "NumPy's once-per-process guard refuses a second interpreter in the "
        "same process: ImportError: cannot load module more than once per "
        "process"
    )
