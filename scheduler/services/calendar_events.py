"""Applied blocks written to a connected user's Feishu calendar, as events on their primary calendar.

Apply and Undo queue the effect `calendar.block` (scheduler.services.effects) for each block they add, move
or remove, in their own transaction and only for a user with a working calendar connection. The worker runs
it later (retried with backoff until it lands), and effects are not ordered, so the effect does not say
"create" or "move": `BlockEvents.sync` brings the block's event in line with the block as it is then.

- Block there, no event yet: create one (idempotency key from the block id and version, so a retried create,
  or two workers creating at once from the same state, make one event), then store its id with the block.
- Block there with an event: PATCH it to the block's times (an event the user deleted in Feishu is created
  again).
- Block gone (undone): DELETE its event (one already deleted counts as done).

The event id is stored under the block's row lock, checking the block did not change meanwhile; when it did
(moved again, or another worker stored its own event first) the sync runs again on the new state, so Feishu
ends up matching the last state whatever order the effects ran in.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from scheduler.services import effects
from scheduler.services.calendar import BusySpan, CalendarUnavailable
from scheduler.services.usertokens import ConnectionBroken, NotConnected, TokenUnavailable
from store import Store, UnitOfWork
from store.enums import ConnectionStatus
from store.models import Block, CalendarConnection

log = logging.getLogger(__name__)

EFFECT = "calendar.block"
REMINDER_MINUTES = 5
MAX_ROUNDS = 3  # a sync that keeps finding the block changed under it gives up and is retried later
DESCRIPTION = {
    "zh": "由 SmartFlow 安排的专注时间（任务：{title}）。在 SmartFlow 中移动或撤销，这里会同步更新。",
    "en": "Focus time planned by SmartFlow (task: {title}). Moving or undoing it there moves this event.",
}


@dataclass(frozen=True)
class EventDraft:
    """What the block's event should say."""

    summary: str
    description: str
    start: datetime
    end: datetime
    timezone: str
    reminder_minutes: int = REMINDER_MINUTES


class CalendarWriteError(Exception):
    """A calendar call failed: `code` is Feishu's (or timeout/network/http_N); `retryable` whether the same
    call later may work."""

    def __init__(
        self, code: str, message: str = "", *, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class CalendarWriter(Protocol):
    """The user's own calendar, with their access token (bot.feishu.calendar.FeishuUserCalendar)."""

    async def primary_calendar(self, access_token: str) -> str: ...

    async def create_event(
        self, access_token: str, calendar_id: str, draft: EventDraft, idempotency_key: str
    ) -> str:
        """The new event's id (the same key again: the same event)."""
        ...

    async def update_event(
        self, access_token: str, calendar_id: str, event_id: str, draft: EventDraft
    ) -> bool:
        """False when the event is not there any more (deleted in Feishu)."""
        ...

    async def delete_event(self, access_token: str, calendar_id: str, event_id: str) -> None:
        """Delete it; an event already gone counts as deleted."""
        ...


class EventLister(Protocol):
    """The events of the user's own calendar between two instants, with their token."""

    async def primary_calendar(self, access_token: str) -> str: ...

    async def events_between(
        self, access_token: str, calendar_id: str, start: datetime, end: datetime
    ) -> Sequence[BusySpan]:
        """The busy events (titles, event ids), recurring ones expanded; raises CalendarUnavailable."""
        ...


class TokenSource(Protocol):
    async def access_token(self, user_id: str, now: datetime) -> str: ...


def idempotency_key(block_id: str, version: int, salt: str = "") -> str:
    """Feishu's idempotency key for the block's event at this version (at most 64 characters)."""
    digest = hashlib.sha256(f"{block_id}|{version}|{salt}".encode()).hexdigest()[:40]
    return f"sf-{digest}"


async def queue_for(
    uow: UnitOfWork,
    user_id: str,
    now: datetime,
    *,
    kept: Iterable[Block] = (),
    removed: Iterable[Block] = (),
    connections: Mapping[str, CalendarConnection] | None = None,
) -> int:
    """Inside the caller's transaction: queue the sync of these blocks' events when the user's calendar is
    connected; how many were queued. `kept`: blocks added or moved; `removed`: blocks being deleted (their
    event ids go with the effect: the rows will be gone). One statement for a user without a connection,
    none when there are no blocks, or with `connections` (the caller read them: a user left out has none)."""
    rows = [(b, False) for b in kept] + [(b, True) for b in removed]
    if not rows:
        return 0
    if connections is not None:
        connection = connections.get(user_id)
    else:
        connection = await uow.connections.get(user_id)
    if connection is None or connection.status != ConnectionStatus.CONNECTED:
        return 0
    for b, gone in rows:
        payload: dict[str, Any] = {"block_id": b.id, "version": b.version}
        if b.calendar_event_id:
            payload |= {"calendar_id": b.calendar_id, "event_id": b.calendar_event_id}
        key = f"cal:{b.id}:{b.version}" + (":removed" if gone else "")
        await effects.queue(uow, user_id, EFFECT, key=key, payload=payload, now=now)
    return len(rows)


@dataclass(frozen=True)
class _BlockView:
    """What the sync needs of a block, read in one unit of work."""

    id: str
    user_id: str
    version: int
    start: datetime
    end: datetime
    calendar_id: str | None
    calendar_event_id: str | None


@dataclass(frozen=True)
class _State:
    block: _BlockView | None
    title: str
    timezone: str
    locale: str


class BlockEvents:
    """Runs the `calendar.block` effect: the block's Feishu event brought in line with the block."""

    def __init__(self, store: Store, tokens: TokenSource, writer: CalendarWriter) -> None:
        self.store = store
        self.tokens = tokens
        self.writer = writer

    async def sync(self, user_id: str, args: Mapping[str, Any], now: datetime, attempts: int = 0) -> str:
        """Make Feishu match the block; a short result ("created evt_1", "deleted evt_1", "none"). Raises
        CalendarWriteError. `attempts`: earlier attempts of this effect (one may have created the event at
        Feishu without our hearing back)."""
        block_id = args.get("block_id")
        if not isinstance(block_id, str) or not block_id:
            raise CalendarWriteError("bad_effect", "calendar.block without a block_id", retryable=False)
        token = await self._token(user_id, now)
        if token is None:
            return "not connected"
        for _ in range(MAX_ROUNDS):
            state = await self._read(block_id)
            if state.block is None or state.block.user_id != user_id:
                return await self._remove(token, args, now, attempts)
            done = await self._bring_in_line(token, state, user_id)
            if done is not None:
                return done
        raise CalendarWriteError("block_changing", "the block kept changing during the sync", retryable=True)

    async def _token(self, user_id: str, now: datetime) -> str | None:
        try:
            return await self.tokens.access_token(user_id, now)
        except NotConnected:
            return None  # disconnected since: nothing of ours may be written any more
        except ConnectionBroken as exc:
            raise CalendarWriteError(
                "connection_broken", "the user must /connect again", retryable=False
            ) from exc
        except TokenUnavailable as exc:
            raise CalendarWriteError(exc.code, "user token unavailable", retryable=exc.retryable) from exc

    async def _read(self, block_id: str) -> _State:
        async with self.store.uow(readonly=True) as uow:
            b = await uow.blocks.get(block_id)
            if b is None:
                return _State(None, "", "", "")
            task = await uow.tasks.get(b.task_id)
            user = await uow.users.get(b.user_id)
            view = _BlockView(b.id, b.user_id, b.version, b.start, b.end, b.calendar_id, b.calendar_event_id)
            return _State(
                view,
                task.title if task is not None else "",
                user.timezone if user is not None else "Asia/Shanghai",
                user.locale if user is not None else "zh",
            )

    async def _remove(self, token: str, args: Mapping[str, Any], now: datetime, attempts: int) -> str:
        event_id, calendar_id = args.get("event_id"), args.get("calendar_id")
        if not isinstance(calendar_id, str) or not calendar_id:
            calendar_id = None
        if not isinstance(event_id, str) or not event_id:
            version = args.get("version")
            if attempts == 0 or not isinstance(version, int):
                return "none"  # never written (a create still running stores nothing once the block is gone)
            # An earlier attempt may have created the event and lost the answer (a timeout): the same
            # idempotency key finds it (or makes a placeholder), and it is deleted either way.
            calendar_id = calendar_id or await self.writer.primary_calendar(token)
            probe = EventDraft("SmartFlow", "", now, now + timedelta(minutes=1), "UTC")
            event_id = await self.writer.create_event(
                token, calendar_id, probe, idempotency_key(str(args["block_id"]), version)
            )
        calendar_id = calendar_id or await self.writer.primary_calendar(token)
        await self.writer.delete_event(token, calendar_id, event_id)
        return f"deleted {event_id}"

    async def _bring_in_line(self, token: str, state: _State, user_id: str) -> str | None:
        """One round; None when the block changed meanwhile (run another round on the new state)."""
        block = state.block
        assert block is not None
        draft = _draft(block, state)
        calendar_id = block.calendar_id or await self.writer.primary_calendar(token)
        if block.calendar_event_id:
            if await self.writer.update_event(token, calendar_id, block.calendar_event_id, draft):
                return f"patched {block.calendar_event_id}"
            log.info("the block's event was deleted in Feishu: writing it again", extra={"user_id": user_id})
            key = idempotency_key(block.id, block.version, salt=block.calendar_event_id)
        else:
            key = idempotency_key(block.id, block.version)
        event_id = await self.writer.create_event(token, calendar_id, draft, key)
        stored = await self._store(block, calendar_id, event_id)
        if stored == "stored":
            return f"created {event_id}"
        if stored in ("gone", "other"):  # undone meanwhile, or another worker's event was kept: not ours
            await self.writer.delete_event(token, calendar_id, event_id)
            return f"deleted {event_id}" if stored == "gone" else None
        return None  # moved meanwhile: the next round moves the event

    async def _store(self, seen: _BlockView, calendar_id: str, event_id: str) -> str:
        """Keep the event id with the block: "stored"; "moved" (stored, but the block moved since `seen`:
        the caller syncs again), "gone" (deleted) or "other" (another worker stored its event first: this
        one is a duplicate)."""
        async with self.store.uow() as uow:
            block = await uow.blocks.get_for_update(seen.id)
            if block is None:
                return "gone"
            if block.calendar_event_id not in (None, seen.calendar_event_id, event_id):
                return "other"
            moved = block.version != seen.version or block.start != seen.start or block.end != seen.end
            block.calendar_id, block.calendar_event_id = calendar_id, event_id
            await uow.commit()
        return "moved" if moved else "stored"


def _draft(block: _BlockView, state: _State) -> EventDraft:
    locale = "en" if state.locale == "en" else "zh"
    title = state.title or ("Focus" if locale == "en" else "专注")
    return EventDraft(
        summary=title,
        description=DESCRIPTION[locale].format(title=title),
        start=block.start,
        end=block.end,
        timezone=state.timezone,
    )


class OwnCalendar:
    """OwnCalendarReader: a connected user's busy time read from their primary calendar (instance view)
    instead of free/busy, so the planner (and the cards) know each meeting's title, and our own events are
    known by their ids. Any failure (not connected, broken, Feishu down) answers None: free/busy then."""

    def __init__(self, tokens: TokenSource, lister: EventLister) -> None:
        self.tokens = tokens
        self.lister = lister
        self._primary: dict[str, str] = {}  # user id -> primary calendar id (it never changes)

    async def busy(
        self, user_id: str, start: datetime, end: datetime, now: datetime
    ) -> Sequence[BusySpan] | None:
        try:
            token = await self.tokens.access_token(user_id, now)
        except (NotConnected, ConnectionBroken, TokenUnavailable):
            return None
        try:
            calendar_id = self._primary.get(user_id)
            if calendar_id is None:
                calendar_id = self._primary[user_id] = await self.lister.primary_calendar(token)
            return await self.lister.events_between(token, calendar_id, start, end)
        except (CalendarWriteError, CalendarUnavailable) as exc:
            log.warning(
                "own calendar could not be read (%s): free/busy instead", exc, extra={"user_id": user_id}
            )
            return None
