"""The audit of one target: discover, reuse, probe, probe in depth, judge -> TargetAudit."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError
from auditor.judging.advice import Context, annotate
from auditor.judging.classify import classify
from auditor.judging.interpreter_bugs import (
    BugMatch,
    controls_needed,
    cpython_label,
    depth_controls_wanted,
    recognise,
    workaround_key,
    workarounds_wanted,
)
from auditor.model import (
    ExtensionModule,
    Interpreter,
    ModuleAudit,
    Outcome,
    ProbeResult,
    Reason,
    StaticInfo,
    TargetAudit,
)
from auditor.probe_plan import ProbeSettings, depth_base, probes_for
from auditor.probing.cache import ResultCache, TargetEntries, relevant_environment
from auditor.probing.depth import _depth_phase
from auditor.probing.discover import Discovery, discover
from auditor.probing.helper import Helper, build_helper
from auditor.probing.observer import ScanObserver, _ModuleCount, _ProbeCount
from auditor.probing.replies import init_from_reply, result_from_reply
from auditor.probing.scheduler import ProbeRun, run_probes
from auditor.static.binding import inspect_binary


def target_notes(interp: Interpreter) -> tuple[str, ...]:
    """What to say once about a target before its results."""
    notes = []
    if not interp.has_interpreter_configs:
        notes.append(
            f"Python {interp.version} predates PEP 684: only legacy subinterpreters exist, so "
            f"only the init, main and legacy probes run; audit with 3.12+ for the full matrix"
        )
    if interp.gil_disabled:
        notes.append(
            "free-threaded build: legacy subinterpreters check extensions too, and "
            "single-phase modules are refused everywhere but in the main interpreter"
        )
    return tuple(notes)


def audit_target(
    interp: Interpreter,
    settings: ProbeSettings,
    *,
    paths: Sequence[Path] = (),
    packages: Sequence[str] = (),
    module_names: Sequence[str] = (),
    imports: Sequence[str] = (),
    cache: ResultCache | None = None,
    observer: ScanObserver | None = None,
) -> TargetAudit:
    """Discover, reuse what the cache holds, probe (imports, then depth unless
    `settings.depth` is None), judge: one target's TargetAudit."""
    observer = observer or ScanObserver()
    helper = build_helper(interp)
    cache = cache or ResultCache(Path(), enabled=False)
    found = discover(
        interp,
        paths=paths,
        packages=packages,
        module_names=module_names,
        imports=imports,
        exports_of=cache.init_exports,
    )
    probes = probes_for(interp.short_version)
    if not interp.has_interpreter_configs:
        settings = replace(settings, depth=None)  # only the legacy kind; see target_notes
    environ = relevant_environment(dict(os.environ))
    entries = TargetEntries(cache, interp, helper.directory.name, probes, settings, found, environ)

    # Reuse: every probe cached, or (with depth) the import probes only.
    cached: dict[str, dict[str, Any]] = {}
    imports_cached: dict[str, dict[str, Any]] = {}
    for module in found.modules:
        if (entry := entries.full(module)) is not None:
            cached[module.name] = entry
        elif (entry := entries.imports(module)) is not None:
            imports_cached[module.name] = entry
    to_probe = [m for m in found.modules if m.name not in cached]
    to_import = [m for m in to_probe if m.name not in imports_cached]
    observer.discovered(found, len(to_import) * len(probes), len(cached))
    statics = {
        name: StaticInfo.from_dict(entry["static"])
        for name, entry in (*cached.items(), *imports_cached.items())
    }
    by_name = {m.name: m for m in found.modules}

    def static_of(name: str) -> StaticInfo | None:
        if name not in statics:
            statics[name] = inspect_binary(by_name[name].path)
        return statics[name]

    # Probe: the import probes, each module stored as it ends (an interrupted scan keeps it).
    counter = _ProbeCount(observer)
    count = _ModuleCount(len(to_import), "import", observer.modules_done)

    def ended_import(name: str, run: ProbeRun) -> None:
        if run.failure is None:
            entries.store(name, run.replies, static_of(name), full=False)
        count.ended(name, run)

    try:
        runs = run_probes(
            interp,
            helper,
            to_import,
            probes,
            settings,
            on_progress=counter.advance,
            on_finished=ended_import,
        )
    finally:
        cache.flush()
    runs.update({name: ProbeRun(dict(entry["replies"])) for name, entry in imports_cached.items()})
    all_results = {m.name: _results(runs[m.name], _probes_of(m, probes)) for m in to_probe}

    # Depth: real use in the best kind the import probes passed.
    if settings.depth is not None:
        _depth_phase(interp, helper, to_probe, runs, all_results, settings, counter, observer)
        for module in to_probe:
            run = runs[module.name]
            if run.failure is None:
                reused = imports_cached.get(module.name)
                entries.store(
                    module.name, run.replies, static_of(module.name), full=True, reused=reused
                )
    runs.update({name: ProbeRun(entry["replies"]) for name, entry in cached.items()})
    for name in cached:
        all_results[name] = _results(runs[name], _probes_of(by_name[name], probes))

    # Judge.
    controls = _controls(interp, helper, found, all_results, probes, settings, entries)
    known = {
        m.name: (
            m.distribution.name if m.distribution else "stdlib" if m.origin == "stdlib" else None
        )
        for m in found.modules
    }
    audits = [
        _judge(
            interp,
            module,
            runs[module.name],
            all_results[module.name],
            static_of(module.name),
            controls,
            known,
        )
        for module in sorted(found.modules, key=lambda m: (m.group.lower(), m.name))
    ]
    cache.flush()
    return TargetAudit(
        environment=environ,
        python=interp,
        modules=tuple(audits),
        non_extensions=found.non_extensions,
        shadowed=found.shadowed,
        notes=target_notes(interp),
        incomplete=tuple(a.module.name for a in audits if runs[a.module.name].failure is not None),
        cached=len(cached),
    )


def _judge(
    interp: Interpreter,
    module: ExtensionModule,
    run: ProbeRun,
    results: dict[str, ProbeResult],
    static: StaticInfo | None,
    controls: Mapping[str, dict[str, ProbeResult]],
    known: Mapping[str, str | None],
) -> ModuleAudit:
    """A module's verdict and reasons from its probe results: the tool's failures, the GIL
    re-enabled, CPython's known bugs, and the advice for each reason."""
    init = init_from_reply(run.replies.get("init"), interp.short_version)
    verdict, reasons = classify(module, init, results, known)
    if run.failure is not None:
        reasons = (*reasons, Reason("tool_failure", f"subinterp-audit failed: {run.failure}"))
    if interp.gil_disabled:
        reasons = (*reasons, *_gil_reasons(results))
    bugs, fixed = recognise(interp.version, init.style, results, controls, module=module.name)
    verdict_fixed = None
    for match in bugs:
        reasons = (*reasons, _bug_reason(match))
    if bugs:
        verdict_fixed, _ = classify(module, init, fixed, known)
    toolkit = static.binding.toolkit if static else None
    reasons = annotate(reasons, toolkit, Context(interp.short_version, init))
    return ModuleAudit(module, init, results, verdict, reasons, static, verdict_fixed)


def _probes_of(module: ExtensionModule, probes: tuple[str, ...]) -> tuple[str, ...]:
    """The import probes of a module: an --import name has no init function to read."""
    return tuple(p for p in probes if p != "init") if module.is_import else probes


def _results(run: ProbeRun, probes: Sequence[str]) -> dict[str, ProbeResult]:
    """A module's replies as results, every import probe present (not_run when it did not
    run), and the depth probes that ran."""
    results: dict[str, ProbeResult] = {
        name: result_from_reply(reply)
        for name, reply in run.replies.items()
        if depth_base(name) is not None
    }
    for probe in probes:
        reply = run.replies.get(probe)
        if reply is not None:
            results[probe] = result_from_reply(reply)
        else:
            reason = (
                "the main interpreter could not import it" if run.failure is None else run.failure
            )
            results[probe] = ProbeResult(probe, Outcome.NOT_RUN, message=f"not run: {reason}")
    return results


def _controls(
    interp: Interpreter,
    helper: Helper,
    found: Discovery,
    results: dict[str, dict[str, ProbeResult]],
    probes: tuple[str, ...],
    settings: ProbeSettings,
    entries: TargetEntries,
) -> dict[str, dict[str, ProbeResult]]:
    """The stdlib control modules that recognising this interpreter's known bugs needs:
    from this scan when it probed them, else from the cache, else probed now (not reported
    as modules)."""
    controls = {}
    for name in controls_needed(interp.version):
        if name in results:
            controls[name] = results[name]
            continue
        control = _control_module(interp, found, name)
        if control is None:
            continue  # not in this build of the interpreter
        replies = entries.control(control, probes)
        if replies is not None:
            controls[name] = _results(ProbeRun(replies), probes)
            continue
        import_only = replace(settings, depth=None, smoke={})
        run = run_probes(interp, helper, [control], probes, import_only)[name]
        if run.failure is None:
            entries.store_control(control, probes, run.replies)
        controls[name] = _results(run, probes)
    if settings.depth is not None:
        for name, pairs in depth_controls_wanted(interp.version, results).items():
            have = controls.setdefault(name, dict(results.get(name, {})))
            _depth_controls(interp, helper, found, name, pairs, have, settings, entries)
        for name, wanted in workarounds_wanted(interp.version, results).items():
            module = next(m for m in found.modules if m.name == name)
            controls[workaround_key(name)] = _workarounds(
                interp, helper, module, wanted, results[name], settings, entries
            )
    return controls


def _workarounds(
    interp: Interpreter,
    helper: Helper,
    module: ExtensionModule,
    wanted: Mapping[tuple[str, str], str],
    results: Mapping[str, ProbeResult],
    settings: ProbeSettings,
    entries: TargetEntries,
) -> dict[str, ProbeResult]:
    """The module's depth probes of `wanted` ((kind, probe) -> code) run again, each with the
    workaround of a known CPython bug after the module's use (and its smoke code): once,
    cached like its other probes.  The cycles probe reuses the empty control's growth that
    its first run measured."""
    ran: dict[str, ProbeResult] = {}
    for (kind, probe), code in sorted(wanted.items()):
        what = ("workaround", kind, probe, code)
        replies = entries.control(module, what)
        if replies is None:
            smoke = "\n".join(filter(None, (settings.smoke_for(module.name), code)))
            first = next(
                (r for r in results.values() if r.kind == kind and depth_base(r.probe) == probe),
                None,
            )
            heap = first.heap if first is not None else None
            control = heap.control_heap_growth_per_cycle if heap is not None else None
            run = run_probes(
                interp,
                helper,
                [module],
                (probe,),
                replace(settings, smoke={module.name: smoke}),
                kinds={module.name: kind},
                controls={kind: control} if control is not None else None,
            )[module.name]
            reply = run.replies.get(probe)
            if run.failure is not None or reply is None:
                continue
            reply = {**reply, "kind": kind}
            measured = reply.get("heap")
            if heap is not None and control is not None and measured:
                figures = {k: v for k, v in asdict(heap).items() if k.startswith("control_")}
                reply["heap"] = {**figures, **measured}
            replies = {probe: reply}
            entries.store_control(module, what, replies)
        ran[f"workaround:{kind}:{probe}"] = result_from_reply(replies[probe])
    return ran


def _control_module(interp: Interpreter, found: Discovery, name: str) -> ExtensionModule | None:
    """The stdlib module `name` of this target: from the scan's discovery, which lists the
    standard library whatever the narrowing, else (a scan of given paths) discovered now."""
    control = found.stdlib_module(name)
    if control is not None or found.stdlib:
        return control
    try:
        (control,) = discover(interp, module_names=(name,)).modules
    except (AuditorError, ValueError):
        return None  # not in this build of the interpreter (or not one module)
    return control


def _depth_controls(
    interp: Interpreter,
    helper: Helper,
    found: Discovery,
    name: str,
    pairs: set[tuple[str, str]],
    have: dict[str, ProbeResult],
    settings: ProbeSettings,
    entries: TargetEntries,
) -> None:
    """Run the stdlib control `name`'s depth probes that recognising a depth-probe bug needs
    and this scan has not run: each (kind, probe) of `pairs`, until it fails or has run
    `--repeat` times (the bug it stands for comes and goes), into `have`.  Each pair's last
    run is cached like a module's probes."""
    assert settings.depth is not None
    ran = {(r.kind, depth_base(r.probe)) for r in have.values()}
    pending = sorted(pair for pair in pairs if pair not in ran)
    if not pending:
        return
    control = _control_module(interp, found, name)
    if control is None:
        return
    plain = replace(settings, smoke={})
    for kind, probe in pending:
        what = ("depth", kind, probe)
        replies = entries.control(control, what)
        if replies is None:
            for _ in range(settings.depth.repeat):
                run = run_probes(interp, helper, [control], (probe,), plain, kinds={name: kind})
                reply = run[name].replies.get(probe)
                if reply is None:
                    break
                replies = {probe: {**reply, "kind": kind}}
                if result_from_reply(replies[probe]).outcome is not Outcome.OK:
                    break
            if replies is None:
                continue
            entries.store_control(control, what, replies)
        have[f"control:{kind}:{probe}"] = result_from_reply(replies[probe])


# CPython's own words when an import re-enables the GIL (Python/import.c, 3.13+).
_GIL_WARNING = re.compile(r"GIL\) has been enabled to load module '([^']+)'")


def _gil_reasons(results: dict[str, ProbeResult]) -> tuple[Reason, ...]:
    """Free-threaded target: the main import re-enabled the GIL, and which module did it."""
    main = results.get("main")
    if main is None or not main.gil_enabled:
        return ()
    named = _GIL_WARNING.findall(main.stderr_tail)
    culprit = named[0] if named else None
    return (
        Reason(
            "gil_reenabled",
            "importing it re-enabled the GIL for the whole process"
            + (f": {culprit} does not declare Py_mod_gil = Py_MOD_GIL_NOT_USED" if culprit else ""),
            ("main",),
            module=culprit,
        ),
    )


def _bug_reason(match: BugMatch) -> Reason:
    bug = match.bug
    return Reason(
        "interpreter_bug",
        f"{bug.title} ({cpython_label(bug.cpython_issue)}, {bug.status}): "
        "not a defect of this module",
        match.probes,
        details=(
            ("bug", bug.id),
            ("cpython_issue", bug.cpython_issue),
            ("fixed_in", bug.fixed_in),
            ("status", bug.status),
            ("url", bug.url),
        ),
    )
