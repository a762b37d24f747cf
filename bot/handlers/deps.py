"""What every handler needs: configuration, the store, the services, the outbound client, background work."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.texts import norm_locale
from scheduler.services.answers import AnswerWrites
from scheduler.services.capture import TaskReader
from scheduler.services.connect import CalendarLogin
from scheduler.services.pipeline import Pipeline
from scheduler.services.presses import Pressing
from scheduler.services.tasksync import TaskSync
from scheduler.services.types import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BotConfig:
    """What the handlers read from the configuration. app.wiring.bot_config builds it from the settings,
    which alone declare the defaults; this class declares none of them."""

    verification_token: str
    encrypt_key: str
    admins: frozenset[str]
    max_body_bytes: int
    body_read_seconds: float  # SMARTFLOW_BODY_READ_SECONDS
    timezone: str
    locale: str
    day_start: str
    day_end: str
    daily_card_cap: int
    grid_minutes: int
    bot_open_id: str  # when known, group messages must mention exactly this open_id
    click_budget_seconds: float  # SMARTFLOW_CLICK_ANSWER_SECONDS


class Outbound(Protocol):
    """The Feishu calls handlers make (bot.feishu.client.FeishuClient)."""

    async def send_text(
        self, receive_id: str, text: str, uuid: str, receive_id_type: str | None = None
    ) -> str: ...
    async def reply_text(self, message_id: str, text: str, uuid: str) -> str: ...
    async def send_card(self, open_id: str, card: Mapping[str, Any], uuid: str) -> str: ...
    async def delayed_update(self, token: str, card: Mapping[str, Any]) -> None: ...
    async def patch_card(self, message_id: str, card: Mapping[str, Any]) -> None: ...
    async def add_reaction(self, message_id: str, emoji_type: str) -> str: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class Background:
    """Work started after an answer was sent; tracked so shutdown (and tests) can wait for it."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.failures = 0

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.failures += 1
            log.error("background %s failed: %s", task.get_name(), exc, exc_info=exc)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, seconds: float | None = None) -> None:
        """Wait until no background work is left (work may start more work)."""
        async with asyncio.timeout(seconds):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, seconds: float = 10.0) -> None:
        try:
            await self.drain(seconds)
        except TimeoutError:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class KeyedLocks:
    """One asyncio lock per key, dropped when no one holds or waits for it: the answers to one user's
    messages go out one message after another, in the order the messages were handled."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


# Who holds a card press while this process finishes it; after the lease a worker may finish it instead.
PROCESS_ID = f"api:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
PRESS_LEASE_SECONDS = 30.0


class CardUpdates:
    """How a card is updated after a press answered before it was done. Feishu limits the delayed update (the
    callback's token) and the message PATCH each on its own (50 calls a second), so while this process has
    more delayed updates under way than PATCHes, the next card goes by PATCH: many presses at once are
    shown in half the time. A card without a message id, or without a token, takes the other way."""

    def __init__(self) -> None:
        self.delayed = 0  # delayed updates under way (waiting for a send slot, or sent and not answered)
        self.patches = 0

    def by_patch(self, token: str, message_id: str) -> bool:
        if not token or not message_id:
            return bool(message_id)
        return self.patches < self.delayed


@dataclass
class BotDeps:
    store: Store
    pipeline: Pipeline
    outbound: Outbound
    config: BotConfig
    clock: Callable[[], datetime] = utc_now
    background: Background = field(default_factory=Background)
    answer_order: KeyedLocks = field(default_factory=KeyedLocks)  # per sender open_id
    # Storing and recording chat answers, one write for the messages handled at the same moment.
    answer_writes: AnswerWrites = field(init=False)
    # Recording and finishing card presses, those of the same moment together.
    presses: Pressing = field(init=False)
    card_updates: CardUpdates = field(default_factory=CardUpdates)
    task_reader: TaskReader | None = None  # a model reading tasks in plain words (None: the parser alone)
    # /connect's OAuth flow (None: SMARTFLOW_PUBLIC_URL or SMARTFLOW_SECRET_KEY unset, /connect is off)
    calendar_login: CalendarLogin | None = None
    # Feishu Tasks read for connected users (None: /connect is off); a task change event syncs its users now
    task_sync: TaskSync | None = None

    def __post_init__(self) -> None:
        self.answer_writes = AnswerWrites(self.store)
        self.presses = Pressing(
            self.store,
            worker_id=PROCESS_ID,
            lease_seconds=PRESS_LEASE_SECONDS,
            default_locale=norm_locale(self.config.locale),
            grid_minutes=self.config.grid_minutes,
            busy=self.pipeline.busy,
        )
