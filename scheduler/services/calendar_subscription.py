"""A connected user's primary calendar subscribed to Feishu's event changes, so Feishu pushes
`calendar.calendar.event.changed_v4` (scheduler.services.calendar_changes) when a meeting is added, moved or
removed there.

- The OAuth callback queues the effect `calendar.subscribe` (scheduler.services.effects) in the transaction
  that stores the tokens. The worker runs it (`CalendarSubscriptions.subscribe`), state-based: a user no
  longer connected gets nothing; one already subscribed gets nothing more; otherwise the primary calendar is
  found and `POST /open-apis/calendar/v4/calendars/{calendar_id}/events/subscription` is called with the
  user's token, then the calendar id and the instant are kept on the connection row.
- /disconnect calls `unsubscribe` first, while the tokens still exist (`POST .../events/unsubscription`),
  best-effort: any failure is logged and the tokens are deleted anyway. When the grant is already unusable
  (broken, or no token left) there is no token to call with, and nothing is done: Feishu pushes changes only
  for subscriptions made with a live grant of the user, and a push for a user without a connection costs one
  free/busy read (the no-login path) and nothing else.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from scheduler.services.calendar_events import CalendarWriteError, TokenSource
from scheduler.services.connect import SUBSCRIBE_EFFECT
from scheduler.services.usertokens import ConnectionBroken, NotConnected, TokenUnavailable
from store import Store
from store.enums import ConnectionStatus

log = logging.getLogger(__name__)

EFFECT = SUBSCRIBE_EFFECT


class SubscriptionApi(Protocol):
    """The user's calendar with their token (bot.feishu.calendar.FeishuUserCalendar)."""

    async def primary_calendar(self, access_token: str) -> str: ...

    async def subscribe_events(self, access_token: str, calendar_id: str) -> None:
        """Raises CalendarWriteError."""
        ...

    async def unsubscribe_events(self, access_token: str, calendar_id: str) -> None:
        """Raises CalendarWriteError."""
        ...


class CalendarSubscriptions:
    def __init__(self, store: Store, tokens: TokenSource, api: SubscriptionApi) -> None:
        self.store = store
        self.tokens = tokens
        self.api = api

    async def subscribe(self, user_id: str, now: datetime) -> str:
        """Run `calendar.subscribe`: a short result. Raises CalendarWriteError (retryable or final)."""
        async with self.store.uow(readonly=True) as uow:
            row = await uow.connections.get(user_id)
            if row is None or row.status != ConnectionStatus.CONNECTED:
                return "not connected"
            if row.subscribed_at is not None and row.calendar_id:
                return f"already subscribed {row.calendar_id}"
            known = row.calendar_id
        try:
            token = await self.tokens.access_token(user_id, now)
        except NotConnected:
            return "not connected"
        except ConnectionBroken as exc:
            raise CalendarWriteError(
                "connection_broken", "the user must /connect again", retryable=False
            ) from exc
        except TokenUnavailable as exc:
            raise CalendarWriteError(exc.code, "user token unavailable", retryable=exc.retryable) from exc
        calendar_id = known or await self.api.primary_calendar(token)
        await self.api.subscribe_events(token, calendar_id)
        async with self.store.uow() as uow:
            row = await uow.connections.get(user_id, for_update=True)
            if row is not None:
                row.calendar_id, row.subscribed_at = calendar_id, now
                await uow.commit()
        if row is None:  # disconnected while the call ran: the subscription is not wanted any more
            await self._unsubscribe_quietly(user_id, token, calendar_id)
            return "disconnected meanwhile"
        log.info("calendar subscribed to event changes", extra={"user_id": user_id})
        return f"subscribed {calendar_id}"

    async def unsubscribe(self, user_id: str, now: datetime) -> bool:
        """Before /disconnect deletes the tokens: stop Feishu's pushes for the user's primary calendar.
        Best-effort (never raises); True when Feishu confirmed it."""
        async with self.store.uow(readonly=True) as uow:
            row = await uow.connections.get(user_id)
            if row is None or row.status != ConnectionStatus.CONNECTED:
                # No live grant to call with (broken: its tokens are gone already): nothing to do.
                return False
            known = row.calendar_id
        try:
            token = await self.tokens.access_token(user_id, now)
        except (NotConnected, ConnectionBroken, TokenUnavailable) as exc:
            log.info("no token to unsubscribe with (%s)", type(exc).__name__, extra={"user_id": user_id})
            return False
        try:
            calendar_id = known or await self.api.primary_calendar(token)
        except CalendarWriteError as exc:
            log.warning("unsubscribe: no primary calendar (%s)", exc.code, extra={"user_id": user_id})
            return False
        return await self._unsubscribe_quietly(user_id, token, calendar_id)

    async def unsubscribe_open_id(self, open_id: str, now: datetime) -> bool:
        """`unsubscribe` for the sender of a /disconnect (False for a user the bot does not know)."""
        async with self.store.uow(readonly=True) as uow:
            user = await uow.users.get_by_open_id(open_id)
            user_id = user.id if user is not None else None
        return False if user_id is None else await self.unsubscribe(user_id, now)

    async def _unsubscribe_quietly(self, user_id: str, token: str, calendar_id: str) -> bool:
        try:
            await self.api.unsubscribe_events(token, calendar_id)
        except CalendarWriteError as exc:
            log.warning("calendar unsubscribe failed: %s", exc.code, extra={"user_id": user_id})
            return False
        log.info("calendar unsubscribed from event changes", extra={"user_id": user_id})
        return True
