"""Store contract: the unique keys behind dedupe hold under concurrent inserts from separate connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from store import Store, UnitOfWork, short_key
from store.enums import ApplyStatus, InboxKind, NotificationKind, TriggerStatus, TriggerType
from store.errors import DatabaseError, is_lock_conflict
from store.models import InboxEntry, Notification, Trigger
from tests.contract import factories as f

N = 20


@pytest.fixture
async def wide_store(db_url: str) -> AsyncIterator[Store]:
    """A store whose pool holds a connection for every racer, so all N really run at once."""
    instance = Store(db_url, pool_size=N + 2, max_overflow=0)
    try:
        yield instance
    finally:
        await instance.dispose()


async def race(store: Store, attempt: Callable[[UnitOfWork, int], Awaitable[bool]]) -> list[bool]:
    """Run `attempt` in N units of work at once, each on its own connection, committing each success."""
    # On MySQL every racer first opens its transaction and waits for the others, so the inserts collide
    # inside the database. SQLite's BEGIN IMMEDIATE admits one writer at a time: a barrier would deadlock.
    barrier = asyncio.Barrier(N) if store.backend == "mysql" else None

    async def one(i: int) -> bool:
        waited = barrier is None
        while True:
            try:
                async with store.uow() as uow:
                    if not waited:
                        await uow.session.connection()
                        assert barrier is not None
                        await barrier.wait()
                        waited = True
                    won = await attempt(uow, i)
                    if won:
                        await uow.commit()
                    return won
            except DatabaseError as exc:
                # A deadlock victim (InnoDB rolled its transaction back) tries again, as every service does
                # (scheduler.services.outcomes.retrying): it must then see the winner's key.
                if not is_lock_conflict(exc):
                    raise

    return list(await asyncio.gather(*(one(i) for i in range(N))))


async def make_user(store: Store, now: datetime) -> str:
    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        await uow.commit()
        return user.id


async def count(store: Store, stmt: object) -> int:
    async with store.uow(readonly=True) as uow:
        return int((await uow.session.execute(stmt)).scalar_one())  # type: ignore[call-overload]


async def test_concurrent_inbox_records_admit_exactly_one(wide_store: Store, now: datetime) -> None:
    async def attempt(uow: UnitOfWork, _i: int) -> bool:
        return await uow.inbox.record(InboxKind.EVENT, "evt-42", "im.message.receive_v1", now)

    assert sorted(await race(wide_store, attempt)) == [False] * (N - 1) + [True]
    assert await count(wide_store, select(func.count()).select_from(InboxEntry)) == 1


async def test_long_inbox_keys_are_hashed_and_still_dedupe(store: Store, now: datetime) -> None:
    long_key = "click:" + "x" * 500
    async with store.uow() as uow:
        assert await uow.inbox.record(InboxKind.CLICK, long_key, "card.action.trigger", now)
        assert not await uow.inbox.record(InboxKind.CLICK, long_key, "card.action.trigger", now)
        assert await uow.inbox.record(InboxKind.CLICK, long_key + "y", "card.action.trigger", now)
        await uow.commit()
    async with store.uow(readonly=True) as uow:
        entry = await uow.inbox.get_by_key(long_key)
        assert entry is not None
        assert entry.dedupe_key == short_key(long_key)
        assert len(entry.dedupe_key) <= 191


@pytest.mark.parametrize("column", ["dedupe_key", "idempotency_key", "source_message_id"])
async def test_concurrent_triggers_with_one_key_admit_exactly_one(
    wide_store: Store, now: datetime, column: str
) -> None:
    user_id = await make_user(wide_store, now)

    async def attempt(uow: UnitOfWork, i: int) -> bool:
        row = f.trigger(now, user_id, type=TriggerType.USER_FEEDBACK, trace_id=f"t{i}", **{column: "key-1"})
        return await uow.triggers.add_if_absent(row)

    assert sorted(await race(wide_store, attempt)) == [False] * (N - 1) + [True]
    assert await count(wide_store, select(func.count()).select_from(Trigger)) == 1
    async with wide_store.uow(readonly=True) as uow:
        finder = {
            "dedupe_key": uow.triggers.find_by_dedupe,
            "idempotency_key": uow.triggers.find_by_idempotency,
            "source_message_id": uow.triggers.find_by_message,
        }[column]
        assert await finder("key-1") is not None
        assert await finder("key-2") is None


async def test_released_dedupe_key_admits_one_new_trigger_under_race(
    wide_store: Store, now: datetime
) -> None:
    user_id = await make_user(wide_store, now)
    async with wide_store.uow() as uow:
        old = f.trigger(now, user_id, dedupe_key="due:task-1")
        uow.triggers.add(old)
        await uow.flush()
        uow.triggers.transition(old, TriggerStatus.FAILED, now, error_code="llm.timeout")
        await uow.commit()

    async def attempt(uow: UnitOfWork, _i: int) -> bool:
        return await uow.triggers.add_if_absent(f.trigger(now, user_id, dedupe_key="due:task-1"))

    assert sorted(await race(wide_store, attempt)) == [False] * (N - 1) + [True]
    assert await count(wide_store, select(func.count()).select_from(Trigger)) == 2


async def test_concurrent_notifications_with_one_dedupe_key_create_one(
    wide_store: Store, now: datetime
) -> None:
    user_id = await make_user(wide_store, now)
    ids: list[str] = []

    async def attempt(uow: UnitOfWork, i: int) -> bool:
        row, created = await uow.notifications.insert_if_absent(
            "card:preview-1", user_id=user_id, kind=NotificationKind.CARD, payload={"n": i}, now=now
        )
        if created:
            # Commit before anyone can read the id so losers find the committed winner.
            await uow.commit()
        ids.append(row.id)
        return created

    assert sorted(await race(wide_store, attempt)) == [False] * (N - 1) + [True]
    assert len(set(ids)) == 1
    assert await count(wide_store, select(func.count()).select_from(Notification)) == 1
    async with wide_store.uow(readonly=True) as uow:
        found = await uow.notifications.find_by_dedupe("card:preview-1")
        assert found is not None
        assert (found.status, found.next_attempt_at, found.attempts) == ("pending", now, 0)


async def test_concurrent_applies_with_one_idempotency_key_admit_one(
    wide_store: Store, now: datetime
) -> None:
    user_id = await make_user(wide_store, now)
    preview_ids: list[str] = []
    async with wide_store.uow() as uow:
        for _ in range(N):
            trig = uow.triggers.add(f.trigger(now, user_id))
            await uow.flush()
            preview_ids.append(uow.previews.add(f.preview(now, user_id, trig.id)).id)
        await uow.commit()

    async def attempt(uow: UnitOfWork, i: int) -> bool:
        preview = await uow.previews.get_for_update(preview_ids[i])
        assert preview is not None
        preview.apply_idempotency_key = "apply:click-7"
        preview.apply_status = ApplyStatus.APPLYING
        preview.updated_at = now + timedelta(seconds=1)
        try:
            await uow.flush()
        except IntegrityError:
            return False
        return True

    assert sorted(await race(wide_store, attempt)) == [False] * (N - 1) + [True]
    async with wide_store.uow(readonly=True) as uow:
        winner = await uow.previews.find_by_apply_key("apply:click-7")
        assert winner is not None
        assert winner.apply_status == "applying"


async def test_a_deadlock_inside_a_savepoint_is_a_lock_conflict(wide_store: Store, now: datetime) -> None:
    """InnoDB rolls the victim's whole transaction back: leaving its SAVEPOINT then fails with 1305 ("does
    not exist"), which must still read as a lock conflict, so the services' retry runs it again."""
    if wide_store.backend != "mysql":
        pytest.skip("SQLite admits one writer at a time: no deadlock")
    ids = [await make_user(wide_store, now) for _ in range(11)]
    heavy_first, light_first = asyncio.Event(), asyncio.Event()

    async def heavy() -> None:  # locks ten rows, then waits for the light one's row
        async with wide_store.uow() as uow:
            for user_id in ids[:10]:
                await uow.session.execute(_rename, {"id": user_id})
            heavy_first.set()
            await light_first.wait()
            await uow.session.execute(_rename, {"id": ids[10]})
            await uow.commit()

    async def light() -> BaseException | None:  # one row in a savepoint, then one of the heavy's rows
        async with wide_store.uow() as uow:
            await heavy_first.wait()
            try:
                async with uow.session.begin_nested():
                    await uow.session.execute(_rename, {"id": ids[10]})
                    light_first.set()
                    await asyncio.sleep(0.2)  # the heavy one is waiting for this row by now
                    await uow.session.execute(_rename, {"id": ids[0]})
            except DatabaseError as exc:
                return exc
            return None

    heavy_done = asyncio.create_task(heavy())
    lost = await asyncio.wait_for(light(), 30)
    await asyncio.wait_for(heavy_done, 30)  # the survivor commits
    assert lost is not None  # the lighter transaction was the deadlock's victim
    assert is_lock_conflict(lost)


_rename = text("UPDATE users SET name = CONCAT(name, '.') WHERE id = :id")
