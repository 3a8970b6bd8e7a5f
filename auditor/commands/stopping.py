"""Stopping a command when told to: Ctrl-C (SIGINT), SIGTERM (CI runners, ``timeout``,
process managers) and SIGHUP (a closed terminal) all stop it the same way, at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from auditor.probing.supervisor import resume, stop_all

# The signals that stop a command; each ends it with exit code 128 + its number.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """Raised in the main thread by the first stop signal.  A KeyboardInterrupt, so that
    every ``except KeyboardInterrupt`` that cleans up (the scheduler kills its probes, the
    cache keeps what finished) does the same for SIGTERM and SIGHUP as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within: the first stop signal raises Stopped; later ones are ignored, so that the
    cleanup the first one started (killing every probe process) runs to its end.  Outside
    the main thread (a test runner's worker), nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if not received:
            received.append(signum)
            raise Stopped(signum)

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        stop_all()  # whatever was interrupted, no probe process outlives the command
        resume()
        for number, old in previous.items():
            signal.signal(number, old)


def exit_code(exc: BaseException) -> int:
    """128 + the signal's number, as a shell reports a process that a signal ended."""
    link: BaseException | None = exc
    while link is not None:
        if isinstance(link, Stopped):
            return 128 + link.signum
        link = link.__cause__ or link.__context__  # click wraps it in Abort
    return 128 + signal.SIGINT
