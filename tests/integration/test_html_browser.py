"""The HTML report in a real browser (headless Chromium): it runs, and nothing hostile runs."""

from __future__ import annotations

import copy
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from auditor.report.html import render_html
from tests.integration.conftest import Scan, gil_build_only

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


def _text(markup: str) -> str:
    """The text of some DOM markup, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _opened(dom: str) -> str:
    """The markup of the one module whose details are open."""
    assert dom.count('class="module open"') == 1
    return dom.split('class="module open"')[1].split("</tbody>")[0]


def _blocked_counts(report: dict[str, Any]) -> list[tuple[str, int]]:
    """Each module named by a blocked_by reason, with how many modules it blocks."""
    blocked: dict[str, set[str]] = {}
    for module in report["targets"][0]["modules"]:
        for reason in module["reasons"]:
            if reason["code"] == "blocked_by" and reason["module"]:
                blocked.setdefault(reason["module"], set()).add(module["name"])
    return sorted(((k, len(v)) for k, v in blocked.items()), key=lambda kv: (-kv[1], kv[0]))


def test_root_blockers_and_chains_in_chromium(zoo_scan: Scan, tmp_path: Path) -> None:
    """The root blockers come first, ranked; an opened module shows its import chain."""
    gil_build_only(zoo_scan, "legacy_only")
    page = tmp_path / "report.html"
    page.write_text(render_html(zoo_scan.report), encoding="utf-8")
    dom = _dump_dom(page, "m1-pa._speedups", tmp_path)
    assert 'data-ready="1"' in dom

    section = dom.split('<section class="blockers"')[1].split("</section>")[0]
    shown = re.findall(r'<li class="blocker" data-blocker="([^"]+)" data-blocks="(\d+)"', section)
    expected = _blocked_counts(zoo_scan.report)
    assert [(name, int(n)) for name, n in shown] == expected
    assert ("pb._speedups", 1) in expected
    assert dom.index('<section class="blockers"') < dom.index('<table class="modules">')
    item = section.split('data-blocker="pb._speedups"')[1].split(">", 1)[1]
    speedups = _text(item.split('<li class="blocker"')[0])
    assert speedups.split()[:3] == ["1", "blocked", "pb._speedups"]
    verdict = zoo_scan.module("pb._speedups")["verdict"]
    assert verdict in speedups  # the blocker's own verdict, and how to fix it
    assert "how to fix pb._speedups" in speedups and "Single-phase initialisation" in speedups
    assert "pa._speedups → pa → pb._speedups" in speedups

    # The details, built by the script from the page data: the reason with its chain, the
    # advice, and the evidence (the refusal message, stored once for every probe).
    opened = _text(_opened(dom))
    assert "Blocked by another module" in opened
    assert "import chain: pa._speedups → pa → pb._speedups" in opened
    refusal = zoo_scan.module("pa._speedups")["probes"]["own_gil"]["message"]
    assert refusal and "does not support loading in subinterpreters" in refusal
    assert opened.count(refusal) >= 2  # own_gil and own_gil_after_main, from one stored text


def test_expanded_details_show_the_stored_stderr(zoo_scan: Scan, tmp_path: Path) -> None:
    """Every probe's stderr tail is in the page once, and in that probe's details when open."""
    page = tmp_path / "report.html"
    source = render_html(zoo_scan.report)
    page.write_text(source, encoding="utf-8")
    probes = zoo_scan.module("segv_in_subinterp")["probes"]
    tails = {name: p["stderr_tail"] for name, p in probes.items() if p.get("stderr_tail")}
    assert len(tails) >= 2 and all("Segmentation fault" in t for t in tails.values())
    for tail in set(tails.values()):
        stored = json.dumps(tail, ensure_ascii=False)[1:-1]
        stored = stored.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        assert source.count(stored) == 1

    dom = _dump_dom(page, "m1-segv_in_subinterp", tmp_path)
    opened = _opened(dom)
    for name, tail in tails.items():
        assert f"stderr of {name} (last" in opened
        assert html.escape(tail, quote=False) in opened, name


def test_tracker_filters_run_in_chromium(tmp_path: Path) -> None:
    """The survey tracker's filters, preset by the address, hide the rows that do not match;
    a hostile package message stays text."""
    from auditor.report.tracker import render_tracker
    from auditor.survey.records import merge_documents, survey_document

    def record(package: str, python: str, verdict: str, differs: bool = False) -> dict[str, Any]:
        return {
            "package": package,
            "spec": package,
            "python": python,
            "python_version": python + ".0",
            "gil_disabled": False,
            "depth": "full",
            "status": "ok",
            "version": "1.0",
            "message": HOSTILE if package == "evil" else None,
            "verdict": verdict,
            "verdict_on_fixed_interpreter": None,
            "cpython_bugs": [],
            "import_verdict": verdict,
            "modules_verdict": None,
            "import_once": {"ready": True, "differs": differs, "told_by": []},
            "imports": [],
            "modules": [],
        }

    records = [
        record("requests", "3.13", "own_gil"),
        record("requests", "3.14", "own_gil"),
        record("boto3", "3.13", "legacy_only", differs=True),
        record("boto3", "3.14", "own_gil"),
        record("evil", "3.13", "crashes", differs=True),
        record("evil", "3.14", "legacy_only"),
    ]
    page = tmp_path / "tracker.html"
    document = merge_documents([("a", survey_document(records, {}))])
    page.write_text(render_tracker(document), encoding="utf-8")

    def shown(dom: str) -> list[str]:
        rows = re.findall(r'<tr class="pkg"([^>]*)><th scope="row"><a href="#pkg-([^"]+)"', dom)
        return [name for attributes, name in rows if " hidden" not in attributes]

    dom = _dump_dom(page, "v=legacy_only&py=3.13", tmp_path)
    assert 'data-ready="1"' in dom
    assert shown(dom) == ["boto3"]
    assert "1 of 3 packages" in dom
    assert "<img" not in dom and "pwned" not in dom.split("<title>")[1].split("</title>")[0]
    # Any Python: boto3 (3.13) and evil (3.14) are legacy_only somewhere.
    assert shown(_dump_dom(page, "v=legacy_only", tmp_path)) == ["boto3", "evil"]
    # Where import-once is wrong, on 3.14: nowhere.
    assert shown(_dump_dom(page, "once=1&py=3.14", tmp_path)) == []
    # A package link is not a filter: every row shows.
    assert shown(_dump_dom(page, "pkg-boto3", tmp_path)) == ["boto3", "evil", "requests"]
