"""The survey's list of packages: the requirements file, parsed, and its shards for CI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from auditor.errors import UsageError


@dataclass(frozen=True)
class Requested:
    """One line of the requirements file: the distribution and the requirement as written."""

    package: NormalizedName
    spec: str


def read_requirements(path: Path) -> list[Requested]:
    """The requirements of a survey list: one per line, `NAME` or `NAME<op>VERSION` (extras
    allowed); blank lines and comments (`#`) are skipped.  Raises UsageError naming the line
    for pip options, URLs, environment markers and a package listed twice."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    found: list[Requested] = []
    lines: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        if line.startswith("-"):
            raise UsageError(f"{where}: pip options ({line.split()[0]}) are not supported here")
        try:
            parsed = Requirement(line)
        except InvalidRequirement as exc:
            said = str(exc).splitlines()[0]  # packaging adds the line and a caret below
            raise UsageError(f"{where}: {line!r} is not a requirement: {said}") from None
        if parsed.url:
            raise UsageError(f"{where}: give a name and a version, not a URL")
        if parsed.marker is not None:
            raise UsageError(f"{where}: environment markers are not supported in a survey list")
        name = canonicalize_name(parsed.name)
        if name in lines:
            raise UsageError(f"{where}: {name} is already listed on line {lines[name]}")
        lines[name] = number
        found.append(Requested(name, line))
    return found


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` -> (I, N), 1 <= I <= N.  Raises UsageError."""
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise UsageError(f"--shard {text}: give I/N, e.g. 2/4") from None
    if not 1 <= i <= n:
        raise UsageError(f"--shard {text}: I must be between 1 and N")
    return i, n


def shard(items: Iterable[Requested], index: int, count: int) -> list[Requested]:
    """Shard `index` of `count` (1-based): of the requirements sorted by canonical name,
    every `count`-th starting with the `index`-th.  The shards are disjoint, cover the list,
    and which names a shard holds depends only on the set of names; they are surveyed in the
    file's order (a list in rank order: a run cut short has done the most used first)."""
    items = list(items)
    chosen = {r.package for r in sorted(items, key=lambda r: r.package)[index - 1 :: count]}
    return [r for r in items if r.package in chosen]
