#!/usr/bin/env python3
"""When may the cycles probe settle?  Per-cycle C-heap series of real modules, then the rule
replayed at N clean cycles against the full run.

    python3 bench/settle.py REPORT.json --python TARGET --helper HELPER_DIR [--cycles 30]
                            [--path DIR] [--jobs 2] [--json OUT]

For every module of REPORT with a cycles probe that ran (in the kind it ran in), a new process
of TARGET runs, with the tool's own C helper (HELPER_DIR: the built ``_subinterp_probe`` for
TARGET, from the cache's ``helpers/``) and the tool's own "use" code: an empty control of
--cycles cycles (create / import sys / end), then --cycles cycles of the module (create /
import / use / end), the C heap after each.  No early stop: every series is whole.

Then the tool's own rule (auditor/_target/worker.py ``_settled``, ``_growth``;
auditor/judging/classify.py LEAK_BYTES_PER_CYCLE) is replayed on the series: a module that
would settle after N cycles (growth over its first N <= the control's + 64 KiB a cycle),
against its leak verdict over all cycles (growth beyond the control > 256 KiB a cycle).  A
module that settles early but leaks over the whole run is a finding lost by settling at N.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKER_DIR = os.path.join(ROOT, "auditor", "_target")
SETTLE_POINTS = (4, 5, 6, 8, 10)


def _tool() -> tuple[Any, int]:
    """The tool's own rule: the worker (its growth and settling) and the leak threshold."""
    sys.path[0:0] = [WORKER_DIR, ROOT]
    try:
        import worker  # type: ignore[import-not-found]

        from auditor.judging.classify import LEAK_BYTES_PER_CYCLE
    finally:
        del sys.path[0:2]
    return worker, LEAK_BYTES_PER_CYCLE


def child(args: argparse.Namespace) -> None:
    """In the target: the control's series, then the module's; JSON on stdout."""
    sys.path.insert(0, args.helper)
    import _subinterp_probe as helper  # type: ignore[import-not-found]

    del sys.path[0]
    worker, _ = _tool()
    fd = os.open(os.devnull, os.O_WRONLY)
    paths = [args.path] if args.path else []
    series: dict[str, Any] = {}
    for name, module, use in (
        ("control", "sys", None),
        ("module", args.module, worker._use_source(args.module, None)),
    ):
        heaps = []
        for number in range(1, args.cycles + 1):
            raw = helper.run_in_subinterpreter(
                args.kind, module, paths, fd, os.getpid(), f"cycle {number}", use, False
            )
            result = worker._visit(raw, [])
            if result.get("outcome") != "ok":
                series["failed"] = f"{name} cycle {number}: {result.get('outcome')}"
                break
            heaps.append(helper.heap()[0])
        series[name + "_heaps"] = heaps
    print(json.dumps(series))


def measure(args: argparse.Namespace, kind: str, module: str) -> dict[str, Any]:
    command = [args.python, "-P", __file__, "--child", "--helper", args.helper, "--kind", kind]
    command += ["--cycles", str(args.cycles), "--module", module]
    command += ["--path", args.path] if args.path else []
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    try:
        return {"module": module, "kind": kind, **json.loads(done.stdout.splitlines()[-1])}
    except (IndexError, ValueError):
        return {"module": module, "kind": kind, "failed": f"exit {done.returncode}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", nargs="?")
    parser.add_argument("--python", help="the report's target interpreter")
    parser.add_argument("--helper", required=True, help="directory of the built C helper")
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--path", help="directory the audited modules live in, if not installed")
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--module", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    if not args.report or not args.python:
        parser.error("REPORT and --python are required")
    with open(args.report, encoding="utf-8") as stream:
        report = json.load(stream)
    pairs = sorted(
        {
            (probe["kind"], module["name"])
            for target in report["targets"]
            for module in target["modules"]
            for name, probe in module["probes"].items()
            if name.endswith("cycles") and probe and probe.get("outcome") == "ok"
        }
    )
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda pair: measure(args, *pair), pairs))
    worker, leak_bytes = _tool()
    whole = [r for r in rows if "failed" not in r]
    print(f"{len(pairs)} cycles probes, {len(whole)} measured whole ({args.cycles} cycles)")
    leaking = []
    for row in whole:
        control = worker._growth(row["control_heaps"])
        full = worker._growth(row["module_heaps"])
        row["leak"] = control is not None and full is not None and full - control > leak_bytes
        if row["leak"]:
            leaking.append(f"{row['module']} ({row['kind']}: {(full - control) / 1024:.0f} KiB)")
        row["settles"] = {}
        for n in SETTLE_POINTS:  # the worker's own test, on the first n cycles
            row["settles"][n] = worker._settled(row["module_heaps"][:n], control)
    print(f"leaking over all cycles: {len(leaking)}: {', '.join(leaking) or '-'}")
    for n in SETTLE_POINTS:
        settle = [r for r in whole if r["settles"][n]]
        lost = [r["module"] for r in settle if r["leak"]]
        other = [r["module"] for r in whole if r["settles"][n] != r["settles"][10]]
        print(
            f"settle at {n:2d}: {len(settle):4d} settle, {len(lost)} of them leak "
            f"{lost or ''}; {len(other)} decide unlike 10 {other[:8] or ''}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(rows, stream)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
