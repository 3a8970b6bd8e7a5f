"""The scan command's pipeline: settings -> scan -> gate -> outputs.

auditor/commands/scan.py parses the command line into ScanOptions and exits with the code
of what run() returns.
plan() merges the options with [tool.subinterp-audit] (the command line wins) and checks
everything that can be checked before a probe runs; run() scans every target, applies the
gate, and writes every output: the reports (all rendered before any is written), the
terminal, the baseline, and GitHub Actions' annotations and job summary.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.markup import escape

from auditor.console import console, err_console
from auditor.errors import TargetError, UsageError
from auditor.judging.policy import GateResult, Policy, evaluate, parse_verdicts
from auditor.model import AuditReport, Interpreter, TargetAudit, Verdict
from auditor.probe_plan import DepthSettings, ProbeSettings
from auditor.probing.audit import audit_target
from auditor.probing.cache import ResultCache
from auditor.probing.helper import cache_root
from auditor.probing.target import describe, resolve
from auditor.probing.throwaway import (
    Installable,
    InstallOptions,
    installed,
    requirement,
    wheel,
    wheel_pythons,
)
from auditor.project_settings import Settings
from auditor.report import gate_text, terminal
from auditor.report.github import markdown_summary, workflow_commands
from auditor.report.html import render_html
from auditor.report.json import dump_json, load_report, report_dict
from auditor.report.junit import render_junit
from auditor.report.output import check_output, write_report
from auditor.report.progress import ScanProgress
from auditor.report.sarif import render_sarif
from auditor.report.sources import SourceIndex, default_root
from auditor.report.suite import render_suite_in_scan, suite_dict, suite_failed
from auditor.suites.runner import SUITE_TIMEOUT, run_both


class ScanStatus(enum.Enum):
    """How a scan ended (auditor/commands/exits.py gives each its exit code)."""

    DONE = "done"  # the scan finished and the gate passed
    GATE_FAILED = "gate_failed"  # --require, --fail-on, --baseline
    INCOMPLETE = "incomplete"  # the scan finished, but the tool itself failed on some module


DEFAULT_REPORT_DIR = Path("reports")
DEFAULT_JSON = DEFAULT_REPORT_DIR / "subinterp-audit.json"
DEFAULT_HTML = DEFAULT_REPORT_DIR / "subinterp-audit.html"

# The report kinds: option name, label in messages.
REPORT_KINDS = {"json": "JSON report", "html": "HTML report", "junit": "JUnit report"}
REPORT_KINDS["sarif"] = "SARIF report"


@dataclass(frozen=True)
class ScanOptions:
    """The scan command line as given: None or empty where an option was not."""

    paths: tuple[Path, ...] = ()
    pythons: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    wheels: tuple[Path, ...] = ()  # .whl files to audit in throwaway venvs
    pypi: tuple[str, ...] = ()  # requirements to audit from the index
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    outputs: dict[str, Path | None] = field(default_factory=dict)  # REPORT_KINDS -> path
    require: str | None = None
    fail_on: tuple[str, ...] = ()
    fail_interpreter_bugs: bool | None = None
    baseline: Path | None = None
    update_baseline: bool = False
    jobs: int | None = None
    timeout: float | None = None
    depth: str | None = None
    smoke: str | None = None
    depth_sizes: DepthSettings = field(default_factory=DepthSettings)
    show_stdlib: bool = False
    isolation: str = "shared"
    no_cache: bool = False
    suite: tuple[str, ...] | None = None  # pytest's arguments: the suite runs too
    suite_interpreters: int = 1
    argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScanPlan:
    """What one scan does, settled: every default applied, every input checked."""

    pythons: tuple[str | None, ...]
    paths: tuple[Path, ...]
    packages: tuple[str, ...]
    modules: tuple[str, ...]
    imports: tuple[str, ...]
    installs: tuple[Installable, ...]  # wheels and --pypi requirements, each in its own venv
    install_options: InstallOptions
    probe: ProbeSettings
    policy: Policy
    baseline: Path | None
    old: dict[str, Any] | None  # the baseline's report, when it exists
    update_baseline: bool
    outputs: dict[str, Path]  # REPORT_KINDS -> path, only those to write
    default_outputs: bool  # reports/ is ours to create
    show_stdlib: bool
    argv: tuple[str, ...]
    suite: tuple[str, ...] | None = None  # `subinterp-audit test` in each target, own_gil
    suite_interpreters: int = 1


def plan(options: ScanOptions, settings: Settings) -> ScanPlan:
    """Merge the command line with the configuration; raise UsageError (or another
    AuditorError) for anything wrong, before a single probe runs."""
    try:
        policy = Policy(
            require=Verdict(options.require) if options.require else settings.require,
            fail_on=(
                parse_verdicts(options.fail_on, "--fail-on")
                if options.fail_on
                else settings.fail_on
            ),
            ignore=settings.ignore,
            fail_interpreter_bugs=bool(
                options.fail_interpreter_bugs
                if options.fail_interpreter_bugs is not None
                else settings.fail_interpreter_bugs
            ),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    baseline = options.baseline or settings.baseline
    if options.update_baseline and baseline is None:
        raise UsageError("--update-baseline needs --baseline (or 'baseline' in the config)")
    old = None
    if baseline is not None and (baseline.exists() or not options.update_baseline):
        if not baseline.exists():
            raise UsageError(
                f"baseline {baseline} does not exist (create it with --update-baseline)"
            )
        old = load_report(baseline)

    # Outputs: each kind from the command line, else from the configuration; JSON and HTML
    # under reports/ when neither names any.
    outputs = {
        kind: path
        for kind in REPORT_KINDS
        if (path := options.outputs.get(kind) or settings.outputs.get(kind)) is not None
    }
    default_outputs = not outputs
    if default_outputs:
        outputs = {"json": DEFAULT_JSON, "html": DEFAULT_HTML}
    checked = [(REPORT_KINDS[kind], path) for kind, path in outputs.items()]
    if options.update_baseline and baseline is not None:
        checked.append(("baseline", baseline))
    for label, path in checked:  # fail in a second, not after the scan
        reason = check_output(path)
        if reason is not None:
            raise UsageError(f"cannot write the {label} to {path}: {reason}")

    installs = tuple(wheel(path) for path in options.wheels)
    installs += tuple(requirement(text) for text in options.pypi)
    if installs and (options.paths or options.modules or options.imports):
        raise UsageError(
            "a wheel or --pypi is audited on its own: no directory, --module or --import with it"
        )
    if (options.find_links or options.no_index) and not installs:
        raise UsageError("--find-links and --no-index apply to wheels and --pypi only")
    paths = () if installs else options.paths or settings.paths
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path} (from 'paths' in the configuration) does not exist")
    depth = None if (options.depth or settings.depth or "full") == "import" else options.depth_sizes
    return ScanPlan(
        pythons=options.pythons or settings.python or (None,),
        paths=tuple(paths),
        packages=options.packages or settings.package,
        modules=options.modules or settings.module,
        imports=options.imports or settings.imports,
        installs=installs,
        install_options=InstallOptions(options.find_links, options.no_index),
        probe=probe_settings(
            settings,
            jobs=options.jobs,
            timeout=options.timeout,
            isolation=options.isolation,
            no_cache=options.no_cache,
            depth=depth,
            smoke=options.smoke,
        ),
        policy=policy,
        baseline=baseline,
        old=old,
        update_baseline=options.update_baseline,
        outputs=outputs,
        default_outputs=default_outputs,
        show_stdlib=options.show_stdlib,
        argv=options.argv,
        suite=options.suite,
        suite_interpreters=options.suite_interpreters,
    )


def probe_settings(
    settings: Settings,
    *,
    jobs: int | None,
    timeout: float | None,
    isolation: str,
    no_cache: bool,
    depth: DepthSettings | None,
    smoke: str | None,
) -> ProbeSettings:
    """How the probes run: the command line's values, else the configuration's, else the
    defaults.  Raises UsageError for smoke code that is not Python."""
    if smoke is not None:
        try:
            compile(smoke, "<smoke>", "exec")
        except SyntaxError as exc:
            raise UsageError(f"--smoke is not valid Python: {exc.msg}") from None
    return ProbeSettings(
        jobs=jobs or settings.jobs or os.cpu_count() or 1,
        timeout=timeout or settings.timeout or 60.0,
        isolation=isolation,
        depth=depth,
        smoke={"*": smoke} if smoke is not None else dict(settings.smoke),
        reuse_cached=not no_cache,
    )


def audit(
    interp: Interpreter,
    settings: ProbeSettings,
    *,
    paths: Sequence[Path] = (),
    packages: Sequence[str] = (),
    modules: Sequence[str] = (),
    imports: Sequence[str] = (),
    use_cache: bool = True,
) -> TargetAudit:
    """One target's audit with its progress on stderr.  `use_cache` false: a throwaway
    venv, whose results could never be reused (its paths die with it)."""
    cache = ResultCache(cache_root(), reuse=settings.reuse_cached, enabled=use_cache)
    with ScanProgress(interp) as progress:
        return audit_target(
            interp,
            settings,
            paths=paths,
            packages=packages,
            module_names=modules,
            imports=imports,
            cache=cache,
            observer=progress,
        )


def run(scan_plan: ScanPlan) -> ScanStatus:
    """Scan, judge, write; returns how the scan ended."""
    started = now()
    targets = scan_targets(scan_plan)
    suites = _run_suites(scan_plan, targets)
    report = AuditReport(tuple(targets), started, now(), scan_plan.argv)
    data = report_dict(report)
    for target, suite in zip(data["targets"], suites, strict=True):
        if suite is not None:
            target["suite"] = suite
    gate = evaluate(data, scan_plan.policy, scan_plan.old)
    write_outputs(scan_plan, targets, data, gate)
    for suite in suites:
        if suite is not None:
            render_suite_in_scan(suite, console)
    if not gate or any(suite_failed(s) for s in suites if s is not None):
        return ScanStatus.GATE_FAILED
    if any(t.incomplete for t in targets):
        return ScanStatus.INCOMPLETE
    return ScanStatus.DONE


def _run_suites(scan_plan: ScanPlan, targets: list[TargetAudit]) -> list[dict[str, Any] | None]:
    """With --suite: the project's pytest suite in main and in own-GIL interpreters of each
    target (auditor/suites/runner.py), as `subinterp-audit test --json` reports it; a suite
    that cannot run says why instead."""
    if scan_plan.suite is None:
        return [None] * len(targets)
    found: list[dict[str, Any] | None] = []
    for target in targets:
        python = Path(target.python.executable)
        err_console.print(f"[dim]running the test suite with {escape(str(python))}[/]")
        try:
            main, sub, tests, seconds = run_both(
                python, "own_gil", scan_plan.suite_interpreters, scan_plan.suite, Path.cwd(),
                SUITE_TIMEOUT,
            )  # fmt: skip
        except UsageError as exc:
            found.append({"error": str(exc)})
            continue
        found.append(suite_dict(str(python), main, sub, tests, seconds))
    return found


def scan_targets(scan_plan: ScanPlan) -> list[TargetAudit]:
    """Every target interpreter, each once (two specs may name the same interpreter); with
    wheels or --pypi, each of them in a throwaway venv of each target."""
    if scan_plan.installs:
        return [
            target for item in scan_plan.installs for target in _scan_installed(scan_plan, item)
        ]
    targets: list[TargetAudit] = []
    seen: set[str] = set()
    for spec in scan_plan.pythons:
        executable = resolve(spec)
        if os.path.realpath(executable) in seen:
            err_console.print(
                f"[dim]{escape(str(spec))}: the same interpreter again, scanned once[/]"
            )
            continue
        seen.add(os.path.realpath(executable))
        targets.append(
            audit(
                describe(executable),
                scan_plan.probe,
                paths=scan_plan.paths,
                packages=scan_plan.packages,
                modules=scan_plan.modules,
                imports=scan_plan.imports,
            )
        )
    return targets


def _scan_installed(scan_plan: ScanPlan, item: Installable) -> list[TargetAudit]:
    """`item` installed (with its dependencies) into a new venv of each target, its
    distribution's modules scanned, the venv deleted.  Without --python, a wheel goes to the
    newest installed interpreter its tags accept."""
    if scan_plan.pythons != (None,) or not item.is_wheel:
        pythons = [resolve(spec) for spec in scan_plan.pythons]
    else:
        pythons = [_python_for_wheel(item.spec)]
    targets = []
    for python in dict.fromkeys(Path(os.path.realpath(p)) for p in pythons):
        err_console.print(
            f"[dim]installing {escape(item.spec)} into a throwaway venv of "
            f"{escape(str(python))}[/]",
            soft_wrap=True,  # paths: one line, whatever the width
        )
        with installed(python, item, scan_plan.install_options) as venv_python:
            # No result cache: a throwaway venv's paths die with it.
            targets.append(
                audit(
                    describe(venv_python),
                    scan_plan.probe,
                    packages=(item.distribution,),
                    use_cache=False,
                )
            )
    return targets


def _python_for_wheel(path: str) -> Path:
    """The newest interpreter found here that the wheel's tags accept."""
    specs = wheel_pythons(path)
    if not specs:  # a pure wheel: any interpreter (it has no extension module to audit)
        return resolve(None)
    for spec in specs:
        try:
            return resolve(spec)
        except TargetError:
            continue
    raise UsageError(
        f"{Path(path).name} is for Python {', '.join(specs[:4])}, and none is installed here: "
        f"give one with --python"
    )


def write_outputs(
    scan_plan: ScanPlan, targets: list[TargetAudit], data: dict[str, Any], gate: GateResult
) -> None:
    """The reports, the terminal, the baseline, and GitHub Actions' output."""
    sources: list[SourceIndex] = []  # the project's tree, read once and only when needed

    def source_index() -> SourceIndex:
        if not sources:
            sources.append(SourceIndex.build(default_root()))
        return sources[0]

    renderers: dict[str, Callable[[], str]] = {
        "json": lambda: dump_json(data),
        "html": lambda: render_html(data),
        "junit": lambda: render_junit(data, gate),
        "sarif": lambda: render_sarif(data, gate, sources=source_index()),
    }
    # Render everything before writing anything: a failure leaves every old report intact.
    rendered = [(path, renderers[kind]()) for kind, path in scan_plan.outputs.items()]
    if scan_plan.default_outputs and not DEFAULT_REPORT_DIR.exists():
        DEFAULT_REPORT_DIR.mkdir(parents=True)
        (DEFAULT_REPORT_DIR / ".gitignore").write_text("*\n")  # reports/ is not for git
    for path, text in rendered:
        write_report(path, text)
    terminal.render(targets, console, [path for path, _ in rendered], scan_plan.show_stdlib)
    gate_text.render_gate(gate, console)
    baseline = scan_plan.baseline
    if scan_plan.update_baseline and baseline is not None:
        if gate:
            write_report(baseline, dump_json(data))
            console.print(f"baseline written to [bold]{escape(str(baseline))}[/]")
        else:
            console.print(
                f"[yellow]baseline {escape(str(baseline))} left as it was: the gate failed[/]"
            )
    if os.environ.get("GITHUB_ACTIONS") == "true":
        _github(data, gate, source_index())


def _github(data: dict[str, Any], gate: GateResult, sources: SourceIndex) -> None:
    """Under GitHub Actions: annotations in the log, the summary in $GITHUB_STEP_SUMMARY."""
    for line in workflow_commands(gate, data=data, sources=sources):
        print(line, flush=True)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as stream:
                stream.write(markdown_summary(data, gate))
        except OSError as exc:
            err_console.print(f"[yellow]cannot write the job summary: {escape(str(exc))}[/]")


def now() -> str:
    """The current time as reports record it (UTC, seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
