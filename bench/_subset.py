"""Shared by the benchmark scripts: the target, its modules, and a subset of distributions.

A full real environment (~900 extension modules) takes too long on a small machine, so the
scripts accept ``--package NAME`` (only these distributions) and ``--exclude-package NAME``
(every distribution but these).  Either way the scan gets one ``--package`` per selected
distribution, so modules without a distribution (the standard library's) are left out.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--python", required=True, help="target interpreter (a venv's python)")
    parser.add_argument(
        "--tool",
        type=Path,
        metavar="DIR",
        help="run the subinterp-audit of this source tree (e.g. `git archive HEAD | tar -x "
        "-C DIR`) instead of the installed one: edits made to the checkout during a long "
        "measurement then change nothing",
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


TOOL: list[Path] = []  # the --tool directory, once use_tool() was called with one


def use_tool(directory: Path | None) -> None:
    """Import the tool from `directory` here, and run its scans from there (`-m auditor`
    puts the working directory first on sys.path, before the installed tool)."""
    if directory is not None:
        directory = directory.resolve()
        if not (directory / "auditor" / "__init__.py").exists():
            raise SystemExit(f"{directory} holds no auditor package")
        sys.path.insert(0, str(directory))
        TOOL.append(directory)


def helpers(cache: Path) -> list[str]:
    """The C helper builds in a cache: more than one per target means that the tool
    (its C helper or worker) changed during the measurement."""
    return sorted(p.name for p in (cache / "helpers").glob("*") if p.is_dir())


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def select(
    python: str, packages: list[str], excluded: list[str]
) -> tuple[Any, list[str], int, int]:
    """(interpreter, the --package names to pass, modules selected, modules in all)."""
    from auditor.probing.discover import discover
    from auditor.probing.target import describe, resolve

    interp = describe(resolve(python))
    found = discover(interp)
    names = sorted(
        {m.distribution.name for m in found.modules if m.distribution is not None},
        key=str.lower,
    )
    wanted = {_canonical(n) for n in (packages or names)}
    wanted -= {_canonical(p) for p in excluded}
    chosen = [n for n in names if _canonical(n) in wanted]
    count = sum(
        1
        for m in found.modules
        if m.distribution is not None and _canonical(m.distribution.name) in wanted
    )
    return interp, chosen, count, len(found.modules)


def describe_subset(total: int, chosen: int, excluded: list[str], packages: list[str]) -> str:
    if packages:
        return f"{chosen} modules of --package {', '.join(packages)}"
    what = ", ".join(excluded) if excluded else "nothing"
    return f"{chosen} of {total} modules (every distribution except {what}; no stdlib)"


def scan_command(python: str, jobs: int, timeout: float, packages: list[str]) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "auditor",
        "scan",
        "--python",
        python,
        "--jobs",
        str(jobs),
        "--timeout",
        str(timeout),
    ]
    for name in packages:
        command += ["--package", name]
    return command


def run_scan(command: list[str], env: dict[str, str], log: Path | None = None) -> tuple[float, int]:
    """(seconds, exit code) of one scan; its terminal output goes to `log`."""
    started = time.monotonic()
    cwd = TOOL[0] if TOOL else None
    with open(log or os.devnull, "wb") as out:
        code = subprocess.run(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd
        ).returncode
    return time.monotonic() - started, code
