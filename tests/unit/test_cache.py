"""The result cache: keys, atomic entries, the file-hash index."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from auditor.probing.cache import ResultCache


def test_entries_round_trip_and_survive_corruption(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    key = cache.key("helper", "env", "hash", "mod", 60.0)
    assert key != cache.key("helper", "env", "hash", "mod", 30.0)  # the timeout matters
    assert cache.get(key) is None
    cache.put(key, {"replies": {"main": {"outcome": "ok"}}})
    assert cache.get(key) == {"replies": {"main": {"outcome": "ok"}}}
    (entry,) = (tmp_path / "results").rglob("*.json")
    entry.write_text("{truncated")  # e.g. a scan killed mid-write by hand
    assert cache.get(key) is None
    assert not list((tmp_path / "results").rglob(".tmp-*"))


def test_no_cache_refreshes_and_disabled_writes_nothing(tmp_path: Path) -> None:
    ResultCache(tmp_path).put("k" * 64, {"x": 1})
    assert ResultCache(tmp_path, reuse=False).get("k" * 64) is None
    off = ResultCache(tmp_path / "off", enabled=False)
    off.put("k" * 64, {"x": 1})
    off.flush()
    assert not (tmp_path / "off").exists()


def test_file_hash_is_content_and_is_remembered(tmp_path: Path) -> None:
    module = tmp_path / "m.so"
    module.write_bytes(b"one")
    cache = ResultCache(tmp_path / "c")
    assert cache.file_hash(str(module)) == hashlib.sha256(b"one").hexdigest()
    cache.flush()
    module.write_bytes(b"two")  # new content, new mtime: hashed again
    os.utime(module, ns=(1, 1))
    again = ResultCache(tmp_path / "c")
    assert again.file_hash(str(module)) == hashlib.sha256(b"two").hexdigest()
    assert again.init_exports(str(module)) is None  # not ELF


def test_index_merges_concurrent_scans(tmp_path: Path) -> None:
    a, b = tmp_path / "a.so", tmp_path / "b.so"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    first, second = ResultCache(tmp_path / "c"), ResultCache(tmp_path / "c")
    first.file_hash(str(a))
    second.file_hash(str(b))
    first.flush()
    second.flush()
    merged = ResultCache(tmp_path / "c")
    assert set(merged._hashes) == {str(a), str(b)}


def test_environment_fingerprint_sees_any_change(tmp_path: Path) -> None:
    so = tmp_path / "x.so"
    so.write_bytes(b"x")
    fp = ResultCache.environment_fingerprint(["/p"], [("numpy", "2.0")], [str(so)])
    assert fp == ResultCache.environment_fingerprint(["/p"], [("numpy", "2.0")], [str(so)])
    assert fp != ResultCache.environment_fingerprint(["/p"], [("numpy", "2.1")], [str(so)])
    os.utime(so, ns=(5, 5))
    assert fp != ResultCache.environment_fingerprint(["/p"], [("numpy", "2.0")], [str(so)])
