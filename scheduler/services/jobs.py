"""Jobs: one per task with an urgency threshold; arming, urgency promotion and the due scan."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scheduler.planning.awake import card_time
from scheduler.services.context import user_prefs
from scheduler.services.triggers import dedupe_key
from store import Store, UnitOfWork, new_id
from store.enums import JobReason, JobStatus, TaskStatus, TriggerStatus, TriggerType
from store.models import Job, Task, Trigger, User
from store.repositories.batch import new_row

log = logging.getLogger(__name__)

# A job whose processing raised this many times is parked as failed instead of retried forever.
MAX_ATTEMPTS = 3
# after a failed pipeline run the job fires again this much later (times the attempt number)
FAILURE_PAUSE = timedelta(minutes=5)
HORIZON = timedelta(hours=24)
# Due jobs claimed and settled per transaction.
BATCH = 50
PROMOTION = {2: 1, 4: 3}


def _rearm(job: Job, trigger_at: datetime, now: datetime) -> None:
    job.trigger_at = trigger_at
    job.status = JobStatus.PENDING
    job.trigger_id = None
    job.attempts = 0
    job.last_error = None
    job.reason = None
    job.claimed_by = None
    job.claimed_until = None
    job.updated_at = now


def _settle(job: Job, status: JobStatus, now: datetime, reason: JobReason | None = None) -> None:
    job.status = status
    job.reason = reason
    job.claimed_until = None
    job.updated_at = now


def _cancel_reason(task: Task, gone: bool) -> JobReason:
    if gone:
        return JobReason.TASK_DELETED
    if task.status == TaskStatus.DONE:
        return JobReason.TASK_DONE
    if task.status == TaskStatus.CANCELED:
        return JobReason.TASK_CANCELED
    return JobReason.NO_THRESHOLD


async def sync_job(uow: UnitOfWork, task: Task, now: datetime) -> None:
    """Make the task's job match the task (call after every task write, in the same unit of work).

    Open with a threshold: create the job, or re-arm it (pending at the new time) when the threshold moved
    or the job had been canceled. Done, canceled, deleted or without a threshold: cancel a pending job.
    A job that already fired for the same threshold is left alone, so unrelated edits do not re-fire it."""
    pending, gone = uow.row_state(task)
    # Deleted (flushed or only marked): the database's ON DELETE CASCADE removes the job with the task.
    job = None if pending or gone else await uow.jobs.get_by_task(task.id, for_update=True)
    threshold = task.urgency_threshold_at
    if gone or task.status != TaskStatus.OPEN or threshold is None:
        if job is not None and job.status == JobStatus.PENDING:
            _settle(job, JobStatus.CANCELED, now, _cancel_reason(task, gone))
            log.info("job %s canceled (%s)", job.id, job.reason)
        return
    if job is None:
        uow.jobs.add(
            Job(
                task_id=task.id,
                user_id=task.user_id,
                trigger_at=threshold,
                status=JobStatus.PENDING,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
        )
        return
    if job.trigger_at != threshold or job.status == JobStatus.CANCELED:
        _rearm(job, threshold, now)
        log.info("job %s armed for %s", job.id, threshold.isoformat())


async def retry_after_failure(
    uow: UnitOfWork, task_id: str, trigger_id: str, now: datetime, error: str
) -> None:
    """The pipeline failed on the job's trigger: fire again after a pause (the warning must not be lost to
    a passing failure), and park the job as failed after MAX_ATTEMPTS."""
    job = await uow.jobs.get_by_task(task_id, for_update=True)
    if job is None or job.trigger_id != trigger_id or job.status != JobStatus.TRIGGERED:
        return
    job.attempts += 1
    job.last_error = error
    job.trigger_id = None
    if job.attempts >= MAX_ATTEMPTS:
        _settle(job, JobStatus.FAILED, now)
        log.warning("job %s failed for good after %d attempts", job.id, job.attempts)
        return
    job.status = JobStatus.PENDING
    job.trigger_at = now + FAILURE_PAUSE * job.attempts
    job.claimed_by = None
    job.claimed_until = None
    job.updated_at = now


def promote(task: Task, now: datetime) -> bool:
    """2 -> 1 and 4 -> 3 once the urgency threshold has passed; bumps the task's version."""
    threshold = task.urgency_threshold_at
    if threshold is None or threshold > now or task.quadrant not in PROMOTION:
        return False
    task.quadrant = PROMOTION[task.quadrant]
    task.version += 1
    task.updated_at = now
    return True


async def promote_urgency(uow: UnitOfWork, now: datetime, limit: int = 500) -> int:
    """Promote up to `limit` open tasks whose threshold has passed; the number promoted (caller commits)."""
    # Another worker promoting the same rows skips them rather than waiting on them.
    tasks = await uow.tasks.due_for_promotion(PROMOTION, now, limit, skip_locked=True)
    promoted = sum(promote(t, now) for t in tasks)
    if promoted:
        log.info("promoted %d task(s) to urgent", promoted)
    return promoted


@dataclass(frozen=True)
class Verdict:
    """What the due scan does with one job (first match wins)."""

    status: JobStatus
    reason: JobReason | None = None
    rearm_at: datetime | None = None  # still pending, at this new time
    promote: bool = False  # the task's quadrant is promoted (2 -> 1, 4 -> 3) in the same transaction


def decide(
    task: Task | None, has_block_soon: bool, now: datetime, opens_at: datetime | None = None
) -> Verdict:
    """The due-scan rules for a due job whose task is `task` (None: gone); TRIGGERED means fire.
    `opens_at` is when the user's day window next opens (less quiet hours), when `now` lies outside it: a
    job that would fire then stays pending until that moment, so its card is planned fresh and read."""
    if task is None:
        return Verdict(JobStatus.SKIPPED, JobReason.TASK_MISSING)
    if task.status != TaskStatus.OPEN:
        reason = JobReason.TASK_DONE if task.status == TaskStatus.DONE else JobReason.TASK_CANCELED
        return Verdict(JobStatus.CANCELED, reason)
    threshold = task.urgency_threshold_at
    if threshold is None:
        return Verdict(JobStatus.CANCELED, JobReason.NO_THRESHOLD)
    if threshold > now:
        return Verdict(JobStatus.PENDING, rearm_at=threshold)
    # Promoted now, in this transaction, so the preview's base_version already sees quadrant 1.
    promoted = task.quadrant in PROMOTION
    quadrant = PROMOTION.get(task.quadrant, task.quadrant)
    if quadrant != 1:
        return Verdict(JobStatus.SKIPPED, JobReason.NOT_IMPORTANT, promote=promoted)
    if has_block_soon:
        return Verdict(JobStatus.SKIPPED, JobReason.ALREADY_SCHEDULED, promote=promoted)
    if opens_at is not None and opens_at > now:
        return Verdict(JobStatus.PENDING, rearm_at=opens_at, promote=promoted)
    return Verdict(JobStatus.TRIGGERED, promote=promoted)


def opens_at(user: User | None, now: datetime) -> datetime | None:
    """When a proactive card for `user` may go out, if not at `now`: their day window (narrowed by quiet
    hours) opens then. None: now is fine (or the user's settings cannot say otherwise)."""
    if user is None:
        return None
    try:
        at = card_time(now, user_prefs(user))
    except (ValueError, LookupError):  # an unknown time zone or a malformed window: do not hold it back
        return None
    return at if at > now else None


@dataclass
class _Batch:
    """The writes of one due-scan batch, gathered while deciding and sent as multi-row statements."""

    jobs: dict[str, dict[str, object]] = field(default_factory=dict)
    tasks: dict[str, dict[str, object]] = field(default_factory=dict)
    triggers: list[dict[str, object]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


def _failure(
    job: Job, worker_id: str, now: datetime, lease_seconds: float, exc: Exception
) -> dict[str, object]:
    """A job whose processing raised: count the attempt and keep the lease until it expires (that is the
    retry delay); after MAX_ATTEMPTS it is parked as failed."""
    attempts = job.attempts + 1
    values: dict[str, object] = {
        "attempts": attempts,
        "last_error": f"{type(exc).__name__}: {exc}"[:2000],
        "claimed_by": worker_id,
        "claimed_until": now + timedelta(seconds=lease_seconds),
        "updated_at": now,
    }
    if attempts >= MAX_ATTEMPTS:
        values |= {"status": JobStatus.FAILED, "claimed_until": None}
    return values


async def _scan(
    uow: UnitOfWork, jobs: Sequence[Job], *, now: datetime, worker_id: str, lease_seconds: float
) -> list[str]:
    """Decide and settle a locked batch of due jobs with a few statements (one per table); the ids of the
    triggers created. The caller commits."""
    found = await uow.batch.lock_tasks(j.task_id for j in jobs)
    soon = await uow.batch.tasks_with_block_between(found, now, now + HORIZON)
    users = await uow.batch.users({t.user_id for t in found.values()})
    out = _Batch()
    fire: list[tuple[Job, Task]] = []
    waits: dict[str, datetime | None] = {}  # by user: a user's jobs in the batch share it
    for job in jobs:
        try:
            task = found.get(job.task_id)
            wait = None
            if task is not None:
                if task.user_id not in waits:
                    waits[task.user_id] = opens_at(users.get(task.user_id), now)
                wait = waits[task.user_id]
            verdict = decide(task, job.task_id in soon, now, wait)
            if wait is not None and verdict.rearm_at == wait:
                log.info("job %s deferred to %s (outside the day window)", job.id, wait.isoformat())
            if task is not None and verdict.promote:
                out.tasks[task.id] = {
                    "quadrant": PROMOTION[task.quadrant],
                    "version": task.version + 1,
                    "updated_at": now,
                }
            if verdict.status == JobStatus.TRIGGERED and task is not None:
                fire.append((job, task))
            elif verdict.rearm_at is not None:
                out.jobs[job.id] = _rearmed(verdict.rearm_at, now)
            else:
                out.jobs[job.id] = _settled(verdict.status, verdict.reason, worker_id, now)
        except Exception as exc:  # one bad row must not hold up the batch
            log.exception("job %s failed", job.id)
            out.jobs[job.id] = _failure(job, worker_id, now, lease_seconds, exc)
    keys = {job.id: dedupe_key(task.user_id, TriggerType.WORKER_DUE_JOB, task.id, now) for job, task in fire}
    live = await uow.batch.live_triggers_by_dedupe(keys.values())
    for job, task in fire:
        trigger_id = live.get(keys[job.id])
        if trigger_id is None:
            row = due_trigger(task, keys[job.id], now)
            out.triggers.append(row)
            trigger_id = str(row["id"])
            out.created.append(trigger_id)
        else:
            log.info("trigger %s reused (dedupe hit)", trigger_id)
        out.jobs[job.id] = _settled(JobStatus.TRIGGERED, None, worker_id, now) | {"trigger_id": trigger_id}
    await uow.batch.update_rows(Task, out.tasks)
    await uow.batch.insert_rows(Trigger, out.triggers)
    await uow.batch.update_rows(Job, out.jobs)
    for row in out.triggers:
        log.info("trigger %s created: %s", row["id"], row["type"], extra={"trace_id": row["trace_id"]})
    return out.created


def _settled(status: JobStatus, reason: JobReason | None, worker_id: str, now: datetime) -> dict[str, object]:
    return {
        "status": status,
        "reason": reason,
        "claimed_by": worker_id,
        "claimed_until": None,
        "updated_at": now,
    }


def _rearmed(trigger_at: datetime, now: datetime) -> dict[str, object]:
    return {
        "status": JobStatus.PENDING,
        "reason": None,
        "trigger_at": trigger_at,
        "trigger_id": None,
        "attempts": 0,
        "last_error": None,
        "claimed_by": None,
        "claimed_until": None,
        "updated_at": now,
    }


def due_trigger(task: Task, dedupe: str, now: datetime) -> dict[str, object]:
    """The pending trigger a due job creates (the fields create_trigger sets for worker_due_job)."""
    return new_row(
        Trigger,
        user_id=task.user_id,
        type=TriggerType.WORKER_DUE_JOB,
        task_id=task.id,
        status=TriggerStatus.PENDING,
        dedupe_key=dedupe,
        effective_now=now,
        trace_id=new_id()[:16],
        created_at=now,
        updated_at=now,
    )


async def process_due_jobs(
    store: Store, *, now: datetime, worker_id: str, lease_seconds: float, limit: int = BATCH
) -> list[str]:
    """Claim up to `limit` due pending jobs, decide each and settle them all in one transaction
    (locked with SKIP LOCKED on MySQL, so several workers each process a job once); the ids of the
    triggers created.

    Statements per batch, whatever its size: the locking read of the jobs, one locking read of their
    tasks, one read of "has a block soon", one of live dedupe keys, then one UPDATE of the promoted tasks, one
    multi-row INSERT of the triggers and one UPDATE of the jobs; one commit. If that transaction fails,
    the jobs are retried one per transaction, so a poisoned job fails alone (recorded on the job)."""
    ids: list[str] = []
    try:
        async with store.uow() as uow:
            claimed = await uow.batch.lock_due_jobs(now, limit)
            ids = [job.id for job in claimed]
            made = await _scan(uow, claimed, now=now, worker_id=worker_id, lease_seconds=lease_seconds)
            await uow.commit()
        return made
    except Exception:
        if not ids:
            raise
        log.exception("due batch of %d job(s) failed; retrying them one by one", len(ids))
    created: list[str] = []
    for job_id in ids:
        try:
            async with store.uow() as uow:
                one = await uow.batch.lock_due_jobs(now, 1, [job_id])
                created += await _scan(uow, one, now=now, worker_id=worker_id, lease_seconds=lease_seconds)
                await uow.commit()
        except Exception as exc:
            log.exception("job %s failed", job_id)
            await _record_failure(store, job_id, now, exc, worker_id=worker_id, lease_seconds=lease_seconds)
    return created


async def _record_failure(
    store: Store, job_id: str, now: datetime, exc: Exception, *, worker_id: str, lease_seconds: float
) -> None:
    async with store.uow() as uow:
        # Still due and free: another worker may have taken it meanwhile.
        for job in await uow.batch.lock_due_jobs(now, 1, [job_id]):
            await uow.batch.update_rows(Job, {job.id: _failure(job, worker_id, now, lease_seconds, exc)})
        await uow.commit()
