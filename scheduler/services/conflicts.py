"""Calendar conflicts, consent-first: busy time now overlapping a planned block becomes a card, never a move.

A scan (the worker runs one every SMARTFLOW_CONFLICT_SCAN_SECONDS) first re-reads, from Feishu free/busy, the
busy time of users whose copy is older than the maximum age and who have a movable block (not begun, not
locked, task open) in the next 24 hours; then every such block that a busy span overlaps gets a
`calendar_conflict` trigger, which the pipeline plans as "move the block" (or closes, when the overlap is gone
by then). One trigger per block position and busy span, ever (its idempotency key): a card the user ignored is
not sent again, while a meeting that moves again, or a block moved onto another meeting, is a new conflict.
A conflict found outside the user's day window (narrowed by quiet hours) is recorded when the window opens.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from scheduler.services.calendar import BusyTimes, is_fresh
from scheduler.services.jobs import opens_at
from scheduler.services.outcomes import retrying
from scheduler.services.triggers import create_trigger
from store import Store
from store.enums import TriggerType
from store.repositories.calendar import Conflict

log = logging.getLogger(__name__)

HORIZON = timedelta(hours=24)
# Users whose copies one scan may re-read (in batches of READ_BATCH): at 1000 free/busy requests a minute,
# a scan a minute reads at most this many, and the least recently read first.
READS_PER_SCAN = 200
READ_BATCH = 50
CONFLICTS_PER_SCAN = 50


def conflict_key(c: Conflict) -> str:
    """The same block at the same place under the same busy span is the same conflict."""
    return (
        f"calendar_conflict:{c.block_id}:{c.block_start.isoformat()}:"
        f"{c.busy_start.isoformat()}:{c.busy_end.isoformat()}"
    )


async def scan(store: Store, busy: BusyTimes, now: datetime) -> list[str]:
    """Refresh the stale copies of users with movable blocks soon, then record a calendar_conflict trigger
    per new conflict; the ids of the triggers created (for the pipeline to run)."""
    async with store.uow(readonly=True) as uow:
        states = await uow.calendar.states_with_blocks(now, now + HORIZON, READS_PER_SCAN)
    stale = [s for s in states if not is_fresh(s, now, busy.max_age)]
    for i in range(0, len(stale), READ_BATCH):
        await busy.refresh_states(stale[i : i + READ_BATCH], now)
    return await retrying(lambda: _record(store, now), what="recording calendar conflicts")


async def _record(store: Store, now: datetime) -> list[str]:
    created: list[str] = []
    async with store.uow() as uow:
        found = await uow.calendar.conflicts(now, now + HORIZON, CONFLICTS_PER_SCAN)
        seen: set[str] = set()
        users = await uow.batch.users(c.user_id for c in found)
        for c in found:
            if c.block_id in seen:
                continue  # one card per block, even when several busy spans overlap it
            seen.add(c.block_id)
            user = users.get(c.user_id)
            if user is None:  # pragma: no cover - the foreign key cascades
                continue
            if opens_at(user, now) is not None:
                # Outside the user's day window (or in quiet hours): found again, and recorded, once it
                # opens, so the card is fresh when it is read rather than held until it expires.
                continue
            outcome = await create_trigger(
                uow,
                user=user,
                type=TriggerType.CALENDAR_CONFLICT,
                now=now,
                task_id=c.task_id,
                block_id=c.block_id,
                idempotency_key=conflict_key(c),
            )
            if outcome.created:
                created.append(outcome.trigger.id)
                log.info(
                    "calendar conflict: block %s overlaps busy time %s-%s",
                    c.block_id,
                    c.busy_start.isoformat(),
                    c.busy_end.isoformat(),
                    extra={"trace_id": outcome.trigger.trace_id},
                )
        await uow.commit()
    return created
