#!/usr/bin/env python3
"""What the static reader costs per shared object, against reading the same bytes.

    python3 bench/static_read.py DIR [DIR ...]

Every ``*.so`` under the directories (e.g. a venv's site-packages) goes through
``auditor.static.binding.inspect_binary`` (ELF sections, dynamic symbols, strings, toolkit),
timed per file; the baseline, measured in the same run on the same files, is reading each file
whole (the page cache warm for both: the files are read once before either is timed).  Prints
the total, the ratio to the baseline and the five slowest files.  Wall time: run it on a quiet
machine.  (The speed used to be a test's assertion; a timing is a benchmark's figure, not a
test's verdict.)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.static.binding import inspect_binary  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    files = sorted({p for d in argv for p in Path(d).rglob("*.so") if p.is_file()})
    if not files:
        print(f"no *.so under {', '.join(argv)}", file=sys.stderr)
        return 2
    for path in files:  # warm the page cache for both measurements
        path.read_bytes()
    started = time.perf_counter()
    size = sum(len(path.read_bytes()) for path in files)
    baseline = time.perf_counter() - started
    per_file: list[tuple[float, Path]] = []
    started = time.perf_counter()
    for path in files:
        one = time.perf_counter()
        inspect_binary(str(path))
        per_file.append((time.perf_counter() - one, path))
    total = time.perf_counter() - started
    print(f"{len(files)} shared objects, {size / 2**20:.0f} MiB")
    print(f"baseline (read every file whole): {baseline:.2f} s")
    print(f"inspect_binary, every file:        {total:.2f} s ({total / baseline:.1f} x baseline)")
    print("slowest:")
    for seconds, path in sorted(per_file, reverse=True)[:5]:
        print(f"  {seconds:.3f} s  {path.stat().st_size / 2**20:6.1f} MiB  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
