"""Check that the default mode and `--isolation strict` agree probe by probe on a real target.

    python bench/equivalence.py --python /path/to/venv/bin/python --jobs 2 \\
        --exclude-package mypy --exclude-package scikit-learn

1. `scan --no-cache` (the default: a zygote forks every probe child, after-main probes fork
   from the child that did the main import) and `scan --isolation strict --no-cache` (every
   probe in a newly started interpreter: the reference) of the same modules, timed;
2. every probe of every module compared on ``auditor.model.EVIDENCE_FIELDS`` (what happened;
   not ``seconds``, ``stderr_tail``, ``fresh_exec`` nor ``cause``);
3. each module with a difference scanned alone (`--module NAME --no-cache`) `--repeat` more
   times in BOTH modes, alternating.  A probe whose two modes produced the same evidence at
   least once (so one mode showed both outcomes) is **nondeterministic**; one whose modes
   never agreed is a **real divergence**.

Prints the differences with what each mode showed, and a last line
``equivalence: N probes compared, D differ: X nondeterministic, Y real divergences``.
Exit status 1 on a real divergence (or a scan that failed), else 0.  The reports and the
logs are kept in --out (default: a new temporary directory).  Runs with the tool installed
in the current Python (`pip install -e .`), each scan with a private, empty cache.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _subset import (
    add_arguments,
    describe_subset,
    helpers,
    run_scan,
    scan_command,
    select,
    use_tool,
)

MODES = {"default": [], "strict": ["--isolation", "strict"]}


def evidence(report: Path, only: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(module, probe) -> the probe's evidence fields, from a JSON report."""
    from auditor.model import EVIDENCE_FIELDS

    data = json.loads(report.read_text())
    return {
        (m["name"], p): {k: r.get(k) for k in EVIDENCE_FIELDS}
        for t in data["targets"]
        for m in t["modules"]
        if only is None or m["name"] == only
        for p, r in m["probes"].items()
    }


def stderr_tails(report: Path, module: str) -> dict[str, str]:
    data = json.loads(report.read_text())
    return {
        p: r.get("stderr_tail") or ""
        for t in data["targets"]
        for m in t["modules"]
        if m["name"] == module
        for p, r in m["probes"].items()
    }


def _key(value: dict[str, Any] | None) -> str:
    return json.dumps(value, sort_keys=True)


def _short(value: Any, width: int = 160) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[: width - 3] + "..."


def field_diff(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    a, b = a or {}, b or {}
    return [
        f"{k}: default={_short(a.get(k))} strict={_short(b.get(k))}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def summary(values: list[str]) -> str:
    """'A x3, B x1' with letters for the distinct evidence values."""
    return ", ".join(f"{label} x{n}" for label, n in Counter(values).most_common())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    parser.add_argument("--repeat", type=int, default=3, help="re-runs per mode of a difference")
    parser.add_argument("--out", type=Path, help="directory for reports and logs")
    args = parser.parse_args()
    use_tool(args.tool)

    interp, packages, count, total = select(args.python, args.package, args.exclude_package)
    out = (args.out or Path(tempfile.mkdtemp(prefix="subinterp-equivalence-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SUBINTERP_AUDIT_CACHE": str(out / "cache"), "COLUMNS": "120"}
    subset = describe_subset(total, count, args.exclude_package, args.package)
    print(
        f"target: {interp.label}; {subset}"
        f"; jobs {args.jobs}; {os.cpu_count()} CPUs; output in {out}",
        flush=True,
    )
    base = scan_command(args.python, args.jobs, args.timeout, [])
    # Build the C helper outside the timings.
    run_scan([*base, "--module", "_json", "--json", str(out / "warmup.json")], env)

    seconds: dict[str, float] = {}
    failed = False
    for mode, extra in MODES.items():
        command = [*scan_command(args.python, args.jobs, args.timeout, packages), *extra]
        seconds[mode], code = run_scan(
            [*command, "--no-cache", "--json", str(out / f"{mode}.json")], env, out / f"{mode}.log"
        )
        print(f"{mode}: {seconds[mode]:.1f} s, exit code {code}", flush=True)
        if code not in (0, 1):
            print(f"  {mode} scan exit code {code}: see {out / (mode + '.log')}")
            failed = failed or code != 3  # 3: tool failures, counted below
    runs = {mode: evidence(out / f"{mode}.json") for mode in MODES}
    a, b = runs["default"], runs["strict"]
    keys = sorted(set(a) | set(b))
    differ = [k for k in keys if a.get(k) != b.get(k)]
    modules = {name for name, _ in keys}
    failures = {
        mode: sorted(k for k, v in runs[mode].items() if v["outcome"] == "tool_failure")
        for mode in MODES
    }
    print(
        f"{len(modules)} modules, {len(keys)} probes compared, {len(differ)} differ; "
        f"strict / default = {seconds['strict'] / seconds['default']:.2f}"
    )
    for mode, keys_failed in failures.items():
        if keys_failed:
            print(f"tool_failure in {mode}: {len(keys_failed)} probes: {keys_failed[:10]}")

    # Re-run each module with a difference, alternating the modes.
    seen: dict[tuple[str, str], dict[str, list[str]]] = {
        k: {"default": [_key(a.get(k))], "strict": [_key(b.get(k))]} for k in differ
    }
    tails: dict[tuple[str, str], dict[str, list[str]]] = {
        k: {"default": [], "strict": []} for k in differ
    }
    for name in sorted({m for m, _ in differ}):
        print(f"re-running {name} {args.repeat} times in each mode", flush=True)
        for index in range(args.repeat):
            for mode, extra in MODES.items():
                report = out / f"rerun-{name}-{mode}-{index}.json"
                command = [*base, *extra, "--module", name, "--no-cache", "--json", str(report)]
                run_scan(command, env, out / f"rerun-{name}-{mode}-{index}.log")
                if not report.exists():
                    print(f"  no report from {report.name}")
                    continue
                again = evidence(report, only=name)
                stderr = stderr_tails(report, name)
                for key in differ:
                    if key[0] == name:
                        seen[key][mode].append(_key(again.get(key)))
                        tails[key][mode].append(stderr.get(key[1], ""))

    nondeterministic, real = [], []
    for key in differ:
        labels: dict[str, str] = {}
        for mode in MODES:
            for value in seen[key][mode]:
                labels.setdefault(value, "ABCDEFGH"[min(len(labels), 7)])
        shared = set(seen[key]["default"]) & set(seen[key]["strict"])
        verdict = "nondeterministic" if shared else "REAL DIVERGENCE"
        (nondeterministic if shared else real).append(key)
        print(f"\n{key[0]} {key[1]}: {verdict}")
        for line in field_diff(a.get(key), b.get(key)):
            print(f"    {line}")
        for mode in MODES:
            marks = [labels[v] for v in seen[key][mode]]
            print(f"    {mode:8} (first scan, then re-runs): {' '.join(marks)}  = {summary(marks)}")
        for value, label in labels.items():
            print(f"    {label} = {_short(json.loads(value), 400)}")
        for mode in MODES:
            for tail in tails[key][mode][:1]:
                if tail.strip():
                    last = " | ".join(tail.strip().splitlines()[-3:])
                    print(f"    {mode} re-run stderr: {last[-300:]}")

    builds = helpers(out / "cache")
    if len(builds) > 1:
        print(
            f"\nWARNING: the tool changed during the measurement ({len(builds)} C helper "
            f"builds: {', '.join(builds)}); use --tool with a snapshot"
        )
    (out / "equivalence.json").write_text(
        json.dumps(
            {
                "python": interp.label,
                "packages": packages,
                "modules": len(modules),
                "compared": len(keys),
                "differ": [list(k) for k in differ],
                "nondeterministic": [list(k) for k in nondeterministic],
                "real": [list(k) for k in real],
                "seconds": seconds,
                "helpers": builds,
                "tool": str(args.tool) if args.tool else None,
                "seen": {f"{m} {p}": v for (m, p), v in seen.items()},
            },
            indent=1,
        )
    )
    print(
        f"\nequivalence: {interp.version} {len(keys)} probes compared ({len(modules)} modules), "
        f"{len(differ)} differ: {len(nondeterministic)} nondeterministic, "
        f"{len(real)} real divergences; default {seconds['default']:.1f} s, "
        f"strict {seconds['strict']:.1f} s"
    )
    return 1 if real or failed else 0


if __name__ == "__main__":
    sys.exit(main())
