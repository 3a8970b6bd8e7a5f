"""Supervise the target's probe processes: the zygote, the FIFOs, deadlines, and the evidence.

The target runs auditor/_target/worker.py as a *zygote* (one per job): a process in the state
of a newly started interpreter running the C helper, which forks a probe child per request
and reports ``forked PID`` / ``reaped PID STATUS``.  Everything else happens here, in the CLI
process: each probe child writes its stdout, stderr and protocol lines into three FIFOs made
here, and this module reads them (``poll``, any descriptor number), enforces the deadline
(killing the child's process group), and turns what it saw into one reply dict per probe
(the format auditor/probing/replies.py's ``result_from_reply`` reads).  A child's FIFOs,
its state and its reply are auditor/probing/children.py's.

Failures of the tool itself (the zygote dies, does not answer, or cannot fork; the worker
reports a fault of its own) raise ``ToolFailure`` or give the outcome ``tool_failure``;
they are never a module's crash.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from auditor.probing.children import _Child, _reply, _Stream
from auditor.probing.replies import Reply
from auditor.probing.stall import deadlock_evidence, session_members

ANSWER_SECONDS = 30.0  # the zygote's answer to a request ("forked PID")
REAP_SECONDS = 10.0  # from our SIGKILL to the zygote's "reaped"
DRAIN_SECONDS = 1.0  # output still arriving after the child was reaped (module forks)
ABORT_GRACE = 2.0  # from the SIGABRT of a deadlocked probe (faulthandler writes) to SIGKILL


# Every zygote alive in this process, so that a stop (Ctrl-C, SIGTERM, SIGHUP) can end them
# all, whichever thread started them; once stopped, no zygote starts again.
_LIVE: set[Zygote] = set()
_LIVE_LOCK = threading.Lock()
_STOPPED = threading.Event()


def stop_all() -> None:
    """End every zygote of this process with every process it forked, and start no new
    one: the scan was told to stop.  Safe to call more than once."""
    _STOPPED.set()
    with _LIVE_LOCK:
        zygotes = list(_LIVE)
    for zygote in zygotes:
        zygote.terminate()


def stopped() -> bool:
    return _STOPPED.is_set()


def resume() -> None:
    """Zygotes may start again: the stopped command is over (a later command in the same
    process, as a test runs them, must not find the scan still stopping)."""
    _STOPPED.clear()


class ToolFailure(Exception):
    """A fault of subinterp-audit itself while probing (not of the audited module)."""


@dataclass(frozen=True)
class Spec:
    """What to probe: one probe, or (``after``) main plus after-main probes in one group."""

    mode: str  # "fork" (from the zygote) or "exec" (a new interpreter: --isolation strict)
    probe: str
    module: str
    path: str
    init_name: str
    paths: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    kind: str = ""  # depth probes: the interpreter kind
    threads: int = 0  # depth probes' sizes (auditor/probe_plan.py DepthSettings)
    rounds: int = 0
    cycles: int = 0
    control_cycles: int = 0  # 0: the cycles probe skips its control (measured once per scan)
    control_growth: int | None = None  # then: that control's C heap growth per cycle
    smoke: str = ""  # the maintainer's smoke code for this module, "" for none


class Zygote:
    """One zygote process of the target interpreter (auditor/_target/worker.py --zygote)."""

    def __init__(self, command: list[str]) -> None:
        self._command = command
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._buffer = b""
        self._fifo_dir = tempfile.mkdtemp(prefix="subinterp-audit-")
        self._serial = 0
        self._running: list[_Child] = []  # the probe children of the task under way

    def _start(self) -> subprocess.Popen[bytes]:
        if _STOPPED.is_set():
            raise ToolFailure("the scan is stopping")
        if self._stderr is None:
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        # A session of its own: Ctrl-C in the terminal reaches the CLI only, which ends
        # the zygote and the probe under way itself.
        proc = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
        )
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        self._buffer = b""
        self._proc = proc
        with _LIVE_LOCK:
            _LIVE.add(self)
        if _STOPPED.is_set():  # stopped while it started: stop_all may have missed it
            self.terminate()
            raise ToolFailure("the scan is stopping")
        return proc

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return "no output"
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        self._stderr.seek(0)
        self._stderr.truncate()
        return lines[-1] if lines else "no output"

    def _fail(self, what: str) -> ToolFailure:
        """The zygote is lost: end it and say why (its stderr's last line)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()
            what = f"{what} (exit status {proc.returncode}: {self.stderr_tail()})"
        return ToolFailure(what)

    def _lines(self) -> tuple[list[str], bool]:
        """Complete lines the zygote has said, and whether it is still there."""
        assert self._proc is not None and self._proc.stdout is not None
        alive = True
        while True:
            try:
                chunk = os.read(self._proc.stdout.fileno(), 65536)
            except BlockingIOError:
                break
            if not chunk:
                alive = False
                break
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines], alive

    def _streams(self) -> tuple[_Stream, _Stream, _Stream]:
        self._serial += 1
        base = os.path.join(self._fifo_dir, str(self._serial))
        return (
            _Stream(base + ".res", keep_all=True),
            _Stream(base + ".out"),
            _Stream(base + ".err"),
        )

    def run(self, spec: Spec, timeout: float) -> list[Reply]:
        """Run `spec` in a probe child (and its grandchildren); one reply per probe.

        Raises ToolFailure when the zygote fails; the probes under way are killed.
        """
        top = _Child(spec.probe, self._streams(), timeout)
        subs = [_Child(probe, self._streams(), timeout) for probe in spec.after]
        self._running = [top, *subs]
        try:
            self._supervise(spec, top, subs)
            replies = [_reply(top, spec.mode == "exec")]
            for child in subs:
                if child.pid is not None:
                    replies.append(_reply(child, False))
            return replies
        finally:
            self._running = []
            for child in (top, *subs):
                if child.pid is not None and child.status is None:
                    child.kill(time.monotonic())
                child.close()

    def _request(self, spec: Spec, top: _Child, subs: list[_Child]) -> bytes:
        fields = [spec.mode, spec.probe, spec.module, spec.path, spec.init_name]
        fields += [str(len(spec.paths)), *spec.paths, *top.fifos, str(len(subs))]
        for child in subs:
            fields += [child.probe, *child.fifos]
        fields += [spec.kind, str(spec.threads), str(spec.rounds), str(spec.cycles)]
        control_growth = "" if spec.control_growth is None else str(spec.control_growth)
        fields += [str(spec.control_cycles), control_growth, spec.smoke]
        payload = b"\0".join(os.fsencode(f) for f in fields)
        return str(len(payload)).encode() + b"\n" + payload

    def _supervise(self, spec: Spec, top: _Child, subs: list[_Child]) -> None:
        proc = self._proc if self._proc is not None and self._proc.poll() is None else None
        try:
            proc = proc or self._start()
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(self._request(spec, top, subs))
            proc.stdin.flush()
        except OSError as exc:
            raise self._fail(f"the probe zygote could not be reached: {exc}") from exc
        poller = select.poll()
        zygote_fd = proc.stdout.fileno()
        poller.register(zygote_fd, select.POLLIN)
        owners: dict[int, _Stream] = {}

        def watch(child: _Child) -> None:
            for stream in child.streams:
                assert stream.fd is not None
                owners[stream.fd] = stream
                poller.register(stream.fd, select.POLLIN)

        def read(stream: _Stream) -> None:
            fd = stream.fd
            if fd is not None and not stream.read():
                poller.unregister(fd)
                owners.pop(fd, None)

        answer_by = time.monotonic() + ANSWER_SECONDS
        while True:
            now = time.monotonic()
            if top.pid is None and now > answer_by:
                raise self._fail("the probe zygote did not answer")
            waiting = any(c.pid is not None and c.status is None for c in subs)
            for child in (top, *subs):
                # A group child waiting for its after-main grandchild is not stuck.
                if child is top and waiting:
                    top.watch.reset()
                    continue
                if (
                    child.pid is not None
                    and child.status is None
                    and child.killed_at is None
                    and not child.timed_out
                    and child.watch.stalled(child.pid, now, child.progress())
                ):
                    _abort_stalled(child, now)
            for child in (top, *subs):
                if child.pid is not None and child.status is None:
                    if child.killed_at is None and now > child.deadline:
                        child.timed_out = True
                        child.kill(now)
                        if child is top:
                            for sub in subs:
                                if sub.pid is not None and sub.status is None:
                                    sub.kill(now)
                    elif child.killed_at is not None and now > child.killed_at + REAP_SECONDS:
                        if child is top:
                            raise self._fail(f"the probe zygote did not reap {child.pid}")
                        child.status = -1  # its group child is gone: see _reply
            if top.status is not None and (not owners or now > top.reaped_at + DRAIN_SECONDS):
                return
            for fd, _ in poller.poll(100):
                if fd != zygote_fd:
                    stream = owners.get(fd)
                    if stream is not None:
                        read(stream)
                        if stream is top.streams[0]:
                            self._group_lines(top, subs, watch, read)
                    continue
                lines, alive = self._lines()
                for line in lines:
                    key, _, value = line.partition(" ")
                    if key == "forked":
                        top.start(int(value), time.monotonic())
                        watch(top)
                    elif key == "reaped":
                        top.status = int(value.split()[1])
                        top.reaped_at = time.monotonic()
                        top.kill(top.reaped_at)  # whatever the module forked into the group
                        for sub in subs:
                            sub.kill(top.reaped_at)
                    elif key == "error":
                        raise ToolFailure(f"the probe zygote failed: {value}")
                if not alive:
                    if top.pid is not None:
                        top.kill(time.monotonic())
                    raise self._fail("the probe zygote died")

    @staticmethod
    def _group_lines(top: _Child, subs: list[_Child], watch: Any, read: Any) -> None:
        """A group child's protocol lines: it forked or reaped an after-main grandchild."""
        lines = bytes(top.streams[0].data).split(b"\n")[:-1]
        for raw in lines[top.lines_seen :]:
            key, _, value = raw.decode("ascii", "replace").partition(" ")
            now = time.monotonic()
            if key == "forked":
                index, pid = (int(v) for v in value.split())
                child = subs[index]
                # What main's import wrote so far belongs to this probe too, as it does
                # when the probe imports in main itself (--isolation strict).
                for stream in top.streams[1:]:
                    if stream.fd is not None:
                        read(stream)
                child.inherited = (top.streams[1].total, top.streams[2].tail())
                child.start(pid, now)
                watch(child)
                top.deadline = child.deadline + top.timeout
            elif key == "reaped":
                index, status = (int(v) for v in value.split())
                child = subs[index]
                child.status, child.reaped_at = status, now
                child.kill(now)
                top.deadline = now + top.timeout
        top.lines_seen = len(lines)

    def close(self) -> None:
        """End the zygote (closing its stdin is enough when it is idle)."""
        with _LIVE_LOCK:
            _LIVE.discard(self)
        proc, self._proc = self._proc, None
        if proc is not None:
            assert proc.stdin is not None
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        with contextlib.suppress(OSError):
            for name in os.listdir(self._fifo_dir):
                os.unlink(os.path.join(self._fifo_dir, name))
            os.rmdir(self._fifo_dir)

    def terminate(self) -> None:
        """A stop: kill the probe under way (each probe child has a process group of its
        own, and so has each after-main grandchild), then the zygote, then whatever else of
        its session is left (a child forked a moment ago, a module's own fork), and reap
        the zygote."""
        now = time.monotonic()
        for child in list(self._running):
            child.kill(now)
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        # The zygote leads a session of its own, which every process it forks stays in.
        for _ in range(3):
            members = session_members(proc.pid)
            if not members:
                break
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=REAP_SECONDS)


def _abort_stalled(child: _Child, now: float) -> None:
    """A deadlock: keep the native stacks, then SIGABRT the group, so that faulthandler
    writes every thread's Python stack to stderr; SIGKILL follows after ABORT_GRACE."""
    assert child.pid is not None
    child.timed_out = True
    child.extra["deadlock"] = deadlock_evidence(child.pid, child.watch)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGABRT)
    child.deadline = time.monotonic() + ABORT_GRACE
