"""The progress display of a scan: one steady line on stderr, in probes, with the time left."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

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
from auditor.model import Interpreter, TargetAudit
from auditor.probe_plan import DepthSettings
from auditor.probing.audit import scan_target
from auditor.probing.cache import ResultCache
from auditor.probing.discover import Discovery
from auditor.probing.helper import cache_root
from auditor.report import plural

# The width of everything but the bar and the name: "probing 3.13.10 ", "1234/5678 modules",
# elapsed "0:01:23", "left 0:02:10", and the spaces between the columns.
_FIXED_WIDTH = 16 + 17 + 8 + 13 + 7


def scan_with_progress(
    interp: Interpreter,
    *,
    paths: Sequence[Path],
    packages: Sequence[str],
    modules: Sequence[str],
    jobs: int,
    imports: Sequence[str] = (),
    use_cache: bool = True,
    timeout: float,
    isolation: str,
    no_cache: bool,
    depth: DepthSettings | None,
    smoke: Mapping[str, str],
) -> TargetAudit:
    """scan_target, with what it found and a progress bar on stderr (transient)."""
    # One line at any width: the bar and the module's name share what the counts leave.
    rest = err_console.width - _FIXED_WIDTH
    bar_width = max(6, min(24, rest // 2))
    name_width = max(8, min(28, rest - bar_width))
    progress = Progress(
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
    err_console.print(f"[dim]target: {escape(interp.label)}[/]")
    with progress:
        task = progress.add_task(interp.version, total=None, current="discovering", modules="")

        def discovered(found: Discovery, total: int, reused: int) -> None:
            progress.update(task, total=total, current="")
            others = len(found.non_extensions)
            suffix = f", {plural(others, 'non-extension file')}" if others else ""
            if reused:
                suffix += f"; {reused} unchanged since the last scan (--no-cache to probe again)"
            named = sum(m.is_import for m in found.modules)
            found_text = plural(len(found.modules) - named, "extension module")
            if named:
                found_text += f" and {plural(named, '--import name')}"
            err_console.print(f"[dim]found {found_text}{suffix}[/]")

        def advanced(done: int, total: int, name: str) -> None:
            progress.update(task, completed=done, total=total, current=name)

        def modules_ended(done: int, total: int, phase: str) -> None:
            text = f"{done}/{total} modules" if phase == "import" else f"depth {done}/{total}"
            progress.update(task, modules=text)

        return scan_target(
            interp,
            paths=paths,
            packages=packages,
            module_names=modules,
            imports=imports,
            jobs=jobs,
            timeout=timeout,
            isolation=isolation,
            # A throwaway venv's results could never be reused: its paths die with it.
            cache=ResultCache(cache_root(), reuse=not no_cache, enabled=use_cache),
            depth=depth,
            smoke=smoke,
            on_discovered=discovered,
            on_progress=advanced,
            on_modules=modules_ended,
        )
