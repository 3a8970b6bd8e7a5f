"""The CI gate: policy, baseline, diff (pure, on report dicts)."""

from __future__ import annotations

import pytest

from auditor.judging.policy import Ignore, Policy, diff_reports, evaluate, parse_verdicts
from auditor.model import Verdict


def report(**verdicts: str) -> dict:
    modules = [
        {
            "name": name,
            "path": f"/x/{name}.so",
            "verdict": v,
            "reasons": [] if v == "own_gil" else [{"code": "c", "message": f"why {name}"}],
        }
        for name, v in verdicts.items()
    ]
    return {
        "version": 1,
        "targets": [{"python": {"version": "3.13.0", "gil_disabled": False}, "modules": modules}],
    }


def failing(gate) -> list[str]:
    return [m.name for m in gate.failures]


def test_no_policy_always_passes() -> None:
    gate = evaluate(report(a="crashes"), Policy())
    assert gate and not gate.active


@pytest.mark.parametrize(
    ("require", "fails"),
    [
        ("own_gil", ["b", "c", "d"]),
        ("shared_gil", ["c", "d"]),
        ("legacy_only", ["d"]),
    ],
)
def test_require_is_a_minimum_level(require: str, fails: list[str]) -> None:
    gate = evaluate(
        report(a="own_gil", b="shared_gil", c="legacy_only", d="one_interpreter"),
        Policy(require=Verdict(require)),
    )
    assert failing(gate) == fails
    assert not gate


def test_fail_on_and_ignore() -> None:
    policy = Policy(
        fail_on=parse_verdicts(["crashes,hangs", "broken"], "--fail-on"),
        ignore=(Ignore("b", "upstream bug #1"),),
    )
    gate = evaluate(report(a="crashes", b="hangs", c="legacy_only"), policy)
    assert failing(gate) == ["a"]
    assert [m.name for m in gate.ignored] == ["b"]
    assert gate.failures[0].violation == "crashes is in --fail-on"


def test_unknown_verdict_is_named() -> None:
    with pytest.raises(ValueError, match="--fail-on: unknown verdict 'crash'"):
        parse_verdicts(["crashes,crash"], "--fail-on")


def test_baseline_only_regressions_fail() -> None:
    old = report(a="legacy_only", b="shared_gil", c="own_gil")
    new = report(a="legacy_only", b="own_gil", c="shared_gil", d="legacy_only", e="own_gil")
    gate = evaluate(new, Policy(require=Verdict.SHARED_GIL), old)
    # a: below the bar but unchanged -> passes; c: got worse -> fails; d: new and below -> fails.
    assert failing(gate) == ["c", "d"]
    assert [m.name for m in gate.improvements] == ["b"]
    assert [m.name for m in gate.regressions] == ["c"]
    c = gate.failures[0]
    assert c.violation == "got worse: own_gil -> shared_gil" and c.change == "regressed"
    assert gate.failures[1].change == "new"


def test_baseline_without_policy_is_a_ratchet() -> None:
    gate = evaluate(report(a="legacy_only"), Policy(), report(a="shared_gil"))
    assert gate.active and failing(gate) == ["a"]


def test_targets_are_matched_by_minor_version() -> None:
    old = report(a="own_gil")
    new = report(a="legacy_only")
    new["targets"][0]["python"]["version"] = "3.13.5"
    assert failing(evaluate(new, Policy(), old)) == ["a"]
    new["targets"][0]["python"]["version"] = "3.12.1"
    assert failing(evaluate(new, Policy(), old)) == []  # a new target: no policy -> passes


def test_diff_reports() -> None:
    old = report(a="own_gil", b="legacy_only", c="crashes")
    new = report(a="shared_gil", b="own_gil", d="own_gil")
    new["targets"][0]["modules"][1]["reasons"] = []
    kinds = {(c.name, c.kind) for c in diff_reports(old, new)}
    assert kinds == {("a", "regressed"), ("b", "improved"), ("c", "removed"), ("d", "added")}
