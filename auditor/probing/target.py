"""Find the target interpreter (--python) and ask it to describe itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from packaging.version import InvalidVersion, Version

from auditor.errors import TargetError
from auditor.model import Interpreter

_VERSION_SPEC = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(t?)$")


def target_script(name: str) -> Path:
    """Path of a stdlib-only script that the target interpreter runs (auditor/_target/)."""
    return Path(str(resources.files("auditor") / "_target" / name))


def _venv_python(directory: Path) -> Path | None:
    for candidate in ("bin/python3", "bin/python", "Scripts/python.exe"):
        path = directory / candidate
        if path.is_file():
            return path
    return None


def _pyenv_versions() -> list[Path]:
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        try:
            root = subprocess.run(
                ["pyenv", "root"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            root = None
    if not root:
        root = str(Path.home() / ".pyenv")
    versions = Path(root) / "versions"
    return sorted(versions.iterdir()) if versions.is_dir() else []


def _find_version(spec: str) -> Path:
    match = _VERSION_SPEC.match(spec)
    assert match
    major, minor, patch, threaded = match.groups()
    short = f"{major}.{minor}{threaded}"
    wanted = f"{major}.{minor}" + (f".{patch}" if patch else "")
    # 1. PATH: python3.13 (or python3.13t); pyenv's shims only work for the selected
    #    versions, so those are found under pyenv's root instead.
    on_path = shutil.which(f"python{short}")
    if on_path and f"{os.sep}shims{os.sep}" in on_path:
        on_path = None
    if on_path and not patch:
        return Path(on_path)
    # 2. The active virtual environment.
    venv = os.environ.get("VIRTUAL_ENV")
    if venv and (py := _venv_python(Path(venv))):
        cfg = Path(venv) / "pyvenv.cfg"
        text = cfg.read_text(errors="replace") if cfg.is_file() else ""
        found = re.search(r"^version(?:_info)?\s*=\s*(\S+)", text, re.M)
        if found and (found.group(1) + ".").startswith(wanted + "."):
            return py
    # 3. pyenv: the newest release matching the spec (a pre-release such as 3.15.0rc1 only
    #    when no final release matches).
    best: tuple[bool, Version, Path] | None = None
    for entry in _pyenv_versions():
        name = entry.name
        if threaded != ("t" if name.endswith("t") else ""):
            continue
        try:
            version = Version(name.rstrip("t"))
        except InvalidVersion:
            continue
        if not (version.base_version + ".").startswith(wanted + "."):
            continue
        py = entry / "bin" / f"python{major}.{minor}{threaded}"
        rank = (not version.is_prerelease, version)
        if py.is_file() and (best is None or rank > best[:2]):
            best = (*rank, py)
    if best:
        return best[2]
    if on_path:
        return Path(on_path)
    raise TargetError(
        f"no Python {spec} found (looked for python{short} on PATH, in the active virtual "
        f"environment and under pyenv); pass the interpreter's path to --python"
    )


def resolve(spec: str | None) -> Path:
    """The interpreter named by --python: a path, a venv directory, a version, or a command."""
    if spec is None:
        venv = os.environ.get("VIRTUAL_ENV")
        if venv and (py := _venv_python(Path(venv))):
            return py
        return Path(sys.executable)
    path = Path(spec).expanduser()
    if path.is_dir():
        py = _venv_python(path)
        if py is None:
            raise TargetError(f"--python {spec}: directory holds no bin/python3")
        return py
    if path.exists() or os.sep in spec:
        if not path.is_file():
            raise TargetError(f"--python {spec}: no such file")
        if not os.access(path, os.X_OK):
            raise TargetError(f"--python {spec}: not executable")
        return path
    if _VERSION_SPEC.match(spec):
        return _find_version(spec)
    found = shutil.which(spec)
    if found:
        return Path(found)
    raise TargetError(f"--python {spec}: not a path, a version such as 3.13, or a command on PATH")


# Any Python, 2.x included, prints its name and version with this; anything else fails.
_WHAT_ARE_YOU = "import sys, platform; print('%s %d.%d' % ((platform.python_implementation(),) + tuple(sys.version_info[:2])))"  # noqa: E501
MIN_TARGET = (3, 8)


def _identify(executable: Path) -> None:
    """Say plainly what `executable` is when it is not a usable Python: not an interpreter,
    too old, or a pyenv shim for a version that is not installed."""
    shim = _pyenv_shim(executable)
    try:
        done = subprocess.run(
            [str(executable), "-c", _WHAT_ARE_YOU],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            errors="replace",
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TargetError(f"cannot run {executable}: {exc}") from exc
    words = done.stdout.split()
    if done.returncode != 0 or len(words) != 2 or "." not in words[1]:
        if shim:
            said = " ".join(done.stderr.split()).split(" Note:")[0][:200] or "no output"
            raise TargetError(
                f"{executable} is a pyenv shim that runs no Python here ({said}); pass the "
                f"interpreter itself, or a version such as --python 3.13"
            )
        raise TargetError(f"{executable} is not a Python interpreter")
    implementation, version = words
    major, minor = (int(part) for part in version.split(".")[:2])
    if (major, minor) < MIN_TARGET:
        raise TargetError(
            f"{executable} is {implementation} {version}, which is not supported: "
            f"{MIN_TARGET[0]}.{MIN_TARGET[1]}+ needed (3.12+ for isolated interpreters)"
        )


def _pyenv_shim(executable: Path) -> bool:
    try:
        with open(executable, "rb") as stream:
            head = stream.read(512)
    except OSError:
        return False
    return head.startswith(b"#!") and b"pyenv" in head


def describe(executable: Path) -> Interpreter:
    """Run the target once to learn its version, ABI, build flags and compiler settings."""
    _identify(executable)
    script = target_script("environment.py")
    try:
        done = subprocess.run(
            [str(executable), str(script), "describe"],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TargetError(f"cannot run {executable}: {exc}") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TargetError(f"{executable} could not describe itself: {last}")
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise TargetError(
            f"{executable} printed something unexpected while describing "
            f"itself (is it a Python interpreter?)"
        ) from exc
    if data["implementation"] != "cpython":
        raise TargetError(
            f"{executable} is {data['implementation']}: subinterpreters are a "
            f"CPython feature; audit with a CPython interpreter"
        )
    return Interpreter(
        executable=data["executable"] or str(executable),
        version=data["version"],
        version_info=tuple(data["version_info"]),
        build=data["build"],
        implementation=data["implementation"],
        soabi=data["soabi"],
        ext_suffix=data["ext_suffix"],
        gil_disabled=data["gil_disabled"],
        supports_isolated_interpreters=data.get("supports_isolated_interpreters"),
        platform=data["platform"],
        prefix=data["prefix"],
        base_prefix=data["base_prefix"],
        sys_path=tuple(data["sys_path"]),
        compiler=data["compiler"],
    )
