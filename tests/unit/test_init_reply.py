"""The init probe's reply -> InitInfo (auditor/probing/scheduler.py's init_from_reply), through
the slot table of the target's version (auditor/model.py's slot_ids: PEP 820 renumbered the
module slots in 3.15).

The replies are shaped as the supervisor hands them over (auditor/probing/supervisor.py's
_reply, after a JSON round trip): ``init`` is native/probe.c's read_init dict, whose ``slots``
are raw (id, value) pairs in declaration order, a pointer's value as an integer.  The 3.13
ones were read from the fixture zoo (tests/fixtures/ext/) by the real helper.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from auditor.model import InitInfo, slot_ids
from auditor.probing.replies import init_from_reply

EXEC = 140199960912368  # a function pointer, as read_init reports it (PyLong_FromVoidPtr)
NOT_AN_EXTENSION = "no PyInit_not_an_extension symbol: not a Python extension module"


def _reply(init: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """An init probe's reply, as the supervisor builds it, after JSON (tuples become lists)."""
    reply: dict[str, Any] = {
        "probe": "init",
        "stage": "process_exit",
        "seconds": 0.0056,
        "stdout_bytes": 0,
        "stderr_tail": "",
        "exit_code": 0,
        "signal": None,
        "fresh_exec": False,
        "outcome": "ok",
        "files": [],
        "gil_enabled": None,
    }
    if init is not None:
        reply["init"] = init
    reply.update(fields)
    return json.loads(json.dumps(reply))


def _multi_phase(slots: list[tuple[int, int]], m_size: int | None = 0) -> dict[str, Any]:
    init: dict[str, Any] = {"export": "PyInit", "style": "multi_phase", "slots": slots}
    if m_size is not None:
        init["m_size"] = m_size
    return init


def test_slot_ids_before_3_15_are_the_classic_ones() -> None:
    for version in ((3, 12), (3, 13), (3, 14)):
        assert slot_ids(version) == {
            "multiple_interpreters": (3,),
            "gil": (4,),
            "state_size": (),
            "classic": {},
        }


def test_slot_ids_on_3_15_read_pep_820_and_the_old_ids() -> None:
    for version in ((3, 15), (3, 16)):
        assert slot_ids(version) == {
            "multiple_interpreters": (86, 3),
            "gil": (87, 4),
            "state_size": (102,),
            "classic": {84: 1, 85: 2, 86: 3, 87: 4},
        }


@pytest.mark.parametrize(
    ("version", "init", "expected"),
    [
        # multiphase_own_gil on 3.13: exec, multi=PER_INTERPRETER_GIL, gil=NOT_USED.
        (
            (3, 13),
            _multi_phase([(2, EXEC), (3, 2), (4, 1)], m_size=8),
            InitInfo(
                style="multi_phase",
                export="PyInit",
                multiple_interpreters="per_interpreter_gil",
                gil="not_used",
                m_size=8,
                slots=(2, 3, 4),
            ),
        ),
        # multiphase_shared_gil on 3.13: multi=SUPPORTED, gil=USED.
        (
            (3, 13),
            _multi_phase([(2, EXEC), (3, 1), (4, 0)]),
            InitInfo("multi_phase", "PyInit", "supported", "used", 0, (2, 3, 4)),
        ),
        # multiphase_no_slot on 3.12: an exec slot only.
        (
            (3, 12),
            _multi_phase([(2, EXEC)]),
            InitInfo("multi_phase", "PyInit", None, None, 0, (2,)),
        ),
        # multiphase_not_supported: NOT_SUPPORTED is 0, not "absent".
        (
            (3, 12),
            _multi_phase([(2, EXEC), (3, 0)]),
            InitInfo("multi_phase", "PyInit", "not_supported", None, 0, (2, 3)),
        ),
        # A value CPython does not define is kept as its number.
        (
            (3, 13),
            _multi_phase([(3, 7), (4, 9)]),
            InitInfo("multi_phase", "PyInit", "7", "9", 0, (3, 4)),
        ),
        # singlephase_basic: a module object came back, no slots.
        (
            (3, 13),
            {"export": "PyInit", "style": "single_phase", "m_size": -1},
            InitInfo("single_phase", "PyInit", None, None, -1, ()),
        ),
        # Before 3.15, 86 and 87 are no multiple-interpreters or GIL slot.
        (
            (3, 14),
            _multi_phase([(85, EXEC), (86, 2), (87, 1)]),
            InitInfo("multi_phase", "PyInit", None, None, 0, (85, 86, 87)),
        ),
        # 3.15, a PyModuleDef built with 3.15's headers: PEP 820's ids, listed by the old ones.
        (
            (3, 15),
            _multi_phase([(85, EXEC), (86, 2), (87, 1)]),
            InitInfo("multi_phase", "PyInit", "per_interpreter_gil", "not_used", 0, (2, 3, 4)),
        ),
        # 3.15, limited_api (built for the 3.12 limited API): the old ids still count.
        (
            (3, 15),
            _multi_phase([(2, EXEC), (3, 2)]),
            InitInfo("multi_phase", "PyInit", "per_interpreter_gil", None, 0, (2, 3)),
        ),
        # 3.15, export_hook's PyModExport_export_hook: a PySlot array, no PyModuleDef, so no
        # m_size in the dict; the state size slot (here 16) gives it.
        (
            (3, 15),
            {
                "export": "PyModExport",
                "style": "multi_phase",
                "slots": [(85, EXEC), (86, 2), (87, 1), (102, 16)],
            },
            InitInfo(
                style="multi_phase",
                export="PyModExport",
                multiple_interpreters="per_interpreter_gil",
                gil="not_used",
                m_size=16,
                slots=(2, 3, 4, 102),
            ),
        ),
        # The same without a state size slot: m_size unknown.
        (
            (3, 15),
            {"export": "PyModExport", "style": "multi_phase", "slots": [(85, EXEC), (86, 1)]},
            InitInfo("multi_phase", "PyModExport", "supported", None, None, (2, 3)),
        ),
    ],
    ids=str,
)
def test_init_from_reply(
    version: tuple[int, int], init: dict[str, Any], expected: InitInfo
) -> None:
    assert init_from_reply(_reply(init), version) == expected


def test_the_first_declaration_counts() -> None:
    """Two multiple-interpreters slots (CPython itself refuses such a def): the first one."""
    info = init_from_reply(_reply(_multi_phase([(86, 2), (3, 0)])), (3, 15))
    assert (info.multiple_interpreters, info.slots) == ("per_interpreter_gil", (3, 3))


def test_an_init_that_raised_is_single_phase_inferred() -> None:
    """A PyInit that raised ran module code: single-phase, by inference."""
    for outcome, exception, message in (
        ("error", "RuntimeError", "init failed"),
        ("import_error", "ImportError", "numpy.core.multiarray failed to import"),
    ):
        reply = _reply(None, outcome=outcome, exception=exception, message=message)
        assert init_from_reply(reply, (3, 13)) == InitInfo(
            style="single_phase", export="PyInit", basis="inferred"
        )


@pytest.mark.parametrize(
    "message",
    [
        NOT_AN_EXTENSION,
        "dlopen failed: /x/broken.so: undefined symbol: PyFoo_Bar",
    ],
)
def test_the_helpers_own_refusals_say_nothing_of_the_init(message: str) -> None:
    """The file did not load, or has no init function: no init style at all."""
    reply = _reply(None, outcome="import_error", exception="ImportError", message=message)
    assert init_from_reply(reply, (3, 13)) == InitInfo(style="unknown")


@pytest.mark.parametrize(
    "reply",
    [
        None,  # the init probe never reported (the module was cached without it, or lost)
        _reply(None, outcome="crash", signal="SIGSEGV", stage="init", exit_code=None),
        _reply(None, outcome="timeout", stage="init"),
        _reply(None, outcome="tool_failure", message="the probe zygote died"),
        _reply({}),
    ],
    ids=["none", "crash", "timeout", "tool_failure", "empty"],
)
def test_no_init_findings_is_unknown(reply: dict[str, Any] | None) -> None:
    assert init_from_reply(reply, (3, 13)) == InitInfo(style="unknown")
