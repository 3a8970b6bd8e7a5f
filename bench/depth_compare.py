#!/usr/bin/env python3
"""Compare a report's depth probes with bench/depth_oracle.py (CPython's own _interpreters).

    python3 bench/depth_compare.py REPORT.json --python TARGET [--path DIR] [--runs 3]
                                   [--rounds 2]

Stdlib only.  For every depth probe of the report (a probe result with a ``kind``: ``reuse``,
``concurrent``, ``cycles`` and the lower kinds' ``isolated_reuse`` ...), the oracle runs the same
sequence in the same kind with the target interpreter, and the two are compared on

- the outcome: ``ok`` / ``import_error`` / ``error`` / ``crash`` / ``timeout`` (a tool probe that
  failed in some of its runs counts as its failing outcome);
- for cycles that ran, whether the per-load C-heap growth beyond the control is a leak.

A pair that differs is run again by the oracle up to ``--runs`` times in all: crashes that come
and go (a race) are "nondeterministic" when some oracle run agrees; the rest are divergences.
Prints the counts and every difference; ``--json OUT`` keeps the pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.path.join(HERE, "depth_oracle.py")
PROBES = ("reuse", "concurrent", "cycles")
LEAK = 256 * 1024  # auditor/judging/classify.py LEAK_BYTES_PER_CYCLE


def tool_pairs(report: dict[str, Any]) -> list[dict[str, Any]]:
    """(module, probe, kind) -> what the tool saw, for every depth probe of the report."""
    pairs = []
    for target in report["targets"]:
        for module in target["modules"]:
            for name, result in module["probes"].items():
                kind = result.get("kind")
                if not kind:
                    continue
                probe = next(p for p in PROBES if name == p or name.endswith("_" + p))
                heap = result.get("heap") or {}
                growth, control = (
                    heap.get("heap_growth_per_cycle"),
                    heap.get("control_heap_growth_per_cycle"),
                )
                pairs.append(
                    {
                        "module": module["name"],
                        "probe": probe,
                        "kind": kind,
                        "tool": result["outcome"],
                        "tool_failed_runs": result.get("failed_runs", 0),
                        "tool_leak": None
                        if growth is None or control is None
                        else growth - control > LEAK,
                    }
                )
    return pairs


def run_oracle(
    python: str, kind: str, probe: str, modules: list[str], args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "o.json")
        command = [python, ORACLE, "--kind", kind, "--probes", probe, "--json", out]
        command += ["--timeout", str(args.timeout), "--rounds", str(args.rounds)]
        command += ["--path", args.path] if args.path else []
        subprocess.run(
            command + modules, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        try:
            with open(out, encoding="utf-8") as stream:
                records = json.load(stream)
        except (OSError, ValueError):
            return {}
    return {r["module"]: r for r in records}


def agrees(pair: dict[str, Any], record: dict[str, Any] | None) -> bool:
    if record is None:
        return False
    tool = pair["tool"]
    if pair["tool_failed_runs"] and tool == "ok":
        tool = "crash"
    if tool != record["outcome"]:
        return False
    if pair["probe"] == "cycles" and tool == "ok" and pair["tool_leak"] is not None:
        return bool(pair["tool_leak"]) == bool(record.get("leak"))
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report")
    parser.add_argument("--python", required=True, help="the report's target interpreter")
    parser.add_argument("--path", help="directory the audited modules live in, if not installed")
    parser.add_argument("--runs", type=int, default=3, help="oracle runs for a differing pair")
    parser.add_argument("--timeout", type=float, default=90)
    parser.add_argument("--rounds", type=int, default=2, help="the scan's --rounds")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    with open(args.report, encoding="utf-8") as stream:
        pairs = tool_pairs(json.load(stream))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pair in pairs:
        groups.setdefault((pair["kind"], pair["probe"]), []).append(pair)
    for (kind, probe), members in sorted(groups.items()):
        found = run_oracle(args.python, kind, probe, [p["module"] for p in members], args)
        for pair in members:
            record = found.get(pair["module"])
            pair["oracle"] = [record["outcome"] if record else None]
            pair["agree"] = agrees(pair, record)
            for _ in range(args.runs - 1):
                if pair["agree"]:
                    break
                again = run_oracle(args.python, kind, probe, [pair["module"]], args).get(
                    pair["module"]
                )
                pair["oracle"].append(again["outcome"] if again else None)
                if agrees(pair, again):
                    pair["agree"] = "after a rerun"
    same = [p for p in pairs if p["agree"] is True]
    rerun = [p for p in pairs if p["agree"] == "after a rerun"]
    differ = [p for p in pairs if not p["agree"]]
    print(
        f"{len(pairs)} depth probes compared: {len(same)} agree, {len(rerun)} agree on a rerun "
        f"(nondeterministic), {len(differ)} differ"
    )
    for pair in rerun + differ:
        print(
            f"  {pair['module']} {pair['probe']} ({pair['kind']}): tool {pair['tool']}"
            f" (failed {pair['tool_failed_runs']} runs, leak {pair['tool_leak']}), "
            f"oracle {pair['oracle']}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(pairs, stream, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
