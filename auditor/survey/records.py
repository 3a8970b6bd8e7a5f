"""The survey file (contract): its records, their order, loading, and merging shards into one."""

# A survey file (``"kind": "subinterp-audit-survey"``)::
#
#     {"version": 2, "kind": ..., "tool": {...}, "meta": {...},
#      "records": [{"package", "spec", "python", "python_version", "gil_disabled", "depth",
#                   "status", "version", "message",
#                   "verdict",          # the import verdict, else the modules' (below)
#                   "verdict_on_fixed_interpreter",  # the same without CPython's known bugs
#                   "cpython_bugs",     # those bugs, e.g. ["gh-136423"]
#                   "import_verdict",   # the worst of importing its import names, as users do
#                   "modules_verdict",  # its worst module's, tests of the package left out
#                   "import_once": {"ready", "differs", "told_by"} | null,
#                   "imports": [{"name", "verdict", "verdict_on_fixed_interpreter",
#                                "cpython_bugs", "reasons", "toolkit", "blocked_by"}],
#                   "modules": [{"name", "verdict", "verdict_on_fixed_interpreter",
#                                "cpython_bugs", "reasons", "toolkit", "test",
#                                "blocked_by": [{"module", "chain", "distribution"}]}]}],
#      "summary": {...}, "changes": [...] | null}          # the last two: merged files only
#
# Everything that depends on the run (timestamps, command lines, shards, executables) is in
# ``meta``; the rest depends on the records only and is sorted, so the merge of a sharded run
# equals the merge of the same run unsharded, except for ``meta``.

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.errors import UsageError
from auditor.model import Verdict
from auditor.pipeline import now
from auditor.probe_plan import depth_base

# Survey file format history (bump on any incompatible change; adding fields is compatible):
# 1: first version.
# 2: "verdict" is the import verdict (importing the package's import names, as users do);
#    the worst module's is "modules_verdict", tests of the package left out; "imports",
#    "import_once" and the modules' "test" added.  Version 1 files are still read (merge
#    --previous), their "verdict" standing for both.
SURVEY_VERSION = 2
READABLE_VERSIONS = (1, 2)
SURVEY_KIND = "subinterp-audit-survey"

STATUSES = ("ok", "no_extensions", "install_failed", "scan_failed")


# --- records --------------------------------------------------------------------------------


def python_order(label: str) -> tuple[int, ...]:
    """Sort key of a label: 3.9 < 3.13 < 3.13t < 3.14."""
    numbers = tuple(int(part) for part in label.rstrip("t").split(".") if part.isdigit())
    return (*numbers, label.endswith("t"))


def record_order(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["package"], python_order(record["python"]), record["spec"])


def resume_key(record: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """A record a rerun does not redo: same package, requirement, target and depth."""
    return (
        record["package"],
        record["spec"],
        record["python"],
        record["python_version"],
        record["depth"],
    )


def _blocked_by(reasons: list[dict[str, Any]], owners: dict[str, str | None]) -> list[Any]:
    found = {
        (r["module"], tuple(r["details"].get("chain") or (r["module"],)))
        for r in reasons
        if r["code"] == "blocked_by" and r.get("module")
    }
    return [
        {"module": module, "chain": list(chain), "distribution": owners.get(module)}
        for module, chain in sorted(found)
    ]


def module_entry(module: dict[str, Any], owners: dict[str, str | None]) -> dict[str, Any]:
    """A module of the JSON report (auditor/report/json.py), as a survey records it."""
    binding = module.get("binding") or {}
    return {
        "name": module["name"],
        "verdict": module["verdict"],
        "verdict_on_fixed_interpreter": module.get("verdict_on_fixed_interpreter"),
        "cpython_bugs": sorted(
            {
                str(r["details"].get("cpython_issue"))
                for r in module["reasons"]
                if r["code"] == "interpreter_bug"
            }
        ),
        "reasons": sorted({r["code"] for r in module["reasons"]}),
        "toolkit": binding.get("toolkit"),
        "test": is_test_module(module["name"]),
        "blocked_by": _blocked_by(module["reasons"], owners),
    }


def import_entry(module: dict[str, Any], owners: dict[str, str | None]) -> dict[str, Any]:
    """An import name's entry of the JSON report (probed with --import, or an extension
    module that is itself an import name), as a survey records it, with what import_once
    reads ("once", "evidence": dropped from the record by `finish_imports`)."""
    entry = module_entry(module, owners)
    del entry["test"]
    own = module["probes"].get("own_gil") or {}
    entry["once"] = own.get("outcome") == "ok"
    entry["evidence"] = [{"code": r["code"], "probes": r["probes"]} for r in module["reasons"]]
    return entry


def finish_imports(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The import entries as the record keeps them."""
    return [{k: v for k, v in e.items() if k not in ("once", "evidence")} for e in entries]


# A module that tests its package: under a test package, or named like one (NumPy's
# numpy._core._operand_flag_tests, CPython's _ctypes_test).  Nobody imports it to use the
# package, so it decides nothing.
TEST_PACKAGES = {"test", "tests", "testing"}
TEST_NAME = re.compile(r"(\w+_)?tests?")


def is_test_module(name: str) -> bool:
    *packages, last = name.split(".")
    return bool(set(packages) & TEST_PACKAGES) or TEST_NAME.fullmatch(last) is not None


def package_verdict(modules: Sequence[dict[str, Any]]) -> str | None:
    """A package's modules verdict: its worst module's, among the modules that import at all
    and are not its tests.  A module that is broken even in the main interpreter (an optional
    backend whose dependency is not installed: zstandard._cffi without cffi) says nothing
    about subinterpreters; the package is broken only when every module is."""
    counted = [m for m in modules if not m.get("test")] or list(modules)
    usable = [m["verdict"] for m in counted if m["verdict"] != "broken"]
    return worst(usable) if usable else worst(m["verdict"] for m in counted)


# What tells "imports once in one own-GIL interpreter" apart from real use: a probe (its base
# name) that failed, in words.
TOLD_BY_PROBE = {
    "own_gil_after_main": "the other import order (main first)",
    "isolated_after_main": "the other import order (main first)",
    "legacy_after_main": "the other import order (main first)",
    "reuse": "a second interpreter (reuse)",
    "concurrent": "interpreters at once (concurrent)",
    "cycles": "interpreters created and ended in turn (cycles)",
}
TOLD_BY_CODE = {
    "interpreter_bug": "CPython's own bug",
    "leaks_per_interpreter": "a leak per interpreter (cycles)",
    "main_import_after_subinterpreter": "main importing it afterwards",
}


def fixed_verdict(entries: Sequence[dict[str, Any]]) -> str | None:
    """The worst verdict of `entries` on an interpreter without CPython's known bugs."""
    return worst(e.get("verdict_on_fixed_interpreter") or e["verdict"] for e in entries)


def import_once(imports: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """What "import the top-level name once in one own-GIL interpreter" says of a package
    (its ``own_gil`` probe, alone), whether that differs from the import verdict, and the
    evidence that tells them apart.  None without import names."""
    if not imports:
        return None
    ready = all(i["once"] for i in imports)
    verdict = worst(i["verdict"] for i in imports)
    told: set[str] = set()
    for entry in imports:
        for reason in entry["evidence"]:
            if reason["code"] in TOLD_BY_CODE:
                told.add(TOLD_BY_CODE[reason["code"]])
                continue
            for probe in reason["probes"]:
                words = TOLD_BY_PROBE.get(probe) or TOLD_BY_PROBE.get(depth_base(probe) or "")
                if words:
                    told.add(words)
    differs = ready and verdict != Verdict.OWN_GIL.value
    return {"ready": ready, "differs": differs, "told_by": sorted(told) if differs else []}


def worst(verdicts: Iterable[str]) -> str | None:
    """The worst of some verdicts (Verdict's order), None for none."""
    ranked = [Verdict(v) for v in verdicts]
    return max(ranked, key=lambda v: v.rank).value if ranked else None


# --- survey files ---------------------------------------------------------------------------


def survey_document(records: Iterable[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": SURVEY_VERSION,
        "kind": SURVEY_KIND,
        "tool": {"name": "subinterp-audit", "version": __version__},
        "meta": meta,
        "records": sorted(records, key=record_order),
    }


def load_survey(path: Path) -> dict[str, Any]:
    """A survey file (a shard or a merge).  Raises UsageError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != SURVEY_KIND:
        raise UsageError(f"{path} is not a subinterp-audit survey file")
    if data.get("version") not in READABLE_VERSIONS:
        raise UsageError(
            f"{path} has survey version {data.get('version')!r}; this subinterp-audit reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    records = data.get("records")
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and {"package", "spec", "python", "python_version", "depth"} <= set(r)
        for r in records
    ):
        raise UsageError(f"{path}: its records are not survey records")
    return data


# --- merging and the summary ----------------------------------------------------------------


def merge_records(sources: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The records of several survey files, one per package and target.  The same record in
    two files counts once; two different ones raise UsageError naming both files."""
    merged: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for name, document in sources:
        for record in document["records"]:
            key = (record["package"], record["python"])
            if key in merged and merged[key][1] != record:
                first = merged[key][0]
                raise UsageError(
                    f"{record['package']} on Python {record['python']}: {first} and {name} "
                    f"disagree ({_state(merged[key][1])} vs {_state(record)}); merge shards "
                    f"of one survey"
                )
            merged[key] = (name, record)
    return sorted((record for _, record in merged.values()), key=record_order)


def _state(record: dict[str, Any]) -> str:
    """What a tracker cell says: the verdict, or why there is none."""
    return str(record["verdict"]) if record["status"] == "ok" else str(record["status"])


def ecosystem_blockers(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The modules that block other distributions' imports and modules (reason blocked_by),
    ranked by how many they block, then by how many packages: the summary's "root_blockers",
    over every package surveyed (auditor/report/html.py's root_blockers: one target's
    modules)."""
    blocked: dict[str, set[tuple[str, str]]] = defaultdict(set)
    pythons: dict[str, set[str]] = defaultdict(set)
    owners: dict[str, set[str]] = defaultdict(set)
    for record in records:
        for module in [*record.get("imports", ()), *record["modules"]]:
            for block in module["blocked_by"]:
                if block["distribution"] == record["package"]:
                    continue  # its own distribution's module: not another package's blocker
                blocked[block["module"]].add((record["package"], module["name"]))
                pythons[block["module"]].add(record["python"])
                if block["distribution"]:
                    owners[block["module"]].add(block["distribution"])
    ranked = [
        {
            "module": name,
            "distributions": sorted(owners[name]),
            "blocked_modules": len(pairs),
            "packages": sorted({package for package, _ in pairs}),
            "pythons": sorted(pythons[name], key=python_order),
        }
        for name, pairs in blocked.items()
    ]
    return sorted(ranked, key=lambda b: (-b["blocked_modules"], -len(b["packages"]), b["module"]))


def toolkit_counts(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """How many modules (and packages) each binding toolkit made, over every target."""
    modules: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for record in records:
        for module in record["modules"]:
            modules[module["toolkit"] or "unknown"].add((record["package"], module["name"]))
    counts = [
        {"toolkit": kit, "modules": len(pairs), "packages": len({p for p, _ in pairs})}
        for kit, pairs in modules.items()
    ]
    return sorted(counts, key=lambda c: (-c["modules"], c["toolkit"]))


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    pythons = sorted({r["python"] for r in records}, key=python_order)
    states: dict[str, Counter[str]] = {p: Counter() for p in pythons}
    for record in records:
        states[record["python"]][_state(record)] += 1
    order = [v.value for v in Verdict] + list(STATUSES[1:])
    once: dict[str, Counter[str]] = {p: Counter() for p in pythons}
    for record in records:
        said = record.get("import_once")
        if said:
            once[record["python"]]["ready" if said["ready"] else "not_ready"] += 1
            once[record["python"]]["ready_but_not_own_gil"] += said["differs"]
            # ... of which only CPython's own bugs: own_gil on a fixed interpreter.
            once[record["python"]]["only_cpython_bugs"] += bool(
                said["differs"]
                and record.get("cpython_bugs")
                and record.get("verdict_on_fixed_interpreter") == Verdict.OWN_GIL.value
            )
    return {
        "packages": len({r["package"] for r in records}),
        "pythons": pythons,
        "states": {p: {s: states[p][s] for s in order if states[p][s]} for p in pythons},
        # Per Python: how many packages "import once in one own-GIL interpreter" calls ready,
        # and how many of those the full probes do not find own_gil.
        "import_once": {
            p: {
                k: once[p][k]
                for k in ("ready", "not_ready", "ready_but_not_own_gil", "only_cpython_bugs")
            }
            for p in pythons
        },
        "root_blockers": ecosystem_blockers(records),
        "toolkits": toolkit_counts(records),
    }


def changes(previous: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]]) -> list[Any]:
    """Per package and target whose verdict (or status) changed: before, after, and how."""
    before = {(r["package"], r["python"]): r for r in previous}
    after = {(r["package"], r["python"]): r for r in current}
    found = []
    for key in sorted(before.keys() | after.keys(), key=lambda k: (k[0], python_order(k[1]))):
        old, new = before.get(key), after.get(key)
        old_state = _state(old) if old else None
        new_state = _state(new) if new else None
        if old_state == new_state:
            continue
        if old_state is None:
            kind = "new"
        elif new_state is None:
            kind = "gone"
        elif old and new and old["verdict"] and new["verdict"]:
            worse = Verdict(new["verdict"]).rank > Verdict(old["verdict"]).rank
            kind = "regressed" if worse else "improved"
        else:
            kind = "changed"
        found.append(
            {
                "package": key[0],
                "python": key[1],
                "kind": kind,
                "before": old_state,
                "after": new_state,
                "before_version": old["version"] if old else None,
                "after_version": new["version"] if new else None,
            }
        )
    return found


def merge_documents(
    sources: Sequence[tuple[str, dict[str, Any]]],
    previous: dict[str, Any] | None = None,
    merged_at: str | None = None,
) -> dict[str, Any]:
    """One survey report from shards: sorted records, the summary, and the changes against
    `previous` (None without one)."""
    records = merge_records(sources)
    shards = [{"file": name, **document.get("meta", {})} for name, document in sources]
    document = survey_document(records, {"merged": merged_at or now(), "sources": shards})
    document["summary"] = summarize(records)
    document["changes"] = changes(previous["records"], records) if previous else None
    return document
