"""``scan --static-only``: what the files of an untrusted artifact say about themselves.

Nothing of the audited code runs, and no target interpreter is needed.  A wheel is read as a
zip archive: each member that may be an extension module is copied (size-capped, under a name
of our own) into a temporary directory, read as ELF (auditor/static/elf.py,
auditor/static/binding.py) and deleted.  A directory or file PATH is walked on this host.
The result is the binding toolkit, the exported init functions, a guess of the init style
from the dynamic symbols, the C-API hints and the wheel's tags; never a verdict, since no
module was imported and no probe ran.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from auditor import __version__
from auditor.errors import AuditorError, SelectionError, UsageError
from auditor.model import StaticInfo
from auditor.report.json import dump_json
from auditor.report.output import check_output, write_report
from auditor.static.binding import inspect_binary
from auditor.static.elf import ElfView, Symbols, read_elf

FORMAT_VERSION = 1
NO_PROBE = "Static analysis only: no module was imported and no probe ran, so there is no verdict."
RUN_SCAN = "Run `subinterp-audit scan` in a sandbox for one."

# A wheel member larger than this is refused, never extracted (the largest extension modules
# of PyPI wheels, libtorch's and jaxlib's included, are far below).
MAX_MEMBER_BYTES = 512 * 1024 * 1024
_CHUNK = 1024 * 1024

# The file names importlib's extension finder accepts (EXTENSION_SUFFIXES of CPython, PyPy and
# GraalPy on Linux, macOS and Windows), read without any interpreter: the stem up to the first
# dot, then an optional ABI tag, then .so or .pyd.
_EXTENSION_FILE = re.compile(
    r"(?P<stem>[^.]+)"
    r"(?P<suffix>(?:\.(?P<tag>cpython-[^.]+|abi3t?|pypy[^.]+|graalpy[^.]+|cp\d+t?-win[^.]*))?"
    r"\.(?:so|pyd))"
)
_SUFFIX_TAG = re.compile(r"cpython-(?P<major>\d)(?P<minor>\d+)(?P<flags>[a-z]*)(?:-.*)?")
_CP_VERSION = re.compile(r"(?:cp|py|pp|gr)(?P<major>\d)(?P<minor>\d*)")
_CP_ABI = re.compile(r"cp(?P<major>\d)(?P<minor>\d+)(?P<flags>[a-z]*)")
_DATA_LIBS = ("platlib", "purelib")
_SITE_DIRS = ("site-packages", "dist-packages")

# The init style guessed from the dynamic symbols alone (the init probe reads the real def).
GUESS_EXPORT_HOOK = "multi-phase (PEP 793 export hook)"
GUESS_MULTI = "multi-phase (probably)"
GUESS_SINGLE = "single-phase (probably)"
GUESS_UNKNOWN = "unknown"

# File magic: why a file that is not ELF is not read.
_FOREIGN_MAGIC = (
    (
        (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"),
        "Mach-O",
    ),
    ((b"\xca\xfe\xba\xbe",), "Mach-O universal"),
    ((b"MZ",), "PE (Windows)"),
)


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


def run_static(
    wheels: Sequence[Path], paths: Sequence[Path], json_path: Path | None, console: Console
) -> int:
    """Analyse `wheels` (.whl files) and `paths` (directories or files) statically, print the
    tables to `console`, write the JSON document to `json_path` if given; return the exit code
    (0: a static analysis has no verdict to fail on).

    Raises SelectionError for a missing file or a wheel that is not a zip archive, UsageError
    when `json_path` cannot be written (checked first), ReportError when writing it fails.
    """
    if json_path is not None:
        problem = check_output(json_path)
        if problem is not None:
            raise UsageError(f"cannot write the JSON report to {json_path}: {problem}")
    if not wheels and not paths:
        raise SelectionError("--static-only needs a wheel, a directory or a file to read")
    for wheel in wheels:
        _check_wheel(wheel)
    for path in paths:
        if not path.exists():
            raise SelectionError(f"{path}: no such file or directory")
    artifacts = [read_wheel(wheel) for wheel in wheels] + [read_path(path) for path in paths]
    render(artifacts, console)
    if json_path is not None:
        write_report(json_path, dump_json(static_dict(artifacts)))
    return 0


# --- wheels ---------------------------------------------------------------------------------


def _check_wheel(wheel: Path) -> None:
    if not wheel.is_file():
        what = "no such file" if not wheel.exists() else "not a file"
        raise SelectionError(f"{wheel}: {what}")
    try:
        parse_wheel_filename(wheel.name)
    except InvalidWheelFilename as exc:
        raise SelectionError(f"{wheel.name} is not a wheel file name: {exc}") from None
    if not zipfile.is_zipfile(wheel):
        raise SelectionError(f"{wheel}: not a wheel (not a zip archive)")


def wheel_tags(filename: str) -> tuple[TagInfo, ...]:
    """The tags of a wheel file name, one entry per interpreter-ABI pair with its platforms."""
    _, _, _, tags = parse_wheel_filename(filename)
    platforms: dict[tuple[str, str], list[str]] = {}
    for tag in sorted(tags, key=str):
        platforms.setdefault((tag.interpreter, tag.abi), []).append(tag.platform)
    return tuple(
        TagInfo(f"{interpreter}-{abi}", describe_tag(Tag(interpreter, abi, "any")), ", ".join(p))
        for (interpreter, abi), p in platforms.items()
    )


def describe_tag(tag: Tag) -> str:
    """What a wheel tag's interpreter and ABI mean: "CPython 3.13", "stable ABI, CPython 3.9+"."""
    interpreter, abi = tag.interpreter, tag.abi
    version = _CP_VERSION.fullmatch(interpreter)
    numbers = f"{version['major']}.{version['minor']}" if version and version["minor"] else None
    numbers = numbers or (version["major"] if version else None)
    python = {"cp": "CPython", "py": "Python", "pp": "PyPy", "gr": "GraalPy"}.get(
        interpreter[:2], interpreter
    )
    if abi == "none":
        if interpreter.startswith("py"):
            return "pure Python"
        return f"{python} {numbers}, no compiled module" if numbers else f"{python}, no ABI"
    if abi in ("abi3", "abi3t"):
        stable = "stable ABI" if abi == "abi3" else "free-threading stable ABI (PEP 803)"
        return f"{stable}, CPython {numbers}+" if numbers else stable
    match = _CP_ABI.fullmatch(abi)
    if match:
        return _cpython(match)
    return f"{python} {numbers}, ABI {abi}" if numbers else f"{python}, ABI {abi}"


def _cpython(match: re.Match[str]) -> str:
    """ "CPython 3.14, free-threaded" from the major, minor and ABI flags of a tag."""
    flags = match["flags"]
    extra = [text for flag, text in (("t", "free-threaded"), ("d", "debug build")) if flag in flags]
    return ", ".join([f"CPython {match['major']}.{match['minor']}", *extra])


def member_module(member: str) -> tuple[str, str] | None:
    """(dotted module name, suffix) of a wheel member that may be an extension module, or None
    when no import can reach it (metadata, scripts, a vendored library in "pkg.libs/")."""
    parts = member.split("/")
    if parts[0].endswith(".dist-info"):
        return None
    if parts[0].endswith(".data"):
        if len(parts) < 3 or parts[1] not in _DATA_LIBS:
            return None
        parts = parts[2:]
    return _module_name(parts[:-1], parts[-1])


def _module_name(packages: Sequence[str], filename: str) -> tuple[str, str] | None:
    """The name an extension file at packages/filename is imported by, and its suffix."""
    match = _EXTENSION_FILE.fullmatch(filename)
    if match is None or not all(part.isidentifier() for part in packages):
        return None
    stem = match["stem"]
    if stem == "__init__":
        return (".".join(packages), match["suffix"]) if packages else None
    return ".".join([*packages, stem]), match["suffix"]


def _unsafe(member: str) -> str | None:
    """Why a member name must not be extracted anywhere, or None."""
    if member.startswith("/") or re.match(r"[A-Za-z]:", member):
        return "absolute path: refused"
    if "\\" in member:
        return "backslash in its name: refused"
    if ".." in member.split("/"):
        return "path outside the wheel (..): refused"
    if "\0" in member:
        return "NUL in its name: refused"
    return None


def read_wheel(wheel: Path, max_bytes: int = MAX_MEMBER_BYTES) -> Artifact:
    """The extension modules of a wheel, each extracted alone to a temporary directory."""
    artifact = Artifact(str(wheel), "wheel", wheel_tags(wheel.name))
    try:
        with (
            zipfile.ZipFile(wheel) as archive,
            tempfile.TemporaryDirectory(prefix="subinterp-audit-static-") as tmp,
        ):
            for index, info in enumerate(archive.infolist()):
                if info.is_dir():
                    continue
                member = info.filename
                refused = _unsafe(member)
                if refused is not None:
                    artifact.refused.append(OtherFile(member, None, refused))
                    continue
                named = member_module(member)
                if named is None:
                    continue
                name, suffix = named
                if stat.S_ISLNK(info.external_attr >> 16):
                    artifact.others.append(OtherFile(member, name, "a symbolic link: not read"))
                    continue
                if info.file_size > max_bytes:
                    why = f"{_size(info.file_size)}, over the {_size(max_bytes)} limit: refused"
                    artifact.refused.append(OtherFile(member, name, why))
                    continue
                copy = Path(tmp) / f"{index}{suffix}"
                problem = extract_member(archive, info, copy, max_bytes)
                if problem is not None:
                    artifact.refused.append(OtherFile(member, name, problem))
                    continue
                try:
                    _read_file(artifact, copy, member, name, suffix)
                finally:
                    copy.unlink(missing_ok=True)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AuditorError(f"cannot read the wheel {wheel}: {exc}") from exc
    return artifact


def _size(count: int) -> str:
    mib = 1024 * 1024
    return f"{count / mib:.0f} MiB" if count >= mib else f"{count} bytes"


def extract_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, limit: int
) -> str | None:
    """Copy one member to `dest` (a name of our own), at most `limit` bytes; why not, or None."""
    written = 0
    try:
        with archive.open(info) as source, open(dest, "xb") as target:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    return f"larger than the {_size(limit)} limit: refused"
                target.write(chunk)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, ValueError) as exc:
        # a bad CRC, an encrypted member, an unknown compression method
        return f"cannot be extracted: {exc}"
    return None


# --- directories and files on this host -------------------------------------------------------


def _is_package(directory: str) -> bool:
    """Whether `directory` is a regular package: an __init__ module of source, bytecode or an
    extension suffix."""
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    for name in names:
        match = _EXTENSION_FILE.fullmatch(name)
        if name in ("__init__.py", "__init__.pyc") or (match and match["stem"] == "__init__"):
            return True
    return False


def _root(directory: str) -> str:
    """The directory the walk names modules from: an enclosing site-packages (where namespace
    packages are too), else the directory above every regular package `directory` is in, so
    that site-packages/numpy/_core gives numpy._core._multiarray_umath either way."""
    here = directory
    while True:
        if os.path.basename(here) in _SITE_DIRS:
            return here
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    while _is_package(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    return directory


def _walk(start: str, root: str) -> Iterator[tuple[str, str | None, str]]:
    """(file, dotted name, suffix) for each file under `start` named like an extension."""
    for dirpath, dirnames, filenames in os.walk(start):
        rel = os.path.relpath(dirpath, root)
        packages = [] if rel == "." else rel.split(os.sep)
        dirnames[:] = sorted(d for d in dirnames if d.isidentifier())
        for filename in sorted(filenames):
            named = _module_name(packages, filename)
            if named is not None:
                yield os.path.join(dirpath, filename), named[0], named[1]


def read_path(path: Path) -> Artifact:
    """The extension modules of a directory (walked) or of one file, read on this host."""
    artifact = Artifact(str(path), "path")
    absolute = os.path.abspath(path)
    if os.path.isdir(absolute):
        found = list(_walk(absolute, _root(absolute)))
    else:
        root = _root(os.path.dirname(absolute))
        packages = os.path.relpath(os.path.dirname(absolute), root).split(os.sep)
        named = _module_name([p for p in packages if p != "."], os.path.basename(absolute))
        if named is None:  # asked for by name: read it whatever it is called
            stem, _, rest = os.path.basename(absolute).partition(".")
            named = (stem, f".{rest}" if rest else "")
        found = [(absolute, named[0], named[1])]
    seen: set[str] = set()
    for file, name, suffix in found:
        real = os.path.realpath(file)
        if real in seen:
            continue
        seen.add(real)
        shown = os.path.relpath(file) if not os.path.isabs(path) else file
        _read_file(artifact, Path(file), shown, name, suffix)
    tags = {module.suffix: module.abi for module in artifact.modules}
    artifact.tags = tuple(TagInfo(suffix, abi) for suffix, abi in sorted(tags.items()))
    return artifact


# --- one file -------------------------------------------------------------------------------


def suffix_abi(suffix: str) -> str:
    """What an extension suffix says about the interpreters that load it."""
    match = _EXTENSION_FILE.fullmatch("x" + suffix)
    tag = match["tag"] if match else None
    if tag is None:
        return "untagged: any interpreter that finds it"
    if tag == "abi3":
        return "stable ABI"
    if tag == "abi3t":
        return "free-threading stable ABI (PEP 803)"
    cpython = _SUFFIX_TAG.fullmatch(tag)
    if cpython:
        return _cpython(cpython)
    if tag.startswith("pypy"):
        return "PyPy"
    if tag.startswith("graalpy"):
        return "GraalPy"
    return f"Windows ({tag})"


def init_suffix(name: str) -> str:
    """PyInit<suffix> for a module's last name component (PEP 489 for non-ASCII names)."""
    last = name.rpartition(".")[2]
    if last.isascii():
        return "_" + last
    return "U_" + last.encode("punycode").decode("ascii").replace("-", "_")


def init_guess(symbols: Symbols) -> str:
    """The init style the dynamic symbols suggest (PyModule_Create2 is also linked by some
    multi-phase code, so PyModuleDef_Init wins)."""
    if any(name.startswith("PyModExport_") for name in symbols.exports):
        return GUESS_EXPORT_HOOK
    if "PyModuleDef_Init" in symbols.imports:
        return GUESS_MULTI
    if "PyModule_Create2" in symbols.imports:
        return GUESS_SINGLE
    return GUESS_UNKNOWN


def _symbols(view: ElfView) -> Symbols:
    return view.symbols


def _foreign(path: Path) -> str:
    """Why a file that read_elf refused is not read."""
    try:
        with open(path, "rb") as stream:
            magic = stream.read(4)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if magic == b"\x7fELF":
        return "a damaged ELF file: not read"
    for magics, kind in _FOREIGN_MAGIC:
        if magic.startswith(magics):
            return f"a {kind} file: only ELF shared objects are read"
    return "not an extension module (not an ELF file)"


def _read_file(artifact: Artifact, file: Path, shown: str, name: str | None, suffix: str) -> None:
    symbols = read_elf(str(file), _symbols)
    info = inspect_binary(str(file)) if symbols is not None else None
    if symbols is None or info is None:
        artifact.others.append(OtherFile(shown, name, _foreign(file)))
        return
    exports = sorted(s for s in symbols.exports if s.startswith(("PyInit", "PyModExport")))
    if not exports or name is None:
        why = "not an extension module (it exports no PyInit_ or PyModExport_ function)"
        artifact.others.append(OtherFile(shown, name, why))
        return
    note = None
    own = {prefix + init_suffix(name) for prefix in ("PyInit", "PyModExport")}
    if not own & set(exports):
        if not name.rpartition(".")[2].isidentifier():  # only C code imports it, by its name
            why = f"not an extension module (no PyInit{init_suffix(name)} for its name)"
            artifact.others.append(OtherFile(shown, name, why))
            return
        note = f"exports no PyInit{init_suffix(name)}: importing it as {name} fails"
    artifact.modules.append(
        StaticModule(
            name, shown, suffix, suffix_abi(suffix), info, tuple(exports), init_guess(symbols), note
        )
    )


# --- output ---------------------------------------------------------------------------------


def _printable(text: str) -> str:
    """A name from an untrusted archive, safe for a terminal (no escape sequences)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def render(artifacts: Sequence[Artifact], console: Console) -> None:
    console.print(Text(NO_PROBE, style="bold"))
    for artifact in artifacts:
        console.print()
        console.print(Text(f"{_printable(artifact.path)} ({artifact.kind})", style="bold"))
        for tag in artifact.tags:
            where = f" on {tag.platform}" if tag.platform else ""
            console.print(Text(f"  {_printable(tag.tag)} ({tag.meaning}){where}"))
        modules = sorted(artifact.modules, key=lambda m: (m.name, m.file))
        if modules:
            table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
            # A module name is never split: the toolkit and init texts wrap instead.
            table.add_column("module", no_wrap=True)
            table.add_column("toolkit", overflow="fold", ratio=2)
            table.add_column("init (from symbols)", overflow="fold", ratio=2)
            table.add_column("red flags", justify="right", no_wrap=True)
            for module in modules:
                binding = module.info.binding
                toolkit = (
                    f"{binding.toolkit} {binding.version}" if binding.version else binding.toolkit
                )
                flags = len(module.info.red_flags)
                table.add_row(
                    Text(module.name),
                    Text(toolkit),
                    Text(module.init_guess),
                    Text(str(flags), style="red" if flags else "green"),
                )
            console.print(Padding(table, (0, 0, 0, 2)))
            for module in modules:
                if module.note:
                    console.print(Text(f"  {module.name}: {module.note}", style="yellow"))
        else:
            console.print(Text("  no extension module in it"))
        for other in sorted(artifact.others, key=lambda o: o.file):
            console.print(Text(f"  {_printable(other.file)}: {other.reason}", style="dim"))
        for refused in artifact.refused:
            console.print(Text(f"  {_printable(refused.file)}: {refused.reason}", style="red"))
    console.print()
    console.print(Text(f"{NO_PROBE} {RUN_SCAN}", style="bold"))


def _tag_dict(tag: TagInfo) -> dict[str, Any]:
    data: dict[str, Any] = {"tag": tag.tag, "meaning": tag.meaning}
    if tag.platform is not None:
        data["platforms"] = tag.platform.split(", ")
    return data


def _module_dict(module: StaticModule) -> dict[str, Any]:
    binding = module.info.binding
    return {
        "name": module.name,
        "file": module.file,
        "suffix": module.suffix,
        "abi": module.abi,
        "toolkit": binding.toolkit,
        "toolkit_version": binding.version,
        "evidence": list(binding.evidence),
        "exports": list(module.exports),
        "init_guess": module.init_guess,
        "imports_python_api": module.info.imports_python_api,
        "hints": [
            {"symbol": hint.symbol, "kind": hint.kind, "meaning": hint.meaning}
            for hint in module.info.hints
        ],
        "note": module.note,
    }


def _other_dict(other: OtherFile) -> dict[str, Any]:
    return {"file": other.file, "name": other.name, "reason": other.reason}


def static_dict(artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """The JSON document of a static analysis (kind "static": not a scan report)."""
    return {
        "version": FORMAT_VERSION,
        "kind": "static",
        "tool": {"name": "subinterp-audit", "version": __version__},
        "meta": {"generated": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "no_probe_ran": True,
        "note": f"{NO_PROBE} {RUN_SCAN}",
        "artifacts": [
            {
                "path": artifact.path,
                "kind": artifact.kind,
                "tags": [_tag_dict(tag) for tag in artifact.tags],
                "modules": [
                    _module_dict(m)
                    for m in sorted(artifact.modules, key=lambda m: (m.name, m.file))
                ],
                "not_extensions": [
                    _other_dict(o) for o in sorted(artifact.others, key=lambda o: o.file)
                ],
                "refused": [_other_dict(r) for r in artifact.refused],
            }
            for artifact in artifacts
        ],
    }
