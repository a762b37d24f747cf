"""The overrun factor learned from "unfinished" reports scales the new time a task gets, and says so."""

from __future__ import annotations

from dataclasses import replace

from scheduler.planning import generate, texts
from scheduler.planning.target import scaled
from tests.unit.planning.scenario import build_context, load_golden


def test_a_learned_overrun_factor_scales_new_time_and_says_so() -> None:
    ctx = build_context(dict(load_golden())["01_place_empty_day"])  # a 60-minute task
    learned = replace(ctx, user=replace(ctx.user, overrun_factor=1.3))
    top = generate(learned)[0]
    (change,) = top.changes
    assert change.end is not None
    assert change.start is not None
    assert (change.end - change.start).total_seconds() == 80 * 60  # 78 rounded up to 5 minutes
    assert any(r.code == "overrun_scaled" for r in top.reasons)
    assert "1.3 倍" in texts.explain(top, learned, "zh")
    plain = generate(ctx)[0]
    assert not any(r.code == "overrun_scaled" for r in plain.reasons)


def test_scaled_rounds_up_to_five_minutes_and_never_shrinks() -> None:
    assert scaled(60, 1.0) == 60
    assert scaled(60, 1.3) == 80
    assert scaled(30, 1.17) == 40
    assert scaled(45, 2.0) == 90
    assert scaled(0, 1.5) == 0
