"""The exit codes of every command (documented in the README), and the one error exit."""

from __future__ import annotations

from typing import NoReturn

from rich.markup import escape

from auditor.console import err_console
from auditor.pipeline import ScanStatus

EXIT_OK = 0  # the command finished (and the gate passed)
EXIT_POLICY = 1  # the CI gate failed (--require, --fail-on, --baseline), or diff saw a regression
EXIT_USAGE = 2  # bad usage, or an unusable target interpreter, or nothing to scan
EXIT_INCOMPLETE = 3  # the scan finished, but the tool itself failed on some module
# Stopped by a signal: 128 + its number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP): stopping.py

EXIT_CODES = {
    ScanStatus.DONE: EXIT_OK,
    ScanStatus.GATE_FAILED: EXIT_POLICY,
    ScanStatus.INCOMPLETE: EXIT_INCOMPLETE,
}


def print_error(message: str) -> None:
    """An error as one line on stderr (the message comes from outside: escaped)."""
    err_console.print(f"[bold red]subinterp-audit: error:[/] {escape(message)}", soft_wrap=True)


def error(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """The one exit point for errors: one line on stderr, no traceback."""
    print_error(message)
    raise SystemExit(code)
