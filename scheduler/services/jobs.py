"""Jobs: one per task with an urgency threshold; arming, urgency promotion and the due scan (SPEC 3.1)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from scheduler.services.triggers import create_trigger
from store import Store, UnitOfWork
from store.enums import JobStatus, TaskStatus, TriggerType
from store.models import Block, Job, Task, User

log = logging.getLogger(__name__)

# A job whose processing raised this many times is parked as failed instead of retried forever.
MAX_ATTEMPTS = 3
# after a failed pipeline run the job fires again this much later (times the attempt number)
FAILURE_PAUSE = timedelta(minutes=5)
HORIZON = timedelta(hours=24)
PROMOTION = {2: 1, 4: 3}


def _rearm(job: Job, trigger_at: datetime, now: datetime) -> None:
    job.trigger_at = trigger_at
    job.status = JobStatus.PENDING
    job.trigger_id = None
    job.attempts = 0
    job.last_error = None
    job.claimed_by = None
    job.claimed_until = None
    job.updated_at = now


def _settle(job: Job, status: JobStatus, now: datetime) -> None:
    job.status = status
    job.claimed_until = None
    job.updated_at = now


async def sync_job(uow: UnitOfWork, task: Task, now: datetime) -> None:
    """Make the task's job match the task (call after every task write, in the same unit of work).

    Open with a threshold: create the job, or re-arm it (pending at the new time) when the threshold moved
    or the job had been canceled. Done, canceled, deleted or without a threshold: cancel a pending job.
    A job that already fired for the same threshold is left alone, so unrelated edits do not re-fire it."""
    state = sa_inspect(task)
    # Deleted (flushed or only marked): the database's ON DELETE CASCADE removes the job with the task.
    gone = state.deleted or state.was_deleted or task in uow.session.deleted
    job = None if state.pending or gone else await uow.jobs.get_by_task(task.id, for_update=True)
    threshold = task.urgency_threshold_at
    if gone or task.status != TaskStatus.OPEN or threshold is None:
        if job is not None and job.status == JobStatus.PENDING:
            _settle(job, JobStatus.CANCELED, now)
            log.info("job %s canceled", job.id)
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
    stmt = (
        select(Task)
        .where(
            Task.status == TaskStatus.OPEN,
            Task.quadrant.in_(list(PROMOTION)),
            Task.urgency_threshold_at <= now,
        )
        .order_by(Task.urgency_threshold_at, Task.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if uow.dialect == "mysql":
        # Another worker promoting the same rows skips them rather than waiting on them.
        stmt = stmt.with_for_update(skip_locked=True)
    tasks = (await uow.session.scalars(stmt)).all()
    promoted = sum(promote(t, now) for t in tasks)
    if promoted:
        log.info("promoted %d task(s) to urgent", promoted)
    return promoted


async def _has_block_soon(uow: UnitOfWork, task_id: str, now: datetime) -> bool:
    stmt = select(Block.id).where(Block.task_id == task_id, Block.end > now, Block.start < now + HORIZON)
    return (await uow.session.execute(stmt.limit(1))).first() is not None


async def _task_and_user(uow: UnitOfWork, task_id: str) -> tuple[Task, User] | None:
    """The job's task (locked: promotion writes it) with its user, in one round trip."""
    stmt = (
        select(Task, User)
        .join(User, User.id == Task.user_id)
        .where(Task.id == task_id)
        .with_for_update(of=Task)
        .execution_options(populate_existing=True)
    )
    row = (await uow.session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])


async def _process(uow: UnitOfWork, job: Job, now: datetime) -> str | None:
    """Apply the rules of SPEC 3.1 to one claimed job, first match wins; the created trigger's id."""
    found = await _task_and_user(uow, job.task_id)
    if found is None:
        _settle(job, JobStatus.SKIPPED, now)
        return None
    task, user = found
    if task.status != TaskStatus.OPEN or task.urgency_threshold_at is None:
        _settle(job, JobStatus.CANCELED, now)
        return None
    if task.urgency_threshold_at > now:
        _rearm(job, task.urgency_threshold_at, now)
        return None
    # Promote now, in this transaction, so the preview's base_version already sees quadrant 1.
    promote(task, now)
    if task.quadrant != 1:
        _settle(job, JobStatus.SKIPPED, now)
        return None
    if await _has_block_soon(uow, task.id, now):
        _settle(job, JobStatus.SKIPPED, now)
        return None
    outcome = await create_trigger(uow, user=user, type=TriggerType.WORKER_DUE_JOB, now=now, task_id=task.id)
    job.trigger_id = outcome.trigger.id
    _settle(job, JobStatus.TRIGGERED, now)
    return outcome.trigger.id if outcome.created else None


async def process_due_jobs(
    store: Store, *, now: datetime, worker_id: str, lease_seconds: float, limit: int = 100
) -> list[str]:
    """Claim due pending jobs with a lease, then settle each in its own short transaction; the ids of
    the triggers created. Several workers may run this at once: each job is processed once."""
    async with store.uow() as uow:
        claimed = [job.id for job in await uow.jobs.claim_due(worker_id, now, lease_seconds, limit)]
        await uow.commit()
    created: list[str] = []
    for job_id in claimed:
        try:
            async with store.uow() as uow:
                job = await uow.jobs.get_for_update(job_id)
                # Still ours and pending: a lease that expired meanwhile may have gone to another worker.
                if job is None or job.status != JobStatus.PENDING or job.claimed_by != worker_id:
                    continue
                trigger_id = await _process(uow, job, now)
                await uow.commit()
        except Exception as exc:
            log.exception("job %s failed", job_id)
            await _record_failure(store, job_id, worker_id, now, exc)
            continue
        if trigger_id is not None:
            created.append(trigger_id)
    return created


async def _record_failure(store: Store, job_id: str, worker_id: str, now: datetime, exc: Exception) -> None:
    async with store.uow() as uow:
        job = await uow.jobs.get_for_update(job_id)
        if job is None or job.status != JobStatus.PENDING or job.claimed_by != worker_id:
            return
        job.attempts += 1
        job.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        # The lease stays until it expires: that is the retry delay.
        if job.attempts >= MAX_ATTEMPTS:
            _settle(job, JobStatus.FAILED, now)
        job.updated_at = now
        await uow.commit()
