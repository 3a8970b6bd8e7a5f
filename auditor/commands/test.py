"""`subinterp-audit test`: a project's pytest suite in subinterpreters, against main."""

from __future__ import annotations

from pathlib import Path

import click

from auditor.commands.exits import EXIT_OK, EXIT_POLICY
from auditor.console import console
from auditor.errors import UsageError
from auditor.probing.target import resolve
from auditor.report.output import check_output, write_report
from auditor.report.suite import (
    dump_suite_json,
    render_suite_junit,
    render_suite_terminal,
    run_failed,
    suite_dict,
)
from auditor.suites.runner import KINDS, SUITE_TIMEOUT, run_both


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--python", "python_spec", metavar="PY", help="The project's interpreter or venv.")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="own_gil",
    show_default=True,
    help="The subinterpreter kind the suite runs in.",
)
@click.option(
    "--interpreters",
    type=int,
    default=1,
    show_default=True,
    metavar="K",
    help="Run the suite in K interpreters at once, on K threads (most bugs need two).",
)
@click.option(
    "--timeout",
    type=float,
    default=SUITE_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="Each run's time limit (main, then the subinterpreters); past it, the run hangs.",
)
@click.option(
    "--deadlock-after",
    "deadlock_seconds",
    type=float,
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="A run that writes nothing and uses no CPU for this long is deadlocked: stopped "
    "then, with every thread's native stack (gdb or eu-stack), not at --timeout; 0: never.",
)
@click.option("--json", "json_path", type=Path, metavar="FILE", help="Write the JSON report.")
@click.option("--junit", "junit_path", type=Path, metavar="FILE", help="Write JUnit XML.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def test(
    python_spec: str | None,
    kind: str,
    interpreters: int,
    timeout: float,
    deadlock_seconds: float,
    json_path: Path | None,
    junit_path: Path | None,
    pytest_args: tuple[str, ...],
) -> None:
    """Run your pytest suite inside subinterpreters and show what differs from main.

    \b
    In the project's directory: the suite runs once in the main interpreter of a fresh
    process, then in K interpreters of the kind at once (one process, K threads, each
    interpreter running the whole suite with pytest).  Each run is a sacrificial process:
    a crash or a hang costs the run.  The report is the difference: the tests that pass in
    main but fail, error, crash or hang in a subinterpreter.  Tests that fail in main too
    are listed apart.

    \b
    Examples:
      subinterp-audit test --python .venv -- tests/
      subinterp-audit test --python .venv --interpreters 4 --junit sub.xml -- -k parser

    \b
    Exit codes: 0 no test differs, 1 a test passes in main but not in the kind (or the
    subinterpreters' run itself crashed or hung), 2 usage error.
    """
    for path, label in ((json_path, "JSON report"), (junit_path, "JUnit report")):
        if path is not None and (problem := check_output(path)):
            raise UsageError(f"cannot write the {label} to {path}: {problem}")
    python = resolve(python_spec)
    main, sub, tests, seconds = run_both(
        python, kind, interpreters, pytest_args, Path.cwd(), timeout, deadlock_seconds
    )
    data = suite_dict(str(python), main, sub, tests, seconds)
    if json_path is not None:
        write_report(json_path, dump_suite_json(data))
    if junit_path is not None:
        write_report(junit_path, render_suite_junit(data))
    render_suite_terminal(data, console)
    failed = data["summary"]["differ"] > 0 or run_failed(sub)
    raise SystemExit(EXIT_POLICY if failed else EXIT_OK)
