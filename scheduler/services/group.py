"""Group commit: one write for the items many callers submit at the same moment."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class GroupWrite(Generic[ItemT, ResultT]):
    """One write for the items of many callers (group commit): an item submitted while a write is busy
    waits for the next one, which takes every item queued by then (at most `most`). When nothing is
    being written the item goes at the next turn of the event loop, so a lone caller waits for nothing.
    When a write of several items fails, each is written alone: only the items that fail alone fail."""

    def __init__(
        self,
        write: Callable[[list[ItemT]], Awaitable[Sequence[ResultT]]],
        most: int = 200,
        *,
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._write = write
        self._most = most
        self._before = before  # awaited before each write takes its items (to give way to other work)
        self._queued: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._writing: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._idle: asyncio.Event | None = None  # set while nothing is queued or being written
        self._submitted_at = float("-inf")  # the event loop's time of the last submit

    @property
    def pending(self) -> bool:
        """Items are being written or wait to be: an item submitted now does not go at once."""
        return bool(self._writing or self._queued)

    async def quiet(self, most_seconds: float, *, for_seconds: float = 0.0) -> None:
        """Wait until nothing is queued or being written, and nothing was submitted for `for_seconds`
        (a burst of callers is over, not merely between two of them), for at most `most_seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + most_seconds
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return
            if self.pending:
                if self._idle is None:
                    self._idle = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), left)
                continue
            since = loop.time() - self._submitted_at
            if since >= for_seconds:
                return
            await asyncio.sleep(min(for_seconds - since, left))

    async def submit(self, item: ItemT) -> ResultT:
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._submitted_at = asyncio.get_running_loop().time()
        self._queued.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain())
            self._writer.add_done_callback(self._stopped)
        return await future

    async def _drain(self) -> None:
        try:
            while self._queued:
                await asyncio.sleep(0)  # the callers of this turn of the loop join the write
                if self._before is not None:
                    await self._before()
                self._writing, self._queued = self._queued[: self._most], self._queued[self._most :]
                await self._settle(self._writing)
                self._writing = []
        finally:
            if self._idle is not None and not self._queued:
                self._idle.set()
                self._idle = None

    def _stopped(self, writer: asyncio.Task[None]) -> None:
        """The writer was cancelled (at shutdown), wherever it was: so are the callers still waiting."""
        if writer.cancelled():
            for _, future in self._writing + self._queued:
                future.cancel()
            self._writing, self._queued = [], []

    async def _settle(self, batch: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            # One item may be what failed: each is written alone, so the others do not fail with it.
            for one in batch:
                await self._settle([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
