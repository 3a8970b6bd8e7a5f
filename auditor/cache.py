"""Cache of probe results, so that a rescan of an unchanged environment costs about a second.

An entry holds one module's worker replies (and its static analysis).  Its key covers
everything a probe's outcome depends on that the tool can see:

- the module file's content (sha256),
- the C helper and worker build, which already covers the target interpreter's build
  (Helper.directory's name hashes both sources, the executable, its version and ABI),
- the environment: every distribution's name and version, sys.path, and the identity (size,
  mtime) of every extension file found, because a module's outcome also depends on what it
  imports: a changed environment is rescanned in full,
- the probe protocol version, the probes run, the timeout and the isolation mode.

Entries are files written atomically (temporary file and rename), so concurrent scans may
share the cache: the worst case is that both compute the same entry.  A file's content hash
is itself remembered per (path, size, mtime, ctime, inode), as git's index does, so that an
unchanged file is not read again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from auditor.elf import exported_init_symbols

# Bump when what a probe records changes without the worker or the C helper changing.
PROBE_VERSION = 1


def _write_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(data, stream)
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
        self.hits = 0
        self.misses = 0

    def file_hash(self, path: str) -> str:
        """sha256 of the file's content; read again only when its stat changed."""
        stat = _stat_key(path)
        known = self._hashes.get(path)
        if stat is not None and known is not None and known[0] == stat:
            return str(known[1])
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()
        if stat is not None:
            self._hashes[path] = [stat, value]
            self._hashes_dirty = True
        return value

    def init_exports(self, path: str) -> set[str] | None:
        """The file's exported init symbols (auditor/elf.py), remembered like its hash."""
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

    @staticmethod
    def environment_fingerprint(
        sys_path: Sequence[str], distributions: Iterable[Sequence[str]], files: Iterable[str]
    ) -> str:
        """What the whole environment looks like, cheaply (stat, not content)."""
        digest = hashlib.sha256()
        digest.update(json.dumps([list(sys_path), sorted(map(list, distributions))]).encode())
        for path in sorted(files):
            digest.update(f"{path}\0{_stat_key(path)}\n".encode())
        return digest.hexdigest()

    def key(self, *parts: object) -> str:
        return hashlib.sha256(json.dumps([PROBE_VERSION, *parts]).encode()).hexdigest()

    def _entry(self, key: str) -> Path:
        return self.root / "results" / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if not (self.enabled and self.reuse):
            return None
        data = _read(self._entry(key))
        if isinstance(data, dict):
            self.hits += 1
            return data
        self.misses += 1
        return None

    def put(self, key: str, data: dict[str, Any]) -> None:
        if self.enabled:
            _write_atomic(self._entry(key), data)

    def flush(self) -> None:
        """Save the file-hash index (merged with what concurrent scans saved meanwhile)."""
        if not (self.enabled and self._hashes_dirty):
            return
        current = _read(self._hashes_path)
        merged = {**(current if isinstance(current, dict) else {}), **self._hashes}
        _write_atomic(self._hashes_path, merged)
        self._hashes_dirty = False
