"""The survey tracker page: one self-contained HTML file rendered from a merged survey's dict
(auditor/survey/records.py): packages x Python versions, root blockers, toolkits, changes."""

from __future__ import annotations

from typing import Any

from auditor.model import Verdict

# The same jinja2 environment as the scan report (autoescape on, strict undefined).
from auditor.report.html import VERDICT_MEANING, _environment

# What a cell without a verdict says (the record's status), for the legend.
STATUS_MEANING = {
    "no_extensions": "nothing to import and no extension modules to audit",
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


def _blockers(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What blocks a record's imports, else its modules: [{module, chain, distribution}]."""
    for entries in (record.get("imports", ()), record["modules"]):
        found = {
            (tuple(b["chain"]), b["module"], b["distribution"])
            for e in entries
            for b in e["blocked_by"]
        }
        if found:
            return [
                {"chain": list(chain), "module": module, "distribution": dist}
                for chain, module, dist in sorted(found)
            ]
    return []


def _cell(record: dict[str, Any] | None) -> dict[str, Any]:
    """A tracker cell: its text, CSS class (the colour), tooltip, and the notes under it."""
    if record is None:
        return {
            "text": "—",
            "css": "none",
            "title": "not surveyed",
            "version": None,
            "verdict": "",
            "notes": [],
        }
    if record["status"] == "ok":
        verdict = record["verdict"]
        title = f"{verdict}: {VERDICT_MEANING.get(verdict, '')}"
        notes = []
        modules_verdict = record.get("modules_verdict")
        if record.get("import_verdict") and modules_verdict not in (None, verdict):
            notes.append(f"all modules: {modules_verdict}")
            title += f"; its worst module (tests left out): {modules_verdict}"
        bugs = record.get("cpython_bugs") or []
        if bugs:
            fixed = record.get("verdict_on_fixed_interpreter")
            notes.append(f"{fixed} without CPython's {', '.join(bugs)}")
            title += (
                f"; CPython's own bug {', '.join(bugs)} is behind it: {fixed} on a fixed CPython"
            )
        once = record.get("import_once") or {}
        if once.get("differs"):
            notes.append("import-once: ready")
            title += (
                "; importing it once in one own-GIL interpreter works, but "
                + ", ".join(once["told_by"] or ["the full probes"])
                + " tell otherwise"
            )
        blockers = _blockers(record)
        if blockers:
            title += "; blocked by " + ", ".join(" → ".join(b["chain"]) for b in blockers)
        if record.get("message"):
            title += f"; {record['message']}"
        return {
            "text": verdict,
            "css": f"v-{verdict}" + (" once-differs" if once.get("differs") else ""),
            "title": title,
            "version": record["version"],
            "verdict": verdict,
            "notes": notes,
        }
    status = record["status"]
    title = STATUS_MEANING.get(status, status)
    if record.get("message"):
        title += f": {record['message']}"
    return {
        "text": status,
        "css": f"s-{status}",
        "title": title,
        "version": record["version"],
        "verdict": status,
        "notes": [],
    }


def tracker_context(document: dict[str, Any]) -> dict[str, Any]:
    """What the template shows, all computed here (the template only lays it out)."""
    summary = document["summary"]
    pythons: list[str] = summary["pythons"]
    by_package: dict[str, dict[str, dict[str, Any]]] = {}
    for record in document["records"]:
        by_package.setdefault(record["package"], {})[record["python"]] = record
    rows = []
    for package, records in sorted(by_package.items()):
        newest = records[[p for p in pythons if p in records][-1]]  # pythons: oldest first
        toolkits = sorted(
            {m["toolkit"] or "unknown" for r in records.values() for m in r["modules"]}
        )
        rows.append(
            {
                "package": package,
                "spec": newest["spec"],
                "cells": [_cell(records.get(python)) for python in pythons],
                "records": [records[p] for p in pythons if p in records],
                "blockers": _blockers(newest),
                "toolkits": toolkits,
                "differs": [
                    p
                    for p in pythons
                    if ((records.get(p) or {}).get("import_once") or {}).get("differs")
                ],
            }
        )
    once = summary.get("import_once") or {}
    return {
        "document": document,
        "pythons": pythons,
        "rows": rows,
        "summary": summary,
        "once": once,
        "depths": sorted({r["depth"] for r in document["records"]}),
        "once_differs": [
            (
                python,
                [row["package"] for row in rows if python in row["differs"]],
                (once.get(python) or {}).get("only_cpython_bugs", 0),
            )
            for python in pythons
        ],
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
