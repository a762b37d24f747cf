"""SQLite write units of one process take turns, first come first served, instead of polling the file's
write lock; a unit inside one goes on in it; one that waits too long fails as a lock conflict."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

import store.uow as uow_module
from store import Store
from store.errors import DatabaseError, is_lock_conflict
from store.models import User
from tests.contract import factories


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[Store]:
    s = Store(sqlite_url)
    yield s
    await s.dispose()


NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _user(open_id: str) -> User:
    return factories.user(NOW, open_id)


async def test_write_units_take_turns_in_the_order_they_came(sqlite_store: Store) -> None:
    order: list[str] = []
    begun: list[int] = []  # transactions begun on the file, counted as each unit's BEGIN is sent
    first_inside = asyncio.Event()

    @event.listens_for(sqlite_store.engine.sync_engine, "begin", insert=True)
    def _count(_conn: object) -> None:
        begun.append(1)

    async def write(name: str, hold: float) -> None:
        async with sqlite_store.uow() as uow:
            order.append(f"{name} in")
            uow.session.add(_user(f"ou_{name}"))
            await uow.flush()
            first_inside.set()
            await asyncio.sleep(hold)  # the others arrive meanwhile
            if name == "a":
                order.append(f"begun while a holds: {len(begun)}")
            await uow.commit()
            order.append(f"{name} out")

    first = asyncio.create_task(write("a", 0.3))
    async with asyncio.timeout(10):
        await first_inside.wait()
    others = [asyncio.create_task(write(name, 0)) for name in ("b", "c", "d")]
    async with asyncio.timeout(10):
        await asyncio.gather(first, *others)

    # No other unit so much as began a transaction (to wait in SQLite's busy handler) while `a` held the
    # write lock; each went in when the one before it was out, in arrival order.
    assert order == [
        "a in",
        "begun while a holds: 1",
        "a out",
        "b in",
        "b out",
        "c in",
        "c out",
        "d in",
        "d out",
    ]
    async with sqlite_store.uow(readonly=True) as uow:
        for name in "abcd":
            assert await uow.users.get_by_open_id(f"ou_{name}") is not None


async def test_a_read_only_unit_does_not_wait_for_a_write(sqlite_store: Store) -> None:
    inside, done = asyncio.Event(), asyncio.Event()

    async def write() -> None:
        async with sqlite_store.uow() as uow:
            uow.session.add(_user("ou_w"))
            await uow.flush()
            inside.set()
            await done.wait()
            await uow.commit()

    writer = asyncio.create_task(write())
    async with asyncio.timeout(10):
        await inside.wait()
    async with asyncio.timeout(5), sqlite_store.uow(readonly=True) as uow:
        assert await uow.users.get_by_open_id("ou_w") is None  # not committed yet
    done.set()
    await writer


async def test_a_unit_opened_inside_a_write_unit_goes_on(sqlite_store: Store) -> None:
    async with asyncio.timeout(10), sqlite_store.uow() as outer:
        outer.session.add(_user("ou_outer"))
        await outer.commit()
        async with sqlite_store.uow() as inner:  # queues behind nobody: it is part of the outer turn
            assert await inner.users.get_by_open_id("ou_outer") is not None


async def test_a_unit_waiting_longer_than_the_busy_timeout_fails_as_a_lock_conflict(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uow_module, "SQLITE_BUSY_TIMEOUT_MS", 100)
    release = asyncio.Event()
    inside = asyncio.Event()

    async def hold() -> None:
        async with sqlite_store.uow():
            inside.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    async with asyncio.timeout(10):
        await inside.wait()

    async def late() -> None:
        async with sqlite_store.uow() as uow:
            uow.session.add(_user("ou_late"))
            await uow.commit()

    with pytest.raises(DatabaseError) as caught:
        await late()
    assert is_lock_conflict(caught.value)
    release.set()
    await holder
    async with sqlite_store.uow() as uow:  # the turn was not lost: the next unit goes in
        uow.session.add(_user("ou_after"))
        await uow.commit()
        assert await uow.users.get_by_open_id("ou_late") is None
