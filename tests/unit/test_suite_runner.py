"""The suite runner's reading of pytest's JUnit XML and its comparison of runs."""

from __future__ import annotations

from pathlib import Path

from auditor.suites.runner import CaseResult, SuiteRun, compare, read_junit

JUNIT = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">\n'
    '<testcase classname="tests.test_a" name="test_ok" time="0.1"/>\n'
    '<testcase classname="tests.test_a" name="test_bad" time="0.1">'
    '<failure message="assert 1 == 2">tb</failure></testcase>\n'
    '<testcase classname="tests.test_a" name="test_skip" time="0">'
    '<skipped message="C extension only"/></testcase>\n'
    '<testcase classname="" name="tests.test_b" time="0"><error message="collection failure">'
    "ImportError while importing test module\nTraceback:\n"
    "E   ImportError: module _tracemalloc does not support loading in subinterpreters"
    "</error></testcase>\n</testsuite></testsuites>\n"
)


def test_junit_outcomes_and_collection_errors(tmp_path: Path) -> None:
    path = tmp_path / "j.xml"
    path.write_text(JUNIT)
    found = read_junit(path)
    assert {name: (r.outcome, r.message) for name, r in found.items()} == {
        "tests.test_a::test_ok": ("passed", ""),
        "tests.test_a::test_bad": ("failed", "assert 1 == 2"),
        "tests.test_a::test_skip": ("skipped", "C extension only"),
        "::tests.test_b": (
            "error",
            "ImportError: module _tracemalloc does not support loading in subinterpreters",
        ),
    }
    assert read_junit(tmp_path / "missing.xml") == {}
    (tmp_path / "cut.xml").write_text(JUNIT[:200])  # a crash mid-write
    assert read_junit(tmp_path / "cut.xml") == {}


def _run(
    kind: str, tests: list[dict[str, CaseResult]], end: str = "ok", **more: object
) -> SuiteRun:
    run = SuiteRun(kind, len(tests), end, **more)  # type: ignore[arg-type]
    run.tests = tests
    run.stages = more.get("stages") or ["done"] * len(tests)  # type: ignore[assignment]
    run.errors = [None] * len(tests)
    return run


def test_a_missing_test_takes_its_file_error_or_its_run_end() -> None:
    names = ("tests.test_a::t1", "tests.test_b::t2", "tests.test_b.TestClass::t3")
    passed = {n: CaseResult(n, "passed") for n in names}
    main = _run("main", [passed])
    collected = {
        "tests.test_a::t1": CaseResult("tests.test_a::t1", "passed"),
        "::tests.test_b": CaseResult("::tests.test_b", "error", "ImportError: refused"),
    }
    crashed = _run("own_gil", [{}], end="crash", stages=["run"])
    by_name = {d.nodeid: d for d in compare(main, _run("own_gil", [collected]))}
    assert not by_name["tests.test_a::t1"].differs
    b = by_name["tests.test_b::t2"]
    assert b.differs and (b.sub[0].outcome, b.sub[0].message) == (
        "error",
        "collecting: ImportError: refused",
    )
    c = by_name["tests.test_b.TestClass::t3"]  # a test class of the same file
    assert c.differs and c.sub[0].message == "collecting: ImportError: refused"
    for difference in compare(main, crashed):
        assert difference.differs and difference.sub[0].outcome == "crash"


def test_a_crash_after_the_tests_is_named_as_the_probes_name_it() -> None:
    from auditor.suites.runner import _cpython_bug

    def ended(version: str, end: str, interpreters: int, kind: str = "own_gil") -> str | None:
        run = SuiteRun(kind, interpreters, end, signal="SIGABRT", python_version=version)
        run.stderr_tail = "free(): invalid pointer\nFatal Python error: Aborted\n"
        bug = _cpython_bug(run)
        return bug.cpython_issue if bug else None

    assert ended("3.12.1", "crash_at_exit", 1) == "gh-116510"
    assert ended("3.12.14", "crash_at_exit", 1) is None  # fixed there
    assert ended("3.13.0", "crash_at_end", 2) == "gh-136423"
    assert ended("3.13.0", "crash_at_end", 1) is None  # one interpreter: not that bug
    assert ended("3.14.10", "crash_at_end", 2) is None
    assert ended("3.13.0", "crash_at_end", 2, kind="legacy") is None
