"""Inbound Feishu traffic recorded once (one inbox row per message, click or event key) and settled in the
same transaction as what it changed: a redelivery finds its row and does nothing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from scheduler.services.types import UserView, user_view
from scheduler.services.users import NewUser, find_or_create
from store import Store, UnitOfWork, column_length, short_key
from store.enums import InboxKind, InboxStatus
from store.errors import DatabaseError
from store.models import InboxEntry, Trigger, User

__all__ = [
    "MESSAGE_EVENT",
    "Handled",
    "InboundMessage",
    "NewUser",
    "Turn",
    "acknowledge",
    "is_database_error",
    "record",
    "record_event",
    "record_failed",
    "record_ignored",
    "settle",
    "turn",
]

log = logging.getLogger(__name__)

MESSAGE_EVENT = "im.message.receive_v1"
R = TypeVar("R")


async def record(
    uow: UnitOfWork,
    kind: InboxKind,
    key: str,
    event_type: str,
    now: datetime,
    *,
    status: InboxStatus = InboxStatus.RECEIVED,
    error: str | None = None,
) -> InboxEntry | None:
    """Insert the key's row (race-safe); None when it was already recorded. The row is returned so its
    outcome can be set in the same transaction without reading it back."""
    row = InboxEntry(
        kind=kind,
        dedupe_key=short_key(key),
        event_type=event_type,
        status=status,
        received_at=now,
        processed_at=None if status == InboxStatus.RECEIVED else now,
        error=error,
    )
    return row if await uow.inbox.add_if_absent(row) else None


def settle(row: InboxEntry, status: InboxStatus, now: datetime, error: str | None = None) -> None:
    row.status = status
    row.processed_at = now
    row.error = error


@dataclass(frozen=True)
class InboundMessage:
    """A chat message as the services see it: its inbox key, its sender, and what a first message creates."""

    key: str
    open_id: str
    now: datetime
    new_user: NewUser
    admins: frozenset[str] = frozenset()  # SMARTFLOW_ADMINS: checked live, never stored
    event_type: str = MESSAGE_EVENT


@dataclass(frozen=True)
class Handled(Generic[R]):
    """A message's outcome: the sender as they are after it, and what the use case returns."""

    user: UserView
    result: R
    first: bool = False  # the sender's first message: their user row was created by it


@dataclass
class Turn:
    """One message inside its unit of work (service-internal): the sender's row and the inbox row."""

    uow: UnitOfWork
    user: User
    message: InboundMessage
    status: InboxStatus = InboxStatus.PROCESSED
    error: str | None = field(default=None)
    first: bool = False

    @property
    def now(self) -> datetime:
        return self.message.now

    @property
    def view(self) -> UserView:
        return user_view(self.user, self.message.admins)


@asynccontextmanager
async def turn(store: Store, message: InboundMessage) -> AsyncIterator[Turn | None]:
    """`async with turn(store, msg) as t:` the message's transaction: its inbox row, the sender (created on
    a first message), the change, then the inbox row settled and committed together. None: a redelivery."""
    async with store.uow() as uow:
        row = await record(uow, InboxKind.MESSAGE, message.key, message.event_type, message.now)
        if row is None:
            log.info("message redelivered, ignored", extra={"inbox_key": message.key})
            yield None
            return
        user, first = await find_or_create(uow, message.open_id, message.new_user, message.now)
        current = Turn(uow, user, message, first=first)
        yield current
        settle(row, current.status, message.now, current.error)
        await uow.commit()


async def handle(
    store: Store, message: InboundMessage, work: Callable[[Turn], Awaitable[R]]
) -> Handled[R] | None:
    """Run one use case inside the message's transaction; None when the message was already handled."""
    async with turn(store, message) as current:
        if current is None:
            return None
        result = await work(current)
        view = current.view
    return Handled(view, result, current.first)


async def _nothing(_: Turn) -> None:
    return None


async def acknowledge(store: Store, message: InboundMessage) -> Handled[None] | None:
    """A message that changes nothing (help, a question the bot cannot read): recorded, the sender known."""
    return await handle(store, message, _nothing)


async def record_failed(store: Store, message: InboundMessage) -> Handled[None] | None:
    """A message whose handling failed (its transaction rolled back): recorded as failed so Feishu's
    redeliveries do nothing; the sender is returned to say so in their language."""

    async def failed(current: Turn) -> None:
        current.status = InboxStatus.FAILED

    return await handle(store, message, failed)


async def record_ignored(
    store: Store, key: str, event_type: str, now: datetime, reason: str, *, failed: bool = False
) -> None:
    """A message not for the bot (another bot's, not addressed to it): recorded once as ignored, why.
    `failed`: a message that can never be handled (an id longer than any stored one), recorded as failed
    so Feishu's redeliveries do nothing."""
    status = InboxStatus.FAILED if failed else InboxStatus.IGNORED
    async with store.uow() as uow:
        if await record(uow, InboxKind.MESSAGE, key, event_type, now, status=status, error=reason):
            await uow.commit()


def unstorable_ids(open_id: str, message_id: str) -> str | None:
    """Why a message's ids can never be stored (longer than their columns), or None."""
    if len(open_id) > column_length(User, "open_id"):
        return f"sender open_id longer than {column_length(User, 'open_id')} characters"
    if len(message_id) > column_length(Trigger, "source_message_id"):
        return f"message_id longer than {column_length(Trigger, 'source_message_id')} characters"
    return None


async def record_event(
    store: Store, key: str, event_type: str, now: datetime, status: InboxStatus = InboxStatus.IGNORED
) -> bool:
    """An event: recorded once (marked ignored when not acted on); False when it was recorded before."""
    async with store.uow() as uow:
        if await record(uow, InboxKind.EVENT, key, event_type, now, status=status):
            await uow.commit()
            return True
    return False


def is_database_error(exc: BaseException) -> bool:
    """True when `exc` came from the database or its driver (not from our code): the bot answers with an
    error status so Feishu redelivers the message later."""
    return isinstance(exc, DatabaseError)
