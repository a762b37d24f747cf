"""What arrives from Feishu, as frozen data the router and handlers read (no SDK types past the gateway)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias


@dataclass(frozen=True)
class Mention:
    key: str  # the placeholder in the text, e.g. "@_user_1"
    open_id: str
    name: str = ""


@dataclass(frozen=True)
class MessageIn:
    """An im.message.receive_v1 event."""

    event_id: str
    message_id: str
    chat_id: str
    chat_type: str  # p2p | group
    sender_open_id: str
    sender_type: str  # user | app | ...
    message_type: str  # text | post | image | ...
    content: str  # the raw JSON string Feishu sends, shaped by message_type
    mentions: tuple[Mention, ...] = ()
    create_time_ms: int | None = None

    @property
    def text(self) -> str | None:
        """The text of a text message (placeholders such as `@_user_1` kept), else None."""
        if self.message_type != "text":
            return None
        try:
            body = json.loads(self.content)
        except ValueError:
            return None
        text = body.get("text") if isinstance(body, dict) else None
        return text if isinstance(text, str) else None

    def mentions_open_id(self, open_id: str) -> bool:
        return any(m.open_id == open_id for m in self.mentions)


@dataclass(frozen=True)
class ClickIn:
    """A card.action.trigger callback: a button on one of our cards was pressed."""

    event_id: str
    operator_open_id: str
    value: object  # the button's callback value, untrusted (bot.cards.payload.unpack checks it)
    tag: str
    open_message_id: str
    open_chat_id: str
    callback_token: str  # for a delayed card update (valid 30 minutes)
    received_at: float | None = None  # time.monotonic() when the request arrived (the answer's deadline)

    @property
    def dedupe_key(self) -> str:
        """(message, operator, action value): the same press delivered twice is one press."""
        try:
            value = json.dumps(self.value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError):
            value = repr(self.value)
        return f"click:{self.open_message_id}:{self.operator_open_id}:{value}"


@dataclass(frozen=True)
class EventIn:
    """Any other subscribed event the bot acknowledges but does not act on."""

    event_id: str
    event_type: str


Inbound: TypeAlias = MessageIn | ClickIn | EventIn
CallbackAnswer: TypeAlias = Mapping[str, Any]  # {"toast": {...}, "card": {"type": "raw", "data": {...}}}


class Receiver(Protocol):
    """What the gateway hands verified inbound traffic to (the bot's router)."""

    async def on_message(self, message: MessageIn) -> None:
        """Record and handle a chat message; slow work is scheduled, not awaited."""

    async def on_click(self, click: ClickIn) -> CallbackAnswer:
        """Handle a button press and return the callback answer (toast and/or replacement card)."""

    async def on_event(self, event: EventIn) -> None:
        """Record an event the bot subscribes to but ignores."""
