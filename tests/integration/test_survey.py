"""The survey for real: wheels built by tests/fixtures/wheels.py, installed offline into
throwaway venvs of 3.13, surveyed by the real command in a subprocess, sharded and merged."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from auditor.probing.throwaway import InstallOptions, installed, requirement
from tests.conftest import find_target
from tests.fixtures.wheels import OWN_GIL, SINGLE_PHASE, c_source, make_wheel, make_wheelhouse
from tests.integration.conftest import PROBE_TIMEOUT

# Every test here shares the wheels built once: one xdist worker.
pytestmark = pytest.mark.xdist_group("survey")


@pytest.fixture(scope="module")
def python() -> str:
    return find_target("3.13")


@pytest.fixture(scope="module")
def wheelhouse(python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three wheels: an own-GIL module, a single-phase module, and a package whose pure-Python
    __init__ imports the single-phase module of the wheel it requires (named "Uses_Old": the
    survey canonicalises it)."""
    house = make_wheelhouse(python, tmp_path_factory.mktemp("wheelhouse"), dependent="Uses_Old")
    # A pure-Python package blocked by its dependency's single-phase module, and one whose
    # own single-phase module is only its test (NumPy's pattern).
    make_wheel(
        python,
        house,
        "purepkg",
        "0.1",
        {},
        requires=["old-single"],
        pure={"purepkg/__init__.py": "import oldsingle\n"},
    )
    make_wheel(
        python,
        house,
        "withtests",
        "1.0",
        {
            "withtests._core": c_source(OWN_GIL, "withtests._core"),
            "withtests._core_tests": c_source(SINGLE_PHASE, "withtests._core_tests"),
        },
        pure={"withtests/__init__.py": "from . import _core\n"},
    )
    return house


def test_make_wheel_installs_offline_and_imports(python: str, wheelhouse: Path) -> None:
    options = InstallOptions(find_links=(str(wheelhouse),), no_index=True, binary_only=True)
    with installed(Path(python), requirement("uses-old"), options) as venv_python:
        done = subprocess.run(
            [
                str(venv_python),
                "-c",
                "import usesold._fast as f, oldsingle, importlib.metadata as m; "
                "print(f.answer, m.version('uses-old'), m.requires('uses-old'))",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(None, 2) == ["42", "0.3", "['old-single']\n"]


def test_make_wheel_record_hashes_match(wheelhouse: Path) -> None:
    (built,) = wheelhouse.glob("uses_old-0.3-cp313-cp313-*.whl")
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
        record = archive.read("uses_old-0.3.dist-info/RECORD").decode().splitlines()
        listed = set()
        for line in record:
            path, digest, size = line.rsplit(",", 2)
            listed.add(path)
            if path.endswith("RECORD"):
                assert (digest, size) == ("", "")
                continue
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode()
            assert int(size) == len(data)
        wheel_meta = archive.read("uses_old-0.3.dist-info/WHEEL").decode()
    assert listed == names
    assert any(n.startswith("usesold/_fast.cpython-313") for n in names), names
    assert "\nTag: cp313-cp313-linux_" in wheel_meta


# --- the survey command, for real ------------------------------------------------------------


def survey_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess (python -m auditor)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    done = subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=900,
        env={**environ, "COLUMNS": "200"},
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    return done


def survey_args(
    python: str, wheelhouse: Path, requirements: str, out: str, *more: str
) -> list[str]:
    return [
        "survey",
        requirements,
        "--python",
        python,
        "--out",
        out,
        "--no-index",
        "--find-links",
        str(wheelhouse),
        "--depth",
        "import",
        "--timeout",
        PROBE_TIMEOUT,
        "--jobs",
        "2",
        *more,
    ]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("survey")
    # Names as people write them: canonicalised by the survey.
    (work / "two.txt").write_text("# the first run\nUses_Old\ngoodext\n")
    (work / "three.txt").write_text("goodext  # own GIL\n\nold-single==2.0\nUses_Old\n")
    return work


@pytest.fixture(scope="module")
def resumed(python: str, wheelhouse: Path, workdir: Path) -> tuple[str, str]:
    """A survey of two packages, then of three into the same file: the stderr of both."""
    first = survey_cli(*survey_args(python, wheelhouse, "two.txt", "full.json"), cwd=workdir)
    second = survey_cli(*survey_args(python, wheelhouse, "three.txt", "full.json"), cwd=workdir)
    return first.stderr, second.stderr


@pytest.fixture(scope="module")
def unsharded(resumed: tuple[str, str], workdir: Path) -> dict[str, Any]:
    survey_cli("merge", "full.json", "--json", "full-merged.json", cwd=workdir)
    data: dict[str, Any] = json.loads((workdir / "full-merged.json").read_text())
    return data


def _progress(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.match(r"\[\d+/\d+\] ", line)]


def test_resume_does_not_survey_finished_packages(resumed: tuple[str, str]) -> None:
    first, second = resumed
    assert [line.split(":")[0] for line in _progress(first)] == [  # the file's order
        "[1/2] uses-old 0.3 on 3.13",
        "[2/2] goodext 1.0 on 3.13",
    ]
    lines = _progress(second)
    assert len(lines) == 3, second
    assert lines[0].startswith("[1/3] goodext on 3.13: skipped (already in full.json)")
    assert lines[1].startswith("[2/3] old-single 2.0 on 3.13: legacy_only (1 module)")
    assert lines[2].startswith("[3/3] Uses_Old on 3.13: skipped")


def test_survey_verdicts_and_blockers(unsharded: dict[str, Any]) -> None:
    records = {r["package"]: r for r in unsharded["records"]}
    assert list(records) == ["goodext", "old-single", "uses-old"]
    for name, spec, version, verdict in [
        ("goodext", "goodext", "1.0", "own_gil"),
        ("old-single", "old-single==2.0", "2.0", "legacy_only"),
        ("uses-old", "Uses_Old", "0.3", "legacy_only"),
    ]:
        got = records[name]
        assert (got["spec"], got["version"], got["status"], got["verdict"]) == (
            spec,
            version,
            "ok",
            verdict,
        ), got
        assert (got["python"], got["python_version"], got["depth"]) == ("3.13", "3.13.0", "import")
    (single,) = records["old-single"]["modules"]
    assert single["name"] == "oldsingle" and "single_phase_init" in single["reasons"]
    # Only the distribution's own module: its dependency's module is not audited with it.
    (fast,) = records["uses-old"]["modules"]
    assert fast["name"] == "usesold._fast"
    assert fast["blocked_by"] == [
        {
            "module": "oldsingle",
            "chain": ["usesold._fast", "usesold", "oldsingle"],
            "distribution": "old-single",
        }
    ]
    assert fast["toolkit"] == "c"
    assert unsharded["summary"]["root_blockers"] == [
        {
            "module": "oldsingle",
            "distributions": ["old-single"],
            "blocked_modules": 2,  # `import usesold` and usesold._fast
            "packages": ["uses-old"],
            "pythons": ["3.13"],
        }
    ]


def test_a_package_is_judged_by_its_import(python: str, wheelhouse: Path, workdir: Path) -> None:
    """The import verdict (what users do), the modules' (tests left out), and import-once."""
    (workdir / "imports.txt").write_text("purepkg\nwithtests\nUses_Old\n")
    survey_cli(*survey_args(python, wheelhouse, "imports.txt", "imports.json"), cwd=workdir)
    records = {
        r["package"]: r for r in json.loads((workdir / "imports.json").read_text())["records"]
    }
    pure = records["purepkg"]
    assert (pure["status"], pure["verdict"], pure["import_verdict"]) == (
        "ok",
        "legacy_only",
        "legacy_only",
    )
    assert (pure["modules"], pure["modules_verdict"]) == ([], None)
    (entry,) = pure["imports"]
    assert entry["name"] == "purepkg"
    assert entry["blocked_by"] == [
        {"module": "oldsingle", "chain": ["purepkg", "oldsingle"], "distribution": "old-single"}
    ]
    assert pure["import_once"] == {"ready": False, "differs": False, "told_by": []}

    tests = records["withtests"]
    assert [(m["name"], m["verdict"], m["test"]) for m in tests["modules"]] == [
        ("withtests._core", "own_gil", False),
        ("withtests._core_tests", "legacy_only", True),
    ]
    # Its single-phase test module decides nothing: `import withtests` is own_gil.
    assert (tests["import_verdict"], tests["modules_verdict"]) == ("own_gil", "own_gil")
    assert [i["name"] for i in tests["imports"]] == ["withtests"]
    assert tests["import_once"] == {"ready": True, "differs": False, "told_by": []}

    uses = records["uses-old"]
    assert [i["name"] for i in uses["imports"]] == ["usesold"]
    assert uses["import_verdict"] == "legacy_only"


def test_sharded_survey_merges_to_the_unsharded_one(
    python: str, wheelhouse: Path, workdir: Path, unsharded: dict[str, Any]
) -> None:
    for index in (1, 2):
        args = survey_args(python, wheelhouse, "three.txt", f"shard-{index}.json")
        survey_cli(*args, "--shard", f"{index}/2", cwd=workdir)
    shards = [json.loads((workdir / f"shard-{i}.json").read_text()) for i in (1, 2)]
    # Sorted names goodext, old-single, uses-old: shard 1 takes the 1st and 3rd.
    assert [[r["package"] for r in s["records"]] for s in shards] == [
        ["goodext", "uses-old"],
        ["old-single"],
    ]
    survey_cli(
        "merge", "shard-2.json", "shard-1.json", "--json", "merged.json", "--html", "t.html",
        cwd=workdir,
    )  # fmt: skip
    merged = json.loads((workdir / "merged.json").read_text())
    assert {**merged, "meta": None} == {**unsharded, "meta": None}
    assert [s["shard"] for s in merged["meta"]["sources"]] == ["2/2", "1/2"]
    page = (workdir / "t.html").read_text()
    assert re.search(r'class="cell v-own_gil"[^>]*>own_gil<small>1.0', page)
