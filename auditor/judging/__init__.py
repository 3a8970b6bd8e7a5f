"""Judging: probe results -> verdicts, reasons, CPython's known bugs, advice and the CI gate."""
