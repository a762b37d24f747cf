"""Operator queries and actions shared by the admin slash commands and the CLI: counts, jobs, previews,
notifications, and retrying a notification."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from scheduler.services.errors import ErrorCode, ServiceError
from store import UnitOfWork
from store.enums import JobStatus, NotificationStatus
from store.models import Job, Notification, Preview, Task, User

RETRYABLE = frozenset({NotificationStatus.DEAD, NotificationStatus.FAILED, NotificationStatus.DEFERRED})
WAITING = (NotificationStatus.FAILED, NotificationStatus.DEFERRED, NotificationStatus.PENDING)
# The tables an operator watches, counted by status (the inbox by kind).
WATCHED = ("tasks", "jobs", "triggers", "previews", "notifications", "inbox")
# Jobs that will not fire, each with its `reason` (store.enums.JobReason).
CLOSED_JOBS = (JobStatus.SKIPPED, JobStatus.CANCELED)


async def status_counts(uow: UnitOfWork) -> dict[str, dict[str, int]]:
    """Rows by status for every table an operator watches (inbox by kind), plus the user count."""
    out: dict[str, dict[str, int]] = {"users": {"total": await uow.ops.user_count()}}
    out.update(await uow.ops.counts_by_status(WATCHED))
    return out


async def pending_jobs(uow: UnitOfWork, limit: int) -> Sequence[Job]:
    """The next pending jobs, soonest first."""
    return await uow.ops.jobs([JobStatus.PENDING], limit)


async def closed_jobs(uow: UnitOfWork, limit: int) -> Sequence[Job]:
    """Jobs skipped or canceled, latest first; `reason` says why (task done, already scheduled, ...)."""
    return await uow.ops.jobs(CLOSED_JOBS, limit)


async def notifications(uow: UnitOfWork, *, dead: bool, limit: int) -> Sequence[Notification]:
    """Dead notifications, or those still waiting to go out (pending, failed, deferred); latest first."""
    return await uow.ops.notifications([NotificationStatus.DEAD] if dead else WAITING, limit)


@dataclass(frozen=True)
class Names:
    """What an operator reads instead of ids: users (open_id, name, time zone) and task titles by row id."""

    users: dict[str, User]
    tasks: dict[str, Task]


async def names_of(uow: UnitOfWork, user_ids: Sequence[str], task_ids: Sequence[str] = ()) -> Names:
    """The users and tasks with these row ids (two queries, however many rows a listing has)."""
    users = await uow.users.list_by_ids(sorted(set(user_ids)))
    tasks = await uow.tasks.list_by_ids(sorted(set(task_ids))) if task_ids else []
    return Names({u.id: u for u in users}, {t.id: t for t in tasks})


async def recent_previews(uow: UnitOfWork, *, open_id: str | None, limit: int) -> Sequence[Preview]:
    """The latest previews, of one user or of everyone; ServiceError USER_NOT_FOUND for an unknown open_id
    (a typo must not read as "this user has no previews")."""
    user_id = None
    if open_id is not None:
        user = await uow.users.get_by_open_id(open_id)
        if user is None:
            raise ServiceError(ErrorCode.USER_NOT_FOUND, f"no user {open_id}")
        user_id = user.id
    return await uow.previews.recent(user_id, limit=limit)


class RetryResult(StrEnum):
    QUEUED = "queued"
    NOT_FOUND = "not_found"
    BAD_STATE = "bad_state"


@dataclass(frozen=True)
class Retry:
    result: RetryResult
    previous_status: str | None = None


async def retry_notification(uow: UnitOfWork, notification_id: str, now: datetime) -> Retry:
    """Queue a dead, failed or deferred notification for delivery now with a fresh attempt budget (the caller
    commits). Its uuid is its id, so Feishu still drops it if an earlier attempt did get through."""
    row = await uow.notifications.get_for_update(notification_id)
    if row is None:
        return Retry(RetryResult.NOT_FOUND)
    if row.status not in RETRYABLE:
        return Retry(RetryResult.BAD_STATE, row.status)
    previous = row.status
    row.status = NotificationStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = now
    row.claimed_by = None
    row.claimed_until = None
    row.updated_at = now
    return Retry(RetryResult.QUEUED, previous)
