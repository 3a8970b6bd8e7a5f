"""`subinterp-audit diff`: what changed between two JSON reports."""

from __future__ import annotations

from pathlib import Path

import click

from auditor.commands.exits import EXIT_POLICY
from auditor.console import console
from auditor.judging.policy import diff_reports
from auditor.report.gate_text import render_diff
from auditor.report.json import load_report


@click.command()
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def diff(old: Path, new: Path) -> None:
    """Show what changed between two JSON reports (exit 1 if a module got worse).

    \b
    Modules are matched by name and by the target's Python version (major.minor),
    so reports of different tool versions and machines can be compared.

    \b
    Example:
      subinterp-audit diff main.json branch.json
    """
    changes = diff_reports(load_report(old), load_report(new))
    render_diff(changes, console)
    if any(c.kind == "regressed" for c in changes):
        raise SystemExit(EXIT_POLICY)
