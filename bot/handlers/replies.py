"""Text replies to a chat message: p2p to the sender, in groups as a reply (or into the chat)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from bot.feishu.errors import FeishuError
from bot.handlers.deps import BotDeps
from bot.inbound import MessageIn

log = logging.getLogger(__name__)

UUID_MAX = 50


def reply_uuid(message_id: str, n: int) -> str:
    """Feishu drops a repeated uuid within an hour: a reply retried after a crash is sent once."""
    value = f"r{n}-{message_id}"
    if len(value) <= UUID_MAX:
        return value
    return f"r{n}-" + hashlib.sha256(message_id.encode()).hexdigest()[:40]


async def send_reply(deps: BotDeps, message: MessageIn, text: str, n: int) -> None:
    """Reply number `n` to `message`; a failure is logged, never raised (the message was handled)."""
    uuid = reply_uuid(message.message_id, n)
    try:
        if message.chat_type == "p2p":
            await deps.outbound.send_text(message.sender_open_id, text, uuid, "open_id")
            return
        try:
            await deps.outbound.reply_text(message.message_id, text, uuid)
        except FeishuError as exc:
            if exc.retryable:
                raise
            # The message may have been withdrawn meanwhile: say it in the chat instead.
            await deps.outbound.send_text(message.chat_id, text, uuid, "chat_id")
    except FeishuError as exc:
        log.warning("reply to %s failed: %s", message.message_id, exc.code)


async def send_card(
    deps: BotDeps, message: MessageIn, card: Mapping[str, Any], n: int, fallback: str
) -> None:
    """Card number `n` answering `message`, to its sender; when Feishu refuses the card for good, its text
    `fallback` instead (a failure is logged, never raised)."""
    uuid = reply_uuid(message.message_id, 100 + n)
    try:
        await deps.outbound.send_card(message.sender_open_id, card, uuid)
    except FeishuError as exc:
        log.warning("card answering %s failed: %s", message.message_id, exc.code)
        if fallback and not exc.retryable:
            await send_reply(deps, message, fallback, 100 + n)


ACK_EMOJI = "OK"  # Feishu's emoji_type for the reaction that says "got it"


async def react(deps: BotDeps, message: MessageIn, emoji_type: str = ACK_EMOJI) -> None:
    """Acknowledge `message` with a reaction before slower answers arrive; a failure is logged, never
    raised (the reaction is a courtesy: the answer follows either way)."""
    try:
        await deps.outbound.add_reaction(message.message_id, emoji_type)
    except FeishuError as exc:
        log.warning("reaction on %s failed: %s", message.message_id, exc.code)
