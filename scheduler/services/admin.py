"""Admin actions from chat (admins only: SMARTFLOW_ADMINS or the admin role), every use audited in the
transaction of the message that asked for it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.services import ops
from scheduler.services.errors import ServiceError
from scheduler.services.inbound import Handled, InboundMessage, Turn, handle
from scheduler.services.tasks import DeadlineUnreadable, TaskRef, TimeReader, Unpicked, pick_task
from scheduler.services.triggers import create_trigger
from scheduler.services.types import TaskView, task_view
from store import Store
from store.enums import TaskStatus, TriggerType
from store.models import Job, Task, User

log = logging.getLogger(__name__)

MAX_AUDITED_ARGS = 20


@dataclass(frozen=True)
class AdminCall:
    """Which admin command (`admin.<sub>`, or `admin` when unreadable) with which words: what is audited."""

    action: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refused:
    """The sender is not an admin: nothing was done (the refusal is audited)."""


@dataclass(frozen=True)
class UserNotFound:
    ref: str


@dataclass(frozen=True)
class Target:
    """The user and task an admin trigger or dry run is about, and the instant to run it as of."""

    open_id: str
    user_name: str
    task: TaskView
    mocked_now: datetime | None


@dataclass(frozen=True)
class TriggerCreated:
    target: Target
    trigger_id: str


@dataclass(frozen=True)
class TriggerExists:
    trigger_id: str
    status: str
    hit: str | None


@dataclass(frozen=True)
class TriggerRefused:
    code: str  # an ErrorCode value


@dataclass(frozen=True)
class JobRow:
    trigger_at: datetime
    title: str
    user: str
    id: str
    status: str
    changed_at: datetime
    reason: str | None = None  # why a job was skipped or canceled (store.enums.JobReason)


@dataclass(frozen=True)
class JobsReport:
    counts: Mapping[str, int]
    pending: tuple[JobRow, ...]  # soonest first
    closed: tuple[JobRow, ...] = ()  # skipped or canceled, latest first, each with its reason


@dataclass(frozen=True)
class NotificationRow:
    id: str
    status: str
    attempts: int
    last_error_code: str | None
    next_attempt_at: datetime


@dataclass(frozen=True)
class TargetRef:
    """How an admin names a trigger's or dry run's target: a user (open_id or exact name), one of their
    open tasks, and optionally the instant to run as of (read in that user's time zone)."""

    user: str
    task: TaskRef
    at: TimeReader | None = None


TargetMiss = UserNotFound | Unpicked | DeadlineUnreadable


def _audit(t: Turn, call: AdminCall, outcome: str, target: str | None = None, **detail: Any) -> None:
    t.uow.audit.log(
        t.message.open_id,
        call.action,
        target=target[:255] if target else None,
        outcome=outcome,
        now=t.now,
        detail={"args": list(call.args[:MAX_AUDITED_ARGS]), **detail},
    )


def _refused(t: Turn, call: AdminCall) -> Refused | None:
    if t.view.is_admin:
        return None
    log.warning("admin command refused", extra={"open_id": t.message.open_id})
    _audit(t, call, "refused")
    return Refused()


async def bad_usage(
    store: Store, message: InboundMessage, call: AdminCall, code: str
) -> Handled[Refused | None] | None:
    """An admin command that could not be read: audited (a non-admin is refused, not told the usage)."""

    async def work(t: Turn) -> Refused | None:
        refused = _refused(t, call)
        if refused is None:
            _audit(t, call, "bad_usage", code=code)
        return refused

    return await handle(store, message, work)


async def _user(t: Turn, ref: str) -> User | None:
    """An open_id or a user's exact name."""
    user = await t.uow.users.get_by_open_id(ref)
    if user is not None:
        return user
    named = [u for u in await t.uow.users.list_all() if u.name == ref]
    return named[0] if len(named) == 1 else None


async def _target(
    t: Turn, call: AdminCall, ref: TargetRef
) -> tuple[User, Task, Target] | TargetMiss | Refused:
    """The named user and task, for an admin (a non-admin is refused and audited first)."""
    refused = _refused(t, call)
    if refused is not None:
        return refused
    user_ref, named, at = ref.user, ref.task, ref.at
    user = await _user(t, user_ref)
    if user is None:
        _audit(t, call, "user_not_found", target=user_ref)
        return UserNotFound(user_ref)
    # only the named user's open tasks: another user's task id names nothing here
    found = pick_task(await t.uow.tasks.for_user(user.id, statuses=(TaskStatus.OPEN,)), named)
    if isinstance(found, Unpicked):
        _audit(t, call, "task_not_found", target=f"{user.open_id}:{named.whole or named.ref}")
        return found
    mocked = None
    if at is not None:
        try:
            mocked = at(t.now, user.timezone)
        except ValueError as exc:
            _audit(t, call, "bad_usage", target=user.open_id, code=str(getattr(exc, "code", "bad_time")))
            return DeadlineUnreadable(exc)
    return user, found, Target(user.open_id, user.name, task_view(found), mocked)


TriggerOutcome = Refused | TargetMiss | TriggerCreated | TriggerExists | TriggerRefused


async def trigger(
    store: Store, message: InboundMessage, call: AdminCall, ref: TargetRef
) -> Handled[TriggerOutcome] | None:
    """An admin trigger for the user's task (run by the caller after the commit), or the live one it
    repeats."""

    async def work(t: Turn) -> TriggerOutcome:
        found = await _target(t, call, ref)
        if not isinstance(found, tuple):
            return found
        user, task, target = found
        where = f"{user.open_id}:{task.id}"
        try:
            outcome = await create_trigger(
                t.uow,
                user=user,
                type=TriggerType.ADMIN_TRIGGER,
                now=t.now,
                task_id=task.id,
                mocked_now=target.mocked_now,
            )
        except ServiceError as exc:
            _audit(t, call, "error", target=where, code=exc.code.value)
            return TriggerRefused(exc.code.value)
        row = outcome.trigger
        _audit(t, call, "ok" if outcome.created else "hit", target=where, trigger_id=row.id)
        if not outcome.created:
            return TriggerExists(row.id, row.status, outcome.hit)
        return TriggerCreated(target, row.id)

    return await handle(store, message, work)


DryRunOutcome = Refused | TargetMiss | Target


async def dry_run_target(
    store: Store, message: InboundMessage, call: AdminCall, ref: TargetRef
) -> Handled[DryRunOutcome] | None:
    """The user and task of a dry run (audited); the caller runs it after the commit (it writes nothing)."""

    async def work(t: Turn) -> DryRunOutcome:
        found = await _target(t, call, ref)
        if not isinstance(found, tuple):
            return found
        user, task, target = found
        _audit(t, call, "ok", target=f"{user.open_id}:{task.id}")
        return target

    return await handle(store, message, work)


async def _job_row(t: Turn, job: Job) -> JobRow:
    task = await t.uow.tasks.get(job.task_id)
    owner = await t.uow.users.get(job.user_id)
    return JobRow(
        job.trigger_at,
        task.title if task is not None else job.task_id,
        owner.name if owner is not None else job.user_id,
        job.id,
        job.status,
        job.updated_at,
        job.reason,
    )


async def jobs(
    store: Store, message: InboundMessage, call: AdminCall, limit: int, closed_limit: int = 5
) -> Handled[Refused | JobsReport] | None:
    """Jobs by status; the next pending ones soonest first with their task and owner; the latest skipped
    or canceled ones with why (task done, already scheduled, not important, ...)."""

    async def work(t: Turn) -> Refused | JobsReport:
        refused = _refused(t, call)
        if refused is not None:
            return refused
        counts = (await ops.status_counts(t.uow))["jobs"]
        pending = [await _job_row(t, job) for job in await ops.pending_jobs(t.uow, limit)]
        closed = [await _job_row(t, job) for job in await ops.closed_jobs(t.uow, closed_limit)]
        _audit(t, call, "ok")
        return JobsReport(counts, tuple(pending), tuple(closed))

    return await handle(store, message, work)


async def notifications(
    store: Store, message: InboundMessage, call: AdminCall, *, dead: bool, limit: int
) -> Handled[Refused | tuple[NotificationRow, ...]] | None:
    """Dead notifications, or those still waiting to go out; latest first."""

    async def work(t: Turn) -> Refused | tuple[NotificationRow, ...]:
        refused = _refused(t, call)
        if refused is not None:
            return refused
        rows = await ops.notifications(t.uow, dead=dead, limit=limit)
        _audit(t, call, "ok", dead=dead)
        return tuple(
            NotificationRow(n.id, n.status, n.attempts, n.last_error_code, n.next_attempt_at) for n in rows
        )

    return await handle(store, message, work)


async def retry(
    store: Store, message: InboundMessage, call: AdminCall, notification_id: str
) -> Handled[Refused | ops.Retry] | None:
    """Queue a dead, failed or deferred notification for delivery now, with a fresh attempt budget."""

    async def work(t: Turn) -> Refused | ops.Retry:
        refused = _refused(t, call)
        if refused is not None:
            return refused
        done = await ops.retry_notification(t.uow, notification_id, t.now)
        if done.result == ops.RetryResult.NOT_FOUND:
            _audit(t, call, "not_found", target=notification_id)
        elif done.result == ops.RetryResult.BAD_STATE:
            _audit(t, call, "bad_state", target=notification_id, status=done.previous_status)
        else:
            _audit(t, call, "ok", target=notification_id, previous=done.previous_status)
        return done

    return await handle(store, message, work)


async def stats(
    store: Store, message: InboundMessage, call: AdminCall
) -> Handled[Refused | dict[str, dict[str, int]]] | None:
    """Rows by status for every table an operator watches, plus the user count."""

    async def work(t: Turn) -> Refused | dict[str, dict[str, int]]:
        refused = _refused(t, call)
        if refused is not None:
            return refused
        counts = await ops.status_counts(t.uow)
        _audit(t, call, "ok")
        return counts

    return await handle(store, message, work)


RetryResult = ops.RetryResult
