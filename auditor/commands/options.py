"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from auditor.probe_plan import ISOLATION_MODES

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

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read [tool.subinterp-audit] from this file. Default: ./pyproject.toml if present. "
    "Command-line options override it.",
)
TIMEOUT_OPTION = click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="Seconds one probe may take before it counts as a hang. Default: 60.",
)
SMOKE_OPTION = click.option(
    "--smoke",
    metavar="CODE",
    default=None,
    help="Python code run after the import in every interpreter of every probe (e.g. "
    '\'import mypkg; mypkg.f(1)\'). Per module: smoke = {"mod" = "code"} in the config.',
)

F = TypeVar("F", bound=Callable[..., Any])


def probe_options(command: F) -> F:
    """The options that say how to probe, as one decorator: --isolation, --no-cache, --timeout,
    --smoke, --config, in this order in --help (scan places each among its own options)."""
    return ISOLATION_OPTION(NO_CACHE_OPTION(TIMEOUT_OPTION(SMOKE_OPTION(CONFIG_OPTION(command)))))
