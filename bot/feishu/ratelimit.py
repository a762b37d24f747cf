"""Client-side send throttle: at most N calls per sliding window per key; callers wait, nothing is dropped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

_PRUNE_EVERY = 1024


class Limiter(Protocol):
    """What the client asks of a send limit: hold one of a key's slots for the duration of a call (the
    context yields the seconds waited). SlidingWindowLimiter limits one process; a limiter shared through
    the database (store.throttle.SharedLimiter) limits every process together."""

    def slot(self, key: str) -> AbstractAsyncContextManager[float]: ...


@dataclass
class _Slot:
    finished_at: float | None = None  # None while the call is in flight


@dataclass
class _KeyState:
    slots: list[_Slot] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    released: asyncio.Event = field(default_factory=asyncio.Event)


class SlidingWindowLimiter:
    """At most `limit` calls per `window` seconds for each key, admitted in arrival order.

    Feishu counts a request when it arrives, which is some time after we start it. A slot therefore counts
    from when its call *finished* (an upper bound on its arrival), and an in-flight call holds its slot, so
    no `window` at the server can ever see more than `limit` of our calls.
    """

    def __init__(
        self,
        limit: int,
        window: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self._limit = limit
        self._window = window
        self._clock = clock
        self._sleep = sleep
        self._keys: dict[str, _KeyState] = {}
        self._calls = 0

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[float]:
        """Hold one of `key`'s slots for the duration of a call; yields the seconds waited for it.

        Cancelling the wait is safe: nothing was sent and no slot is taken.
        """
        state, slot, waited = await self._acquire(key)
        try:
            yield waited
        finally:
            slot.finished_at = self._clock()
            state.released.set()

    async def _acquire(self, key: str) -> tuple[_KeyState, _Slot, float]:
        self._calls += 1
        if self._calls % _PRUNE_EVERY == 0:
            self._prune()
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _KeyState()
        started = self._clock()
        # The per-key lock queues waiters so a burst is released in arrival order, one slot at a time.
        async with state.lock:
            while True:
                now = self._clock()
                state.slots = [
                    s for s in state.slots if s.finished_at is None or now - s.finished_at < self._window
                ]
                if len(state.slots) < self._limit:
                    slot = _Slot()
                    state.slots.append(slot)
                    return state, slot, now - started
                finished = [s.finished_at for s in state.slots if s.finished_at is not None]
                if finished:
                    await self._sleep(min(finished) + self._window - now)
                else:
                    # Every slot is in flight: the earliest a slot can free up is when one of them finishes.
                    state.released.clear()
                    await state.released.wait()

    def _prune(self) -> None:
        # Thousands of users each get a card now and then; forget keys that are idle and unlocked.
        now = self._clock()
        idle = [
            k
            for k, s in self._keys.items()
            if not s.lock.locked()
            and all(x.finished_at is not None and now - x.finished_at >= self._window for x in s.slots)
        ]
        for k in idle:
            del self._keys[k]

    def __len__(self) -> int:
        return len(self._keys)


class AllOf:
    """Several limits on the same calls at once, e.g. an Open API method's 1000 a minute and 50 a second:
    a call holds a slot under each, taken in the order given (the longest window first, so a call that
    waits for the minute does not sit on a second's slot meanwhile). Yields the seconds waited in all."""

    def __init__(self, *limiters: Limiter) -> None:
        if not limiters:
            raise ValueError("at least one limiter")
        self.limiters = limiters

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[float]:
        async with AsyncExitStack() as stack:
            waited = 0.0
            for limiter in self.limiters:
                waited += await stack.enter_async_context(limiter.slot(key))
            yield waited

    async def aclose(self) -> None:
        """Close the limiters that need it (a shared one writes the releases it still holds)."""
        for limiter in self.limiters:
            close = getattr(limiter, "aclose", None)
            if close is not None:
                await close()


def per_minute_and_second(
    per_minute: int,
    per_second: int,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AllOf:
    """This process's own count of one Open API method's two limits, per minute and per second."""
    return AllOf(
        SlidingWindowLimiter(per_minute, window=60.0, clock=clock, sleep=sleep),
        SlidingWindowLimiter(per_second, window=1.0, clock=clock, sleep=sleep),
    )
