"""Send limits that hold for the whole deployment: every process on one database takes its slots from the
same rows (store.models.SendSlot), so three workers together stay within Feishu's limits, not each alone."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.exc import SQLAlchemyError

from store.errors import StoreError
from store.models import SEND_BUCKET

if TYPE_CHECKING:
    from store.uow import Store

log = logging.getLogger(__name__)

# What a database that cannot be reached raises (a driver error, a pool or connect timeout).
UNAVAILABLE = (SQLAlchemyError, StoreError, OSError, TimeoutError)

POLL_SECONDS = 0.02  # every slot held (in flight or reserved): look again this often
PRUNE_EVERY = 2000  # takes between two sweeps of idle buckets
IDLE_BUCKET = timedelta(hours=1)


TAKE_AT_ONCE = 8  # slots one read may take for the waiters queued in this process
RELEASE_EVERY = 0.01  # releases within this are written together


@dataclass
class _Queue:
    """The waiters of one bucket in this process: they queue on `lock`; slots taken for them wait in
    `spare` as (slot, holder, when it frees up)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0
    spare: list[tuple[int, str, datetime]] = field(default_factory=list)  # (slot, holder, when it frees up)


class Limiter(Protocol):
    def slot(self, key: str) -> AbstractAsyncContextManager[float]: ...


class SharedLimiter:
    """At most `limit` calls per `window` seconds for each key, across every process on the database.

    Like the in-process limiter, a slot counts from when its call finished and an in-flight call holds its
    slot (under a lease of `lease_seconds`, so a process killed mid-call frees it later, not never). A waiter
    reserves the slot that frees up soonest and sleeps until then, so no process polls for a slot while one
    is merely cooling down. Within one process the waiters of a key queue behind one another, so only the
    first of them asks the database, and one read reserves slots for several of them.
    When the database cannot be reached the process falls back to `fallback` (its own limits) and says so
    in the log: sends go on, only the sharing is lost until the database answers again."""

    def __init__(
        self,
        store: Store,
        name: str,
        limit: int,
        window: float = 1.0,
        *,
        lease_seconds: float = 30.0,
        ahead: int = 0,
        fallback: Limiter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1 or window <= 0 or lease_seconds <= 0 or not 0 <= ahead <= TAKE_AT_ONCE:
            raise ValueError("limit must be >= 1, window and lease_seconds > 0, ahead 0..TAKE_AT_ONCE")
        self._store = store
        self._name = name
        self._limit = limit
        self._window = timedelta(seconds=window)
        self._lease = timedelta(seconds=lease_seconds)
        self._fallback = fallback
        self._clock = clock
        self._sleep = sleep
        # `ahead`: slots one read takes beyond the waiters queued, kept for this process's next calls while
        # their lease is young (for a large limit with a long window, e.g. 1000 a minute: one read in
        # `ahead` instead of one per call; holding a slot unused only ever lowers what is sent).
        self._ahead = ahead
        self._kept: dict[str, list[tuple[int, str, datetime]]] = {}
        self._queues: dict[str, _Queue] = {}
        self._freed: list[tuple[str, int, str, datetime]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._takes = 0
        self._degraded = False

    def _bucket(self, key: str) -> str:
        bucket = f"{self._name}:{key}"
        if len(bucket) > SEND_BUCKET:
            bucket = f"{self._name}:#" + hashlib.sha256(key.encode()).hexdigest()
        return bucket

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[float]:
        """Hold one of `key`'s slots for the duration of a call; yields the seconds waited for it."""
        bucket = self._bucket(key)
        started = time.monotonic()
        try:
            taken = await self._take(bucket)
        except UNAVAILABLE as exc:
            if self._fallback is None:
                raise
            if not self._degraded:
                log.warning(
                    "send limit %s: database unavailable (%s), limiting this process alone", bucket, exc
                )
                self._degraded = True
            async with self._fallback.slot(key) as waited:
                yield waited
            return
        if self._degraded:
            log.warning("send limit %s: database back, limits are shared again", bucket)
            self._degraded = False
        try:
            yield time.monotonic() - started
        finally:
            self._release(bucket, *taken)

    async def _take(self, bucket: str) -> tuple[int, str]:
        queue = self._queues.get(bucket)
        if queue is None:
            queue = self._queues[bucket] = _Queue(spare=self._young(bucket))
        queue.waiting += 1
        try:
            async with queue.lock:
                slot, holder, start = await self._reserve(bucket, queue)
        finally:
            queue.waiting -= 1
            if queue.waiting == 0:
                if self._ahead:
                    self._kept[bucket] = queue.spare  # for the next call (its lease is checked then)
                else:
                    for spare, spare_holder, spare_start in queue.spare:
                        self._release(bucket, spare, spare_holder, spare_start)  # unused: free when it was
                del self._queues[bucket]
        # The wait for a reserved slot is outside the queue, so the waiters behind reserve theirs meanwhile.
        wait = (start - self._clock()).total_seconds()
        if wait > 0:
            try:
                await self._sleep(wait)
            except BaseException:
                self._release(bucket, slot, holder, start)  # cancelled: nothing was sent
                raise
        return slot, holder

    async def _reserve(self, bucket: str, queue: _Queue) -> tuple[int, str, datetime]:
        """The next slot for the waiter at the head of `queue`: a spare one an earlier read reserved, or
        the soonest free ones (for as many waiters as are queued, up to TAKE_AT_ONCE)."""
        while True:
            now = self._clock()
            while queue.spare:
                slot, holder, start = queue.spare.pop(0)
                if (start + self._lease - now) > self._lease / 2:
                    return slot, holder, start
                self._release(bucket, slot, holder, start)  # too close to its lease's end to use
            holder = secrets.token_hex(16)
            async with self._store.uow() as uow:
                count = min(max(queue.waiting, self._ahead), TAKE_AT_ONCE)
                taken = await uow.throttle.take(bucket, self._limit, now, self._lease, holder, count=count)
                await uow.commit()
            if taken:
                queue.spare.extend((n, holder, start) for n, start in taken[1:])
                await self._maybe_prune(now)
                return taken[0][0], holder, taken[0][1]
            await self._sleep(POLL_SECONDS)  # every slot is held: look again shortly

    def _young(self, bucket: str) -> list[tuple[int, str, datetime]]:
        """The slots kept ahead for `bucket` whose lease leaves room for a whole call (a call holds its slot
        at most the lease less 5 s); the older ones are released unused."""
        now, young = self._clock(), []
        for slot, holder, start in self._kept.pop(bucket, []):
            if start + self._lease - now > self._lease * 3 / 4:
                young.append((slot, holder, start))
            else:
                self._release(bucket, slot, holder, start)
        return young

    def _release(self, bucket: str, slot: int, holder: str, free_at: datetime | None = None) -> None:
        """Queue the slot's release (by default: free a window from now); one write frees every slot
        released within RELEASE_EVERY (freeing a slot later than it could be never breaks the limit)."""
        self._freed.append((bucket, slot, holder, free_at or self._clock() + self._window))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._freed:
            await asyncio.sleep(RELEASE_EVERY)
            freed, self._freed = self._freed, []
            try:
                async with self._store.uow() as uow:
                    await uow.throttle.release(freed)
                    await uow.commit()
            except UNAVAILABLE as exc:
                # Their leases free the slots later: the limit holds, only these slots wait longer.
                log.warning(
                    "send limit %s: could not release %d slot(s) (%s); their leases free them",
                    self._name,
                    len(freed),
                    exc,
                )

    async def aclose(self) -> None:
        """Write the releases still queued (at shutdown), so the slots do not wait for their leases."""
        for bucket, kept in self._kept.items():
            for slot, holder, start in kept:
                self._release(bucket, slot, holder, start)  # unused: free when it was
        self._kept.clear()
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _maybe_prune(self, now: datetime) -> None:
        self._takes += 1
        if self._takes % PRUNE_EVERY:
            return
        try:
            async with self._store.uow() as uow:
                await uow.throttle.prune(now - IDLE_BUCKET, keep=self._bucket("app"))
                await uow.commit()
        except UNAVAILABLE as exc:
            log.warning("send limit %s: pruning idle buckets failed (%s)", self._name, exc)
