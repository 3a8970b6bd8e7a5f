"""`subinterp-audit survey` and `merge`: the command line; auditor/survey/ does the work."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import click
from rich.markup import escape

from auditor.commands.stopping import exit_code
from auditor.console import console, err_console
from auditor.errors import UsageError
from auditor.pipeline import now
from auditor.probing.throwaway import InstallOptions
from auditor.project_settings import DEPTH_CHOICES
from auditor.report import plural
from auditor.report.json import dump_json
from auditor.report.output import check_output, write_report
from auditor.survey.records import load_survey, merge_documents
from auditor.survey.requirements import parse_shard, read_requirements, shard
from auditor.survey.run import SurveySettings, resolve_targets, run_survey


@click.command()
@click.argument("requirements", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--python",
    "pythons",
    multiple=True,
    required=True,
    metavar="PYTHON",
    help="A target interpreter (as for scan: a version such as 3.13, a path or a venv); "
    "repeat for several.",
)
@click.option(
    "--shard",
    "shard_spec",
    metavar="I/N",
    help="Survey shard I of N only: of the requirements sorted by canonical name, every N-th "
    "starting with the I-th (surveyed in the file's order).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The survey file, rewritten after each package. If it exists, its records for the "
    "same package, requirement, target and depth are kept and not surveyed again (resume).",
)
@click.option("--find-links", multiple=True, metavar="DIR|URL", help="Passed to pip (repeatable).")
@click.option("--no-index", is_flag=True, help="Passed to pip: only --find-links.")
@click.option(
    "--allow-sdist",
    is_flag=True,
    help="Let pip build a package from its source distribution when no wheel fits "
    "(default: wheels only, what users of the target get without a compiler).",
)
@click.option(
    "--depth",
    type=click.Choice(DEPTH_CHOICES),
    default="full",
    show_default=True,
    help="As for scan: import probes only, or real use too.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds one probe may take before it counts as a hang.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Probes run at once. Default: one per CPU.",
)
def survey(
    requirements: Path,
    pythons: tuple[str, ...],
    shard_spec: str | None,
    out: Path,
    find_links: tuple[str, ...],
    no_index: bool,
    allow_sdist: bool,
    depth: str,
    timeout: float,
    jobs: int | None,
) -> None:
    """Survey the packages of REQUIREMENTS: each installed alone (wheels only by default)
    into a throwaway venv of each --python, and its extension modules scanned.

    \b
    One record per package and target: the installed version, the status (ok,
    no_extensions, install_failed, scan_failed), the package's verdict (its worst
    module's) and each module's verdict, reasons, toolkit and blockers. Interrupted?
    Run the same command again: finished packages are kept.

    \b
    Examples:
      subinterp-audit survey top.txt --python 3.13 --python 3.14 --out survey.json
      subinterp-audit survey top.txt --python 3.13 --shard 2/4 --out shard-2.json

    \b
    Exit codes: 0 done (packages that failed to install or scan say so in their
    records), 2 usage error, 130 interrupted (the finished records are saved).
    """
    requested = read_requirements(requirements)
    if not requested:
        raise UsageError(f"{requirements} lists no requirements")
    shard_text = None
    if shard_spec is not None:
        index, count = parse_shard(shard_spec)
        requested, shard_text = shard(requested, index, count), f"{index}/{count}"
    problem = check_output(out)
    if problem:
        raise UsageError(f"cannot write {out}: {problem}")
    if out.exists():
        load_survey(out)  # fails now, not after the first package
    targets = resolve_targets(pythons)
    settings = SurveySettings(
        InstallOptions(find_links=find_links, no_index=no_index, binary_only=not allow_sdist),
        depth=depth,
        timeout=timeout,
        jobs=jobs or os.cpu_count() or 1,
    )
    meta = {
        "started": now(),
        "argv": sys.argv[1:],
        "requirements": str(requirements),
        "shard": shard_text,
        "targets": [
            {"python": t.label, "version": t.version, "executable": str(t.executable)}
            for t in targets
        ],
    }
    what = plural(len(requested), "package")
    err_console.print(
        f"[dim]survey: {what}{f' (shard {shard_text})' if shard_text else ''} on "
        f"{', '.join(t.label for t in targets)} -> {escape(str(out))}[/]",
        soft_wrap=True,
    )
    try:
        records = run_survey(requested, targets, settings, out, meta)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM or SIGHUP
        err_console.print(
            f"subinterp-audit: interrupted; the finished packages are in {escape(str(out))}: "
            f"run the same command again to go on",
            soft_wrap=True,
        )
        raise SystemExit(exit_code(exc)) from None
    statuses = Counter(r["status"] for r in records)
    console.print(
        f"{escape(str(out))}: {plural(len(records), 'record')} ("
        + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        + ")",
        soft_wrap=True,
        highlight=False,
    )


@click.command()
@click.argument(
    "shards", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the merged survey here.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the tracker page here (one self-contained file).",
)
@click.option(
    "--previous",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An earlier merged survey: list the verdicts that changed since.",
)
def merge(
    shards: tuple[Path, ...], json_path: Path | None, html_path: Path | None, previous: Path | None
) -> None:
    """Merge survey files (the shards of one survey) into one survey and a tracker page.

    \b
    The merged records are sorted, so merging the shards of a run gives the same
    survey as the run unsharded (all but "meta"). A package surveyed twice on one
    target with different results is an error.

    \b
    Example:
      subinterp-audit merge shard-*.json --json survey.json --html tracker.html \\
        --previous last-week.json
    """
    from auditor.report.tracker import render_tracker

    if json_path is None and html_path is None:
        raise UsageError("merge: give --json PATH, --html PATH or both")
    for path in (json_path, html_path):
        problem = check_output(path) if path is not None else None
        if problem:
            raise UsageError(f"cannot write {path}: {problem}")
    sources = [(str(path), load_survey(path)) for path in shards]
    old = load_survey(previous) if previous is not None else None
    document = merge_documents(sources, old)
    outputs = []
    if json_path is not None:
        outputs.append((json_path, dump_json(document)))
    if html_path is not None:
        outputs.append((html_path, render_tracker(document)))
    for path, text in outputs:
        write_report(path, text)
    summary = document["summary"]
    console.print(
        f"{plural(len(document['records']), 'record')} of {plural(summary['packages'], 'package')}"
        f" on {', '.join(summary['pythons']) or 'no target'}"
        + (f"; {plural(len(document['changes']), 'change')}" if old is not None else "")
        + "; written to "
        + ", ".join(escape(str(p)) for p, _ in outputs),
        soft_wrap=True,
        highlight=False,
    )
