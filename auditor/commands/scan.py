"""`subinterp-audit scan`: the command line of a scan; auditor/pipeline.py does the work."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import NoReturn

import click

from auditor import pipeline
from auditor.commands.exits import EXIT_CODES
from auditor.commands.options import (
    CONFIG_OPTION,
    ISOLATION_OPTION,
    NO_CACHE_OPTION,
    SMOKE_OPTION,
    TIMEOUT_OPTION,
)
from auditor.console import console
from auditor.pipeline import DEFAULT_HTML, DEFAULT_JSON, ScanOptions
from auditor.probe_plan import DepthSettings
from auditor.project_settings import DEPTH_CHOICES, REQUIRE_CHOICES
from auditor.project_settings import load as load_settings
from auditor.static_scan import run_static


@click.command()
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
    "--import",
    "imports",
    multiple=True,
    metavar="NAME",
    help="Probe the import of NAME itself, a pure-Python package or an application module "
    "too: which extension blocks it, and through which imports (repeatable; alone, it "
    "scans only these).",
)
@click.option(
    "--pypi",
    "pypi",
    multiple=True,
    metavar="NAME[==VERSION]",
    help="Audit a release from the package index: installed with its dependencies into a "
    "throwaway venv of each --python, its distribution's modules scanned (repeatable).",
)
@click.option(
    "--find-links",
    "find_links",
    multiple=True,
    metavar="DIR",
    help="For wheels and --pypi: also look for wheels here (pip's --find-links; repeatable).",
)
@click.option(
    "--no-index",
    is_flag=True,
    help="For wheels and --pypi: install from --find-links only, offline.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Write the JSON report here. Default, when no output is chosen (here or in the "
    f"config: json, html, junit, sarif): {DEFAULT_JSON}.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Write the HTML report for maintainers here (one self-contained file). "
    f"Default, when no output option is given: {DEFAULT_HTML}.",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write JUnit XML here: one test case per module and probe, failures carry the reason.",
)
@click.option(
    "--sarif",
    "sarif_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write SARIF 2.1.0 here for code-scanning UIs: rules are reason codes.",
)
@click.option(
    "--require",
    type=click.Choice(REQUIRE_CHOICES),
    default=None,
    help="CI gate: fail (exit 1) when a module's verdict is below this level.",
)
@click.option(
    "--fail-on",
    "fail_on",
    multiple=True,
    metavar="VERDICTS",
    help="CI gate: fail (exit 1) on these verdicts, comma-separated (e.g. crashes,hangs).",
)
@click.option(
    "--fail-on-interpreter-bugs",
    "fail_interpreter_bugs",
    is_flag=True,
    default=None,
    help="CI gate: judge a module by what happened even when a known CPython bug explains it "
    "(default: by its verdict on a fixed interpreter; the reason interpreter_bug names the bug).",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Compare with this earlier JSON report: only regressions fail (a module that got "
    "worse, a new module that breaks the policy).",
)
@click.option(
    "--update-baseline",
    is_flag=True,
    help="Write this scan to --baseline when the gate passes (keeps improvements).",
)
@CONFIG_OPTION
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Probes to run in parallel. Default: the number of CPUs.",
)
@TIMEOUT_OPTION
@click.option(
    "--depth",
    type=click.Choice(DEPTH_CHOICES),
    default=None,
    help="full (default): after the import probes, the depth probes (reuse, concurrent, "
    "cycles) confirm own_gil / shared_gil / legacy_only by real use; import: skip them for "
    "a quick scan.",
)
@SMOKE_OPTION
@click.option(
    "--concurrency",
    type=click.IntRange(min=2, max=64),
    default=DepthSettings.threads,
    show_default=True,
    metavar="K",
    help="concurrent probe: interpreters (one per thread) importing at once.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=DepthSettings.rounds,
    show_default=True,
    metavar="R",
    help="concurrent probe: rounds.",
)
@click.option(
    "--cycles",
    type=click.IntRange(min=3),
    default=DepthSettings.cycles,
    show_default=True,
    metavar="N",
    help="cycles probe: create/import/use/end cycles measured for leaks.",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=DepthSettings.repeat,
    show_default=True,
    metavar="N",
    help="Runs of a depth probe that crashed or hung (the report says k of n).",
)
@click.option(
    "--confirm",
    type=click.IntRange(min=1),
    default=DepthSettings.confirm,
    show_default=True,
    metavar="N",
    help="Runs of a concurrent probe that passed.  A race that strikes one run in ten passes "
    "most single runs: raise N when a gate rests on own_gil (each run costs a concurrent "
    "probe; the report says how many runs each verdict rests on).",
)
@click.option(
    "--show-stdlib",
    is_flag=True,
    help="List the standard library's modules in the terminal table too (by default they "
    "fold into one line when third-party modules are present; the reports keep them all).",
)
@click.option(
    "--static-only",
    is_flag=True,
    help="For untrusted wheels and files: read them without running anything (toolkit, "
    "exported init functions, C-API hints, wheel tags). No probe runs: no verdict. "
    "With PATHS and --json only.",
)
@click.option(
    "--suite",
    metavar="ARGS",
    help="Also run your pytest suite (pytest's arguments, in quotes; run in this directory) "
    "in the main interpreter and in own-GIL interpreters of each target, as `subinterp-audit "
    "test` does: the difference goes into the terminal, JSON and HTML reports, and a test "
    "that passes in main but not there fails the gate.",
)
@click.option(
    "--suite-interpreters",
    type=click.IntRange(min=1, max=64),
    default=1,
    show_default=True,
    metavar="K",
    help="--suite: own-GIL interpreters running the suite at once.",
)
@ISOLATION_OPTION
@NO_CACHE_OPTION
def scan(
    paths: tuple[Path, ...],
    pythons: tuple[str, ...],
    packages: tuple[str, ...],
    modules: tuple[str, ...],
    imports: tuple[str, ...],
    pypi: tuple[str, ...],
    find_links: tuple[str, ...],
    no_index: bool,
    json_path: Path | None,
    html_path: Path | None,
    junit_path: Path | None,
    sarif_path: Path | None,
    require: str | None,
    fail_on: tuple[str, ...],
    fail_interpreter_bugs: bool | None,
    baseline: Path | None,
    update_baseline: bool,
    config_path: Path | None,
    jobs: int | None,
    timeout: float | None,
    depth: str | None,
    smoke: str | None,
    concurrency: int,
    rounds: int,
    cycles: int,
    repeat: int,
    confirm: int,
    show_stdlib: bool,
    static_only: bool,
    suite: str | None,
    suite_interpreters: int,
    isolation: str,
    no_cache: bool,
) -> None:
    """Probe extension modules in subinterpreters and report a verdict for each.

    \b
    With no PATHS, every extension module importable by the target is audited
    (site-packages, user site, lib-dynload, .pth paths). PATHS narrow that to a
    directory (e.g. a build tree) or single .so files. A PATH that is a wheel
    (.whl) is installed with its dependencies into a throwaway venv (of --python,
    else of the newest interpreter its tags accept) and its modules audited.

    \b
    Examples:
      subinterp-audit scan                          # this environment
      subinterp-audit scan --python 3.13 --package numpy
      subinterp-audit scan --python .venv ./build/lib --json out.json
      subinterp-audit scan --package mypkg --require shared_gil --junit junit.xml
      subinterp-audit scan dist/*.whl --require own_gil
      subinterp-audit scan --pypi orjson==3.11.0 --python 3.14
      subinterp-audit scan --import myapp       # which extension blocks my app?

    \b
    Exit codes: 0 scan done (and the gate passed), 1 the gate failed,
    2 usage error, unusable target or nothing to scan, 3 the tool itself
    failed on some module (the report says which), 130 interrupted.
    """
    if static_only:
        _static_only(click.get_current_context(), paths, json_path)
    options = ScanOptions(
        paths=tuple(p for p in paths if p.suffix != ".whl"),
        wheels=tuple(p for p in paths if p.suffix == ".whl"),
        pypi=pypi,
        find_links=find_links,
        no_index=no_index,
        pythons=pythons,
        packages=packages,
        modules=modules,
        imports=imports,
        outputs={"json": json_path, "html": html_path, "junit": junit_path, "sarif": sarif_path},
        require=require,
        fail_on=fail_on,
        fail_interpreter_bugs=fail_interpreter_bugs,
        baseline=baseline,
        update_baseline=update_baseline,
        jobs=jobs,
        timeout=timeout,
        depth=depth,
        smoke=smoke,
        depth_sizes=DepthSettings(
            threads=concurrency, rounds=rounds, cycles=cycles, repeat=repeat, confirm=confirm
        ),
        show_stdlib=show_stdlib,
        isolation=isolation,
        no_cache=no_cache,
        suite=_suite_args(suite),
        suite_interpreters=suite_interpreters,
        argv=tuple(sys.argv[1:]),
    )
    status = pipeline.run(pipeline.plan(options, load_settings(config_path)))
    raise SystemExit(EXIT_CODES[status])


def _suite_args(text: str | None) -> tuple[str, ...] | None:
    """--suite "tests -k parser" -> pytest's arguments (shell words)."""
    if text is None:
        return None
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise click.UsageError(f"--suite: {exc}") from None


def _static_only(ctx: click.Context, paths: tuple[Path, ...], json_path: Path | None) -> NoReturn:
    """scan --static-only: only PATHS (wheels, files, directories) and --json make sense."""
    given = [
        param.opts[0]
        for param in ctx.command.params
        if param.name not in ("paths", "json_path", "static_only")
        and ctx.get_parameter_source(param.name or "") is click.core.ParameterSource.COMMANDLINE
    ]
    if given:
        raise click.UsageError(
            f"--static-only runs nothing, so {', '.join(given)} cannot apply: give wheels or "
            f"paths, and --json"
        )
    if not paths:
        raise click.UsageError("--static-only needs wheels or paths to read")
    wheels = tuple(p for p in paths if p.suffix == ".whl")
    others = tuple(p for p in paths if p.suffix != ".whl")
    raise SystemExit(run_static(wheels, others, json_path, console))
