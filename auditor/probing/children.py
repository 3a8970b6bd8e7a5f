"""A probe child as the supervisor watches it: its FIFOs, its state, and the reply they make."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any, cast

from auditor.probing.replies import Reply
from auditor.probing.stall import Watch

TAIL_BYTES = 4096  # how much of a child's stderr is kept as evidence
FATAL = b"Fatal Python error: "


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class _Stream:
    """One FIFO of a probe child: the byte count and the last TAIL_BYTES (all, for results)."""

    def __init__(self, path: str, keep_all: bool = False) -> None:
        os.mkfifo(path, 0o600)
        self.path = path
        # Non-blocking, so that opening does not wait for the writer (the zygote opens it).
        self.fd: int | None = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.keep_all = keep_all
        self.total = 0
        self.data = bytearray()
        self.snapshot: tuple[int, bytes] | None = None
        self.fatal: bytes | None = None  # the first "Fatal Python error: ..." line

    def read(self) -> bool:
        """Read what is there; False at end of file (and the descriptor is closed)."""
        assert self.fd is not None
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return True
            if not chunk:
                self.close()
                return False
            self.total += len(chunk)
            self.data += chunk
            if self.fatal is None:
                self._find_fatal()
            if not self.keep_all and len(self.data) > 2 * TAIL_BYTES:
                del self.data[:-TAIL_BYTES]

    def _find_fatal(self) -> None:
        """Keep CPython's "Fatal Python error: ..." line: on 3.14+ faulthandler's C stack
        follows it, and can push it out of the tail."""
        start = self.data.find(FATAL)
        if start >= 0:
            end = self.data.find(b"\n", start)
            if end >= 0:
                self.fatal = bytes(self.data[start:end])

    def tail(self) -> str:
        data = bytes(self.data[-TAIL_BYTES:])
        if self.fatal is not None and self.fatal not in data:
            data = self.fatal + b"\n[...]\n" + data[len(self.fatal) + 7 :]
        return data.decode("utf-8", "replace")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        with contextlib.suppress(OSError):
            os.unlink(self.path)


@dataclass
class _Child:
    """One probe child being watched."""

    probe: str
    streams: tuple[_Stream, _Stream, _Stream]  # result, stdout, stderr
    timeout: float
    pid: int | None = None
    started: float = 0.0
    deadline: float = 0.0
    status: int | None = None
    reaped_at: float = 0.0
    timed_out: bool = False
    killed_at: float | None = None
    lines_seen: int = 0
    # What a group's main import had written when this after-main child was forked.
    inherited: tuple[int, str] = (0, "")
    extra: dict[str, Any] = field(default_factory=dict)
    watch: Watch = field(default_factory=Watch)  # no progress, (almost) no CPU: a deadlock

    @property
    def fifos(self) -> list[str]:
        return [s.path for s in (self.streams[1], self.streams[2], self.streams[0])]

    def progress(self) -> tuple[int, ...]:
        """What the probe has written so far: protocol lines (its stage), stdout, stderr."""
        return tuple(stream.total for stream in self.streams)

    def start(self, pid: int, now: float) -> None:
        self.pid, self.started, self.deadline = pid, now, now + self.timeout
        self.watch.begin(now, self.progress())

    def kill(self, now: float) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.killed_at is None:
            self.killed_at = now

    def close(self) -> None:
        for stream in self.streams:
            stream.close()


def _reply(child: _Child, exec_mode: bool) -> Reply:
    """What one probe child did, as a reply (auditor/probing/replies.py)."""
    res, out, err = child.streams
    stage = imported = result = failure = sub_import = None
    files: list[str] = []
    files_said = files_broken = False
    for line in bytes(res.data).decode("ascii", "replace").splitlines():
        key, _, value = line.partition(" ")
        if key == "stage":
            stage = value
        elif key == "import_outcome":
            imported = value
        elif key == "result":
            result = json.loads(value)
        elif key == "tool_failure":
            failure = json.loads(value)
        elif key == "threads":
            child.extra["threads"] = value
        elif key == "imported":
            sub_import = json.loads(value)
        elif key == "filehex":
            try:
                files.append(os.fsdecode(bytes.fromhex(value)))
            except ValueError:  # a line cut short: the list cannot be trusted
                files_broken = True
        elif key == "files_said":
            files_said = True
    stdout_bytes, stderr_tail = out.total, err.tail()
    if child.inherited != (0, ""):
        stdout_bytes += child.inherited[0]
        stderr_tail = (child.inherited[1] + stderr_tail)[-TAIL_BYTES:]
    reply: dict[str, Any] = {
        "probe": child.probe,
        "stage": stage,
        "seconds": round((child.reaped_at or time.monotonic()) - child.started, 4),
        "stdout_bytes": stdout_bytes,
        "stderr_tail": stderr_tail,
        "exit_code": None,
        "signal": None,
        "fresh_exec": exec_mode,
        **child.extra,
    }
    status = child.status
    if status is not None and status >= 0:
        if os.WIFSIGNALED(status):
            reply["signal"] = signal_name(os.WTERMSIG(status))
        elif os.WIFEXITED(status):
            reply["exit_code"] = os.WEXITSTATUS(status)
    if result is not None:
        reply.update(result)
    elif files_said and not files_broken:
        # Died (or hung) after one whole visit of the module: what it had loaded by then.
        reply["files"] = sorted(set(files))
    exit_after = reply.get("exit_after_sub")
    if isinstance(exit_after, dict) and exit_after.get("signal") is not None:
        exit_after["signal"] = signal_name(exit_after["signal"])
    if failure is not None or status is None or status < 0:
        reply.update(
            outcome="tool_failure",
            exception=None,
            message=failure
            or "subinterp-audit lost this probe: its group child ended before reporting it",
        )
        return cast(Reply, reply)
    died = reply["signal"] is not None or reply["exit_code"] not in (0, None)
    if result is None and sub_import is not None:
        # Died after the subinterpreter's import had returned: keep what it raised.
        reply.update({k: sub_import[k] for k in ("exception", "message", "cause")})
        reply["outcome"] = imported = sub_import["outcome"]
    if child.timed_out or died or result is None:
        # A hang or a crash at `stage`, even when the import itself had already reported
        # (then import_outcome says what it did).  Exiting 0 without a result is
        # os._exit(0) during the probe: a crash too.
        reply["import_outcome"] = reply.get("outcome", imported)
        reply["outcome"] = "timeout" if child.timed_out else "crash"
        if child.timed_out:
            reply["signal"] = None  # the SIGKILL was ours
    elif isinstance(exit_after, dict) and exit_after.get("outcome") == "crash":
        # The process that used the module only in a subinterpreter died at its exit.
        reply["import_outcome"] = reply.get("outcome")
        reply.update(
            outcome="crash",
            stage="exit_after_subinterpreter",
            signal=exit_after.get("signal"),
            exit_code=exit_after.get("exit_code"),
        )
    return cast(Reply, reply)
