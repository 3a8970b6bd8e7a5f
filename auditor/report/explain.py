"""`explain`'s text: one module's probes and evidence, its reasons and fixes, its hints."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from auditor.model import Outcome, ProbeResult, Verdict
from auditor.report import fold_reasons
from auditor.report.json import probe_results
from auditor.report.terminal import VERDICT_STYLE, _mark, _paragraph

# A static hint's kind: style and label, padded to one width.
HINT_LABELS = {
    "red_flag": ("red", "red flag "),
    "good_sign": ("green", "good sign"),
    "note": ("dim", "note     "),
}


def _said(message: str, seen: dict[str, str], probe: str) -> str | None:
    """`message`, or None when an earlier probe said the same (`seen`: message -> probe)."""
    if message in seen:
        return None
    seen[message] = probe
    return message


def _probe_detail(result: ProbeResult, name: str = "", seen: dict[str, str] | None = None) -> Text:
    """One probe's evidence; a message an earlier probe showed is named, not repeated."""
    seen = {} if seen is None else seen
    text = Text()
    if result.exception:
        text.append(f"{result.exception}: ", style="bold")
    if result.message:
        message = result.message
        if _said(message, seen, name) is None:
            text.append(f"(the same message as {seen[message]})", style="dim")
        else:
            text.append(message)
    if result.cause:
        text.append(f" (from {result.cause})", style="dim")
    if result.signal:
        text.append(f" {result.signal}", style="bold red")
    elif result.exit_code not in (0, None):
        text.append(f" exit code {result.exit_code}", style="bold red")
    if result.outcome in (Outcome.CRASH, Outcome.TIMEOUT) and result.stage:
        text.append(f" at stage {result.stage}")
        if result.import_outcome is not None:
            text.append(f" (the import itself: {result.import_outcome.value})", style="dim")
    after = result.main_after
    if after is not None:
        style = "green" if after.ok else "yellow"
        text.append(f"{'; ' if text else ''}then main: {after.outcome.value}", style=style)
        if after.message:
            if _said(after.message, seen, f"{name}, then main") is None:
                text.append(f": (the same message as {seen[after.message]})", style="dim")
            else:
                text.append(f": {after.message}")
    if result.kind:  # a depth probe
        where = f" at {result.step}" if result.step else ""
        text.append(f" [{result.kind}{where}", style="dim")
        if result.runs > 1:
            text.append(f"; {result.failed_runs} of {result.runs} runs failed", style="dim")
        heap = result.heap
        if heap is not None and heap.heap_growth_per_cycle is not None:
            text.append(
                f"; C heap +{heap.heap_growth_per_cycle // 1024} KiB per cycle, empty "
                f"interpreter +{(heap.control_heap_growth_per_cycle or 0) // 1024} KiB",
                style="dim",
            )
        text.append("]", style="dim")
    if result.stdout_bytes:
        text.append(f" [{result.stdout_bytes:,} bytes on stdout]", style="dim")
    return text


def render_explain(module: dict[str, Any], python: dict[str, Any], console: Console) -> None:
    """Everything about one module (its entry of the JSON report), for `explain`."""
    verdict = Verdict(module["verdict"])
    dist = module.get("distribution")
    head = Text(module["name"], style="bold")
    if dist:
        head.append(f"  ({dist['name']} {dist['version']})", style="cyan")
    head.append("  verdict: ")
    head.append(verdict.value, style=VERDICT_STYLE[verdict])
    console.print(head)
    console.print(f"[dim]Python {escape(python['version'])} · {escape(python['executable'])}[/]")
    console.print(f"[dim]path:[/] {escape(module['path'])}", soft_wrap=True)
    init = module["init"]
    console.print(
        f"[dim]init:[/] {init['style']}, Py_mod_multiple_interpreters "
        f"{init.get('multiple_interpreters') or 'absent'}, Py_mod_gil "
        f"{init.get('gil') or 'absent'}, m_size {init.get('m_size')}"
    )
    binding = module.get("binding")
    if binding:
        version = f" {binding['version']}" if binding.get("version") else ""
        evidence = escape("; ".join(binding.get("evidence", [])[:3]))
        console.print(f"[dim]toolkit:[/] {binding['toolkit']}{version} [dim]({evidence})[/]")

    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        header_style="bold",
        title="Probes",
        title_justify="left",
        title_style="bold",
    )
    table.add_column("probe", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("evidence", overflow="fold")
    seen: dict[str, str] = {}
    probes = probe_results(module)
    for name, result in probes.items():
        table.add_row(
            name,
            Text.assemble(_mark(result), " ", result.outcome.value),
            _probe_detail(result, name, seen),
        )
    console.print(table)

    if module["reasons"]:
        console.print(Text("Why, and what to do", style="bold"))
    for number, (reason, restated) in enumerate(fold_reasons(module["reasons"]), 1):
        advice = reason.get("advice") or {}
        console.print(
            Text.assemble(
                (f"{number}. {advice.get('title', reason['code'])}", "bold"),
                (f"  [{reason['code']}]", "dim"),
            )
        )
        _paragraph(console, Text(reason["message"]))
        for other in restated:  # reasons that only restate this one
            _paragraph(
                console,
                Text.assemble(("also ", "dim"), other["message"], (f"  [{other['code']}]", "dim")),
            )
        if advice.get("explanation"):
            _paragraph(console, Text(advice["explanation"], style="dim"))
        if advice.get("fix"):
            label = f"Fix ({advice['toolkit']}): " if advice.get("toolkit") else "Fix: "
            _paragraph(console, Text.assemble((label, "bold green"), advice["fix"]))
        for title, url in advice.get("links", []):
            _paragraph(console, Text(f"→ {title}: {url}", style="blue"))
    if not module["reasons"] and verdict is Verdict.OWN_GIL:
        console.print("[green]Every probe passed: usable with concurrent.interpreters.[/]")

    hints = (module.get("static") or {}).get("hints", [])
    if hints:
        console.print(
            Text("Static hints (imported C-API symbols; hints, not the verdict)", style="bold")
        )
        for hint in sorted(hints, key=lambda h: (h["kind"] != "red_flag", h["symbol"])):
            style, label = HINT_LABELS.get(hint["kind"], ("", hint["kind"]))
            console.print(
                Text.assemble(
                    ("   " + label + " ", style), (hint["symbol"], "bold"), f": {hint['meaning']}"
                )
            )
    for name, result in probes.items():
        if result.outcome in (Outcome.CRASH, Outcome.TIMEOUT) and result.stderr_tail:
            lines = result.stderr_tail.rstrip().splitlines()
            fatal = [i for i, line in enumerate(lines) if line.startswith("Fatal Python error")]
            lines = lines[fatal[-1] : fatal[-1] + 12] if fatal else lines[-12:]
            console.print(Text(f"stderr of {name}", style="bold"))
            console.print(Text("\n".join("   " + line for line in lines), style="dim"))
            break  # one is enough on a terminal; the JSON and HTML reports keep them all
