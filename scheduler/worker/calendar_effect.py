"""The worker's handler of the `calendar.block` effect (scheduler.services.calendar_events): a calendar
failure becomes the DeliveryError the delivery loop retries (or marks dead when it is final)."""

from __future__ import annotations

from datetime import datetime

from scheduler.services.calendar_events import BlockEvents, CalendarWriteError
from scheduler.services.calendar_subscription import CalendarSubscriptions
from scheduler.worker.effects import EffectCall
from scheduler.worker.sender import DeliveryError


class CalendarBlockEffect:
    """EffectHandler: bring one block's Feishu event in line with the block."""

    def __init__(self, events: BlockEvents) -> None:
        self.events = events

    async def run(self, call: EffectCall, now: datetime) -> str:
        try:
            return await self.events.sync(call.user_id, call.args, now, call.attempts)
        except CalendarWriteError as exc:
            raise DeliveryError(
                exc.code, exc.message, retryable=exc.retryable, retry_after=exc.retry_after
            ) from exc


class CalendarSubscribeEffect:
    """EffectHandler: a connected user's primary calendar subscribed to event changes (state-based: nothing
    for a user no longer connected or already subscribed)."""

    def __init__(self, subscriptions: CalendarSubscriptions) -> None:
        self.subscriptions = subscriptions

    async def run(self, call: EffectCall, now: datetime) -> str:
        try:
            return await self.subscriptions.subscribe(call.user_id, now)
        except CalendarWriteError as exc:
            raise DeliveryError(
                exc.code, exc.message, retryable=exc.retryable, retry_after=exc.retry_after
            ) from exc
