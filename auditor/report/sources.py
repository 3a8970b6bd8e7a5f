"""Where a module is, for CI annotations and SARIF: its source in the project, or its file in
the environment.

An audited module is a file in site-packages; code-scanning UIs and GitHub annotations can
only point at files of the repository.  `SourceIndex` walks the project's tree once and reads
which modules its C/C++, Cython and Rust files define, without building or importing anything:

- C/C++: a ``PyInit_<name>`` / ``PyModExport_<name>`` function definition, a ``PyModuleDef``
  whose ``m_name`` (or ``Py_mod_name`` slot) is the module's dotted or last name, and the
  ``PYBIND11_MODULE`` / ``NB_MODULE`` / ``BOOST_PYTHON_MODULE`` macros;
- Cython: ``<name>.pyx`` (best where its folders match the package);
- Rust/PyO3: a ``#[pymodule]`` function or module named ``<name>``, or named so by
  ``#[pyo3(name = "...")]`` / ``#[pymodule(name = "...")]``.

Comments (and, where names are matched, string literals) are blanked before matching, so a
comment or a declaration that mentions ``PyInit_x`` defines nothing.  `installed_location`
gives the module file's path relative to the environment instead, when no source is found.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePath

SOURCE_SUFFIXES = frozenset({".c", ".cc", ".cpp", ".cxx", ".pyx", ".rs"})
# Folders that hold no project source: environments, build output, caches, other tools'.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "build",
        "dist",
        "node_modules",
        "site-packages",
        "dist-packages",
        "__pycache__",
        ".tox",
        ".nox",
    }
)
# A folder holding one of these is an environment or a cache (Cargo's target/, for one).
SKIP_MARKERS = ("pyvenv.cfg", "CACHEDIR.TAG")
# Folders whose files are less likely the module's definition than the project's own.
INCIDENTAL_DIRS = frozenset(
    {
        "test",
        "tests",
        "testing",
        "fixtures",
        "example",
        "examples",
        "doc",
        "docs",
        "bench",
        "benchmark",
        "benchmarks",
        "vendor",
        "vendored",
        "third_party",
        "extern",
        "external",
        "subprojects",
    }
)
MAX_ENTRIES = 100_000  # directory entries looked at: a huge tree is indexed in part
MAX_FILE_BYTES = 16 * 1024 * 1024  # a larger "source" is generated or not source at all

# Cheap tests on the raw bytes before a file is decoded and tokenised.
_C_MARKERS = (b"PyInit_", b"PyModExport_", b"PyModuleDef", b"Py_mod_name", b"_MODULE")
_RUST_MARKER = b"pymodule"

# C and Rust lexing, just enough to blank comments and string contents (offsets are kept).
_TOKENS = re.compile(
    r"""(?P<raw>(?<![\w])b?r(?P<hashes>\#*)".*?"(?P=hashes))"""
    r"""|(?P<string>"(?:\\.|[^"\\\n])*")"""
    r"""|(?P<char>'(?:\\[^'\n]{1,10}|[^'\\\n])')"""
    r"""|(?P<comment>/\*.*?(?:\*/|\Z)|//[^\n]*)""",
    re.S,
)
_INIT_DEF = re.compile(
    # `PyInit_x(void) {`, possibly with preprocessor lines before the brace (Cython's output);
    # a declaration ends in `;` and a use (`PyImport_AppendInittab("x", PyInit_x)`) has no `(`.
    r"\b(?:PyInit|PyModExport)_(\w+)\s*\(\s*(?:void\s*)?\)\s*(?:#[^\n]*\n\s*)*\{"
)
_MACRO_DEF = re.compile(r"\b(?:PYBIND11_MODULE|NB_MODULE|BOOST_PYTHON_MODULE)\s*\(\s*(\w+)\s*[,)]")
_DEF_NAME = re.compile(
    r'(?:\.m_name\s*=\s*|\bPyModuleDef_HEAD_INIT\s*,\s*|\{\s*Py_mod_name\s*,\s*)"([\w.]+)"'
)
_RUST_ITEM = re.compile(
    r"(?P<attrs>(?:\#!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\s*)+)"
    r"(?:pub(?:\s*\([^)]*\))?\s+)?(?:unsafe\s+)?(?P<kind>fn|mod)\s+(?:r\#)?(?P<name>\w+)"
)
_RUST_PYMODULE = re.compile(
    r"\#\[\s*(?:::\s*)?(?:pyo3\s*::\s*)?pymodule\b\s*(?:\((?P<args>.*?)\))?\s*\]", re.S
)
_RUST_PYO3 = re.compile(r"\#\[\s*(?:::\s*)?pyo3\s*\((?P<args>.*?)\)\s*\]", re.S)
_RUST_NAME_ARG = re.compile(r'\bname\s*=\s*(?:"(\w+)"|(\w+))')


@dataclass(frozen=True)
class Definition:
    """A module name a file defines, and where."""

    name: str  # `last` for exports (PyInit_<last>, #[pymodule], .pyx); the string for m_name
    line: int
    export: bool  # an init/export function, a binding macro, #[pymodule] or a .pyx file


@dataclass(frozen=True)
class SourceLocation:
    """The file of the project that defines a module, relative to the indexed root."""

    path: str  # POSIX, relative to SourceIndex.root
    line: int


@dataclass(frozen=True)
class InstalledLocation:
    """A module file relative to a directory of its environment (never absolute)."""

    root: str  # the directory (absolute)
    relative: str  # POSIX path below root
    kind: str  # "prefix": the target's sys.prefix; "import root": the sys.path entry


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _blank(text: str, strings: bool) -> str:
    """Comments (and with `strings`, string contents) replaced by spaces, newlines kept."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if match.group("comment") is not None:
            return re.sub(r"[^\n]", " ", token)
        if strings and match.group("string") is not None:
            return '"' + re.sub(r"[^\n]", " ", token[1:-1]) + '"'
        return token

    return _TOKENS.sub(replace, text)


def c_definitions(text: str) -> list[Definition]:
    """The modules a C or C++ file defines."""
    code = _blank(text, strings=False)
    bare = _blank(code, strings=True)
    found = [
        Definition(m.group(1), _line(bare, m.start(1)), True) for m in _INIT_DEF.finditer(bare)
    ]
    for match in _MACRO_DEF.finditer(bare):
        start = bare.rfind("\n", 0, match.start()) + 1
        if not bare[start : match.start()].lstrip().startswith("#"):  # not its #define
            found.append(Definition(match.group(1), _line(bare, match.start(1)), True))
    found += [
        Definition(m.group(1), _line(code, m.start(1)), False) for m in _DEF_NAME.finditer(code)
    ]
    return found


def rust_definitions(text: str) -> list[Definition]:
    """The modules a Rust file defines with PyO3's #[pymodule]."""
    code = _blank(text, strings=False)
    found = []
    for item in _RUST_ITEM.finditer(code):
        attrs = item.group("attrs")
        pymodule = _RUST_PYMODULE.search(attrs)
        if pymodule is None:
            continue
        name = item.group("name")
        options = [pymodule.group("args") or ""]
        options += [m.group("args") for m in _RUST_PYO3.finditer(attrs)]
        for option in options:
            named = _RUST_NAME_ARG.search(option)
            if named:
                name = named.group(1) or named.group(2)
        found.append(Definition(name, _line(code, item.start("kind")), True))
    return found


def _definitions(path: Path, suffix: str) -> list[Definition]:
    if suffix == ".pyx":
        return [Definition(path.stem, 1, True)]
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return []
        data = path.read_bytes()
    except OSError:
        return []
    if suffix == ".rs":
        if _RUST_MARKER not in data:
            return []
        return rust_definitions(data.decode("utf-8", "replace"))
    if not any(marker in data for marker in _C_MARKERS):
        return []
    return c_definitions(data.decode("utf-8", "replace"))


def _generated(path: Path, suffix: str) -> bool:
    """Cython's C output: the .pyx is the source, the .c a build product."""
    if suffix == ".pyx" or suffix == ".rs":
        return False
    try:
        with path.open("rb") as stream:
            return b"Generated by Cython" in stream.read(512)
    except OSError:
        return False


@dataclass
class SourceIndex:
    """The module definitions of one tree, read in one walk (`SourceIndex.build`)."""

    root: Path
    by_name: dict[str, list[tuple[str, Definition, bool]]] = field(default_factory=dict)
    truncated: bool = False  # the walk stopped at MAX_ENTRIES

    @classmethod
    def build(cls, root: Path, max_entries: int = MAX_ENTRIES) -> SourceIndex:
        root = root.resolve()
        by_name: dict[str, list[tuple[str, Definition, bool]]] = defaultdict(list)
        seen = 0
        pending = [root]
        truncated = False
        while pending and not truncated:
            folder = pending.pop()
            try:
                with os.scandir(folder) as scan:
                    entries = sorted(scan, key=lambda entry: entry.name)
            except OSError:
                continue
            if folder != root and any(e.name in SKIP_MARKERS for e in entries):
                continue
            subfolders = []
            for entry in entries:
                seen += 1
                if seen > max_entries:
                    truncated = True
                    break
                name = entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not (name.startswith(".") or name in SKIP_DIRS):
                            subfolders.append(Path(entry.path))
                        continue
                    if not entry.is_file():
                        continue
                except OSError:
                    continue
                suffix = os.path.splitext(name)[1].lower()
                if suffix not in SOURCE_SUFFIXES:
                    continue
                path = Path(entry.path)
                definitions = _definitions(path, suffix)
                if not definitions:
                    continue
                relative = path.relative_to(root).as_posix()
                generated = _generated(path, suffix)
                for definition in definitions:
                    by_name[definition.name].append((relative, definition, generated))
            pending.extend(reversed(subfolders))
        return cls(root, dict(by_name), truncated)

    def find(self, module: str, relative_to: Path | None = None) -> SourceLocation | None:
        """The file that defines `module` (dotted), or None when none does or several do alike.

        Its path is relative to the index's root, or to `relative_to` (None when it is not
        below that).

        Files are ranked by: not generated (Cython's .c), not in tests/examples/docs/vendored
        folders, a PyModuleDef naming the full dotted name, how many of its trailing folders
        match the package (``mypkg/_speedups.pyx``), an export (PyInit_, #[pymodule], .pyx).
        A tie between the best two files is no answer: better the installed file than a
        wrong source.
        """
        parts = module.split(".")
        last = parts[-1]
        evidence: dict[str, list[tuple[Definition, bool]]] = defaultdict(list)
        for name in {module, last}:
            for relative, definition, generated in self.by_name.get(name, ()):
                if definition.name == last or not definition.export:
                    evidence[relative].append((definition, generated))
        ranked = []
        for relative, found in evidence.items():
            path = PurePath(relative)
            exports = [d for d, _ in found if d.export and d.name == last]
            layout = 0
            names = [*reversed(path.parent.parts)]
            if path.stem != "__init__":  # a package's __init__ extension is named by its folder
                names.insert(0, path.stem)
            for expected, actual in zip(reversed(parts), names, strict=False):
                if expected != actual:
                    break
                layout += 1
            score = (
                not any(generated for _, generated in found),
                not INCIDENTAL_DIRS.intersection(path.parent.parts),
                any(d.name == module for d, _ in found if not d.export),
                layout,
                bool(exports),
            )
            line = min(d.line for d in exports) if exports else min(d.line for d, _ in found)
            ranked.append((score, relative, line))
        if not ranked:
            return None
        ranked.sort(key=lambda item: item[0], reverse=True)
        if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
            return None
        _, relative, line = ranked[0]
        if relative_to is not None:
            try:
                relative = (self.root / relative).relative_to(relative_to.resolve()).as_posix()
            except ValueError:
                return None
        return SourceLocation(relative, line)


def default_root() -> Path:
    """The project's tree: $GITHUB_WORKSPACE under GitHub Actions, else the current folder."""
    return Path(os.environ.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()


def installed_location(path: str, module: str, prefix: str | None) -> InstalledLocation:
    """`path` relative to the environment's `prefix` (sys.prefix: the venv), or, when it is
    elsewhere (the stdlib of a venv's base, a scanned folder), to the sys.path entry it is
    imported from, which the module's dotted name tells."""
    file = PurePath(os.path.abspath(path))
    if prefix:
        base = PurePath(os.path.abspath(prefix))
        if file.is_relative_to(base) and file != base:
            return InstalledLocation(str(base), file.relative_to(base).as_posix(), "prefix")
    depth = len(module.split("."))
    parents = file.parents
    base = parents[min(depth - 1, len(parents) - 1)]
    return InstalledLocation(str(base), file.relative_to(base).as_posix(), "import root")
