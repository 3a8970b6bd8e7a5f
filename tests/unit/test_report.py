"""The JSON report: schema, contract fields, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from auditor.errors import ReportError
from auditor.model import (
    AuditReport,
    Distribution,
    ExtensionModule,
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
from auditor.report.json import dump_json, report_dict, schema
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
