"""Store rows -> planning inputs: the mappers, the 24-hour context of a user, and a trigger's target."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.planning import model as pm
from scheduler.services.calendar import as_fixed_events
from scheduler.services.feedback import resolve_unfinished, started_blocks
from scheduler.services.learning import preferred_hours
from scheduler.services.movecap import moved_today
from store import UnitOfWork
from store.enums import TriggerType
from store.models import Block, BusyTime, Trigger, User
from store.repositories.batch import BlockFacts, EventFacts, ExtensionFacts, TaskFacts

__all__ = [
    "block",
    "build_context",
    "clock",
    "context_for_trigger",
    "extension_days",
    "fixed_event",
    "load_context",
    "outside_target_blocks",
    "target_block_ids",
    "target_for_trigger",
    "task_info",
    "user_prefs",
    "window",
]


def clock(value: str | None) -> time | None:
    """ "HH:MM" -> time; "24:00" is midnight at the end of the day (time(0, 0))."""
    if value is None:
        return None
    h, m = (int(p) for p in value.split(":"))
    return time(0, 0) if h == 24 else time(h, m)


def user_prefs(user: User, grid_minutes: int = 15) -> pm.UserPrefs:
    return pm.UserPrefs(
        timezone=user.timezone,
        locale=user.locale,
        day_start=clock(user.day_start) or time(8, 0),
        day_end=clock(user.day_end) or time(22, 30),
        quiet_start=clock(user.quiet_start),
        quiet_end=clock(user.quiet_end),
        grid_minutes=grid_minutes,
        buffer_minutes=user.buffer_minutes,
        max_moves_per_day=user.max_moves_per_day,
        max_planned_minutes_per_day=user.max_planned_minutes,
        max_extension_minutes=user.max_extension_minutes,
        late_work=user.late_work,
        overrun_factor=user.overrun_factor if user.learn_overrun else 1.0,
        preferred=preferred_hours(user.accepted_hours) if user.learn_overrun else (),
    )


def task_info(t: TaskFacts) -> pm.TaskInfo:
    return pm.TaskInfo(
        id=t.id,
        title=t.title,
        quadrant=t.quadrant,
        estimate_minutes=t.estimate_minutes,
        deadline=t.deadline,
        urgency_threshold_at=t.urgency_threshold_at,
        status=pm.TaskStatus(t.status),
        key=t.key,
    )


def fixed_event(e: EventFacts) -> pm.FixedEvent:
    return pm.FixedEvent(
        id=e.id,
        title=e.title,
        start=e.start,
        end=e.end,
        weekday=e.weekday,
        local_start=clock(e.local_start),
        local_end=clock(e.local_end),
        valid_from=e.valid_from,
        valid_until=e.valid_until,
    )


def block(b: BlockFacts) -> pm.Block:
    return pm.Block(
        id=b.id,
        task_id=b.task_id,
        start=b.start,
        end=b.end,
        source=pm.BlockSource(b.source),
        locked=b.locked,
        makeup_for=b.makeup_for,
    )


def window(now: datetime, horizon_hours: int = 24) -> tuple[datetime, datetime]:
    """The blocks a context reads: from a day before the planning window to a day after it."""
    # in UTC: adding hours to a local time is wall-clock arithmetic (25 real hours across a DST change)
    utc_now = now.astimezone(UTC)
    return utc_now - timedelta(hours=24), utc_now + timedelta(hours=horizon_hours + 24)


def extension_days(user: User, now: datetime) -> tuple[date, date]:
    """The local days whose day extensions a context reads (raises on an unknown time zone)."""
    local_today = now.astimezone(ZoneInfo(user.timezone)).date()
    return local_today - timedelta(days=1), local_today + timedelta(days=2)


def build_context(  # noqa: PLR0917 - mirrors PlanningContext
    user: User,
    now: datetime,
    target: pm.Target,
    blocks: Iterable[BlockFacts],
    tasks: Iterable[TaskFacts],
    events: Iterable[EventFacts],
    extensions: Iterable[ExtensionFacts],
    grid_minutes: int = 15,
    horizon_hours: int = 24,
    busy: Iterable[BusyTime] = (),
    moved_today: int = 0,
) -> pm.PlanningContext:
    """The planning context from rows that may cover more (a whole batch of users): keeps the user's
    blocks in the window (in the order given: by start), their tasks and the target task (by id), the
    user's fixed events (in the order given) followed by their Feishu busy time in the window (as untitled
    one-off events), and the day extensions around `now`."""
    lo, hi = window(now, horizon_hours)
    first, last = extension_days(user, now)
    named = target_block_ids(target)
    # The reported block counts wherever it lies (a report about a block from days ago is still answered).
    mine = [b for b in blocks if b.user_id == user.id and ((b.start < hi and b.end > lo) or b.id in named)]
    task_ids = {b.task_id for b in mine}
    if target.task_id is not None:
        task_ids.add(target.task_id)
    wanted = sorted((t for t in tasks if t.id in task_ids), key=lambda t: t.id)
    return pm.PlanningContext(
        now=now,
        user=user_prefs(user, grid_minutes),
        target=target,
        tasks=tuple(task_info(t) for t in wanted),
        fixed_events=tuple(fixed_event(e) for e in events if e.user_id == user.id)
        + as_fixed_events(
            [b for b in busy if b.user_id == user.id and b.start < hi and b.end > lo], user.locale
        ),
        blocks=tuple(block(b) for b in mine),
        day_extensions=tuple(
            pm.DayExtension(day=x.day, day_end=clock(x.day_end) or time(0, 0))
            for x in extensions
            if x.user_id == user.id and first <= x.day <= last
        ),
        horizon_hours=horizon_hours,
        moved_today=moved_today,
    )


def target_block_ids(target: pm.Target) -> set[str]:
    """The blocks a feedback target names (the block, or the ones to choose between)."""
    named = set(target.choices)
    if target.block_id is not None:
        named.add(target.block_id)
    return named


async def outside_target_blocks(
    uow: UnitOfWork, user_id: str, target: pm.Target, loaded: Iterable[BlockFacts]
) -> list[Block]:
    """The user's blocks the target names that `loaded` lacks (an older block a report names): one read
    per such block, none in the usual case."""
    named = target_block_ids(target)
    if not named:  # the usual case (a task target): no set of the loaded ids to build
        return []
    have = {b.id for b in loaded}
    found = []
    for block_id in sorted(named - have):
        row = await uow.blocks.get(block_id)
        if row is not None and row.user_id == user_id:
            found.append(row)
    return found


async def load_context(  # noqa: PLR0917 - mirrors PlanningContext
    uow: UnitOfWork,
    user: User,
    now: datetime,
    target: pm.Target,
    grid_minutes: int = 15,
    horizon_hours: int = 24,
) -> pm.PlanningContext:
    """The planning context of `user` at `now`: every fixed event and the copy of their Feishu busy time,
    the blocks from a day before the window to a day after it (with their tasks and the target task), and
    the day extensions around it."""
    lo, hi = window(now, horizon_hours)
    first, last = extension_days(user, now)
    blocks = [*await uow.blocks.overlapping(user.id, lo, hi)]
    blocks += await outside_target_blocks(uow, user.id, target, blocks)
    task_ids = {b.task_id for b in blocks}
    if target.task_id is not None:
        task_ids.add(target.task_id)
    tasks = await uow.tasks.list_by_ids(task_ids)
    events = await uow.events.for_user(user.id)
    extensions = await uow.day_extensions.between(user.id, first, last)
    busy = await uow.calendar.busy([user.id], lo, hi)
    moved = 0
    if target.kind == pm.TargetKind.UNFINISHED:  # only a report's strategies move blocks
        moved = (await moved_today(uow, [user], now)).get(user.id, 0)
    return build_context(
        user, now, target, blocks, tasks, events, extensions, grid_minutes, horizon_hours, busy, moved
    )


async def target_for_trigger(uow: UnitOfWork, user: User, trigger: Trigger) -> pm.Target:
    """What the trigger asks about, at its effective now: a task (due job, admin, dry run) or an
    unfinished block (feedback), resolving an unnamed block the same way the bot does."""
    if trigger.type == TriggerType.CALENDAR_CONFLICT:
        # the block busy time now overlaps: move it (or nothing, when the overlap is gone by now)
        return pm.Target(pm.TargetKind.CONFLICT, task_id=trigger.task_id, block_id=trigger.block_id)
    if trigger.type != TriggerType.USER_FEEDBACK:
        return pm.Target(kind=pm.TargetKind.TASK, task_id=trigger.task_id)
    if trigger.block_id is None and trigger.task_id is None and trigger.choices:
        # the report named several tasks: ask which of their blocks it meant
        return pm.Target(
            pm.TargetKind.UNFINISHED,
            remaining_minutes=trigger.remaining_minutes,
            choices=tuple(str(c) for c in trigger.choices),
        )
    return await unfinished_target(
        uow, user, trigger.effective_now, trigger.block_id, trigger.task_id, trigger.remaining_minutes
    )


async def unfinished_target(  # noqa: PLR0917 - the fields of a feedback trigger
    uow: UnitOfWork,
    user: User,
    now: datetime,
    block_id: str | None,
    task_id: str | None,
    remaining_minutes: int | None,
) -> pm.Target:
    """An UNFINISHED target: the given block; else the task's latest started block (none when no block
    has begun: a block ahead cannot be unfinished); else the blocks the bot would offer for "the one just
    now" (scheduler.services.feedback)."""
    if block_id is not None:
        return pm.Target(pm.TargetKind.UNFINISHED, block_id=block_id, remaining_minutes=remaining_minutes)
    if task_id is not None:
        started = started_blocks(await uow.blocks.for_task(task_id), now)
        chosen = started[0] if started else None
        return pm.Target(
            pm.TargetKind.UNFINISHED,
            task_id=task_id,
            block_id=chosen.id if chosen else None,
            remaining_minutes=remaining_minutes,
        )
    return await resolve_unfinished(uow, user, now, None, remaining_minutes)


async def context_for_trigger(
    uow: UnitOfWork, user: User, trigger: Trigger, grid_minutes: int = 15, horizon_hours: int = 24
) -> pm.PlanningContext:
    """The context the pipeline plans a trigger with (at trigger.effective_now). Apply recomputes the
    preview's base_version from this same call, so the two cannot drift apart."""
    target = await target_for_trigger(uow, user, trigger)
    return await load_context(uow, user, trigger.effective_now, target, grid_minutes, horizon_hours)
