"""A start the user picked on a card, turned into a candidate checked the way the planner checks its own:
inside the window and a day window, clear of fixed events (with the buffer after them), Feishu busy time and
the user's other blocks, starting no earlier than now. The schedule's version is checked at apply, as for any
option."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from scheduler.planning.build import Draft, add_block, finish, move_block
from scheduler.planning.clock import to_min
from scheduler.planning.model import Candidate, CandidateType, PlanningContext, Reason
from scheduler.planning.placement import Weights
from scheduler.planning.target import resolve
from scheduler.planning.window import frame


class PickRefusal(StrEnum):
    """Why a picked start cannot be planned."""

    NOTHING_TO_PLAN = "pick_nothing_to_plan"  # the task is done, covered, or the target is gone
    PAST = "pick_past"  # before now
    BEYOND_WINDOW = "pick_beyond_window"  # ends after the planning window (the next 24 hours)
    OUTSIDE_DAY = "pick_outside_day"  # not inside one of the user's day windows
    BUSY = "pick_busy"  # overlaps a fixed event, busy time or another block


def pick(ctx: PlanningContext, start: datetime) -> Candidate | PickRefusal:
    """The candidate that gives the context's target its time from `start`, or why it cannot."""
    f = frame(ctx)
    r = resolve(ctx, f)
    if r.close or r.ask:
        return PickRefusal.NOTHING_TO_PLAN
    s = to_min(start)
    moved = r.block if r.conflict else None  # a conflict moves the block whole; otherwise new time is added
    length = moved.minutes if moved is not None else r.needed
    if length <= 0:
        return PickRefusal.NOTHING_TO_PLAN
    e = s + length
    if s < f.now:
        return PickRefusal.PAST
    if e > f.end:
        return PickRefusal.BEYOND_WINDOW
    if not any(d.start <= s and e <= d.end for d in f.days):
        return PickRefusal.OUTSIDE_DAY
    buffer = max(0, ctx.user.buffer_minutes)
    obstacles = [(a, b + buffer) for a, b, _ in f.fixed]
    obstacles += [(b.start, b.end) for b in f.blocks if moved is None or b.id != moved.id]
    if any(a < e and s < b for a, b in obstacles):
        return PickRefusal.BUSY
    picked = Reason("picked_by_user")
    if moved is not None:
        # as the planner's own conflict options: the block moves whole, off the busy time it overlaps
        clears = Reason("clears_conflict", {"event": r.clash})
        draft = Draft(CandidateType.PLACE_TASK, (move_block(moved, s),), ((s, e),), (picked, clears))
    else:
        ctype = CandidateType.MAKEUP_BLOCK if r.unfinished else CandidateType.PLACE_TASK
        draft = Draft(ctype, (add_block(r, (s, e)),), ((s, e),), (picked,))
    return finish(draft, f, Weights(f), r)
