"""The batched due scan and pipeline: statement ceilings that do not grow with the batch, a poisoned row
fails alone, chooser calls bounded and outside any transaction, each trigger processed once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from llm.api import Choice, ChoiceRequest, FallbackChooser, fallback_choice
from scheduler.services.jobs import MAX_ATTEMPTS, process_due_jobs
from scheduler.services.pipeline import Pipeline
from store import Store
from store.enums import JobStatus, TriggerStatus
from store.models import Job, OutboxMessage, Preview, Trigger
from tests.contract.services.builders import rows
from tests.contract.worker.conftest import seed_due_job
from tests.statements import count_statements

LEASE = 60.0
# Ceilings per batch, whatever its size (also in docs/architecture.md, "The worker"):
# due scan: lock the jobs, lock their tasks, "has a block soon", their users (the day window), live dedupe
# keys; update the promoted tasks, insert the triggers, update the jobs -- 8 statements, 1 commit.
DUE_SCAN_STATEMENTS, DUE_SCAN_COMMITS = 8, 1
# pipeline: lock the triggers, read users, blocks, tasks, fixed events, day extensions, mark processing
# (commit); re-lock those still processing, insert previews, insert outbox rows, update the triggers
# (commit) -- 11 statements, 2 commits (a batch with an unfinished report also reads today's change sets).
PIPELINE_STATEMENTS, PIPELINE_COMMITS = 11, 2


async def due_jobs(store: Store, now: datetime, n: int) -> list[dict[str, str]]:
    return [await seed_due_job(store, now) for _ in range(n)]


async def test_due_scan_and_pipeline_batches_stay_under_their_ceilings(store: Store, now: datetime) -> None:
    await due_jobs(store, now, 55)
    pipeline = Pipeline(store, FallbackChooser())
    counts = []
    for size in (5, 50):
        with count_statements(store) as scan:
            created = await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE, limit=size)
        with count_statements(store) as run:
            outcomes = await pipeline.run_batch(created, now)
        assert len(created) == size
        assert {o.status for o in outcomes if o} == {TriggerStatus.PREVIEW_GENERATED}
        assert (scan.count, scan.commits) <= (DUE_SCAN_STATEMENTS, DUE_SCAN_COMMITS), str(scan)
        assert scan.commits == DUE_SCAN_COMMITS
        assert run.count <= PIPELINE_STATEMENTS, str(run)
        assert run.commits == PIPELINE_COMMITS
        counts.append((scan.count, run.count))
    assert counts[0] == counts[1]  # ten times the batch, the same statements
    assert len(await rows(store, Preview)) == len(await rows(store, OutboxMessage)) == 55


async def _poison(store: Store, table: str, column: str, value: str) -> None:
    """A database trigger that refuses to insert a row with `column` = `value` (a real failure of that one
    row's write, as a constraint or a bad value would be)."""
    async with store.engine.begin() as conn:
        if store.backend == "sqlite":
            await conn.execute(
                sa.text(
                    f"CREATE TRIGGER poison BEFORE INSERT ON {table} WHEN NEW.{column} = '{value}' "
                    "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
                )
            )
        else:
            await conn.execute(
                sa.text(
                    f"CREATE TRIGGER poison BEFORE INSERT ON `{table}` FOR EACH ROW BEGIN "
                    f"IF NEW.{column} = '{value}' THEN "
                    "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned row'; END IF; END"
                )
            )


async def _cure(store: Store) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(sa.text("DROP TRIGGER IF EXISTS poison"))


async def test_a_poisoned_job_fails_alone_and_is_parked_after_its_attempts(
    store: Store, now: datetime
) -> None:
    seeded = await due_jobs(store, now, 6)
    bad = seeded[2]
    await _poison(store, "triggers", "task_id", bad["task"])
    try:
        at = now
        created = await process_due_jobs(store, now=at, worker_id="w", lease_seconds=LEASE)
        assert len(created) == 5
        for attempt in range(1, MAX_ATTEMPTS + 1):
            (job,) = await rows(store, Job, id=bad["job"])
            assert job.attempts == attempt
            assert "poisoned row" in (job.last_error or "")
            if attempt < MAX_ATTEMPTS:
                # The lease is the retry delay: not before it ends.
                assert job.status == JobStatus.PENDING
                assert await process_due_jobs(store, now=at, worker_id="w", lease_seconds=LEASE) == []
                at += timedelta(seconds=LEASE)
                assert await process_due_jobs(store, now=at, worker_id="w", lease_seconds=LEASE) == []
        assert job.status == JobStatus.FAILED
    finally:
        await _cure(store)
    jobs = {j.id: j for j in await rows(store, Job)}
    assert {j.status for k, j in jobs.items() if k != bad["job"]} == {JobStatus.TRIGGERED}
    assert {t.task_id for t in await rows(store, Trigger)} == {s["task"] for s in seeded} - {bad["task"]}


async def test_a_poisoned_trigger_fails_alone_with_its_error(store: Store, now: datetime) -> None:
    seeded = await due_jobs(store, now, 6)
    async with store.uow() as uow:  # bad data: planning cannot even start for this user
        user = await uow.users.get(seeded[1]["user"])
        assert user is not None
        user.timezone = "Mars/Olympus_Mons"
        await uow.commit()
    created = await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE)
    by_task = {t.task_id: t.id for t in await rows(store, Trigger)}
    write_poisoned = by_task[seeded[4]["task"]]
    await _poison(store, "previews", "trigger_id", write_poisoned)
    try:
        outcomes = await Pipeline(store, FallbackChooser()).run_batch(created, now)
    finally:
        await _cure(store)
    status = {o.trigger_id: o.status for o in outcomes if o}
    tz_poisoned = by_task[seeded[1]["task"]]
    assert status.pop(tz_poisoned) == status.pop(write_poisoned) == TriggerStatus.FAILED
    assert set(status.values()) == {TriggerStatus.PREVIEW_GENERATED}
    triggers = {t.id: t for t in await rows(store, Trigger)}
    assert "Mars/Olympus_Mons" in (triggers[tz_poisoned].error_detail or "")
    assert "poisoned row" in (triggers[write_poisoned].error_detail or "")
    assert {triggers[t].error_code for t in (tz_poisoned, write_poisoned)} == {"pipeline_failed"}
    previews = await rows(store, Preview)
    assert {p.trigger_id for p in previews} == set(status)
    assert len(await rows(store, OutboxMessage)) == 4
    # Their jobs fire again after the pause, as after any failed run.
    failed_jobs = [j for j in await rows(store, Job) if j.task_id in (seeded[1]["task"], seeded[4]["task"])]
    assert [(j.status, j.attempts) for j in failed_jobs] == [(JobStatus.PENDING, 1)] * 2


class GatedChooser:
    """Counts the calls in flight and checks that no database connection is held while choosing."""

    def __init__(self, store: Store, fail_title: str | None = None) -> None:
        self.store = store
        self.fail_title = fail_title
        self.in_flight = 0
        self.most = 0
        self.held: list[int] = []

    async def choose(self, request: ChoiceRequest) -> Choice:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.held.append(self.store.engine.sync_engine.pool.checkedout())
        try:
            for _ in range(5):  # let the other calls of the batch start
                await asyncio.sleep(0)
            if request.target_title == self.fail_title:
                raise RuntimeError("provider exploded")
            return fallback_choice(request, "test", 1)
        finally:
            self.in_flight -= 1


async def test_chooser_calls_are_bounded_and_outside_any_transaction(store: Store, now: datetime) -> None:
    seeded = await due_jobs(store, now, 10)
    async with store.uow() as uow:
        task = await uow.tasks.get(seeded[3]["task"])
        assert task is not None
        task.title = "会失败的任务"
        await uow.commit()
    created = await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE)
    chooser = GatedChooser(store, fail_title="会失败的任务")
    outcomes = await Pipeline(store, chooser, concurrency=3).run_batch(created, now)
    assert chooser.most == 3
    assert set(chooser.held) == {0}  # no connection checked out: no transaction open while choosing
    statuses = sorted(o.status for o in outcomes if o)
    assert statuses == [TriggerStatus.FAILED] + [TriggerStatus.PREVIEW_GENERATED] * 9


async def test_two_workers_running_the_same_batch_make_one_preview_each(db_url: str, now: datetime) -> None:
    stores = [Store(db_url), Store(db_url)]
    try:
        await due_jobs(stores[0], now, 20)
        created = await process_due_jobs(stores[0], now=now, worker_id="w", lease_seconds=LEASE)
        await asyncio.gather(*(Pipeline(s, FallbackChooser()).run_batch(created, now) for s in stores))
        previews = await rows(stores[0], Preview)
        assert sorted(p.trigger_id for p in previews) == sorted(created)
        assert len(await rows(stores[0], OutboxMessage)) == 20
        assert {t.status for t in await rows(stores[0], Trigger)} == {TriggerStatus.PREVIEW_GENERATED}
    finally:
        for s in stores:
            await s.dispose()


@pytest.mark.parametrize("batch", [1, 4])
async def test_batch_size_does_not_change_the_outcome(store: Store, now: datetime, batch: int) -> None:
    await due_jobs(store, now, 6)
    created = await process_due_jobs(store, now=now, worker_id="w", lease_seconds=LEASE)
    outcomes = await Pipeline(store, FallbackChooser(), batch=batch).run_batch(created + created[:2], now)
    assert [o.trigger_id for o in outcomes if o] == created + created[:2]
    assert len(await rows(store, Preview)) == 6
