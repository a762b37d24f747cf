"""Answers to a chat message: p2p to the sender, in groups as a reply (or into the chat); cards to the
sender. Each answer is first stored (scheduler.services.answers), then sent at once; one that could not be
sent is left to the worker, which sends it with the same Feishu uuid, so it is never lost nor doubled."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.answers import answer, deliver
from bot.feishu.errors import FeishuError
from bot.handlers.deps import BotDeps
from bot.inbound import MessageIn
from scheduler.services import answers, inbound

log = logging.getLogger(__name__)

UUID_MAX = 50


def reply_uuid(message_id: str, n: int) -> str:
    """Feishu drops a repeated uuid within an hour: a reply retried after a crash is sent once."""
    value = f"r{n}-{message_id}"
    if len(value) <= UUID_MAX:
        return value
    return f"r{n}-" + hashlib.sha256(message_id.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Queued:
    """Answers stored for sending: each payload with its notification id ("" when nothing was stored)."""

    parts: tuple[tuple[dict[str, Any], str], ...]
    open_id: str  # the sender: one sender's answers go out in the order their messages were handled


Part = tuple[int, str, Mapping[str, Any] | None]  # (number, text, card or None)


async def queue_answers(deps: BotDeps, message: MessageIn, parts: Sequence[Part]) -> Queued:
    """Store the answers (number n, text, card) to `message`. When the database cannot take them they are
    still sent, only without the retry (logged)."""
    payloads = [
        answer(
            message.sender_open_id,
            message.chat_id,
            message.chat_type,
            message.message_id,
            reply_uuid(message.message_id, n),
            text,
            card,
        )
        for n, text, card in parts
    ]
    stored: dict[str, str] | None
    try:
        stored = await deps.answer_writes.queue(message.sender_open_id, payloads, deps.clock())
    except Exception as exc:
        if not inbound.is_database_error(exc):
            raise
        log.warning("answers to %s not stored (%s): sent without a retry", message.message_id, exc)
        stored = None
    if stored is None:
        return Queued(tuple((p, "") for p in payloads), message.sender_open_id)
    # An answer already sent (a second queueing of the same message) is left out.
    return Queued(
        tuple((p, stored[p["uuid"]]) for p in payloads if p["uuid"] in stored), message.sender_open_id
    )


async def send_queued(deps: BotDeps, queued: Queued) -> None:
    """Send stored answers in order, after the answers to the sender's earlier messages, then record the
    sent ones in one write; at the first failure worth retrying the rest wait for the worker (in order).
    Never raises for a send or a record."""
    async with deps.answer_order.hold(queued.open_id):
        await _send_in_order(deps, queued)


async def _send_in_order(deps: BotDeps, queued: Queued) -> None:
    done: list[tuple[str, str]] = []
    try:
        for payload, notification_id in queued.parts:
            try:
                message_id = await deliver(deps.outbound, payload)
            except FeishuError as exc:
                final = not exc.retryable
                log.warning(
                    "answer to %s failed (%s)%s",
                    payload["message_id"],
                    exc.code,
                    "" if final or not notification_id else ": the worker sends it",
                )
                await _record(deps, notification_id, exc, final=final)
                if final:
                    continue
                return
            if notification_id:
                done.append((notification_id, message_id))
    finally:
        try:
            await deps.answer_writes.sent(done, deps.clock())
        except Exception as exc:
            if not inbound.is_database_error(exc):
                raise
            # The worker sends them again with the same uuids, which Feishu ignores within the hour.
            log.warning("%d answer(s) sent but not recorded (%s)", len(done), exc)


async def _record(deps: BotDeps, notification_id: str, exc: FeishuError, *, final: bool) -> None:
    if not notification_id:
        return
    try:
        await answers.failed(
            deps.store, notification_id, str(exc.code), exc.message, deps.clock(), final=final
        )
    except Exception as db_exc:
        if not inbound.is_database_error(db_exc):
            raise
        log.warning("answer %s failed and not recorded (%s); the worker sends it", notification_id, db_exc)


async def send_reply(deps: BotDeps, message: MessageIn, text: str, n: int) -> None:
    """Reply number `n` to `message` (stored, then sent; never raises for a send)."""
    await send_queued(deps, await queue_answers(deps, message, [(n, text, None)]))


async def send_card(
    deps: BotDeps, message: MessageIn, card: Mapping[str, Any], n: int, fallback: str
) -> None:
    """Card number `n` answering `message`, to its sender; when Feishu refuses the card for good, its text
    `fallback` instead (stored, then sent; never raises for a send)."""
    await send_queued(deps, await queue_answers(deps, message, [(100 + n, fallback, card)]))


ACK_EMOJI = "OK"  # Feishu's emoji_type for the reaction that says "got it"


async def react(deps: BotDeps, message: MessageIn, emoji_type: str = ACK_EMOJI) -> None:
    """Acknowledge `message` with a reaction before slower answers arrive; a failure is logged, never
    raised (the reaction is a courtesy: the answer follows either way)."""
    try:
        await deps.outbound.add_reaction(message.message_id, emoji_type)
    except FeishuError as exc:
        log.warning("reaction on %s failed: %s", message.message_id, exc.code)
