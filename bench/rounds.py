#!/usr/bin/env python3
"""Which round of the concurrent probe failed first, over JSON reports: is round R needed?

    python3 bench/rounds.py REPORT.json [REPORT.json ...]

Counts each (interpreter version, module, probe) once per distinct first failure, and prints,
per round label ("round 1", "round 1 handed over", "round 2", ...), how many failures it was
the first to show, and the modules whose only first failures came at that round or later.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path


def first_round(probe: dict) -> str | None:
    """ "round 2 handed over" for a failure at "round 2 handed over, interpreter 3:use"."""
    where = probe.get("step") or probe.get("stage") or ""
    found = re.match(r"round \d+( handed over)?", where)
    return found.group(0) if found else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", nargs="+", type=Path)
    args = parser.parse_args()
    seen: set[tuple[str, str, str, str]] = set()
    by_round: collections.Counter[str] = collections.Counter()
    rounds_of: dict[tuple[str, str, str], set[str]] = collections.defaultdict(set)
    probes = reports = 0
    for path in args.reports:
        try:
            report = json.loads(path.read_text())
            targets = report["targets"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        reports += 1
        for target in targets:
            version = str(target.get("python", {}).get("version"))
            for module in target.get("modules", []):
                for name, probe in (module.get("probes") or {}).items():
                    if not probe or not name.endswith("concurrent"):
                        continue
                    probes += 1
                    if probe.get("outcome") == "ok":
                        continue
                    label = first_round(probe)
                    if label is None:
                        continue
                    key = (version, module["name"], name)
                    rounds_of[key].add(label)
                    if (*key, label) not in seen:
                        seen.add((*key, label))
                        by_round[label] += 1
    print(
        f"{reports} reports, {probes} concurrent probe results, {sum(by_round.values())} "
        "distinct first failures"
    )
    for label, count in sorted(by_round.items()):
        print(f"  {label:24s} {count:4d}")
    late = {k: v for k, v in rounds_of.items() if all(not r.startswith(("round 1",)) for r in v)}
    print("modules whose first failures all came after round 1:")
    for key, labels in sorted(late.items()):
        print("  ", *key, sorted(labels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
