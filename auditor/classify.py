"""Pure: a module's init info and probe results -> its verdict and the reasons for it."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from auditor.configs import KINDS
from auditor.model import (
    ExtensionModule,
    InitInfo,
    Outcome,
    ProbeResult,
    Reason,
    Verdict,
)

# Every reason code this tool produces (contract: documented in the README; each has an entry in
# auditor/knowledge.toml).  "tool_failure" is added by auditor/scan.py.
# Listed most important first: reasons are reported in this order.
REASON_CODES = (
    "crash",
    "timeout",
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
# interpreter loads the module (../shared/research/subinterp-tech.md, sections 4 and 5).
_BINDING_REFUSALS: tuple[tuple[str, str], ...] = (
    ("Interpreter change detected", "cython"),  # __Pyx_check_single_interpreter
    ("has already been imported. Re-initialisation is not supported", "cython"),
    ("has already been imported into this interpreter", "cython"),
    ("PyO3 modules do not yet support subinterpreters", "pyo3"),  # PyO3/pyo3#576
    ("PyO3 modules compiled for CPython 3.8 or older", "pyo3"),
    ("cannot load module more than once per process", "numpy"),  # numpy/numpy#28271
)


_GUARDS = {
    "cython": "Cython's interpreter-change guard",
    "pyo3": "PyO3's interpreter guard",
    "numpy": "NumPy's once-per-process guard",
}


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


def _is_self(reported: str, module: str) -> bool:
    return reported in (module, module.rpartition(".")[2])


def passes(probes: Mapping[str, ProbeResult], kind: str) -> bool:
    """The kind works in both orders, and main still imports after a fresh load."""
    fresh, after = probes.get(kind), probes.get(f"{kind}_after_main")
    return bool(fresh) and bool(after)


def verdict_of(probes: Mapping[str, ProbeResult]) -> Verdict:
    """The verdict from the probe outcomes alone (see DESIGN.md, "Verdicts")."""
    outcomes = {p.outcome for p in probes.values()}
    if Outcome.CRASH in outcomes:
        return Verdict.CRASHES
    if Outcome.TIMEOUT in outcomes:
        return Verdict.HANGS
    if not probes.get("main"):
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
        **details: object,
    ) -> None:
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


def _failure_reasons(
    module: ExtensionModule,
    name: str,
    result: ProbeResult,
    known: Collection[str],
    reasons: _Reasons,
) -> None:
    attempts = [(name, result.outcome, result.exception, result.message, result.cause)]
    if result.main_after is not None and not result.main_after:
        after = result.main_after
        attempts.append(
            (f"{name}:main_after", after.outcome, after.exception, after.message, after.cause)
        )
    for probe, outcome, exception, message, cause in attempts:
        if outcome not in (Outcome.IMPORT_ERROR, Outcome.ERROR):
            continue
        # A wrapper's message may hide the real refusal (pandas re-raises numpy's as "Unable
        # to import required dependency numpy"): its chain is evidence too.
        evidence = f"{message or ''}\n{cause or ''}"
        refused = _refused_name(evidence)
        guard = next(((t, b) for t, b in _BINDING_REFUSALS if t in evidence), None)
        binding = guard[1] if guard else None
        # Quote the guard's own words, even when a wrapper's message hides them.
        said = next(
            (
                part
                for part in [message or "", *(cause or "").split(" <- ")]
                if guard and guard[0] in part
            ),
            message,
        )
        if refused is not None and not _is_self(refused, module.name):
            blocker = resolve_module_name(refused, module.name, known)
            same: bool | None = None
            if isinstance(known, Mapping) and known.get(blocker) and known.get(module.name):
                same = known[blocker] == known[module.name]
            where = {True: " (same distribution)", False: " (another distribution)", None: ""}[same]
            reasons.add(
                "blocked_by",
                f"refused because it imports {blocker}{where}, which does not support "
                f"subinterpreters",
                probe,
                module=blocker,
                same_distribution=same,
            )
        elif binding is not None:
            reasons.add(
                "binding_refusal",
                f"{_GUARDS[binding]} refuses a second interpreter in the same process: {said}",
                probe,
                binding=binding,
            )
        elif refused is not None:
            reasons.add("refused_by_cpython", f"CPython refused it: {message}", probe)
        elif probe.endswith(":main_after"):
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
    verdict = verdict_of(probes)
    reasons = _Reasons()
    for name, result in probes.items():
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
            reasons.add(
                "timeout",
                f"still running after {result.seconds:.0f} s at stage "
                f"{result.stage} (probes: {{probes}})",
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
    for name in _sub_probes(probes):
        _failure_reasons(module, name, probes[name], known, reasons)
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
    return verdict, reasons.result()
