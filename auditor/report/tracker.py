"""The survey tracker page: one self-contained HTML file rendered from a merged survey's dict
(auditor/survey/records.py): packages x Python versions, root blockers, toolkits, changes."""

from __future__ import annotations

from typing import Any

from auditor.model import Verdict

# The same jinja2 environment as the scan report (autoescape on, strict undefined).
from auditor.report.html import VERDICT_MEANING, _environment

# What a cell without a verdict says (the record's status), for the legend.
STATUS_MEANING = {
    "no_extensions": "pure Python: no extension modules to audit",
    "install_failed": "no wheel for this Python, or pip failed (see the message)",
    "scan_failed": "the scan itself failed (see the message)",
}
CHANGE_MEANING = {
    "improved": "better verdict",
    "regressed": "worse verdict",
    "changed": "status changed",
    "new": "not in the previous survey",
    "gone": "no longer surveyed",
}


def _cell(record: dict[str, Any] | None) -> dict[str, Any]:
    """A tracker cell: its text, CSS class (the colour) and tooltip."""
    if record is None:
        return {"text": "—", "css": "none", "title": "not surveyed", "version": None}
    if record["status"] == "ok":
        verdict = record["verdict"]
        title = f"{verdict}: {VERDICT_MEANING.get(verdict, '')}"
        blockers = sorted({b["module"] for m in record["modules"] for b in m["blocked_by"]})
        if blockers:
            title += f"; blocked by {', '.join(blockers)}"
        if record.get("message"):
            title += f"; {record['message']}"
        return {
            "text": verdict,
            "css": f"v-{verdict}",
            "title": title,
            "version": record["version"],
        }
    status = record["status"]
    title = STATUS_MEANING.get(status, status)
    if record.get("message"):
        title += f": {record['message']}"
    return {"text": status, "css": f"s-{status}", "title": title, "version": record["version"]}


def tracker_context(document: dict[str, Any]) -> dict[str, Any]:
    """What the template shows, all computed here (the template only lays it out)."""
    summary = document["summary"]
    pythons: list[str] = summary["pythons"]
    by_package: dict[str, dict[str, dict[str, Any]]] = {}
    for record in document["records"]:
        by_package.setdefault(record["package"], {})[record["python"]] = record
    rows = [
        {
            "package": package,
            "spec": next(iter(records.values()))["spec"],
            "cells": [_cell(records.get(python)) for python in pythons],
            "records": [records[p] for p in pythons if p in records],
        }
        for package, records in sorted(by_package.items())
    ]
    return {
        "document": document,
        "pythons": pythons,
        "rows": rows,
        "summary": summary,
        "changes": document.get("changes"),
        "verdicts": [(v.value, VERDICT_MEANING.get(v.value, "")) for v in Verdict],
        "statuses": list(STATUS_MEANING.items()),
        "change_meaning": CHANGE_MEANING,
    }


def render_tracker(document: dict[str, Any]) -> str:
    """The tracker page of a merged survey (autoescaped: every name and message in a survey
    comes from the packages surveyed)."""
    template = _environment().get_template("tracker.html.j2")
    return template.render(**tracker_context(document)) + "\n"
