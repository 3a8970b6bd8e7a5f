"""Deadlock detection: a probe that makes no progress and uses almost no CPU is stuck.

A hang costs the whole --timeout otherwise.  "Stuck" is decided from progress, not from
zero CPU time: the most common deadlock (one thread holds the GIL and waits for a lock,
another holds the lock and waits for the GIL) keeps using a little CPU, because threads
waiting for the GIL wake every switch interval (5 ms); so do spin-then-sleep locks and
condition variables with timeouts.  The supervisor (auditor/probing/supervisor.py) asks
`Watch.stalled` every half second with the probe's output so far; once a group has written
nothing and used under `BUSY_SHARE` of one core for `STALL_SECONDS`, with no thread in
uninterruptible I/O, it collects the native stacks (gdb or eu-stack, when installed) and
aborts the group so that faulthandler (enabled in every probe child) writes the Python
stack of every thread to its stderr.  A busy loop is not stuck: it runs to its deadline.
Linux /proc only: elsewhere nothing is ever called stalled.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

STALL_SECONDS = 3.0  # no progress and (almost) no CPU time: a deadlock
BUSY_SHARE = 0.05  # of one core: more than this in a check interval is work, not waiting
CHECK_EVERY = 0.5
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
STACK_TIMEOUT = 20.0  # for the debugger to attach and print
STACK_BYTES = 8192  # kept of the native stacks
FRAMES_PER_THREAD = 12
# A frame's argument list when it is long (the interpreter's own frames): cut, so that the
# frames of every thread fit in STACK_BYTES; short ones stay ("futex_word=0x... <init_lock>").
_LONG_ARGUMENTS = re.compile(r"\([^()]{80,}\)")


def _stat_fields(path: str) -> list[str] | None:
    """The fields of a /proc stat file after the command name (which may hold spaces)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read().decode("ascii", "replace")
    except OSError:
        return None
    return data[data.rfind(")") + 2 :].split()


def session_members(sid: int) -> list[int]:
    """The processes of session `sid` (Linux /proc; elsewhere none are found)."""
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    members = []
    for pid in pids:
        fields = _stat_fields(f"/proc/{pid}/stat")
        # fields: 0 state, 1 ppid, 2 pgrp, 3 session (proc(5), from field 3)
        if fields is not None and len(fields) > 3 and fields[3] == str(sid):
            members.append(pid)
    return members


def group_activity(pgid: int) -> tuple[int, bool] | None:
    """(CPU ticks used by the processes of group `pgid`, whether a thread of it is in
    uninterruptible I/O); None when /proc cannot tell (not Linux, or the group is gone)."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    ticks, in_io, seen = 0, False, False
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
            if state and state[0] == "D":  # in the kernel, on I/O: waiting for a reason
                in_io = True
    return (ticks, in_io) if seen else None


@dataclass
class Watch:
    """Whether one process group has made no progress, using under `BUSY_SHARE` of a core,
    for `seconds`."""

    seconds: float = STALL_SECONDS
    _ticks: int | None = None
    _progress: object = None
    _checked: float = 0.0
    _quiet_since: float | None = None
    _next_check: float = 0.0

    def begin(self, now: float, progress: object = None) -> None:
        """The group was just forked: it has used no CPU time yet, so the first look at /proc
        (a walk of every process) can wait one interval.  Most probes end before it."""
        self._ticks, self._checked, self._progress = 0, now, progress
        self._next_check = now + CHECK_EVERY

    def stalled(self, pgid: int, now: float, progress: object = None) -> bool:
        """`progress`: anything that changes when the probe gets on (its output so far)."""
        if now < self._next_check:
            return False
        self._next_check = now + CHECK_EVERY
        activity = group_activity(pgid)
        if activity is None:
            self.reset()
            return False
        ticks, in_io = activity
        interval, self._checked = now - self._checked, now
        used = None if self._ticks is None else (ticks - self._ticks) / _HZ
        moved, self._ticks, self._progress = progress != self._progress, ticks, progress
        if in_io or moved or used is None or used > BUSY_SHARE * interval:
            self._quiet_since = None  # working, or the first look
            return False
        if self._quiet_since is None:
            self._quiet_since = now - interval  # quiet since the previous look
        return now - self._quiet_since >= self.seconds

    def reset(self) -> None:
        """The process is waiting for a good reason (its own child): start over."""
        self._ticks, self._progress, self._quiet_since = None, None, None

    def idle_seconds(self, now: float) -> float:
        return 0.0 if self._quiet_since is None else now - self._quiet_since


def deadlock_evidence(pid: int, watch: Watch) -> dict[str, object]:
    """What a stuck process group leaves as evidence: how long it was idle, and the native
    stack of every thread of `pid` (or why there is none)."""
    stacks, source = native_stacks(pid)
    return {
        "idle_seconds": round(watch.idle_seconds(time.monotonic()), 1),
        "native_stacks": stacks,
        "native_stacks_from": source,
    }


def _innermost(lines: list[str]) -> list[str]:
    """Each thread's header and its innermost `FRAMES_PER_THREAD` frames (what it waits on),
    long argument lists cut: every thread of the process fits in STACK_BYTES."""
    kept: list[str] = []
    frames = 0
    for line in lines:
        if line.startswith(("Thread", "TID", "PID")):
            kept.append(line)
            frames = 0
        elif line.lstrip().startswith("#"):
            frames += 1
            if frames <= FRAMES_PER_THREAD:
                kept.append(_LONG_ARGUMENTS.sub("(…)", line))
            elif frames == FRAMES_PER_THREAD + 1:
                kept.append("    …")
    return kept


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
        text = "\n".join(_innermost(done.stdout.splitlines()))
        if text:
            return text[:STACK_BYTES], name  # the innermost frames come first
        return (
            None,
            f"{name} printed no stack (exit {done.returncode}): {done.stderr.strip()[:200]}",
        )
    return None, "no native stacks: install gdb or elfutils (eu-stack) to get them"
