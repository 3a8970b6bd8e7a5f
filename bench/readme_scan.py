#!/usr/bin/env python3
"""The newcomer's first command, and what one deadlock costs: two figures of issue 18.

    python3 bench/readme_scan.py [--python 3.13] [--jobs 2]

1. The README's scan command (``subinterp-audit scan --python 3.13``: the target's standard
   library, full depth) on a cold cache, the C helper's build included, as on a fresh
   machine; against the floor measured in the same run: every one of those extension modules
   imported once, each in a fresh interpreter process, ``--jobs`` at a time.  Target: <= 20 s.
   Then the same command again (warm).
2. A deadlock: the fixture ``once_holds_gil`` (tests/fixtures/ext/README.md) deadlocks the
   concurrent depth probes of the two shared-GIL kinds; the scan of that module alone, against
   the same scan of a module that does not deadlock (``multiphase_shared_gil``, the same
   slots).  Target: the difference, two deadlocks found, <= 10 s each, once.

Prints the figures and ratios.  Run it on a quiet machine: every figure is wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def floor(python: str, names: list[str], jobs: int) -> float:
    """Every module imported once, each in a fresh interpreter, `jobs` at a time."""
    started = time.monotonic()
    pending = list(names)
    running: list[subprocess.Popen[bytes]] = []
    while pending or running:
        while pending and len(running) < jobs:
            name = pending.pop()
            running.append(
                subprocess.Popen(
                    [python, "-c", f"import {name}"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        running[0].wait()
        running = [p for p in running if p.poll() is None]
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default="3.13", help="the stock interpreter (version or path)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    from auditor.probing.discover import discover
    from auditor.probing.target import describe, resolve
    from tests.fixtures.build import build_fixtures

    python = str(resolve(args.python))
    interp = describe(python)
    names = [m.name for m in discover(interp).modules]
    work = Path(tempfile.mkdtemp(prefix="subinterp-readme-"))
    env = {**os.environ, "SUBINTERP_AUDIT_CACHE": str(work / "cache"), "COLUMNS": "120"}
    tool = [sys.executable, "-m", "auditor"]
    env["PYTHONPATH"] = str(ROOT)
    print(
        f"target: {interp.label}; {len(names)} extension modules; jobs {args.jobs}; "
        f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )

    t_floor = floor(python, names, args.jobs)
    readme = [*tool, "scan", "--python", args.python, "--jobs", str(args.jobs)]
    t_cold = timed(readme, env, work)
    report = json.loads((work / "reports" / "subinterp-audit.json").read_text())
    seconds: dict[str, float] = {"import": 0.0, "depth": 0.0}
    for module in report["targets"][0]["modules"]:
        for result in module["probes"].values():
            seconds["depth" if result.get("kind") else "import"] += result.get("seconds") or 0
    t_warm = timed(readme, env, work)

    zoo = work / "zoo"
    build_fixtures(python, zoo)
    one = [*tool, "scan", "--python", python, "--no-cache", "--jobs", str(args.jobs)]
    files = {
        n: str(next(zoo.glob(f"{n}.*.so"))) for n in ("multiphase_shared_gil", "once_holds_gil")
    }
    t_clean = timed(
        [*one, "--json", str(work / "clean.json"), files["multiphase_shared_gil"]], env, work
    )
    t_dead = timed([*one, "--json", str(work / "dead.json"), files["once_holds_gil"]], env, work)
    dead = json.loads((work / "dead.json").read_text())["targets"][0]["modules"][0]
    found = {
        name: (round(p["seconds"], 1), p.get("runs"))
        for name, p in dead["probes"].items()
        if p.get("deadlock")
    }

    print()
    print(f"floor (each stdlib extension imported once)  {t_floor:7.2f} s")
    print(
        f"README scan, cold (helper build included)    {t_cold:7.2f} s   "
        f"{t_cold / t_floor:5.2f} x floor   (target <= 20 s)"
    )
    print(
        f"  probe time: import {seconds['import']:.1f} s, depth {seconds['depth']:.1f} s "
        f"({seconds['depth'] / max(1e-9, sum(seconds.values())):.0%} depth)"
    )
    print(f"README scan, warm                            {t_warm:7.2f} s   (target <= 2 s)")
    print(f"scan of a clean module (shared GIL)          {t_clean:7.2f} s")
    print(
        f"scan of a module that deadlocks twice        {t_dead:7.2f} s   "
        f"{t_dead - t_clean:+.2f} s   (target <= 10 s a deadlock)"
    )
    print(f"  deadlocked probes (seconds, runs): {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
