"""The probes: which interpreter kind each uses and in which order it imports, as data.

The names are the report contract (../shared/DESIGN.md, "Probes").  The interpreter kinds
are created by native/probe.c (``fill_config``); their settings are documented here for
users and for the README.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InterpreterKind:
    name: str
    title: str
    settings: str  # the PyInterpreterConfig, in words


KINDS: dict[str, InterpreterKind] = {
    k.name: k
    for k in (
        InterpreterKind(
            "legacy",
            "legacy subinterpreter",
            "Py_NewInterpreter() settings: shared GIL and allocator, no extension check",
        ),
        InterpreterKind(
            "isolated",
            "isolated, shared GIL",
            "own allocator, check_multi_interp_extensions=1, GIL shared with main",
        ),
        InterpreterKind(
            "own_gil",
            "isolated, own GIL",
            "own allocator, check_multi_interp_extensions=1, own GIL "
            "(what concurrent.interpreters creates)",
        ),
    )
}


@dataclass(frozen=True)
class Probe:
    name: str
    kind: str | None  # interpreter kind, None for init/main
    after_main: bool  # main imports first, then the subinterpreter
    description: str


PROBES: tuple[Probe, ...] = (
    Probe("init", None, False, "call PyInit_<name> in a throwaway process: init style and slots"),
    Probe("main", None, False, "import in the main interpreter"),
    Probe("legacy", "legacy", False, "legacy subinterpreter imports first, then main"),
    Probe("isolated", "isolated", False, "isolated shared-GIL subinterpreter first, then main"),
    Probe("own_gil", "own_gil", False, "own-GIL subinterpreter first, then main"),
    Probe("legacy_after_main", "legacy", True, "main imports first, then a legacy subinterpreter"),
    Probe("isolated_after_main", "isolated", True, "main first, then an isolated shared-GIL one"),
    Probe("own_gil_after_main", "own_gil", True, "main first, then an own-GIL subinterpreter"),
)
PROBE_NAMES: tuple[str, ...] = tuple(p.name for p in PROBES)
BY_NAME: dict[str, Probe] = {p.name: p for p in PROBES}

# Probes that need a running main import first: they are only worth running when `main` worked.
SUBINTERPRETER_PROBES: tuple[str, ...] = tuple(p.name for p in PROBES if p.kind is not None)


def probes_for(version: tuple[int, int]) -> tuple[str, ...]:
    """The probes a target of this version supports (before 3.12: legacy only)."""
    if version >= (3, 12):
        return PROBE_NAMES
    return tuple(p.name for p in PROBES if p.kind in (None, "legacy"))
