"""Cache of probe results, keyed by everything that can change them; rescans are incremental.

An entry holds one module's probe replies (and its static analysis).  It answers only when
all of this is unchanged:

- the key: the module file's content (sha256); the C helper and worker build, which covers
  the interpreter's build (Helper.directory's name hashes both sources, the executable, its
  version and ABI); the probe options (probes, timeout, isolation); the target's sys.path;
  the behaviour-changing environment (``PYTHON*``, ``LD_*``, ``SUBINTERP_AUDIT_*`` aside);
  and the *layout* of sys.path: the names each entry offers (what a new distribution adds,
  and what a missing-module import would find), and the content of ``.pth`` files, which
  run at start-up;
- the entry's *closure*: the content of every file the probes of this module loaded (each
  probe reports ``__file__`` of every module in main and in its subinterpreter, and every
  mapped file: extensions and the libraries they link).  Upgrading one distribution thus
  re-probes only the modules whose probes touched its files.

A probe that dies after one whole visit of its module has said what it had loaded by then,
and is keyed by that: its later steps repeat the same import and use.  A fresh probe says it
once its subinterpreter's import is over; a depth probe's first visit (the reuse probe's
interpreter A, interpreter 1 of the first concurrent round, the first cycle) has the C
helper say it after the import and use, before that interpreter ends.  When a probe could
not report even that (it died in its first visit), the entry is keyed by a fingerprint of
the whole environment instead.  The stdlib controls of CPython's known bugs are stored the same way.
Busy timeouts, kills by SIGKILL (ours, or the OOM killer's) and the tool's own failures are
never stored; a deadlock is.

Entries are files written atomically (temporary file and rename), so concurrent scans may
share the cache: the worst case is that both compute the same entry.  A file's content hash
is remembered per (path, size, mtime, ctime, inode), as git's index does, so that an
unchanged file is not read again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from auditor.model import ExtensionModule, Interpreter, StaticInfo
from auditor.probe_plan import ProbeSettings
from auditor.probing.discover import Discovery
from auditor.probing.replies import Reply
from auditor.static.elf import exported_init_symbols

# Bump when what a probe records changes without the worker or the C helper changing.
PROBE_VERSION = 2

# Environment variables that change what an import does (read by the interpreter, the
# dynamic loader, or commonly by extension modules at import time).
_ENV_PREFIXES = ("PYTHON", "LD_", "MALLOC_", "OPENBLAS_", "OMP_", "MKL_")


def relevant_environment(environ: dict[str, str]) -> dict[str, str]:
    """The behaviour-changing part of an environment (recorded in the report and the key)."""
    return {
        name: value
        for name, value in sorted(environ.items())
        if name.startswith(_ENV_PREFIXES) and not name.startswith("SUBINTERP_AUDIT_")
    }


def never_cached(reply: Reply) -> bool:
    """A result that says more about this run than about the module: a timeout while busy
    (a deadlock found with its stacks is a result like any other), a SIGKILL (ours, or the
    OOM killer's), the tool's own failure."""
    if reply.get("outcome") == "timeout":
        return not reply.get("deadlock")
    return reply.get("outcome") == "tool_failure" or reply.get("signal") == "SIGKILL"


class TargetEntries:
    """The cache entries of one target's modules: how they are keyed, found and stored.

    Two entries per module: its import probes, and (with depth) all its probes.  A scan
    interrupted in the depth phase, or a ``--depth import`` scan, leaves the first for the next.
    """

    def __init__(
        self,
        cache: ResultCache,
        interp: Interpreter,
        helper_name: str,
        probes: tuple[str, ...],
        settings: ProbeSettings,
        found: Discovery,
        environ: Mapping[str, str],
    ) -> None:
        self.cache, self.found, self.sys_path = cache, found, interp.sys_path
        # Everything but the module itself, its closure and the depth settings.  Directories
        # the probes add to sys.path (PATHS outside it, --import's current directory): what
        # they offer changes imports as much as sys.path does.
        extra_roots = sorted({m.root for m in found.modules if m.root} - set(interp.sys_path))
        self.common = (
            helper_name,
            probes,
            settings.timeout,
            settings.isolation,
            list(interp.sys_path),
            dict(environ),
            cache.layout_fingerprint([*interp.sys_path, *extra_roots]) if cache.enabled else None,
        )
        self.depth = asdict(settings.depth) if settings.depth else None
        self.import_keys: dict[str, str] = {}
        self.full_keys: dict[str, str] = {}
        for module in found.modules:
            content = self._content(module)
            # origin: an --import name runs no init probe, an extension module of that name does.
            own = (
                content,
                module.name,
                module.root,
                module.origin,
                settings.smoke_for(module.name),
            )
            self.import_keys[module.name] = cache.key(*self.common, None, *own)
            self.full_keys[module.name] = (
                cache.key(*self.common, self.depth, *own)
                if self.depth
                else self.import_keys[module.name]
            )
        self._whole_environment: str | None = None  # computed once, only if an entry needs it

    def _fallback_key(self, base: str) -> str:
        """The key of an entry whose closure is unknown: the whole environment too."""
        if self._whole_environment is None:
            found = self.found
            self._whole_environment = self.cache.environment_fingerprint(
                self.sys_path, found.distributions, found.all_files
            )
        return self.cache.key(base, self._whole_environment)

    def _lookup(self, key: str) -> dict[str, Any] | None:
        entry = self.cache.get(key)
        if entry is not None and self.cache.closure_matches(entry.get("closure") or {}):
            return entry
        return self.cache.get(self._fallback_key(key))

    def full(self, module: ExtensionModule) -> dict[str, Any] | None:
        """The module's entry with every probe this scan needs, if it holds."""
        return self._lookup(self.full_keys[module.name])

    def imports(self, module: ExtensionModule) -> dict[str, Any] | None:
        """The module's entry with its import probes only (a scan with depth probes)."""
        return self._lookup(self.import_keys[module.name]) if self.depth else None

    def _control_key(self, control: ExtensionModule, what: object) -> str:
        """A control's probes (`what`: which, in which kinds) for this target: a stdlib
        module's, or a module's own probes run again with a known bug's workaround."""
        content = self._content(control)
        return self.cache.key(*self.common, self.depth, content, control.name, what)

    def _content(self, module: ExtensionModule) -> str:
        """The module file's content hash; an --import name may be a namespace package (a
        directory): its path, and its closure decides."""
        path = module.path
        return self.cache.file_hash(path) if os.path.isfile(path) else path

    def control(self, control: ExtensionModule, what: object) -> dict[str, Any] | None:
        """The replies of a stdlib control's probes `what`, if a scan stored them."""
        entry = self._lookup(self._control_key(control, what))
        return None if entry is None else dict(entry["replies"])

    def store_control(
        self, control: ExtensionModule, what: object, replies: Mapping[str, Reply]
    ) -> None:
        """Store a stdlib control's replies, as a module's are stored."""
        self._store(self._control_key(control, what), replies, None, None)

    def store(
        self,
        name: str,
        replies: Mapping[str, Reply],
        static: StaticInfo | None,
        *,
        full: bool,
        reused: Mapping[str, Any] | None = None,
    ) -> None:
        """Store a module's replies, keyed by their closure (or by the whole environment when
        a probe could not report its closure); never a timeout, a SIGKILL, or a tool failure.
        `reused`: the entry the import probes' replies came from (its closure holds)."""
        self._store((self.full_keys if full else self.import_keys)[name], replies, static, reused)

    def _store(
        self,
        key: str,
        replies: Mapping[str, Reply],
        static: StaticInfo | None,
        reused: Mapping[str, Any] | None,
    ) -> None:
        if any(never_cached(r) for r in replies.values()):
            return
        old = set(reused["replies"]) if reused else set()
        files = [r.get("files") for p, r in replies.items() if p not in old]
        entry: dict[str, Any] = {
            "replies": {
                p: {k: v for k, v in r.items() if k != "files"} for p, r in replies.items()
            },
            "static": asdict(static) if static else None,
        }
        old_closure = reused.get("closure") if reused else {}
        if all(isinstance(f, list) for f in files) and old_closure is not None:
            closure = self.cache.closure_of(path for group in files for path in group or ())
            entry["closure"] = {**old_closure, **closure}
            self.cache.put(key, entry)
        else:
            self.cache.put(self._fallback_key(key), entry)


def _write_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(json.dumps(data))  # json.dump would take the pure-Python encoder
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing, or written by a scan that died: recompute


def _stat_key(path: str) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


class ResultCache:
    """The on-disk cache (in the user cache directory).

    `reuse=False` (--no-cache) ignores existing entries but stores the new results;
    `enabled=False` neither reads nor writes anything.
    """

    def __init__(self, root: Path, *, enabled: bool = True, reuse: bool = True) -> None:
        self.root = root
        self.enabled = enabled
        self.reuse = reuse
        self._hashes_path = root / "file-hashes.json"
        # path -> [stat key, sha256, exported init symbols (or None: not ELF)]
        self._hashes: dict[str, list[Any]] = {}
        self._hashes_dirty = False
        if enabled:
            loaded = _read(self._hashes_path)
            self._hashes = loaded if isinstance(loaded, dict) else {}
        self._seen: dict[str, str] = {}  # this run's hashes: one stat per file per scan

    def file_hash(self, path: str) -> str:
        """sha256 of the file's content; read again only when its stat changed."""
        seen = self._seen.get(path)
        if seen is not None:
            return seen
        stat = _stat_key(path)
        known = self._hashes.get(path)
        if stat is not None and known is not None and known[0] == stat:
            self._seen[path] = str(known[1])
            return str(known[1])
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()
        if stat is not None:
            self._hashes[path] = [stat, value]
            self._hashes_dirty = True
        self._seen[path] = value
        return value

    def init_exports(self, path: str) -> set[str] | None:
        """The file's exported init symbols (auditor/static/elf.py), remembered like its hash."""
        stat = _stat_key(path)
        known = self._hashes.get(path)
        if stat is not None and known is not None and known[0] == stat and len(known) > 2:
            return None if known[2] is None else set(known[2])
        exports = exported_init_symbols(path)
        if stat is not None:
            digest = known[1] if known is not None and known[0] == stat else None
            self._hashes[path] = [
                stat,
                digest or self.file_hash(path),
                None if exports is None else sorted(exports),
            ]
            self._hashes_dirty = True
        return exports

    def layout_fingerprint(self, sys_path: Sequence[str]) -> str:
        """The names each sys.path entry offers, and the content of its .pth files.

        Distribution metadata directories are left out (an upgrade renames them), so that
        upgrading a distribution keeps the layout; installing or removing one changes it.
        Directories without ``__init__.py`` (namespace packages) are listed one level down.
        """
        digest = hashlib.sha256()
        for entry in sys_path:
            digest.update(os.fsencode(f"{entry}\0"))
            try:
                names = sorted(os.listdir(entry))
            except OSError:
                digest.update(f"{_stat_key(entry)}\n".encode())
                continue
            for name in names:
                if name.endswith((".dist-info", ".egg-info")) or name == "__pycache__":
                    continue
                digest.update(os.fsencode(f"{name}\0"))
                path = os.path.join(entry, name)
                if name.endswith(".pth"):
                    digest.update(self.file_hash(path).encode())
                elif os.path.isdir(path) and not os.path.exists(os.path.join(path, "__init__.py")):
                    with contextlib.suppress(OSError):
                        digest.update(os.fsencode("/".join(sorted(os.listdir(path))) + "\n"))
        return digest.hexdigest()

    def closure_matches(self, closure: dict[str, str]) -> bool:
        """Every file an entry's probes loaded still has the content they loaded."""
        for path, digest in closure.items():
            try:
                if self.file_hash(path) != digest:
                    return False
            except OSError:
                return False
        return True

    def closure_of(self, paths: Iterable[str]) -> dict[str, str]:
        """path -> content hash, for the files that still exist (others cannot be re-read)."""
        closure = {}
        for path in sorted(set(paths)):
            with contextlib.suppress(OSError):
                closure[path] = self.file_hash(path)
        return closure

    @staticmethod
    def environment_fingerprint(
        sys_path: Sequence[str], distributions: Iterable[Sequence[str]], files: Iterable[str]
    ) -> str:
        """What the whole environment looks like, cheaply (stat, not content)."""
        digest = hashlib.sha256()
        digest.update(json.dumps([list(sys_path), sorted(map(list, distributions))]).encode())
        for path in sorted(files):
            # Names are bytes to the file system: not every one is UTF-8 (os.fsencode).
            digest.update(os.fsencode(f"{path}\0{_stat_key(path)}\n"))
        return digest.hexdigest()

    def key(self, *parts: object) -> str:
        return hashlib.sha256(json.dumps([PROBE_VERSION, *parts]).encode()).hexdigest()

    def _entry(self, key: str) -> Path:
        return self.root / "results" / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if not (self.enabled and self.reuse):
            return None
        data = _read(self._entry(key))
        return data if isinstance(data, dict) else None

    def put(self, key: str, data: dict[str, Any]) -> None:
        """Store an entry; a cache that cannot be written only costs the next scan time."""
        if self.enabled:
            with contextlib.suppress(OSError):
                _write_atomic(self._entry(key), data)

    def flush(self) -> None:
        """Save the file-hash index (merged with what concurrent scans saved meanwhile)."""
        if not (self.enabled and self._hashes_dirty):
            return
        current = _read(self._hashes_path)
        merged = {**(current if isinstance(current, dict) else {}), **self._hashes}
        with contextlib.suppress(OSError):  # a full disk costs the next scan time, no more
            _write_atomic(self._hashes_path, merged)
            self._hashes_dirty = False
