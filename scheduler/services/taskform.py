"""A task edited in its form (the Edit button on a task's card): the same form as capture, prefilled with
the task as it is now; Save writes every field at once. Scoped by the acting user: another user's task id
is not found, whoever presses. Like /edit, a change re-arms the task's job and moves the schedule version
on, so a card planned on the old task is refused on Apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduler.services.inbound import Handled, InboundMessage, Turn, handle
from scheduler.services.jobs import sync_job
from scheduler.services.tasks import (
    URGENT_WITHIN,
    DeadlinePast,
    DeadlineUnreadable,
    TaskChanged,
    TimeReader,
)
from scheduler.services.types import Store, TaskStatus, TaskView, task_view


@dataclass(frozen=True)
class TaskGone:
    """No open task of the user's has that id (another user's, done, dropped, or never)."""

    task_id: str


SaveOutcome = TaskChanged | TaskGone | DeadlinePast | DeadlineUnreadable


@dataclass(frozen=True)
class FormTask:
    """An open task to show in its form, with its owner's time zone and language."""

    task: TaskView
    timezone: str
    locale: str


async def task_for_form(store: Store, open_id: str, task_id: str) -> FormTask | None:
    """The user's open task `task_id` as it is now, or None (someone else's, closed, unknown)."""
    async with store.uow(readonly=True) as uow:
        user = await uow.users.get_by_open_id(open_id)
        task = await uow.tasks.get(task_id)
        if user is None or task is None or task.user_id != user.id or task.status != TaskStatus.OPEN:
            return None
        return FormTask(task_view(task), user.timezone, user.locale)


async def save_form(
    store: Store,
    message: InboundMessage,
    task_id: str,
    *,
    title: str,
    minutes: int,
    deadline: TimeReader | None,
    important: bool,
) -> Handled[SaveOutcome] | None:
    """Write the form's fields to the sender's open task `task_id` (no deadline: none). None when this
    submit was handled before (Feishu's redelivery)."""

    async def work(t: Turn) -> SaveOutcome:
        task = await t.uow.tasks.get(task_id)
        if task is None or task.user_id != t.user.id or task.status != TaskStatus.OPEN:
            return TaskGone(task_id)
        due: datetime | None = None
        if deadline is not None:
            try:
                due = deadline(t.now, t.user.timezone)
            except ValueError as exc:
                return DeadlineUnreadable(exc)
            if due <= t.now:
                return DeadlinePast(due)
        task.title = title
        task.estimate_minutes = minutes
        task.deadline = due
        task.urgency_threshold_at = due - URGENT_WITHIN if due is not None else None
        urgent = task.quadrant in (1, 3)
        task.quadrant = (1 if urgent else 2) if important else (3 if urgent else 4)
        task.version += 1
        task.updated_at = t.now
        t.user.schedule_version += 1
        t.user.updated_at = t.now
        await sync_job(t.uow, task, t.now)
        return TaskChanged(task_view(task))

    return await handle(store, message, work)
