"""A start the user picked: the same checks as the planner's own options, for each kind of target."""

from __future__ import annotations

from datetime import datetime

from scheduler.planning import PickRefusal, pick, texts
from scheduler.planning.model import ChangeKind, PlanningContext
from tests.unit.planning.scenario import build_context, load_golden
from tests.unit.planning.test_engine import at


def _golden(name: str) -> PlanningContext:
    return build_context(dict(load_golden())[name])


def test_a_task_gets_its_minutes_at_the_picked_start() -> None:
    ctx = _golden("01_place_empty_day")
    start = at(16, 10)
    made = pick(ctx, start)
    assert not isinstance(made, PickRefusal)
    (change,) = made.changes
    assert change.kind == ChangeKind.ADD_BLOCK
    assert change.start == start
    assert any(r.code == "picked_by_user" for r in made.reasons)
    assert texts.explain(made, ctx, "en")  # the reason has words


def test_refusals_name_what_is_wrong() -> None:
    ctx = _golden("01_place_empty_day")
    cases: list[tuple[datetime, PickRefusal]] = [
        (ctx.now.replace(hour=0), PickRefusal.PAST),
        (at(23, 30), PickRefusal.OUTSIDE_DAY),
        (ctx.now.replace(day=2, month=12), PickRefusal.BEYOND_WINDOW),
    ]
    for when, why in cases:
        assert pick(ctx, when) == why, when


def test_a_conflicting_block_moves_whole_and_may_use_its_own_old_time() -> None:
    name = next(n for n, _ in load_golden() if n.startswith("60_"))
    ctx = _golden(name)
    assert pick(ctx, at(10, 30)) == PickRefusal.BUSY  # 高数课
    made = pick(ctx, at(15, 0))  # overlaps the block's own old place (14:00-15:30), not the meeting
    assert not isinstance(made, PickRefusal)
    (change,) = made.changes
    assert change.kind == ChangeKind.MOVE_BLOCK
    assert (change.start, change.end) == (at(15), at(16, 30))


def test_nothing_to_plan_for_a_done_task() -> None:
    ctx = _golden("19_task_done")
    assert pick(ctx, at(16)) == PickRefusal.NOTHING_TO_PLAN
