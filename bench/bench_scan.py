"""Benchmark a full scan against the floor: prints seconds, ratios and peak memory.

    python bench/bench_scan.py                        # builds bench/.venv-real (3.13) once
    python bench/bench_scan.py --python /path/to/venv/bin/python --jobs 2
    python bench/bench_scan.py --python ... --jobs 2 --exclude-package mypy   # a subset

Measured in one run, with the same number of jobs:

- floor:  every extension module imported once, each in a fresh interpreter process;
- strict: `scan --isolation strict --no-cache` (one new interpreter per probe: the baseline);
- cold:   `scan --no-cache` (the default shared mode, nothing reused; depth probes included);
- import: `scan --no-cache --depth import` (the import probes only: what the depth probes cost);
- warm:   `scan` again on the unchanged environment (results from the cache).

It also checks that the strict and the cold reports agree probe by probe (once: for the
re-runs that tell nondeterminism from a divergence, see equivalence.py), and samples the
resident memory of the whole process tree of each scan (the CLI, the zygotes and children).
`--package` / `--exclude-package` narrow every run to some distributions (stdlib left out).
Runs with the tool installed in the current Python (`pip install .`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _subset  # noqa: E402  (bench/_subset.py)

# Real packages of every binding style (hand-written C, Cython, PyO3, pybind11, nanobind,
# f2py, cffi, numpy and a scientific stack): a few hundred extension modules.
PACKAGES = HERE / "requirements-real.txt"


def build_venv(venv: Path, python: str) -> Path:
    if not (venv / "bin" / "python").exists():
        print(f"building {venv} from {PACKAGES.name} (once)", flush=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
                str(PACKAGES),
            ],
            check=True,
        )
    return venv / "bin" / "python"


def _tree_rss(root: int) -> int:
    """Resident memory (bytes) of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as stream:
                pages = int(stream.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = pages * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """(seconds, peak tree RSS in bytes, exit code) of a command."""
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=_subset.TOOL[0] if _subset.TOOL else None,
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    seconds = time.monotonic() - started
    done.set()
    sampler.join()
    return seconds, peak[0], code


FLOOR_CHILD = (
    "import importlib, os, sys; importlib.import_module(sys.argv[1]); "
    "print(len(os.listdir('/proc/self/task')))"
)


def floor(python: str, modules: list[str], jobs: int) -> tuple[float, list[str]]:
    """Every module imported once, each in a fresh process, `jobs` at a time.  Also returns
    the modules whose import left threads running (the scan cannot fork their after-main
    probes from main's import: each of them imports in main again)."""

    def one(name: str) -> bool:
        try:
            done = subprocess.run(
                [python, "-c", FLOOR_CHILD, name],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        lines = done.stdout.strip().splitlines()
        return done.returncode == 0 and bool(lines) and lines[-1].strip() not in ("1", "")

    started = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        threaded = list(pool.map(one, modules))
    seconds = time.monotonic() - started
    return seconds, [name for name, t in zip(modules, threaded, strict=True) if t]


def probes(report: Path) -> dict[tuple[str, str], dict]:
    from auditor.model import EVIDENCE_FIELDS

    data = json.loads(report.read_text())
    return {
        (m["name"], p): {k: r[k] for k in EVIDENCE_FIELDS}
        for t in data["targets"]
        for m in t["modules"]
        for p, r in m["probes"].items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", help="target interpreter (default: build bench/.venv-real)")
    parser.add_argument(
        "--base-python", default="3.13", help="interpreter that builds the venv (version or path)"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument(
        "--package", action="append", default=[], help="only this distribution (repeatable)"
    )
    parser.add_argument(
        "--exclude-package",
        action="append",
        default=[],
        metavar="NAME",
        help="every distribution but this one (repeatable)",
    )
    parser.add_argument(
        "--tool",
        type=Path,
        metavar="DIR",
        help="run the subinterp-audit of this source tree (a snapshot: `git archive HEAD | "
        "tar -x -C DIR`) instead of the installed one",
    )
    parser.add_argument(
        "--skip-strict",
        action="store_true",
        help="skip the one-process-per-probe baseline (the slowest part)",
    )
    args = parser.parse_args()
    _subset.use_tool(args.tool)

    from auditor.probing.discover import discover
    from auditor.probing.target import describe, resolve

    python = args.python or str(build_venv(HERE / ".venv-real", str(resolve(args.base_python))))
    interp = describe(resolve(python))
    found = discover(interp)
    names = [m.name for m in found.modules]
    packages: list[str] = []
    subset = f"{len(names)} extension modules"
    if args.package or args.exclude_package:
        _, packages, count, total = _subset.select(python, args.package, args.exclude_package)
        chosen = set(packages)
        names = [m.name for m in found.modules if m.distribution and m.distribution.name in chosen]
        subset = _subset.describe_subset(total, count, args.exclude_package, args.package)
    print(
        f"target: {interp.label}; {subset}; jobs {args.jobs}; {os.cpu_count()} CPUs",
        flush=True,
    )

    work = Path(tempfile.mkdtemp(prefix="subinterp-bench-"))
    env = {**os.environ, "SUBINTERP_AUDIT_CACHE": str(work / "cache"), "COLUMNS": "120"}
    scan = [
        sys.executable,
        "-m",
        "auditor",
        "scan",
        "--python",
        python,
        "--jobs",
        str(args.jobs),
        "--timeout",
        str(args.timeout),
    ]
    warmup = [*scan, "--module", names[0], "--json", str(work / "warmup.json")]
    for name in packages:
        scan += ["--package", name]
    # Build the C helper outside the timings.
    subprocess.run(
        warmup,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        cwd=_subset.TOOL[0] if _subset.TOOL else None,
    )

    rows: list[tuple[str, float, int | None]] = []
    t_floor, threaded = floor(python, names, args.jobs)
    rows.append(("floor: one import per module, fresh process", t_floor, None))
    print(f"floor {t_floor:.1f} s", flush=True)
    print(
        f"{len(threaded)} of {len(names)} modules leave threads running after their import "
        f"(their after-main probes import in main again)",
        flush=True,
    )
    if not args.skip_strict:
        t, mem, _ = run_measured(
            [*scan, "--isolation", "strict", "--no-cache", "--json", str(work / "strict.json")], env
        )
        rows.append(("strict: one new interpreter per probe", t, mem))
        print(f"strict {t:.1f} s", flush=True)
    t_cold, mem, _ = run_measured([*scan, "--no-cache", "--json", str(work / "cold.json")], env)
    rows.append(("cold: shared mode, nothing cached", t_cold, mem))
    print(f"cold {t_cold:.1f} s", flush=True)
    t_import, mem_i, _ = run_measured(
        [*scan, "--no-cache", "--depth", "import", "--json", str(work / "import.json")], env
    )
    rows.append(("import: cold, import probes only", t_import, mem_i))
    print(f"import-only {t_import:.1f} s", flush=True)
    t_warm, mem_w, _ = run_measured([*scan, "--json", str(work / "warm.json")], env)
    rows.append(("warm: rescan of the unchanged environment", t_warm, mem_w))

    print()
    print(f"{'run':<46} {'seconds':>9} {'x floor':>8} {'peak RSS':>10}")
    for name, seconds, peak in rows:
        mem_text = f"{peak / 2**20:.0f} MiB" if peak else "-"
        print(f"{name:<46} {seconds:>9.2f} {seconds / t_floor:>8.2f} {mem_text:>10}")
    print()
    cold_vs_floor = t_cold / t_floor
    print(f"cold / floor      = {cold_vs_floor:.2f}   (target <= 6)")
    print(f"warm              = {t_warm:.2f} s (target <= 2 s)")
    print(f"cold / import     = {t_cold / t_import:.2f}   (what the depth probes cost)")
    share = t_import / t_cold
    print(f"phases            = import {share:.0%}, depth {1 - share:.0%} of the cold scan")
    depth_runs = sum(
        1
        for m in json.loads((work / "cold.json").read_text())["targets"][0]["modules"]
        for p in m["probes"].values()
        if p.get("kind")
    )
    print(f"depth probes      = {depth_runs} in the cold scan")
    if not args.skip_strict:
        t_strict = rows[1][1]
        print(f"strict / cold     = {t_strict / t_cold:.2f}   (target >= 4)")
        strict, cold = probes(work / "strict.json"), probes(work / "cold.json")
        differ = [k for k in strict if strict[k] != cold.get(k)]
        print(f"strict vs cold    = {len(strict)} probes compared, {len(differ)} differ")
        for key in differ[:10]:
            print(f"  {key}: strict {strict[key]} / cold {cold.get(key)}")
    peak = max(p for _, _, p in rows if p)
    print(f"peak memory       = {peak / 2**20:.0f} MiB (target < 1024 MiB)")
    warm_same = probes(work / "warm.json") == probes(work / "cold.json")
    print(f"warm == cold      = {warm_same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
