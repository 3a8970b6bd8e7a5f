"""The JSON report (contract): model -> dict, validated by schema.json, written by output.py."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

from auditor import __version__
from auditor.errors import ReportError
from auditor.model import (
    Advice,
    AuditReport,
    Deadlock,
    ExitCheck,
    HeapFigures,
    ImportAttempt,
    ModuleAudit,
    Outcome,
    ProbeResult,
    TargetAudit,
)

# Report format history (bump on any incompatible change; adding fields is compatible):
# 1: first version.  Later additions within 1: modules' "binding" and "static", reasons'
#    "advice"; the outcome "tool_failure", probes' "exit_after_sub", init's "basis",
#    the target's "environment".
FORMAT_VERSION = 1


def _probe(result: ProbeResult) -> dict[str, Any]:
    data = asdict(result)
    del data["probe"]
    data["outcome"] = result.outcome.value
    if result.import_outcome is not None:
        data["import_outcome"] = result.import_outcome.value
    data["importers"] = list(result.importers)
    if result.main_after is not None:
        data["main_after"]["outcome"] = result.main_after.outcome.value
        data["main_after"]["importers"] = list(result.main_after.importers)
    if result.exit_after_sub is not None:
        data["exit_after_sub"]["outcome"] = result.exit_after_sub.outcome.value
    return data


def probe_result(data: dict[str, Any], probe: str = "") -> ProbeResult:
    """The inverse of `_probe`: a probe's entry of the report (``module["probes"][probe]``)
    as the model, for renderers to ask it instead of reading the dict again.  A field that
    a report of an older tool version lacks takes the model's default.  The report holds
    texts as `printable` wrote them: a name that was not UTF-8 comes back as "caf\\xe9"."""
    imported = data.get("import_outcome")
    return ProbeResult(
        probe=probe,
        outcome=Outcome(data["outcome"]),
        exception=data.get("exception"),
        message=data.get("message"),
        cause=data.get("cause"),
        signal=data.get("signal"),
        exit_code=data.get("exit_code"),
        stage=data.get("stage"),
        stderr_tail=data.get("stderr_tail", ""),
        stdout_bytes=data.get("stdout_bytes", 0),
        seconds=data.get("seconds", 0.0),
        main_after=ImportAttempt.from_dict(data.get("main_after")),
        import_outcome=Outcome(imported) if imported is not None else None,
        fresh_exec=data.get("fresh_exec", False),
        exit_after_sub=ExitCheck.from_dict(data.get("exit_after_sub")),
        gil_enabled=data.get("gil_enabled"),
        step=data.get("step"),
        kind=data.get("kind"),
        heap=_heap_figures(data.get("heap")),
        runs=data.get("runs", 1),
        failed_runs=data.get("failed_runs", 0),
        deadlock=_deadlock(data.get("deadlock")),
        importers=tuple(data.get("importers", ())),
    )


def probe_results(module: dict[str, Any]) -> dict[str, ProbeResult]:
    """A module's entry of the report: its probes as the model, in the report's order."""
    return {name: probe_result(data, name) for name, data in module["probes"].items()}


def _heap_figures(data: dict[str, Any] | None) -> HeapFigures | None:
    if data is None:
        return None
    return HeapFigures(
        data["cycles"],
        data.get("heap_growth_per_cycle"),
        data.get("control_heap_growth_per_cycle"),
        data.get("rss_growth_per_cycle"),
        data.get("control_rss_growth_per_cycle"),
    )


def _deadlock(data: dict[str, Any] | None) -> Deadlock | None:
    if data is None:
        return None
    return Deadlock(data["idle_seconds"], data.get("native_stacks"), data["native_stacks_from"])


def _module(audit: ModuleAudit) -> dict[str, Any]:
    module, static = audit.module, audit.static
    return {
        "name": module.name,
        "path": module.path,
        "origin": module.origin,
        "distribution": asdict(module.distribution) if module.distribution else None,
        "abi": module.abi,
        "init": {**asdict(audit.init), "slots": list(audit.init.slots)},
        "probes": {name: _probe(result) for name, result in audit.probes.items()},
        "verdict": audit.verdict.value,
        "verdict_on_fixed_interpreter": (
            audit.verdict_on_fixed_interpreter.value
            if audit.verdict_on_fixed_interpreter is not None
            else None
        ),
        "reasons": [
            {
                "code": r.code,
                "message": r.message,
                "probes": list(r.probes),
                "module": r.module,
                "details": dict(r.details),
                "advice": _advice(r.advice),
            }
            for r in audit.reasons
        ],
        "binding": asdict(static.binding) if static else None,
        "static": {
            "imports_python_api": static.imports_python_api,
            "hints": [asdict(h) for h in static.hints],
        }
        if static
        else None,
    }


def _advice(advice: Advice | None) -> dict[str, Any] | None:
    if advice is None:
        return None
    data = asdict(advice)
    data["links"] = [list(link) for link in advice.links]
    return data


def _target(target: TargetAudit) -> dict[str, Any]:
    py = target.python
    return {
        "python": {
            "executable": py.executable,
            "version": py.version,
            "implementation": py.implementation,
            "soabi": py.soabi,
            "gil_disabled": py.gil_disabled,
            "supports_isolated_interpreters": py.supports_isolated_interpreters,
            "build": py.build,
            "platform": py.platform,
            "prefix": py.prefix,
        },
        "environment": dict(target.environment),
        "notes": list(target.notes),
        "modules": [_module(m) for m in target.modules],
        "non_extensions": [asdict(n) for n in target.non_extensions],
        "shadowed": [dict(s) for s in target.shadowed],
        "incomplete": list(target.incomplete),
        "summary": {
            "modules": len(target.modules),
            "verdicts": target.counts(),
            "non_extensions": len(target.non_extensions),
        },
    }


def report_dict(report: AuditReport) -> dict[str, Any]:
    """The report as plain data; the same dict feeds every renderer.  Every text in it is
    valid Unicode (see `printable`)."""
    data = {
        "version": FORMAT_VERSION,
        "tool": {"name": "subinterp-audit", "version": __version__},
        "meta": {"started": report.started, "finished": report.finished, "argv": list(report.argv)},
        "targets": [_target(t) for t in report.targets],
    }
    return cast(dict[str, Any], _printable_data(data))


def printable(text: str) -> str:
    """`text` as valid Unicode.  A path is bytes to the file system, and Python gives the
    bytes of a name that is not UTF-8 as lone surrogates ("caf\\udce9"), which no UTF-8
    file, terminal or browser takes: they are written as the bytes they stand for
    ("caf\\xe9"), as Python's own tracebacks show them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that no byte stands for
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")


def _printable_data(data: object) -> object:
    if isinstance(data, str):
        return printable(data)
    if isinstance(data, dict):
        return {printable(str(k)): _printable_data(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_printable_data(v) for v in data]
    return data


def schema() -> dict[str, Any]:
    """The JSON Schema of the report, shipped beside this module."""
    data: dict[str, Any] = json.loads((Path(__file__).parent / "schema.json").read_text())
    return data


def dump_json(data: dict[str, Any]) -> str:
    """The report dict as the text of a report file."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def load_report(path: Path) -> dict[str, Any]:
    """A report written by subinterp-audit (any tool version, report version 1), as the dict:
    the gate and `diff` read reports of older tool versions; `probe_result` gives a probe's
    entry as the model."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path} is not a JSON report: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
        raise ReportError(f"{path} is not a subinterp-audit report (no targets)")
    if data.get("version") != FORMAT_VERSION:
        raise ReportError(
            f"{path} has report version {data.get('version')!r}; this "
            f"subinterp-audit reads version {FORMAT_VERSION}"
        )
    return data
