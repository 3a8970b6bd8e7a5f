"""The maintainers' HTML report: one self-contained file rendered from the JSON report's dict."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import Any

from jinja2 import Environment, FunctionLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from auditor.judging.classify import LEAK_BYTES_PER_CYCLE
from auditor.model import Verdict
from auditor.probe_plan import DEPTH_PROBES, depth_base
from auditor.report import LEAK_MARK, MAIN_BROKEN_MARK, MARKS, concurrent_pass_phrase

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
_CELLS = (("main",), *_COLUMNS, DEPTH_PROBES)
# The fields of a probe in the page's data, positional to keep hundreds of modules small
# (the often empty ones last: trailing nulls are dropped).  Each is an index into the page
# data's "texts", but "seconds" (a number); "css" and "mark" are null where they are the
# outcome's own (the outcome, and MARKS[outcome]).
PROBE_FIELDS = (
    "name",
    "outcome",
    "title",  # the title of the probe's cell in the table
    "stage",
    "seconds",
    "exception",
    "message",
    "main_after",
    "css",
    "mark",
    "end",
    "cause",
    "notes",
    "stdout",
    "stderr",
    "stacks",
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
    """A probe's cell in the matrix: its colour, its mark and its title (report.js adds the
    messages to the title on hover, from the page data)."""
    if probe is None:
        return {"css": "none", "mark": "-", "title": f"{name}: not applicable"}
    outcome = probe["outcome"]
    css = outcome
    mark = MARKS.get(outcome, "?")
    title = f"{name}: {outcome}"
    after = probe.get("main_after")
    if outcome == "ok" and after and after["outcome"] != "ok":
        css, mark = "poisoned", MAIN_BROKEN_MARK
        title += f"; then main: {after['outcome']}"
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
            css, mark = "poisoned", LEAK_MARK
    return {"css": css, "mark": mark, "title": title}


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


class _Store:
    """Each distinct text or advice once: the page refers to them by index."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.advice: list[dict[str, Any]] = []
        self._text_ids: dict[str, int] = {}
        self._advice_ids: dict[str, int] = {}

    def text(self, value: str | None) -> int | None:
        if not value:
            return None
        index = self._text_ids.get(value)
        if index is None:
            index = self._text_ids[value] = len(self.texts)
            self.texts.append(value)
        return index

    def advise(self, advice: dict[str, Any] | None, code: str) -> int:
        advice = advice or {}
        entry = {
            "title": advice.get("title", code),
            "explanation": advice.get("explanation"),
            "fix": advice.get("fix"),
            "toolkit": advice.get("toolkit"),
            "links": [list(link) for link in advice.get("links", [])],
        }
        key = json.dumps(entry, sort_keys=True)
        index = self._advice_ids.get(key)
        if index is None:
            index = self._advice_ids[key] = len(self.advice)
            self.advice.append(entry)
        return index


def _probe_detail(name: str, probe: dict[str, Any], store: _Store) -> list[Any]:
    """One row of a module's evidence table: the values of PROBE_FIELDS in order (trailing
    nulls dropped), its texts by reference to the store."""
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
    elif depth_base(name) == "concurrent" and probe.get("outcome") == "ok":
        notes.append("passed its one run (--confirm N runs it N times)")
    heap = probe.get("heap") or {}
    if heap.get("heap_growth_per_cycle") is not None:
        notes.append(
            f"C heap +{heap['heap_growth_per_cycle'] / 1024:.0f} KiB per cycle "
            f"(empty interpreter: +{(heap['control_heap_growth_per_cycle'] or 0) / 1024:.0f} KiB)"
        )
    deadlock = probe.get("deadlock")
    if deadlock:
        notes.append(f"deadlocked: no progress for {deadlock['idle_seconds']} s")
    outcome = probe["outcome"]
    outcome = probe["outcome"]
    row = {
        "name": name,
        "outcome": outcome,
        "title": mark["title"],
        "stage": probe.get("stage"),
        "exception": probe.get("exception"),
        "message": probe.get("message"),
        "main_after": main_after,
        "css": mark["css"] if mark["css"] != outcome else None,
        "mark": mark["mark"] if mark["mark"] != MARKS.get(outcome, "?") else None,
        "end": end,
        "cause": probe.get("cause"),
        "notes": "; ".join(notes),
        "stdout": f"{probe['stdout_bytes']:,} B" if probe.get("stdout_bytes") else "",
        "stderr": probe.get("stderr_tail"),
        "stacks": (deadlock or {}).get("native_stacks"),
    }
    values: list[Any] = [
        round(probe.get("seconds") or 0, 2) if field == "seconds" else store.text(row[field])
        for field in PROBE_FIELDS
    ]
    while values[-1] is None:
        values.pop()
    return values


def _chain(module: str, reason: dict[str, Any]) -> list[str]:
    """The import chain of a `blocked_by` reason, from the module to its blocker."""
    chain = (reason.get("details") or {}).get("chain")
    if chain:
        return [str(name) for name in chain]
    return [module, reason["module"]] if reason.get("module") else []


def _short_chain(chain: list[str]) -> list[str]:
    """A chain for the root blockers' lists: the steps inside the blocker's own top-level
    package, after the first, elided ("…"): for hundreds of modules they are the same."""
    if len(chain) < 3:
        return chain
    package = chain[-1].split(".")[0]
    inside = [i for i, name in enumerate(chain[1:-1], 1) if name.split(".")[0] == package]
    if len(inside) < 3 or inside != list(range(inside[0], len(chain) - 1)):
        return chain
    return [*chain[: inside[0] + 1], "…", chain[-1]]


def _module_detail(module: dict[str, Any], view: dict[str, Any], store: _Store) -> dict[str, Any]:
    """What a module's details show when opened, built by report.js from the page's data."""
    reasons = []
    for reason in module["reasons"]:
        entry: dict[str, Any] = {
            "code": reason["code"],
            "message": store.text(reason["message"]),
            "advice": store.advise(reason.get("advice"), reason["code"]),
        }
        if reason.get("module"):
            entry["module"] = reason["module"]
        if reason.get("probes"):
            entry["probes"] = store.text(", ".join(reason["probes"]))
        if reason["code"] == "blocked_by" and reason.get("module"):
            entry["chain"] = _chain(module["name"], reason)
        reasons.append(entry)
    return {
        "path": module["path"],
        "init": store.text(view["init_text"]),
        "toolkit": view["toolkit"]
        + (f" {view['toolkit_version']}" if view["toolkit_version"] else ""),
        "toolkit_evidence": store.text("; ".join(view["toolkit_evidence"])),
        "reasons": reasons,
        "hints": [[h["kind"], h["symbol"], store.text(h["meaning"])] for h in view["hints"]],
        "probes": [_probe_detail(name, probe, store) for name, probe in module["probes"].items()],
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
    init_label, init_text = (
        ("(import)", "probed by its import (--import): no init function was read")
        if module.get("origin") == "import"
        else _init_text(module["init"])
    )
    probes = module["probes"]
    return {
        "name": module["name"],
        "dist": dist_label,
        "toolkit": toolkit,
        "toolkit_version": binding.get("version"),
        "toolkit_evidence": binding.get("evidence", []),
        "init_label": init_label,
        "init_text": init_text,
        "cells": [
            {"cells": cells, "applicable": any(c["css"] != "none" for c in cells)}
            for cells in ([_cell(p, probes.get(p)) for p in group] for group in _CELLS)
        ],
        "verdict": module["verdict"],
        "verdict_fixed": module.get("verdict_on_fixed_interpreter"),
        "rank": Verdict(module["verdict"]).rank,
        # Filtering searches these with the name, distribution, toolkit and verdict.
        "codes": " ".join(dict.fromkeys(r["code"] for r in module["reasons"])),
        # Red flags first: they are what a maintainer should look at.
        "hints": sorted(
            (module.get("static") or {}).get("hints", []),
            key=lambda h: (h["kind"] != "red_flag", h["symbol"]),
        ),
    }


def root_blockers(modules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The modules named by other modules' `blocked_by` reasons, the one blocking the most
    modules first (ties by name), each with the modules it blocks and their import chains."""
    blocked: dict[str, dict[str, list[str]]] = {}
    for module in modules:
        for reason in module["reasons"]:
            blocker = reason.get("module")
            if reason["code"] == "blocked_by" and blocker and blocker != module["name"]:
                chains = blocked.setdefault(blocker, {})
                chains.setdefault(module["name"], _chain(module["name"], reason))
    by_name = {module["name"]: module for module in modules}
    ranked = []
    for name, chains in sorted(blocked.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        own = by_name.get(name)
        fixes: list[dict[str, Any]] = []
        blocked_by: list[str] = []
        for reason in (own or {}).get("reasons", []):
            if reason["code"] == "blocked_by":
                if reason.get("module") and reason["module"] not in blocked_by:
                    blocked_by.append(reason["module"])
                continue
            advice = reason.get("advice") or {}
            fix = {
                "code": reason["code"],
                "title": advice.get("title", reason["code"]),
                "fix": advice.get("fix"),
                "toolkit": advice.get("toolkit"),
                "links": advice.get("links", []),
            }
            if fix not in fixes:
                fixes.append(fix)
        ranked.append(
            {
                "name": name,
                "scanned": own is not None,
                "verdict": own["verdict"] if own else None,
                "dist": (own or {}).get("distribution"),
                "fixes": fixes,
                "blocked_by": blocked_by,
                "blocks": [
                    {
                        "name": blocked,
                        "chain": chains[blocked],
                        "short": _short_chain(chains[blocked]),
                    }
                    for blocked in sorted(chains)
                ],
            }
        )
    return ranked


def _target_view(target: dict[str, Any], store: _Store) -> tuple[dict[str, Any], dict[str, Any]]:
    """The template's view of a target, and the page data its rows' details are built from."""
    modules = [_module_view(module) for module in target["modules"]]
    details = [
        _module_detail(module, view, store)
        for module, view in zip(target["modules"], modules, strict=True)
    ]
    groups: dict[str, Counter[str]] = {}
    for row in modules:
        groups.setdefault(row["dist"], Counter())[row["verdict"]] += 1
    order = [v.value for v in Verdict]
    blockers = root_blockers(target["modules"])
    view = {
        **target,
        "modules": modules,
        "suite": target.get("suite"),  # scan --suite: the project's tests, main vs own GIL
        "toolkits": sorted({m["toolkit"] for m in modules}),
        "concurrent_pass": concurrent_pass_phrase(
            (name, probe.get("outcome"), probe.get("runs", 1))
            for module in target["modules"]
            for name, probe in module["probes"].items()
            if probe
        ),
        "names": {m["name"] for m in modules},
        "blockers": blockers,
        "blocked_total": len({m["name"] for b in blockers for m in b["blocks"]}),
        "chains_elided": any(m["short"] != m["chain"] for b in blockers for m in b["blocks"]),
        "groups": [
            {"label": label, "total": sum(c.values()), "counts": [(v, c[v]) for v in order if c[v]]}
            for label, c in sorted(groups.items(), key=lambda kv: kv[0].lower())
        ],
    }
    return view, {"modules": details}


def _json_for_script(data: dict[str, Any]) -> Markup:
    """JSON safe inside <script>: no '<', '>' or '&' can end the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


def render_html(data: dict[str, Any]) -> str:
    """The report as one HTML page: inline CSS and JS, no network.

    The module table is HTML; each module's details (reasons, advice, evidence) are built by
    report.js when opened, from one JSON block that holds every distinct text and every
    advice once: the same stderr tail or advice for hundreds of modules costs its size once.
    """
    store = _Store()
    targets, page_targets = [], []
    for target in data["targets"]:
        view, page = _target_view(target, store)
        targets.append(view)
        page_targets.append(page)
    template = _environment().get_template("report.html.j2")
    return template.render(
        version=data["version"],
        tool=data["tool"],
        meta=data["meta"],
        targets=targets,
        verdicts=[{"name": v.value, "meaning": VERDICT_MEANING[v.value]} for v in Verdict],
        css=Markup(_load("report.css")),
        js=Markup(_load("report.js")),
        data_json=_json_for_script(
            {
                "probe_fields": PROBE_FIELDS,
                "marks": MARKS,
                "bad_codes": sorted(_BAD),  # the reasons shown in red, the others in amber
                "cells": _CELLS,  # the probes of each column of the table, in order
                "texts": store.texts,
                "advice": store.advice,
                "targets": page_targets,
            }
        ),
    )
