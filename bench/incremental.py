"""Incremental rescan: upgrade one distribution, rescan, count what was probed again.

    python bench/incremental.py --python /path/to/venv/bin/python --jobs 2 \\
        --exclude-package mypy --upgrade xxhash==4.0.2

The target venv itself is never modified: it is copied (`cp -a`, which keeps the symlinked
interpreter, so the copy is a working venv at its new place) into a temporary directory, and
every step runs on the copy, with a private cache:

1. cold:  `scan` of the copy (empty cache: everything probed, the cache filled);
2. warm:  `scan` again, nothing changed (every module from the cache);
3. for each --upgrade SPEC: `pip install --no-deps SPEC` into the copy, then `scan` again.

A module counts as probed again when its probe results are not the cached ones (their
``seconds`` differ from the previous report's: a cached result keeps them).  The expected set
is computed independently, from the cache entries the cold scan wrote: the modules whose
import closure (every file their probes loaded) contains a file the upgrade changed or
removed.  For any module probed again without a reason of that kind, the script says
whether the sys.path layout fingerprint changed.  The copy is deleted at the end (--keep).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
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


def copy_venv(python: str, where: Path) -> Path:
    """A working copy of the venv of `python`; returns the copy's python."""
    source = Path(python).absolute().parent.parent
    if not (source / "pyvenv.cfg").exists():
        raise SystemExit(f"{source} is not a venv (no pyvenv.cfg): refusing to touch it")
    target = where / source.name
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    copy = target / "bin" / Path(python).name
    prefix = subprocess.run(
        [str(copy), "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True
    ).stdout.strip()
    if Path(prefix).resolve() != target.resolve():
        raise SystemExit(f"the copy's sys.prefix is {prefix}, not {target}")
    return copy


def module_probes(report: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(report.read_text())
    return {m["name"]: m for t in data["targets"] for m in t["modules"]}


def reprobed(before: Path, after: Path) -> list[str]:
    """Modules whose results in `after` are not the ones of `before` (not from the cache)."""
    old, new = module_probes(before), module_probes(after)
    changed = []
    for name, module in new.items():
        previous = old.get(name)
        seconds = {p: r.get("seconds") for p, r in module["probes"].items()}
        if previous is None or seconds != {
            p: r.get("seconds") for p, r in previous["probes"].items()
        }:
            changed.append(name)
    return sorted(changed)


def _stamp(probes: dict[str, dict[str, Any]]) -> str:
    """What identifies one run of a module's probes: the seconds of its init and main probes
    (a cache entry holds only the probes that ran; a report also lists those not run)."""
    return json.dumps([(probes.get(p) or {}).get("seconds") for p in ("init", "main")])


def closures(cache: Path, report: Path) -> dict[str, dict[str, str] | None]:
    """module -> the closure of its cache entry (None: an entry keyed by the whole
    environment, the probes could not report their closure); modules without an entry
    are left out.  Entries are matched to modules by their probes' seconds."""
    by_stamp: dict[str, dict[str, str] | None] = {}
    for path in (cache / "results").glob("*/*.json"):
        entry = json.loads(path.read_text())
        by_stamp[_stamp(entry.get("replies", {}))] = entry.get("closure")
    found = {}
    for name, module in module_probes(report).items():
        stamp = _stamp(module["probes"])
        if stamp in by_stamp:
            found[name] = by_stamp[stamp]
    return found


def file_hash(path: str) -> str | None:
    import hashlib

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def layout(python: str, cache_dir: Path) -> str:
    from auditor.probing.cache import ResultCache
    from auditor.probing.target import describe, resolve

    interp = describe(resolve(python))
    return ResultCache(cache_dir, enabled=False).layout_fingerprint(interp.sys_path)


def unchanged_count(log: Path) -> str:
    text = log.read_text(errors="replace")
    found = re.findall(r"(\d+) unchanged since the last scan", text)
    return found[-1] if found else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    parser.add_argument(
        "--upgrade",
        action="append",
        required=True,
        metavar="SPEC",
        help="pip requirement to install into the copy, e.g. xxhash==4.0.2 (repeatable)",
    )
    parser.add_argument("--out", type=Path, help="directory for the copy, reports and logs")
    parser.add_argument("--keep", action="store_true", help="keep the venv copy")
    args = parser.parse_args()
    use_tool(args.tool)

    out = (args.out or Path(tempfile.mkdtemp(prefix="subinterp-incremental-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"copying the venv of {args.python} into {out}", flush=True)
    python = str(copy_venv(args.python, out))
    try:
        return measure(args, python, out)
    finally:
        if not args.keep:
            shutil.rmtree(Path(python).parent.parent, ignore_errors=True)


def measure(args: argparse.Namespace, python: str, out: Path) -> int:
    interp, packages, count, total = select(python, args.package, args.exclude_package)
    cache = out / "cache"
    env = {**os.environ, "SUBINTERP_AUDIT_CACHE": str(cache), "COLUMNS": "200"}
    subset = describe_subset(total, count, args.exclude_package, args.package)
    print(
        f"target: {interp.label}; {subset}; jobs {args.jobs}; {os.cpu_count()} CPUs",
        flush=True,
    )
    scan = scan_command(python, args.jobs, args.timeout, packages)
    base = scan_command(python, args.jobs, args.timeout, [])
    run_scan([*base, "--module", "_json", "--json", str(out / "warmup.json")], env)

    t_cold, code = run_scan([*scan, "--json", str(out / "cold.json")], env, out / "cold.log")
    print(f"cold: {t_cold:.1f} s (exit {code})", flush=True)
    t_warm, code = run_scan([*scan, "--json", str(out / "warm.json")], env, out / "warm.log")
    warm_again = reprobed(out / "cold.json", out / "warm.json")
    print(
        f"warm: {t_warm:.2f} s (exit {code}), {len(warm_again)} modules probed again, "
        f"{unchanged_count(out / 'warm.log')} unchanged",
        flush=True,
    )

    previous = out / "warm.json"
    results = []
    pip = [python, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check"]
    for step, spec in enumerate(args.upgrade, 1):
        known = closures(cache, previous)
        modules = module_probes(previous)
        hashes = {path for closure in known.values() for path in closure or ()}
        before = {path: file_hash(path) for path in hashes}
        layout_before = layout(python, cache)
        subprocess.run([*pip, spec], check=True)
        changed = {path for path, digest in before.items() if file_hash(path) != digest}
        layout_changed = layout(python, cache) != layout_before
        expected = sorted(n for n, c in known.items() if c is not None and set(c) & changed)
        # Keyed by the whole environment (no closure), or not cached at all (a timeout).
        whole = sorted(n for n, c in known.items() if c is None)
        uncached = sorted(set(modules) - set(known))
        report, log = out / f"upgrade-{step}.json", out / f"upgrade-{step}.log"
        seconds, code = run_scan([*scan, "--json", str(report)], env, log)
        again = reprobed(previous, report)
        new_modules = module_probes(report)
        distribution = re.split(r"[=<>!~ \[]", spec, maxsplit=1)[0].lower().replace("_", "-")
        own = sorted(
            n
            for n, m in new_modules.items()
            if (m.get("distribution") or {}).get("name", "").lower().replace("_", "-")
            == distribution
        )
        unexplained = sorted(set(again) - set(expected) - set(own) - set(whole) - set(uncached))
        missed = sorted(set(expected) - set(again))
        print(
            f"upgrade {spec}: {seconds:.2f} s = {100 * seconds / t_cold:.1f}% of cold; "
            f"{len(again)} of {len(new_modules)} modules probed again "
            f"({unchanged_count(log)} unchanged); the distribution's own: {len(own)}; "
            f"expected from the closures: {len(expected)}; exit {code}",
            flush=True,
        )
        print(f"  changed files in some closure: {len(changed)}; layout changed: {layout_changed}")
        for path in sorted(changed)[:10]:
            print(f"    {path}")
        print(f"  probed again: {', '.join(again) if len(again) <= 30 else len(again)}")
        if whole or uncached:
            print(
                f"  entries keyed by the whole environment: {whole[:10]} ({len(whole)}); "
                f"not cached: {uncached[:10]} ({len(uncached)})"
            )
        if unexplained:
            print(f"  probed again without a changed closure file: {len(unexplained)}")
            for name in unexplained[:10]:
                print(f"    {name}")
        if missed:
            print(f"  NOT probed again although a closure file changed: {missed[:10]}")
        results.append(
            {
                "spec": spec,
                "seconds": seconds,
                "percent_of_cold": 100 * seconds / t_cold,
                "modules": len(new_modules),
                "previous_modules": len(modules),
                "probed_again": again,
                "own": own,
                "expected": expected,
                "whole_environment": whole,
                "not_cached": uncached,
                "unexplained": unexplained,
                "missed": missed,
                "changed_files": sorted(changed),
                "layout_changed": layout_changed,
            }
        )
        previous = report
    (out / "incremental.json").write_text(
        json.dumps(
            {
                "python": interp.label,
                "packages": packages,
                "cold": t_cold,
                "warm": t_warm,
                "warm_probed_again": warm_again,
                "upgrades": results,
            },
            indent=1,
        )
    )
    builds = helpers(cache)
    if len(builds) > 1:
        print(f"WARNING: the tool changed during the measurement: helpers {', '.join(builds)}")
    worst = max((r["percent_of_cold"] for r in results), default=0.0)
    ok = all(not r["unexplained"] and not r["missed"] for r in results) and worst < 10
    print(
        f"\nincremental: cold {t_cold:.1f} s, warm {t_warm:.2f} s; "
        + "; ".join(
            f"{r['spec']}: {len(r['probed_again'])}/{r['modules']} probed again in "
            f"{r['seconds']:.2f} s ({r['percent_of_cold']:.1f}% of cold)"
            for r in results
        )
        + f"; target (only the closure's importers, < 10% of cold) {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
