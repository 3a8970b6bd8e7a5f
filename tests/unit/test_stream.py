"""A probe's stderr tail keeps CPython's "Fatal Python error" line, whatever follows it."""

from __future__ import annotations

import os
from pathlib import Path

from auditor.probing.children import TAIL_BYTES, _Stream


def test_the_fatal_line_survives_a_long_c_stack(tmp_path: Path) -> None:
    stream = _Stream(str(tmp_path / "err"))
    writer = os.open(tmp_path / "err", os.O_WRONLY)
    try:
        os.write(writer, b"Fatal Python error: Segmentation fault\n\nCurrent thread:\n")
        stream.read()
        for number in range(200):  # 3.14+ faulthandler: the C stack, frame by frame
            os.write(writer, f"  Binary file 'libpython.so', at frame {number}\n".encode())
            stream.read()
    finally:
        os.close(writer)
    tail = stream.tail()
    stream.close()
    assert tail.startswith("Fatal Python error: Segmentation fault\n[...]\n")
    assert tail.endswith("at frame 199\n")
    assert len(tail.encode()) <= TAIL_BYTES


def test_a_short_stderr_is_kept_as_it_is(tmp_path: Path) -> None:
    stream = _Stream(str(tmp_path / "err"))
    writer = os.open(tmp_path / "err", os.O_WRONLY)
    os.write(writer, b"warning\nFatal Python error: Aborted\n\nmore\n")
    os.close(writer)
    stream.read()
    tail = stream.tail()
    stream.close()
    assert tail == "warning\nFatal Python error: Aborted\n\nmore\n"
