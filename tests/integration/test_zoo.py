"""The fixture zoo, scanned through the real CLI and C helper, on 3.12 and 3.13."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from auditor.model import EVIDENCE_FIELDS, Verdict
from auditor.probing.stall import STALL_SECONDS
from auditor.report.json import schema
from tests.integration.conftest import (
    PROBE_TIMEOUT,
    Scan,
    free_threaded,
    gil_build_only,
    reasons_of,
    run_cli,
)
from tests.integration.expected import (
    CATALOGUE,
    FRESH,
    ICD,
    NON_EXTENSIONS,
    SUB_PROBES,
    Expect,
    expectation,
)

ORACLE = Path(__file__).resolve().parents[1] / "fixtures" / "oracle.py"
MODULES = sorted(CATALOGUE)


def expect(scan: Scan, name: str) -> Expect:
    return expectation(scan.report["targets"][0]["python"]["version"], name)


def expected_verdict(scan: Scan, name: str) -> str:
    want = expect(scan, name).verdict
    if free_threaded(scan) and want == "legacy_only":
        return "unsupported"  # legacy subinterpreters refuse them too (gh-117649)
    return want


@pytest.mark.parametrize("name", MODULES)
def test_verdict(zoo_scan: Scan, name: str) -> None:
    assert zoo_scan.module(name)["verdict"] == expected_verdict(zoo_scan, name)


@pytest.mark.parametrize("name", MODULES)
def test_init_style_and_slots(zoo_scan: Scan, name: str) -> None:
    want, init = expect(zoo_scan, name), zoo_scan.module(name)["init"]
    assert init["style"] == want.style
    assert init["multiple_interpreters"] == want.multiple_interpreters
    assert init["export"] == want.export
    if want.m_size is not None:
        assert init["m_size"] == want.m_size
    assert zoo_scan.module(name)["probes"]["init"]["outcome"] == "ok"


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("probe", SUB_PROBES)
def test_probe_outcome(zoo_scan: Scan, name: str, probe: str) -> None:
    gil_build_only(zoo_scan, expect(zoo_scan, name).verdict)
    want = expect(zoo_scan, name).probes[probe]
    got = zoo_scan.module(name)["probes"][probe]
    assert got["outcome"] == want.outcome, got
    if want.exception is not None:
        assert got["exception"] == want.exception
    if want.message is not None:
        assert got["message"] == want.message
    elif want.outcome == "ok":
        assert got["message"] is None and got["exception"] is None
    if want.main_after is not None:
        assert got["main_after"]["outcome"] == want.main_after
    if want.main_after_message is not None:
        assert got["main_after"]["message"] == want.main_after_message
    if probe in FRESH and want.outcome not in ("crash", "timeout", "not_run"):
        assert got["main_after"] is not None
    for key in ("signal", "exit_code", "stage", "import_outcome"):
        if getattr(want, key) is not None:
            assert got[key] == getattr(want, key), (key, got)


@pytest.mark.parametrize("name", MODULES)
def test_main_probe(zoo_scan: Scan, name: str) -> None:
    main = zoo_scan.module(name)["probes"]["main"]
    if name == "exec_raises":
        assert (main["outcome"], main["exception"], main["message"]) == (
            "error",
            "RuntimeError",
            "exec_raises: refusing to initialise",
        )
    else:
        assert main["outcome"] == "ok", main


@pytest.mark.parametrize("name", MODULES)
def test_reason_codes(zoo_scan: Scan, name: str) -> None:
    gil_build_only(zoo_scan, expect(zoo_scan, name).verdict)
    codes = {r["code"] for r in reasons_of(zoo_scan, name)}
    assert codes == expect(zoo_scan, name).reasons


@pytest.mark.parametrize("name", [n for n in MODULES if CATALOGUE[n].exact is not None])
def test_exact_reasons(zoo_scan: Scan, name: str) -> None:
    """The reasons in report order, with the module each blames and the guard, if any."""
    gil_build_only(zoo_scan, expect(zoo_scan, name).verdict)
    got = [(r["code"], r["module"], r["details"].get("guard")) for r in reasons_of(zoo_scan, name)]
    assert got == list(expect(zoo_scan, name).exact or ())


@pytest.mark.parametrize("name", [n for n in MODULES if CATALOGUE[n].blocked_by])
def test_every_blocked_by_names_the_blocker(zoo_scan: Scan, name: str) -> None:
    reasons = zoo_scan.module(name)["reasons"]
    blockers = {r["module"] for r in reasons if r["code"] == "blocked_by"}
    assert blockers == {expect(zoo_scan, name).blocked_by}
    assert "binding_refusal" not in {r["code"] for r in reasons}  # no guard of its own


def test_discovery_names_extension_packages_and_c_only_names(zoo_scan: Scan) -> None:
    """pkginit/__init__<EXT_SUFFIX> is `pkginit` (never `pkginit.__init__`, though it exports
    PyInit___init__ as mypyc's shims do); 00fixture__mypyc is listed by the name C imports."""
    (target,) = zoo_scan.report["targets"]
    names = {m["name"]: m for m in target["modules"]}
    assert not [n for n in names if n.endswith(".__init__")]
    suffix = ".".join(Path(names["multiphase_own_gil"]["path"]).name.split(".")[1:])
    assert Path(names["pkginit"]["path"]).relative_to(zoo_scan.fixtures) == Path(
        f"pkginit/__init__.{suffix}"
    )
    assert Path(names["pkginit.nested"]["path"]).relative_to(zoo_scan.fixtures) == Path(
        f"pkginit/nested/__init__.{suffix}"
    )
    assert Path(names["00fixture__mypyc"]["path"]).name == f"00fixture__mypyc.{suffix}"
    runtime = names["00fixture__mypyc"]["binding"]
    assert "symbol PyInit_00fixture__mypyc (mypyc's shared runtime)" in runtime["evidence"]
    assert names["pkginit"]["probes"]["main"]["outcome"] == "ok"  # the .py beside it never ran


@pytest.mark.parametrize("name", ["guard_user", "guard_wrapped"])
def test_dependency_guard_is_the_dependencys(zoo_scan: Scan, name: str) -> None:
    """interp_guard's "Interpreter change detected" is blamed on interp_guard, with the advice
    for a dependency's guard, not Cython's advice for this module."""
    reasons = zoo_scan.module(name)["reasons"]
    (guard,) = [r for r in reasons if r["details"].get("guard")]
    assert guard["module"] == "interp_guard"
    assert guard["details"] == {
        "guard": "cython",
        "same_distribution": None,
        "chain": [name, "interp_guard"],  # imported from C (its exec slot): no frame between
    }
    assert guard["advice"]["topic"] == "blocked_by.guard"
    assert ICD in guard["message"]
    assert sorted(guard["probes"]) == sorted(
        ["legacy:main_after", "isolated:main_after", "legacy_after_main", "isolated_after_main"]
    )


def test_blocked_by_names_the_dependency(zoo_scan: Scan) -> None:
    gil_build_only(zoo_scan, "legacy_only")
    (reason,) = [
        r for r in zoo_scan.module("blockpkg._accel")["reasons"] if r["code"] == "blocked_by"
    ]
    assert reason["module"] == "blockpkg._core"
    assert reason["details"] == {
        "same_distribution": None,  # built in place: no distribution
        "chain": ["blockpkg._accel", "blockpkg", "blockpkg._core"],
    }
    assert sorted(reason["probes"]) == sorted(
        ["isolated", "own_gil", "isolated_after_main", "own_gil_after_main"]
    )


def test_crash_evidence(zoo_scan: Scan) -> None:
    segv = zoo_scan.module("segv_in_subinterp")["probes"]["own_gil"]
    assert "Fatal Python error: Segmentation fault" in segv["stderr_tail"]
    abort = zoo_scan.module("abort_at_end")["probes"]["isolated_after_main"]
    # The import itself had worked; the interpreter's end killed the process.
    assert abort["import_outcome"] == "ok"
    assert "Fatal Python error: Aborted" in abort["stderr_tail"]
    (crash,) = [r for r in zoo_scan.module("abort_at_end")["reasons"] if r["code"] == "crash"]
    assert crash["message"].startswith("killed by SIGABRT while ending the subinterpreter")
    assert crash["details"] == {"exit_code": None, "signal": "SIGABRT", "stage": "interpreter_end"}


# The fixtures that never end a subinterpreter probe (tests/fixtures/ext/README.md).
HANGS = ("hangs_in_subinterp", "deadlock", "leaves_thread")


def test_hang_costs_only_its_probe(zoo_scan: Scan) -> None:
    """hangs_in_subinterp sleeps for ever in its exec slot, at no CPU time: the deadlock
    detector (auditor/probing/stall.py) stops each subinterpreter probe in the import, with
    its evidence, well before the --timeout deadline; main and the other modules go on."""
    probes = zoo_scan.module("hangs_in_subinterp")["probes"]
    assert probes["main"]["outcome"] == "ok"
    for name in SUB_PROBES:
        probe = probes[name]
        assert (probe["outcome"], probe["stage"], probe["import_outcome"]) == (
            "timeout",
            "import",
            None,
        ), name
        assert probe["signal"] is None  # the signals that ended it were ours
        # Stopped as a deadlock (asleep with no CPU time), not by the deadline.
        deadlock = probe["deadlock"]
        assert deadlock is not None, name
        assert deadlock["idle_seconds"] >= STALL_SECONDS
        assert deadlock["native_stacks"] or deadlock["native_stacks_from"]
        # faulthandler's stack, from the SIGABRT that ended the stuck probe.
        assert "most recent call first" in probe["stderr_tail"], name
    reasons = reasons_of(zoo_scan, "hangs_in_subinterp")
    assert {r["code"] for r in reasons} == {"timeout"}
    assert all(r["message"].startswith("deadlocked: ") for r in reasons)
    # No other module lost a probe to it: no other hang, no tool failure.
    (target,) = zoo_scan.report["targets"]
    for module in target["modules"]:
        for name, probe in module["probes"].items():
            assert probe["outcome"] != "tool_failure", (module["name"], name)
            if module["name"] not in HANGS:
                assert probe["outcome"] != "timeout", (module["name"], name)


def test_stdout_flood_is_counted_not_kept(zoo_scan: Scan) -> None:
    probes = zoo_scan.module("stdout_flood")["probes"]
    mib8 = 8 * 1024 * 1024
    assert probes["main"]["stdout_bytes"] == mib8
    # Fresh and after-main probes import twice: once per interpreter.
    assert all(probes[p]["stdout_bytes"] == 2 * mib8 for p in SUB_PROBES)
    assert len(json.dumps(probes)) < 64 * 1024


def test_forked_copy_does_not_report(zoo_scan: Scan) -> None:
    for probe, result in zoo_scan.module("forks_on_import")["probes"].items():
        assert result["stage"] == "process_exit", (probe, result)
        assert result["exit_code"] == 0


def test_non_extension_listed_not_probed(zoo_scan: Scan) -> None:
    (target,) = zoo_scan.report["targets"]
    assert [n["name"] for n in target["non_extensions"]] == list(NON_EXTENSIONS)
    assert "not a Python extension module" in target["non_extensions"][0]["reason"]
    assert NON_EXTENSIONS[0] not in {m["name"] for m in target["modules"]}


def test_report_validates_against_schema(zoo_scan: Scan) -> None:
    jsonschema.validate(zoo_scan.report, schema())
    assert zoo_scan.report["version"] == 1


def test_terminal_summary(zoo_scan: Scan) -> None:
    (target,) = zoo_scan.report["targets"]
    counts = Counter(m["verdict"] for m in target["modules"])
    for name in CATALOGUE:
        assert zoo_scan.module(name)["verdict"] == expected_verdict(zoo_scan, name)
    parts = [f"{counts[v.value]} {v.value}" for v in Verdict if counts[v.value]]
    assert f"{len(target['modules'])} modules: {', '.join(parts)}" in zoo_scan.stdout  # > 1
    verdict = expected_verdict(zoo_scan, "blockpkg._accel")
    assert (
        f"blockpkg._accel ({verdict}): refused because it imports blockpkg._core" in zoo_scan.stdout
    )
    assert "Traceback" not in zoo_scan.stderr
    # Piped, as in every CI log: no trailing blanks, though rich pads table cells.
    assert not [line for line in zoo_scan.stdout.splitlines() if line.endswith(" ")]


# Fixtures whose every probe ends without a crash or hang: CPython's own API can judge them.
ORACLE_MODULES = [n for n in MODULES if CATALOGUE[n].verdict not in ("crashes", "hangs", "broken")]


def test_matches_cpython_oracle(zoo_scan: Scan) -> None:
    """Every probe agrees with what CPython's own _interpreters API reports by hand."""
    done = subprocess.run(
        [zoo_scan.python, str(ORACLE), "--path", str(zoo_scan.fixtures), *ORACLE_MODULES],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == len(ORACLE_MODULES) * 6
    for line in lines:
        probe = line["config"] + ("_after_main" if line["order"] == "after_main" else "")
        got = zoo_scan.module(line["module"])["probes"][probe]
        where = (line["module"], probe)
        assert got["outcome"] == line["outcome"], where
        assert got["message"] == line["message"], where
        if line["order"] == "fresh":
            assert got["main_after"]["outcome"] == line["main_after"]["outcome"], where
            assert got["main_after"]["message"] == line["main_after"]["message"], where


@pytest.mark.parametrize("name", MODULES)
def test_every_finding_comes_with_a_fix(zoo_scan: Scan, name: str) -> None:
    module = zoo_scan.module(name)
    if module["verdict"] == "own_gil":
        assert reasons_of(zoo_scan, name) == []
        return
    assert module["reasons"]
    for reason in module["reasons"]:
        advice = reason["advice"]
        assert advice["title"] and advice["explanation"] and advice["fix"], reason
    if module["verdict"] != "broken":  # a module that main cannot import needs no PEP
        assert any(r["advice"]["links"] for r in module["reasons"])


@pytest.mark.parametrize("name", MODULES)
def test_binding_detected(zoo_scan: Scan, name: str) -> None:
    binding = zoo_scan.module(name)["binding"]
    assert binding["toolkit"] == expect(zoo_scan, name).toolkit
    assert binding["evidence"]


def test_static_hints_single_phase(zoo_scan: Scan) -> None:
    hints = {
        h["symbol"]: h["kind"] for h in zoo_scan.module("singlephase_basic")["static"]["hints"]
    }
    assert hints.get("PyModule_Create2") == "red_flag"
    good = {
        h["symbol"]: h["kind"] for h in zoo_scan.module("multiphase_own_gil")["static"]["hints"]
    }
    assert good.get("PyModuleDef_Init") == "good_sign"


def test_strict_isolation_gives_the_same_report(
    zoo_scan: Scan, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Sharing the main import between probes changes nothing: compare with one process each."""
    if request.node.callspec.params.get("python") in ("3.14", "3.15"):
        pytest.skip(
            "strict isolation is compared on 3.12, 3.13 and 3.14t (the free-threaded build) to "
            "keep CI under 15 minutes; on this target the shared mode is compared with "
            "CPython's own _interpreters (test_matches_cpython_oracle)"
        )
    out = tmp_path / "strict.json"
    done = run_cli(
        "scan",
        "--python",
        zoo_scan.python,
        "--timeout",
        PROBE_TIMEOUT,
        "--jobs",
        "2",
        "--isolation",
        "strict",
        "--no-cache",
        "--depth",
        "import",
        "--json",
        str(out),
        str(zoo_scan.fixtures),
    )
    assert done.returncode == 0, done.stderr
    strict = json.loads(out.read_text())["targets"][0]["modules"]
    for module in strict:
        shared = zoo_scan.module(module["name"])
        assert shared["verdict"] == module["verdict"], module["name"]
        assert [r["code"] for r in shared["reasons"]] == [r["code"] for r in module["reasons"]]
        for probe, result in module["probes"].items():
            # Really one new interpreter per probe (not_run ones never started).
            assert result["fresh_exec"] is (result["outcome"] != "not_run")
            mine = shared["probes"][probe]
            if result.get("kind"):
                # Depth probes: several interpreters at once; which one dies first, and with
                # which signal, is timing (stale_static's concurrent round).
                assert (mine["outcome"], mine["kind"]) == (result["outcome"], result["kind"])
                continue
            assert {k: mine[k] for k in EVIDENCE_FIELDS} == {
                k: result[k] for k in EVIDENCE_FIELDS
            }, (
                module["name"],
                probe,
            )


def test_free_threaded_names_the_module_that_reenables_the_gil(zoo_scan: Scan) -> None:
    """On a free-threaded build, importing a module without Py_mod_gil turns the GIL on."""
    if not free_threaded(zoo_scan):
        pytest.skip("a GIL build has no GIL to re-enable")
    module = zoo_scan.module("multiphase_no_slot")  # declares no Py_mod_gil
    assert module["probes"]["main"]["gil_enabled"] is True
    (reason,) = [r for r in module["reasons"] if r["code"] == "gil_reenabled"]
    assert reason["module"] == "multiphase_no_slot"
    # Py_mod_gil = Py_MOD_GIL_NOT_USED: the GIL stays off.
    declared = zoo_scan.module("multiphase_own_gil")
    assert declared["probes"]["main"]["gil_enabled"] is False
    assert "gil_reenabled" not in {r["code"] for r in declared["reasons"]}
    # The terminal's GIL column says the same.
    rows: dict[str, str] = {}
    for line in zoo_scan.stdout.splitlines():  # the table comes first, then "Why not own_gil"
        if line.strip():
            rows.setdefault(line.split()[0], line)
    assert re.search(r"no slot\s+✓\s+on\s", rows["multiphase_no_slot"])  # init, main, GIL
    assert re.search(r"own GIL\s+✓\s+off\s", rows["multiphase_own_gil"])
    assert "GIL: on/off" in zoo_scan.stdout


def test_gil_builds_have_no_gil_column(zoo_scan: Scan) -> None:
    if free_threaded(zoo_scan):
        pytest.skip("free-threaded builds show the GIL column")
    assert "GIL: on/off" not in zoo_scan.stdout


def test_blocked_by_carries_the_import_chain(zoo_scan: Scan) -> None:
    """The pure-Python package __init__ imports the single-phase extension that refuses."""
    gil_build_only(zoo_scan, "legacy_only")
    for name, chain in (
        ("blockpkg._accel", ["blockpkg._accel", "blockpkg", "blockpkg._core"]),
        ("pa._speedups", ["pa._speedups", "pa", "pb._speedups"]),
    ):
        (reason,) = [r for r in zoo_scan.module(name)["reasons"] if r["code"] == "blocked_by"]
        assert reason["details"]["chain"] == chain
        assert " → ".join(chain) in reason["message"]
        # The evidence: the subinterpreter's failed import names the modules on its way.
        assert zoo_scan.module(name)["probes"]["own_gil_after_main"]["importers"] == chain[1:-1]


def test_a_file_name_that_is_not_utf8_is_no_obstacle(zoo_scan: Scan) -> None:
    """pa/caf\\xe9.<suffix> (tests/fixtures/build.py): no Python name imports it, so it is
    not a module; the scan and its report are whole (a real venv's such file once ended
    every scan with a UnicodeEncodeError)."""
    (target,) = zoo_scan.report["targets"]
    assert not [m["name"] for m in target["modules"] if m["name"].startswith("pa.caf")]
    assert all("\\udc" not in json.dumps(m) for m in target["modules"])
