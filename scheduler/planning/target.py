"""Resolve the target: which task needs how many minutes by when, or why there is nothing to plan."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

from scheduler.planning.clock import to_min
from scheduler.planning.coverage import coverage
from scheduler.planning.model import PlanningContext, TargetKind, TaskInfo, TaskStatus
from scheduler.planning.window import BlockM, Frame


@dataclass(frozen=True)
class Resolved:
    task_id: str | None
    title: str
    task: TaskInfo | None
    block: BlockM | None  # the unfinished block
    needed: int
    deadline: int | None  # epoch minutes
    quadrant: int | None
    close: str | None = None  # issue code: nothing to do
    ask: str | None = None  # issue code: information is missing
    options: tuple[str, ...] = ()  # ask_user choices (block ids)
    done: bool = False
    scheduled: bool = False
    planned: int = 0  # minutes of the task already planned before its deadline (needed is the rest)
    conflict: bool = False  # `block` overlaps busy time and is to be moved (not made up)
    clash: str = ""  # conflict: the title of the busy time it overlaps
    estimated: int = 0  # task targets: the remaining estimate before the overrun factor scaled it to `needed`
    overrun: float = 1.0  # the factor `needed` was scaled by (1.0: not scaled)

    @property
    def unfinished(self) -> bool:
        return self.block is not None and not self.conflict


def effective_quadrant(task: TaskInfo, now: datetime) -> int:
    """Quadrant after promotion: once the urgency threshold passes, 2 -> 1 and 4 -> 3."""
    if task.urgency_threshold_at is not None and task.urgency_threshold_at <= now and task.quadrant in (2, 4):
        return task.quadrant - 1
    return task.quadrant


def _unresolved(code: str, options: tuple[str, ...] = ()) -> Resolved:
    return Resolved(None, "", None, None, 0, None, None, ask=code, options=options)


def _conflict(ctx: PlanningContext, f: Frame) -> Resolved:
    """A planned block that now overlaps busy time: move it whole, unless it has begun, is locked, or no
    longer overlaps anything (then nothing to do)."""
    block = next((b for b in f.blocks if b.id == ctx.target.block_id), None)
    if block is None:
        return Resolved(None, "", None, None, 0, None, None, close="target_missing")
    task = f.tasks.get(block.task_id)
    deadline = to_min(task.deadline) if task and task.deadline else None
    quadrant = effective_quadrant(task, ctx.now) if task else None
    base = Resolved(block.task_id, block.title, task, block, block.minutes, deadline, quadrant, conflict=True)
    if task is not None and task.status != TaskStatus.OPEN:
        return replace(base, close="target_completed", done=True)
    clashes = [ev.title for s, e, ev in f.fixed if s < block.end and block.start < e]
    if block.past or block.locked or not clashes:
        return replace(base, close="conflict_resolved")
    return replace(base, clash=clashes[0])


def resolve(ctx: PlanningContext, f: Frame) -> Resolved:
    target = ctx.target
    block: BlockM | None = None
    if target.kind == TargetKind.CONFLICT:
        return _conflict(ctx, f)
    if target.kind == TargetKind.UNFINISHED:
        block_id = target.block_id
        if block_id is None:
            if len(target.choices) == 1:
                block_id = target.choices[0]
            else:
                return _unresolved("feedback_target_unknown", tuple(target.choices))
        block = next((b for b in f.blocks if b.id == block_id), None)
        if block is None:
            return _unresolved("feedback_target_unknown")
        task_id: str | None = block.task_id
    else:
        task_id = target.task_id
    task = f.tasks.get(task_id) if task_id else None
    if task is None and block is None:
        return Resolved(task_id, task_id or "", None, None, 0, None, None, close="target_missing")
    title = task.title if task else (block.title if block else "")
    deadline = to_min(task.deadline) if task and task.deadline else None
    quadrant = effective_quadrant(task, ctx.now) if task else None
    base = Resolved(task_id, title, task, block, 0, deadline, quadrant)
    if task is not None and task.status != TaskStatus.OPEN:
        return replace(base, close="target_completed", done=True)
    if block is not None:
        needed = target.remaining_minutes if target.remaining_minutes is not None else block.minutes
        if needed <= 0:
            return replace(base, close="nothing_remaining")
        made_up = any(b.makeup_for == block.id and b.end > f.now for b in f.blocks)
        if made_up:
            return replace(base, close="target_already_scheduled", needed=needed, scheduled=True)
        return replace(base, needed=needed)
    assert task is not None
    # time already planned before the deadline counts wherever it lies (the caller may load blocks
    # beyond the window): covered means nothing to do, partly covered means plan the rest
    cov = coverage(task, ctx.blocks, ctx.now)
    if cov.covered:
        return replace(base, close="target_already_scheduled", needed=task.estimate_minutes, scheduled=True)
    factor = min(MAX_OVERRUN, max(1.0, ctx.user.overrun_factor))
    needed = scaled(cov.remaining_minutes, factor)
    return replace(
        base,
        needed=needed,
        planned=cov.planned_minutes,
        estimated=cov.remaining_minutes,
        overrun=factor if needed > cov.remaining_minutes else 1.0,
    )


MAX_OVERRUN = 2.0
OVERRUN_STEP = 5  # scaled minutes are rounded up to this


def scaled(minutes: int, factor: float) -> int:
    """`minutes` times the user's overrun factor, rounded up to 5 minutes (unchanged at 1.0)."""
    if factor <= 1.0 or minutes <= 0:
        return minutes
    raw = math.ceil(round(minutes * factor, 6))
    return max(minutes, -(-raw // OVERRUN_STEP) * OVERRUN_STEP)
