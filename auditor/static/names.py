"""What names say before a byte is read: the module an extension file is imported as, what its
suffix says about the interpreters that load it, and what a wheel's tags mean.

The rules the target applies to its own files live in auditor/_target/environment.py (run BY
the target, standard library only); where a rule is the same here, it is called from there:
environment.module_name() (a file's stem and packages -> the dotted name) and environment._abi()
(which stable ABI a suffix names); auditor/static/reader.py calls environment.init_suffix()
(PyInit<suffix>).  What differs does so on purpose, and is said where it does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from packaging.tags import Tag
from packaging.utils import parse_wheel_filename

from auditor._target import environment
from auditor.static.artifact import TagInfo

# The file names importlib's extension finder accepts (EXTENSION_SUFFIXES of CPython, PyPy and
# GraalPy on Linux, macOS and Windows), read without any interpreter: the stem up to the first
# dot, then an optional ABI tag, then .so or .pyd.  The target's walk matches the target's own
# importlib.machinery.EXTENSION_SUFFIXES instead; here the files may be built for any
# interpreter and platform, and the host's list would be the wrong one.
EXTENSION_FILE = re.compile(
    r"(?P<stem>[^.]+)"
    r"(?P<suffix>(?:\.(?P<tag>cpython-[^.]+|abi3t?|pypy[^.]+|graalpy[^.]+|cp\d+t?-win[^.]*))?"
    r"\.(?:so|pyd))"
)
_SUFFIX_TAG = re.compile(r"cpython-(?P<major>\d)(?P<minor>\d+)(?P<flags>[a-z]*)(?:-.*)?")
_CP_VERSION = re.compile(r"(?:cp|py|pp|gr)(?P<major>\d)(?P<minor>\d*)")
_CP_ABI = re.compile(r"cp(?P<major>\d)(?P<minor>\d+)(?P<flags>[a-z]*)")
_DATA_LIBS = ("platlib", "purelib")
# What each stable ABI of environment._abi() is called.
_STABLE_ABI = {
    "stable": "stable ABI",
    "stable_free_threading": "free-threading stable ABI (PEP 803)",
}


def member_module(member: str) -> tuple[str, str] | None:
    """(dotted module name, suffix) of a wheel member that may be an extension module, or None
    when no import can reach it (metadata, scripts, a vendored library in "pkg.libs/").

    A wheel's layout, not a sys.path walk (so not in environment.py): .dist-info is metadata,
    and of <name>.data/ only the platlib and purelib trees are installed where imports look."""
    parts = member.split("/")
    if parts[0].endswith(".dist-info"):
        return None
    if parts[0].endswith(".data"):
        if len(parts) < 3 or parts[1] not in _DATA_LIBS:
            return None
        parts = parts[2:]
    return file_module(parts[:-1], parts[-1])


def file_module(packages: Sequence[str], filename: str) -> tuple[str, str] | None:
    """The name an extension file at packages/filename is imported by, and its suffix.

    The packages are checked here: a wheel's member names are not a walk, which (here as in
    environment.py) never enters a directory whose name is not an identifier."""
    match = EXTENSION_FILE.fullmatch(filename)
    if match is None or not all(part.isidentifier() for part in packages):
        return None
    named: tuple[str, bool] | None = environment.module_name(list(packages), match["stem"])
    return (named[0], match["suffix"]) if named is not None else None


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
    # A wheel's ABI tag (PEP 425), exactly abi3 or abi3t: not an extension suffix.
    if abi in ("abi3", "abi3t"):
        stable = _STABLE_ABI["stable" if abi == "abi3" else "stable_free_threading"]
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


def suffix_abi(suffix: str) -> str:
    """What an extension suffix says about the interpreters that load it.

    Which stable ABI, if any, is environment._abi()'s rule (ExtensionModule.abi of a scan); the
    rest (versions, PyPy, GraalPy, Windows) only a reader of foreign files needs."""
    match = EXTENSION_FILE.fullmatch("x" + suffix)
    if match is None or match["tag"] is None:
        return "untagged: any interpreter that finds it"
    tag = match["tag"]
    stable: str = environment._abi(match["suffix"])
    if stable in _STABLE_ABI:
        return _STABLE_ABI[stable]
    cpython = _SUFFIX_TAG.fullmatch(tag)
    if cpython:
        return _cpython(cpython)
    if tag.startswith("pypy"):
        return "PyPy"
    if tag.startswith("graalpy"):
        return "GraalPy"
    return f"Windows ({tag})"
