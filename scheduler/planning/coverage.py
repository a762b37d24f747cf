"""How much of a task's remaining estimate is already planned before its deadline, at any horizon."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from scheduler.planning.clock import to_min
from scheduler.planning.model import Block, TaskInfo
from scheduler.planning.window import merge


@dataclass(frozen=True)
class Coverage:
    needed_minutes: int  # the remaining estimate
    planned_minutes: int  # the task's blocks from now until the deadline (overlaps counted once)

    @property
    def remaining_minutes(self) -> int:
        return max(0, self.needed_minutes - self.planned_minutes)

    @property
    def covered(self) -> bool:
        return self.remaining_minutes == 0

    @property
    def partly(self) -> bool:
        return self.planned_minutes > 0 and not self.covered


def coverage(
    task: TaskInfo, blocks: Iterable[Block], now: datetime, needed_minutes: int | None = None
) -> Coverage:
    """The time planned for `task` in its blocks from `now` until its deadline (without one: all of
    the future), however far ahead, against `needed_minutes` (default: the task's estimate). A block
    already running counts from `now`; a block or the part of one after the deadline does not count,
    since it cannot help meet it; make-up blocks count like any other block of the task."""
    lo = to_min(now, ceil=True)
    hi = to_min(task.deadline) if task.deadline is not None else None
    spans = []
    for b in blocks:
        if b.task_id != task.id:
            continue
        s, e = max(to_min(b.start), lo), to_min(b.end, ceil=True)
        if hi is not None:
            e = min(e, hi)
        if s < e:
            spans.append((s, e))
    planned = sum(e - s for s, e in merge(spans))
    need = task.estimate_minutes if needed_minutes is None else needed_minutes
    return Coverage(max(0, need), planned)
