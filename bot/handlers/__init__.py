"""The bot's handlers behind one Receiver: messages, clicks and the events it only acknowledges."""

from __future__ import annotations

import logging

from bot.handlers.clicks import handle_click
from bot.handlers.deps import Background, BotConfig, BotDeps
from bot.handlers.messages import handle_message
from bot.inbound import CallbackAnswer, ClickIn, EventIn, MessageIn
from scheduler.services import inbound

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
        await inbound.record_event(
            self.deps.store, f"event:{event.event_id}", event.event_type, self.deps.clock()
        )
