"""The terminal rendering: one table per target, grouped by distribution, and a summary."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from auditor.judging.classify import leaks
from auditor.judging.interpreter_bugs import cpython_bug_phrase
from auditor.model import ModuleAudit, Outcome, ProbeResult, TargetAudit, Verdict
from auditor.probe_plan import DEPTH_PROBES
from auditor.report import LEAK_MARK, MAIN_BROKEN_MARK, MARKS, concurrent_pass_phrase, plural

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
_COLUMNS = (
    ("legacy", "legacy", "legacy_after_main"),
    ("isolated", "isolated", "isolated_after_main"),
    ("own GIL", "own_gil", "own_gil_after_main"),
)


_MARK_STYLE = {
    Outcome.OK: "green",
    Outcome.IMPORT_ERROR: "magenta",
    Outcome.ERROR: "red",
    Outcome.CRASH: "bold red",
    Outcome.TIMEOUT: "bold red",
    Outcome.NOT_RUN: "dim",
    Outcome.TOOL_FAILURE: "bold yellow",
}


def _mark(result: ProbeResult | None) -> Text:
    if result is None:
        return Text("-", style="dim")
    if result.outcome is Outcome.OK and result.main_after is not None and not result.main_after.ok:
        return Text(MAIN_BROKEN_MARK, style="yellow")  # loaded, but main's import failed after
    return Text(MARKS[result.outcome.value], style=_MARK_STYLE[result.outcome])


def _init_text(audit: ModuleAudit) -> str:
    if audit.module.is_import:
        return "(import)"  # probed by its import: no init function was read
    init = audit.init
    if init.style == "single_phase":
        return "single"
    if init.style == "multi_phase":
        slot = {
            None: "no slot",
            "not_supported": "not supp.",
            "supported": "shared",
            "per_interpreter_gil": "own GIL",
        }.get(init.multiple_interpreters, str(init.multiple_interpreters))
        return f"multi, {slot}"
    return "?"


def _depth_text(audit: ModuleAudit) -> Text:
    """The depth probes (reuse, concurrent, cycles) in the first kind they ran in (the
    kind is in the JSON report and in explain)."""
    probes = audit.probes
    if not any(name in probes for name in DEPTH_PROBES):
        return Text("")
    text = Text()
    for index, name in enumerate(DEPTH_PROBES):
        result = probes.get(name)
        if index:
            text.append(" ")
        if result is not None and result.outcome is Outcome.OK and leaks(result):
            text.append(LEAK_MARK, style="yellow")
        else:
            text.append_text(_mark(result))
    return text


def _gil_text(audit: ModuleAudit) -> Text:
    """Free-threaded targets: did main's import re-enable the GIL, and which module did it."""
    main = audit.probes.get("main")
    if main is None or main.gil_enabled is None:
        return Text("-", style="dim")
    if not main.gil_enabled:
        return Text("off", style="green")
    culprit = next((r.module for r in audit.reasons if r.code == "gil_reenabled"), None)
    if culprit and culprit != audit.module.name:
        return Text(f"on ({culprit})", style="yellow")
    return Text("on", style="yellow")


def _fit_group(group: str, width: int) -> str:
    """A distribution's "name version" in `width`: the version goes first."""
    if len(group) <= width:
        return group
    name = group.rpartition(" ")[0] or group
    return name if len(name) <= width else _fit(name, width)


def _fit(name: str, width: int) -> str:
    """`name`, or its end after "…" when it is wider than `width`."""
    return name if len(name) <= width else "…" + name[-(width - 1) :]


# A why-line's message is cut after this many characters (the reports keep all of it).
WHY_CHARS = 400


def _why(audit: ModuleAudit) -> str:
    if audit.verdict is Verdict.OWN_GIL or not audit.reasons:
        return ""
    why = audit.reasons[0].message  # the most important one (see classify.REASON_CODES)
    if len(why) > WHY_CHARS:  # a module's own message can be kilobytes: one paragraph here
        why = f"{why[:WHY_CHARS]}… (explain {audit.module.name} shows all of it)"
    bug = _interpreter_bug(audit)
    if bug is not None:  # nobody should file CPython's crash against the module
        issue, fixed_in = bug
        fixed = f"fixed in {fixed_in}" if fixed_in else "not fixed yet"
        why += f"; that is {cpython_bug_phrase(issue)} ({fixed}), not this module's"
        if audit.verdict_on_fixed_interpreter is not None:
            why += f": {audit.verdict_on_fixed_interpreter.value} on a fixed interpreter"
    return why


def _interpreter_bug(audit: ModuleAudit) -> tuple[str, str | None] | None:
    """(CPython issue, fixed in) of the first known CPython bug behind this verdict."""
    for reason in audit.reasons:
        if reason.code == "interpreter_bug":
            details = dict(reason.details)
            return str(details.get("cpython_issue")), details.get("fixed_in")
    return None


def render_target(target: TargetAudit, console: Console, show_stdlib: bool = False) -> None:
    py = target.python
    depth = any(name in a.probes for a in target.modules for name in DEPTH_PROBES)
    free_threaded = py.gil_disabled  # the GIL column: what main's import did to the GIL
    # With third-party modules present the stdlib is folded into one line (JSON and HTML
    # keep every module): it is rarely what a maintainer is looking at.
    fold = not show_stdlib and any(a.module.group != "stdlib" for a in target.modules)
    shown = [a for a in target.modules if not (fold and a.module.group == "stdlib")]
    folded = [a for a in target.modules if fold and a.module.group == "stdlib"]

    # Every cell but the module's, then the columns' widths as they will print: the module
    # column gets the rest, and a longer name keeps its end ("…_multiarray_umath"): never
    # split across lines, every header whole, the verdict always visible.
    titles = ["main", *(["GIL"] if free_threaded else []), *(t for t, _, _ in _COLUMNS)]
    titles += [*(["depth"] if depth else []), "verdict"]
    rows = []
    for audit in shown:
        probes = audit.probes
        rows.append(
            [
                _mark(probes.get("main")),
                *([_gil_text(audit)] if free_threaded else []),
                *(
                    Text.assemble(_mark(probes.get(fresh)), " ", _mark(probes.get(after)))
                    for _, fresh, after in _COLUMNS
                ),
                *([_depth_text(audit)] if depth else []),
                Text(audit.verdict.value, style=VERDICT_STYLE[audit.verdict]),
            ]
        )
    widths = [max(len(title), *(row[i].cell_len for row in rows)) for i, title in enumerate(titles)]
    # Each border is a blank and a blank of padding (collapsed); the table's edges, one each.
    others = sum(widths) + 2 * len(widths) + 3
    longest = max((len(a.module.name) + 2 for a in shown), default=10)
    inits = [_init_text(a) for a in shown]
    init_width = max((len(text) for text in inits), default=4) + 2
    # The init column only where the names keep enough room without it.
    wide = console.width - others - init_width >= min(longest, 30)
    room = max(16, console.width - others - (init_width if wide else 0))
    table = Table(
        title=f"Python {py.version} · {py.executable}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold",
    )
    table.add_column("module", no_wrap=True, min_width=min(longest, room), max_width=room)
    if wide:
        table.add_column("init", no_wrap=True)
    for title in titles:
        center = title not in ("GIL", "depth", "verdict")
        table.add_column(title, justify="center" if center else "left", no_wrap=True)
    group = None
    for audit, cells, init in zip(shown, rows, inits, strict=True):
        if audit.module.group != group:
            group = audit.module.group
            table.add_row(Text(_fit_group(group, room), style="bold cyan"))
        table.add_row("  " + _fit(audit.module.name, room - 2), *([init] if wide else []), *cells)
    for note in target.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    console.print(table)
    if folded:
        counts = Counter(a.verdict for a in folded)
        parts = ", ".join(f"{counts[v]} {v.value}" for v in Verdict if counts[v])
        _paragraph(
            console,
            Text(f"stdlib: {plural(len(folded), 'module')} ({parts}); --show-stdlib lists them"),
            indent=1,
        )
    # One line per distinct finding: modules of one distribution with the same verdict and
    # the same main reason (scipy's 90 modules blocked by numpy) share a line.
    findings: dict[tuple[str, Verdict, str], list[str]] = {}
    for audit in shown:
        if audit.verdict is not Verdict.OWN_GIL and (why := _why(audit)):
            findings.setdefault((audit.module.group, audit.verdict, why), []).append(
                audit.module.name
            )
    if findings:
        console.print(Text("Why not own_gil:", style="bold"))
    for (group, verdict, why), names in findings.items():
        line = Text()
        if len(names) == 1:
            line.append(names[0], style="bold")
        else:
            listed = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
            line.append(f"{len(names)} modules of {group}", style="bold")
            line.append(f" ({listed})", style="dim")
        line.append(f" ({verdict.value}): ", style=VERDICT_STYLE[verdict])
        line.append(why)
        _paragraph(console, line, indent=2)
    if target.non_extensions:
        listed = escape(", ".join(n.name for n in target.non_extensions[:5]))
        more = " …" if len(target.non_extensions) > 5 else ""
        count = len(target.non_extensions)
        are = "is not a Python extension" if count == 1 else "are not Python extensions"
        console.print(
            f"[dim]{plural(count, 'file')} with an extension suffix {are} "
            f"(no PyInit_): {listed}{more}[/]"
        )


def summary_line(target: TargetAudit) -> Text:
    counts = Counter(a.verdict for a in target.modules)
    text = Text(f"{plural(len(target.modules), 'module')}: ")
    parts = [(f"{counts[v]} {v.value}", VERDICT_STYLE[v]) for v in Verdict if counts[v]]
    for i, (part, style) in enumerate(parts):
        if i:
            text.append(", ")
        text.append(part, style=style)
    bugs = Counter(bug[0] for a in target.modules if (bug := _interpreter_bug(a)))
    if bugs:
        count = sum(bugs.values())
        issues = ", ".join(f"{issue}: {n}" for issue, n in bugs.most_common())
        text.append(
            f"; CPython's own bugs behind {count} of these ({issues}), each with its verdict "
            f"on a fixed interpreter"
        )
    if target.incomplete:
        text.append(f"; the tool failed on {len(target.incomplete)}", style="bold red")
    return text


def render(
    targets: list[TargetAudit], console: Console, written: list[Path], show_stdlib: bool = False
) -> None:
    legend = (
        f"✓ imports  {MAIN_BROKEN_MARK} imports, but main cannot afterwards  ✗ ImportError  "
        "! other error  ☠ crash  ∞ hang  · not run;  each kind: fresh, then after main"
    )
    if any(name in a.probes for t in targets for a in t.modules for name in DEPTH_PROBES):
        legend += (
            f";  depth: reuse, concurrent, cycles ({LEAK_MARK} leaks), in the best kind "
            "the imports passed"
        )
    rests_on = concurrent_pass_phrase(
        (name, result.outcome.value, result.runs)
        for t in targets
        for a in t.modules
        for name, result in a.probes.items()
    )
    if rests_on:
        legend += f";  {rests_on}"
    if any(t.python.gil_disabled for t in targets):
        legend += ";  GIL: on/off after main's import (free-threaded builds)"
    for target in targets:
        render_target(target, console, show_stdlib)
        console.print(summary_line(target))
    console.print(Text(legend, style="dim"))
    for path in written:
        console.print(f"report written to [bold]{escape(str(path))}[/]")


_URL = re.compile(r"https?://\S+")


def _paragraph(console: Console, text: Text, indent: int = 3) -> None:
    """`text` indented, its wrapped lines too; a URL is never split (a text with a URL too
    long for the line is left to the terminal's own wrapping, in one piece)."""
    width = console.width - indent
    if any(len(url) > width for url in _URL.findall(text.plain)):
        console.print(Text(" " * indent) + text, soft_wrap=True)
    else:
        console.print(Padding(text, (0, 0, 0, indent)))
