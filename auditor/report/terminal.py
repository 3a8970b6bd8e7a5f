"""The terminal rendering: one table per target, grouped by distribution, and a summary."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditor.model import ModuleAudit, Outcome, ProbeResult, TargetAudit, Verdict

VERDICT_STYLE = {
    Verdict.OWN_GIL: "bold green",
    Verdict.SHARED_GIL: "green",
    Verdict.LEGACY_ONLY: "yellow",
    Verdict.ONE_INTERPRETER: "yellow",
    Verdict.UNSUPPORTED: "magenta",
    Verdict.CRASHES: "bold red",
    Verdict.HANGS: "bold red",
    Verdict.BROKEN: "red",
}

# (column title, fresh probe, after-main probe)
_COLUMNS = (("legacy", "legacy", "legacy_after_main"),
            ("isolated", "isolated", "isolated_after_main"),
            ("own GIL", "own_gil", "own_gil_after_main"))


def _mark(result: ProbeResult | None) -> Text:
    if result is None:
        return Text("-", style="dim")
    if result.outcome is Outcome.OK:
        if result.main_after is not None and not result.main_after:
            return Text("✓", style="yellow")  # loaded, but poisoned main's import
        return Text("✓", style="green")
    return {
        Outcome.IMPORT_ERROR: Text("✗", style="magenta"),
        Outcome.ERROR: Text("!", style="red"),
        Outcome.CRASH: Text("☠", style="bold red"),
        Outcome.TIMEOUT: Text("∞", style="bold red"),
        Outcome.NOT_RUN: Text("·", style="dim"),
    }[result.outcome]


def _init_text(audit: ModuleAudit) -> str:
    init = audit.init
    if init.style == "single_phase":
        return "single"
    if init.style == "multi_phase":
        slot = {None: "no slot", "not_supported": "not supp.", "supported": "shared",
                "per_interpreter_gil": "own GIL"}.get(init.multiple_interpreters,
                                                     str(init.multiple_interpreters))
        return f"multi, {slot}"
    return "?"


def _why(audit: ModuleAudit) -> str:
    if audit.verdict is Verdict.OWN_GIL or not audit.reasons:
        return ""
    order = ("crash", "timeout", "main_import_failed", "blocked_by", "binding_refusal",
             "single_phase_init", "declares_not_supported", "no_multi_interp_slot",
             "declares_shared_gil")
    reasons = sorted(audit.reasons, key=lambda r: order.index(r.code) if r.code in order else 99)
    return reasons[0].message


def render_target(target: TargetAudit, console: Console) -> None:
    py = target.python
    wide = console.width >= 110  # narrow terminals (and 80-column CI logs) lose the init column
    table = Table(title=f"Python {py.version} · {py.executable}", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    longest = max((len(a.module.name) for a in target.modules), default=10)
    table.add_column("module", overflow="fold", min_width=min(longest + 2, 40 if wide else 26))
    if wide:
        table.add_column("init", no_wrap=True)
    table.add_column("main", justify="center", no_wrap=True)
    for title, _, _ in _COLUMNS:
        table.add_column(title, justify="center", no_wrap=True)
    table.add_column("verdict", no_wrap=True, min_width=15)
    group = None
    for audit in target.modules:
        if audit.module.group != group:
            group = audit.module.group
            table.add_row(Text(group, style="bold cyan"))
        probes = audit.probes
        cells = [Text.assemble(_mark(probes.get(fresh)), " ", _mark(probes.get(after)))
                 for _, fresh, after in _COLUMNS]
        table.add_row(
            "  " + audit.module.name,
            *([_init_text(audit)] if wide else []),
            _mark(probes.get("main")),
            *cells,
            Text(audit.verdict.value, style=VERDICT_STYLE[audit.verdict]),
        )
    for note in target.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(table)
    findings = [a for a in target.modules if a.verdict is not Verdict.OWN_GIL and _why(a)]
    if findings:
        console.print(Text("Why not own_gil:", style="bold"))
        for audit in findings:
            line = Text("  ")
            line.append(audit.module.name, style="bold")
            line.append(f" ({audit.verdict.value}): ", style=VERDICT_STYLE[audit.verdict])
            line.append(_why(audit))
            console.print(line)
    if target.non_extensions:
        names = ", ".join(n.name for n in target.non_extensions[:5])
        more = " …" if len(target.non_extensions) > 5 else ""
        console.print(f"[dim]{len(target.non_extensions)} file(s) with an extension suffix are "
                      f"not Python extensions (no PyInit_): {names}{more}[/]")


def summary_line(target: TargetAudit) -> Text:
    counts = Counter(a.verdict for a in target.modules)
    text = Text(f"{len(target.modules)} modules: ")
    parts = [(f"{counts[v]} {v.value}", VERDICT_STYLE[v]) for v in Verdict if counts[v]]
    for i, (part, style) in enumerate(parts):
        if i:
            text.append(", ")
        text.append(part, style=style)
    if target.incomplete:
        text.append(f"; the tool failed on {len(target.incomplete)}", style="bold red")
    return text


def render(targets: list[TargetAudit], console: Console, written: list[Path]) -> None:
    legend = ("✓ imports  ✗ ImportError  ! other error  ☠ crash  ∞ hang  · not run;  "
              "each kind: fresh, then after main")
    for target in targets:
        render_target(target, console)
        console.print(summary_line(target))
    console.print(Text(legend, style="dim"))
    for path in written:
        console.print(f"report written to [bold]{path}[/]")
