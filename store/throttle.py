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

POLL_SECONDS = 0.01  # every slot held by a call in flight: look again this often
MAX_WAIT_STEP = 0.25  # never sleep longer than this before looking again (a slot can free up early)
PRUNE_EVERY = 2000  # takes between two sweeps of idle buckets
IDLE_BUCKET = timedelta(hours=1)


class Limiter(Protocol):
    def slot(self, key: str) -> AbstractAsyncContextManager[float]: ...


class SharedLimiter:
    """At most `limit` calls per `window` seconds for each key, across every process on the database.

    Like the in-process limiter, a slot counts from when its call finished and an in-flight call holds its
    slot (under a lease of `lease_seconds`, so a process killed mid-call frees it later, not never). Within
    one process the waiters of a key queue behind one another, so only the first of them asks the database.
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
        fallback: Limiter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1 or window <= 0 or lease_seconds <= 0:
            raise ValueError("limit must be >= 1, window and lease_seconds > 0")
        self._store = store
        self._name = name
        self._limit = limit
        self._window = timedelta(seconds=window)
        self._lease = timedelta(seconds=lease_seconds)
        self._fallback = fallback
        self._clock = clock
        self._sleep = sleep
        self._queues: dict[str, tuple[asyncio.Lock, int]] = {}  # a key's queue and how many are in it
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
            await self._release(bucket, *taken)

    async def _take(self, bucket: str) -> tuple[int, str]:
        queue, waiting = self._queues.get(bucket, (asyncio.Lock(), 0))
        self._queues[bucket] = (queue, waiting + 1)
        holder = secrets.token_hex(16)
        try:
            async with queue:
                while True:
                    now = self._clock()
                    async with self._store.uow() as uow:
                        slot, free_at = await uow.throttle.take(
                            bucket, self._limit, now, now + self._lease, holder
                        )
                        await uow.commit()
                    if slot is not None:
                        await self._maybe_prune(now)
                        return slot, holder
                    wait = POLL_SECONDS if free_at is None else (free_at - now).total_seconds()
                    await self._sleep(min(max(wait, 0.001), MAX_WAIT_STEP))
        finally:
            queue, waiting = self._queues[bucket]
            if waiting <= 1:
                del self._queues[bucket]
            else:
                self._queues[bucket] = (queue, waiting - 1)

    async def _release(self, bucket: str, slot: int, holder: str) -> None:
        free_at = self._clock() + self._window
        try:
            async with self._store.uow() as uow:
                await uow.throttle.release(bucket, slot, holder, free_at)
                await uow.commit()
        except UNAVAILABLE as exc:
            # The lease frees the slot later: the limit holds, only this slot waits longer.
            log.warning(
                "send limit %s: could not release slot %d (%s); its lease frees it", bucket, slot, exc
            )

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
