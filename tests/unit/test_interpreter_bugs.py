"""Known CPython bugs: recognised from a probe's evidence, on the versions they affect only."""

from __future__ import annotations

from dataclasses import replace

import pytest

from auditor.judging.advice import advise
from auditor.judging.interpreter_bugs import (
    counterpart,
    depth_controls_wanted,
    known_bugs,
    recognise,
    workaround_key,
    workarounds_wanted,
)
from auditor.judging.policy import Policy, evaluate
from auditor.model import HeapFigures, ImportAttempt, Outcome, ProbeResult, Reason, Verdict

REFUSAL = "module psutil._psutil_linux does not support loading in subinterpreters"


def _refused_then_main_crashed(probe: str) -> ProbeResult:
    """What psutil's fresh isolated probes show on CPython 3.12.1."""
    return ProbeResult(
        probe,
        Outcome.CRASH,
        exception="ImportError",
        message=REFUSAL,
        signal="SIGABRT",
        stage="main_import",
        stderr_tail="double free or corruption (out)\nFatal Python error: Aborted\n",
        import_outcome=Outcome.IMPORT_ERROR,
    )


def _exit_abort(probe: str) -> ProbeResult:
    return ProbeResult(
        probe,
        Outcome.CRASH,
        signal="SIGABRT",
        stage="exit_after_subinterpreter",
        stderr_tail="free(): invalid pointer\n",
        import_outcome=Outcome.OK,
        main_after=ImportAttempt(Outcome.OK),
    )


def _init_error_freed(probe: str) -> ProbeResult:
    """What NumPy 2.2.6's fresh isolated probes show on CPython 3.13.0 (a real scan)."""
    return ProbeResult(
        probe,
        Outcome.CRASH,
        signal="SIGABRT",
        stage="import",
        stderr_tail="free(): invalid pointer\nFatal Python error: Aborted\n",
    )


@pytest.mark.parametrize(
    ("version", "result", "expected"),
    [
        (
            "3.12.1",
            _refused_then_main_crashed("own_gil"),
            "single_phase_init_in_isolated_interpreter",
        ),
        (
            "3.12.1",
            _refused_then_main_crashed("isolated"),
            "single_phase_init_in_isolated_interpreter",
        ),
        ("3.13.0", _refused_then_main_crashed("own_gil"), None),  # not a 3.13 bug
        ("3.12.1", _refused_then_main_crashed("legacy"), None),  # legacy loads it: no refusal
        ("3.12.1", _exit_abort("own_gil"), "exit_abort_after_isolated_interpreter"),
        ("3.12.1", ProbeResult("own_gil", Outcome.CRASH, signal="SIGSEGV", stage="import"), None),
        (
            "3.13.0",
            _init_error_freed("isolated"),
            "single_phase_init_error_freed_by_isolated_interpreter",
        ),
        (
            "3.15.0rc1",
            _init_error_freed("own_gil"),
            "single_phase_init_error_freed_by_isolated_interpreter",
        ),
        ("3.12.1", _init_error_freed("own_gil"), None),  # 3.12 runs init in the subinterpreter
        ("3.13.0", _init_error_freed("legacy"), None),  # shares main's allocator
    ],
    ids=str,
)
def test_recognised_only_where_it_applies(
    version: str, result: ProbeResult, expected: str | None
) -> None:
    matches, fixed = recognise(version, "single_phase", {result.probe: result})
    assert [m.bug.id for m in matches] == ([expected] if expected else [])
    if expected:
        assert fixed[result.probe].outcome in (Outcome.OK, Outcome.IMPORT_ERROR)
        assert fixed[result.probe].main_after is not None
        assert fixed[result.probe].main_after.ok
    else:
        assert fixed[result.probe] is result


def test_every_bug_is_complete() -> None:
    for bug in known_bugs():
        reported = bug.cpython_issue.startswith("gh-")
        # A bug found by this tool and not reported upstream yet says so, with no link.
        assert reported or bug.cpython_issue == "unreported"
        assert bug.url.startswith("https://github.com/") if reported else bug.url == ""
        assert bug.explanation and bug.fix and bug.match and bug.fixed
        assert bug.status == (f"fixed in {bug.fixed_in}" if bug.fixed_in else "not fixed yet")
        advice = advise(Reason("interpreter_bug", "m", details=(("bug", bug.id),)), None)
        assert advice.topic == f"interpreter_bug.{bug.id}"
        assert advice.links == (((f"CPython {bug.cpython_issue}", bug.url),) if reported else ())


def _report(verdict: str, fixed: str | None) -> dict[str, object]:
    reasons = [
        {
            "code": "interpreter_bug",
            "message": "m",
            "details": {"cpython_issue": "gh-117953", "fixed_in": "3.13.0"},
        }
    ]
    module = {
        "name": "psutil._psutil_linux",
        "path": "/x.so",
        "verdict": verdict,
        "verdict_on_fixed_interpreter": fixed,
        "reasons": reasons if fixed else [],
    }
    return {"targets": [{"python": {"version": "3.12.1"}, "modules": [module]}]}


def test_gate_judges_by_the_fixed_interpreter_by_default() -> None:
    require = Policy(require=Verdict.LEGACY_ONLY)
    gate = evaluate(_report("crashes", "legacy_only"), require)
    assert gate  # passes
    (result,) = gate.excused
    assert result.excused_by == "CPython gh-117953 (fixed in 3.13.0)"
    strict = Policy(require=Verdict.LEGACY_ONLY, fail_interpreter_bugs=True)
    assert not evaluate(_report("crashes", "legacy_only"), strict)
    # A real crash, with no known bug behind it, still fails.
    assert not evaluate(_report("crashes", None), require)
    assert evaluate(_report("crashes", None), Policy())  # no policy: nothing fails


def test_a_dependency_is_recognised_only_with_the_control() -> None:
    crashed = replace(
        _refused_then_main_crashed("own_gil"), import_outcome=Outcome.OK, message=None
    )
    alone, _ = recognise("3.12.1", "multi_phase", {"own_gil": crashed})
    assert alone == ()  # a multi-phase module's own crash: not excused without the control
    control = {"_datetime": {"own_gil": _refused_then_main_crashed("own_gil")}}
    matches, fixed = recognise("3.12.1", "multi_phase", {"own_gil": crashed}, control)
    assert [m.bug.id for m in matches] == ["single_phase_dependency_init_in_isolated_interpreter"]
    assert fixed["own_gil"].outcome is Outcome.OK


def _legacy_depth_crash(probe: str, kind: str | None, stage: str) -> ProbeResult:
    """A depth probe killed by SIGSEGV, as stale_static's legacy_reuse (stage B:import) and
    blockpkg._accel's legacy concurrent probe (round 1:interpreter_end) on CPython 3.12.1."""
    return ProbeResult(
        probe,
        Outcome.CRASH,
        signal="SIGSEGV",
        stage=stage,
        stderr_tail="Fatal Python error: Segmentation fault\n",
        kind=kind,
        runs=3,
        failed_runs=3,
    )


@pytest.mark.parametrize(
    ("version", "result", "recognised"),
    [
        ("3.12.1", _legacy_depth_crash("legacy_reuse", "legacy", "B:import"), True),
        # A legacy_only module's depth probes run in legacy interpreters under the bare names.
        ("3.12.1", _legacy_depth_crash("concurrent", "legacy", "round 1:interpreter_end"), True),
        ("3.12.6", _legacy_depth_crash("legacy_cycles", "legacy", "cycle 2:import"), True),
        ("3.12.7", _legacy_depth_crash("legacy_reuse", "legacy", "B:import"), False),  # fixed
        ("3.13.0", _legacy_depth_crash("concurrent", "legacy", "round 1:interpreter_end"), False),
        # An isolated interpreter's objects must never outlive it: the module's own crash.
        ("3.12.1", _legacy_depth_crash("reuse", "own_gil", "B:import"), False),
        ("3.12.1", _legacy_depth_crash("isolated_reuse", "isolated", "B:import"), False),
        # An import probe (no kind) is not a depth probe.
        ("3.12.1", _legacy_depth_crash("legacy", None, "import"), False),
    ],
    ids=str,
)
def test_an_object_outliving_its_legacy_interpreter(
    version: str, result: ProbeResult, recognised: bool
) -> None:
    """CPython gh-116510: recognised in legacy interpreters' depth probes before 3.12.7."""
    matches, fixed = recognise(version, "multi_phase", {result.probe: result})
    if not recognised:
        assert matches == () and fixed[result.probe] is result
        return
    (match,) = matches
    assert (match.bug.id, match.bug.cpython_issue, match.bug.fixed_in) == (
        "object_outlives_legacy_interpreter",
        "gh-116510",
        "3.12.7",
    )
    assert match.probes == (result.probe,)
    assert (fixed[result.probe].outcome, fixed[result.probe].failed_runs) == (Outcome.OK, 0)


def _concurrent_abort(probe: str, kind: str) -> ProbeResult:
    """gh-136423 as the tool saw it on 3.13.0 in `import boto3` (botocore imports datetime):
    several isolated interpreters abort while they end."""
    return ProbeResult(
        probe,
        Outcome.CRASH,
        signal="SIGABRT",
        stage="round 1:interpreter_end",
        stderr_tail="free(): invalid pointer\nFatal Python error: Aborted\n",
        kind=kind,
        runs=3,
        failed_runs=3,
    )


def test_a_depth_control_is_asked_for_where_a_module_fails_like_it() -> None:
    boto3 = {
        "concurrent": _concurrent_abort("concurrent", "own_gil"),
        "isolated_concurrent": _concurrent_abort("isolated_concurrent", "isolated"),
        "reuse": ProbeResult("reuse", Outcome.OK, kind="own_gil"),
    }
    assert depth_controls_wanted("3.13.0", {"boto3": boto3}) == {
        "_datetime": {("own_gil", "concurrent"), ("isolated", "concurrent")}
    }
    assert depth_controls_wanted("3.14.0", {"boto3": boto3}) == {}  # fixed there
    clean = {"concurrent": ProbeResult("concurrent", Outcome.OK, kind="own_gil")}
    assert depth_controls_wanted("3.13.0", {"orjson": clean}) == {}


def test_a_depth_bug_is_recognised_from_the_control_of_the_same_kind() -> None:
    boto3 = {"concurrent": _concurrent_abort("concurrent", "own_gil")}
    alone, _ = recognise("3.13.0", "", boto3, module="boto3")
    assert alone == ()  # no control: the crash stays the package's
    # The control's result is found by kind and depth probe, whatever its key.
    crashed = {"control:own_gil:concurrent": _concurrent_abort("concurrent", "own_gil")}
    matches, fixed = recognise("3.13.0", "", boto3, {"_datetime": crashed}, module="boto3")
    assert [m.bug.cpython_issue for m in matches] == ["gh-136423"]
    assert fixed["concurrent"].outcome is Outcome.OK
    # The control passed, or failed in another kind: not recognised.
    passed = {"x": ProbeResult("concurrent", Outcome.OK, kind="own_gil")}
    other = {"x": _concurrent_abort("isolated_concurrent", "isolated")}
    for control in (passed, other):
        assert recognise("3.13.0", "", boto3, {"_datetime": control}, module="boto3")[0] == ()
    assert counterpart(crashed, boto3["concurrent"]) is crashed["control:own_gil:concurrent"]


def _cycles(probe: str, kind: str, growth: int) -> ProbeResult:
    """A cycles probe that passed, its C heap growing `growth` bytes a cycle beyond the
    control's (requests on 3.14.10: about 390 KiB, every cycle)."""
    heap = HeapFigures(30, 500_000 + growth, 500_000, None, None)
    return ProbeResult(probe, Outcome.OK, kind=kind, heap=heap)


RESET = "import warnings\nwarnings.resetwarnings()"


def test_a_leak_the_warnings_workaround_removes_is_cpythons() -> None:
    requests = {"cycles": _cycles("cycles", "own_gil", 390 * 1024)}
    # Asked for on 3.14 and later, where the module leaks, in the kind it leaked in.
    assert workarounds_wanted("3.14.10", {"requests": requests}) == {
        "requests": {("own_gil", "cycles"): RESET}
    }
    assert workarounds_wanted("3.13.0", {"requests": requests}) == {}
    clean = {"cycles": _cycles("cycles", "own_gil", 4 * 1024)}
    assert workarounds_wanted("3.15.2", {"orjson": clean}) == {}
    legacy = {"legacy_cycles": _cycles("legacy_cycles", "legacy", 390 * 1024)}
    assert workarounds_wanted("3.14.10", {"m": legacy}) == {}  # shares main's allocator
    # Without the workaround's run, or when the leak stays with it: the module's leak.
    assert recognise("3.14.10", "", requests, {}, module="requests")[0] == ()
    still = {"workaround:own_gil:cycles": _cycles("cycles", "own_gil", 1024 * 1024)}
    controls = {workaround_key("requests"): still}
    assert recognise("3.14.10", "", requests, controls, module="requests")[0] == ()
    # Gone with the workaround: CPython's, and the fixed interpreter's probe has no leak.
    gone = {"workaround:own_gil:cycles": _cycles("cycles", "own_gil", 8 * 1024)}
    controls = {workaround_key("requests"): gone}
    matches, fixed = recognise("3.14.10", "", requests, controls, module="requests")
    assert [m.bug.id for m in matches] == ["warnings_filter_keeps_interpreter_memory"]
    assert (fixed["cycles"].outcome, fixed["cycles"].heap) == (Outcome.OK, None)
    # Another module's workaround run says nothing about this one.
    other = {workaround_key("urllib3"): gone}
    assert recognise("3.14.10", "", requests, other, module="requests")[0] == ()
