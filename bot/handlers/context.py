"""The contexts handlers receive: one chat message (inside its unit of work) or one button press."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.cards.payload import ButtonPayload
from bot.handlers.deps import BotDeps
from bot.inbound import ClickIn, MessageIn
from bot.parse import Command, ParseError
from bot.texts import norm_locale
from store import UnitOfWork
from store.enums import InboxStatus, Role
from store.models import User

Later = Callable[[], Coroutine[Any, Any, Any]]


@dataclass
class MessageContext:
    """A chat message being handled. Handlers write through `uow` (committed with the inbox row by the
    caller), queue replies with `reply`, and queue slow work with `after_commit`."""

    deps: BotDeps
    message: MessageIn
    uow: UnitOfWork
    user: User
    now: datetime
    text: str  # mention placeholders stripped, normalised
    command: Command | None = None
    error: ParseError | None = None
    replies: list[str] = field(default_factory=list)
    later: list[tuple[str, Later]] = field(default_factory=list)
    status: InboxStatus = InboxStatus.PROCESSED

    @property
    def locale(self) -> str:
        return norm_locale(self.user.locale)

    @property
    def is_admin(self) -> bool:
        """In SMARTFLOW_ADMINS, or stored with the admin role (an import's `admin: true`)."""
        return self.message.sender_open_id in self.deps.config.admins or self.user.role == Role.ADMIN

    def reply(self, text: str) -> None:
        self.replies.append(text)

    def after_commit(self, name: str, work: Later) -> None:
        """Start `work` once the answer is sent and this message's transaction is committed."""
        self.later.append((name, work))


@dataclass
class ClickContext:
    """A button press on one of our cards, after its payload was checked."""

    deps: BotDeps
    click: ClickIn
    payload: ButtonPayload
    now: datetime
    locale: str  # the preview owner's
    owner_open_id: str

    @property
    def preview_id(self) -> str:
        return self.payload.p

    @property
    def idempotency_key(self) -> str:
        return self.click.dedupe_key
