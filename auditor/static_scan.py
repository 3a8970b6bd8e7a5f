"""``scan --static-only``: read wheels and paths (auditor/static/reader.py), print the tables
(auditor/report/static_table.py) and write the JSON document (auditor/report/static_json.py).

auditor/commands/scan.py checks the command line and exits with the code run_static() returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from auditor.errors import UsageError
from auditor.report.output import check_output
from auditor.report.static_json import write_static_json
from auditor.report.static_table import render
from auditor.static.reader import read_artifacts


def run_static(
    wheels: Sequence[Path], paths: Sequence[Path], json_path: Path | None, console: Console
) -> int:
    """Analyse `wheels` (.whl files) and `paths` (directories or files) statically, print the
    tables to `console`, write the JSON document to `json_path` if given; return the exit code
    (0: a static analysis has no verdict to fail on).

    Raises SelectionError for a missing file or a wheel that is not a zip archive, UsageError
    when `json_path` cannot be written (checked first), ReportError when writing it fails.
    """
    if json_path is not None:
        problem = check_output(json_path)
        if problem is not None:
            raise UsageError(f"cannot write the JSON report to {json_path}: {problem}")
    artifacts = read_artifacts(wheels, paths)
    render(artifacts, console)
    if json_path is not None:
        write_static_json(json_path, artifacts)
    return 0
