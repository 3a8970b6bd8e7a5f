"""The HTML report in a real browser (headless Chromium): it runs, and nothing hostile runs."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.report.html import render_html
from tests.integration.conftest import Scan

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("SUBINTERP_AUDIT_REQUIRE_BROWSER"):
        pytest.fail("Chromium is required here but not installed")
    pytest.skip("Chromium is not installed (Debian/Ubuntu: apt-get install chromium)")


def _dump_dom(page: Path, fragment: str, tmp_path: Path) -> str:
    profile = tmp_path / "profile"
    done = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            f"file://{page}#{fragment}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_report_runs_in_chromium_and_stays_inert(zoo_scan: Scan, tmp_path: Path) -> None:
    data = copy.deepcopy(zoo_scan.report)
    modules = data["targets"][0]["modules"]
    victim = next(m for m in modules if m["name"] == "exec_raises")
    victim["name"] = "hostile" + HOSTILE
    victim["probes"]["main"]["message"] = (
        HOSTILE + "</script><script>document.title='pwned'</script>"
    )
    page = tmp_path / "report.html"
    page.write_text(render_html(data), encoding="utf-8")

    dom = _dump_dom(page, "m1-blockpkg._accel", tmp_path)
    assert 'data-ready="1"' in dom  # our script ran to the end
    assert "pwned" not in dom.split("<title>")[1].split("</title>")[0]
    assert "<img" not in dom  # the hostile markup stayed text
    assert "hostile&lt;img src=x" in dom
    assert dom.count('<tbody class="module') == len(modules)
    # The fragment opened that module's details; the others stay closed.
    assert dom.count('class="module open"') == 1
    opened = dom.split('class="module open"')[1].split("</tbody>")[0]
    assert 'data-name="blockpkg._accel"' in opened and "Blocked by another module" in opened
