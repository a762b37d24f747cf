"""The per-key sliding-window throttle, on an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from bot.feishu.ratelimit import Limiter, SlidingWindowLimiter, per_minute_and_second


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _call(limiter: Limiter, key: str, took: float = 0.0, clock: FakeClock | None = None) -> float:
    async with limiter.slot(key) as waited:
        if clock is not None:
            clock.now += took
        return waited


async def test_five_pass_and_the_sixth_waits_one_window(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(5, clock=clock, sleep=clock.sleep)

    waits = [await _call(limiter, "ou_a") for _ in range(6)]

    assert waits == [0.0] * 5 + [pytest.approx(1.0)]
    assert clock.sleeps == [pytest.approx(1.0)]


async def test_keys_are_independent(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await _call(limiter, "ou_a")

    assert await _call(limiter, "ou_b") == 0.0
    assert clock.sleeps == []


async def test_window_counts_from_when_a_call_finished(clock: FakeClock) -> None:
    # A call that took 0.4 s may have reached Feishu only at its end; the next burst must wait for that.
    limiter = SlidingWindowLimiter(2, clock=clock, sleep=clock.sleep)
    await _call(limiter, "k", took=0.4, clock=clock)
    await _call(limiter, "k")

    waited = await _call(limiter, "k")

    assert waited == pytest.approx(1.0)
    assert clock.now == pytest.approx(50.0 + 0.4 + 1.0)


async def test_burst_is_released_in_arrival_order(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(2, clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def call(i: int) -> None:
        async with limiter.slot("k"):
            order.append(i)

    await asyncio.gather(*(call(i) for i in range(7)))

    assert order == list(range(7))
    assert len(clock.sleeps) == 3  # 7 calls at 2 per window: three waits of one window each
    assert sum(clock.sleeps) == pytest.approx(3.0)


async def test_in_flight_calls_hold_their_slots(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(1, clock=clock, sleep=clock.sleep)
    started = asyncio.Event()
    release = asyncio.Event()
    second_admitted = False

    async def slow() -> None:
        async with limiter.slot("k"):
            started.set()
            await release.wait()

    async def second() -> None:
        nonlocal second_admitted
        async with limiter.slot("k"):
            second_admitted = True

    first_task = asyncio.create_task(slow())
    await started.wait()
    second_task = asyncio.create_task(second())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not second_admitted

    release.set()
    await asyncio.gather(first_task, second_task)
    assert second_admitted
    assert clock.sleeps == [pytest.approx(1.0)]


async def test_cancelled_waiter_takes_no_slot(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(1, clock=clock, sleep=clock.sleep)
    hold = asyncio.Event()

    async def holder() -> None:
        async with limiter.slot("k"):
            await hold.wait()

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(_call(limiter, "k"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    hold.set()
    await h

    clock.now += 1.0
    assert await _call(limiter, "k") == 0.0


async def test_idle_keys_are_forgotten(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(5, clock=clock, sleep=clock.sleep)
    for i in range(1023):
        await _call(limiter, f"ou_{i}")
    assert len(limiter) == 1023

    clock.now += 2
    await _call(limiter, "ou_new")  # the 1024th call prunes

    assert len(limiter) == 1


async def test_per_minute_limit_holds_behind_the_per_second_one(clock: FakeClock) -> None:
    # An Open API method's 1000 a minute and 50 a second: 1000 calls take 19 one-second waits, the 1001st
    # waits for the first call's minute to end (60 s after it), not merely for the next second.
    limiter = per_minute_and_second(1000, 50, clock=clock, sleep=clock.sleep)

    waits = [await _call(limiter, "app") for _ in range(1000)]
    assert sum(1 for w in waits if w > 0) == 19
    assert clock.now == pytest.approx(50.0 + 19)

    assert await _call(limiter, "app") == pytest.approx(60.0 - 19)
    assert clock.now == pytest.approx(50.0 + 60)
