"""The knowledge base: an entry for every reason, the most specific advice wins."""

from __future__ import annotations

import pytest

from auditor.advice import advise, knowledge
from auditor.classify import REASON_CODES
from auditor.model import TOOLKITS, Reason


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
        ("cython", "cython/cython/issues/6513"),
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
