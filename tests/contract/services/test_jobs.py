"""Jobs: sync_job arming and canceling, urgency promotion, and the due scan rules of SPEC 3.1."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta

import pymysql
import pytest
from sqlalchemy.engine import make_url

from scheduler.services.jobs import process_due_jobs, promote_urgency, sync_job
from store import Store
from store.enums import JobReason, JobStatus, TaskStatus, TriggerStatus, TriggerType
from store.models import Job, Task, Trigger
from tests.contract import factories as f
from tests.contract.services.builders import Seeded, add_block, at, rows, seed

LEASE = 60.0


async def set_task(store: Store, task_id: str, now: datetime, *, sync: bool = True, **cols: object) -> None:
    """Write task columns (as a chat command or an import would) and, unless told not to, sync its job."""
    async with store.uow() as uow:
        task = await uow.tasks.get(task_id)
        assert task is not None
        for name, value in cols.items():
            setattr(task, name, value)
        task.updated_at = now
        if sync:
            await sync_job(uow, task, now)
        await uow.commit()


async def job_of(store: Store, task_id: str) -> Job | None:
    found = await rows(store, Job, task_id=task_id)
    return found[0] if found else None


async def armed(store: Store, now: datetime, **task_cols: object) -> Seeded:
    """A user with one task `t` (threshold 08:30 unless given) whose job is synced."""
    cols = {"quadrant": 2, "urgency_threshold_at": at(8, 30), "deadline": at(20)} | task_cols
    seeded = await seed(store, now, tasks={"t": cols})
    async with store.uow() as uow:
        task = await uow.tasks.get(seeded.tasks["t"])
        assert task is not None
        await sync_job(uow, task, now)
        await uow.commit()
    return seeded


# --------------------------------------------------------------------------- sync_job


async def test_new_task_with_threshold_gets_a_pending_job(store: Store, now: datetime) -> None:
    seeded = await armed(store, now, urgency_threshold_at=at(14))
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert (job.status, job.trigger_at, job.user_id) == (JobStatus.PENDING, at(14), seeded.user_id)


async def test_task_without_threshold_gets_no_job(store: Store, now: datetime) -> None:
    seeded = await armed(store, now, urgency_threshold_at=None)
    assert await job_of(store, seeded.tasks["t"]) is None


async def test_a_new_task_added_in_the_same_unit_gets_its_job(store: Store, now: datetime) -> None:
    seeded = await seed(store, now, tasks={})
    async with store.uow() as uow:
        task = uow.tasks.add(f.task(now, seeded.user_id, urgency_threshold_at=at(12)))
        await sync_job(uow, task, now)
        await uow.commit()
    job = await job_of(store, task.id)
    assert job is not None
    assert job.trigger_at == at(12)


async def test_threshold_change_rearms_a_fired_job(store: Store, now: datetime) -> None:
    seeded = await armed(store, now)
    task_id = seeded.tasks["t"]
    assert len(await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE)) == 1
    fired = await job_of(store, task_id)
    assert fired is not None
    assert fired.status == JobStatus.TRIGGERED
    assert fired.trigger_id is not None
    # An unrelated edit leaves the fired job alone: it must not fire twice for the same threshold.
    await set_task(store, task_id, now, title="实验报告（终稿）")
    same = await job_of(store, task_id)
    assert same is not None
    assert same.status == JobStatus.TRIGGERED
    await set_task(store, task_id, now, urgency_threshold_at=at(18))
    rearmed = await job_of(store, task_id)
    assert rearmed is not None
    assert (rearmed.status, rearmed.trigger_at, rearmed.trigger_id) == (JobStatus.PENDING, at(18), None)
    assert rearmed.id == fired.id  # one job per task


@pytest.mark.parametrize(
    "change",
    [{"status": TaskStatus.DONE}, {"status": TaskStatus.CANCELED}, {"urgency_threshold_at": None}],
    ids=["done", "canceled", "threshold_removed"],
)
async def test_job_is_canceled_when_the_task_no_longer_needs_it(
    store: Store, now: datetime, change: dict[str, object]
) -> None:
    seeded = await armed(store, now, urgency_threshold_at=at(14))
    await set_task(store, seeded.tasks["t"], now, **change)
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert job.status == JobStatus.CANCELED
    # ... and the due scan, once the old threshold passes, fires nothing.
    assert await process_due_jobs(store, now=at(15), worker_id="w", lease_seconds=LEASE) == []


async def test_reopened_task_rearms_its_canceled_job(store: Store, now: datetime) -> None:
    seeded = await armed(store, now, urgency_threshold_at=at(14))
    await set_task(store, seeded.tasks["t"], now, status=TaskStatus.DONE)
    await set_task(store, seeded.tasks["t"], now, status=TaskStatus.OPEN)
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert (job.status, job.trigger_at) == (JobStatus.PENDING, at(14))


async def test_deleted_task_takes_its_job_with_it(store: Store, now: datetime) -> None:
    seeded = await armed(store, now, urgency_threshold_at=at(14))
    async with store.uow() as uow:
        task = await uow.tasks.get(seeded.tasks["t"])
        assert task is not None
        await uow.tasks.delete(task)
        await sync_job(uow, task, now)
        await uow.commit()
    assert await rows(store, Job) == []
    assert await process_due_jobs(store, now=at(15), worker_id="w", lease_seconds=LEASE) == []


# --------------------------------------------------------------------------- promotion


async def test_promote_urgency_promotes_passed_thresholds_only(store: Store, now: datetime) -> None:
    seeded = await seed(
        store,
        now,
        tasks={
            "q2": {"quadrant": 2, "urgency_threshold_at": at(8)},
            "q4": {"quadrant": 4, "urgency_threshold_at": at(9)},
            "future": {"quadrant": 2, "urgency_threshold_at": at(10)},
            "done": {"quadrant": 2, "urgency_threshold_at": at(8), "status": TaskStatus.DONE},
            "q3": {"quadrant": 3, "urgency_threshold_at": at(8)},
            "none": {"quadrant": 2},
        },
    )
    async with store.uow() as uow:
        assert await promote_urgency(uow, now) == 2
        await uow.commit()
    async with store.uow() as uow:
        assert await promote_urgency(uow, now) == 0  # idempotent
    got = {t.key: (t.quadrant, t.version) for t in await rows(store, Task, user_id=seeded.user_id)}
    assert got == {
        "q2": (1, 2),
        "q4": (3, 2),
        "future": (2, 1),
        "done": (2, 1),
        "q3": (3, 1),
        "none": (2, 1),
    }


# --------------------------------------------------------------------------- the due scan


async def test_due_job_creates_a_trigger_and_promotes_the_task(store: Store, now: datetime) -> None:
    seeded = await armed(store, now)
    not_due = await seed(store, now, tasks={"later": {"quadrant": 2, "urgency_threshold_at": at(9, 30)}})
    async with store.uow() as uow:
        task = await uow.tasks.get(not_due.tasks["later"])
        assert task is not None
        await sync_job(uow, task, now)
        await uow.commit()
    created = await process_due_jobs(store, now=now, worker_id="w1", lease_seconds=LEASE)
    assert len(created) == 1
    (trigger,) = await rows(store, Trigger)
    assert trigger.id == created[0]
    assert (trigger.type, trigger.status, trigger.task_id) == (
        TriggerType.WORKER_DUE_JOB,
        TriggerStatus.PENDING,
        seeded.tasks["t"],
    )
    assert (trigger.user_id, trigger.effective_now, trigger.mocked_now) == (seeded.user_id, now, None)
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert (job.status, job.trigger_id) == (JobStatus.TRIGGERED, trigger.id)
    (task,) = await rows(store, Task, id=seeded.tasks["t"])
    assert (task.quadrant, task.version) == (1, 2)
    later = await job_of(store, not_due.tasks["later"])
    assert later is not None
    assert later.status == JobStatus.PENDING
    # Nothing is processed twice.
    assert (
        await process_due_jobs(store, now=now + timedelta(minutes=1), worker_id="w2", lease_seconds=LEASE)
        == []
    )


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"status": TaskStatus.DONE}, JobStatus.CANCELED),
        ({"urgency_threshold_at": None}, JobStatus.CANCELED),
        ({"quadrant": 4}, JobStatus.SKIPPED),  # promoted to 3: urgent but not important
        ({"quadrant": 3}, JobStatus.SKIPPED),
    ],
    ids=["done", "no_threshold", "q4", "q3"],
)
async def test_due_scan_rereads_the_task_first(
    store: Store, now: datetime, change: dict[str, object], status: JobStatus
) -> None:
    seeded = await armed(store, now)
    # Written without syncing the job, as if the write raced the scan: the scan must see the task as it is.
    await set_task(store, seeded.tasks["t"], now, sync=False, **change)
    assert await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE) == []
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert job.status == status
    assert await rows(store, Trigger) == []


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"status": TaskStatus.DONE}, JobStatus.CANCELED, JobReason.TASK_DONE),
        ({"status": TaskStatus.CANCELED}, JobStatus.CANCELED, JobReason.TASK_CANCELED),
        ({"urgency_threshold_at": None}, JobStatus.CANCELED, JobReason.NO_THRESHOLD),
        ({"quadrant": 4}, JobStatus.SKIPPED, JobReason.NOT_IMPORTANT),
        ({"quadrant": 3}, JobStatus.SKIPPED, JobReason.NOT_IMPORTANT),
        ({}, JobStatus.TRIGGERED, None),
    ],
    ids=["done", "canceled", "no_threshold", "q4", "q3", "fired"],
)
async def test_the_due_scan_records_why_a_job_did_not_fire(
    store: Store, now: datetime, change: dict[str, object], status: JobStatus, reason: JobReason | None
) -> None:
    seeded = await armed(store, now)
    await set_task(store, seeded.tasks["t"], now, sync=False, **change)
    await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE)
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert (job.status, job.reason) == (status, reason)
    # Re-armed (a new threshold, the task open again): the old reason no longer applies.
    await set_task(
        store, seeded.tasks["t"], now, status=TaskStatus.OPEN, quadrant=2, urgency_threshold_at=at(18)
    )
    rearmed = await job_of(store, seeded.tasks["t"])
    assert rearmed is not None
    assert (rearmed.status, rearmed.reason) == (JobStatus.PENDING, None)


async def test_a_job_with_a_block_soon_or_no_task_records_why(store: Store, now: datetime) -> None:
    planned = await armed(store, now)
    await add_block(store, planned, "t", at(23), at(23, 30), now)
    gone = await armed(store, now)
    _delete_row_behind_the_cascade(store.url, "tasks", gone.tasks["t"])
    assert await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE) == []
    reasons = {j.user_id: (j.status, j.reason) for j in await rows(store, Job)}
    assert reasons == {
        planned.user_id: (JobStatus.SKIPPED, JobReason.ALREADY_SCHEDULED),
        gone.user_id: (JobStatus.SKIPPED, JobReason.TASK_MISSING),
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": TaskStatus.DONE}, JobReason.TASK_DONE),
        ({"status": TaskStatus.CANCELED}, JobReason.TASK_CANCELED),
        ({"urgency_threshold_at": None}, JobReason.NO_THRESHOLD),
    ],
    ids=["done", "canceled", "threshold_removed"],
)
async def test_a_job_canceled_by_a_task_edit_records_why(
    store: Store, now: datetime, change: dict[str, object], reason: JobReason
) -> None:
    seeded = await armed(store, now, urgency_threshold_at=at(14))
    await set_task(store, seeded.tasks["t"], now, **change)
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert (job.status, job.reason) == (JobStatus.CANCELED, reason)


async def test_threshold_moved_to_the_future_stays_pending_with_the_new_time(
    store: Store, now: datetime
) -> None:
    seeded = await armed(store, now)
    await set_task(store, seeded.tasks["t"], now, sync=False, urgency_threshold_at=at(16))
    assert await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE) == []
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert (job.status, job.trigger_at, job.claimed_until) == (
        JobStatus.PENDING,
        at(16),
        None,
    )
    # It fires at its new time.
    assert len(await process_due_jobs(store, now=at(16), worker_id="w", lease_seconds=LEASE)) == 1


async def test_task_with_a_block_in_the_next_24_hours_is_skipped(store: Store, now: datetime) -> None:
    seeded = await armed(store, now)
    await add_block(store, seeded, "t", at(23), at(23, 30), now)
    assert await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE) == []
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert job.status == JobStatus.SKIPPED


async def test_blocks_outside_the_next_24_hours_do_not_count(store: Store, now: datetime) -> None:
    seeded = await armed(store, now)
    await add_block(store, seeded, "t", at(7), at(8), now)  # earlier today: past
    await add_block(store, seeded, "t", now + timedelta(hours=24), now + timedelta(hours=25), now)
    assert len(await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE)) == 1


def _delete_row_behind_the_cascade(url: str, table: str, row_id: str) -> None:
    """Delete a row with foreign keys off, leaving its children behind (what a crash between writes of an
    older version, or a manual fix, could leave)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(parsed.database))
        try:
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))
            conn.commit()
        finally:
            conn.close()
        return
    mysql = pymysql.connect(
        host=parsed.host, port=parsed.port or 3306, user=parsed.username, database=parsed.database
    )
    try:
        with mysql.cursor() as cur:
            cur.execute("SET FOREIGN_KEY_CHECKS=0")
            cur.execute(f"DELETE FROM `{table}` WHERE id = %s", (row_id,))
        mysql.commit()
    finally:
        mysql.close()


async def test_job_whose_task_is_missing_is_skipped(store: Store, now: datetime) -> None:
    seeded = await armed(store, now)
    _delete_row_behind_the_cascade(store.url, "tasks", seeded.tasks["t"])
    assert await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE) == []
    (job,) = await rows(store, Job)
    assert job.status == JobStatus.SKIPPED


async def test_leased_jobs_are_not_taken_by_another_worker(store: Store, now: datetime) -> None:
    seeded = await armed(store, now)
    async with store.uow() as uow:
        claimed = await uow.jobs.claim_due("crashed", now, LEASE, 10)
        assert len(claimed) == 1
        await uow.commit()
    # The crashed worker holds the lease: nobody else processes the job until it expires.
    assert (
        await process_due_jobs(store, now=now + timedelta(seconds=30), worker_id="w", lease_seconds=LEASE)
        == []
    )
    later = now + timedelta(seconds=LEASE + 1)
    assert len(await process_due_jobs(store, now=later, worker_id="w", lease_seconds=LEASE)) == 1
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert job.status == JobStatus.TRIGGERED


async def test_two_workers_trigger_each_job_exactly_once(db_url: str, now: datetime) -> None:
    """Two worker processes (separate engines) scanning the same database at once."""
    stores = [Store(db_url), Store(db_url)]
    try:
        users = 10
        for i in range(users):
            seeded = await seed(
                stores[0],
                now,
                tasks={f"t{k}": {"quadrant": 2, "urgency_threshold_at": at(8, k)} for k in range(12)},
                open_id=f"ou_w{i}",
            )
            async with stores[0].uow() as uow:
                for task_id in seeded.tasks.values():
                    task = await uow.tasks.get(task_id)
                    assert task is not None
                    await sync_job(uow, task, now)
                await uow.commit()

        async def worker(store: Store, name: str) -> list[str]:
            out: list[str] = []
            while batch := await process_due_jobs(
                store, now=now, worker_id=name, lease_seconds=LEASE, limit=7
            ):
                out += batch
            return out

        a, b = await asyncio.gather(worker(stores[0], "wa"), worker(stores[1], "wb"))
        if not db_url.startswith("sqlite"):
            # SKIP LOCKED: a claim never waits for the other worker's batch, so both get work. SQLite
            # serialises writers (one worker in production), so there one worker may take every batch
            # while the other waits for the lock; exactly-once is what must hold on both.
            assert a
            assert b
        assert len(a) + len(b) == users * 12
        assert len(set(a) | set(b)) == users * 12
        triggers = await rows(stores[0], Trigger)
        assert len(triggers) == users * 12
        assert len({t.task_id for t in triggers}) == users * 12
        jobs = await rows(stores[0], Job)
        assert {j.status for j in jobs} == {JobStatus.TRIGGERED}
        assert {j.trigger_id for j in jobs} == {t.id for t in triggers}
    finally:
        for s in stores:
            await s.dispose()


# --------------------------------------------------------------------------- the day window


async def _due_at(store: Store, now: datetime, **user_kw: object) -> Seeded:
    seeded = await seed(
        store, now, tasks={"t": {"quadrant": 2, "urgency_threshold_at": now, "deadline": at(20)}}, **user_kw
    )
    async with store.uow() as uow:
        task = await uow.tasks.get(seeded.tasks["t"])
        assert task is not None
        await sync_job(uow, task, now)
        await uow.commit()
    return seeded


async def test_a_job_due_before_the_day_window_fires_when_it_opens(store: Store) -> None:
    early = at(5, 1)  # the window is 08:00-22:30: no card at 05:01, planned fresh at 08:00 instead
    seeded = await _due_at(store, early)
    assert await process_due_jobs(store, now=early, worker_id="w", lease_seconds=LEASE) == []
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert (job.status, job.trigger_at, job.reason) == (JobStatus.PENDING, at(8), None)
    (task,) = await rows(store, Task, id=seeded.tasks["t"])
    assert task.quadrant == 1  # promoted all the same: the task is urgent, only the card waits
    assert await process_due_jobs(store, now=at(7, 59), worker_id="w", lease_seconds=LEASE) == []
    created = await process_due_jobs(store, now=at(8), worker_id="w", lease_seconds=LEASE)
    assert len(created) == 1
    (trigger,) = await rows(store, Trigger)
    assert trigger.effective_now == at(8)


async def test_a_job_due_late_at_night_waits_for_the_next_morning(store: Store) -> None:
    late = at(23, 1)
    seeded = await _due_at(store, late)
    assert await process_due_jobs(store, now=late, worker_id="w", lease_seconds=LEASE) == []
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert (job.status, job.trigger_at) == (JobStatus.PENDING, at(8) + timedelta(days=1))


async def test_quiet_hours_narrow_the_day_window(store: Store) -> None:
    seeded = await _due_at(store, at(8, 10), quiet_start="22:00", quiet_end="09:00")
    assert await process_due_jobs(store, now=at(8, 10), worker_id="w", lease_seconds=LEASE) == []
    job = await job_of(store, seeded.tasks["t"])
    assert job is not None
    assert job.trigger_at == at(9)
    assert len(await process_due_jobs(store, now=at(9), worker_id="w", lease_seconds=LEASE)) == 1
