"""The command line: one module per command (click only), the exit codes in exits.py."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

import click
from rich.markup import escape

from auditor import __version__
from auditor.commands.diff import diff
from auditor.commands.exits import EXIT_OK, EXIT_USAGE, print_error
from auditor.commands.explain import explain
from auditor.commands.scan import scan
from auditor.commands.stopping import exit_code, stop_on_signals
from auditor.commands.survey import merge, survey
from auditor.commands.test import test
from auditor.console import err_console
from auditor.errors import AuditorError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="subinterp-audit")
def cli() -> None:
    """Does your CPython extension module work in subinterpreters?

    subinterp-audit imports every extension module of a Python environment in
    subinterpreters of each kind (legacy, isolated with a shared GIL, isolated with its
    own GIL), each attempt in a sacrificial process, and tells you what happened, what it
    means, and which modules are ready for concurrent.interpreters.
    """


for _command in (scan, explain, diff, survey, merge, test):
    cli.add_command(_command)


SHORT_USAGE = """\
Usage: subinterp-audit COMMAND [OPTIONS] [ARGS]...

  scan     probe extension modules in subinterpreters (start here)
  explain  one module's evidence and how to fix it
  diff     what changed between two JSON reports
  survey   many packages across Python versions, shardable over a CI matrix
  merge    join survey shards into one report and a tracker page
  test     run your pytest suite in subinterpreters, against main

Try 'subinterp-audit --help' or 'subinterp-audit scan --help'."""


INTERRUPTED = (
    "subinterp-audit: interrupted (no report written; the modules that finished are cached "
    "for the next scan)"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (testable without exiting)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    if not args:
        err_console.print(SHORT_USAGE, highlight=False, markup=False, soft_wrap=True)
        return EXIT_USAGE
    try:
        with stop_on_signals():
            cli.main(
                args=list(argv) if argv is not None else None,
                prog_name="subinterp-audit",
                standalone_mode=False,
            )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort as exc:  # click's word for a KeyboardInterrupt (or a stop signal)
        err_console.print(INTERRUPTED, soft_wrap=True)
        return exit_code(exc)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        print_error(exc.format_message() + hint)
        return EXIT_USAGE
    except click.ClickException as exc:
        print_error(exc.format_message())
        return exc.exit_code
    except AuditorError as exc:
        first, _, rest = str(exc).partition("\n")
        print_error(first)
        if rest:
            err_console.print(f"[dim]{escape(rest)}[/]", soft_wrap=True)
        return EXIT_USAGE
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt as exc:
        err_console.print(INTERRUPTED, soft_wrap=True)
        return exit_code(exc)
    return EXIT_OK


def entrypoint() -> NoReturn:
    """The console script."""
    sys.exit(main())
