"""One scan of one target: discover, probe, classify.  Returns a TargetAudit."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError
from auditor.judging.advice import Context, annotate
from auditor.judging.classify import classify, next_depth_kind
from auditor.judging.interpreter_bugs import BugMatch, controls_needed, recognise
from auditor.model import (
    ExtensionModule,
    InitInfo,
    Interpreter,
    ModuleAudit,
    Outcome,
    ProbeResult,
    Reason,
    StaticInfo,
    TargetAudit,
)
from auditor.probe_plan import (
    DEPTH_KINDS,
    DEPTH_PROBES,
    DepthSettings,
    depth_base,
    depth_key,
    probes_for,
)
from auditor.probing.cache import ResultCache, never_cached, relevant_environment
from auditor.probing.discover import Discovery, discover
from auditor.probing.helper import Helper, build_helper
from auditor.probing.scheduler import ProbeRun, init_from_reply, result_from_reply, run_probes
from auditor.static.binding import inspect_binary

DEFAULT_DEPTH = DepthSettings()


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


def scan_target(
    interp: Interpreter,
    *,
    paths: Sequence[Path] = (),
    packages: Sequence[str] = (),
    module_names: Sequence[str] = (),
    imports: Sequence[str] = (),
    jobs: int,
    timeout: float,
    isolation: str = "shared",
    cache: ResultCache | None = None,
    depth: DepthSettings | None = DEFAULT_DEPTH,
    smoke: Mapping[str, str] | None = None,
    on_discovered: Callable[[Discovery, int, int], None] = lambda found, total, reused: None,
    on_progress: Callable[[int, int, str], None] = lambda done, total, name: None,
    on_modules: Callable[[int, int, str], None] = lambda done, total, phase: None,
) -> TargetAudit:
    """Discover, probe (imports, then depth unless `depth` is None), classify one target.

    Progress: `on_progress(probes done, probes known, module)`, and `on_modules(modules
    done, modules, phase)` as each module's probes of a phase ("import", "depth") end.

    `smoke`: module name (or "*" for every module) -> the maintainer's smoke code.
    """
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
        depth = None  # before 3.12 only the legacy kind exists; see target_notes
    smoke_of = _smoke_per_module(found.modules, smoke or {})
    environ = relevant_environment(dict(os.environ))
    # Everything but the module itself, its closure and the depth settings
    # (auditor/probing/cache.py).
    # Directories the probes add to sys.path (PATHS outside it, --import's current directory):
    # what they offer changes imports as much as sys.path does.
    extra_roots = sorted({m.root for m in found.modules if m.root} - set(interp.sys_path))
    common = (
        helper.directory.name,
        probes,
        timeout,
        isolation,
        list(interp.sys_path),
        environ,
        cache.layout_fingerprint([*interp.sys_path, *extra_roots]) if cache.enabled else None,
    )
    whole_environment: list[str] = []  # computed once, only if an entry needs it

    def fallback_key(base: str) -> str:
        """The key of an entry whose closure is unknown: the whole environment too."""
        if not whole_environment:
            whole_environment.append(
                cache.environment_fingerprint(interp.sys_path, found.distributions, found.all_files)
            )
        return cache.key(base, whole_environment[0])

    def lookup(key: str) -> dict[str, Any] | None:
        entry = cache.get(key)
        if entry is not None and cache.closure_matches(entry.get("closure") or {}):
            return entry
        return cache.get(fallback_key(key))

    # Two entries per module: its import probes, and (with depth) all its probes.  A scan
    # interrupted in the depth phase, or a --depth import scan, leaves the first for the next.
    import_keys: dict[str, str] = {}
    full_keys: dict[str, str] = {}
    cached: dict[str, dict[str, Any]] = {}  # every probe this scan needs
    imports_cached: dict[str, dict[str, Any]] = {}  # the import probes only
    for module in found.modules:
        # An --import name may be a namespace package (a directory): its closure decides.
        content = cache.file_hash(module.path) if os.path.isfile(module.path) else module.path
        # origin: an --import name runs no init probe, an extension module of that name does.
        own = (content, module.name, module.root, module.origin, smoke_of.get(module.name))
        import_keys[module.name] = cache.key(*common, None, *own)
        full_keys[module.name] = (
            cache.key(*common, asdict(depth), *own) if depth else import_keys[module.name]
        )
        entry = lookup(full_keys[module.name])
        if entry is not None:
            cached[module.name] = entry
        elif depth and (entry := lookup(import_keys[module.name])) is not None:
            imports_cached[module.name] = entry
    to_probe = [m for m in found.modules if m.name not in cached]
    to_import = [m for m in to_probe if m.name not in imports_cached]
    on_discovered(found, len(to_import) * len(probes), len(cached))
    # One progress count over every phase: the import probes, then the depth probes.
    progress = [0, 0]  # probes done and known in the phases that ended

    def advance(done: int, total: int, name: str) -> None:
        on_progress(progress[0] + done, progress[1] + total, name)
        if done == total:
            progress[0], progress[1] = progress[0] + done, progress[1] + total

    statics = {
        name: StaticInfo.from_dict(entry["static"])
        for name, entry in (*cached.items(), *imports_cached.items())
    }
    by_name = {m.name: m for m in found.modules}

    def remember(keys: Mapping[str, str], name: str, run: ProbeRun) -> None:
        if name not in statics:
            statics[name] = inspect_binary(by_name[name].path)
        reused = imports_cached.get(name) if keys is full_keys else None
        _remember(cache, keys[name], fallback_key, run, statics[name], reused)

    count = _ModuleCount(len(to_import), "import", on_modules)

    def ended_import(name: str, run: ProbeRun) -> None:
        remember(import_keys, name, run)  # stored at once: an interrupted scan keeps it
        count.ended(name, run)

    try:
        runs = run_probes(
            interp,
            helper,
            to_import,
            probes,
            jobs=jobs,
            timeout=timeout,
            isolation=isolation,
            on_progress=advance,
            smoke=smoke_of,
            on_finished=ended_import,
        )
    finally:
        cache.flush()
    runs.update({name: ProbeRun(dict(entry["replies"])) for name, entry in imports_cached.items()})
    all_results = {m.name: _results(runs[m.name], _probes_of(m, probes)) for m in to_probe}
    if depth is not None:
        _depth_phase(
            interp,
            helper,
            to_probe,
            runs,
            all_results,
            depth,
            smoke_of,
            jobs=jobs,
            timeout=timeout,
            isolation=isolation,
            on_progress=advance,
            on_modules=on_modules,
        )
        for module in to_probe:
            remember(full_keys, module.name, runs[module.name])
    runs.update({name: ProbeRun(entry["replies"]) for name, entry in cached.items()})
    known = {
        m.name: (
            m.distribution.name if m.distribution else "stdlib" if m.origin == "stdlib" else None
        )
        for m in found.modules
    }
    for name in cached:
        all_results[name] = _results(runs[name], _probes_of(by_name[name], probes))
    controls = _controls(interp, helper, found, all_results, probes, jobs, timeout, isolation)
    audits = []
    incomplete = []
    for module in sorted(found.modules, key=lambda m: (m.group.lower(), m.name)):
        run = runs[module.name]
        results = all_results[module.name]
        init: InitInfo = init_from_reply(run.replies.get("init"), interp.short_version)
        verdict, reasons = classify(module, init, results, known)
        if run.failure is not None:
            incomplete.append(module.name)
            reasons = (*reasons, Reason("tool_failure", f"subinterp-audit failed: {run.failure}"))
        static = statics[module.name] if module.name in statics else inspect_binary(module.path)
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
        audits.append(ModuleAudit(module, init, results, verdict, reasons, static, verdict_fixed))
    cache.flush()
    return TargetAudit(
        environment=environ,
        python=interp,
        modules=tuple(audits),
        non_extensions=found.non_extensions,
        shadowed=found.shadowed,
        notes=target_notes(interp),
        incomplete=tuple(incomplete),
        cached=len(cached),
    )


class _ModuleCount:
    """Counts the modules whose probes of a phase ended (called from the worker threads)."""

    def __init__(self, total: int, phase: str, report: Callable[[int, int, str], None]):
        self._lock = threading.Lock()
        self._done = 0
        self._total, self._phase, self._report = total, phase, report

    def ended(self, name: str, run: ProbeRun) -> None:
        with self._lock:
            self._done += 1
            self._report(self._done, self._total, self._phase)


def _remember(
    cache: ResultCache,
    key: str,
    fallback_key: Callable[[str], str],
    run: ProbeRun,
    static: StaticInfo | None,
    reused: Mapping[str, Any] | None = None,
) -> None:
    """Store a module's replies, keyed by their closure (or by the whole environment when a
    probe could not report its closure); never a timeout, a SIGKILL, or a tool failure.
    `reused`: the cache entry the import probes' replies came from (its closure holds)."""
    replies = run.replies
    if run.failure is not None or any(never_cached(r) for r in replies.values()):
        return
    old = set(reused["replies"]) if reused else set()
    files = [r.get("files") for p, r in replies.items() if p not in old]
    entry: dict[str, Any] = {
        "replies": {p: {k: v for k, v in r.items() if k != "files"} for p, r in replies.items()},
        "static": asdict(static) if static else None,
    }
    old_closure = reused.get("closure") if reused else {}
    if all(isinstance(f, list) for f in files) and old_closure is not None:
        closure = cache.closure_of(path for group in files for path in group or ())
        entry["closure"] = {**old_closure, **closure}
        cache.put(key, entry)
    else:
        cache.put(fallback_key(key), entry)


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


def _smoke_per_module(
    modules: Sequence[ExtensionModule], smoke: Mapping[str, str]
) -> dict[str, str]:
    """Module name -> its smoke code: its own entry, else the "*" entry (every module)."""
    chosen = {}
    for module in modules:
        code = smoke.get(module.name, smoke.get("*"))
        if code:
            chosen[module.name] = code
    return chosen


def _depth_phase(
    interp: Interpreter,
    helper: Helper,
    modules: Sequence[ExtensionModule],
    runs: dict[str, ProbeRun],
    results: dict[str, dict[str, ProbeResult]],
    settings: DepthSettings,
    smoke: Mapping[str, str],
    *,
    jobs: int,
    timeout: float,
    isolation: str,
    on_progress: Callable[[int, int, str], None],
    on_modules: Callable[[int, int, str], None] = lambda done, total, phase: None,
) -> None:
    """Run the depth probes each module's verdict needs (auditor/judging/classify.py
    next_depth_kind): its import verdict's kind first, then the kinds below while they fail.
    A depth probe that crashed or hung runs again, `settings.repeat` runs in all.  Adds the
    replies to `runs` and the results to `results`."""
    by_name = {m.name: m for m in modules}
    first_kind: dict[str, str] = {}
    for _ in DEPTH_KINDS:
        need = {
            name: kind
            for name in by_name
            if runs[name].failure is None and (kind := next_depth_kind(results[name]))
        }
        if not need:
            return
        for name, kind in need.items():
            first_kind.setdefault(name, kind)
        chosen = [by_name[name] for name in need]

        def probe(
            probes: tuple[str, ...],
            subset: Sequence[ExtensionModule],
            need: Mapping[str, str] = need,
            on_finished: Callable[[str, ProbeRun], None] = lambda name, run: None,
        ) -> dict[str, ProbeRun]:
            return run_probes(
                interp,
                helper,
                subset,
                probes,
                jobs=jobs,
                timeout=timeout,
                isolation=isolation,
                on_progress=on_progress,
                kinds=need,
                depth=settings,
                smoke=smoke,
                on_finished=on_finished,
            )

        count = _ModuleCount(len(chosen), "depth", on_modules)
        batch = probe(DEPTH_PROBES, chosen, on_finished=count.ended)
        counts = {(n, p): [1, 0] for n in need for p in DEPTH_PROBES}  # [runs, failed runs]
        for name, run in batch.items():
            for probe_name, reply in run.replies.items():
                if reply.get("outcome") in ("crash", "timeout"):
                    counts[(name, probe_name)][1] = 1
        for probe_name in DEPTH_PROBES:
            again = [
                by_name[n] for n in need if counts[(n, probe_name)][1] and not batch[n].failure
            ]
            for _ in range(settings.repeat - 1):
                if not again:
                    break
                for name, run in probe((probe_name,), again).items():
                    reply = run.replies.get(probe_name) or {}
                    counts[(name, probe_name)][0] += 1
                    if reply.get("outcome") in ("crash", "timeout"):
                        counts[(name, probe_name)][1] += 1
        for name, run in batch.items():
            if run.failure is not None:
                runs[name].failure = run.failure
            for probe_name, reply in run.replies.items():
                key = depth_key(probe_name, need[name], first_kind[name])
                total, failed = counts.get((name, probe_name), (1, 0))
                reply = {
                    **reply,
                    "probe": key,
                    "kind": need[name],  # also when the probe died before it could say
                    "runs": total,
                    "failed_runs": failed,
                }
                runs[name].replies[key] = reply
                results[name][key] = result_from_reply(reply)


def _controls(
    interp: Interpreter,
    helper: Helper,
    found: Discovery,
    results: dict[str, dict[str, ProbeResult]],
    probes: tuple[str, ...],
    jobs: int,
    timeout: float,
    isolation: str,
) -> dict[str, dict[str, ProbeResult]]:
    """The stdlib control modules that recognising this interpreter's known bugs needs:
    from this scan when it probed them, else probed now (not reported as modules)."""
    controls = {}
    for name in controls_needed(interp.version):
        if name in results:
            controls[name] = results[name]
            continue
        try:
            extra = discover(interp, module_names=(name,)).modules
        except AuditorError:
            continue  # not in this build of the interpreter
        runs = run_probes(
            interp, helper, extra, probes, jobs=jobs, timeout=timeout, isolation=isolation
        )
        for module in extra:
            controls[module.name] = _results(runs[module.name], probes)
    return controls


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
        f"{bug.title} (CPython {bug.cpython_issue}, {bug.status}): not a defect of this module",
        match.probes,
        details=(
            ("bug", bug.id),
            ("cpython_issue", bug.cpython_issue),
            ("fixed_in", bug.fixed_in),
            ("status", bug.status),
            ("url", bug.url),
        ),
    )
