"""What a message handler receives: one chat message, answered by one service call."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard, TypeVar

from bot.cards.capture import build_captured_card
from bot.handlers.deps import BotDeps
from bot.inbound import MessageIn
from bot.parse import Command, ParseError
from bot.texts import norm_locale
from scheduler.services.inbound import Handled, InboundMessage
from scheduler.services.types import UserView

Later = Callable[[], Coroutine[Any, Any, Any]]
R = TypeVar("R")


@dataclass
class MessageContext:
    """A chat message being handled. A handler calls one service with `inbound` (the service records the
    message, makes the change and commits), passes its answer to `seen`, queues replies with `reply` and
    slow work with `after_commit`."""

    deps: BotDeps
    message: MessageIn
    inbound: InboundMessage
    now: datetime
    text: str  # mention placeholders stripped, normalised
    command: Command | None = None
    error: ParseError | None = None
    replies: list[str] = field(default_factory=list)
    later: list[tuple[str, Later]] = field(default_factory=list)
    user: UserView | None = None  # the sender, once a service answered
    first: bool = False  # the sender's first message (a welcome goes before the answer)
    react: str | None = None  # an emoji to put on the message at once (a report or task was taken in)
    cards: list[dict[str, Any]] = field(default_factory=list)  # cards to send after the replies
    replies_instead: list[str] = field(default_factory=list)  # each card's text, sent if the card cannot be

    @property
    def locale(self) -> str:
        return norm_locale(self.user.locale if self.user is not None else self.deps.config.locale)

    @property
    def timezone(self) -> str:
        return self.user.timezone if self.user is not None else self.deps.config.timezone

    def seen(self, handled: Handled[R] | None) -> TypeGuard[Handled[R]]:
        """Take a service's answer: False when the message had already been handled (a redelivery: say
        nothing), else the sender is known from here on."""
        if handled is None:
            return False
        self.user = handled.user
        self.first = self.first or handled.first
        return True

    def reply(self, text: str) -> None:
        self.replies.append(text)

    def task_reply(self, text: str, title: str, task_id: str) -> None:
        """A reply about one task: in the user's own chat a card saying `text` with an Edit button that
        opens the task's form (the text alone when Feishu refuses the card); in a group the text."""
        if self.message.chat_type != "p2p":
            self.reply(text)
            return
        self.cards.append(build_captured_card(text, self.locale, title, task_id=task_id))
        self.replies_instead.append(text)

    def after_commit(self, name: str, work: Later) -> None:
        """Start `work` once the answer is sent and this message's transaction is committed."""
        self.later.append((name, work))
