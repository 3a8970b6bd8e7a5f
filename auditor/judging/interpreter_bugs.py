"""CPython's bugs are CPython's: recognise known interpreter defects in a module's evidence.

The knowledge base is data (auditor/judging/interpreter_bugs.toml).  ``recognise`` is pure: the
target's version and one module's probe results -> the bugs that explain some of them, and
the probe results as a fixed interpreter gives them (to re-judge the module).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from auditor.judging.classify import leaks
from auditor.model import ImportAttempt, Outcome, ProbeResult
from auditor.probe_plan import depth_base

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


# The cpython_issue of a bug this tool found that nobody has reported upstream yet.
UNREPORTED = "unreported"


def cpython_label(issue: str) -> str:
    """ "CPython gh-136423", or "CPython, not reported upstream yet" """
    return "CPython, not reported upstream yet" if issue == UNREPORTED else f"CPython {issue}"


def cpython_bug_phrase(issue: str) -> str:
    """ "CPython's bug gh-136423", or "a CPython bug not reported upstream yet" """
    if issue == UNREPORTED:
        return "a CPython bug not reported upstream yet"
    return f"CPython's bug {issue}"


@dataclass(frozen=True)
class InterpreterBug:
    """One known CPython defect and how to recognise it from a probe's evidence."""

    id: str
    title: str
    cpython_issue: str
    url: str
    affects: SpecifierSet
    fixed_in: str | None  # None: no release fixes it yet
    explanation: str
    fix: str
    match: Mapping[str, Any]
    fixed: Mapping[str, Any]

    @property
    def status(self) -> str:
        """ "fixed in 3.13.0", or "not fixed yet" """
        return f"fixed in {self.fixed_in}" if self.fixed_in else "not fixed yet"

    def matches(
        self,
        result: ProbeResult,
        init_style: str,
        controls: Mapping[str, Mapping[str, ProbeResult]],
        module: str = "",
    ) -> bool:
        rule = self.match
        if "init_style" in rule and init_style != rule["init_style"]:
            return False
        if "modules" in rule and module not in rule["modules"] and "control" not in rule:
            return False
        if rule.get("leaks") is not None and leaks(result) != rule["leaks"]:
            return False
        if "workaround" in rule:
            # The same probe run again with the workaround after the module's use: it must
            # pass without the leak (else the module's own failure stays the module's).
            again = counterpart(controls.get(workaround_key(module), {}), result)
            if again is None or again.outcome is not Outcome.OK or leaks(again):
                return False
        control = rule.get("control")
        if control is not None:
            # The same failure in a stdlib-only control probe of this scan.
            seen = counterpart(controls.get(control, {}), result)
            plain = {k: v for k, v in rule.items() if k not in ("control", "init_style")}
            if module == control:
                pass  # the control itself: judged by the rule alone
            elif seen is None or not replace(self, match=plain).matches(seen, "", {}, control):
                return False
        checks = (
            ("probes", result.probe, lambda want, got: got in want),
            ("depth_probes", depth_base(result.probe), lambda want, got: got in want),
            ("kinds", result.kind, lambda want, got: got in want),
            ("stage_suffix", result.stage or "", lambda want, got: got.endswith(want)),
            ("outcome", result.outcome.value, lambda want, got: got == want),
            ("stage", result.stage, lambda want, got: got == want),
            (
                "import_outcome",
                result.import_outcome.value if result.import_outcome else None,
                lambda want, got: got in ([want] if isinstance(want, str) else want),
            ),
            ("signal", result.signal, lambda want, got: got in want),
            ("message", result.message or "", lambda want, got: want in got),
            ("stderr", result.stderr_tail, lambda want, got: any(s in got for s in want)),
        )
        return all(test(rule[key], got) for key, got, test in checks if key in rule)

    def as_fixed(self, result: ProbeResult) -> ProbeResult:
        """The probe as an interpreter without this bug gives it."""
        fixed = self.fixed
        main_after = result.main_after
        if "main_after" in fixed:
            main_after = ImportAttempt(Outcome(fixed["main_after"]))
        outcome = fixed["outcome"]
        if outcome == "same_as_import":  # what the subinterpreter's import itself did
            outcome = (result.import_outcome or Outcome.OK).value
        heap = None if fixed.get("leaks") is False else result.heap
        return replace(
            result,
            heap=heap,
            outcome=Outcome(outcome),
            signal=None,
            exit_code=0,
            stage="process_exit",
            main_after=main_after,
            exit_after_sub=None,
            failed_runs=0,
        )


def counterpart(results: Mapping[str, ProbeResult], result: ProbeResult) -> ProbeResult | None:
    """Of a control's results, the one that ran what `result` ran: the probe of that name, or
    for a depth probe the same depth probe in the same interpreter kind (whose name depends on
    the control's own first kind, not on the module's)."""
    base = depth_base(result.probe)
    if base is None or result.kind is None:
        return results.get(result.probe)
    for other in results.values():
        if depth_base(other.probe) == base and other.kind == result.kind:
            return other
    return None


def depth_controls_wanted(
    version: str, results: Mapping[str, Mapping[str, ProbeResult]]
) -> dict[str, set[tuple[str, str]]]:
    """control module -> the (kind, depth probe) pairs it should run: those whose failure in
    some module of this scan a known bug of interpreter `version` would explain, if the
    stdlib control failed the same way (gh-136423: `_datetime`, concurrent, any package that
    imports `datetime`)."""
    release = Version(version)
    wanted: dict[str, set[tuple[str, str]]] = {}
    for bug in known_bugs():
        rule = bug.match
        if "control" not in rule or "depth_probes" not in rule or release not in bug.affects:
            continue
        plain = replace(
            bug, match={k: v for k, v in rule.items() if k not in ("control", "modules")}
        )
        for probes in results.values():
            for result in probes.values():
                base = depth_base(result.probe)
                if base and result.kind and plain.matches(result, "", {}):
                    wanted.setdefault(rule["control"], set()).add((result.kind, base))
    return wanted


def workaround_key(module: str) -> str:
    """Where a module's workaround runs sit among the controls given to `recognise`."""
    return f"workaround:{module}"


def workarounds_wanted(
    version: str, results: Mapping[str, Mapping[str, ProbeResult]]
) -> dict[str, dict[tuple[str, str], str]]:
    """module -> {(kind, depth probe): workaround code}: the probes of this scan that a known
    bug of interpreter `version` with a workaround would explain, if the same probe passed
    with that code run after the module's use (the warnings-filter leak of 3.14+)."""
    release = Version(version)
    wanted: dict[str, dict[tuple[str, str], str]] = {}
    for bug in known_bugs():
        rule = bug.match
        if "workaround" not in rule or release not in bug.affects:
            continue
        plain = replace(bug, match={k: v for k, v in rule.items() if k != "workaround"})
        for module, probes in results.items():
            for result in probes.values():
                base = depth_base(result.probe)
                if base and result.kind and plain.matches(result, "", {}, module):
                    wanted.setdefault(module, {})[(result.kind, base)] = rule["workaround"]
    return wanted


@dataclass(frozen=True)
class BugMatch:
    bug: InterpreterBug
    probes: tuple[str, ...]


@cache
def known_bugs() -> tuple[InterpreterBug, ...]:
    text = resources.files("auditor.judging").joinpath("interpreter_bugs.toml").read_text("utf-8")
    return tuple(
        InterpreterBug(
            id=entry["id"],
            title=entry["title"],
            cpython_issue=entry["cpython_issue"],
            url=entry["url"],
            affects=SpecifierSet(entry["affects"]),
            fixed_in=entry.get("fixed_in") or None,
            explanation=entry["explanation"],
            fix=entry["fix"],
            match=entry["match"],
            fixed=entry["fixed"],
        )
        for entry in tomllib.loads(text)["bug"]
    )


def controls_needed(version: str) -> tuple[str, ...]:
    """The stdlib modules whose probes recognition needs on interpreter `version`."""
    release = Version(version)
    return tuple(
        sorted(
            {
                b.match["control"]
                for b in known_bugs()
                # A depth-probe rule's control is judged only when the scan has it: its
                # import probes alone, probed apart, could not show the failure.
                if "control" in b.match and "depth_probes" not in b.match and release in b.affects
            }
        )
    )


def recognise(
    version: str,
    init_style: str,
    probes: Mapping[str, ProbeResult],
    controls: Mapping[str, Mapping[str, ProbeResult]] | None = None,
    bugs: tuple[InterpreterBug, ...] | None = None,
    module: str = "",
) -> tuple[tuple[BugMatch, ...], dict[str, ProbeResult]]:
    """The known bugs of interpreter `version` that explain some of `probes` (a module whose
    init style is `init_style`; `controls`: other modules' probes of this scan), and the probe
    results with those replaced by what a fixed interpreter gives."""
    release = Version(version)
    fixed = dict(probes)
    matches: list[BugMatch] = []
    for bug in known_bugs() if bugs is None else bugs:
        if release not in bug.affects:
            continue
        hit = tuple(
            name
            for name, result in probes.items()
            if name not in {p for m in matches for p in m.probes}
            and bug.matches(result, init_style, controls or {}, module)
        )
        if hit:
            matches.append(BugMatch(bug, hit))
            for name in hit:
                fixed[name] = bug.as_fixed(probes[name])
    return tuple(matches), fixed
