"""The JSON report: schema, contract fields, atomic writes."""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.errors import ReportError
from auditor.model import (
    AuditReport,
    Deadlock,
    Distribution,
    ExitCheck,
    ExtensionModule,
    HeapFigures,
    ImportAttempt,
    InitInfo,
    Interpreter,
    ModuleAudit,
    Outcome,
    ProbeResult,
    Reason,
    TargetAudit,
    Verdict,
)
from auditor.report.json import dump_json, probe_result, probe_results, report_dict, schema
from auditor.report.output import write_report

INTERP = Interpreter(
    "/py/bin/python3",
    "3.13.0",
    (3, 13, 0),
    "3.13.0 (main)",
    "cpython",
    "cpython-313-x86_64-linux-gnu",
    ".cpython-313-x86_64-linux-gnu.so",
    False,
    "linux",
    "/py",
    "/py",
    ("/py/lib",),
    {},
)


def _report() -> AuditReport:
    module = ExtensionModule(
        "pkg._m", "/py/lib/pkg/_m.so", "distribution", Distribution("pkg", "1.0"), "__m", "/py/lib"
    )
    probes = {
        "init": ProbeResult("init", Outcome.OK, stage="process_exit"),
        "main": ProbeResult("main", Outcome.OK),
        "own_gil": ProbeResult(
            "own_gil",
            Outcome.IMPORT_ERROR,
            "ImportError",
            "module pkg._m does not support loading in subinterpreters",
            main_after=ImportAttempt(Outcome.OK),
        ),
        "legacy": ProbeResult(
            "legacy", Outcome.CRASH, signal="SIGSEGV", stage="import", import_outcome=Outcome.OK
        ),
    }
    audit = ModuleAudit(
        module,
        InitInfo("multi_phase", "PyInit", None, None, 0, (2,)),
        probes,
        Verdict.CRASHES,
        (Reason("crash", "killed", ("legacy",), details=(("signal", "SIGSEGV"),)),),
    )
    return AuditReport((TargetAudit(INTERP, (audit,)),), "t0", "t1", ("scan",))


def test_report_matches_schema_and_contract() -> None:
    data = report_dict(_report())
    jsonschema.validate(data, schema())
    (target,) = data["targets"]
    assert set(target["python"]) >= {
        "executable",
        "version",
        "implementation",
        "soabi",
        "gil_disabled",
    }
    (module,) = target["modules"]
    assert module["distribution"] == {"name": "pkg", "version": "1.0"}
    assert module["probes"]["own_gil"]["main_after"] == {
        "outcome": "ok",
        "exception": None,
        "message": None,
        "cause": None,
        "importers": [],
    }
    assert module["probes"]["legacy"]["import_outcome"] == "ok"
    assert target["summary"]["verdicts"]["crashes"] == 1


def test_schema_rejects_unknown_verdict() -> None:
    data = report_dict(_report())
    data["targets"][0]["modules"][0]["verdict"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema())


def test_json_report_file_ends_with_newline(tmp_path: Path) -> None:
    """As the scan writes it (auditor/pipeline.py): write_report(dump_json(report_dict()))."""
    out = tmp_path / "deep" / "r.json"
    write_report(out, dump_json(report_dict(_report())))
    text = out.read_text()
    assert text.endswith("}\n") and json.loads(text)["version"] == 1


def test_failed_write_keeps_previous_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r.json"
    out.write_text("previous")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("auditor.report.output.os.replace", broken_replace)
    with pytest.raises(ReportError, match="No space left on device"):
        write_report(out, "new")
    assert out.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left behind


def test_write_into_a_file_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReportError, match="cannot write"):
        write_report(tmp_path / "file" / "r.json", "x")


def test_schema_lists_every_reason_code() -> None:
    from auditor.judging.classify import REASON_CODES

    module = schema()["properties"]["targets"]["items"]["properties"]["modules"]["items"]
    assert module["properties"]["reasons"]["items"]["properties"]["code"]["enum"] == list(
        REASON_CODES
    )


def test_names_that_are_not_utf8_are_written_as_their_bytes() -> None:
    from auditor.report.json import printable

    name = os.fsdecode(b"/venv/caf\xe9/m.so")  # what os.listdir gives for such a name
    assert printable(name) == "/venv/caf\\xe9/m.so"
    assert printable("/venv/café/m.so") == "/venv/café/m.so"  # UTF-8 names unchanged
    assert printable("lone \ud800") == "lone \\ud800"  # no byte stands for it


# Every optional field of a probe result set, each to a value other than its default.
FULL_RESULT = ProbeResult(
    "own_gil",
    Outcome.CRASH,
    exception="ImportError",
    message="module pkg._m does not support loading in subinterpreters",
    cause="KeyError: 'x' <- ValueError: y",
    signal="SIGSEGV",
    exit_code=-11,
    stage="interpreter_end",
    stderr_tail="Fatal Python error: Segmentation fault\n",
    stdout_bytes=1234,
    seconds=1.25,
    main_after=ImportAttempt(
        Outcome.IMPORT_ERROR, "ImportError", "cannot import", "OSError: gone", ("pkg", "pkg.sub")
    ),
    import_outcome=Outcome.OK,
    fresh_exec=True,
    exit_after_sub=ExitCheck(Outcome.CRASH, "SIGABRT", -6, "exit after the subinterpreter"),
    gil_enabled=True,
    step="round 2, interpreter 3:use",
    kind="own_gil",
    heap=HeapFigures(10, 4096, 1024, 8192, 2048),
    runs=3,
    failed_runs=2,
    deadlock=Deadlock(3.5, "#0 futex_wait\n#1 take_gil\n", "gdb"),
    importers=("pkg", "pkg._impl"),
)


def _probes_of(result: ProbeResult) -> dict[str, Any]:
    """`result` written as the report writes it, and read back as `load_report` reads it."""
    report = _report()
    (target,) = report.targets
    (audit,) = target.modules
    audit = replace(audit, probes={**audit.probes, result.probe: result})
    data = report_dict(replace(report, targets=(replace(target, modules=(audit,)),)))
    jsonschema.validate(data, schema())
    probes: dict[str, Any] = json.loads(dump_json(data))["targets"][0]["modules"][0]["probes"]
    return probes


@pytest.mark.parametrize(
    "result",
    [
        FULL_RESULT,
        ProbeResult("main", Outcome.OK),  # every field its default
        replace(
            FULL_RESULT, probe="cycles", outcome=Outcome.OK, main_after=ImportAttempt(Outcome.OK)
        ),
        replace(FULL_RESULT, probe="reuse", outcome=Outcome.TOOL_FAILURE, heap=HeapFigures(5)),
        replace(FULL_RESULT, probe="legacy", exit_after_sub=ExitCheck(Outcome.NOT_RUN)),
    ],
    ids=lambda result: result.probe,
)
def test_a_probe_result_comes_back_from_the_report_unchanged(result: ProbeResult) -> None:
    probes = _probes_of(result)
    assert probe_result(probes[result.probe], result.probe) == result
    back = probe_results({"probes": probes})
    assert back[result.probe] == result
    assert list(back) == list(probes)  # in the report's order
    assert back[result.probe].passed is result.passed


def test_the_round_trip_sets_every_field() -> None:
    """FULL_RESULT sets every field that has a default: a field added to the model and not
    read back by probe_result fails the round trip."""
    assert FULL_RESULT.main_after and FULL_RESULT.exit_after_sub and FULL_RESULT.heap
    assert FULL_RESULT.deadlock
    for value in (
        FULL_RESULT,
        FULL_RESULT.main_after,
        FULL_RESULT.exit_after_sub,
        FULL_RESULT.heap,
        FULL_RESULT.deadlock,
    ):
        for f in fields(value):
            default = f.default if f.default is not MISSING else None
            assert getattr(value, f.name) not in (default, None), (type(value).__name__, f.name)


def test_a_probe_of_an_older_report_takes_the_models_defaults() -> None:
    """Reports of older tool versions (report version 1) lack the fields added since."""
    old = {
        "outcome": "ok",
        "exception": None,
        "message": None,
        "signal": None,
        "exit_code": None,
        "stage": "process_exit",
        "stderr_tail": "",
        "stdout_bytes": 0,
        "seconds": 0.5,
        "main_after": {"outcome": "import_error", "exception": "ImportError", "message": "no"},
        "import_outcome": None,
        "fresh_exec": False,
    }
    result = probe_result(old, "own_gil")
    assert result == ProbeResult(
        "own_gil",
        Outcome.OK,
        stage="process_exit",
        seconds=0.5,
        main_after=ImportAttempt(Outcome.IMPORT_ERROR, "ImportError", "no"),
    )
    assert not result.passed  # main could not import after it


def test_texts_that_are_not_utf8_come_back_as_the_report_wrote_them() -> None:
    result = ProbeResult("own_gil", Outcome.IMPORT_ERROR, "ImportError", os.fsdecode(b"caf\xe9"))
    assert probe_result(_probes_of(result)["own_gil"], "own_gil").message == "caf\\xe9"
