"""What arrives from Feishu, as frozen data the router and handlers read (no SDK types past the gateway)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias


@dataclass(frozen=True)
class Mention:
    key: str  # the placeholder in the text, e.g. "@_user_1"
    open_id: str
    name: str = ""


@dataclass(frozen=True)
class MessageIn:
    """An im.message.receive_v1 event (or a bot menu press, which is answered the same way: see menu_key)."""

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
    menu_key: str = ""  # an application.bot.menu_v6 press, handled as a message from the presser

    @property
    def from_menu(self) -> bool:
        return bool(self.menu_key)

    @property
    def text(self) -> str | None:
        """The text of a text or post message (placeholders such as `@_user_1` kept), else None."""
        if self.message_type not in ("text", "post"):
            return None
        try:
            body = json.loads(self.content)
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        if self.message_type == "post":
            return post_text(body)
        text = body.get("text")
        return text if isinstance(text, str) else None

    def mentions_open_id(self, open_id: str) -> bool:
        return any(m.open_id == open_id for m in self.mentions)


def _element_text(element: object) -> str:
    if not isinstance(element, Mapping):
        return ""
    tag = element.get("tag")
    if tag == "at":  # received posts carry the mention key ("@_user_1") in user_id, like text messages
        user_id, name = element.get("user_id"), element.get("user_name")
        if isinstance(user_id, str) and user_id.startswith("@_"):
            return f" {user_id} "
        return f" @{name} " if isinstance(name, str) and name else " "
    text = element.get("text") if tag in ("text", "a", "md", "code_block") else None
    return text if isinstance(text, str) else ""


def post_text(body: Mapping[str, Any]) -> str:
    """The plain text of a post: its paragraphs' text, link and mention elements, one line per paragraph.

    Feishu sends `{"title", "content": [[element, ...], ...]}`, or the same under a locale key
    (`{"zh_cn": {...}}`). The title counts only when the body is empty: a command in the body
    ("/done 周报" under the title "周报") must stay at the start of the text.
    """
    post: Mapping[str, Any] = body
    if not isinstance(body.get("content"), list):
        post = next((v for v in body.values() if isinstance(v, Mapping) and "content" in v), {})
    paragraphs = post.get("content")
    lines = []
    for paragraph in paragraphs if isinstance(paragraphs, list) else []:
        if isinstance(paragraph, list):
            lines.append("".join(_element_text(e) for e in paragraph).strip())
    text = "\n".join(line for line in lines if line)
    title = post.get("title")
    return text or (title.strip() if isinstance(title, str) else "")


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
    option: str = ""  # what a picker or select sent (action.option, or the form's value), untrusted
    form: Mapping[str, Any] = field(default_factory=dict)  # a form's submit: action.form_value, untrusted

    @property
    def dedupe_key(self) -> str:
        """(message, operator, action value, picked option): the same press delivered twice is one press;
        picking another date in the same picker is another."""
        try:
            value = json.dumps(self.value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError):
            value = repr(self.value)
        picked = f":{self.option[:64]}" if self.option else ""
        return f"click:{self.open_message_id}:{self.operator_open_id}:{value}{picked}"


@dataclass(frozen=True)
class EventIn:
    """Any other subscribed event: one the bot acts on without an answer (a calendar changed), or only
    acknowledges."""

    event_id: str
    event_type: str
    calendar_id: str = ""  # calendar.calendar.event.changed_v4: the calendar that changed
    open_ids: tuple[str, ...] = ()  # ... and the users it concerns (user_id_list[].open_id)
    task_guid: str = ""  # task.task.update_user_access_v2: the Feishu task that changed


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
