"""One answer to a chat message, as stored on its notification and sent: text, or a card with its text as
the fallback. The handler sends it at once; the worker sends it again only if that did not happen."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from bot.cards.capture import build_synced_task_card
from bot.feishu.errors import FeishuError

log = logging.getLogger(__name__)


class AnswerOutbound(Protocol):
    async def send_text(
        self, receive_id: str, text: str, uuid: str, receive_id_type: str | None = None
    ) -> str: ...
    async def reply_text(self, message_id: str, text: str, uuid: str) -> str: ...
    async def send_card(self, open_id: str, card: Mapping[str, Any], uuid: str) -> str: ...


def answer(  # noqa: PLR0917 - the parts of one answer's address and content
    open_id: str,
    chat_id: str,
    chat_type: str,
    message_id: str,
    uuid: str,
    text: str,
    card: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The answer's stored form (a notification payload)."""
    return {
        "open_id": open_id,
        "chat_id": chat_id,
        "chat_type": chat_type,
        "message_id": message_id,
        "uuid": uuid,
        "text": text,
        "card": dict(card) if card is not None else None,
    }


async def deliver(outbound: AnswerOutbound, answer: Mapping[str, Any]) -> str:
    """Send one answer; returns the message id. A card goes to the sender; when Feishu refuses it for good
    its text goes instead. Text goes to the sender in a private chat and as a reply in a group (into the chat
    when the message was withdrawn meanwhile). Raises FeishuError for a failure worth retrying, or a
    permanent one nothing can get past; the same `uuid` makes a resend a no-op at Feishu."""
    uuid, text, card = str(answer["uuid"]), str(answer.get("text") or ""), answer.get("card")
    form = answer.get("form")
    if not card and isinstance(form, Mapping):  # a task form asked for by a service: drawn here
        card = build_synced_task_card(form)
    if card:
        try:
            return await outbound.send_card(str(answer["open_id"]), card, uuid)
        except FeishuError as exc:
            if exc.retryable or not text:
                raise
            log.warning("card answering %s refused (%s): sent as text", answer.get("message_id"), exc.code)
    if answer.get("chat_type") == "p2p" or not answer.get("message_id"):
        return await outbound.send_text(str(answer["open_id"]), text, uuid, "open_id")
    try:
        return await outbound.reply_text(str(answer["message_id"]), text, uuid)
    except FeishuError as exc:
        if exc.retryable:
            raise
        # The message may have been withdrawn meanwhile: say it in the chat instead.
        return await outbound.send_text(str(answer["chat_id"]), text, uuid, "chat_id")
