"""The HTML report treats everything from the audited environment as hostile."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from auditor.judging.advice import advise, annotate
from auditor.model import (
    AuditReport,
    Binding,
    Distribution,
    ExtensionModule,
    ImportAttempt,
    InitInfo,
    ModuleAudit,
    Outcome,
    ProbeResult,
    Reason,
    StaticHint,
    StaticInfo,
    TargetAudit,
    Verdict,
)
from auditor.report.html import _short_chain, render_html, root_blockers
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
            Reason(
                "blocked_by",
                HOSTILE_MESSAGE,
                ("own_gil",),
                module="<i>dep</i>",
                details=(("chain", [HOSTILE_NAME, "<b>mid</b>", "<i>dep</i>"]),),
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
        "<b>mid",
        "<u>meaning",
        "<blink>",
        "ImportError<b>",
        "<PyState>",
        "</script>.so",
        "<script>alert(3)",
    ):
        assert raw not in body, raw
    assert "evil&lt;script&gt;alert(1)&lt;/script&gt;" in body
    # The root blockers name the blocker and the import chain, as text.
    assert 'data-blocker="&lt;i&gt;dep&lt;/i&gt;"' in body
    assert "alert(1)&lt;/script&gt;</a> → &lt;b&gt;mid&lt;/b&gt; → &lt;i&gt;dep&lt;/i&gt;" in body
    # The embedded JSON cannot close its element, and parses back to the texts.
    embedded = script.split("</script>", 1)[0]
    assert "<" not in embedded and ">" not in embedded
    texts = json.loads(embedded)["texts"]
    assert HOSTILE_MESSAGE in texts
    assert "Fatal Python error: <script>alert(3)</script>" in texts


def test_page_is_self_contained() -> None:
    page = render_html(_hostile_report())
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert "<style>" in page and "https://" not in page.split("<main>")[0]


def test_terminal_explain_prints_hostile_text_literally(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from auditor.commands import main

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


# A large environment, shaped like a real scan: one blocker (NumPy's core) blocks most
# modules, through a pure-Python package __init__; the other modules crash with the same
# 4 KiB stderr tail, the way hundreds of modules of one toolkit fail alike.
BLOCKER = "np._core._multiarray_umath"
TAIL = ("Fatal Python error: Segmentation fault  tail-marker-A\n" + "  frame\n" * 600)[:4096]
OTHER_TAIL = ("Fatal Python error: Aborted  tail-marker-B\n" + "  frame\n" * 600)[:4096]


def _probe(name: str, outcome: Outcome, **fields: object) -> ProbeResult:
    fields.setdefault("stage", "process_exit")
    return ProbeResult(name, outcome, seconds=0.2, **fields)  # type: ignore[arg-type]


def _audit(
    name: str, dist: str, verdict: Verdict, probes: dict[str, ProbeResult], reasons: tuple
) -> ModuleAudit:
    module = ExtensionModule(
        name,
        f"/venv/site-packages/{name.replace('.', '/')}.so",
        "distribution",
        Distribution(dist, "1.0"),
        name.rsplit(".", 1)[-1],
        "/venv/site-packages",
    )
    fresh = ("legacy", "isolated", "own_gil")
    base = {"init": _probe("init", Outcome.OK), "main": _probe("main", Outcome.OK)}
    base.update({p: _probe(p, Outcome.OK, main_after=ImportAttempt(Outcome.OK)) for p in fresh})
    base.update({f"{p}_after_main": _probe(f"{p}_after_main", Outcome.OK) for p in fresh})
    base.update(probes)
    toolkit = "cython"
    static = StaticInfo(Binding(toolkit, "3.1.2", ("string 'cython_runtime'",)), (), True)
    return ModuleAudit(
        module,
        InitInfo("multi_phase", "PyInit", None, None, 0, (2,)),
        base,
        verdict,
        annotate(reasons, toolkit),
        static,
    )


def _blocked(name: str, blocker: str, via: str) -> ModuleAudit:
    refusal = f"module {blocker} does not support loading in subinterpreters"
    chain = [name, via, blocker]
    probes = {
        p: _probe(
            p, Outcome.IMPORT_ERROR, exception="ImportError", message=refusal, importers=(via,)
        )
        for p in ("isolated", "own_gil", "isolated_after_main", "own_gil_after_main")
    }
    reason = Reason(
        "blocked_by",
        f"refused because it imports {blocker}, which does not support subinterpreters "
        f"({' → '.join(chain)})",
        tuple(probes),
        module=blocker,
        details=(("same_distribution", False), ("chain", chain)),
    )
    return _audit(name, via.split(".")[0], Verdict.LEGACY_ONLY, probes, (reason,))


def _crashing(name: str, tail: str) -> ModuleAudit:
    probes = {
        p: _probe(p, Outcome.CRASH, signal="SIGSEGV", stage="import", stderr_tail=tail)
        for p in ("isolated", "own_gil")
    }
    reason = Reason(
        "crash",
        "killed by SIGSEGV while importing",
        tuple(probes),
        details=(("stage", "import"), ("signal", "SIGSEGV")),
    )
    return _audit(name, "crashy", Verdict.CRASHES, probes, (reason,))


def _large_report(modules: int = 500) -> dict:
    refusal = Reason(
        "single_phase_init", "single-phase init: every isolated interpreter refuses it", ("init",)
    )
    audits = [_audit(BLOCKER, "np", Verdict.LEGACY_ONLY, {}, (refusal,))]
    audits += [_audit("arrow.lib", "arrow", Verdict.LEGACY_ONLY, {}, (refusal,))]
    audits += [_blocked(f"scipy.mod{i:03}", BLOCKER, "scipy") for i in range(60)]
    audits += [_blocked(f"pandas.mod{i:03}", "arrow.lib", "pandas") for i in range(20)]
    audits += [_blocked(f"tables.mod{i:03}", "h5.defs", "tables") for i in range(20)]  # not scanned
    while len(audits) < modules:
        tail = OTHER_TAIL if len(audits) % 50 == 0 else TAIL
        audits.append(_crashing(f"crashy.mod{len(audits):03}", tail))
    report = AuditReport((TargetAudit(INTERP, tuple(audits)),), "t0", "t1", ("scan",))
    return report_dict(report)


def _as_embedded(text: str) -> str:
    """`text` as it appears in the page's JSON data."""
    return (
        json.dumps(text, ensure_ascii=False)[1:-1]
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def test_large_report_stores_shared_evidence_and_advice_once() -> None:
    data = _large_report()
    assert len(data["targets"][0]["modules"]) == 500
    page = render_html(data)
    # Each distinct stderr tail, refusal message and piece of advice is in the page once,
    # however many modules share it.
    for text in (
        TAIL,
        OTHER_TAIL,
        f"module {BLOCKER} does not support loading in subinterpreters",
        advise(Reason("crash", "", details=(("stage", "import"),)), "cython").fix,
    ):
        assert page.count(_as_embedded(text)) == 1, text[:60]
    # 418 modules share one 4 KiB tail (two probes each): repeated, that alone is 3.4 MB.
    # Stored once, the page needs about 4 KiB per module for the rest.
    size = len(page.encode())
    assert size < 2_500_000
    assert size < 4096 * len(data["targets"][0]["modules"]), size


def test_rows_and_verdicts_need_no_script() -> None:
    page = render_html(_large_report(120))
    body = page.split('<script type="application/json"')[0]
    assert body.count('<tbody class="module"') == 120
    assert body.count('<span class="verdict v-crashes">crashes</span>') == 18
    assert '<span class="n">18</span> crashes' in body
    assert '<span class="n">102</span> legacy_only' in body
    assert "<noscript>" in body


def test_root_blockers_ranked_by_modules_blocked() -> None:
    data = _large_report(200)
    ranked = root_blockers(data["targets"][0]["modules"])
    assert [(b["name"], len(b["blocks"])) for b in ranked] == [
        (BLOCKER, 60),
        ("arrow.lib", 20),
        ("h5.defs", 20),  # ties go by name
    ]
    numpy = ranked[0]
    assert numpy["verdict"] == "legacy_only" and numpy["scanned"]
    assert [f["title"] for f in numpy["fixes"]] == ["Single-phase initialisation"]
    assert numpy["blocks"][0] == {
        "name": "scipy.mod000",
        "chain": ["scipy.mod000", "scipy", BLOCKER],
        "short": ["scipy.mod000", "scipy", BLOCKER],
    }
    assert ranked[2]["verdict"] is None and not ranked[2]["scanned"]

    page = render_html(data)
    shown = re.findall(r'<li class="blocker" data-blocker="([^"]+)" data-blocks="(\d+)"', page)
    assert shown == [(BLOCKER, "60"), ("arrow.lib", "20"), ("h5.defs", "20")]
    section = page.split('<section class="blockers"')[1].split("</section>")[0]
    assert "100 modules cannot load in a subinterpreter" in section
    first = section.split('<li class="blocker"')[1]
    assert '<span class="verdict v-legacy_only">legacy_only</span>' in first
    assert "Port the module to multi-phase" in first or "<b>Fix" in first
    # The import chain of each blocked module, as text.
    assert "scipy.mod000 → scipy → np._core._multiarray_umath" in re.sub("<[^>]+>", "", first)
    assert "not an extension module of this scan" in section.split('data-blocker="h5.defs"')[1]


def _page_data(page: str) -> dict:
    embedded = page.split('<script type="application/json" id="report-data">')[1]
    return json.loads(embedded.split("</script>", 1)[0])


def test_module_details_carry_the_chain() -> None:
    """A row's data-index finds its details in the page data: the reasons (with the import
    chain of a blocked_by), the advice, the probes' evidence."""
    page = render_html(_large_report(100))
    data = _page_data(page)
    index = int(re.search(r'id="m1-scipy\.mod007" data-index="(\d+)"', page).group(1))  # type: ignore[union-attr]
    details = data["targets"][0]["modules"][index]
    (reason,) = details["reasons"]
    assert reason["code"] == "blocked_by" and reason["module"] == BLOCKER
    assert reason["chain"] == ["scipy.mod007", "scipy", BLOCKER]
    assert data["advice"][reason["advice"]]["title"] == "Blocked by another module"
    texts = data["texts"]
    probes = {
        texts[p[0]]: dict(zip(data["probe_fields"], p, strict=False)) for p in details["probes"]
    }
    own_gil = probes["own_gil"]
    assert texts[own_gil["exception"]] == "ImportError"
    assert texts[own_gil["message"]] == (
        f"module {BLOCKER} does not support loading in subinterpreters"
    )
    assert texts[own_gil["outcome"]] == "import_error" and own_gil["seconds"] == 0.2
    # The table's columns, whose cells the script titles on hover.
    assert data["cells"][:4] == [
        ["main"],
        ["legacy", "legacy_after_main"],
        ["isolated", "isolated_after_main"],
        ["own_gil", "own_gil_after_main"],
    ]


def test_blocked_lists_elide_the_steps_inside_the_blockers_package() -> None:
    numpy = ["numpy", "numpy.__config__", "numpy._core", "numpy._core.multiarray"]
    chain = ["scipy._x", "scipy", *numpy, "numpy._core._multiarray_umath"]
    assert _short_chain(chain) == ["scipy._x", "scipy", "numpy", "…", chain[-1]]
    for kept in (
        ["pa._speedups", "pa", "pb._speedups"],
        ["z._cffi", "z", "z.backend_c"],
        ["g._c", "g", "g._hub", "greenlet", "greenlet._greenlet"],  # one step inside: kept
        ["x", "numpy", "numpy.a", "other", "numpy.b", "numpy.c"],  # leaves and re-enters
    ):
        assert _short_chain(kept) == kept
