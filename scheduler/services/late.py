"""When no option meets the deadline: move the deadline, ask again later, or drop the task, from the card.

Each action is scoped by the presser (another user's preview is not_found), runs inside the press's
transaction (scheduler.services.presses: recorded first, so a repeated press does nothing twice), changes
the task and its job, and closes the preview (`ignored`, with what was done kept in its apply record, so the
card says it). A second, different action on the same card is refused: the card already says what was done.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from scheduler.services import previews
from scheduler.services.context import clock
from scheduler.services.errors import ErrorCode
from scheduler.services.jobs import sync_job
from scheduler.services.tasks import URGENT_WITHIN
from store import UnitOfWork
from store.enums import PreviewStatus, TaskStatus
from store.models import Preview, Task, User

log = logging.getLogger(__name__)

STATE = "task_action"  # the apply record's `state` once one of these actions closed the preview
SNOOZE_HOURS = 3
# How far a new deadline may lie (a typo of a year is not a deadline).
MAX_AHEAD = timedelta(days=366)


class TaskAction(StrEnum):
    DEADLINE = "deadline"
    SNOOZE = "snooze"
    DROP = "drop"


class Snooze(StrEnum):
    HOURS = f"{SNOOZE_HOURS}h"  # ask again in a few hours
    TOMORROW = "tomorrow"  # ask again when tomorrow's day window opens


@dataclass(frozen=True)
class TaskActionOutcome:
    """What the press did: `status` acted (or rejected with `code`); `at` is the new deadline or when the
    question comes back; `replayed` marks the same action pressed again."""

    status: Literal["acted", "rejected"]
    code: ErrorCode | None
    preview_id: str
    action: TaskAction
    at: datetime | None = None
    replayed: bool = False


# "2026-12-02 18:00 +0800" (what Feishu's picker sends), "2026-12-02 18:00", ISO 8601 with an offset.
_PICKED = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})(?::\d{2})?(?:\s*([+-]\d{2}:?\d{2}|Z))?")


def read_deadline(raw: str, timezone: str) -> datetime | None:
    """The instant a picked date-time means (its own offset, else the user's zone); None if unreadable."""
    found = _PICKED.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if found is None:
        return None
    day, hm, offset = found.groups()
    try:
        if offset:
            offset = "+00:00" if offset == "Z" else offset
            if ":" not in offset:
                offset = f"{offset[:3]}:{offset[3:]}"
            return datetime.fromisoformat(f"{day}T{hm.zfill(5)}{offset}")
        return datetime.fromisoformat(f"{day}T{hm.zfill(5)}").replace(tzinfo=ZoneInfo(timezone))
    except ValueError:
        return None


def snooze_until(choice: str, user: User, now: datetime) -> datetime | None:
    """When a snoozed question comes back: in a few hours, or when tomorrow's day window opens."""
    if choice == Snooze.HOURS:
        return now + timedelta(hours=SNOOZE_HOURS)
    if choice == Snooze.TOMORROW:
        zone = ZoneInfo(user.timezone)
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        start = clock(user.day_start) or clock("08:00")
        assert start is not None
        return datetime.combine(tomorrow, start, tzinfo=zone)
    return None


def acted(preview: Preview) -> dict[str, Any] | None:
    """The task action recorded on a preview, if one closed it."""
    record = preview.apply_result
    return record if isinstance(record, dict) and record.get("state") == STATE else None


async def task_action_in(  # noqa: PLR0917 - the press's fields
    uow: UnitOfWork,
    preview_id: str,
    operator_open_id: str,
    action: TaskAction,
    value: str,
    now: datetime,
) -> TaskActionOutcome:
    """Do `action` for the presser's preview inside the caller's unit of work (the caller commits)."""

    def rejected(code: ErrorCode) -> TaskActionOutcome:
        return TaskActionOutcome("rejected", code, preview_id, action)

    found = await uow.presses.preview_and_owner(preview_id, lock=True)
    if found is None or found[1].open_id != operator_open_id:
        return rejected(ErrorCode.NOT_FOUND)  # scoped by the acting user
    preview, user = found
    done = acted(preview)
    if done is not None:
        if done.get("action") == action.value and done.get("value") == value:
            at = done.get("at")
            return TaskActionOutcome(
                "acted", None, preview_id, action, datetime.fromisoformat(at) if at else None, replayed=True
            )
        return rejected(ErrorCode.INVALID_STATE)
    if preview.status == PreviewStatus.APPLIED:
        return rejected(ErrorCode.ALREADY_APPLIED)
    if preview.status == PreviewStatus.EXPIRED or now >= preview.expires_at:
        return rejected(ErrorCode.EXPIRED)
    if not previews.can_move(preview, PreviewStatus.IGNORED):
        return rejected(ErrorCode.INVALID_STATE)
    task = await uow.tasks.get_for_update(preview.task_id) if preview.task_id else None
    if task is None or task.user_id != user.id:
        return rejected(ErrorCode.TASK_NOT_FOUND)
    if task.status != TaskStatus.OPEN:
        return rejected(ErrorCode.TARGET_COMPLETED)
    if action is TaskAction.DEADLINE:
        at = read_deadline(value, user.timezone)
        if at is None or at - now > MAX_AHEAD:
            return rejected(ErrorCode.DEADLINE_UNREADABLE)
        if at <= now:
            return rejected(ErrorCode.DEADLINE_PAST)
        _move_deadline(task, at)
    elif action is TaskAction.SNOOZE:
        until = snooze_until(value, user, now)
        if until is None:
            return rejected(ErrorCode.INVALID_STATE)
        at = until
        # The job fires at the task's urgency threshold: asking again later is a later threshold.
        task.urgency_threshold_at = until
    else:
        at = None
        task.status = TaskStatus.CANCELED  # the data model's "dropped": open -> canceled, no reminders
    task.version += 1
    task.updated_at = now
    await sync_job(uow, task, now)
    preview.apply_result = {
        "state": STATE,
        "action": action.value,
        "value": value,
        "at": at.isoformat() if at else None,
        "acted_at": now.isoformat(),
    }
    previews.move(uow, preview, PreviewStatus.IGNORED, now)
    log.info("preview %s: %s", preview_id, action.value, extra={"preview_id": preview_id})
    return TaskActionOutcome("acted", None, preview_id, action, at)


def _move_deadline(task: Task, at: datetime) -> None:
    """A new deadline, and the urgency threshold a day before it as /add sets it: the job is re-armed
    for it (at once when that has passed, so the task is planned again against the new deadline)."""
    task.deadline = at
    task.urgency_threshold_at = at - URGENT_WITHIN
