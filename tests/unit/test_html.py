"""The HTML report treats everything from the audited environment as hostile."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from auditor.advice import annotate
from auditor.model import (
    AuditReport,
    Binding,
    Outcome,
    ProbeResult,
    Reason,
    StaticHint,
    StaticInfo,
    TargetAudit,
)
from auditor.report.html import render_html
from auditor.report.json import report_dict
from tests.unit.test_report import INTERP, _report

HOSTILE_NAME = "evil<script>alert(1)</script>"
HOSTILE_MESSAGE = '<img src=x onerror="alert(2)"> & </script><!-- "quoted" \u2028'


def _hostile_report() -> dict:
    base = _report().targets[0].modules[0]
    module = replace(base.module, name=HOSTILE_NAME, path="/x/</script>.so")
    probes = {
        "init": ProbeResult("init", Outcome.OK),
        "main": ProbeResult("main", Outcome.OK),
        "own_gil": ProbeResult(
            "own_gil",
            Outcome.IMPORT_ERROR,
            "ImportError<b>",
            HOSTILE_MESSAGE,
            stderr_tail="Fatal Python error: <script>alert(3)</script>",
        ),
    }
    reasons = annotate(
        (
            Reason(
                "subinterpreter_import_error", HOSTILE_MESSAGE, ("own_gil",), module="<i>dep</i>"
            ),
        ),
        "cython",
    )
    static = StaticInfo(
        Binding("cython", "<3>", ("string '<svg onload=alert(4)>'",)),
        (StaticHint("<PyState>", "red_flag", "<u>meaning</u>"),),
        True,
    )
    audit = replace(base, module=module, probes=probes, reasons=reasons, static=static)
    report = AuditReport(
        (TargetAudit(INTERP, (audit,), notes=("<blink>note</blink>",)),),
        "t0",
        "t1",
        ("scan", "<argv>"),
    )
    return report_dict(report)


def test_everything_from_the_environment_is_escaped() -> None:
    data = _hostile_report()
    page = render_html(data)
    body, script = page.split('<script type="application/json" id="report-data">')
    for raw in (
        "<script>alert(1)",
        "<img src=x",
        "<svg onload",
        "<i>dep</i>",
        "<u>meaning",
        "<blink>",
        "ImportError<b>",
        "<PyState>",
        "</script>.so",
        "<script>alert(3)",
    ):
        assert raw not in body, raw
    assert "evil&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in body
    # The embedded JSON cannot close its element, and parses back to the report.
    embedded = script.split("</script>", 1)[0]
    assert "<" not in embedded and ">" not in embedded
    assert json.loads(embedded) == json.loads(json.dumps(data))


def test_page_is_self_contained() -> None:
    page = render_html(_hostile_report())
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert "<style>" in page and "https://" not in page.split("<main>")[0]


def test_terminal_explain_prints_hostile_text_literally(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from auditor.cli import main

    data = _hostile_report()
    data["targets"][0]["modules"][0]["name"] = "evil[bold red]x[/]"
    data["targets"][0]["modules"][0]["path"] = "/x/[link=http://e.invalid]p[/link].so"
    report = tmp_path / "r.json"
    report.write_text(json.dumps(data))
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["explain", "evil[bold red]x[/]", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "evil[bold red]x[/]" in out
    assert "/x/[link=http://e.invalid]p[/link].so" in out
