"""Pure: a module's init info and probe results -> its verdict and the reasons for it."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from auditor.model import (
    ExtensionModule,
    InitInfo,
    Outcome,
    ProbeResult,
    Reason,
    Verdict,
)
from auditor.probe_plan import DEPTH_KINDS, DEPTH_PROBES, KINDS, depth_base

# Every reason code this tool produces (contract: documented in the README; each has an entry in
# auditor/judging/knowledge.toml).  "tool_failure" is added by auditor/probing/audit.py.
# Listed most important first: reasons are reported in this order.
REASON_CODES = (
    "crash",
    "timeout",
    "fails_reuse",
    "crashes_concurrently",
    "fails_concurrently",
    "fails_cycles",
    "leaks_per_interpreter",
    "smoke_failed",
    "interpreter_bug",
    "gil_reenabled",
    "main_import_failed",
    "tool_failure",
    "blocked_by",
    "binding_refusal",
    "main_import_after_subinterpreter",
    "subinterpreter_import_error",
    "single_phase_init",
    "declares_not_supported",
    "no_multi_interp_slot",
    "declares_shared_gil",
    "declared_vs_observed",
    "refused_by_cpython",
    "init_unreadable",
)

# CPython's only refusal text (Python/import.c,
# _PyImport_CheckSubinterpIncompatibleExtensionAllowed).
_CPYTHON_REFUSAL = re.compile(r"module (\S+) does not support loading in subinterpreters")

# Refusals raised by binding generators and libraries themselves, which fire when a *second*
# interpreter loads the module (their guards keep the first interpreter in a C static):
# (text, binding).  Cython's re-initialisation messages name the module, by the last component
# of its name (Cython/Compiler/ModuleNode.py: env.module_name).
_ICD = "Interpreter change detected"
_BINDING_REFUSALS: tuple[tuple[str, str], ...] = (
    (_ICD, "cython"),  # __Pyx_check_single_interpreter, in the create slot
    ("has already been imported. Re-initialisation is not supported", "cython"),
    ("has already been imported into this interpreter", "cython"),
    ("PyO3 modules do not yet support subinterpreters", "pyo3"),  # PyO3/pyo3#576
    ("PyO3 modules compiled for CPython 3.8 or older", "pyo3"),
    # NumPy's (numpy/numpy#28271), and the opt-out the CPython HOWTO "Isolating Extension
    # Modules" recommends to every module: any module may raise it.
    ("cannot load module more than once per process", "numpy"),
)

_GUARDS = {
    "cython": "Cython's interpreter-change guard",
    "pyo3": "PyO3's interpreter guard",
    "numpy": "NumPy's once-per-process guard",
}

# How the module that raised a guard is named in the evidence: the guard's own words (Cython's
# re-initialisation messages), or the wrapper that re-raised a dependency's failure.  Wrappers:
# numpy/__init__.pxd import_array() "numpy._core.multiarray failed to import" (Cython modules
# that cimport numpy), numpy/_core/__init__.py "Importing the numpy C-extensions failed",
# pandas/__init__.py "Unable to import required dependencies:\nnumpy: ..." (3.x: "dependency").
_NAMED_BY_GUARD = re.compile(r"Module '([\w.]+)' has already been imported")
_NAMED_BY_WRAPPER = (
    re.compile(r"([\w.]+) failed to import"),
    re.compile(r"Importing the ([\w.]+) C-extensions failed"),
    re.compile(r"required dependenc(?:y|ies):?\s+([\w.]+)"),
)

# Py_mod_create, and the slot ids whose meaning is the same in every version up to 3.14
# (Include/moduleobject.h; 3.15 renumbers some, see auditor.model.slot_ids).
_PY_MOD_CREATE = 1
_CLASSIC_SLOTS = frozenset({1, 2, 3, 4})


def _refused_name(message: str | None) -> str | None:
    match = _CPYTHON_REFUSAL.search(message or "")
    return match.group(1) if match else None


def resolve_module_name(reported: str, probed: str, known: Collection[str]) -> str:
    """The full dotted name of the module CPython named in its message.

    Single-phase modules refused on their first load are named by their last component
    only (``_core`` for ``blockpkg._core``): pick the known module that ends so, preferring
    one in the probed module's own package.
    """
    if reported in known:
        return reported
    candidates = sorted(n for n in known if n.rpartition(".")[2] == reported)
    package = probed.rpartition(".")[0]
    for name in candidates:
        if name.rpartition(".")[0] == package:
            return name
    return candidates[0] if len(candidates) == 1 else reported


def refusable(init: InitInfo, kind: str) -> bool:
    """Whether CPython's own check can refuse this module in a subinterpreter of `kind`.

    Research section 2.2: a multi-phase module is refused only where its slot says so
    (per-interpreter GIL: never; supported or no slot: with an own GIL only); a single-phase
    module, or one whose init is unknown, in any checking interpreter.
    """
    if kind not in KINDS:  # the main interpreter never checks
        return False
    if init.style != "multi_phase":
        return True
    if init.multiple_interpreters == "per_interpreter_gil":
        return False
    return init.multiple_interpreters == "not_supported" or kind == "own_gil"


def blamed_module(
    reported: str,
    module: str,
    init: InitInfo,
    kind: str,
    known: Collection[str],
    seen: Collection[str] = (),
) -> str | None:
    """The full name of the module CPython's refusal names, or None when it is `module`.

    CPython names a multi-phase module by its full spec name, and a single-phase one by the
    last component of its name on a first load and in full afterwards (research 2.1).  So a
    refusal naming this module's last component is this module only if it is single-phase (or
    its style is unknown) and this module's own messages (`seen`: the full names they gave)
    name no other module with that last component; and a refusal naming it in full is this
    module only if CPython can refuse it in that kind at all.
    """
    others = [n for n in known if n != module]
    if reported == module:
        if refusable(init, kind):
            return None
        # CPython cannot refuse this module here: another one goes by this name on its first
        # load (a single-phase "pkg.<module>" next to a top-level <module>).
        blocker = resolve_module_name(reported, module, others)
        return None if blocker == reported else blocker
    if reported == module.rpartition(".")[2] and init.style != "multi_phase":
        rivals = sorted(n for n in seen if n != module and n.rpartition(".")[2] == reported)
        if module in seen or not rivals:
            return None
        return rivals[0] if len(rivals) == 1 else reported
    return resolve_module_name(reported, module, {*others, *seen} - {module})


def _names_self(named: str, module: str) -> bool:
    """A guard or wrapper names `module`: in full, by its last component (Cython), or by a
    package that contains it (numpy's wrapper names "numpy")."""
    return named in (module, module.rpartition(".")[2]) or module.startswith(named + ".")


def may_raise_guard(text: str, init: InitInfo) -> bool:
    """Whether a module initialised as `init` can itself raise the guard whose text is `text`.

    Cython raises "Interpreter change detected" only from its create slot, which is compiled
    with the check only without module state, and only module state emits a
    Py_mod_multiple_interpreters slot (Cython 3.1 ModuleSetupCode.c
    __Pyx_check_single_interpreter, ModuleNode.py): so a single-phase module, or a
    multi-phase one without Py_mod_create or with that slot, is not Cython's guard.  The
    other guards may live anywhere; an init that was not read tells nothing.
    """
    if text != _ICD or init.style == "unknown":
        return True
    if init.style == "single_phase":
        return init.basis == "inferred"  # PyInit raised: what it is was not read
    if not init.slots or not set(init.slots) <= _CLASSIC_SLOTS:
        return True  # no slot list, or a numbering this rule does not know
    return _PY_MOD_CREATE in init.slots and init.multiple_interpreters is None


def passes(probes: Mapping[str, ProbeResult], kind: str) -> bool:
    """The kind works in both orders, and main still imports after a fresh load."""
    fresh, after = probes.get(kind), probes.get(f"{kind}_after_main")
    return fresh is not None and fresh.passed and after is not None and after.passed


def verdict_of(probes: Mapping[str, ProbeResult]) -> Verdict:
    """The verdict from the import probes' outcomes alone (README.md, "Verdicts")."""
    outcomes = {p.outcome for name, p in probes.items() if depth_base(name) is None}
    if Outcome.CRASH in outcomes:
        return Verdict.CRASHES
    if Outcome.TIMEOUT in outcomes:
        return Verdict.HANGS
    main = probes.get("main")
    if main is None or not main.passed:
        return Verdict.BROKEN
    for kind, verdict in (
        ("own_gil", Verdict.OWN_GIL),
        ("isolated", Verdict.SHARED_GIL),
        ("legacy", Verdict.LEGACY_ONLY),
    ):
        if passes(probes, kind):
            return verdict
    if any(probes[k].outcome is Outcome.OK for k in _sub_probes(probes)):
        return Verdict.ONE_INTERPRETER
    return Verdict.UNSUPPORTED


# ---- depth probes --------------------------------------------------------------------------

# A per-load C-heap growth above this, beyond the empty control's, is a leak.
LEAK_BYTES_PER_CYCLE = 256 * 1024


def _depth_groups(probes: Mapping[str, ProbeResult]) -> dict[str, dict[str, ProbeResult]]:
    """kind -> depth probe -> result."""
    groups: dict[str, dict[str, ProbeResult]] = {}
    for name, result in probes.items():
        base = depth_base(name)
        if base is not None and result.kind:
            groups.setdefault(result.kind, {})[base] = result
    return groups


def leaks(result: ProbeResult) -> bool:
    leak = result.heap.leak_per_cycle if result.heap else None
    return leak is not None and leak > LEAK_BYTES_PER_CYCLE


def depth_passed(result: ProbeResult) -> bool:
    """Ran cleanly every time, and (cycles) without a per-load leak."""
    return result.outcome is Outcome.OK and result.failed_runs == 0 and not leaks(result)


def depth_kinds(import_verdict: Verdict) -> tuple[str, ...]:
    """The kinds whose depth probes can confirm `import_verdict`, best first."""
    kinds = tuple(kind for kind, _ in DEPTH_KINDS)
    for index, (_, verdict) in enumerate(DEPTH_KINDS):
        if import_verdict.value == verdict:
            return kinds[index:]
    return ()


def next_depth_kind(probes: Mapping[str, ProbeResult]) -> str | None:
    """The kind whose depth probes the verdict needs next (None: nothing more to run):
    the import verdict's kind first, then, while they fail, the kinds below it."""
    groups = _depth_groups(probes)
    for kind in depth_kinds(verdict_of(probes)):
        group = groups.get(kind, {})
        if len(group) < len(DEPTH_PROBES):
            return kind
        if all(depth_passed(r) for r in group.values()):
            return None
    return None


def depth_verdict(import_verdict: Verdict, probes: Mapping[str, ProbeResult]) -> Verdict:
    """The best kind whose depth probes all passed; else crashes / hangs when one did, else
    one_interpreter (the module fails its second interpreter cleanly), else legacy_only
    (it only leaks).  Without depth results (--depth import): the import verdict."""
    groups = _depth_groups(probes)
    kinds = depth_kinds(import_verdict)
    if not kinds or not groups:
        return import_verdict
    for kind, verdict in DEPTH_KINDS:
        group = groups.get(kind)
        if kind in kinds and group and all(depth_passed(r) for r in group.values()):
            return Verdict(verdict)
    outcomes = {r.outcome for group in groups.values() for r in group.values()}
    failed = any(r.failed_runs for group in groups.values() for r in group.values())
    if Outcome.CRASH in outcomes or (failed and Outcome.TIMEOUT not in outcomes):
        return Verdict.CRASHES
    if Outcome.TIMEOUT in outcomes:
        return Verdict.HANGS
    if any(r.outcome is not Outcome.OK for group in groups.values() for r in group.values()):
        return Verdict.ONE_INTERPRETER
    return Verdict.LEGACY_ONLY


def _runs(result: ProbeResult) -> str:
    return f", {result.failed_runs} of {result.runs} runs" if result.runs > 1 else ""


def _what_failed(result: ProbeResult) -> str:
    """ "crashed with SIGSEGV at B:import" / "hung at round 2:interpreter_end" / "raised
    TypeError at B:import: ..." """
    where = result.stage if result.outcome in (Outcome.CRASH, Outcome.TIMEOUT) else result.step
    if result.outcome is Outcome.CRASH:
        how = f"killed by {result.signal}" if result.signal else f"exit code {result.exit_code}"
        return f"crashed ({how}) at {where}{_runs(result)}"
    if result.outcome is Outcome.TIMEOUT:
        how = "deadlocked" if result.deadlock else "hung"
        return f"{how} at {where}{_runs(result)}"
    return f"raised {result.exception} at {where}: {result.message}"


def _smoke_failure(result: ProbeResult) -> bool:
    return bool(result.step and result.step.endswith("use") and result.message) and str(
        result.message
    ).startswith(SMOKE_FAILED)


# The prefix of the error the use code raises when the maintainer's smoke code failed
# (auditor/_target/worker.py _smoke_source).
SMOKE_FAILED = "smoke code failed: "


def _depth_reasons(probes: Mapping[str, ProbeResult], reasons: _Reasons) -> None:
    for name, result in probes.items():
        base = depth_base(name)
        if base is None or depth_passed(result):
            continue
        details: dict[str, object] = {
            "kind": result.kind,
            "step": result.step,
            "stage": result.stage,
            "runs": result.runs,
            "failed_runs": result.failed_runs,
        }
        kind = KINDS[result.kind].title if result.kind in KINDS else result.kind
        if _smoke_failure(result):
            reasons.add(
                "smoke_failed",
                f"the smoke code failed in {kind} interpreters ({name}): {result.message}",
                name,
                variant=name,
                details=details,
            )
        elif result.outcome is not Outcome.OK or result.failed_runs:
            code = {
                "reuse": "fails_reuse",
                "cycles": "fails_cycles",
                "concurrent": "crashes_concurrently"
                if result.outcome in (Outcome.CRASH, Outcome.TIMEOUT) or result.failed_runs
                else "fails_concurrently",
            }[base]
            what = {
                "reuse": "a second interpreter after the first one ended, or main after both",
                "concurrent": "several interpreters importing it at once on several threads",
                "cycles": "interpreters created and ended one after another",
            }[base]
            reasons.add(
                code,
                f"{kind}: {what} {_what_failed(result)}",
                name,
                variant=name,
                details=details,
            )
        if leaks(result) and result.heap is not None:
            leak = result.heap.leak_per_cycle or 0
            reasons.add(
                "leaks_per_interpreter",
                f"{kind}: each interpreter that loads it leaves {leak / 1024:.0f} KiB of C heap "
                f"behind (over {result.heap.cycles} cycles, beyond an empty interpreter's)",
                name,
                variant=name,
                details={**details, "leak_per_cycle": leak},
            )


def _sub_probes(probes: Mapping[str, ProbeResult]) -> list[str]:
    return [name for name in probes if name.split("_after_main")[0] in KINDS]


class _Reasons:
    """Collects reasons; the same (code, module, variant) seen in several probes is one reason.

    A message may contain ``{probes}``: it is filled in with the probes that showed it.
    """

    def __init__(self) -> None:
        self._items: dict[tuple[str, str | None, str], Reason] = {}

    def add(
        self,
        code: str,
        message: str,
        probe: str | None = None,
        module: str | None = None,
        variant: str = "",
        details: Mapping[str, object] | None = None,
        **more: object,
    ) -> None:
        details = {**(details or {}), **more}
        assert code in REASON_CODES, code
        key = (code, module, variant)
        old = self._items.get(key)
        probes = (probe,) if probe else ()
        if old is not None:
            merged = old.probes + tuple(p for p in probes if p not in old.probes)
            self._items[key] = Reason(old.code, old.message, merged, old.module, old.details)
        else:
            self._items[key] = Reason(code, message, probes, module, tuple(sorted(details.items())))

    def codes(self) -> set[str]:
        return {code for code, _, _ in self._items}

    def result(self) -> tuple[Reason, ...]:
        """The reasons, most important first (the order of REASON_CODES)."""
        items = sorted(self._items.values(), key=lambda r: REASON_CODES.index(r.code))
        return tuple(
            Reason(
                r.code,
                r.message.replace("{probes}", ", ".join(r.probes)),
                r.probes,
                r.module,
                r.details,
            )
            for r in items
        )


def _describe_crash(result: ProbeResult) -> str:
    how = f"killed by {result.signal}" if result.signal else f"exited with code {result.exit_code}"
    where = {
        "import": "while importing",
        "main_import": "while importing in the main interpreter",
        "interpreter_end": "while ending the subinterpreter",
        "process_exit": "at process exit",
        "init": "in its init function",
        "create": "while creating the subinterpreter",
    }.get(result.stage or "", f"at stage {result.stage}")
    return f"{how} {where} (probes: {{probes}})"


def _init_reasons(init: InitInfo, reasons: _Reasons) -> None:
    if init.style == "single_phase":
        reasons.add(
            "single_phase_init",
            "single-phase init: every isolated subinterpreter refuses it",
            "init",
        )
    elif init.style == "multi_phase":
        if init.multiple_interpreters is None:
            reasons.add(
                "no_multi_interp_slot",
                "no Py_mod_multiple_interpreters slot, which means shared GIL only: "
                "own-GIL interpreters refuse it",
                "init",
            )
        elif init.multiple_interpreters == "not_supported":
            reasons.add(
                "declares_not_supported",
                "declares Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED: every isolated "
                "subinterpreter refuses it",
                "init",
            )
        elif init.multiple_interpreters == "supported":
            reasons.add(
                "declares_shared_gil",
                "declares Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED, which means shared GIL "
                "only: own-GIL interpreters refuse it",
                "init",
            )


@dataclass(frozen=True)
class _Failure:
    """One failed import of the module: in a subinterpreter, or in main after a fresh probe."""

    probe: str  # "own_gil", "legacy_after_main", "isolated:main_after"
    kind: str  # the interpreter that failed: one of KINDS, or "main"
    exception: str | None
    message: str | None
    cause: str | None
    importers: tuple[str, ...] = ()  # modules whose import led to it, outermost first

    @property
    def parts(self) -> list[str]:
        """The message, then each exception it was raised from ("Type: msg"), outermost
        first.  A wrapper's message may hide the real refusal (pandas re-raises numpy's as
        "Unable to import required dependency numpy"): its chain is evidence too."""
        return [self.message or "", *(self.cause.split(" <- ") if self.cause else [])]


def _failures(probes: Mapping[str, ProbeResult]) -> list[_Failure]:
    """Every failed import of the subinterpreter probes, whatever the exception's type: an
    ImportError subclass, or any other exception, is judged by what it says."""
    failures = []
    failed = (Outcome.IMPORT_ERROR, Outcome.ERROR)
    for name in _sub_probes(probes):
        result = probes[name]
        if result.outcome in failed:
            kind = name.removesuffix("_after_main")
            failures.append(
                _Failure(
                    name, kind, result.exception, result.message, result.cause, result.importers
                )
            )
        after = result.main_after
        if after is not None and after.outcome in failed:
            failures.append(
                _Failure(
                    f"{name}:main_after",
                    "main",
                    after.exception,
                    after.message,
                    after.cause,
                    after.importers,
                )
            )
    return failures


def import_chain(module: str, importers: tuple[str, ...], blocker: str) -> list[str]:
    """From the probed module to the blocker (blocker last): the modules whose import led
    there, without repeats (`jwt` -> `cryptography.hazmat.bindings._rust` -> `_cffi_backend`)."""
    chain = [module]
    for name in (*importers, blocker):
        if name not in chain:
            chain.append(name)
    if chain[-1] != blocker:  # the blocker is named last, even if it appeared before
        chain.remove(blocker)
        chain.append(blocker)
    return chain


def _distribution_note(
    known: Collection[str], blocker: str | None, module: str
) -> tuple[bool | None, str]:
    """Whether `blocker` is in the module's own distribution, and how to say so."""
    same: bool | None = None
    if isinstance(known, Mapping) and blocker and known.get(blocker) and known.get(module):
        same = known[blocker] == known[module]
    return same, {True: " (same distribution)", False: " (another distribution)", None: ""}[same]


def _guard_named(failure: _Failure, index: int) -> str | None:
    """The module the evidence says raised the guard found in part `index` of the failure:
    named by the guard itself, else by the innermost wrapper that re-raised it."""
    match = _NAMED_BY_GUARD.search(failure.parts[index])
    if match:
        return match.group(1)
    for part in reversed(failure.parts[:index]):
        for pattern in _NAMED_BY_WRAPPER:
            match = pattern.search(part)
            if match:
                return match.group(1).rstrip(".")
    return None


def _guard_reason(
    module: ExtensionModule,
    init: InitInfo,
    failure: _Failure,
    index: int,
    guard: tuple[str, str],
    known: Collection[str],
    refused_in: Mapping[str, set[str]],
    reasons: _Reasons,
) -> None:
    """A library guard refused a second interpreter: this module's own, or a dependency's.

    A dependency's when the evidence names another module, or when this module's init shows
    that it cannot raise that guard (see may_raise_guard).  In the second case the raiser is
    not named: for Cython's guard, it is the module CPython refuses in this module's own-GIL
    probes but not in its shared-GIL ones (a multi-phase module without the slot, as Cython
    builds them), when there is exactly one.
    """
    text, binding = guard
    label = _GUARDS[binding]
    said = failure.parts[index]  # the guard's own words, even when a wrapper hides them
    named = _guard_named(failure, index)
    if named is not None and not _names_self(named, module.name):
        blocker: str | None = resolve_module_name(
            named, module.name, [n for n in known if n != module.name]
        )
        how = "the error names it"
    elif not may_raise_guard(text, init):
        candidates = refused_in.get("own_gil", set()) - refused_in.get("isolated", set())
        blocker = next(iter(candidates)) if len(candidates) == 1 else None
        how = "this module's own init cannot raise it"
    else:
        reasons.add(
            "binding_refusal",
            f"{label} refuses a second interpreter in the same process: {said}",
            failure.probe,
            binding=binding,
        )
        return
    same, where = _distribution_note(known, blocker, module.name)
    if blocker is None:
        message = (
            f"refused by {label} in a module it imports, not named in the error ({how}): {said}"
        )
    else:
        message = (
            f"refused because it imports {blocker}{where}, which refuses a second interpreter "
            f"in the same process ({label}; {how}): {said}"
        )
    reasons.add(
        "blocked_by",
        message,
        failure.probe,
        module=blocker,
        variant=f"guard:{binding}",
        same_distribution=same,
        guard=binding,
        chain=import_chain(module.name, failure.importers, blocker) if blocker else None,
    )


def _failure_reasons(
    module: ExtensionModule,
    init: InitInfo,
    failures: list[_Failure],
    known: Collection[str],
    seen: Collection[str],
    reasons: _Reasons,
) -> None:
    """The reasons behind the failed imports: who is to blame, this module or another."""
    blamed: list[tuple[_Failure, str | None, str | None]] = []
    refused_in: dict[str, set[str]] = {}  # kind -> the other modules CPython refused there
    for failure in failures:
        reported = next((n for part in failure.parts if (n := _refused_name(part))), None)
        blocker = None
        if reported is not None:
            blocker = blamed_module(reported, module.name, init, failure.kind, known, seen)
            if blocker is not None:
                refused_in.setdefault(failure.kind, set()).add(blocker)
        blamed.append((failure, reported, blocker))
    for failure, reported, blocker in blamed:
        probe, exception, message = failure.probe, failure.exception, failure.message
        guard = next(
            (
                (i, (text, binding))
                for i, part in enumerate(failure.parts)
                for text, binding in _BINDING_REFUSALS
                if text in part
            ),
            None,
        )
        if blocker is not None:
            same, where = _distribution_note(known, blocker, module.name)
            chain = import_chain(module.name, failure.importers, blocker)
            path = f" ({' → '.join(chain)})" if len(chain) > 2 else ""
            reasons.add(
                "blocked_by",
                f"refused because it imports {blocker}{where}, which does not support "
                f"subinterpreters{path}",
                probe,
                module=blocker,
                same_distribution=same,
                chain=chain,
            )
        elif guard is not None:
            index, found = guard
            _guard_reason(module, init, failure, index, found, known, refused_in, reasons)
        elif reported is not None:
            reasons.add("refused_by_cpython", f"CPython refused it: {message}", probe)
        elif failure.kind == "main":
            reasons.add(
                "main_import_after_subinterpreter",
                f"after a subinterpreter loaded it, the main interpreter cannot import it: "
                f"{exception}: {message}",
                probe,
            )
        else:
            reasons.add(
                "subinterpreter_import_error",
                f"import in a subinterpreter failed: {exception}: {message}",
                probe,
            )


def classify(
    module: ExtensionModule,
    init: InitInfo,
    probes: Mapping[str, ProbeResult],
    known_modules: Collection[str] | Mapping[str, str | None] = (),
) -> tuple[Verdict, tuple[Reason, ...]]:
    """The verdict of one module and every reason behind it, from its probes alone.

    `known_modules` names the scanned modules (to resolve the module CPython blames); as a
    mapping to distribution names it also tells whether a blocker is in the same distribution.
    """
    all_probes = probes
    probes = {n: r for n, r in probes.items() if depth_base(n) is None}
    verdict = verdict_of(probes)
    reasons = _Reasons()
    for name, result in probes.items():
        if _smoke_failure(result) or (
            result.main_after is not None
            and str(result.main_after.message or "").startswith(SMOKE_FAILED)
        ):
            reasons.add(
                "smoke_failed",
                "the smoke code failed after the import: "
                + str(result.message or (result.main_after and result.main_after.message))[
                    len(SMOKE_FAILED) :
                ]
                + " (probes: {probes})",
                name,
            )
        if result.outcome is Outcome.CRASH:
            reasons.add(
                "crash",
                _describe_crash(result),
                name,
                variant=f"{result.signal}/{result.exit_code}/{result.stage}",
                signal=result.signal,
                exit_code=result.exit_code,
                stage=result.stage,
            )
        elif result.outcome is Outcome.TIMEOUT:
            how = (
                f"deadlocked: no progress and almost no CPU time for "
                f"{result.deadlock.idle_seconds:.0f} s"
                if result.deadlock
                else f"still running after {result.seconds:.0f} s"
            )
            reasons.add(
                "timeout",
                f"{how} at stage {result.stage} (probes: {{probes}})",
                name,
                variant=str(result.stage),
                stage=result.stage,
            )
    init_probe = probes.get("init")
    if init_probe is not None and init_probe.outcome in (Outcome.IMPORT_ERROR, Outcome.ERROR):
        reasons.add(
            "init_unreadable",
            f"could not read its init function: {init_probe.exception}: {init_probe.message}",
            "init",
        )
    main = probes.get("main")
    if main is not None and main.outcome in (Outcome.IMPORT_ERROR, Outcome.ERROR):
        reasons.add(
            "main_import_failed",
            f"does not import in the main interpreter: {main.exception}: {main.message}",
            "main",
        )
    if verdict is Verdict.BROKEN:
        return verdict, reasons.result()
    _init_reasons(init, reasons)
    # CPython names a single-phase blocker by its last component on a first load and in full
    # afterwards: the full names seen in this module's own messages resolve the short ones.
    seen = {
        n
        for p in probes.values()
        for m in (
            p.message,
            p.cause,
            p.main_after.message if p.main_after else None,
            p.main_after.cause if p.main_after else None,
        )
        if (n := _refused_name(m)) and "." in n
    }
    known = (
        {**dict.fromkeys(seen), **known_modules}
        if isinstance(known_modules, Mapping)
        else set(known_modules) | seen
    )
    _failure_reasons(module, init, _failures(probes), known, seen, reasons)
    # The slot promises more than the probes showed (and no dependency is to blame).
    if "blocked_by" not in reasons.codes() and verdict not in (Verdict.CRASHES, Verdict.HANGS):
        promised = {"per_interpreter_gil": "own_gil", "supported": "isolated"}.get(
            init.multiple_interpreters or ("supported" if init.style == "multi_phase" else "")
        )
        if promised is not None and promised in probes and not passes(probes, promised):
            reasons.add(
                "declared_vs_observed",
                f"declares {init.multiple_interpreters or 'supported (no slot)'} but the "
                f"{promised} probes did not both pass",
                promised,
            )
    final = depth_verdict(verdict, all_probes)
    _depth_reasons(all_probes, reasons)
    return final, reasons.result()
