"""The progress display of a scan: one steady line on stderr, in probes, with the time left."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

from auditor.console import err_console
from auditor.model import Interpreter
from auditor.probing.discover import Discovery
from auditor.probing.observer import ScanObserver
from auditor.report import plural

# The width of everything but the bar and the name: "probing 3.13.10 ", "1234/5678 modules",
# elapsed "0:01:23", "left 0:02:10", and the spaces between the columns.
_FIXED_WIDTH = 16 + 17 + 8 + 13 + 7


class ScanProgress(ScanObserver):
    """What an audit found, then a progress bar on stderr (transient), while it runs:
    ``with ScanProgress(interp) as progress: audit_target(..., observer=progress)``."""

    def __init__(self, interp: Interpreter) -> None:
        # One line at any width: the bar and the module's name share what the counts leave.
        rest = err_console.width - _FIXED_WIDTH
        bar_width = max(6, min(24, rest // 2))
        name_width = max(8, min(28, rest - bar_width))
        self._interp = interp
        self._progress = Progress(
            TextColumn("[bold]probing[/] {task.description}"),
            BarColumn(bar_width=bar_width),  # moves by probes: what takes the time
            TextColumn("{task.fields[modules]}"),  # counts modules: what the scan is about
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            # A steady width: the module under way, cut to fit.
            TextColumn(
                "{task.fields[current]}",
                style="dim",
                table_column=Column(width=name_width, no_wrap=True, overflow="ellipsis"),
            ),
            console=err_console,
            transient=True,
        )

    def __enter__(self) -> ScanProgress:
        err_console.print(f"[dim]target: {escape(self._interp.label)}[/]")
        self._progress.__enter__()
        self._task = self._progress.add_task(
            self._interp.version, total=None, current="discovering", modules=""
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.__exit__(None, None, None)

    def discovered(self, found: Discovery, probes: int, reused: int) -> None:
        self._progress.update(self._task, total=probes, current="")
        others = len(found.non_extensions)
        suffix = f", {plural(others, 'non-extension file')}" if others else ""
        if reused:
            suffix += f"; {reused} unchanged since the last scan (--no-cache to probe again)"
        named = sum(m.is_import for m in found.modules)
        found_text = plural(len(found.modules) - named, "extension module")
        if named:
            found_text += f" and {plural(named, '--import name')}"
        err_console.print(f"[dim]found {found_text}{suffix}[/]")

    def probed(self, done: int, total: int, module: str) -> None:
        self._progress.update(self._task, completed=done, total=total, current=module)

    def modules_done(self, done: int, total: int, phase: str) -> None:
        text = f"{done}/{total} modules" if phase == "import" else f"depth {done}/{total}"
        self._progress.update(self._task, modules=text)
