"""Pure: the CI gate.  A report (and optionally a baseline report) -> which modules fail, and why.

Works on report dicts (the JSON contract), so that a baseline written by any earlier version of
subinterp-audit with the same report version can be compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from auditor.judging.interpreter_bugs import cpython_label
from auditor.model import Verdict


@dataclass(frozen=True)
class Ignore:
    """A module exempted from the policy; the reason is mandatory (pyproject.toml)."""

    module: str
    reason: str


@dataclass(frozen=True)
class Policy:
    """What a passing scan means.  Without any setting, every scan passes."""

    require: Verdict | None = None  # the minimum verdict every module must reach
    fail_on: frozenset[Verdict] = frozenset()  # verdicts that fail whatever `require` says
    ignore: tuple[Ignore, ...] = ()
    # A known CPython bug (reason interpreter_bug) is the interpreter's: by default a module
    # is judged by its verdict on a fixed interpreter.  True: by what happened here.
    fail_interpreter_bugs: bool = False

    def violated_by(self, verdict: Verdict) -> str | None:
        """Why `verdict` breaks the policy, or None."""
        if verdict in self.fail_on:
            return f"{verdict.value} is in --fail-on"
        if self.require is not None and verdict.rank > self.require.rank:
            return f"{verdict.value} is below the required {self.require.value}"
        return None

    def ignored(self, module: str) -> Ignore | None:
        return next((i for i in self.ignore if i.module == module), None)

    def describe(self) -> str:
        parts = []
        if self.require is not None:
            parts.append(f"require {self.require.value}")
        if self.fail_on:
            parts.append("fail on " + ", ".join(v.value for v in Verdict if v in self.fail_on))
        return "; ".join(parts) or "no policy"


@dataclass(frozen=True)
class ModuleResult:
    """The gate's view of one module of one target."""

    target: str  # the interpreter's major.minor version
    name: str
    path: str
    verdict: Verdict
    reason: str  # the most important reason's message ("" for own_gil)
    violation: str | None  # what the module breaks, if anything
    failed: bool  # counts against the gate
    ignored: Ignore | None = None
    excused_by: str | None = None  # the CPython bug its verdict was judged without
    baseline: Verdict | None = None  # its verdict in the baseline, if it was there
    in_baseline: bool = False

    @property
    def change(self) -> str | None:
        """None without a baseline; else "new", "regressed", "improved" or "same"."""
        if not self.in_baseline:
            return None
        if self.baseline is None:
            return "new"
        if self.verdict.rank > self.baseline.rank:
            return "regressed"
        return "improved" if self.verdict.rank < self.baseline.rank else "same"


@dataclass(frozen=True)
class GateResult:
    policy: Policy
    modules: tuple[ModuleResult, ...]
    with_baseline: bool

    def __bool__(self) -> bool:
        """True when the gate passes."""
        return not self.failures

    @property
    def failures(self) -> tuple[ModuleResult, ...]:
        return tuple(m for m in self.modules if m.failed)

    @property
    def improvements(self) -> tuple[ModuleResult, ...]:
        return tuple(m for m in self.modules if m.change == "improved")

    @property
    def regressions(self) -> tuple[ModuleResult, ...]:
        return tuple(m for m in self.modules if m.change == "regressed")

    @property
    def excused(self) -> tuple[ModuleResult, ...]:
        return tuple(m for m in self.modules if m.excused_by)

    @property
    def ignored(self) -> tuple[ModuleResult, ...]:
        return tuple(m for m in self.modules if m.ignored is not None)

    @property
    def active(self) -> bool:
        return self.with_baseline or bool(self.policy.require or self.policy.fail_on)


def target_key(target: dict[str, Any]) -> str:
    """Targets are matched across reports by major.minor (and free-threading)."""
    python = target["python"]
    version = ".".join(python["version"].split(".")[:2])
    return version + ("t" if python.get("gil_disabled") else "")


def _modules(report: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for target in report["targets"]:
        key = target_key(target)
        for module in target["modules"]:
            yield key, module


def baseline_verdicts(baseline: dict[str, Any]) -> dict[tuple[str, str], Verdict]:
    return {(key, m["name"]): Verdict(m["verdict"]) for key, m in _modules(baseline)}


def _bug_status(details: dict[str, Any]) -> str:
    """ "fixed in 3.13.0" / "not fixed yet" (reports before `status` carry `fixed_in` only)."""
    if details.get("status"):
        return str(details["status"])
    return f"fixed in {details['fixed_in']}" if details.get("fixed_in") else "not fixed yet"


def evaluate(
    report: dict[str, Any], policy: Policy, baseline: dict[str, Any] | None = None
) -> GateResult:
    """Apply the policy to every module of the report.

    Without a baseline a module fails when its verdict breaks the policy.  With a baseline only
    regressions fail: a module whose verdict got worse than in the baseline, or a module that
    is new and breaks the policy.  Ignored modules never fail.
    """
    before = baseline_verdicts(baseline) if baseline is not None else {}
    results = []
    for key, module in _modules(report):
        verdict = Verdict(module["verdict"])
        fixed = module.get("verdict_on_fixed_interpreter")
        excused_by = None
        if fixed and not policy.fail_interpreter_bugs:
            bugs = [r for r in module.get("reasons") or () if r["code"] == "interpreter_bug"]
            excused_by = ", ".join(
                f"{cpython_label(r['details']['cpython_issue'])} ({_bug_status(r['details'])})"
                for r in bugs
            )
            if policy.violated_by(verdict) and not policy.violated_by(Verdict(fixed)):
                verdict = Verdict(fixed)
            else:
                excused_by = None
        violation = policy.violated_by(verdict)
        old = before.get((key, module["name"]))
        if baseline is None or old is None:
            failed = violation is not None
        else:
            failed = verdict.rank > old.rank
            if failed:
                worse = f"got worse: {old.value} -> {verdict.value}"
                violation = f"{worse} ({violation})" if violation else worse
        ignore = policy.ignored(module["name"])
        reasons = module.get("reasons") or []
        results.append(
            ModuleResult(
                target=key,
                name=module["name"],
                path=module["path"],
                verdict=verdict,
                reason=reasons[0]["message"] if reasons else "",
                violation=violation,
                failed=failed and ignore is None,
                ignored=ignore,
                excused_by=excused_by,
                baseline=old,
                in_baseline=baseline is not None,
            )
        )
    return GateResult(policy, tuple(results), baseline is not None)


def parse_verdicts(values: Iterable[str], option: str) -> frozenset[Verdict]:
    """'crashes,hangs' (possibly repeated) -> verdicts; ValueError naming the bad one."""
    verdicts = set()
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            try:
                verdicts.add(Verdict(item))
            except ValueError:
                choices = ", ".join(v.value for v in Verdict)
                raise ValueError(
                    f"{option}: unknown verdict {item!r} (choose from {choices})"
                ) from None
    return frozenset(verdicts)


@dataclass(frozen=True)
class Change:
    """One module's difference between two reports."""

    target: str
    name: str
    kind: str  # "added" | "removed" | "regressed" | "improved" | "reasons"
    before: Verdict | None
    after: Verdict | None
    detail: str = ""


def diff_reports(old: dict[str, Any], new: dict[str, Any]) -> tuple[Change, ...]:
    """What changed between two reports (any tool versions, same report version)."""
    before = {(k, m["name"]): m for k, m in _modules(old)}
    after = {(k, m["name"]): m for k, m in _modules(new)}
    changes = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was is None and now is not None:
            changes.append(Change(*key, "added", None, Verdict(now["verdict"])))
        elif now is None and was is not None:
            changes.append(Change(*key, "removed", Verdict(was["verdict"]), None))
        elif was is not None and now is not None:
            v0, v1 = Verdict(was["verdict"]), Verdict(now["verdict"])
            codes0 = {r["code"] for r in was["reasons"]}
            codes1 = {r["code"] for r in now["reasons"]}
            if v1.rank != v0.rank:
                kind = "regressed" if v1.rank > v0.rank else "improved"
                changes.append(Change(*key, kind, v0, v1))
            elif codes0 != codes1:
                gained = ", ".join(f"+{c}" for c in sorted(codes1 - codes0))
                lost = ", ".join(f"-{c}" for c in sorted(codes0 - codes1))
                detail = ", ".join(part for part in (gained, lost) if part)
                changes.append(Change(*key, "reasons", v0, v1, detail))
    return tuple(changes)
