"""The result of ``scan --static-only``: what the files of a wheel or a path say about themselves.

Read by auditor/static/reader.py; printed by auditor/report/static_table.py and written by
auditor/report/static_json.py.  Never a verdict: no module was imported and no probe ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.model import StaticInfo

# What every rendering of a static analysis says, first and last (terminal and JSON alike).
NO_PROBE = "Static analysis only: no module was imported and no probe ran, so there is no verdict."
RUN_SCAN = "Run `subinterp-audit scan` in a sandbox for one."


@dataclass(frozen=True)
class TagInfo:
    """A wheel tag (cp313-cp313-linux_x86_64) or an extension suffix's ABI tag, explained."""

    tag: str
    meaning: str
    platform: str | None = None


@dataclass(frozen=True)
class StaticModule:
    """An extension module: what its file says without being loaded."""

    name: str
    file: str  # inside the wheel, or on this host
    suffix: str  # ".cpython-313-x86_64-linux-gnu.so"
    abi: str  # what the suffix means: "CPython 3.13", "stable ABI", ...
    info: StaticInfo
    exports: tuple[str, ...]  # the PyInit*/PyModExport* functions it exports
    init_guess: str
    note: str | None = None  # e.g. its init function does not match its name


@dataclass(frozen=True)
class OtherFile:
    """A file named like an extension module that is none, or that could not be read."""

    file: str
    name: str | None
    reason: str


@dataclass
class Artifact:
    path: str
    kind: str  # "wheel" | "path"
    tags: tuple[TagInfo, ...] = ()
    modules: list[StaticModule] = field(default_factory=list)
    others: list[OtherFile] = field(default_factory=list)
    refused: list[OtherFile] = field(default_factory=list)  # wheel members not extracted
