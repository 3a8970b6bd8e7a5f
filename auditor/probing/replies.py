"""A probe's reply: what the supervisor read from one probe process, and what it means.

A reply is the one record that travels from auditor/probing/children.py (``_reply``)
through the scheduler into the cache and back: a JSON object, since the cache stores it and
the target's worker writes most of it.  ``Reply`` names its fields; ``result_from_reply``
and ``init_from_reply`` turn it into the model.
"""

from __future__ import annotations

from typing import Any, TypedDict

from auditor.model import (
    GIL,
    MULTIPLE_INTERPRETERS,
    Deadlock,
    ExitCheck,
    HeapFigures,
    ImportAttempt,
    InitInfo,
    Outcome,
    ProbeResult,
    slot_ids,
)


class Reply(TypedDict, total=False):
    """One probe's reply.  Written by the supervisor and the target's worker; every field
    but ``probe`` and ``outcome`` may be missing (older cache entries, probes that died)."""

    probe: str
    outcome: str  # an Outcome value, or "tool_failure"
    exception: str | None
    message: str | None
    cause: str | None
    stage: str | None
    seconds: float
    stdout_bytes: int
    stderr_tail: str
    exit_code: int | None
    signal: str | None
    fresh_exec: bool
    import_outcome: str | None
    main_after: dict[str, Any] | None
    exit_after_sub: dict[str, Any] | None
    gil_enabled: bool | None
    step: str | None
    kind: str | None
    heap: dict[str, Any] | None
    runs: int
    failed_runs: int
    deadlock: dict[str, Any] | None
    importers: list[str]
    init: dict[str, Any] | None  # the init probe's findings
    files: list[str] | None  # the import closure (not cached inside the entry)
    threads: str


def result_from_reply(reply: Reply) -> ProbeResult:
    """A reply (auditor/probing/children.py's _reply) -> ProbeResult."""
    imported = reply.get("import_outcome")
    return ProbeResult(
        probe=reply["probe"],
        outcome=Outcome(reply["outcome"]),
        exception=reply.get("exception"),
        message=reply.get("message"),
        cause=reply.get("cause"),
        signal=reply.get("signal"),
        exit_code=reply.get("exit_code"),
        stage=reply.get("stage"),
        stderr_tail=reply.get("stderr_tail") or "",
        stdout_bytes=reply.get("stdout_bytes") or 0,
        seconds=reply.get("seconds") or 0.0,
        main_after=ImportAttempt.from_dict(reply.get("main_after")),
        import_outcome=Outcome(imported) if imported else None,
        fresh_exec=bool(reply.get("fresh_exec")),
        exit_after_sub=ExitCheck.from_dict(reply.get("exit_after_sub")),
        gil_enabled=reply.get("gil_enabled"),
        step=reply.get("step"),
        kind=reply.get("kind"),
        heap=_heap(reply.get("heap")),
        runs=reply.get("runs") or 1,
        failed_runs=reply.get("failed_runs") or 0,
        deadlock=Deadlock(**deadlock) if (deadlock := reply.get("deadlock")) else None,
        importers=tuple(reply.get("importers") or ()),
    )


def _heap(data: dict[str, Any] | None) -> HeapFigures | None:
    if not data:
        return None
    return HeapFigures(
        cycles=int(data.get("cycles") or 0),
        heap_growth_per_cycle=data.get("heap_growth_per_cycle"),
        control_heap_growth_per_cycle=data.get("control_heap_growth_per_cycle"),
        rss_growth_per_cycle=data.get("rss_growth_per_cycle"),
        control_rss_growth_per_cycle=data.get("control_rss_growth_per_cycle"),
    )


def init_from_reply(reply: Reply | None, version: tuple[int, int]) -> InitInfo:
    """The `init` probe's raw findings -> InitInfo, through the slot table of `version`.

    An init function that raised has run module code in PyInit itself, which a multi-phase
    init (it only returns its PyModuleDef) never does: single-phase, inferred.
    """
    if reply is not None and reply.get("outcome") in ("import_error", "error"):
        # The helper's own refusals: the file did not load, or has no init function.
        unloadable = reply.get("exception") == "ImportError" and str(
            reply.get("message", "")
        ).startswith(("dlopen failed", "no PyInit"))
        if not unloadable:
            return InitInfo(style="single_phase", export="PyInit", basis="inferred")
    data = (reply or {}).get("init")
    if not data:
        return InitInfo(style="unknown")
    pairs = [(int(slot), int(value)) for slot, value in data.get("slots", ())]
    ids = slot_ids(version)

    def value_of(name: str, table: dict[int, str]) -> str | None:
        for slot, value in pairs:
            if slot in ids[name]:
                return table.get(value, str(value))
        return None

    return InitInfo(
        style=data.get("style", "unknown"),
        export=data.get("export"),
        multiple_interpreters=value_of("multiple_interpreters", MULTIPLE_INTERPRETERS),
        gil=value_of("gil", GIL),
        # An export hook (3.15) declares its state size in a slot, not in a PyModuleDef.
        m_size=data.get("m_size", next((v for s, v in pairs if s in ids["state_size"]), None)),
        slots=tuple(ids["classic"].get(slot, slot) for slot, _ in pairs),
    )


def tool_failure_reply(probe: str, why: str) -> Reply:
    """The reply of a probe that the tool itself could not run."""
    return {
        "probe": probe,
        "outcome": "tool_failure",
        "exception": None,
        "message": f"subinterp-audit failed: {why}",
    }
