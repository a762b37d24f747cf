"""A user's Feishu calendar changed (`calendar.calendar.event.changed_v4`, for a calendar they subscribed
through /connect): the event names the calendar and the users, not the event, so their busy time is read
again at once. The conflict scan then finds, from the fresh copy, any planned block a new meeting overlaps
and sends its card (consent-first: nothing moves before a click). Our own events written after Apply are no
busy time, so a change we made raises no conflict. Each event is handled once (by its event id); a read
that fails leaves the copy to the periodic refresh of users with blocks in the next 24 hours."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from scheduler.services import inbound
from scheduler.services.calendar import BusyTimes
from store import Store
from store.enums import InboxStatus
from store.repositories.calendar import ReadState

log = logging.getLogger(__name__)

EVENT_TYPE = "calendar.calendar.event.changed_v4"


async def record_change(store: Store, event_id: str, now: datetime) -> bool:
    """Record the change event once; False for a redelivery (then nothing more is done)."""
    return await inbound.record_event(
        store, f"event:{event_id}", EVENT_TYPE, now, status=InboxStatus.PROCESSED
    )


async def reread_busy_time(busy: BusyTimes, store: Store, open_ids: Sequence[str], now: datetime) -> int:
    """Read the busy time of these users (those the bot knows) again; returns how many copies were
    replaced. Never raises: a failed read is logged and left to the periodic refresh."""
    try:
        states: list[ReadState] = []
        async with store.uow(readonly=True) as uow:
            for open_id in dict.fromkeys(open_ids):
                state = await uow.calendar.state_of(open_id)
                if state is not None:
                    states.append(state)
        if not states:
            return 0
        failures = await busy.refresh_states(states, now)
    except Exception:
        log.exception("re-reading busy time after a calendar change failed")
        return 0
    for user_id, why in failures.items():
        log.warning("busy time of %s not re-read after a calendar change: %s", user_id, why)
    return len(states) - len(failures)
