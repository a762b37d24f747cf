"""base_version: a hash of everything the candidates of a context depend on."""

from __future__ import annotations

import hashlib

from scheduler.planning.clock import local_date
from scheduler.planning.model import PlanningContext
from scheduler.planning.target import effective_quadrant
from scheduler.planning.window import frame


def base_version(ctx: PlanningContext) -> str:
    """Fixed event occurrences and blocks overlapping the window (±1 day for repairs), the target task's
    state, the day extensions of the window's dates and the preferences. `now` itself is not part of it;
    services recompute it at apply time from a context built with the preview's `now`."""
    f = frame(ctx)
    lo, hi = f.start - 1440, f.end + 1440
    parts: list[str] = ["v1", repr(ctx.user), repr(ctx.target), str(ctx.horizon_hours)]
    parts += [f"F{ev.id}:{s}:{e}" for s, e, ev in f.fixed if s < hi and e > lo]
    block_tasks = set()
    for b in sorted(ctx.blocks, key=lambda b: b.id):
        if b.start.timestamp() < hi * 60 and b.end.timestamp() > lo * 60:
            block_tasks.add(b.task_id)
            parts.append(
                f"B{b.id}:{b.task_id}:{b.start.timestamp():.0f}:{b.end.timestamp():.0f}:{b.locked}:{b.makeup_for}"
            )
    wanted = block_tasks | {ctx.target.task_id}
    for t in sorted(ctx.tasks, key=lambda t: t.id):
        if t.id in wanted:
            dl = t.deadline.timestamp() if t.deadline else None
            th = t.urgency_threshold_at.timestamp() if t.urgency_threshold_at else None
            # the quadrant as of `now`: the background promotion of a passed threshold changes nothing
            quadrant = effective_quadrant(t, ctx.now)
            parts.append(f"T{t.id}:{t.status}:{t.estimate_minutes}:{quadrant}:{dl}:{th}")
    dates = {local_date(f.start, f.tz), local_date(f.end, f.tz)}
    first = min(dates)
    parts += [
        f"X{x.day}:{x.day_end}" for x in sorted(ctx.day_extensions, key=lambda x: x.day) if x.day >= first
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
