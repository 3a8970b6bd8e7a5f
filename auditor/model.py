"""The data model, in one place: frozen dataclasses and enums shared by every stage."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Verdict(str, enum.Enum):
    """Per-module verdicts, best first (contract: the ``verdict`` values of the report)."""

    OWN_GIL = "own_gil"
    SHARED_GIL = "shared_gil"
    LEGACY_ONLY = "legacy_only"
    ONE_INTERPRETER = "one_interpreter"
    UNSUPPORTED = "unsupported"
    CRASHES = "crashes"
    HANGS = "hangs"
    BROKEN = "broken"

    @property
    def rank(self) -> int:
        """0 for the best verdict; larger is worse."""
        return list(Verdict).index(self)

    def __str__(self) -> str:
        return self.value


class Outcome(str, enum.Enum):
    """What happened in one probe (contract: ``outcome``)."""

    OK = "ok"
    IMPORT_ERROR = "import_error"
    ERROR = "error"
    CRASH = "crash"
    TIMEOUT = "timeout"
    NOT_RUN = "not_run"
    TOOL_FAILURE = "tool_failure"  # subinterp-audit itself failed: says nothing of the module

    def __str__(self) -> str:
        return self.value


# Values of Py_mod_multiple_interpreters and Py_mod_gil (Include/moduleobject.h).
MULTIPLE_INTERPRETERS = {0: "not_supported", 1: "supported", 2: "per_interpreter_gil"}
GIL = {0: "used", 1: "not_used"}


def slot_ids(version: tuple[int, int]) -> dict[str, Any]:
    """The slot table: which ``PyModuleDef_Slot`` ids mean Py_mod_multiple_interpreters and
    Py_mod_gil on a target of `version`.  The C helper reports raw (id, value) pairs.

    Before 3.15 they are 3 and 4 (Include/moduleobject.h).  3.15 (PEP 820,
    Include/slots_generated.h) renumbered them to 86 and 87 for non-limited builds; a module
    built for an older limited API still uses 3 and 4 (``_Py_SLOT_COMPAT_VALUE``).
    """
    if version >= (3, 15):
        return {
            "multiple_interpreters": (86, 3),
            "gil": (87, 4),
            "state_size": (102,),
            # The report lists module slots by their 3.12-3.14 numbers on every version
            # (Py_mod_create 84, Py_mod_exec 85, ... -> 1, 2, ...); others keep theirs.
            "classic": {84: 1, 85: 2, 86: 3, 87: 4},
        }
    return {"multiple_interpreters": (3,), "gil": (4,), "state_size": (), "classic": {}}


@dataclass(frozen=True)
class Interpreter:
    """A target interpreter, as it described itself (auditor/_target/environment.py)."""

    executable: str
    version: str
    version_info: tuple[int, int, int]
    build: str
    implementation: str
    soabi: str | None
    ext_suffix: str | None
    gil_disabled: bool
    platform: str
    prefix: str
    base_prefix: str
    sys_path: tuple[str, ...]
    compiler: dict[str, str | None] = field(hash=False, compare=False)
    # sys.implementation.supports_isolated_interpreters (3.14+); None where it does not exist.
    supports_isolated_interpreters: bool | None = None

    @property
    def short_version(self) -> tuple[int, int]:
        return (self.version_info[0], self.version_info[1])

    @property
    def has_interpreter_configs(self) -> bool:
        """3.12+: isolated and own-GIL subinterpreters exist (PEP 684)."""
        return self.short_version >= (3, 12)

    @property
    def label(self) -> str:
        flavour = " free-threaded" if self.gil_disabled else ""
        return f"{self.implementation} {self.version}{flavour} ({self.executable})"


@dataclass(frozen=True)
class Distribution:
    name: str
    version: str


@dataclass(frozen=True)
class ExtensionModule:
    """One importable extension module file of the target."""

    name: str
    path: str
    origin: str  # "distribution" | "stdlib" | "unowned" | "import" (--import: any module)
    distribution: Distribution | None
    init_suffix: str  # PyInit<suffix>
    root: str  # the sys.path entry (or PATH argument) it is named from
    abi: str = "version"  # "version", "stable" (abi3) or "stable_free_threading" (abi3t)

    @property
    def group(self) -> str:
        """What the terminal groups it under."""
        if self.origin == "import":
            return "imports (--import)"
        if self.distribution is not None:
            return f"{self.distribution.name} {self.distribution.version}"
        return "stdlib" if self.origin == "stdlib" else "(no distribution)"

    @property
    def is_import(self) -> bool:
        """Named by --import: probed by its import, without an init function to read."""
        return self.origin == "import"


@dataclass(frozen=True)
class NonExtension:
    """A file with an extension-module suffix that exports no PyInit_ (nor PyModExport_)."""

    name: str
    path: str
    reason: str


@dataclass(frozen=True)
class InitInfo:
    """How a module initialises, read by calling its init function (probe ``init``)."""

    style: str  # "multi_phase" | "single_phase" | "unknown"
    export: str | None = None  # "PyInit" | "PyModExport"
    multiple_interpreters: str | None = None  # MULTIPLE_INTERPRETERS value, None if absent
    gil: str | None = None  # GIL value, None if absent
    m_size: int | None = None
    slots: tuple[int, ...] = ()
    # "observed" (the init function's result was read) or "inferred" (it raised: code ran
    # in PyInit itself, which a multi-phase init never does, so it is single-phase)
    basis: str = "observed"


UNKNOWN_INIT = InitInfo(style="unknown")


@dataclass(frozen=True)
class ImportAttempt:
    """An import in the main interpreter after a fresh subinterpreter probe."""

    outcome: Outcome
    exception: str | None = None
    message: str | None = None
    cause: str | None = None  # what the exception was raised from ("Type: msg <- ...")
    importers: tuple[str, ...] = ()  # modules whose import led to the failure, outermost first

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ImportAttempt | None:
        """From a probe's reply or the report (both write these fields)."""
        if data is None:
            return None
        return cls(
            Outcome(data["outcome"]),
            data.get("exception"),
            data.get("message"),
            data.get("cause"),
            tuple(data.get("importers") or ()),
        )


@dataclass(frozen=True)
class ExitCheck:
    """How a fresh probe's process ended when it exited right after its subinterpreter
    ended, without importing the module in main (a fork of the probe child)."""

    outcome: Outcome  # ok, crash, or not_run (threads were running: no fork)
    signal: str | None = None
    exit_code: int | None = None
    message: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ExitCheck | None:
        """From a probe's reply or the report (both write these fields)."""
        if data is None:
            return None
        return cls(
            Outcome(data["outcome"]), data.get("signal"), data.get("exit_code"), data.get("message")
        )


@dataclass(frozen=True)
class HeapFigures:
    """The cycles depth probe: growth per create/import/use/end cycle, against a control
    of the same kind that imports nothing (bytes; None where the platform cannot tell)."""

    cycles: int
    heap_growth_per_cycle: int | None = None  # C heap (glibc mallinfo2)
    control_heap_growth_per_cycle: int | None = None
    rss_growth_per_cycle: int | None = None
    control_rss_growth_per_cycle: int | None = None

    @property
    def leak_per_cycle(self) -> int | None:
        """C heap growth per load beyond the control's."""
        if self.heap_growth_per_cycle is None or self.control_heap_growth_per_cycle is None:
            return None
        return self.heap_growth_per_cycle - self.control_heap_growth_per_cycle


@dataclass(frozen=True)
class Deadlock:
    """A probe stopped early: no progress and almost no CPU time (auditor/probing/stall.py)."""

    idle_seconds: float
    native_stacks: str | None  # every thread's native stack (gdb / eu-stack)
    native_stacks_from: str  # the tool that gave them, or why there are none


# The fields of a probe result that say what happened (not how long it took, nor how the
# process was started): two runs of the same probe must agree on them (--isolation, cache).
EVIDENCE_FIELDS = (
    "outcome",
    "exception",
    "message",
    "signal",
    "exit_code",
    "stage",
    "main_after",
    "import_outcome",
    "stdout_bytes",
    "exit_after_sub",
)


@dataclass(frozen=True)
class ProbeResult:
    """One probe, run in its own child process, with the evidence the worker saw."""

    probe: str
    outcome: Outcome
    exception: str | None = None
    message: str | None = None
    cause: str | None = None  # the exception's __cause__/__context__ chain, "Type: msg <- ..."
    signal: str | None = None
    exit_code: int | None = None
    stage: str | None = None  # last stage reached: init, create, import, interpreter_end, ...
    stderr_tail: str = ""
    stdout_bytes: int = 0
    seconds: float = 0.0
    main_after: ImportAttempt | None = None  # fresh probes: main's import afterwards
    import_outcome: Outcome | None = None  # crash after the import had reported this
    fresh_exec: bool = False  # run in a newly exec'd interpreter instead of a fork
    exit_after_sub: ExitCheck | None = None  # fresh probes: the exit without main's import
    # Free-threaded builds: whether the GIL was on at the probe's end (None: always on).
    gil_enabled: bool | None = None
    # Where a clean failure happened: "use" (the use or smoke code, not the import), and in
    # depth probes "<interpreter>:<import|use>" ("B:import", "round 2, interpreter 3:use").
    step: str | None = None
    kind: str | None = None  # depth probes: the interpreter kind they ran in
    heap: HeapFigures | None = None  # the cycles depth probe's measurements
    runs: int = 1  # depth probes: how often it ran (a crash or hang is repeated) ...
    failed_runs: int = 0  # ... and how many of those runs crashed or hung
    deadlock: Deadlock | None = None  # a timeout found early: no progress, almost no CPU
    # The modules whose import led to a failed import (their bodies were on the traceback),
    # outermost first: how the probed module reached the one that refused.
    importers: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """The import worked and, if fresh, main could import after."""
        return self.outcome is Outcome.OK and (self.main_after is None or self.main_after.ok)


@dataclass(frozen=True)
class Advice:
    """What a reason means and how to fix it, from auditor/judging/knowledge.toml."""

    topic: str  # the knowledge-base entry used, e.g. "crash.interpreter_end"
    title: str
    explanation: str
    fix: str
    links: tuple[tuple[str, str], ...] = ()  # (title, url)
    toolkit: str | None = None  # set when the fix is written for this module's toolkit


@dataclass(frozen=True)
class Reason:
    """Why a module got its verdict: a stable code plus evidence (contract: ``reasons``)."""

    code: str
    message: str
    probes: tuple[str, ...] = ()
    module: str | None = None  # the blocking module, for code "blocked_by"
    details: tuple[tuple[str, Any], ...] = ()
    advice: Advice | None = None  # added after classification (auditor/judging/advice.py)


@dataclass(frozen=True)
class ModuleAudit:
    """Everything known about one module: the probes, the verdict and the reasons."""

    module: ExtensionModule
    init: InitInfo
    probes: dict[str, ProbeResult] = field(hash=False)
    verdict: Verdict
    reasons: tuple[Reason, ...]
    static: StaticInfo | None = None  # binding toolkit and C-API hints, read from the file
    # When a known CPython bug explains some probes (reason "interpreter_bug"): the verdict
    # with those probes as an interpreter without the bug gives them.  The gate uses it.
    verdict_on_fixed_interpreter: Verdict | None = None


@dataclass(frozen=True)
class TargetAudit:
    """The scan of one target interpreter."""

    python: Interpreter
    modules: tuple[ModuleAudit, ...]
    non_extensions: tuple[NonExtension, ...] = ()
    shadowed: tuple[dict[str, str], ...] = ()
    notes: tuple[str, ...] = ()  # said once per target, e.g. "3.11: legacy probes only"
    incomplete: tuple[str, ...] = ()  # modules the tool itself failed on
    cached: int = 0  # modules whose results came from the result cache
    # The behaviour-changing environment the probes ran with (PYTHON*, LD_*, ...).
    environment: dict[str, str] = field(default_factory=dict, hash=False)

    def counts(self) -> dict[str, int]:
        counts = {v.value: 0 for v in Verdict}
        for audit in self.modules:
            counts[audit.verdict.value] += 1
        return counts


@dataclass(frozen=True)
class AuditReport:
    """A whole run: one or more targets."""

    targets: tuple[TargetAudit, ...]
    started: str
    finished: str
    argv: tuple[str, ...] = ()


# --- Static analysis of an extension's shared object (auditor/static/binding.py) -----------
# Hints only: nothing here is executed, and the probes decide the verdict.

# The values of Binding.toolkit.  "pyo3-ffi" is Rust calling the C API through raw bindings
# (the pyo3-ffi crate or its own), without PyO3's #[pymodule] machinery and its guard.
TOOLKITS = (
    "c",
    "c++",
    "cython",
    "pybind11",
    "nanobind",
    "pyo3",
    "pyo3-ffi",
    "mypyc",
    "swig",
    "cffi",
    "f2py",
    "hpy",
    "unknown",
)


@dataclass(frozen=True)
class Binding:
    """Which tool generated a module's glue to the C API, and what showed it."""

    toolkit: str  # one of TOOLKITS
    version: str | None = None  # when the binary says, e.g. "3.2.9" (Cython), "3.x (internals v11)"
    evidence: tuple[str, ...] = ()  # e.g. "string 'Interpreter change detected'"


@dataclass(frozen=True)
class StaticHint:
    """A C-API symbol the module imports that bears on subinterpreter support."""

    symbol: str
    kind: str  # "red_flag" | "good_sign" | "note" (depends on the use)
    meaning: str  # one line for a maintainer


@dataclass(frozen=True)
class StaticInfo:
    """What the shared object says about itself without being loaded."""

    binding: Binding
    hints: tuple[StaticHint, ...]
    imports_python_api: bool  # it imports Py*/_Py* symbols (the interpreter provides them)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> StaticInfo | None:
        """The inverse of dataclasses.asdict (the result cache stores it so)."""
        if data is None:
            return None
        binding = data["binding"]
        return cls(
            Binding(binding["toolkit"], binding.get("version"), tuple(binding["evidence"])),
            tuple(StaticHint(**hint) for hint in data["hints"]),
            data["imports_python_api"],
        )

    @property
    def red_flags(self) -> tuple[StaticHint, ...]:
        return tuple(hint for hint in self.hints if hint.kind == "red_flag")

    @property
    def good_signs(self) -> tuple[StaticHint, ...]:
        return tuple(hint for hint in self.hints if hint.kind == "good_sign")


# --- end of static analysis -----------------------------------------------------------------
