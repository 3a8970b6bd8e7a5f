"""Trustworthy by construction: the probe engine's own guarantees, on 3.12 and 3.13.

Each fixture below would be judged wrongly by a tool that forks after threads, loses its
pipes, cuts a message inside a character, lets subinterpreters see its own files, or never
looks at a process that used a module only in a subinterpreter.  The zoo scan runs in the
default (shared) mode; test_zoo.py checks that ``--isolation strict`` agrees probe by probe.
"""

from __future__ import annotations

from tests.integration.conftest import Scan, free_threaded, reasons_of
from tests.integration.expected import FRESH, SUB_PROBES

AFTER_MAIN = tuple(p for p in SUB_PROBES if p not in FRESH)


def test_thread_holding_a_lock_is_not_forked(zoo_scan: Scan) -> None:
    """Main's import starts a thread that holds a mutex: after-main probes start fresh."""
    module = zoo_scan.module("thread_holds_lock")
    assert module["verdict"] == "own_gil"
    assert reasons_of(zoo_scan, "thread_holds_lock") == []
    for probe in SUB_PROBES:
        result = module["probes"][probe]
        assert (result["outcome"], result["stage"], result["exit_code"]) == (
            "ok",
            "process_exit",
            0,
        ), probe
        assert "DeprecationWarning" not in result["stderr_tail"], probe
    for probe in FRESH:
        # The thread the subinterpreter's import started runs on: no fork to observe the exit.
        assert module["probes"][probe]["exit_after_sub"] == {
            "outcome": "not_run",
            "signal": None,
            "exit_code": None,
            "message": "threads are running",
        }


def test_long_non_ascii_refusal_is_reported_whole(zoo_scan: Scan) -> None:
    module = zoo_scan.module("long_refusal")
    assert module["verdict"] == "unsupported"
    for probe in SUB_PROBES:
        result = module["probes"][probe]
        assert (result["outcome"], result["exception"]) == ("import_error", "ImportError")
        assert result["message"] == "é" * 6000, probe
        assert result["exit_code"] == 0


def test_subinterpreters_do_not_see_the_tool_directory(zoo_scan: Scan) -> None:
    """A module named `worker` is the audited one in every interpreter, not worker.py."""
    module = zoo_scan.module("worker")
    assert module["verdict"] == ("unsupported" if free_threaded(zoo_scan) else "legacy_only")
    assert module["init"]["multiple_interpreters"] == "not_supported"
    refusal = "module worker does not support loading in subinterpreters"
    for probe in ("isolated", "own_gil", "isolated_after_main", "own_gil_after_main"):
        assert module["probes"][probe]["message"] == refusal, probe
    if not free_threaded(zoo_scan):  # there legacy interpreters refuse it too
        assert module["probes"]["legacy"]["outcome"] == "ok"


def test_closed_stdio_does_not_lose_the_protocol(zoo_scan: Scan) -> None:
    module = zoo_scan.module("closes_stdio")
    assert module["verdict"] == "own_gil"
    for probe in SUB_PROBES:
        result = module["probes"][probe]
        assert (result["outcome"], result["stage"], result["exit_code"], result["signal"]) == (
            "ok",
            "process_exit",
            0,
            None,
        ), probe


def test_exit_after_subinterpreter_only_use_is_observed(zoo_scan: Scan) -> None:
    module = zoo_scan.module("aborts_at_exit_after_sub")
    assert module["verdict"] == "crashes"
    for probe in FRESH:
        result = module["probes"][probe]
        assert result["outcome"] == "crash", probe
        assert result["stage"] == "exit_after_subinterpreter"
        assert result["signal"] == "SIGABRT"
        assert result["import_outcome"] == "ok"
        assert result["main_after"]["outcome"] == "ok"  # main's import still worked
        assert result["exit_after_sub"]["outcome"] == "crash"
    for probe in AFTER_MAIN:
        assert module["probes"][probe]["outcome"] == "ok", probe
    (crash,) = [r for r in module["reasons"] if r["code"] == "crash"]
    assert crash["details"]["stage"] == "exit_after_subinterpreter"


def test_exit_is_observed_for_clean_modules_too(zoo_scan: Scan) -> None:
    for probe in FRESH:
        assert zoo_scan.module("multiphase_own_gil")["probes"][probe]["exit_after_sub"] == {
            "outcome": "ok",
            "signal": None,
            "exit_code": 0,
            "message": None,
        }
