"""The maintainers' HTML report: one self-contained file rendered from the JSON report's dict."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import Any

from jinja2 import Environment, FunctionLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from auditor.classify import LEAK_BYTES_PER_CYCLE
from auditor.model import Verdict
from auditor.probe_plan import DEPTH_PROBES
from auditor.report import LEAK_MARK, MARKS

_TEMPLATES = resources.files("auditor") / "report" / "templates"

VERDICT_MEANING = {
    "own_gil": "works in own-GIL interpreters (concurrent.interpreters), in both orders",
    "shared_gil": "works in isolated interpreters sharing the main GIL; own GIL refused",
    "legacy_only": "only legacy subinterpreters work",
    "one_interpreter": "loads in one interpreter per process, refuses the second",
    "unsupported": "refused by every kind of subinterpreter",
    "crashes": "some probe killed its process",
    "hangs": "some probe ran past the deadline",
    "broken": "does not import even in the main interpreter",
}
_COLUMNS = (
    ("legacy", "legacy_after_main"),
    ("isolated", "isolated_after_main"),
    ("own_gil", "own_gil_after_main"),
)
_BAD = {"crash", "timeout", "blocked_by", "main_import_failed", "tool_failure"}


def _load(name: str) -> str:
    return (_TEMPLATES / name).read_text(encoding="utf-8")


def _environment() -> Environment:
    return Environment(
        loader=FunctionLoader(_load),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _cell(name: str, probe: dict[str, Any] | None) -> dict[str, str]:
    if probe is None:
        return {"css": "none", "mark": "-", "title": f"{name}: not applicable"}
    outcome = probe["outcome"]
    css = outcome
    title = f"{name}: {outcome}"
    if probe.get("message"):
        title += f": {probe['message']}"
    after = probe.get("main_after")
    if outcome == "ok" and after and after["outcome"] != "ok":
        css = "poisoned"
        title += f"; then main: {after['outcome']}: {after.get('message')}"
    if probe.get("signal"):
        title += f" ({probe['signal']} at {probe.get('stage')})"
    if probe.get("kind"):
        title += f" [{probe['kind']}]"
        if probe.get("failed_runs"):
            css = outcome if outcome != "ok" else "crash"
            title += f"; {probe['failed_runs']} of {probe.get('runs')} runs failed"
        heap = probe.get("heap") or {}
        growth, control = (
            heap.get("heap_growth_per_cycle"),
            heap.get("control_heap_growth_per_cycle"),
        )
        leak = growth - control if growth is not None and control is not None else 0
        if outcome == "ok" and leak > LEAK_BYTES_PER_CYCLE:
            title += f"; leaks {leak / 1024:.0f} KiB per interpreter"
            return {"css": "poisoned", "mark": LEAK_MARK, "title": title}
    return {"css": css, "mark": MARKS.get(outcome, "?"), "title": title}


def _init_text(init: dict[str, Any]) -> tuple[str, str]:
    style = init["style"]
    if style == "single_phase":
        return "single", f"single-phase (m_size {init.get('m_size')})"
    if style == "multi_phase":
        slot = init.get("multiple_interpreters")
        label = {
            None: "no slot",
            "not_supported": "not supported",
            "supported": "shared GIL",
            "per_interpreter_gil": "own GIL",
        }.get(slot, str(slot))
        gil = f", Py_mod_gil {init['gil']}" if init.get("gil") else ""
        return (
            f"multi, {label}",
            f"multi-phase, Py_mod_multiple_interpreters: {slot or 'absent'}{gil}, "
            f"m_size {init.get('m_size')}, slots {init.get('slots')}",
        )
    return "?", "unknown (the init function could not be read)"


def _probe_row(name: str, probe: dict[str, Any]) -> dict[str, Any]:
    after = probe.get("main_after")
    end = ""
    if probe.get("signal"):
        end = probe["signal"]
    elif probe.get("exit_code") not in (0, None):
        end = f"exit {probe['exit_code']}"
    main_after = ""
    if after:
        main_after = after["outcome"] + (f": {after['message']}" if after.get("message") else "")
    mark = _cell(name, probe)
    notes = []  # depth probes: where, in which kind, how often, the heap figures
    if probe.get("kind"):
        notes.append(f"in {probe['kind']} interpreters")
    if probe.get("step"):
        notes.append(f"failed at {probe['step']}")
    if probe.get("runs", 1) > 1:
        notes.append(f"{probe.get('failed_runs', 0)} of {probe['runs']} runs failed")
    heap = probe.get("heap") or {}
    if heap.get("heap_growth_per_cycle") is not None:
        notes.append(
            f"C heap +{heap['heap_growth_per_cycle'] / 1024:.0f} KiB per cycle "
            f"(empty interpreter: +{(heap['control_heap_growth_per_cycle'] or 0) / 1024:.0f} KiB)"
        )
    deadlock = probe.get("deadlock")
    if deadlock:
        notes.append(f"deadlocked: no CPU time for {deadlock['idle_seconds']} s")
    return {
        "name": name,
        "notes": "; ".join(notes),
        "native_stacks": (deadlock or {}).get("native_stacks") or "",
        "outcome": probe["outcome"],
        "css": mark["css"],
        "mark": mark["mark"],
        "exception": probe.get("exception"),
        "message": probe.get("message"),
        "cause": probe.get("cause"),
        "main_after": main_after,
        "end": end,
        "stage": probe.get("stage"),
        "seconds": f"{probe.get('seconds', 0):.2f}",
        "stdout": f"{probe['stdout_bytes']:,} B" if probe.get("stdout_bytes") else "",
        "stderr_tail": probe.get("stderr_tail") or "",
    }


def _module_view(module: dict[str, Any]) -> dict[str, Any]:
    dist = module.get("distribution")
    dist_label = (
        f"{dist['name']} {dist['version']}"
        if dist
        else ("stdlib" if module.get("origin") == "stdlib" else "(none)")
    )
    binding = module.get("binding") or {}
    toolkit = binding.get("toolkit") or "unknown"
    init_label, init_text = _init_text(module["init"])
    probes = module["probes"]
    reasons = []
    for reason in module["reasons"]:
        advice = reason.get("advice") or {}
        reasons.append(
            {
                "code": reason["code"],
                "module": reason.get("module"),
                "message": reason["message"],
                "probes": reason.get("probes", []),
                "title": advice.get("title", reason["code"]),
                "explanation": advice.get("explanation"),
                "fix": advice.get("fix"),
                "toolkit": advice.get("toolkit"),
                "links": advice.get("links", []),
                "severity": "bad" if reason["code"] in _BAD else "warn",
            }
        )
    search = " ".join(
        [
            module["name"],
            dist_label,
            toolkit,
            module["verdict"],
            *(r["code"] for r in module["reasons"]),
        ]
    ).lower()
    return {
        "name": module["name"],
        "path": module["path"],
        "dist": dist_label,
        "toolkit": toolkit,
        "toolkit_version": binding.get("version"),
        "toolkit_evidence": binding.get("evidence", []),
        "init_label": init_label,
        "init_text": init_text,
        "cells": [[_cell("main", probes.get("main"))]]
        + [[_cell(p, probes.get(p)) for p in (fresh, after)] for fresh, after in _COLUMNS]
        + [[_cell(p, probes.get(p)) for p in DEPTH_PROBES]],
        "verdict": module["verdict"],
        "verdict_fixed": module.get("verdict_on_fixed_interpreter"),
        "rank": Verdict(module["verdict"]).rank,
        "reasons": reasons,
        "search": search,
        "probes": [_probe_row(name, probe) for name, probe in probes.items()],
        # Red flags first: they are what a maintainer should look at.
        "hints": sorted(
            (module.get("static") or {}).get("hints", []),
            key=lambda h: (h["kind"] != "red_flag", h["symbol"]),
        ),
    }


def _target_view(target: dict[str, Any]) -> dict[str, Any]:
    modules = [_module_view(module) for module in target["modules"]]
    groups: dict[str, Counter[str]] = {}
    for view in modules:
        groups.setdefault(view["dist"], Counter())[view["verdict"]] += 1
    order = [v.value for v in Verdict]
    return {
        **target,
        "modules": modules,
        "toolkits": sorted({m["toolkit"] for m in modules}),
        "names": {m["name"] for m in modules},
        "groups": [
            {"label": label, "total": sum(c.values()), "counts": [(v, c[v]) for v in order if c[v]]}
            for label, c in sorted(groups.items(), key=lambda kv: kv[0].lower())
        ],
    }


def _json_for_script(data: dict[str, Any]) -> Markup:
    """JSON safe inside <script>: no '<', '>' or '&' can end the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


def render_html(data: dict[str, Any]) -> str:
    """The report as one HTML page: inline CSS and JS, the JSON embedded, no network."""
    template = _environment().get_template("report.html.j2")
    return template.render(
        version=data["version"],
        tool=data["tool"],
        meta=data["meta"],
        targets=[_target_view(t) for t in data["targets"]],
        verdicts=[{"name": v.value, "meaning": VERDICT_MEANING[v.value]} for v in Verdict],
        css=Markup(_load("report.css")),
        js=Markup(_load("report.js")),
        data_json=_json_for_script(data),
    )
