"""The knowledge base: an entry for every reason, the most specific advice wins."""

from __future__ import annotations

import pytest

from auditor.judging.advice import Context, advise, knowledge
from auditor.judging.classify import REASON_CODES
from auditor.model import TOOLKITS, InitInfo, Reason


@pytest.mark.parametrize("code", REASON_CODES)
def test_every_reason_code_has_advice(code: str) -> None:
    advice = advise(Reason(code, "message"), None)
    assert advice.title and advice.explanation and advice.fix
    assert advice.topic == code


def test_every_entry_is_complete_and_links_resolve() -> None:
    data = knowledge()
    links = data["links"]
    for code, entry in data.items():
        if code == "links":
            continue
        assert code in REASON_CODES, f"knowledge.toml has an entry for unknown code {code}"
        tables = [entry] + [v for k, v in entry.items() if isinstance(v, dict) and k != "toolkit"]
        for table in tables:
            for name in table.get("links", []):
                assert name in links, (code, name)
            for toolkit in table.get("toolkit", {}):
                assert toolkit in TOOLKITS, (code, toolkit)
        for url_title, url in links.values():
            assert url.startswith("https://") and url_title


def test_toolkit_specific_fix_wins() -> None:
    generic = advise(Reason("single_phase_init", "m"), "c")
    pybind = advise(Reason("single_phase_init", "m"), "pybind11")
    assert pybind.toolkit == "pybind11" and generic.toolkit is None
    assert "py::multiple_interpreters::per_interpreter_gil()" in pybind.fix
    assert pybind.title == generic.title  # only the fix is overridden
    nano = advise(Reason("declares_not_supported", "m"), "nanobind")
    assert "hard-codes" in nano.fix
    cython = advise(Reason("no_multi_interp_slot", "m"), "cython")
    assert "CYTHON_USE_MODULE_STATE" in cython.fix
    assert any("6513" in url for _, url in cython.links)


@pytest.mark.parametrize(
    ("details", "topic", "phrase"),
    [
        ((("stage", "import"),), "crash.import", "while importing"),
        ((("stage", "interpreter_end"),), "crash.interpreter_end", "ends"),
        ((("stage", "process_exit"),), "crash.process_exit", "exit"),
        ((("stage", "main_import"),), "crash.main_import", "main interpreter after"),
        ((("stage", "create"),), "crash", "Crash"),
    ],
)
def test_crash_advice_depends_on_the_stage(details: tuple, topic: str, phrase: str) -> None:
    advice = advise(Reason("crash", "m", details=details), None)
    assert advice.topic == topic
    assert phrase in advice.title


@pytest.mark.parametrize(
    ("binding", "link"),
    [
        ("cython", "cython/cython/pull/6513"),
        ("pyo3", "PyO3/pyo3/issues/576"),
        ("numpy", "numpy/numpy/issues/28271"),
    ],
)
def test_binding_refusal_advice_names_the_upstream(binding: str, link: str) -> None:
    advice = advise(Reason("binding_refusal", "m", details=(("binding", binding),)), None)
    assert advice.topic == f"binding_refusal.{binding}"
    assert any(link in url for _, url in advice.links)


def test_a_dependency_guard_has_its_own_advice() -> None:
    details = (("guard", "cython"), ("same_distribution", None))
    advice = advise(Reason("blocked_by", "m", module="dep", details=details), "c")
    assert advice.topic == "blocked_by.guard"
    assert "Nothing to change in this module" in advice.fix
    assert advise(Reason("blocked_by", "m", module="dep"), "c").topic == "blocked_by"


def _init(level: str | None, style: str = "multi_phase") -> InitInfo:
    return InitInfo(style=style, multiple_interpreters=level)


def test_no_declaration_advised_that_the_module_already_makes() -> None:
    """orjson declares NOT_SUPPORTED: its crash advice must not tell it to declare it."""
    crash = Reason("crash", "m", details=(("stage", "import"),))
    plain = advise(crash, None, Context((3, 13), _init("per_interpreter_gil"))).fix
    assert "declare Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED" in plain
    declared = advise(crash, None, Context((3, 13), _init("not_supported"))).fix
    assert "declare Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED so" not in declared
    assert "already declares Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED" in declared
    # A single-phase module has no slots to declare anything with.
    single = advise(crash, None, Context((3, 13), _init(None, "single_phase"))).fix
    assert "NOT_SUPPORTED" not in single


def test_a_lower_level_is_still_advised() -> None:
    concurrent = Reason("crashes_concurrently", "m")
    own = advise(concurrent, None, Context((3, 13), _init("per_interpreter_gil"))).fix
    assert "declare Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED (shared" in own
    shared = advise(concurrent, None, Context((3, 13), _init("supported"))).fix
    assert "declare Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED (shared" not in shared


@pytest.mark.parametrize("code", REASON_CODES)
def test_no_slot_advice_before_312(code: str) -> None:
    """3.11 and older have no Py_mod_multiple_interpreters: no advice names it or its values."""
    if code in ("declares_not_supported", "declares_shared_gil", "declared_vs_observed"):
        pytest.skip(f"{code} needs a slot: never produced before 3.12")
    for init in (_init(None), _init(None, "single_phase"), None):
        fix = advise(Reason(code, "m"), None, Context((3, 11), init)).fix
        for sentence in fix.split(". "):  # a slot is named only for builds for 3.12+
            if "Py_mod_multiple_interpreters" in sentence or "MULTIPLE_INTERPRETERS" in sentence:
                assert "3.12" in sentence, (code, sentence)


def test_single_phase_advice_declares_the_slot_from_312_only() -> None:
    reason = Reason("single_phase_init", "m")
    assert "Py_mod_multiple_interpreters" in advise(reason, None, Context((3, 12))).fix
    assert "Py_mod_multiple_interpreters" not in advise(reason, None, Context((3, 11))).fix
    # pybind11's own fix speaks of its tags, not of the slot.
    pybind = advise(reason, "pybind11", Context((3, 13))).fix
    assert "per_interpreter_gil()" in pybind and "Then declare" not in pybind


def test_links_are_labelled_for_what_they_are() -> None:
    for label, url in knowledge()["links"].values():
        if "/pull/" in url:
            assert "pull request" in label, (label, url)
        if "/issues/" in url:
            assert "issue" in label and "pull request" not in label, (label, url)
