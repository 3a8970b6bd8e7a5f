"""Throwaway environments: a venv of a target interpreter with one requirement installed,
deleted afterwards.  Used to audit a wheel (scan WHEEL), a release on the index (scan --pypi)
and each package of a survey.

The venv is made by the target's own ``venv`` module and filled by its own pip, so that
what gets installed is what a user of that interpreter would get (its tags, its markers).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)

from auditor.errors import InstallError

# pip's own messages are long; the error keeps the end, where pip says what failed.
_ERROR_LINES = 6
INSTALL_TIMEOUT = 900.0  # seconds for one pip install (a big wheel on a slow index)


@dataclass(frozen=True)
class Installable:
    """What to install: a wheel file or a requirement for the index, and the distribution
    whose modules are audited (its dependencies are installed, not audited)."""

    spec: str  # a path to a .whl, or a requirement such as "numpy==2.2.6"
    distribution: NormalizedName

    @property
    def is_wheel(self) -> bool:
        return self.spec.endswith(".whl")


@dataclass(frozen=True)
class InstallOptions:
    """pip's source options."""

    find_links: tuple[str, ...] = ()
    no_index: bool = False
    binary_only: bool = False  # wheels only (no build from an sdist): what a survey wants


def wheel(path: str | Path) -> Installable:
    """A wheel file to audit; its distribution comes from its file name."""
    file = Path(path)
    if not file.is_file():
        raise InstallError(f"{file}: no such wheel file")
    try:
        name, _, _, _ = parse_wheel_filename(file.name)
    except InvalidWheelFilename as exc:
        raise InstallError(f"{file.name} is not a wheel file name: {exc}") from None
    return Installable(str(file.resolve()), name)


def requirement(text: str) -> Installable:
    """A requirement for the index, e.g. "orjson" or "numpy==2.2.6"."""
    try:
        parsed = Requirement(text)
    except InvalidRequirement as exc:
        raise InstallError(
            f"{text!r} is not a requirement (NAME or NAME==VERSION): {exc}"
        ) from None
    if parsed.url:
        raise InstallError(f"{text!r}: give a name and a version, not a URL")
    return Installable(text, canonicalize_name(parsed.name))


def wheel_pythons(path: str) -> list[str]:
    """The CPython versions a wheel can be installed on, as --python specs, best first:
    its own version(s) ("3.13", "3.14t"); for an abi3 wheel, every version from its minimum
    (newest first); for a pure wheel, none (any target will do)."""
    _, _, _, tags = parse_wheel_filename(Path(path).name)
    exact: set[str] = set()
    minimum: dict[str, int] = {}  # "" or "t" -> the lowest minor version of an abi3 tag
    for tag in tags:
        if not tag.interpreter.startswith("cp3"):
            continue
        version = (3, int(tag.interpreter[3:]))
        if tag.abi in ("abi3", "abi3t"):  # abi3t: the free-threaded stable ABI (3.15+)
            threaded = "t" if tag.abi == "abi3t" else ""
            minimum[threaded] = min(minimum.get(threaded, version[1]), version[1])
        elif tag.abi.startswith("cp3"):
            exact.add(f"3.{version[1]}" + ("t" if tag.abi.endswith("t") else ""))
    # Newest first; of one version, the default (GIL) build first.
    specs = sorted(exact, key=lambda s: (-int(s[2:].rstrip("t")), s.endswith("t")))
    for threaded, low in sorted(minimum.items()):
        specs += [
            f"3.{minor}{threaded}"
            for minor in range(SUPPORTED_MINORS[1], low - 1, -1)
            if f"3.{minor}{threaded}" not in specs
        ]
    return specs


# The newest and oldest CPython minor versions an abi3 wheel is tried on, newest first.
SUPPORTED_MINORS = (8, 15)


@contextmanager
def installed(
    python: Path, item: Installable, options: InstallOptions = InstallOptions()
) -> Iterator[Path]:
    """A new venv of `python` with `item` and its dependencies installed; yields the venv's
    interpreter and deletes the venv afterwards (also on error or Ctrl-C)."""
    root = Path(tempfile.mkdtemp(prefix="subinterp-audit-env-"))
    try:
        venv = root / "venv"
        _run([str(python), "-m", "venv", str(venv)], f"cannot create a venv of {python}")
        interpreter = venv / "bin" / "python"
        command = [str(interpreter), "-m", "pip", "install", "--disable-pip-version-check"]
        command += ["--no-input", "--progress-bar", "off"]
        for link in options.find_links:
            command += ["--find-links", link]
        if options.no_index:
            command.append("--no-index")
        if options.binary_only:
            command += ["--only-binary", ":all:"]
        _run([*command, item.spec], f"cannot install {item.spec} into a venv of {python}")
        yield interpreter
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(command: Sequence[str], what: str) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    environ.pop("VIRTUAL_ENV", None)
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=environ,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InstallError(f"{what}: no answer in {INSTALL_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise InstallError(f"{what}: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR:")] or lines[-_ERROR_LINES:]
        raise InstallError(f"{what}: " + " / ".join(e.strip() for e in errors[:_ERROR_LINES]))
