"""The terminal table at 80 and 120 columns, piped: names never split, the verdict visible."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from auditor.model import (
    AuditReport,
    Distribution,
    ExtensionModule,
    InitInfo,
    ModuleAudit,
    Outcome,
    ProbeResult,
    TargetAudit,
    Verdict,
)
from auditor.report.terminal import render
from tests.unit.test_report import INTERP

LONG = "numpy._core._multiarray_umath_with_a_much_longer_name"


def _target() -> TargetAudit:
    audits = []
    for name, verdict in (
        (LONG, Verdict.ONE_INTERPRETER),
        ("numpy.fft._pocketfft", Verdict.OWN_GIL),
    ):
        module = ExtensionModule(
            name, f"/py/lib/{name}.so", "distribution", Distribution("numpy", "2.5"), "x", "/py"
        )
        probes = {
            p: ProbeResult(p, Outcome.OK)
            for p in ("init", "main", "legacy", "isolated", "own_gil", "reuse", "concurrent")
        }
        probes["cycles"] = ProbeResult("cycles", Outcome.CRASH, signal="SIGSEGV", kind="own_gil")
        audits.append(ModuleAudit(module, InitInfo("multi_phase"), probes, verdict, ()))
    return TargetAudit(INTERP, tuple(audits))


@pytest.mark.parametrize("width", [80, 120])
def test_rows_fit_and_keep_the_verdict(width: int) -> None:
    out = io.StringIO()
    render([_target()], Console(file=out, width=width, highlight=False), [])
    lines = out.getvalue().splitlines()
    rows = [line for line in lines if line.startswith("   ") and "✓" in line]
    assert len(rows) == 2  # one line per module: no name split across lines
    for line in lines:
        assert len(line.rstrip()) <= width
    assert any(line.rstrip().endswith("one_interpreter") for line in rows)
    assert any(line.rstrip().endswith("own_gil") for line in rows)
    long_row = next(line for line in rows if "longer_name" in line)
    assert "…" in long_row and LONG not in long_row  # the end of the name is kept
    assert ("numpy.fft._pocketfft" in out.getvalue()) is (width == 120)
    assert "☠" in long_row  # the depth column: the cycles probe crashed
    header = next(line for line in lines if line.lstrip().startswith("module"))
    for title in ("main", "legacy", "isolated", "own GIL", "depth", "verdict"):
        assert f" {title} " in f"{header} ", (title, header)  # every header whole
    assert "…" not in header


@pytest.mark.parametrize("show_stdlib", [False, True])
def test_the_stdlib_folds_into_one_line_beside_third_party_modules(show_stdlib: bool) -> None:
    target = _target()
    stdlib = ExtensionModule("_json", "/py/lib/_json.so", "stdlib", None, "_json", "/py/lib")
    probes = {p: ProbeResult(p, Outcome.OK) for p in ("init", "main", "legacy", "own_gil")}
    audit = ModuleAudit(stdlib, InitInfo("multi_phase"), probes, Verdict.OWN_GIL, ())
    target = TargetAudit(INTERP, (*target.modules, audit))
    out = io.StringIO()
    render([target], Console(file=out, width=120, highlight=False), [], show_stdlib)
    text = out.getvalue()
    folded = "stdlib: 1 module (1 own_gil); --show-stdlib lists them" in text
    assert folded is not show_stdlib
    assert ("   _json " in text) is show_stdlib


def test_explain_says_each_message_once() -> None:
    from auditor.report.explain import render_explain
    from auditor.report.json import report_dict

    long = "IMPORTANT: PLEASE READ THIS\n" + "advice line\n" * 20
    module = _target().modules[0]
    probes = dict(module.probes)
    for name in ("isolated", "own_gil", "own_gil_after_main"):
        probes[name] = ProbeResult(name, Outcome.IMPORT_ERROR, "ImportError", long)
    target = TargetAudit(
        INTERP, (ModuleAudit(module.module, module.init, probes, module.verdict, ()),)
    )
    data = report_dict(AuditReport((target,), "t0", "t1", ()))
    out = io.StringIO()
    render_explain(data["targets"][0]["modules"][0], data["targets"][0]["python"],
                   Console(file=out, width=120, highlight=False))  # fmt: skip
    text = out.getvalue()
    assert text.count("IMPORTANT: PLEASE READ THIS") == 1
    assert text.count("(the same message as isolated)") == 2


def test_explain_folds_restatements_indents_and_keeps_urls_whole() -> None:
    from auditor.judging.advice import annotate
    from auditor.model import Reason
    from auditor.report.explain import render_explain
    from auditor.report.json import report_dict

    url = "https://github.com/PyO3/pyo3/issues/576"
    reasons = annotate(
        (
            Reason("single_phase_init", "single-phase init: every isolated subinterpreter refuses"),
            Reason("refused_by_cpython", "CPython refused it: module x does not support loading"),
            Reason(
                "binding_refusal",
                f"PyO3 modules do not yet support subinterpreters, see {url}",
                probes=("legacy",),
                details=(("binding", "pyo3"),),
            ),
        ),
        None,
    )
    module = _target().modules[0]
    audit = ModuleAudit(module.module, module.init, module.probes, module.verdict, reasons)
    data = report_dict(AuditReport((TargetAudit(INTERP, (audit,)),), "t0", "t1", ()))
    out = io.StringIO()
    render_explain(data["targets"][0]["modules"][0], data["targets"][0]["python"],
                   Console(file=out, width=80, highlight=False))  # fmt: skip
    lines = out.getvalue().splitlines()
    why = lines[next(i for i, line in enumerate(lines) if line == "Why, and what to do") :]
    numbered = [line for line in why if line[:1].isdigit()]
    assert [line.split("[")[-1] for line in numbered] == ["single_phase_init]", "binding_refusal]"]
    also = next(line for line in why if "also CPython refused it" in line)
    assert also.startswith("   also")
    folded = "\n".join(why[why.index(also) : why.index(numbered[1])])
    assert "[refused_by_cpython]" in folded  # under the reason it restates
    # Every line of a reason's text is indented: nothing wraps back to column 0.
    body = [line for line in why[1:] if line and not line[:1].isdigit()]
    assert all(line.startswith("   ") for line in body if not line.startswith("Static")), body
    assert any(url in line for line in why)  # never split across lines
    assert all(len(line.rstrip()) <= 80 for line in why)


def test_main_broken_afterwards_has_its_own_glyph_and_legend() -> None:
    """Not only a colour: "✓ but main failed afterwards" reads without colour too."""
    from auditor.model import ImportAttempt
    from auditor.report import MAIN_BROKEN_MARK

    module = _target().modules[1]
    probes = dict(module.probes)
    probes["legacy"] = ProbeResult(
        "legacy", Outcome.OK, main_after=ImportAttempt(Outcome.IMPORT_ERROR, "ImportError", "x")
    )
    audit = ModuleAudit(module.module, module.init, probes, Verdict.LEGACY_ONLY, ())
    out = io.StringIO()
    render([TargetAudit(INTERP, (audit,))], Console(file=out, width=120, no_color=True), [])
    text = out.getvalue()
    row = next(line for line in text.splitlines() if "_pocketfft" in line)
    assert MAIN_BROKEN_MARK in row
    assert f"{MAIN_BROKEN_MARK} imports, but main cannot afterwards" in " ".join(text.split())


@pytest.mark.parametrize(
    ("environ", "coloured"),
    [({}, False), ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False)],
)
def test_no_color_and_force_color_are_honoured(environ: dict[str, str], coloured: bool) -> None:
    """The real consoles, piped: colour only when forced, never under NO_COLOR."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TERM")}
    code = "from auditor.console import console; console.print('[green]ok[/]')"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**env, **environ}
    )
    assert "ok" in done.stdout, done.stdout
    assert ("\x1b[32m" in done.stdout) is coloured


def test_cpythons_bug_is_named_in_the_why_line_and_the_summary() -> None:
    """A crash that is CPython 3.12's own bug says so where people read (issue: 76 of 98
    crashes on 3.12.1 were CPython's, and the terminal blamed the modules)."""
    from auditor.model import Reason
    from auditor.report.terminal import summary_line

    module = ExtensionModule(
        "psutil._psutil_linux", "/py/psutil/_psutil_linux.so", "distribution",
        Distribution("psutil", "7.2"), "x", "/py",
    )  # fmt: skip
    crash = Reason("crash", "killed by SIGABRT while importing in the main interpreter")
    bug = Reason(
        "interpreter_bug",
        "a single-phase module refused by an isolated interpreter ... (CPython gh-117953)",
        details=(("bug", "gh-117953"), ("cpython_issue", "gh-117953"), ("fixed_in", "3.13.0")),
    )
    probes = {"main": ProbeResult("main", Outcome.CRASH, signal="SIGABRT")}
    audit = ModuleAudit(
        module, InitInfo("single_phase"), probes, Verdict.CRASHES, (crash, bug), None,
        Verdict.LEGACY_ONLY,
    )  # fmt: skip
    target = TargetAudit(INTERP, (audit,))
    out = io.StringIO()
    render([target], Console(file=out, width=200, highlight=False), [])
    text = out.getvalue()
    assert (
        "psutil._psutil_linux (crashes): killed by SIGABRT while importing in the main "
        "interpreter; that is CPython's bug gh-117953 (fixed in 3.13.0), not this module's: "
        "legacy_only on a fixed interpreter"
    ) in text
    assert summary_line(target).plain == (
        "1 module: 1 crashes; CPython's own bugs behind 1 of these (gh-117953: 1), each with "
        "its verdict on a fixed interpreter"
    )


def test_a_message_of_kilobytes_is_cut_in_the_why_line() -> None:
    """The zoo's long_refusal raises 8 KiB of text: the terminal's summary keeps a paragraph."""
    from auditor.model import Reason
    from auditor.report.terminal import WHY_CHARS

    module = ExtensionModule("long_refusal", "/py/long_refusal.so", "unowned", None, "x", "/py")
    reason = Reason("import_error", "import in a subinterpreter failed: " + "é" * 8192)
    probes = {"main": ProbeResult("main", Outcome.OK)}
    audit = ModuleAudit(module, InitInfo("multi_phase"), probes, Verdict.UNSUPPORTED, (reason,))
    out = io.StringIO()
    render([TargetAudit(INTERP, (audit,))], Console(file=out, width=100, highlight=False), [])
    text = out.getvalue()
    assert text.count("é") == WHY_CHARS - len("import in a subinterpreter failed: ")
    assert "… (explain long_refusal shows all of it)" in " ".join(text.split())  # wrapped
