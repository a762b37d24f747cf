"""The bot's handlers behind one Receiver: messages, clicks and the events it only acknowledges."""

from __future__ import annotations

import logging

from bot.feishu.gateway import TASK_CHANGED_EVENT
from bot.handlers.clicks import handle_click
from bot.handlers.deps import Background, BotConfig, BotDeps
from bot.handlers.messages import handle_message
from bot.inbound import CallbackAnswer, ClickIn, EventIn, MessageIn
from scheduler.services import calendar_changes, inbound
from scheduler.services.types import InboxStatus

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
        """A calendar change: recorded once (by event_id), then the users' busy time is read again in the
        background (the conflict scan sends a card for a meeting that now overlaps a planned block). Any
        other event: recorded once, marked ignored."""
        if not event.event_id:
            return
        if event.event_type == calendar_changes.EVENT_TYPE:
            await self._calendar_changed(event)
            return
        if event.event_type == TASK_CHANGED_EVENT:
            await self._task_changed(event)
            return
        await inbound.record_event(
            self.deps.store, f"event:{event.event_id}", event.event_type, self.deps.clock()
        )

    async def _calendar_changed(self, event: EventIn) -> None:
        deps = self.deps
        now = deps.clock()
        if not await calendar_changes.record_change(deps.store, event.event_id, now):
            return  # a redelivery
        busy = deps.pipeline.busy
        if busy is None or not event.open_ids:
            log.info("calendar change %s: busy time is not read here", event.event_id)
            return
        deps.background.spawn(
            calendar_changes.reread_busy_time(busy, deps.store, event.open_ids, now),
            f"calendar-changed:{event.event_id}",
        )

    async def _task_changed(self, event: EventIn) -> None:
        """A Feishu task changed: recorded once, then its users' tasks are synced in the background."""
        deps = self.deps
        now = deps.clock()
        key = f"event:{event.event_id}"
        if not await inbound.record_event(deps.store, key, event.event_type, now, InboxStatus.PROCESSED):
            return  # a redelivery
        sync = deps.task_sync
        if sync is None or not event.task_guid:
            return
        deps.background.spawn(sync.task_changed(event.task_guid, now), f"task-changed:{event.event_id}")
