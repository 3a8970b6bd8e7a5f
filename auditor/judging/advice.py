"""Match each reason with the knowledge base (auditor/judging/knowledge.toml): meaning and fix."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from auditor.judging.interpreter_bugs import known_bugs
from auditor.model import Advice, InitInfo, Reason

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

KNOWLEDGE = Path(__file__).with_name("knowledge.toml")
# A layer that rewrites the fix drops the less specific layers' additions to it.
_FIX_PARTS = ("slot_step", "fix_before_312", "stopgap", "stopgap_declares")
_FIELDS = ("title", "explanation", "fix", "links", *_FIX_PARTS)
# Py_mod_multiple_interpreters levels, lowest first; a multi-phase module without the slot is
# at "supported".
_LEVELS = ("not_supported", "supported", "per_interpreter_gil")
_SLOT_NAMES = {
    "not_supported": "Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED",
    "supported": "Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED",
    "per_interpreter_gil": "Py_MOD_PER_INTERPRETER_GIL_SUPPORTED",
}


@dataclass(frozen=True)
class Context:
    """What the advice may depend on besides the reason: the target and the module's init."""

    python: tuple[int, int] | None = None  # the target's version; None: any
    init: InitInfo | None = None  # None: unknown

    @property
    def has_slots(self) -> bool:
        """Whether the target has Py_mod_multiple_interpreters (3.12+)."""
        return self.python is None or self.python >= (3, 12)

    @property
    def level(self) -> str | None:
        """The module's declared level; None when it cannot declare one (single-phase)."""
        if self.init is None or self.init.style != "multi_phase":
            return None
        return self.init.multiple_interpreters or "supported"


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


def advise(reason: Reason, toolkit: str | None, context: Context | None = None) -> Advice:
    """The advice for `reason` in a module built with `toolkit` (most specific entry wins),
    for the target and module of `context` (without one: the general advice, every part)."""
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
        if "fix" in layer:
            for part in _FIX_PARTS:
                merged.pop(part, None)
        merged.update({k: layer[k] for k in _FIELDS if k in layer})
    links = tuple(tuple(data["links"][name]) for name in merged.get("links", ()))
    fix = _fix(merged, context or Context())
    return Advice(topic, merged["title"], merged["explanation"], fix, links, used_toolkit)


def _fix(entry: dict[str, Any], context: Context) -> str:
    """The entry's fix for this target and module: no slot before 3.12, no declaration the
    module already makes (or cannot make)."""
    if not context.has_slots:
        return str(entry.get("fix_before_312", entry["fix"]))
    parts = [entry["fix"]]
    if "slot_step" in entry:
        parts.append(entry["slot_step"])
    if "stopgap" in entry:
        wanted = entry["stopgap_declares"]
        level, init = context.level, context.init
        unknown = init is None or init.style == "unknown"  # an --import name, a crashed init
        if unknown or (level is not None and _LEVELS.index(level) > _LEVELS.index(wanted)):
            parts.append(entry["stopgap"])
        elif level is not None and init is not None and init.multiple_interpreters is not None:
            parts.append(
                f"(The module already declares {_SLOT_NAMES[level]}; legacy subinterpreters "
                f"ignore the slot.)"
            )
    return " ".join(parts)


def _known_bug(reason: Reason) -> Advice | None:
    """A known CPython bug brings its own words (auditor/judging/interpreter_bugs.toml)."""
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
        ((f"CPython {bug.cpython_issue}", bug.url),) if bug.url else (),
    )


def annotate(
    reasons: tuple[Reason, ...], toolkit: str | None, context: Context | None = None
) -> tuple[Reason, ...]:
    """The reasons with their advice attached."""
    return tuple(replace(r, advice=advise(r, toolkit, context)) for r in reasons)
