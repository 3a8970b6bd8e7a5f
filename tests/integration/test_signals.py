"""A scan stops when it is told to (SIGINT, SIGTERM, SIGHUP), in the import phase and in the
depth phase with a deadlocked probe under way, and leaves no process of its own behind.

Each signal goes to the CLI's pid alone, as ``kill``, ``timeout`` and CI runners send it (not to
a terminal's process group, which would reach every process of the scan at once).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

# The import phase: the whole zoo, enough probes to be stopped in the middle of it.
# The depth phase: a module whose concurrent probes deadlock (tests/fixtures/ext/README.md).
DEADLOCKS = "once_holds_gil"


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: state, ppid, pgrp, session, ..."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    return data[data.rfind(")") + 2 :].split()


def _processes() -> dict[int, list[str]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            found[int(entry)] = fields
    return found


def _descendants(root: int) -> set[int]:
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, fields in table.items():
        children.setdefault(int(fields[1]), []).append(pid)
    seen, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _alive(pids: set[int], sessions: set[int]) -> list[str]:
    """Processes of the scan still running (zombies are dead: only their parent's wait is
    missing), by pid or by session (a zygote leads one that all its probes stay in)."""
    left = []
    for pid, fields in _processes().items():
        if fields[0] != "Z" and (pid in pids or int(fields[3]) in sessions):
            left.append(f"{pid} ({fields[0]}, session {fields[3]})")
    return left


def _stop_while_probing(args: list[str], signum: int, env: dict[str, str]) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**environ, **env},
        start_new_session=True,  # the test's own session: the signal reaches the CLI alone
    )
    seen: set[int] = set()
    try:
        # Wait for a probe under way: a process two levels below the CLI (zygote -> probe).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            below = _descendants(proc.pid)
            seen |= below
            parents = {p: int(f[1]) for p in below if (f := _stat(p)) is not None}
            if any(parents.get(parent) == proc.pid for parent in parents.values()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the scan ended before a probe ran"
        time.sleep(1.0)  # well inside the probe (the deadlock needs 3 s to be found)
        seen |= _descendants(proc.pid)
        sessions = {p for p in seen if (f := _stat(p)) is not None and int(f[3]) == p}
        sent = time.monotonic()
        os.kill(proc.pid, signum)
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, stderr.decode(errors="replace")
    assert b"interrupted" in stderr
    assert b"Traceback" not in stderr
    assert took < 15, f"the scan took {took:.1f} s to stop"
    time.sleep(0.5)  # the kernel's reparenting of what the zygotes forked
    assert _alive(seen, sessions) == []


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table in /proc")
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_stops_the_import_phase(
    python: str, fixtures_dir: Path, tmp_path: Path, signum: int
) -> None:
    args = ["scan", "--python", python, "--no-cache", "--depth", "import", "--timeout", "60"]
    _stop_while_probing(
        [*args, "--jobs", "2", "--json", str(tmp_path / "r.json"), str(fixtures_dir)], signum, {}
    )
    assert not (tmp_path / "r.json").exists()  # no report from a stopped scan


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table in /proc")
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_stops_the_depth_phase_during_a_deadlock(
    python: str, fixtures_dir: Path, tmp_path: Path, signum: int
) -> None:
    (module,) = fixtures_dir.glob(f"{DEADLOCKS}.*.so")
    env = {"SUBINTERP_AUDIT_CACHE": str(tmp_path / "cache")}
    common = ["scan", "--python", python, "--timeout", "60", "--jobs", "2"]
    # The import probes first, cached: the scan below starts with the depth probes.
    done = run_cli(
        *common, "--depth", "import", "--json", str(tmp_path / "i.json"), str(module), env=env
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "r.json"
    _stop_while_probing([*common, "--depth", "full", "--json", str(out), str(module)], signum, env)
    assert not out.exists()
