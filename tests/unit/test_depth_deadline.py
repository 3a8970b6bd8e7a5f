"""A depth probe's deadline follows the module's own measured import cost, with a floor, and
never exceeds the old 3 x --timeout."""

from __future__ import annotations

import pytest

from auditor.probe_plan import DEPTH_FLOOR_SECONDS, DepthSettings, depth_deadline

DEPTH = DepthSettings(threads=4, rounds=3, cycles=30, repeat=3)


@pytest.mark.parametrize(
    ("probe", "imports"),
    [("reuse", 4), ("concurrent", 3 * 2 * 4), ("cycles", 2 * 30)],
)
def test_deadline_is_three_times_the_work_plus_a_floor(probe: str, imports: int) -> None:
    assert (
        depth_deadline(probe, 0.25, DEPTH, timeout=60) == DEPTH_FLOOR_SECONDS + 3 * imports * 0.25
    )


def test_a_cheap_module_gets_the_floor_and_a_slow_one_the_cap() -> None:
    assert depth_deadline("reuse", 0.0, DEPTH, timeout=60) == DEPTH_FLOOR_SECONDS
    assert depth_deadline("cycles", 5.0, DEPTH, timeout=60) == 180  # 3 x --timeout
    assert depth_deadline("cycles", 0.1, DEPTH, timeout=5) == 15
