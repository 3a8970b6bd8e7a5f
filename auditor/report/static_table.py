"""``scan --static-only`` on the terminal: per artifact its tags, a table of its extension
modules (toolkit, init style guessed from the symbols, red flags) and the files not read."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from auditor.static.artifact import NO_PROBE, RUN_SCAN, Artifact


def _printable(text: str) -> str:
    """A name from an untrusted archive, safe for a terminal (no escape sequences)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def render(artifacts: Sequence[Artifact], console: Console) -> None:
    console.print(Text(NO_PROBE, style="bold"))
    for artifact in artifacts:
        console.print()
        console.print(Text(f"{_printable(artifact.path)} ({artifact.kind})", style="bold"))
        for tag in artifact.tags:
            where = f" on {tag.platform}" if tag.platform else ""
            console.print(Text(f"  {_printable(tag.tag)} ({tag.meaning}){where}"))
        modules = sorted(artifact.modules, key=lambda m: (m.name, m.file))
        if modules:
            table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
            # A module name is never split: the toolkit and init texts wrap instead.
            table.add_column("module", no_wrap=True)
            table.add_column("toolkit", overflow="fold", ratio=2)
            table.add_column("init (from symbols)", overflow="fold", ratio=2)
            table.add_column("red flags", justify="right", no_wrap=True)
            for module in modules:
                binding = module.info.binding
                toolkit = (
                    f"{binding.toolkit} {binding.version}" if binding.version else binding.toolkit
                )
                flags = len(module.info.red_flags)
                table.add_row(
                    Text(module.name),
                    Text(toolkit),
                    Text(module.init_guess),
                    Text(str(flags), style="red" if flags else "green"),
                )
            console.print(Padding(table, (0, 0, 0, 2)))
            for module in modules:
                if module.note:
                    console.print(Text(f"  {module.name}: {module.note}", style="yellow"))
        else:
            console.print(Text("  no extension module in it"))
        for other in sorted(artifact.others, key=lambda o: o.file):
            console.print(Text(f"  {_printable(other.file)}: {other.reason}", style="dim"))
        for refused in artifact.refused:
            console.print(Text(f"  {_printable(refused.file)}: {refused.reason}", style="red"))
    console.print()
    console.print(Text(f"{NO_PROBE} {RUN_SCAN}", style="bold"))
