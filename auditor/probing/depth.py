"""The depth phase of one target's audit: the depth probes each module's verdict needs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from auditor.judging.classify import next_depth_kind
from auditor.model import ExtensionModule, Interpreter, ProbeResult
from auditor.probe_plan import (
    CONTROL_PROBE,
    DEPTH_KINDS,
    DEPTH_PROBES,
    ProbeSettings,
    depth_base,
    depth_key,
)
from auditor.probing.helper import Helper
from auditor.probing.observer import ScanObserver, _ModuleCount, _ProbeCount
from auditor.probing.replies import Reply, result_from_reply
from auditor.probing.scheduler import ProbeRun, run_probes


def _depth_phase(
    interp: Interpreter,
    helper: Helper,
    modules: Sequence[ExtensionModule],
    runs: dict[str, ProbeRun],
    results: dict[str, dict[str, ProbeResult]],
    settings: ProbeSettings,
    counter: _ProbeCount,
    observer: ScanObserver,
) -> None:
    """Run the depth probes each module's verdict needs (auditor/judging/classify.py
    next_depth_kind): its import verdict's kind first, then the kinds below while they fail.
    A depth probe that crashed or timed out while busy runs again, `settings.depth.repeat`
    runs in all (a deadlock is not repeated); a concurrent probe that passed runs again,
    `settings.depth.confirm` runs in all.  The cycles probes' empty control is measured
    once per kind (probe CONTROL_PROBE), not once per module.  Adds the replies to `runs` and
    the results to `results`."""
    assert settings.depth is not None
    repeat = settings.depth.repeat
    by_name = {m.name: m for m in modules}
    first_kind: dict[str, str] = {}
    # The module's own cost: its slowest import probe (auditor/probe_plan.py depth_deadline).
    import_seconds = {
        name: max(
            (r.seconds for p, r in results[name].items() if depth_base(p) is None), default=0.0
        )
        for name in by_name
    }
    # kind -> the control's figures; None when it could not be measured (then each cycles
    # probe of that kind measures its own, as it did before).
    controls: dict[str, dict[str, Any] | None] = {}
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
                settings,
                kinds=need,
                import_seconds=import_seconds,
                controls={
                    kind: figures["control_heap_growth_per_cycle"]
                    for kind, figures in controls.items()
                    if figures
                },
                on_progress=counter.advance,
                on_finished=on_finished,
            )

        for kind in dict.fromkeys(need.values()):
            if kind not in controls:
                name = next(n for n, k in need.items() if k == kind)
                reply = probe((CONTROL_PROBE,), [by_name[name]])[name].replies.get(CONTROL_PROBE)
                controls[kind] = _control_figures(reply)

        count = _ModuleCount(len(chosen), "depth", observer.modules_done)
        batch = probe(DEPTH_PROBES, chosen, on_finished=count.ended)
        counts = {(n, p): [1, 0] for n in need for p in DEPTH_PROBES}  # [runs, failed runs]
        for name, run in batch.items():
            for probe_name, reply in run.replies.items():
                if reply.get("outcome") in ("crash", "timeout"):
                    counts[(name, probe_name)][1] = 1
        for probe_name in DEPTH_PROBES:
            again = [
                by_name[n]
                for n in need
                if not batch[n].failure and _worth_repeating(batch[n].replies.get(probe_name))
            ]
            for _ in range(repeat - 1):
                if not again:
                    break
                for name, run in probe((probe_name,), again).items():
                    reply = run.replies.get(probe_name) or {}
                    counts[(name, probe_name)][0] += 1
                    if reply.get("outcome") in ("crash", "timeout"):
                        counts[(name, probe_name)][1] += 1
        _confirm_passes(probe, batch, counts, [by_name[n] for n in need], settings.depth.confirm)
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
                figures = controls.get(need[name])
                if probe_name == "cycles" and figures and reply.get("heap"):
                    reply["heap"] = {**figures, **(reply["heap"] or {})}
                runs[name].replies[key] = reply
                results[name][key] = result_from_reply(reply)


def _control_figures(reply: Reply | None) -> dict[str, Any] | None:
    """The control's figures, if it ran cleanly and measured them."""
    heap = (reply or {}).get("heap") or {}
    if (
        reply is None
        or reply.get("outcome") != "ok"
        or heap.get("control_heap_growth_per_cycle") is None
    ):
        return None
    return {k: v for k, v in heap.items() if k.startswith("control_")}


def _confirm_passes(
    probe: Callable[..., dict[str, ProbeRun]],
    batch: dict[str, ProbeRun],
    counts: dict[tuple[str, str], list[int]],
    modules: Sequence[ExtensionModule],
    confirm: int,
) -> None:
    """Run each passing concurrent probe again, `confirm` runs in all: a race in a module's
    first concurrent load is sampled once per run.  The first run that fails stops it; its
    reply becomes the probe's evidence ("1 of 3 runs failed"), in `batch` and `counts`."""
    passing = [m for m in modules if not batch[m.name].failure and _passed(batch[m.name])]
    for _ in range(confirm - 1):
        if not passing:
            return
        for name, run in probe(("concurrent",), passing).items():
            reply = run.replies.get("concurrent")
            counts[(name, "concurrent")][0] += 1
            if reply is None or reply.get("outcome") != "ok":
                counts[(name, "concurrent")][1] += 1
                if reply is not None:
                    batch[name].replies["concurrent"] = reply
                if run.failure is not None:
                    batch[name].failure = run.failure
        passing = [m for m in passing if not batch[m.name].failure and _passed(batch[m.name])]


def _passed(run: ProbeRun) -> bool:
    return (run.replies.get("concurrent") or {}).get("outcome") == "ok"


def _worth_repeating(reply: Reply | None) -> bool:
    """A crash, or a timeout while busy, may not happen the next time: run it again.  A
    deadlock found with its stacks is deterministic evidence: once is enough."""
    if reply is None:
        return False
    outcome = reply.get("outcome")
    return outcome == "crash" or (outcome == "timeout" and not reply.get("deadlock"))
