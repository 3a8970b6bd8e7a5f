"""Options shared by several commands."""

from __future__ import annotations

import click

from auditor.probing.scheduler import ISOLATION_MODES

ISOLATION_OPTION = click.option(
    "--isolation",
    type=click.Choice(ISOLATION_MODES),
    default="shared",
    show_default=True,
    help="shared: each probe forks from a process in the state of a newly started "
    "interpreter, and the after-main probes share one main import (unless it left threads "
    "running). strict: every probe in a newly started interpreter (slower; same results).",
)
NO_CACHE_OPTION = click.option(
    "--no-cache",
    is_flag=True,
    help="Probe every module again instead of reusing cached results (a result is reused "
    "only while every file its probes loaded, sys.path and the PYTHON*/LD_* environment are "
    "unchanged; kept in ~/.cache/subinterp-audit); the new results replace them.",
)
