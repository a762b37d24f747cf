"""Store contract: lease claiming hands each due row to one worker at a time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from store import Store
from store.enums import JobStatus, OutboxStatus
from store.models import Job, OutboxMessage
from tests.contract import factories as f

LEASE = 60.0


async def add_jobs(store: Store, now: datetime) -> dict[str, str]:
    """Jobs named by what a due scan at `now` should do with them: due-1..3 (claimable), future, canceled."""
    names: dict[str, str] = {}
    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        plan = {
            "due-2": (now - timedelta(minutes=5), JobStatus.PENDING),
            "due-1": (now - timedelta(minutes=10), JobStatus.PENDING),
            "due-3": (now, JobStatus.PENDING),
            "future": (now + timedelta(minutes=1), JobStatus.PENDING),
            "canceled": (now - timedelta(hours=1), JobStatus.CANCELED),
        }
        for name, (at, status) in plan.items():
            task = uow.tasks.add(f.task(now, user.id, key=name))
            job = uow.jobs.add(
                Job(
                    task_id=task.id,
                    user_id=user.id,
                    trigger_at=at,
                    status=status,
                    created_at=now,
                    updated_at=now,
                )
            )
            names[job.id] = name
        await uow.commit()
    return names


async def test_claim_due_jobs_in_order_and_respect_the_lease(store: Store, now: datetime) -> None:
    names = await add_jobs(store, now)
    async with store.uow() as uow:
        claimed = await uow.jobs.claim_due("worker-a", now, LEASE, limit=10)
        await uow.commit()
    assert [names[j.id] for j in claimed] == ["due-1", "due-2", "due-3"]
    assert {(j.claimed_by, j.claimed_until) for j in claimed} == {
        ("worker-a", now + timedelta(seconds=LEASE))
    }

    async with store.uow() as uow:
        assert await uow.jobs.claim_due("worker-b", now + timedelta(seconds=LEASE - 1), LEASE, limit=10) == []
        await uow.commit()

    later = now + timedelta(seconds=LEASE)
    async with store.uow() as uow:
        reclaimed = await uow.jobs.claim_due("worker-b", later, LEASE, limit=2)
        await uow.commit()
    assert [names[j.id] for j in reclaimed] == ["due-1", "due-2"]
    async with store.uow(readonly=True) as uow:
        job = await uow.jobs.get(reclaimed[0].id)
        assert job is not None
        assert (job.claimed_by, job.claimed_until) == ("worker-b", later + timedelta(seconds=LEASE))


async def test_uncommitted_claim_leaves_rows_free(store: Store, now: datetime) -> None:
    await add_jobs(store, now)
    async with store.uow() as uow:
        assert len(await uow.jobs.claim_due("worker-a", now, LEASE, limit=10)) == 3
    async with store.uow() as uow:
        assert len(await uow.jobs.claim_due("worker-b", now, LEASE, limit=10)) == 3


async def add_outbox(store: Store, now: datetime, n: int) -> set[str]:
    async with store.uow() as uow:
        rows = [uow.outbox.put("preview.ready", {"i": i}, now - timedelta(seconds=n - i)) for i in range(n)]
        uow.outbox.add(
            OutboxMessage(
                topic="x",
                payload={},
                status=OutboxStatus.DONE,
                available_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        await uow.commit()
    return {r.id for r in rows}


async def test_concurrent_claimers_never_share_a_row(db_url: str, now: datetime) -> None:
    store = Store(db_url, pool_size=8, max_overflow=0)
    try:
        expected = await add_outbox(store, now, 12)

        async def claimer(worker: str) -> list[str]:
            async with store.uow() as uow:
                rows = await uow.outbox.claim_due(worker, now, LEASE, limit=3)
                await uow.commit()
                return [r.id for r in rows]

        results = await asyncio.gather(*(claimer(f"w{i}") for i in range(4)))
        flat = [row_id for ids in results for row_id in ids]
        assert len(flat) == len(set(flat))
        async with store.uow() as uow:
            rest = [r.id for r in await uow.outbox.claim_due("w-last", now, LEASE, limit=20)]
            await uow.commit()
        assert sorted(flat + rest) == sorted(expected)
    finally:
        await store.dispose()


async def test_mysql_claimer_skips_rows_locked_by_an_open_claim(db_url: str, now: datetime) -> None:
    store = Store(db_url)
    try:
        if store.backend != "mysql":
            pytest.skip("SQLite admits one writer at a time (BEGIN IMMEDIATE); nothing to skip")
        expected = await add_outbox(store, now, 4)
        async with store.uow() as first:
            held = [r.id for r in await first.outbox.claim_due("w1", now, LEASE, limit=2)]
            assert len(held) == 2

            async def second_claim() -> list[str]:
                async with store.uow() as second:
                    rows = await second.outbox.claim_due("w2", now, LEASE, limit=4)
                    await second.commit()
                    return [r.id for r in rows]

            # Without SKIP LOCKED the second claimer would block on the first's row locks until this unit
            # commits, which it never does while waiting: the timeout turns that deadlock into a failure.
            other = await asyncio.wait_for(second_claim(), timeout=20)
            await first.commit()
        assert set(held).isdisjoint(other)
        assert sorted(held + other) == sorted(expected)
    finally:
        await store.dispose()
