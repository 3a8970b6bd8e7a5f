"""`subinterp-audit explain`: one module's probes, evidence, reasons and fixes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from auditor.commands.exits import error
from auditor.commands.options import probe_options
from auditor.console import console
from auditor.model import AuditReport
from auditor.pipeline import audit, now, probe_settings
from auditor.probe_plan import DepthSettings
from auditor.probing.target import describe, resolve
from auditor.project_settings import load as load_settings
from auditor.report.explain import render_explain
from auditor.report.json import load_report, report_dict


@click.command()
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
@probe_options
def explain(
    module: str,
    paths: tuple[Path, ...],
    python_spec: str | None,
    report_path: Path | None,
    as_json: bool,
    timeout: float | None,
    smoke: str | None,
    config_path: Path | None,
    isolation: str,
    no_cache: bool,
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
        # Every probe, depth included, with the configuration's settings.
        settings = probe_settings(
            load_settings(config_path),
            jobs=None,
            timeout=timeout,
            isolation=isolation,
            no_cache=no_cache,
            depth=DepthSettings(),
            smoke=smoke,
        )
        interp = describe(resolve(python_spec))
        target = audit(interp, settings, paths=paths, modules=(module,))
        data = report_dict(AuditReport((target,), now(), now(), tuple(sys.argv[1:])))
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
            error(f"{module} is a package; explain one of its extension modules: {listed}")
        error(f"no extension module named {module} in {source}")
    if as_json:
        console.print_json(data=found[0][1] if len(found) == 1 else [m for _, m in found])
        return
    for index, (python, entry) in enumerate(found):
        if index:
            console.rule()
        render_explain(entry, python, console)
