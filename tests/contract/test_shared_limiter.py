"""Store contract: send limits counted in the database hold for several processes together (two Store
objects on one database stand for two processes), free a crashed holder's slot after its lease, and fall
back to the process's own count when the database cannot be reached."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.feishu.ratelimit import Limiter, SlidingWindowLimiter
from store import Store
from store.models import SendSlot
from store.repositories.throttle import ThrottleRepository
from store.throttle import TAKE_AT_ONCE, SharedLimiter
from tests.fakes.fake_feishu import busiest_window

LIMIT = 4
WINDOW = 0.3
CALL = 0.01  # how long one "call" is in flight
CLOSED_PORT_MYSQL_URL = "mysql+aiomysql://root@127.0.0.1:9/none"  # nothing listens on loopback port 9


async def burst(limiters: Sequence[Limiter], calls: int, key: str = "ou_a") -> list[float]:
    """`calls` calls spread over the limiters at once; the wall-clock times at which each 'arrived'."""
    arrivals: list[float] = []

    async def call(limiter: Limiter) -> None:
        async with limiter.slot(key):
            await asyncio.sleep(CALL / 2)
            arrivals.append(time.time())
            await asyncio.sleep(CALL / 2)

    await asyncio.gather(*(call(limiters[n % len(limiters)]) for n in range(calls)))
    return sorted(arrivals)


async def test_two_processes_together_stay_within_the_limit(db_url: str) -> None:
    stores = [Store(db_url), Store(db_url)]
    try:
        limiters = [SharedLimiter(s, "user", LIMIT, WINDOW) for s in stores]
        arrivals = await burst(limiters, 4 * LIMIT)
        for limiter in limiters:
            await limiter.aclose()  # the last releases written before the stores go
    finally:
        for s in stores:
            await s.dispose()
    assert len(arrivals) == 4 * LIMIT
    assert busiest_window(arrivals, WINDOW) <= LIMIT
    # Nothing was held up longer than the limit needs: four windows' worth in well under ten windows.
    assert arrivals[-1] - arrivals[0] < 10 * WINDOW


async def test_counting_per_process_lets_two_processes_exceed_the_limit() -> None:
    """What the shared count fixes: two processes that each count their own send twice the limit at once."""
    arrivals = await burst(
        [SlidingWindowLimiter(LIMIT, WINDOW), SlidingWindowLimiter(LIMIT, WINDOW)], 2 * LIMIT
    )
    assert busiest_window(arrivals, WINDOW) == 2 * LIMIT


async def test_one_read_takes_slots_for_the_waiters_queued_behind_it(store: Store) -> None:
    now = datetime.now(UTC)
    async with store.uow() as uow:
        slots = await uow.throttle.take("app:app", LIMIT, now, timedelta(seconds=5), "h", count=3)
        rest = await uow.throttle.take("app:app", LIMIT, now, timedelta(seconds=5), "h2", count=3)
        await uow.commit()
    assert len(slots) == 3
    assert sorted(n for n, _ in slots + rest) == list(range(LIMIT))  # three, then the one left


async def test_a_per_minute_limit_takes_slots_ahead_for_the_next_calls(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `ahead`, one read takes slots for several calls one after another; the ones left unused are
    given back at close, so another process can have them at once."""
    reads: list[int] = []
    take = ThrottleRepository.take

    async def counted(self: ThrottleRepository, *args: Any, **kwargs: Any) -> list[tuple[int, datetime]]:
        reads.append(kwargs.get("count", 1))
        return await take(self, *args, **kwargs)

    monkeypatch.setattr(ThrottleRepository, "take", counted)
    limiter = SharedLimiter(store, "message.create.minute", 20, 60.0, ahead=4)
    for _ in range(4):
        async with limiter.slot("app"):
            pass
    assert reads == [4]  # one read for the four calls
    async with limiter.slot("app"):  # the fifth reads again, and takes ahead again
        pass
    assert reads == [4, 4]
    await limiter.aclose()
    async with store.uow(readonly=True) as uow:
        rows = (await uow.session.execute(SendSlot.__table__.select())).all()
    assert [r for r in rows if r.holder is not None] == []  # the three kept ahead were given back
    cooling = [r for r in rows if r.free_at.replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(seconds=50)]
    assert len(cooling) == 5  # the five calls' slots count for their minute


def test_ahead_is_bounded() -> None:
    with pytest.raises(ValueError, match="ahead"):
        SharedLimiter(Store("sqlite+aiosqlite://"), "x", 10, 60.0, ahead=TAKE_AT_ONCE + 1)


async def test_keys_are_limited_apart(store: Store) -> None:
    limiter = SharedLimiter(store, "user", LIMIT, 60.0)
    for key in ("ou_a", "ou_b"):
        arrivals = await asyncio.wait_for(burst([limiter], LIMIT, key), timeout=5)
        assert len(arrivals) == LIMIT  # a full window of one key does not hold up another
    await limiter.aclose()


async def test_a_holder_that_died_frees_its_slot_after_the_lease(store: Store) -> None:
    now = datetime.now(UTC)
    async with store.uow() as uow:
        for n in range(LIMIT):  # every slot taken by a process that was then killed mid-call
            slots = await uow.throttle.take("user:ou_a", LIMIT, now, timedelta(seconds=0.5), f"dead{n}")
            assert len(slots) == 1
        await uow.commit()
    limiter = SharedLimiter(store, "user", LIMIT, WINDOW)
    arrivals = await asyncio.wait_for(burst([limiter], 1), timeout=10)
    await limiter.aclose()  # its release written before the store goes
    # it waited for a lease to lapse (measured from when the leases were taken, whatever the machine's speed)
    assert arrivals[0] >= now.timestamp() + 0.49
    async with store.uow(readonly=True) as uow:
        rows = (await uow.session.scalars(SendSlot.__table__.select())).all()
    assert len(rows) == LIMIT  # the bucket was not grown to make room


async def test_a_release_after_the_lease_lapsed_leaves_the_new_holder_alone(store: Store) -> None:
    now = datetime.now(UTC)
    async with store.uow() as uow:
        first = await uow.throttle.take("app:app", 1, now, timedelta(seconds=-1), "late")  # lapsed at once
        assert first == [(0, now)]
        taken = await uow.throttle.take("app:app", 1, now, timedelta(minutes=5), "new")
        assert taken == [(0, now)]
        await uow.throttle.release([("app:app", 0, "late", now)])  # the killed-and-revived holder lets go
        again = await uow.throttle.take("app:app", 1, now, timedelta(minutes=5), "third")
        await uow.commit()
    assert again == []  # still held by "new"


async def test_a_slot_cooling_down_is_reserved_for_when_it_frees_up(store: Store) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(seconds=0.7)
    async with store.uow() as uow:
        assert await uow.throttle.take("app:app", 1, now, timedelta(seconds=5), "a") == [(0, now)]
        await uow.throttle.release([("app:app", 0, "a", later)])  # its call ended: free in 0.7 s
        assert await uow.throttle.take("app:app", 1, now, timedelta(seconds=5), "b") == [(0, later)]
        assert await uow.throttle.take("app:app", 1, now, timedelta(seconds=5), "c") == []  # b holds it
        await uow.commit()


async def test_an_unreachable_database_falls_back_to_the_process_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = Store(CLOSED_PORT_MYSQL_URL)
    try:
        limiter = SharedLimiter(down, "user", LIMIT, WINDOW, fallback=SlidingWindowLimiter(LIMIT, WINDOW))
        arrivals = await asyncio.wait_for(burst([limiter], 2 * LIMIT), timeout=20)
        await limiter.aclose()
    finally:
        await down.dispose()
    assert len(arrivals) == 2 * LIMIT
    assert busiest_window(arrivals, WINDOW) <= LIMIT
    assert "database unavailable" in caplog.text
