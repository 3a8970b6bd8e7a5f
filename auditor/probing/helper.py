"""Build (once per interpreter build, cached) the C helper for the target interpreter."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import HelperBuildError
from auditor.model import Interpreter
from auditor.probing.target import target_script

HELPER_MODULE = "_subinterp_probe"


@dataclass(frozen=True)
class Helper:
    """A built helper: the directory holding the extension and the worker script."""

    directory: Path

    @property
    def worker(self) -> Path:
        return self.directory / "worker.py"


def helper_source() -> Path:
    """native/probe.c: shipped inside the package (wheel) or beside it (source checkout)."""
    here = Path(__file__).resolve().parents[1]  # auditor/
    for candidate in (here / "native" / "probe.c", here.parent / "native" / "probe.c"):
        if candidate.is_file():
            return candidate
    raise HelperBuildError("the C helper's source native/probe.c is missing from this install")


def cache_root() -> Path:
    """The user cache directory of subinterp-audit ($SUBINTERP_AUDIT_CACHE overrides it)."""
    explicit = os.environ.get("SUBINTERP_AUDIT_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "subinterp-audit"


def _key(interp: Interpreter, sources: list[Path]) -> str:
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.read_bytes())
    # The installation, not the executable: every venv of one interpreter shares its helper
    # (a throwaway venv per wheel or survey package must not compile one each).
    facts = [interp.base_prefix, interp.build, interp.soabi, interp.gil_disabled, interp.compiler]
    digest.update(json.dumps(facts, sort_keys=True).encode())
    return digest.hexdigest()[:20]


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except OSError as exc:
        raise HelperBuildError(f"{what}: cannot run {command[0]}: {exc}") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        detail = output[-1] if output else f"exit code {done.returncode}"
        raise HelperBuildError(f"{what} failed: {detail}\n  command: {shlex.join(command)}")


def _check_toolchain(interp: Interpreter) -> tuple[list[str], list[str], Path]:
    compiler = interp.compiler
    cc = shlex.split(compiler.get("cc") or "cc")
    ldshared = shlex.split(compiler.get("ldshared") or f"{cc[0]} -shared")
    if shutil.which(cc[0]) is None:
        raise HelperBuildError(
            f"no C compiler: {cc[0]!r} (the compiler Python {interp.version} was built with) is "
            f"not on PATH; install it (Debian/Ubuntu: apt-get install gcc)"
        )
    include = Path(compiler.get("include") or "")
    if not (include / "Python.h").is_file():
        short = ".".join(map(str, interp.short_version))
        raise HelperBuildError(
            f"no Python headers: {include / 'Python.h'} is missing; install the development "
            f"files of Python {short} (Debian/Ubuntu: apt-get install python{short}-dev)"
        )
    return cc, ldshared, include


def build_helper(interp: Interpreter) -> Helper:
    """The helper for `interp`, compiled now unless a build for this exact interpreter exists."""
    source = helper_source()
    worker = target_script("worker.py")
    key = _key(interp, [source, worker])
    final = cache_root() / "helpers" / f"{interp.soabi or 'python'}-{key}"
    suffix = interp.ext_suffix or ".so"
    if (final / f"{HELPER_MODULE}{suffix}").is_file() and (final / "worker.py").is_file():
        return Helper(final)
    cc, ldshared, include = _check_toolchain(interp)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Build in a private directory and rename it into place: concurrent scans never see a
    # half-built helper, and the loser of a race simply uses the winner's build.
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".build-") as tmp:
        work = Path(tmp) / "helper"
        work.mkdir()
        obj = work / "probe.o"
        flags = shlex.split(interp.compiler.get("cflags") or "")
        ccshared = shlex.split(interp.compiler.get("ccshared") or "-fPIC")
        _run(
            [*cc, *flags, *ccshared, f"-I{include}", "-c", str(source), "-o", str(obj)],
            f"compiling the C helper for Python {interp.version}",
        )
        _run(
            [*ldshared, str(obj), "-o", str(work / f"{HELPER_MODULE}{suffix}")],
            f"linking the C helper for Python {interp.version}",
        )
        obj.unlink()
        shutil.copy2(worker, work / "worker.py")
        try:
            os.rename(work, final)
        except OSError:
            if not (final / "worker.py").is_file():
                raise
    return Helper(final)
