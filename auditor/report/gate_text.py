"""The CI gate's result and `diff`'s changes, as terminal text."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from auditor.judging.policy import Change, GateResult
from auditor.report import plural


def render_gate(gate: GateResult, console: Console) -> None:
    """The CI gate's result, after the table (nothing when no policy or baseline is set)."""
    if not gate.active:
        return
    what = gate.policy.describe() + (", against the baseline" if gate.with_baseline else "")
    if gate:
        console.print(Text.assemble(("gate passed", "bold green"), f" ({what})"))
    else:
        console.print(
            Text.assemble(
                ("gate FAILED", "bold red"), f" ({what}): {plural(len(gate.failures), 'module')}"
            )
        )
    for result in gate.failures:
        console.print(
            Text.assemble(
                "  ✗ ",
                (result.name, "bold"),
                f" (Python {result.target}): ",
                (result.violation or "", "red"),
                f"; {result.reason}" if result.reason else "",
            )
        )
    for title, results in (("regressions", gate.regressions), ("improvements", gate.improvements)):
        if results:
            console.print(f"{title} against the baseline:")
            for r in results:
                before = r.baseline.value if r.baseline else "?"
                console.print(
                    f"  {escape(r.name)} (Python {r.target}): {before} -> {r.verdict.value}"
                )
    for r in gate.excused:
        console.print(
            f"[dim]  {escape(r.name)} judged as {r.verdict.value} on a fixed interpreter: "
            f"a known bug of this CPython, {escape(r.excused_by or '')} "
            f"(--fail-on-interpreter-bugs to count it)[/]"
        )
    for r in gate.ignored:
        assert r.ignored is not None
        console.print(
            f"[dim]  ignored {escape(r.name)} ({r.verdict.value}): {escape(r.ignored.reason)}[/]"
        )


def render_diff(changes: tuple[Change, ...], console: Console) -> None:
    if not changes:
        console.print("no changes")
        return
    style = {
        "regressed": "bold red",
        "improved": "green",
        "added": "cyan",
        "removed": "dim",
        "reasons": "yellow",
    }
    for change in changes:
        before = change.before.value if change.before else "-"
        after = change.after.value if change.after else "-"
        line = Text.assemble(
            (f"{change.kind:<9}", style[change.kind]),
            " ",
            (change.name, "bold"),
            f" (Python {change.target}): {before} -> {after}",
        )
        if change.detail:
            line.append(f" [{change.detail}]", style="dim")
        console.print(line)
    counts = Counter(c.kind for c in changes)
    console.print(", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())))
