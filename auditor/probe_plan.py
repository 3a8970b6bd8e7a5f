"""The probes: which interpreter kind each uses and in which order it imports, as data.

The names are the report contract (docs/probes.md, "Probes").  The interpreter kinds
are created by native/probe.c (``fill_config``); their settings are documented here for
users and for the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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


# ---- depth probes: real use, in the best kind the import probes passed ----------------------

DEPTH_PROBES: tuple[str, ...] = ("reuse", "concurrent", "cycles")
DEPTH_DESCRIPTIONS = {
    "reuse": "interpreter A imports and uses it and ends, then B, then main, then C while "
    "main holds it and main uses it again; a normal exit",
    "concurrent": "K interpreters on K OS threads import and use it at once, R rounds",
    "cycles": "N create/import/use/end cycles (6 when those are clean); C-heap growth "
    "against an empty control",
}
# From the best kind down: the kind a verdict's depth probes run in, and back.
DEPTH_KINDS: tuple[tuple[str, str], ...] = (
    ("own_gil", "own_gil"),
    ("isolated", "shared_gil"),
    ("legacy", "legacy_only"),
)


@dataclass(frozen=True)
class DepthSettings:
    """How hard the depth probes push (CLI: --concurrency, --rounds, --cycles, --repeat,
    --confirm)."""

    threads: int = 4
    # Two rounds: in every report of this project's real venvs (3.12.1, 3.13.0, 3.14.10), a
    # third round never failed first (bench/README.md, "rounds").
    rounds: int = 2
    cycles: int = 30
    repeat: int = 3  # runs of a depth probe that crashed or hung, the first included
    confirm: int = 1  # runs of a concurrent probe that passed, the first included


ISOLATION_MODES = ("shared", "strict")


@dataclass(frozen=True)
class ProbeSettings:
    """How every probe of a scan runs.  Made once, from the command line and the
    configuration, by auditor/pipeline.py ``plan``; passed whole to the audit of each target,
    to ``explain`` and to the survey."""

    jobs: int
    timeout: float  # seconds one import probe may take (--timeout)
    isolation: str = "shared"  # ISOLATION_MODES
    depth: DepthSettings | None = DepthSettings()  # None: --depth import
    smoke: Mapping[str, str] = field(default_factory=dict)  # module name or "*" -> code
    reuse_cached: bool = True  # False: --no-cache (results are still stored)

    def smoke_for(self, module: str) -> str | None:
        """The maintainer's smoke code for `module`: its own entry, else the "*" entry."""
        return self.smoke.get(module, self.smoke.get("*")) or None


# The empty control of the cycles probe, measured once per kind in a scan (not a contract
# name: its figures go into each cycles probe's reply of that kind).
CONTROL_PROBE = "control"

# A depth probe's deadline: what its work costs at the module's own measured import time
# (its slowest import probe, process start included), three times over, plus a floor; never
# more than this many --timeout (the rule before the cost was known).  A deadlock does not
# wait for it (auditor/probing/stall.py): it only bounds a busy loop.
DEPTH_FLOOR_SECONDS = 30.0
DEPTH_TIMEOUT_FACTOR = 3


def depth_deadline(
    probe: str, import_seconds: float, depth: DepthSettings, timeout: float
) -> float:
    """Seconds the depth probe `probe` may take, for a module whose import probes took up to
    `import_seconds` each."""
    imports = {
        "reuse": 4,  # A, B, main, C
        "concurrent": depth.rounds * 2 * depth.threads,  # two patterns a round
        "cycles": 2 * depth.cycles,  # the module's cycles and the control's
        CONTROL_PROBE: depth.cycles,
    }[probe]
    cost = DEPTH_FLOOR_SECONDS + 3 * imports * import_seconds
    return min(cost, DEPTH_TIMEOUT_FACTOR * timeout)


def depth_key(probe: str, kind: str, first_kind: str) -> str:
    """The report name of a depth probe: the contract name in the first (best) kind tried,
    ``<kind>_<probe>`` in the kinds tried after it failed ("isolated_reuse")."""
    return probe if kind == first_kind else f"{kind}_{probe}"


def depth_base(name: str) -> str | None:
    """ "reuse" for "reuse" and "isolated_reuse"; None for an import probe."""
    for probe in DEPTH_PROBES:
        if name == probe or name.endswith("_" + probe):
            return probe
    return None
