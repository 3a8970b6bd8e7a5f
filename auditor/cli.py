"""The command line: click commands, wiring and exit codes only."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from auditor import __version__
from auditor.console import console, err_console
from auditor.errors import AuditorError
from auditor.model import AuditReport, TargetAudit
from auditor.report import terminal
from auditor.report.html import render_html
from auditor.report.json import dump_json, load_report, report_dict, write_atomic
from auditor.scan import scan_target
from auditor.target import describe, resolve

# Exit codes (documented in the README).
EXIT_OK = 0  # the scan finished
EXIT_POLICY = 1  # reserved: the CI policy failed (--fail-on/--require, coming)
EXIT_USAGE = 2  # bad usage, or an unusable target interpreter
EXIT_INCOMPLETE = 3  # the scan finished, but the tool itself failed on some module

DEFAULT_REPORT_DIR = Path("reports")
DEFAULT_JSON = DEFAULT_REPORT_DIR / "subinterp-audit.json"
DEFAULT_HTML = DEFAULT_REPORT_DIR / "subinterp-audit.html"


def _error(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """The one exit point for errors: one line on stderr, no traceback."""
    err_console.print(f"[bold red]subinterp-audit: error:[/] {message}", soft_wrap=True)
    raise SystemExit(code)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _default_report_dir() -> None:
    """reports/ under the current directory, ignored by git (we drop a .gitignore)."""
    if not DEFAULT_REPORT_DIR.exists():
        DEFAULT_REPORT_DIR.mkdir(parents=True)
        (DEFAULT_REPORT_DIR / ".gitignore").write_text("*\n")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="subinterp-audit")
def cli() -> None:
    """Does your CPython extension module work in subinterpreters?

    subinterp-audit imports every extension module of a Python environment in
    subinterpreters of each kind (legacy, isolated with a shared GIL, isolated with its
    own GIL), each attempt in a sacrificial process, and tells you what happened, what it
    means, and which modules are ready for concurrent.interpreters.
    """


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--python",
    "pythons",
    multiple=True,
    metavar="PYTHON",
    help="Interpreter to audit: a path, a venv directory, a version such as 3.13 "
    "(found on PATH, in the active venv or under pyenv), or a command. "
    "Repeat for several targets. Default: the active venv, else this Python.",
)
@click.option(
    "--package",
    "packages",
    multiple=True,
    metavar="NAME",
    help="Only the extension modules installed by this distribution (repeatable).",
)
@click.option(
    "--module",
    "modules",
    multiple=True,
    metavar="NAME",
    help="Only this module, or the extension modules of this package (repeatable).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Write the JSON report here. Default, when no output option is given: {DEFAULT_JSON}.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Write the HTML report for maintainers here (one self-contained file). "
    f"Default, when no output option is given: {DEFAULT_HTML}.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Probes to run in parallel. Default: the number of CPUs.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds one probe may take before it counts as a hang.",
)
def scan(
    paths: tuple[Path, ...],
    pythons: tuple[str, ...],
    packages: tuple[str, ...],
    modules: tuple[str, ...],
    json_path: Path | None,
    html_path: Path | None,
    jobs: int | None,
    timeout: float,
) -> None:
    """Probe extension modules in subinterpreters and report a verdict for each.

    \b
    With no PATHS, every extension module importable by the target is audited
    (site-packages, user site, lib-dynload, .pth paths). PATHS narrow that to a
    directory (e.g. a build tree) or single .so files.

    \b
    Examples:
      subinterp-audit scan                          # this environment
      subinterp-audit scan --python 3.13 --package numpy
      subinterp-audit scan --python .venv ./build/lib --json out.json

    \b
    Exit codes: 0 scan done, 2 usage error or unusable target,
    3 the tool itself failed on some module (the report says which).
    """
    jobs = jobs or os.cpu_count() or 1
    started = _now()
    targets: list[TargetAudit] = []
    for spec in pythons or (None,):
        interp = describe(resolve(spec))
        targets.append(_scan_one(interp, paths, packages, modules, jobs, timeout))
    report = AuditReport(tuple(targets), started, _now(), tuple(sys.argv[1:]))
    if json_path is None and html_path is None:
        _default_report_dir()
        json_path, html_path = DEFAULT_JSON, DEFAULT_HTML
    data = report_dict(report)
    # Render everything before writing anything: a failure leaves every old report intact.
    outputs = [
        (path, render(data))
        for path, render in ((json_path, dump_json), (html_path, render_html))
        if path
    ]
    for path, text in outputs:
        write_atomic(path, text)
    terminal.render(targets, console, [path for path, _ in outputs])
    if any(t.incomplete for t in targets):
        raise SystemExit(EXIT_INCOMPLETE)


@cli.command()
@click.argument("module")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--python",
    "python_spec",
    metavar="PYTHON",
    help="Interpreter to probe the module in (as for scan). Default: the active venv, "
    "else this Python.",
)
@click.option(
    "--report",
    "report_path",
    metavar="REPORT",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Explain from this JSON report instead of probing again.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the module's entry of the JSON report instead of text.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds one probe may take before it counts as a hang.",
)
def explain(
    module: str,
    paths: tuple[Path, ...],
    python_spec: str | None,
    report_path: Path | None,
    as_json: bool,
    timeout: float,
) -> None:
    """Explain one module: every probe with its evidence, the reasons and how to fix them.

    \b
    Examples:
      subinterp-audit explain lxml.etree --python .venv
      subinterp-audit explain mypkg._speedups ./build/lib --python 3.13
      subinterp-audit explain numpy._core._multiarray_umath --report reports/subinterp-audit.json
    """
    if report_path is not None:
        data = load_report(report_path)
        source = str(report_path)
    else:
        interp = describe(resolve(python_spec))
        target = _scan_one(interp, paths, (), (module,), os.cpu_count() or 1, timeout)
        data = report_dict(AuditReport((target,), _now(), _now(), tuple(sys.argv[1:])))
        source = interp.executable
    found = [(t["python"], m) for t in data["targets"] for m in t["modules"] if m["name"] == module]
    if not found:
        inside = sorted(
            m["name"]
            for t in data["targets"]
            for m in t["modules"]
            if m["name"].startswith(module + ".")
        )
        if inside:
            listed = ", ".join(inside[:6]) + (", …" if len(inside) > 6 else "")
            _error(f"{module} is a package; explain one of its extension modules: {listed}")
        _error(f"no extension module named {module} in {source}")
    if as_json:
        console.print_json(data=found[0][1] if len(found) == 1 else [m for _, m in found])
        return
    for index, (python, entry) in enumerate(found):
        if index:
            console.rule()
        terminal.render_explain(entry, python, console)


def _scan_one(interp, paths, packages, modules, jobs, timeout) -> TargetAudit:  # type: ignore[no-untyped-def]
    progress = Progress(
        TextColumn("[bold]probing[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}", style="dim"),
        console=err_console,
        transient=True,
    )
    err_console.print(f"[dim]target: {interp.label}[/]")
    with progress:
        task = progress.add_task(f"Python {interp.version}", total=None, current="discovering")

        def discovered(found, total):  # type: ignore[no-untyped-def]
            progress.update(task, total=total, current="")
            others = len(found.non_extensions)
            suffix = f", {others} non-extension files" if others else ""
            err_console.print(f"[dim]found {len(found.modules)} extension modules{suffix}[/]")

        def advanced(done: int, total: int, name: str) -> None:
            progress.update(task, completed=done, total=total, current=name)

        return scan_target(
            interp,
            paths=paths,
            packages=packages,
            module_names=modules,
            jobs=jobs,
            timeout=timeout,
            on_discovered=discovered,
            on_progress=advanced,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (testable without exiting)."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="subinterp-audit",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        err_console.print("subinterp-audit: interrupted")
        return 130
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        err_console.print(
            f"[bold red]subinterp-audit: error:[/] {exc.format_message()}{hint}", soft_wrap=True
        )
        return EXIT_USAGE
    except click.ClickException as exc:
        err_console.print(
            f"[bold red]subinterp-audit: error:[/] {exc.format_message()}", soft_wrap=True
        )
        return exc.exit_code
    except AuditorError as exc:
        first, _, rest = str(exc).partition("\n")
        err_console.print(f"[bold red]subinterp-audit: error:[/] {first}", soft_wrap=True)
        if rest:
            err_console.print(f"[dim]{rest}[/]", soft_wrap=True)
        return EXIT_USAGE
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        err_console.print("subinterp-audit: interrupted")
        return 130
    return EXIT_OK


def entrypoint() -> NoReturn:
    """The console script."""
    sys.exit(main())
