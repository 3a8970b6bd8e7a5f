"""pytest plugin: run this pytest invocation's suite inside subinterpreters instead.

    pytest -p subinterp_audit --subinterpreters=own_gil [--subinterpreters-count=4] [ARGS]

With ``--subinterpreters`` the session does not run the tests here: it hands the same
arguments to the engine of ``subinterp-audit test`` (auditor/suites/runner.py), which runs
the suite in the main interpreter of a fresh process and in K interpreters of the kind at
once, each in a sacrificial process, prints the difference, and makes it pytest's exit code
(0: no test differs; 1: a test passes in main but not in the kind).  Without the option the
plugin does nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

KINDS = ("legacy", "isolated", "own_gil")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("subinterp-audit", "run the suite inside subinterpreters")
    group.addoption(
        "--subinterpreters",
        choices=KINDS,
        default=None,
        help="run this suite in subinterpreters of this kind (and in main), and report what "
        "differs",
    )
    group.addoption(
        "--subinterpreters-count",
        type=int,
        default=1,
        metavar="K",
        help="K interpreters at once, on K threads (default 1)",
    )
    group.addoption(
        "--subinterpreters-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="each run's time limit (default 600)",
    )


OWN = ("--subinterpreters", "--subinterpreters-count", "--subinterpreters-timeout")


def suite_args(args: list[str]) -> list[str]:
    """This invocation's arguments without the plugin's own: what each run gets."""
    kept: list[str] = []
    given = iter(args)
    for arg in given:
        if arg in OWN:
            next(given, None)  # its value
        elif arg.startswith(tuple(f"{option}=" for option in OWN)) or arg == "-psubinterp_audit":
            continue
        elif arg == "-p":
            name = next(given, None)
            if name is not None and name != "subinterp_audit":
                kept += ["-p", name]
        else:
            kept.append(arg)
    return kept


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    kind = config.getoption("subinterpreters")
    if not kind:
        return None
    from rich.console import Console

    from auditor.errors import AuditorError
    from auditor.report.suite import render_suite_terminal, run_failed, suite_dict
    from auditor.suites.runner import run_both

    args = suite_args([str(a) for a in config.invocation_params.args])
    try:
        main, sub, tests, seconds = run_both(
            Path(sys.executable),
            kind,
            config.getoption("subinterpreters_count"),
            args,
            Path(config.invocation_params.dir),
            config.getoption("subinterpreters_timeout"),
        )
    except AuditorError as exc:
        sys.stderr.write(f"subinterp-audit: error: {exc}\n")
        return 2
    data = suite_dict(sys.executable, main, sub, tests, seconds)
    render_suite_terminal(data, Console(highlight=False))
    return 1 if data["summary"]["differ"] or run_failed(sub) else 0
