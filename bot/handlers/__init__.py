"""The bot's handlers behind one Receiver: messages, clicks and the events it only acknowledges."""

from __future__ import annotations

import logging

from bot.handlers import inbox
from bot.handlers.clicks import handle_click
from bot.handlers.deps import Background, BotConfig, BotDeps
from bot.handlers.messages import handle_message
from bot.inbound import CallbackAnswer, ClickIn, EventIn, MessageIn
from store.enums import InboxKind, InboxStatus

log = logging.getLogger(__name__)

__all__ = ["Background", "BotConfig", "BotDeps", "BotReceiver"]


class BotReceiver:
    """Implements bot.inbound.Receiver for both the HTTP gateway and the long connection."""

    def __init__(self, deps: BotDeps) -> None:
        self.deps = deps

    async def on_message(self, message: MessageIn) -> None:
        await handle_message(self.deps, message)

    async def on_click(self, click: ClickIn) -> CallbackAnswer:
        return await handle_click(self.deps, click)

    async def on_event(self, event: EventIn) -> None:
        """Subscribed but not acted on: recorded once (by event_id), marked ignored."""
        if not event.event_id:
            return
        now = self.deps.clock()
        async with self.deps.store.uow() as uow:
            key = f"event:{event.event_id}"
            if await inbox.record(
                uow, InboxKind.EVENT, key, event.event_type, now, status=InboxStatus.IGNORED
            ):
                await uow.commit()
