"""A user's tasks from chat: add one, mark one done, reopen one, list the open ones (scoped by the sender)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from scheduler.services import tasksync
from scheduler.services.inbound import Handled, InboundMessage, Turn, handle
from scheduler.services.jobs import sync_job
from scheduler.services.taskref import MatchKind, match_task_ref
from scheduler.services.types import TaskView, task_view
from store import Store
from store.enums import TaskStatus
from store.models import Task

URGENT_WITHIN = timedelta(hours=24)  # a task with a deadline becomes urgent a day before it

# (now, the user's time zone) -> the instant; raises ValueError (bot.parse.ParseError) when unreadable
TimeReader = Callable[[datetime, str], datetime]


@dataclass(frozen=True)
class TaskRef:
    """How a message names a task: a reference, an optional `#n` among several, and the whole text when
    it had a `#n` (a title may contain one: "Review PR #482")."""

    ref: str
    pick: int | None = None
    whole: str | None = None


class Miss(StrEnum):
    NOT_FOUND = "not_found"
    TOO_SHORT = "too_short"  # a fragment too small to name a task
    SEVERAL = "several"  # pick one (a numbered list)
    OUT_OF_RANGE = "out_of_range"  # `#n` beyond the matches


@dataclass(frozen=True)
class Unpicked:
    """No single task: why, and the candidates (in the order a `#n` counts them) when there are several."""

    why: Miss
    ref: str
    tasks: tuple[TaskView, ...] = ()
    pick: int | None = None


@dataclass(frozen=True)
class TaskAdded:
    task: TaskView


@dataclass(frozen=True)
class DeadlinePast:
    deadline: datetime


@dataclass(frozen=True)
class DeadlineUnreadable:
    error: ValueError


@dataclass(frozen=True)
class TaskChanged:
    task: TaskView


@dataclass(frozen=True)
class DuplicateTitle:
    """An open task already has this title: nothing added (the user may edit it, or add another)."""

    task: TaskView


AddOutcome = TaskAdded | DeadlinePast | DeadlineUnreadable | DuplicateTitle
ChangeOutcome = TaskChanged | Unpicked


def open_order(tasks: Sequence[Task]) -> list[Task]:
    """The order /tasks lists them in, so "#2" means the same task in both replies."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(tasks, key=lambda x: (x.deadline or far, x.quadrant, x.created_at, x.id))


def done_order(tasks: Sequence[Task]) -> list[Task]:
    """The most recently completed first: an accidental /done is undone right away."""
    return sorted(tasks, key=lambda x: (x.updated_at, x.created_at, x.id), reverse=True)


def pick_task(
    tasks: Sequence[Task], named: TaskRef, order: Callable[[Sequence[Task]], list[Task]] = open_order
) -> Task | Unpicked:
    """The one task `named` means among `tasks`, or why not (nothing, too short, several)."""
    ref, pick = named.ref, named.pick
    if named.whole is not None and match_task_ref(tasks, named.whole).tasks:
        ref, pick = named.whole, None  # a title with "#482" in it ("PR #482" of "Review PR #482")
    match = match_task_ref(tasks, ref)
    found = order(match.tasks)
    if not found:
        why = Miss.TOO_SHORT if match.kind == MatchKind.TOO_SHORT else Miss.NOT_FOUND
        return Unpicked(why, ref)
    views = tuple(task_view(x) for x in found)
    if pick is not None:
        if 1 <= pick <= len(found):
            return found[pick - 1]
        return Unpicked(Miss.OUT_OF_RANGE, ref, views, pick)
    if len(found) == 1:
        return found[0]
    return Unpicked(Miss.SEVERAL, ref, views)


async def add_task(
    store: Store,
    message: InboundMessage,
    *,
    title: str,
    minutes: int,
    important: bool = False,
    deadline: TimeReader | None = None,
    again: bool = False,
) -> Handled[AddOutcome] | None:
    """A new open task of the sender; with a deadline it gets an urgency threshold (a day before) and a
    job. A deadline that has passed is refused; a title an open task already has is not added twice
    unless `again`. None: the message was already handled."""

    async def work(t: Turn) -> AddOutcome:
        if not again:
            same = list(await t.uow.tasks.for_user(t.user.id, statuses=(TaskStatus.OPEN,)))
            twin = next((x for x in open_order(same) if _same_title(x.title, title)), None)
            if twin is not None:
                return DuplicateTitle(task_view(twin))
        due = _deadline(t, deadline)
        if isinstance(due, DeadlinePast | DeadlineUnreadable):
            return due
        task = Task(
            user_id=t.user.id,
            title=title,
            quadrant=2 if important else 4,
            estimate_minutes=minutes,
            deadline=due,
            urgency_threshold_at=due - URGENT_WITHIN if due else None,
            status=TaskStatus.OPEN,
            version=1,
            created_at=t.now,
            updated_at=t.now,
        )
        t.uow.tasks.add(task)
        await sync_job(t.uow, task, t.now)
        return TaskAdded(task_view(task))

    return await handle(store, message, work)


async def _change_status(
    t: Turn, named: TaskRef, old: TaskStatus | tuple[TaskStatus, ...], new: TaskStatus
) -> ChangeOutcome:
    olds = old if isinstance(old, tuple) else (old,)
    tasks = await t.uow.tasks.for_user(t.user.id, statuses=olds)
    found = pick_task(tasks, named, open_order if olds == (TaskStatus.OPEN,) else done_order)
    if isinstance(found, Unpicked):
        return found
    found.status = new
    found.version += 1
    found.updated_at = t.now
    await sync_job(t.uow, found, t.now)
    await tasksync.queue_complete(t.uow, found, t.now)  # a synced task done here is completed in Feishu
    return TaskChanged(task_view(found))


EditOutcome = TaskChanged | Unpicked | DeadlinePast | DeadlineUnreadable


async def edit_task(
    store: Store,
    message: InboundMessage,
    named: TaskRef,
    *,
    minutes: int | None = None,
    deadline: TimeReader | None = None,
    clear_deadline: bool = False,
    important: bool | None = None,
) -> Handled[EditOutcome] | None:
    """Change the given fields of the sender's open task `named` (the rest stay): its urgency threshold
    follows the deadline, its job is re-armed, and the schedule version moves on (a card planned on the
    old task is refused on Apply). A deadline that has passed is refused and nothing changes."""

    async def work(t: Turn) -> EditOutcome:
        tasks = await t.uow.tasks.for_user(t.user.id, statuses=(TaskStatus.OPEN,))
        found = pick_task(tasks, named)
        if isinstance(found, Unpicked):
            return found
        due = _deadline(t, deadline)
        if isinstance(due, DeadlinePast | DeadlineUnreadable):
            return due
        if due is not None:
            found.deadline, found.urgency_threshold_at = due, due - URGENT_WITHIN
        elif clear_deadline:
            found.deadline = found.urgency_threshold_at = None
        if minutes is not None:
            found.estimate_minutes = minutes
        if important is not None:
            urgent = found.quadrant in (1, 3)
            found.quadrant = (1 if urgent else 2) if important else (3 if urgent else 4)
        found.version += 1
        found.updated_at = t.now
        t.user.schedule_version += 1
        t.user.updated_at = t.now
        await sync_job(t.uow, found, t.now)
        return TaskChanged(task_view(found))

    return await handle(store, message, work)


def _deadline(t: Turn, deadline: TimeReader | None) -> datetime | DeadlinePast | DeadlineUnreadable | None:
    """The deadline read in the sender's time zone: None without one; refused when unreadable or past."""
    if deadline is None:
        return None
    try:
        due = deadline(t.now, t.user.timezone)
    except ValueError as exc:
        return DeadlineUnreadable(exc)
    return DeadlinePast(due) if due <= t.now else due


def _same_title(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


async def drop_task(store: Store, message: InboundMessage, named: TaskRef) -> Handled[ChangeOutcome] | None:
    """The sender gives up their open task `named`: canceled, its pending job canceled (a card still out
    for it is refused on Apply as done)."""

    async def work(t: Turn) -> ChangeOutcome:
        return await _change_status(t, named, TaskStatus.OPEN, TaskStatus.CANCELED)

    return await handle(store, message, work)


async def mark_done(store: Store, message: InboundMessage, named: TaskRef) -> Handled[ChangeOutcome] | None:
    """The sender's open task `named` is done; its pending job is canceled."""

    async def work(t: Turn) -> ChangeOutcome:
        return await _change_status(t, named, TaskStatus.OPEN, TaskStatus.DONE)

    return await handle(store, message, work)


async def reopen_task(store: Store, message: InboundMessage, named: TaskRef) -> Handled[ChangeOutcome] | None:
    """The sender's done (or dropped) task `named` is open again; its job is re-armed like any task edit."""

    async def work(t: Turn) -> ChangeOutcome:
        return await _change_status(t, named, (TaskStatus.DONE, TaskStatus.CANCELED), TaskStatus.OPEN)

    return await handle(store, message, work)


async def open_tasks(store: Store, message: InboundMessage) -> Handled[tuple[TaskView, ...]] | None:
    """The sender's open tasks, soonest deadline first (the order a `#n` counts them in)."""

    async def work(t: Turn) -> tuple[TaskView, ...]:
        tasks = await t.uow.tasks.for_user(t.user.id, statuses=(TaskStatus.OPEN,))
        return tuple(task_view(x) for x in open_order(tasks))

    return await handle(store, message, work)
