"""GitHub Actions: workflow-command annotations and a Markdown job summary."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from auditor.model import Verdict
from auditor.policy import GateResult, ModuleResult
from auditor.report import plural

MAX_ANNOTATIONS = 50  # GitHub shows at most 10 errors per step; keep the log readable


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _md(text: str) -> str:
    """Text from the audited environment, safe in a Markdown table cell (GitHub renders HTML)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def workflow_commands(gate: GateResult, workspace: str | None = None) -> list[str]:
    """`::error`/`::warning` lines for the modules that fail the gate, and regressions."""
    root = Path(workspace or os.environ.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
    lines = []
    for result in gate.failures[:MAX_ANNOTATIONS]:
        path = Path(result.path).resolve()
        try:
            file = path.relative_to(root).as_posix()
        except ValueError:
            file = str(path)
        title = f"subinterp-audit: {result.name} is {result.verdict.value} (Python {result.target})"
        message = f"{result.violation}. {result.reason}"
        lines.append(
            f"::error file={_escape_property(file)},title={_escape_property(title)}::"
            f"{_escape_data(message)}"
        )
    if len(gate.failures) > MAX_ANNOTATIONS:
        lines.append(
            f"::warning title=subinterp-audit::{len(gate.failures) - MAX_ANNOTATIONS} "
            f"more failing modules: see the job summary"
        )
    return lines


def _fix(data: dict[str, Any], result: ModuleResult) -> str:
    for target in data["targets"]:
        for module in target["modules"]:
            if module["name"] == result.name and module["reasons"]:
                advice = module["reasons"][0].get("advice") or {}
                return str(advice.get("fix", ""))
    return ""


def _change_line(result: ModuleResult) -> str:
    before = result.baseline.value if result.baseline else "?"
    return f"- `{_md(result.name)}` (Python {result.target}): {before} → {result.verdict.value}"


def markdown_summary(data: dict[str, Any], gate: GateResult) -> str:
    """The job summary: the gate's result, the counts, the failures with their fixes."""
    lines = []
    against = ", against a baseline" if gate.with_baseline else ""
    if not gate.active:
        lines.append("## subinterp-audit: scan done (no policy set)")
    elif gate:
        lines.append(f"## subinterp-audit: passed ({gate.policy.describe()}{against})")
    else:
        lines.append(
            f"## subinterp-audit: {plural(len(gate.failures), 'module')} "
            f"{'fails' if len(gate.failures) == 1 else 'fail'} "
            f"({gate.policy.describe()}{against})"
        )
    lines.append("")
    for target in data["targets"]:
        counts = Counter(m["verdict"] for m in target["modules"])
        summary = ", ".join(f"{counts[v.value]} {v.value}" for v in Verdict if counts[v.value])
        lines.append(
            f"- Python {_md(target['python']['version'])}: {len(target['modules'])} "
            f"modules: {summary or 'none'}"
        )
    lines.append("")
    if gate.failures:
        lines += [
            "### Failing modules",
            "",
            "| module | Python | verdict | why | fix |",
            "|---|---|---|---|---|",
        ]
        for result in gate.failures:
            lines.append(
                f"| `{_md(result.name)}` | {result.target} | {result.verdict.value} | "
                f"{_md(result.violation or '')}: {_md(result.reason)} | "
                f"{_md(_fix(data, result))} |"
            )
        lines.append("")
    if gate.regressions:
        lines += ["### Regressions against the baseline", ""]
        lines += [_change_line(r) for r in gate.regressions]
        lines.append("")
    if gate.improvements:
        lines += ["### Improvements (run with --update-baseline to keep them)", ""]
        lines += [_change_line(r) for r in gate.improvements]
        lines.append("")
    if gate.ignored:
        lines += ["### Ignored", ""]
        lines += [
            f"- `{_md(r.name)}`: {r.verdict.value}, {_md(r.ignored.reason)}"
            for r in gate.ignored
            if r.ignored
        ]
        lines.append("")
    return "\n".join(lines) + "\n"
