"""One scan of one target: discover, probe, classify.  Returns a TargetAudit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from auditor.advice import annotate
from auditor.binding import inspect_binary
from auditor.classify import classify
from auditor.configs import probes_for
from auditor.discover import Discovery, discover
from auditor.model import (
    InitInfo,
    Interpreter,
    ModuleAudit,
    Outcome,
    ProbeResult,
    Reason,
    TargetAudit,
    Verdict,
)
from auditor.native import build_helper
from auditor.probe import init_from_reply, result_from_reply, run_probes


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
    jobs: int,
    timeout: float,
    on_discovered: Callable[[Discovery, int], None] = lambda found, total: None,
    on_progress: Callable[[int, int, str], None] = lambda done, total, name: None,
) -> TargetAudit:
    helper = build_helper(interp)
    found = discover(interp, paths=paths, packages=packages, module_names=module_names)
    probes = probes_for(interp.short_version)
    on_discovered(found, len(found.modules) * len(probes))
    runs = run_probes(
        interp, helper, found.modules, probes, jobs=jobs, timeout=timeout, on_progress=on_progress
    )
    known = {
        m.name: (
            m.distribution.name if m.distribution else "stdlib" if m.origin == "stdlib" else None
        )
        for m in found.modules
    }
    audits = []
    incomplete = []
    for module in sorted(found.modules, key=lambda m: (m.group.lower(), m.name)):
        run = runs[module.name]
        results: dict[str, ProbeResult] = {}
        for probe in probes:
            reply = run.replies.get(probe)
            if reply is not None:
                results[probe] = result_from_reply(reply)
            else:
                reason = (
                    "the main interpreter could not import it"
                    if run.failure is None
                    else run.failure
                )
                results[probe] = ProbeResult(probe, Outcome.NOT_RUN, message=f"not run: {reason}")
        init: InitInfo = init_from_reply(run.replies.get("init"))
        verdict, reasons = classify(module, init, results, known)
        if run.failure is not None:
            incomplete.append(module.name)
            reasons = (*reasons, Reason("tool_failure", f"subinterp-audit failed: {run.failure}"))
        static = inspect_binary(module.path)
        reasons = annotate(reasons, static.binding.toolkit if static else None)
        audits.append(ModuleAudit(module, init, results, verdict, reasons, static))
    return TargetAudit(
        python=interp,
        modules=tuple(audits),
        non_extensions=found.non_extensions,
        shadowed=found.shadowed,
        notes=target_notes(interp),
        incomplete=tuple(incomplete),
    )


__all__ = ["Verdict", "scan_target", "target_notes"]
