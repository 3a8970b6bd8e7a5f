"""The reports of `subinterp-audit test`: terminal summary, JSON (versioned) and JUnit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.markup import escape

from auditor import __version__
from auditor.judging.interpreter_bugs import cpython_bug_phrase
from auditor.report import plural
from auditor.suites.runner import PASSED, CaseDifference, SuiteRun

# JSON format history (bump on any incompatible change; adding fields is compatible):
# 1: first version (later added: run.pytest_blocked, run.minimal_collector, run.deadlock).
SUITE_FORMAT = 1
SUITE_KIND = "subinterp-audit-test"


def run_failed(run: SuiteRun) -> bool:
    """The subinterpreters' process itself crashed or hung (whatever the tests said), and no
    known CPython bug explains it."""
    return run.end != "ok" and run.cpython_bug is None


def _run_dict(run: SuiteRun) -> dict[str, Any]:
    return {
        "kind": run.kind,
        "interpreters": run.interpreters,
        "end": run.end,
        "signal": run.signal,
        "exit_code": run.exit_code,
        "stages": run.stages[: run.interpreters],
        "errors": run.errors,
        "pytest_blocked": run.blocked,
        "deadlock": run.deadlock,
        "minimal_collector": run.minimal,
        "stderr_tail": run.stderr_tail,
        "python_version": run.python_version,
        "cpython_bug": (
            {
                "cpython_issue": run.cpython_bug.cpython_issue,
                "title": run.cpython_bug.title,
                "status": run.cpython_bug.status,
                "url": run.cpython_bug.url,
            }
            if run.cpython_bug
            else None
        ),
    }


def suite_dict(
    python: str, main: SuiteRun, sub: SuiteRun, tests: list[CaseDifference], seconds: float
) -> dict[str, Any]:
    return {
        "version": SUITE_FORMAT,
        "kind": SUITE_KIND,
        "tool": {"name": "subinterp-audit", "version": __version__},
        "python": python,
        "interpreter_kind": sub.kind,
        "interpreters": sub.interpreters,
        "seconds": round(seconds, 2),
        "main": _run_dict(main),
        "run": _run_dict(sub),
        "tests": [
            {
                "nodeid": t.nodeid,
                "main": asdict(t.main),
                "subinterpreters": [asdict(s) for s in t.sub],
                "differs": t.differs,
                "fails_in_main": t.fails_in_main,
            }
            for t in tests
        ],
        "summary": {
            "tests": len(tests),
            "differ": sum(t.differs for t in tests),
            "fail_in_main": sum(t.fails_in_main for t in tests),
            "run_failed": run_failed(sub),
        },
    }


def dump_suite_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=True) + "\n"


def render_suite_junit(data: dict[str, Any]) -> str:
    """One test case per test and kind: failed when some subinterpreter did not pass a test
    that passes in main; skipped when it fails in main too (not the subinterpreters')."""
    kind = data["interpreter_kind"]
    suite = ET.Element("testsuite", name=f"subinterp-audit test ({kind})")
    failures = skipped = 0
    for test in data["tests"]:
        classname, _, name = test["nodeid"].partition("::")
        case = ET.SubElement(suite, "testcase", classname=classname, name=f"{name}[{kind}]")
        if test["differs"]:
            failures += 1
            lines = [
                f"interpreter {i + 1}: {s['outcome']}: {s['message']}".rstrip(": ")
                for i, s in enumerate(test["subinterpreters"])
                if s["outcome"] != PASSED
            ]
            failure = ET.SubElement(case, "failure", message=lines[0] if lines else "")
            failure.text = "\n".join(lines)
        elif test["main"]["outcome"] != PASSED:
            skipped += 1
            ET.SubElement(
                case, "skipped", message=f"{test['main']['outcome']} in the main interpreter too"
            )
    suite.set("tests", str(len(data["tests"])))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def render_suite_terminal(data: dict[str, Any], console: Console) -> None:
    summary, kind, count = data["summary"], data["interpreter_kind"], data["interpreters"]
    where = f"{count} {kind} interpreter{'s' if count > 1 else ''} at once"
    console.print(
        f"[bold]{plural(summary['tests'], 'test')}[/] in the main interpreter and in {where} "
        f"({data['seconds']:.1f} s)",
        highlight=False,
    )
    _render_blocked(data["run"], kind, console)
    differing = [t for t in data["tests"] if t["differs"]]
    if differing:
        console.print(f"\n[bold red]{len(differing)} pass in main but not in {kind}:[/]")
        # Grouped by what happened: one import refusal often fails a whole file's tests.
        groups: dict[str, list[str]] = {}
        for test in differing:
            for index, sub in enumerate(test["subinterpreters"]):
                if sub["outcome"] != PASSED:
                    first = (sub["message"].strip().splitlines() or [""])[0][:200]
                    what = f"{sub['outcome']}: {first}" if first else sub["outcome"]
                    groups.setdefault(what, []).append(
                        f"{test['nodeid']} (interpreter {index + 1})"
                    )
        for what, names in sorted(groups.items(), key=lambda g: -len(g[1])):
            console.print(f"  {escape(what)}", highlight=False, soft_wrap=True)
            for name in names[:5]:
                console.print(f"    {escape(name)}", highlight=False, soft_wrap=True)
            if len(names) > 5:
                console.print(f"    ... and {len(names) - 5} more", highlight=False)
    failing = [t for t in data["tests"] if t["fails_in_main"]]
    if failing:
        console.print(
            f"\n{len(failing)} fail in the main interpreter too (not the subinterpreters'): "
            + ", ".join(escape(t["nodeid"]) for t in failing[:10])
            + (" ..." if len(failing) > 10 else ""),
            highlight=False,
            soft_wrap=True,
        )
    run = data["run"]
    if run["end"] != "ok":
        how = f"killed by {run['signal']}" if run["signal"] else run["end"]
        if run["end"] == "hang":
            how = "hung (stopped at the time limit)"
            if run.get("deadlock"):
                how = (
                    f"deadlocked (no progress and no CPU time for "
                    f"{run['deadlock']['idle_seconds']:.0f} s: stopped then)"
                )
        if run["end"] == "crash_at_exit":
            how = f"was killed by {run['signal']} at exit, after its interpreters had ended"
        if run["end"] == "crash_at_end":
            how = f"was killed by {run['signal']} as its interpreters ended, after their tests"
        stages = ", ".join(f"interpreter {i + 1}: {s}" for i, s in enumerate(run["stages"]))
        colour = "yellow" if run["cpython_bug"] else "bold red"
        console.print(f"\n[{colour}]The {kind} run itself {how}[/] ({stages})", highlight=False)
        tail = [line for line in run["stderr_tail"].splitlines() if line.strip()][:3]
        for line in tail:
            console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
        deadlock = run.get("deadlock") or {}
        if deadlock:
            stacks = deadlock.get("native_stacks")
            if stacks:
                console.print("  Native stacks (innermost frames):", highlight=False)
                for line in stacks.splitlines()[:20]:
                    console.print(f"    {escape(line)}", highlight=False, soft_wrap=True)
            else:
                console.print(f"  ({escape(deadlock.get('native_stacks_from') or '')})")
        bug = run["cpython_bug"]
        if bug:
            console.print(
                f"  That is {cpython_bug_phrase(bug['cpython_issue'])} ({bug['status']}): "
                f"{escape(bug['title'])}; not the suite's.",
                highlight=False,
                soft_wrap=True,
            )
    if not differing and (run["end"] == "ok" or run["cpython_bug"]):
        console.print(f"\n[green]No test differs between main and {kind}.[/]")


def _render_blocked(run: dict[str, Any], kind: str, console: Console) -> None:
    """pytest itself could not be imported in the kind: which module blocks it, through which
    imports, and what the minimal collector ran instead (once for identical interpreters)."""
    seen: dict[tuple[str, ...], list[int]] = {}
    for index, blocked in enumerate(run.get("pytest_blocked") or ()):
        if blocked:
            key = (" -> ".join(blocked["chain"]), blocked["error"] or "")
            seen.setdefault(key, []).append(index)
    for (chain, error), indexes in seen.items():
        which = ", ".join(str(i + 1) for i in indexes)
        ran = sum((run.get("minimal_collector") or [])[i] or 0 for i in indexes)
        console.print(
            f"\n[bold red]pytest cannot be imported in {kind} interpreters[/] "
            f"(interpreter {which}): {escape(chain or 'pytest')}: {escape(error)}",
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"  Ran the plain test functions without pytest instead (minimal collector: "
            f"{ran} test{'s' if ran != 1 else ''}; no fixtures, parameters or plugins): "
            f"tests that need them, or pytest itself, did not run there.",
            highlight=False,
            soft_wrap=True,
        )


def suite_failed(data: dict[str, Any]) -> bool:
    """The gate of a suite run within a scan: a test differs, the run itself failed, or the
    suite could not run at all."""
    if "error" in data:
        return True
    return bool(data["summary"]["differ"]) or bool(data["summary"]["run_failed"])


def render_suite_in_scan(data: dict[str, Any], console: Console) -> None:
    """A scan's --suite, after its table: the same summary as `subinterp-audit test`."""
    console.print("\n[bold]Your test suite in own-GIL interpreters[/]", highlight=False)
    if "error" in data:
        console.print(f"[bold red]It could not run:[/] {escape(data['error'])}", highlight=False)
        return
    render_suite_terminal(data, console)
