"""The survey engine without installs: the requirements list, shards, resume, merge, the
summary, the tracker page and the CI workflow that runs it all."""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from packaging.utils import canonicalize_name

from auditor.commands.survey import merge as merge_command
from auditor.commands.survey import survey as survey_command
from auditor.errors import InstallError, SelectionError, UsageError
from auditor.probing.throwaway import InstallOptions
from auditor.report.json import dump_json
from auditor.report.tracker import render_tracker
from auditor.survey import records as rec
from auditor.survey import requirements as req
from auditor.survey import run

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "survey.yml"


# --- the requirements list and shards -------------------------------------------------------


def test_requirements_skip_comments_and_canonicalise(tmp_path: Path) -> None:
    listed = tmp_path / "req.txt"
    listed.write_text(
        "# popular packages\n\nPyYAML\nNumpy==2.2.6  # pinned\n  charset_normalizer>=3\n"
        "zope.interface\n"
    )
    assert req.read_requirements(listed) == [
        req.Requested("pyyaml", "PyYAML"),
        req.Requested("numpy", "Numpy==2.2.6"),
        req.Requested("charset-normalizer", "charset_normalizer>=3"),
        req.Requested("zope-interface", "zope.interface"),
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("numpy\n-r other.txt\n", "req.txt:2: pip options (-r)"),
        ("numpy @ https://example.org/n.whl\n", "req.txt:1: give a name and a version"),
        ("numpy; python_version < '3.14'\n", "req.txt:1: environment markers"),
        ("numpy\nNumPy==2\n", "req.txt:2: numpy is already listed on line 1"),
        ("numpy===\n", "req.txt:1: 'numpy===' is not a requirement"),
    ],
    ids=["option", "url", "marker", "twice", "invalid"],
)
def test_requirements_errors_name_the_line(tmp_path: Path, text: str, said: str) -> None:
    listed = tmp_path / "req.txt"
    listed.write_text(text)
    with pytest.raises(UsageError) as caught:
        req.read_requirements(listed)
    assert said in str(caught.value)


def _requested(names: list[str]) -> list[req.Requested]:
    return [req.Requested(canonicalize_name(n), n) for n in names]


NAMES = ["zstandard", "numpy", "lxml", "aiohttp", "regex", "cffi", "orjson"]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 9])
def test_shards_are_disjoint_covering_and_deterministic(count: int) -> None:
    items = _requested(NAMES)
    shards = [req.shard(items, i, count) for i in range(1, count + 1)]
    flat = [r.package for s in shards for r in s]
    assert sorted(flat) == sorted(NAMES)  # covering, and disjoint (no repeats)
    assert len(set(flat)) == len(flat)
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1  # balanced
    for order in itertools.islice(itertools.permutations(items), 0, 50, 7):
        again = [req.shard(list(order), i, count) for i in range(1, count + 1)]
        # The same names in each shard, whatever the file's order ...
        assert [sorted(r.package for r in s) for s in again] == [
            sorted(r.package for r in s) for s in shards
        ]
        # ... surveyed in the file's order.
        for part in again:
            positions = [order.index(r) for r in part]
            assert positions == sorted(positions)


def test_shard_is_every_nth_of_the_sorted_names() -> None:
    items = _requested(NAMES)
    # sorted: aiohttp cffi lxml numpy orjson regex zstandard; each shard in the file's order
    # (NAMES: zstandard numpy lxml aiohttp regex cffi orjson)
    assert [r.package for r in req.shard(items, 1, 3)] == ["zstandard", "numpy", "aiohttp"]
    assert [r.package for r in req.shard(items, 2, 3)] == ["cffi", "orjson"]
    assert [r.package for r in req.shard(items, 3, 3)] == ["lxml", "regex"]
    # Unsharded: the whole list, in its order (a rank-ordered list: the most used first).
    assert [r.package for r in req.shard(items, 1, 1)] == NAMES


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "1/0", "-1/4"])
def test_bad_shard(text: str) -> None:
    with pytest.raises(UsageError):
        req.parse_shard(text)


def test_python_order() -> None:
    labels = ["3.14t", "3.9", "3.13", "3.14", "3.13t", "3.15"]
    assert sorted(labels, key=rec.python_order) == ["3.9", "3.13", "3.13t", "3.14", "3.14t", "3.15"]


# --- records --------------------------------------------------------------------------------


def record(
    package: str,
    python: str = "3.13",
    verdict: str | None = "own_gil",
    status: str = "ok",
    modules: list[dict[str, Any]] | None = None,
    version: str = "1.0",
    spec: str | None = None,
) -> dict[str, Any]:
    if modules is None and status == "ok":
        modules = [module(f"{package}._ext", verdict or "own_gil")]
    return {
        "package": package,
        "spec": spec or package,
        "python": python,
        "python_version": {"3.13": "3.13.0", "3.14": "3.14.7"}.get(python, python + ".0"),
        "gil_disabled": python.endswith("t"),
        "depth": "full",
        "status": status,
        "version": version if status != "install_failed" else None,
        "message": None if status in ("ok", "no_extensions") else "pip said no",
        "verdict": verdict if status == "ok" else None,
        "import_verdict": verdict if status == "ok" else None,
        "modules_verdict": verdict if status == "ok" else None,
        "import_once": {"ready": True, "differs": False, "told_by": []} if status == "ok" else None,
        "imports": [],
        "modules": modules or [],
    }


def module(
    name: str,
    verdict: str,
    toolkit: str = "c",
    blocked_by: Sequence[tuple[str, str | None]] = (),
) -> dict[str, Any]:
    return {
        "name": name,
        "verdict": verdict,
        "reasons": ["blocked_by"] if blocked_by else [],
        "toolkit": toolkit,
        "blocked_by": [{"module": m, "chain": [name, m], "distribution": d} for m, d in blocked_by],
    }


def test_module_entry_from_the_report() -> None:
    reported = {
        "name": "usesold._fast",
        "verdict": "legacy_only",
        "binding": {"toolkit": "cython", "version": "3.1", "evidence": []},
        "reasons": [
            {"code": "blocked_by", "module": "oldsingle", "details": {"chain": ["a", "oldsingle"]}},
            {"code": "blocked_by", "module": "oldsingle", "details": {"chain": ["a", "oldsingle"]}},
            {"code": "blocked_by", "module": "_datetime", "details": {}},
            {"code": "single_phase_init", "module": None, "details": {}},
        ],
    }
    entry = rec.module_entry(reported, {"oldsingle": "old-single", "_datetime": "stdlib"})
    assert entry == {
        "name": "usesold._fast",
        "verdict": "legacy_only",
        "verdict_on_fixed_interpreter": None,
        "cpython_bugs": [],
        "reasons": ["blocked_by", "single_phase_init"],
        "toolkit": "cython",
        "test": False,
        "blocked_by": [
            {"module": "_datetime", "chain": ["_datetime"], "distribution": "stdlib"},
            {"module": "oldsingle", "chain": ["a", "oldsingle"], "distribution": "old-single"},
        ],
    }


@pytest.mark.parametrize(
    ("name", "test"),
    [
        ("numpy._core._operand_flag_tests", True),
        ("numpy._core._multiarray_tests", True),
        ("_ctypes_test", True),
        ("pkg.tests._helper", True),
        ("pkg.testing.fast", True),
        ("tests", True),
        ("numpy._core._multiarray_umath", False),
        ("_testcapi", False),
        ("pytest_ext", False),
        ("latest", False),
        ("contests", False),
    ],
)
def test_test_modules_are_told_by_name(name: str, test: bool) -> None:
    assert rec.is_test_module(name) is test


def test_tests_of_the_package_decide_nothing() -> None:
    modules = [
        {"name": "numpy._core._multiarray_umath", "verdict": "own_gil", "test": False},
        {"name": "numpy._core._operand_flag_tests", "verdict": "unsupported", "test": True},
    ]
    assert rec.package_verdict(modules) == "own_gil"
    # Only tests: they are all there is to say.
    assert rec.package_verdict([modules[1]]) == "unsupported"


def _import(verdict: str, once: bool, evidence: list[tuple[str, list[str]]]) -> dict[str, Any]:
    return {
        "name": "pkg",
        "verdict": verdict,
        "once": once,
        "evidence": [{"code": code, "probes": probes} for code, probes in evidence],
    }


def test_import_once_is_read_from_the_own_gil_probe_alone() -> None:
    assert rec.import_once([]) is None
    assert rec.import_once([_import("own_gil", True, [])]) == {
        "ready": True,
        "differs": False,
        "told_by": [],
    }
    # Imports once, but a second interpreter and concurrency show otherwise.
    said = rec.import_once(
        [
            _import(
                "crashes",
                True,
                [("fails_reuse", ["reuse"]), ("crashes_concurrently", ["isolated_concurrent"])],
            )
        ]
    )
    assert said == {
        "ready": True,
        "differs": True,
        "told_by": ["a second interpreter (reuse)", "interpreters at once (concurrent)"],
    }
    leak = rec.import_once([_import("shared_gil", True, [("leaks_per_interpreter", ["cycles"])])])
    assert leak is not None and leak["told_by"] == ["a leak per interpreter (cycles)"]
    order = rec.import_once([_import("legacy_only", True, [("crash", ["own_gil_after_main"])])])
    assert order is not None and order["told_by"] == ["the other import order (main first)"]
    # Refused at once: import-once says not ready, as the probes do.
    refused = rec.import_once([_import("legacy_only", False, [("blocked_by", ["own_gil"])])])
    assert refused == {"ready": False, "differs": False, "told_by": []}
    # Two import names: ready only if both import once.
    both = rec.import_once([_import("own_gil", True, []), _import("legacy_only", False, [])])
    assert both is not None and not both["ready"]


def test_package_verdict_is_the_worst_module() -> None:
    assert rec.worst(["own_gil", "crashes", "legacy_only"]) == "crashes"
    assert rec.worst(["shared_gil", "own_gil"]) == "shared_gil"
    assert rec.worst([]) is None


TARGET = run.SurveyTarget("3.13", "3.13.0", False, Path("/usr/bin/python3.13"))
SETTINGS = run.SurveySettings(InstallOptions(), depth="import", timeout=5.0, jobs=1)


def test_install_failure_is_a_record(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def refuses(*args: object) -> Iterator[Path]:
        raise InstallError("cannot install nowheel: ERROR: No matching distribution")
        yield Path()

    monkeypatch.setattr(run, "installed", refuses)
    got = run.survey_package(req.Requested("nowheel", "nowheel"), TARGET, SETTINGS)
    assert (got["status"], got["verdict"], got["modules"]) == ("install_failed", None, [])
    assert "No matching distribution" in got["message"]


@pytest.mark.parametrize(
    ("raised", "status"),
    [
        (SelectionError("no extension modules found for --package purepkg"), "no_extensions"),
        (UsageError("helper broke"), "scan_failed"),
        (KeyError("oops"), "scan_failed"),
    ],
    ids=["pure-python", "tool-error", "tool-bug"],
)
def test_scan_outcomes_are_records(
    monkeypatch: pytest.MonkeyPatch, raised: Exception, status: str
) -> None:
    @contextmanager
    def venv(*args: object) -> Iterator[Path]:
        yield Path("/venv/bin/python")

    def scan(*args: object, **kwargs: object) -> None:
        raise raised

    monkeypatch.setattr(run, "installed", venv)
    monkeypatch.setattr(run, "describe", lambda path: path)
    monkeypatch.setattr(run, "audit_target", scan)
    monkeypatch.setattr(run, "_facts", lambda python, dist, names: run.Facts("4.5", (), {}))
    got = run.survey_package(req.Requested("purepkg", "purepkg"), TARGET, SETTINGS)
    assert got["status"] == status
    assert got["version"] == "4.5"  # read before the scan
    if status == "no_extensions":
        assert got["message"] is None
    else:
        assert str(raised.args[0]) in got["message"]
    assert got["verdict"] is None


# --- resume ---------------------------------------------------------------------------------


class FakeSurvey:
    """survey_package stand-in: remembers what it surveyed, may stop (Ctrl-C) at one."""

    def __init__(self, interrupt_at: str | None = None) -> None:
        self.calls: list[str] = []
        self.interrupt_at = interrupt_at

    def __call__(
        self, requested: req.Requested, target: run.SurveyTarget, settings: run.SurveySettings
    ) -> dict[str, Any]:
        if requested.package == self.interrupt_at:
            raise KeyboardInterrupt
        self.calls.append(f"{requested.spec}@{target.label}")
        done = record(requested.package, target.label, spec=requested.spec)
        return {**done, "python_version": target.version, "depth": settings.depth}


TARGETS = [TARGET, run.SurveyTarget("3.14", "3.14.7", False, Path("/usr/bin/python3.14"))]


def test_resume_skips_finished_records(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = tmp_path / "shard.json"
    fake = FakeSurvey(interrupt_at="regex")
    monkeypatch.setattr(run, "survey_package", fake)
    first = _requested(["numpy", "lxml", "regex"])
    with pytest.raises(KeyboardInterrupt):
        run.run_survey(req.shard(first, 1, 1), TARGETS, SETTINGS, out, {})
    # numpy and lxml finished before the interruption (the list's order), on both targets.
    saved = json.loads(out.read_text())["records"]
    assert [(r["package"], r["python"]) for r in saved] == [
        ("lxml", "3.13"),
        ("lxml", "3.14"),
        ("numpy", "3.13"),
        ("numpy", "3.14"),
    ]
    fake = FakeSurvey()
    monkeypatch.setattr(run, "survey_package", fake)
    records = run.run_survey(req.shard(first, 1, 1), TARGETS, SETTINGS, out, {})
    assert fake.calls == ["regex@3.13", "regex@3.14"]
    assert len(records) == 6
    assert json.loads(out.read_text())["records"] == records


def test_resume_redoes_another_spec_target_or_depth(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = tmp_path / "shard.json"
    monkeypatch.setattr(run, "survey_package", FakeSurvey())
    run.run_survey(_requested(["numpy", "lxml"]), [TARGET], SETTINGS, out, {})
    fake = FakeSurvey()
    monkeypatch.setattr(run, "survey_package", fake)
    deeper = run.SurveySettings(InstallOptions(), depth="full", timeout=5.0, jobs=1)
    pinned = [req.Requested("numpy", "numpy==2.2.6"), req.Requested("lxml", "lxml")]
    records = run.run_survey(pinned, [TARGET], SETTINGS, out, {})
    assert fake.calls == ["numpy==2.2.6@3.13"]
    # One record per package and target: the new spec replaced the old one.
    assert [(r["package"], r["spec"]) for r in records] == [
        ("lxml", "lxml"),
        ("numpy", "numpy==2.2.6"),
    ]
    records = run.run_survey(pinned, [TARGET], deeper, out, {})
    assert fake.calls[1:] == ["numpy==2.2.6@3.13", "lxml@3.13"]
    assert {r["depth"] for r in records} == {"full"}


def test_resume_tries_a_failed_install_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A record of a failure (the network, a tool failure) is not a finished package."""
    out = tmp_path / "shard.json"

    class Failing(FakeSurvey):
        def __call__(self, requested, target, settings):  # type: ignore[no-untyped-def]
            got = super().__call__(requested, target, settings)
            if requested.package == "numpy":
                got = {**got, "status": "install_failed", "message": "network"}
            return got

    monkeypatch.setattr(run, "survey_package", Failing())
    run.run_survey(_requested(["numpy", "lxml"]), [TARGET], SETTINGS, out, {})
    again = FakeSurvey()
    monkeypatch.setattr(run, "survey_package", again)
    records = run.run_survey(_requested(["numpy", "lxml"]), [TARGET], SETTINGS, out, {})
    assert again.calls == ["numpy@3.13"]
    assert {r["package"]: r["status"] for r in records}["numpy"] == "ok"


def test_resume_refuses_a_file_that_is_not_a_survey(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    out.write_text(json.dumps({"version": 1, "targets": []}))
    with pytest.raises(UsageError, match="not a subinterp-audit survey file"):
        run.run_survey(_requested(["numpy"]), [TARGET], SETTINGS, out, {})


# --- merge ----------------------------------------------------------------------------------


def blocked(package: str, python: str, *blockers: tuple[str, str | None]) -> dict[str, Any]:
    modules = [module(f"{package}._ext", "legacy_only", blocked_by=list(blockers))]
    return record(package, python, "legacy_only", modules=modules)


def _survey_records() -> list[dict[str, Any]]:
    return [
        record("numpy", "3.13", "one_interpreter"),
        record("numpy", "3.14", "one_interpreter"),
        record("orjson", "3.13", "own_gil", modules=[module("orjson.orjson", "own_gil", "pyo3")]),
        record("purepkg", "3.13", status="no_extensions"),
        record("nowheel", "3.14", status="install_failed"),
        blocked("aaa", "3.13", ("_cffi_backend", "cffi")),
        blocked("bbb", "3.13", ("_cffi_backend", "cffi"), ("lib", "ccc")),
        blocked("bbb", "3.14", ("_cffi_backend", "cffi")),
        blocked("ccc", "3.13", ("lib", "ccc")),  # its own module: not another package's
        blocked("ddd", "3.13", ("lib", "ccc")),
        blocked("eee", "3.13", ("zlib_ng", None)),
        blocked("fff", "3.13", ("zlib_ng", None)),
    ]


def _doc(records: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    return rec.survey_document(records, meta)


def test_merge_is_deterministic_and_sorted() -> None:
    records = _survey_records()
    whole = rec.merge_documents([("all.json", _doc(records))], merged_at="T1")
    for seed in range(4):
        shuffled = records[seed:] + records[:seed]
        parts = [shuffled[i::3] for i in range(3)]
        sources = [(f"s{i}.json", _doc(p, shard=f"{i + 1}/3")) for i, p in enumerate(parts)]
        merged = rec.merge_documents(sources[::-1] if seed % 2 else sources, merged_at="T2")
        assert dump_json({**merged, "meta": None}) == dump_json({**whole, "meta": None})
    keys = [(r["package"], r["python"]) for r in whole["records"]]
    assert keys == sorted(keys, key=lambda k: (k[0], rec.python_order(k[1])))
    # The same record in two files (a shard merged twice) counts once.
    twice = rec.merge_documents([("a", _doc(records)), ("b", _doc(records[:3]))], merged_at="T1")
    assert twice["records"] == whole["records"]


def test_merge_conflict_names_both_files() -> None:
    records = _survey_records()
    other = copy.deepcopy(records[0])
    other["verdict"] = "crashes"
    with pytest.raises(UsageError) as caught:
        rec.merge_documents([("s1.json", _doc(records)), ("s2.json", _doc([other]))])
    said = str(caught.value)
    assert "numpy on Python 3.13" in said and "s1.json and s2.json" in said
    assert "one_interpreter vs crashes" in said


def test_root_blockers_ranked_by_modules_blocked() -> None:
    ranked = rec.ecosystem_blockers(_survey_records())
    assert [(b["module"], b["blocked_modules"], b["packages"]) for b in ranked] == [
        ("_cffi_backend", 2, ["aaa", "bbb"]),  # bbb twice (3.13, 3.14): one module
        ("lib", 2, ["bbb", "ddd"]),  # not ccc's own module
        ("zlib_ng", 2, ["eee", "fff"]),
    ]
    assert ranked[0]["pythons"] == ["3.13", "3.14"]
    assert ranked[0]["distributions"] == ["cffi"]
    # More packages rank first at equal module counts; then the name.
    extra = [*_survey_records(), blocked("ggg", "3.13", ("zlib_ng", None))]
    assert [b["module"] for b in rec.ecosystem_blockers(extra)] == [
        "zlib_ng",
        "_cffi_backend",
        "lib",
    ]


def test_summary_counts_states_and_toolkits() -> None:
    summary = rec.summarize(_survey_records())
    assert summary["pythons"] == ["3.13", "3.14"]
    assert summary["packages"] == 10
    assert summary["states"]["3.13"] == {
        "own_gil": 1,
        "legacy_only": 6,
        "one_interpreter": 1,
        "no_extensions": 1,
    }
    assert summary["states"]["3.14"] == {
        "legacy_only": 1,
        "one_interpreter": 1,
        "install_failed": 1,
    }
    assert summary["toolkits"] == [
        {"toolkit": "c", "modules": 7, "packages": 7},
        {"toolkit": "pyo3", "modules": 1, "packages": 1},
    ]


def test_changes_against_previous() -> None:
    previous = [
        record("numpy", "3.13", "legacy_only"),
        record("orjson", "3.13", "own_gil"),
        record("lxml", "3.13", "own_gil"),
        record("gone", "3.13", "own_gil"),
        record("nowheel", "3.14", status="install_failed"),
    ]
    current = [
        record("numpy", "3.13", "one_interpreter", version="2.0"),
        record("orjson", "3.13", "own_gil", version="3.11"),  # a new version, same verdict
        record("lxml", "3.13", "crashes"),
        record("nowheel", "3.14", "shared_gil"),
        record("fresh", "3.14", "own_gil"),
    ]
    got = rec.changes(previous, current)
    assert [(c["package"], c["python"], c["kind"], c["before"], c["after"]) for c in got] == [
        ("fresh", "3.14", "new", None, "own_gil"),
        ("gone", "3.13", "gone", "own_gil", None),
        ("lxml", "3.13", "regressed", "own_gil", "crashes"),
        ("nowheel", "3.14", "changed", "install_failed", "shared_gil"),
        ("numpy", "3.13", "regressed", "legacy_only", "one_interpreter"),
    ]
    assert got[-1]["after_version"] == "2.0"
    improved = rec.changes([record("x", verdict="crashes")], [record("x", verdict="shared_gil")])
    assert improved[0]["kind"] == "improved"
    merged = rec.merge_documents([("a", _doc(current))], _doc(previous))
    assert merged["changes"] == got
    assert rec.merge_documents([("a", _doc(current))])["changes"] is None


# --- the tracker page -----------------------------------------------------------------------


def test_tracker_escapes_and_says_every_verdict_in_words() -> None:
    hostile = "<script>alert(1)</script>"
    records = [
        *_survey_records(),
        {**record("evil", "3.13", status="install_failed"), "message": hostile},
        blocked("fff", "3.14", (hostile, hostile)),
    ]
    document = rec.merge_documents([("a", _doc(records))], _doc(records[:3]))
    page = render_tracker(document)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Each cell: colour class and its verdict in words.
    assert re.search(r'<td class="cell v-one_interpreter"[^>]*>one_interpreter<small>1.0', page)
    assert re.search(r'<td class="cell s-install_failed" title="[^"]*pip said no', page)
    assert re.search(r'<td class="cell s-no_extensions"[^>]*>no_extensions', page)
    # The data, embedded as JSON that cannot end its script element early.
    embedded = re.search(
        r'<script type="application/json" id="survey-data">(.*?)</script>', page, re.S
    )
    assert embedded is not None
    assert json.loads(embedded.group(1)) == json.loads(dump_json(document))
    # Readable without JS: the scripts are the data and the filters, which only hide rows;
    # nothing is hidden until a filter is chosen, and nothing is loaded from elsewhere.
    assert page.count("<script") == 2 and "<script src" not in page
    assert " hidden" not in page.split("<script>")[0]
    root = page.index('id="blockers"')
    assert page.index("_cffi_backend", root) < page.index("zlib_ng", root)


def test_tracker_shows_where_import_once_is_wrong_at_the_top() -> None:
    wrong = {
        **record("msgspec", "3.13", "crashes"),
        "modules_verdict": "crashes",
        "import_once": {
            "ready": True,
            "differs": True,
            "told_by": ["interpreters at once (concurrent)"],
        },
    }
    numpy = {
        **record("numpy", "3.13", "own_gil"),
        "modules": [
            {**module("numpy._core._multiarray_umath", "own_gil"), "test": False},
            {**module("numpy._core._operand_flag_tests", "unsupported"), "test": True},
            # Not imported by `import numpy`: it lowers the modules' figure only.
            {**module("numpy.random._mt19937", "legacy_only"), "test": False},
        ],
    }
    numpy["modules_verdict"] = rec.package_verdict(numpy["modules"])
    fine = record("orjson", "3.13", "own_gil")
    page = render_tracker(rec.merge_documents([("a", _doc([wrong, numpy, fine]))]))
    top = page[page.index('id="import-once"') : page.index('id="matrix"')]
    assert re.search(r"Python 3.13: <b>1</b> of 3 packages that import once", top)
    assert '<a href="#pkg-msgspec">msgspec</a>' in top and "orjson" not in top
    cell = re.search(r'<td class="cell v-crashes once-differs" title="([^"]*)"', page)
    assert cell is not None
    assert "interpreters at once (concurrent) tell otherwise" in cell.group(1)
    # numpy: its import verdict first, its worst module's (tests left out) as the second figure.
    assert re.search(
        r'v-own_gil"[^>]*>own_gil<small>1.0</small><small>all modules: legacy_only', page
    )
    assert '_operand_flag_tests</code> <span class="muted">(a test of the package' in page
    assert "told apart by interpreters at once (concurrent)" in page


def test_tracker_without_previous_says_so() -> None:
    page = render_tracker(rec.merge_documents([("a", _doc(_survey_records()))]))
    assert "No previous survey given" in page


# --- the command line -----------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["survey", "req.txt", "--python", "3.13", "--shard", "5/4", "--out", "o.json"],
            "--shard 5/4",
        ),
        (
            ["survey", "nope.txt", "--python", "3.13", "--out", "o.json"],
            "'nope.txt' does not exist",
        ),
        (["survey", "bad.txt", "--python", "3.13", "--out", "o.json"], "bad.txt:2:"),
        (
            ["survey", "req.txt", "--python", "3.13", "--out", "report.json"],
            "not a subinterp-audit survey",
        ),
        (["survey", "req.txt", "--out", "o.json"], "Missing option '--python'"),
        (["survey", "req.txt", "--python", "3.13", "--out", "."], "is a directory"),
        (["merge", "s1.json", "s2.json", "--json", "all.json"], "s1.json and s2.json disagree"),
        (["merge", "s1.json"], "give --json PATH, --html PATH or both"),
        (["merge", "report.json", "--json", "all.json"], "not a subinterp-audit survey"),
    ],
    ids=[
        "shard",
        "no-file",
        "bad-line",
        "out-not-survey",
        "no-python",
        "out-dir",
        "conflict",
        "no-output",
        "not-survey",
    ],
)
def test_bad_input_is_exit_2_in_one_line(tmp_path: Path, args: list[str], said: str) -> None:
    (tmp_path / "req.txt").write_text("numpy\n")
    (tmp_path / "bad.txt").write_text("numpy\nhttps://example.org/x.whl\n")
    (tmp_path / "report.json").write_text(json.dumps({"version": 1, "targets": []}))
    records = _survey_records()
    (tmp_path / "s1.json").write_text(dump_json(_doc(records)))
    changed = {**records[0], "verdict": "crashes"}
    (tmp_path / "s2.json").write_text(dump_json(_doc([changed])))
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "all.json").exists()


def test_merge_command_writes_json_and_html(tmp_path: Path) -> None:
    records = _survey_records()
    (tmp_path / "s1.json").write_text(dump_json(_doc(records[::2], shard="1/2")))
    (tmp_path / "s2.json").write_text(dump_json(_doc(records[1::2], shard="2/2")))
    (tmp_path / "old.json").write_text(dump_json(_doc(records[:4])))
    done = _cli(
        "merge", "s1.json", "s2.json", "--json", "out/all.json", "--html", "out/t.html",
        "--previous", "old.json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    merged = json.loads((tmp_path / "out" / "all.json").read_text())
    assert merged == json.loads(
        dump_json(
            {
                **rec.merge_documents([("x", _doc(records))], _doc(records[:4])),
                "meta": merged["meta"],
            }
        )
    )
    assert [s["shard"] for s in merged["meta"]["sources"]] == ["1/2", "2/2"]
    assert "12 records of 10 packages" in done.stdout
    assert (tmp_path / "out" / "t.html").read_text().startswith("<!DOCTYPE html>")


# --- the CI workflow ------------------------------------------------------------------------


def _workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def _step(job: dict[str, Any], uses: str | None = None, name: str | None = None) -> Any:
    for step in job["steps"]:
        if (uses and step.get("uses", "").startswith(uses)) or (name and step.get("name") == name):
            return step
    raise AssertionError(f"no step {uses or name}")


def _expand(text: str, matrix: dict[str, Any]) -> str:
    return re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda m: str(matrix[m.group(1)]), text)


def _matrix(job: dict[str, Any]) -> list[dict[str, Any]]:
    axes = job["strategy"]["matrix"]
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def _options(command: click.Command) -> set[str]:
    return {opt for p in command.params for opt in getattr(p, "opts", ()) if opt.startswith("--")}


def test_workflow_shards_cover_the_list_on_each_python() -> None:
    job = _workflow()["jobs"]["survey"]
    assert set(job["strategy"]["matrix"]) == {"shard", "python"}
    assert job["strategy"]["fail-fast"] is False
    matrix = _matrix(job)
    counts = set()
    for cell in matrix:
        words = shlex.split(_expand(_step(job, name="Survey")["run"], cell))
        assert words[:3] == ["subinterp-audit", "survey", "requirements/top-pypi.txt"]
        assert set(w for w in words if w.startswith("--")) <= _options(survey_command)
        assert words[words.index("--python") + 1] == cell["python"]
        index, count = req.parse_shard(words[words.index("--shard") + 1])
        assert index == cell["shard"]
        counts.add(count)
    (count,) = counts
    assert sorted(c["shard"] for c in matrix if c["python"] == "3.13") == list(range(1, count + 1))
    assert setup_python(job) == "${{ matrix.python }}"


def setup_python(job: dict[str, Any]) -> str:
    return str(_step(job, uses="actions/setup-python")["with"]["python-version"])


def test_workflow_merges_what_the_shards_upload(tmp_path: Path) -> None:
    jobs = _workflow()["jobs"]
    survey, merge = jobs["survey"], jobs["merge"]
    assert merge["needs"] == "survey"
    download = _step(merge, uses="actions/download-artifact")["with"]
    shards_dir = tmp_path / download["path"]
    shards_dir.mkdir()
    for cell in _matrix(survey):
        words = shlex.split(_expand(_step(survey, name="Survey")["run"], cell))
        out = words[words.index("--out") + 1]
        upload = _step(survey, uses="actions/upload-artifact")["with"]
        assert _expand(upload["path"], cell) == out
        name = _expand(upload["name"], cell)
        assert fnmatch.fnmatch(name, download["pattern"]), name
        # merge-multiple: every artifact's files land in one directory, so names must differ.
        assert download["merge-multiple"] is True
        (shards_dir / out).write_text("{}")
    # Run the merge step's script with a stand-in subinterp-audit that records its arguments.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "subinterp-audit"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{tmp_path}/argv"\n')
    fake.chmod(0o755)
    script = _step(merge, name="Merge")["run"]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, check=True)
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[0] == "merge"
    passed = [a for a in argv if a.endswith(".json") and a.startswith(download["path"] + "/")]
    assert len(passed) == len(_matrix(survey))
    assert set(a for a in argv if a.startswith("--")) <= _options(merge_command)
    assert "--previous" not in argv
    (tmp_path / "argv").unlink()
    (tmp_path / "previous.json").write_text("{}")
    subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, check=True)
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[argv.index("--previous") + 1] == "previous.json"
    # What is published is what merge wrote.
    html = argv[argv.index("--html") + 1]
    pages = _step(merge, uses="actions/upload-pages-artifact")["with"]["path"]
    assert Path(html).parent == Path(pages)
    assert Path(html).name == "index.html"
    publish = jobs["publish"]
    assert publish["needs"] == "merge"
    assert _step(publish, uses="actions/deploy-pages")
    assert publish["permissions"] == {"pages": "write", "id-token": "write"}


def test_top_pypi_list_is_valid() -> None:
    listed = req.read_requirements(ROOT / "requirements" / "top-pypi.txt")
    assert len(listed) == 500
    names = [r.package for r in listed]
    assert names[:3] == ["boto3", "packaging", "urllib3"]  # rank order, pure Python included
    assert {"numpy", "pydantic-core", "cryptography", "requests"} <= set(names[:30])


def test_workflow_commands_are_registered_in_the_cli() -> None:
    from auditor.commands import cli

    assert cli.commands.get("survey") is survey_command
    assert cli.commands.get("merge") is merge_command


def test_a_package_is_judged_by_its_modules_that_import() -> None:
    """zstandard._cffi without cffi is broken in main: the package is judged by backend_c."""
    modules = [{"verdict": "broken"}, {"verdict": "legacy_only"}, {"verdict": "own_gil"}]
    assert rec.package_verdict(modules) == "legacy_only"
    assert rec.package_verdict([{"verdict": "broken"}]) == "broken"
    assert rec.package_verdict([]) is None


def test_cpython_bugs_are_named_in_the_record_and_the_tracker() -> None:
    reported = {
        "name": "boto3",
        "verdict": "legacy_only",
        "verdict_on_fixed_interpreter": "own_gil",
        "binding": None,
        "probes": {"own_gil": {"outcome": "ok"}},
        "reasons": [
            {
                "code": "crashes_concurrently",
                "module": None,
                "details": {},
                "probes": ["concurrent"],
            },
            {
                "code": "interpreter_bug",
                "module": None,
                "details": {"cpython_issue": "gh-136423"},
                "probes": ["concurrent"],
            },
        ],
    }
    entry = rec.import_entry(reported, {})
    assert (entry["cpython_bugs"], entry["verdict_on_fixed_interpreter"]) == (
        ["gh-136423"],
        "own_gil",
    )
    assert rec.fixed_verdict([entry]) == "own_gil"
    said = rec.import_once([entry])
    assert said is not None and said["told_by"] == [
        "CPython's own bug",
        "interpreters at once (concurrent)",
    ]
    boto3 = {
        **record("boto3", "3.13", "legacy_only"),
        "cpython_bugs": ["gh-136423"],
        "verdict_on_fixed_interpreter": "own_gil",
        "import_once": said,
    }
    document = rec.merge_documents([("a", _doc([boto3]))])
    assert document["summary"]["import_once"]["3.13"] == {
        "ready": 1,
        "not_ready": 0,
        "ready_but_not_own_gil": 1,
        "only_cpython_bugs": 1,
    }
    page = render_tracker(document)
    assert "(1 of them only through CPython's own bugs, named in their cells)" in page
    assert "<small>own_gil without CPython&#39;s gh-136423</small>" in page
    assert "CPython's own bug gh-136423 is behind this verdict: <b>own_gil</b>" in page
