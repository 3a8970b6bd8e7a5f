"""The depth probes' "use" code, run as the target runs it (auditor/_target/worker.py)."""

from __future__ import annotations

import sys
import types

import pytest

from auditor._target import worker


@pytest.mark.parametrize("public", [(), ("f", "g")])
def test_use_runs_on_modules_with_and_without_public_names(public: tuple[str, ...]) -> None:
    module = types.ModuleType("fake_ext")
    for name in public:
        setattr(module, name, lambda: None)
    module._private = object()
    sys.modules["fake_ext"] = module
    try:
        exec(compile(worker._use_source("fake_ext", None), "<use>", "exec"), {})
        exec(compile(worker._use_source("fake_ext", "import fake_ext"), "<use>", "exec"), {})
        with pytest.raises(RuntimeError, match=r"^smoke code failed: ZeroDivisionError: "):
            exec(compile(worker._use_source("fake_ext", "1/0"), "<use>", "exec"), {})
    finally:
        del sys.modules["fake_ext"]
