"""Match each reason with the knowledge base (auditor/knowledge.toml): meaning and fix."""

from __future__ import annotations

import sys
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from auditor.interpreter_bugs import known_bugs
from auditor.model import Advice, Reason

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

KNOWLEDGE = Path(__file__).with_name("knowledge.toml")
_FIELDS = ("title", "explanation", "fix", "links")


@cache
def knowledge() -> dict[str, Any]:
    with KNOWLEDGE.open("rb") as stream:
        data: dict[str, Any] = tomllib.load(stream)
    return data


def variant(reason: Reason) -> str | None:
    """The refinement of a reason's entry: a crash's stage, the library that refused, a
    dependency's guard."""
    details = dict(reason.details)
    if reason.code in ("crash", "timeout"):
        stage = str(details.get("stage"))
        return {"returned": "interpreter_end"}.get(stage, stage)
    if reason.code == "binding_refusal":
        return str(details.get("binding"))
    if reason.code == "blocked_by" and details.get("guard"):
        return "guard"  # a dependency's library guard, not CPython's refusal
    return None


def advise(reason: Reason, toolkit: str | None) -> Advice:
    """The advice for `reason` in a module built with `toolkit` (most specific entry wins)."""
    bug = _known_bug(reason)
    if bug is not None:
        return bug
    data = knowledge()
    entry = data.get(reason.code)
    if entry is None:
        raise KeyError(f"knowledge.toml has no entry for reason code {reason.code!r}")
    layers = [entry]
    topic = reason.code
    sub = variant(reason)
    if sub and isinstance(entry.get(sub), dict):
        layers.append(entry[sub])
        topic = f"{reason.code}.{sub}"
    used_toolkit = None
    for layer in list(layers):
        specific = layer.get("toolkit", {}).get(toolkit or "")
        if specific:
            layers.append(specific)
            used_toolkit = toolkit
    merged: dict[str, Any] = {}
    for layer in layers:  # later layers are more specific
        merged.update({k: layer[k] for k in _FIELDS if k in layer})
    links = tuple(tuple(data["links"][name]) for name in merged.get("links", ()))
    return Advice(topic, merged["title"], merged["explanation"], merged["fix"], links, used_toolkit)


def _known_bug(reason: Reason) -> Advice | None:
    """A known CPython bug brings its own words (auditor/interpreter_bugs.toml)."""
    if reason.code != "interpreter_bug":
        return None
    bug_id = dict(reason.details).get("bug")
    bug = next((b for b in known_bugs() if b.id == bug_id), None)
    if bug is None:
        return None
    return Advice(
        f"interpreter_bug.{bug.id}",
        bug.title,
        bug.explanation,
        bug.fix,
        ((f"CPython {bug.cpython_issue}", bug.url),),
    )


def annotate(reasons: tuple[Reason, ...], toolkit: str | None) -> tuple[Reason, ...]:
    """The reasons with their advice attached."""
    return tuple(replace(r, advice=advise(r, toolkit)) for r in reasons)
