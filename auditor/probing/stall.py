"""Deadlock detection: a probe process group that sleeps with no CPU time is stuck.

A hang costs the whole --timeout otherwise (pybind11's ``get_internals`` waiting in
``PyGILState_Ensure`` inside a subinterpreter sleeps forever at 0% CPU).  The supervisor
(auditor/probing/supervisor.py) asks `Watch.stalled` every half second; once a group has had no
running thread and no CPU time for `STALL_SECONDS`, it collects the native stacks (gdb or
eu-stack, when installed) and aborts the group so that faulthandler (enabled in every probe
child) writes the Python stack of every thread to its stderr.  Linux /proc only: elsewhere
nothing is ever called stalled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

STALL_SECONDS = 3.0  # asleep, no CPU time: a deadlock
CHECK_EVERY = 0.5
STACK_TIMEOUT = 20.0  # for the debugger to attach and print
STACK_BYTES = 8192  # kept of the native stacks


def _stat_fields(path: str) -> list[str] | None:
    """The fields of a /proc stat file after the command name (which may hold spaces)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read().decode("ascii", "replace")
    except OSError:
        return None
    return data[data.rfind(")") + 2 :].split()


def group_activity(pgid: int) -> tuple[int, bool] | None:
    """(CPU ticks used by the processes of group `pgid`, whether a thread of it is running
    or runnable); None when /proc cannot tell (not Linux, or the group is gone)."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    ticks, running, seen = 0, False, False
    for pid in pids:
        fields = _stat_fields(f"/proc/{pid}/stat")
        # fields: 0 state, 1 ppid, 2 pgrp, ..., 11 utime, 12 stime (proc(5), from field 3)
        if fields is None or len(fields) < 13 or fields[2] != str(pgid):
            continue
        seen = True
        ticks += int(fields[11]) + int(fields[12])
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            state = _stat_fields(f"/proc/{pid}/task/{task}/stat")
            if state and state[0] in ("R", "D"):  # running, or in the kernel on I/O
                running = True
    return (ticks, running) if seen else None


@dataclass
class Watch:
    """Whether one process group has been asleep with no CPU time for `seconds`."""

    seconds: float = STALL_SECONDS
    _ticks: int | None = None
    _idle_since: float | None = None
    _next_check: float = 0.0

    def stalled(self, pgid: int, now: float) -> bool:
        if now < self._next_check:
            return False
        self._next_check = now + CHECK_EVERY
        activity = group_activity(pgid)
        if activity is None:
            self._idle_since = None
            return False
        ticks, running = activity
        if running or ticks != self._ticks:
            self._ticks, self._idle_since = ticks, None
            return False
        if self._idle_since is None:
            self._idle_since = now
        return now - self._idle_since >= self.seconds

    def reset(self) -> None:
        """The process is waiting for a good reason (its own child): start over."""
        self._ticks, self._idle_since = None, None

    def idle_seconds(self, now: float) -> float:
        return 0.0 if self._idle_since is None else now - self._idle_since


def native_stacks(pid: int) -> tuple[str | None, str]:
    """(the native stack of every thread of `pid`, or None; which tool gave them, or why
    there are none)."""
    commands = (
        ("eu-stack", ["eu-stack", "-p", str(pid)]),
        (
            "gdb",
            ["gdb", "-nx", "-batch", "-p", str(pid), "-ex", "thread apply all bt"],
        ),
    )
    for name, command in commands:
        if shutil.which(command[0]) is None:
            continue
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=STACK_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{name} failed: {exc}"
        text = "\n".join(
            line
            for line in done.stdout.splitlines()
            if line.startswith(("#", "Thread", "TID", "PID")) or line.strip().startswith("#")
        )
        if text:
            return text[:STACK_BYTES], name  # the innermost frames come first
        return (
            None,
            f"{name} printed no stack (exit {done.returncode}): {done.stderr.strip()[:200]}",
        )
    return None, "no native stacks: install gdb or elfutils (eu-stack) to get them"
