"""GitHub Actions: workflow-command annotations and a Markdown job summary."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from auditor.judging.policy import GateResult, ModuleResult, target_key
from auditor.model import Verdict
from auditor.report import plural
from auditor.report.sources import SourceIndex, default_root, installed_location

MAX_ANNOTATIONS = 50  # GitHub shows at most 10 errors per step; keep the log readable


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _md(text: str) -> str:
    """Text from the audited environment, safe in a Markdown table cell (GitHub renders HTML)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _prefixes(data: dict[str, Any] | None) -> dict[str, str | None]:
    """Each target's sys.prefix (its venv), as the report records it."""
    targets = data["targets"] if data else []
    return {target_key(t): t["python"].get("prefix") for t in targets}


def _annotation(
    result: ModuleResult, root: Path, index: SourceIndex, prefix: str | None
) -> tuple[str, str]:
    """The properties that place one failure, and the message: at the module's source when
    the workspace has it; else unplaced (GitHub places annotations on repository files
    only), the message naming the installed file relative to its environment."""
    message = f"{result.violation}. {result.reason}"
    source = index.find(result.name, relative_to=root)
    if source is not None:
        return f"file={_escape_property(source.path)},line={source.line},", message
    installed = installed_location(result.path, result.name, prefix)
    where = "the environment (sys.prefix)" if installed.kind == "prefix" else "its sys.path entry"
    message += (
        f" [module file: {installed.relative}, relative to {where}; "
        "its source was not found in the workspace]"
    )
    return "", message


def workflow_commands(
    gate: GateResult,
    workspace: str | None = None,
    *,
    data: dict[str, Any] | None = None,
    sources: SourceIndex | None = None,
) -> list[str]:
    """`::error` lines for the modules that fail the gate (and a `::warning` past the limit).

    Each is placed at the source file that defines the module, found in `workspace`
    (default: $GITHUB_WORKSPACE, else the current folder) by `sources` (an index of the
    workspace, or any tree that holds it; built here when not given).  `data`, the report,
    gives the targets' sys.prefix, which unplaced annotations name the module file against.
    """
    root = Path(workspace).resolve() if workspace else default_root()
    failures = gate.failures[:MAX_ANNOTATIONS]
    lines = []
    if failures:
        index = sources if sources is not None else SourceIndex.build(root)
        prefixes = _prefixes(data)
        for result in failures:
            place, message = _annotation(result, root, index, prefixes.get(result.target))
            title = (
                f"subinterp-audit: {result.name} is {result.verdict.value} (Python {result.target})"
            )
            lines.append(f"::error {place}title={_escape_property(title)}::{_escape_data(message)}")
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
