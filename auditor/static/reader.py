"""``scan --static-only``: read the files of an untrusted artifact into auditor/static/artifact.py.

Nothing of the audited code runs, and no target interpreter is needed.  A wheel is read as a
zip archive: each member that may be an extension module is copied (size-capped, under a name
of our own) into a temporary directory, read as ELF (auditor/static/elf.py,
auditor/static/binding.py) and deleted.  A directory or file PATH is walked on this host.
The result is the binding toolkit, the exported init functions, a guess of the init style
from the dynamic symbols, the C-API hints and the wheel's tags; never a verdict, since no
module was imported and no probe ran.  The names of modules and what their suffixes and the
wheel's tags mean: auditor/static/names.py.  Printing and writing them: auditor/static_scan.py.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from auditor._target import environment
from auditor.errors import AuditorError, SelectionError
from auditor.static.artifact import Artifact, OtherFile, StaticModule, TagInfo
from auditor.static.binding import inspect_binary
from auditor.static.elf import ElfView, Symbols, read_elf
from auditor.static.names import EXTENSION_FILE, file_module, member_module, suffix_abi, wheel_tags

# A wheel member larger than this is refused, never extracted (the largest extension modules
# of PyPI wheels, libtorch's and jaxlib's included, are far below).
MAX_MEMBER_BYTES = 512 * 1024 * 1024
_CHUNK = 1024 * 1024
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


def read_artifacts(wheels: Sequence[Path], paths: Sequence[Path]) -> list[Artifact]:
    """Read `wheels` (.whl files), then `paths` (directories or files), once all are checked.

    Raises SelectionError when there is nothing to read, for a missing file or a wheel that is
    not a zip archive.
    """
    if not wheels and not paths:
        raise SelectionError("--static-only needs a wheel, a directory or a file to read")
    for wheel in wheels:
        _check_wheel(wheel)
    for path in paths:
        if not path.exists():
            raise SelectionError(f"{path}: no such file or directory")
    return [read_wheel(wheel) for wheel in wheels] + [read_path(path) for path in paths]


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
    extension suffix.

    environment._package_init() asks the same of the target's own suffix lists (importlib.
    machinery); files read here may be built for another interpreter, so any suffix counts."""
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    for name in names:
        match = EXTENSION_FILE.fullmatch(name)
        if name in ("__init__.py", "__init__.pyc") or (match and match["stem"] == "__init__"):
            return True
    return False


def _root(directory: str) -> str:
    """The directory the walk names modules from: an enclosing site-packages (where namespace
    packages are too), else the directory above every regular package `directory` is in, so
    that site-packages/numpy/_core gives numpy._core._multiarray_umath either way.  (The target
    names modules from its sys.path entries instead: no sys.path here.)"""
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
    """(file, dotted name, suffix) for each file under `start` named like an extension.

    Unlike environment._walk(), every such file is reported: nothing is imported here, so there
    is no FileFinder preference among the suffixes of one name, and no shadowing."""
    for dirpath, dirnames, filenames in os.walk(start):
        rel = os.path.relpath(dirpath, root)
        packages = [] if rel == "." else rel.split(os.sep)
        dirnames[:] = sorted(d for d in dirnames if d.isidentifier())
        for filename in sorted(filenames):
            named = file_module(packages, filename)
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
        named = file_module([p for p in packages if p != "."], os.path.basename(absolute))
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
    own_suffix: str = environment.init_suffix(name)
    own = {prefix + own_suffix for prefix in ("PyInit", "PyModExport")}
    if not own & set(exports):
        # environment.module_name()'s "identifier": only C code imports it, by its name.
        if not name.rpartition(".")[2].isidentifier():
            why = f"not an extension module (no PyInit{own_suffix} for its name)"
            artifact.others.append(OtherFile(shown, name, why))
            return
        note = f"exports no PyInit{own_suffix}: importing it as {name} fails"
    artifact.modules.append(
        StaticModule(
            name, shown, suffix, suffix_abi(suffix), info, tuple(exports), init_guess(symbols), note
        )
    )
