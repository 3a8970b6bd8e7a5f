"""Renderers: JSON (the contract), terminal, HTML and CI formats; all from the same model."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.probe_plan import depth_base

# The glyph of each probe outcome, in the terminal table and the HTML report alike.
MARKS = {
    "ok": "✓",
    "import_error": "✗",
    "error": "!",
    "crash": "☠",
    "timeout": "∞",
    "not_run": "·",
    "tool_failure": "?",
}
# A subinterpreter imported the module, but the main interpreter could not import it afterwards.
MAIN_BROKEN_MARK = "↯"
# The cycles depth probe ran, but each interpreter that loaded the module leaked C heap.
LEAK_MARK = "↑"


def plural(count: int, word: str) -> str:
    """ "1 module", "2 modules" """
    return f"{count} {word}" + ("" if count == 1 else "s")


def concurrent_pass_phrase(probes: Iterable[tuple[str, str, int]]) -> str | None:
    """What a concurrent pass rests on, from (probe name, outcome, runs) of every probe: the
    fewest runs of a passing concurrent probe ("a concurrent pass rests on 1 run (--confirm N:
    N runs)"); None when no concurrent probe passed."""
    runs = min(
        (n for name, outcome, n in probes if depth_base(name) == "concurrent" and outcome == "ok"),
        default=None,
    )
    if runs is None:
        return None
    return f"a concurrent pass rests on {plural(runs, 'run')}" + (
        " (--confirm N: N runs)" if runs == 1 else ""
    )


# Reasons that restate another: shown under it (without advice of their own) by the readers'
# renderings; the JSON report keeps every reason as it is.
INIT_REASONS = (
    "single_phase_init",
    "declares_not_supported",
    "no_multi_interp_slot",
    "declares_shared_gil",
)


def fold_reasons(
    reasons: list[dict[str, Any]],
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each reason with the reasons that only restate it.

    refused_by_cpython restates the module's init-style reason (CPython refused it *because*
    of its init); declared_vs_observed restates the failure of the probes it names.  A reason
    with nothing to fold into stays on its own.
    """
    kept: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [(r, []) for r in reasons]

    def host(reason: dict[str, Any]) -> list[dict[str, Any]] | None:
        if reason["code"] == "refused_by_cpython":
            candidates = [k for k in kept if k[0]["code"] in INIT_REASONS]
        elif reason["code"] == "declared_vs_observed":
            probes = set(reason.get("probes") or ())
            candidates = [
                k
                for k in kept
                if k[0] is not reason
                and k[0]["code"] not in (*INIT_REASONS, "refused_by_cpython")
                and probes & set(k[0].get("probes") or ())
            ]
        else:
            return None
        return candidates[0][1] if candidates else None

    result = []
    for reason, folded in kept:
        into = host(reason)
        if into is None:
            result.append((reason, folded))
        else:
            into.append(reason)
    return result
