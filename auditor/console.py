"""The rich consoles: results on stdout, progress and messages on stderr.

Piped output (every CI log) gets no trailing blanks: rich pads table cells to the column
width, which leaves blanks at the end of every line of a table.
"""

from __future__ import annotations

import io
import sys
from typing import TextIO, cast

from rich.console import Console
from rich.file_proxy import FileProxy


class TrimmedLines(io.TextIOBase):
    """sys.stdout or sys.stderr (looked up at each write, as rich does), with the trailing
    blanks of every line dropped unless it is a terminal."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._pending = ""

    @property
    def _stream(self) -> TextIO:
        stream = getattr(sys, self._name)
        # A live progress display swaps sys.stdout/sys.stderr for a proxy that writes back
        # to this console: write to what it proxies, never to it (that would loop).
        while isinstance(stream, FileProxy):
            stream = stream.rich_proxied_file
        return cast(TextIO, stream)

    def write(self, text: str) -> int:
        stream = self._stream
        if stream.isatty():
            return stream.write(text)
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            stream.write(line.rstrip(" ") + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:  # a line rich has not finished: pass it on as it is
            self._stream.write(self._pending)
            self._pending = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"


console = Console(file=cast(TextIO, TrimmedLines("stdout")), highlight=False)
err_console = Console(file=cast(TextIO, TrimmedLines("stderr")), highlight=False)
