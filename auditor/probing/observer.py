"""What an audit tells as it goes: the observer, and the counts over its phases."""

from __future__ import annotations

import threading
from collections.abc import Callable

from auditor.probing.discover import Discovery
from auditor.probing.scheduler import ProbeRun


class ScanObserver:
    """What an audit tells as it goes (called from worker threads too); does nothing.
    auditor/report/progress.py draws it."""

    def discovered(self, found: Discovery, probes: int, reused: int) -> None:
        """`found`, `probes` import probes to run, `reused` modules answered by the cache."""

    def probed(self, done: int, total: int, module: str) -> None:
        """Probes done and known so far, over every phase; the module under way."""

    def modules_done(self, done: int, total: int, phase: str) -> None:
        """Modules whose probes of `phase` ("import", "depth") ended."""


class _ProbeCount:
    """One progress count over every phase: the import probes, then the depth probes."""

    def __init__(self, observer: ScanObserver) -> None:
        self._observer = observer
        self._done = self._total = 0  # probes done and known in the phases that ended

    def advance(self, done: int, total: int, name: str) -> None:
        self._observer.probed(self._done + done, self._total + total, name)
        if done == total:
            self._done, self._total = self._done + done, self._total + total


class _ModuleCount:
    """Counts the modules whose probes of a phase ended (called from the worker threads)."""

    def __init__(self, total: int, phase: str, report: Callable[[int, int, str], None]):
        self._lock = threading.Lock()
        self._done = 0
        self._total, self._phase, self._report = total, phase, report

    def ended(self, name: str, run: ProbeRun) -> None:
        with self._lock:
            self._done += 1
            self._report(self._done, self._total, self._phase)
