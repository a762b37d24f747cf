"""Read models for chat: the sender's next 24 hours (/today)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduler.planning import busy_items, free_intervals
from scheduler.planning import model as pm
from scheduler.services.context import load_context
from scheduler.services.inbound import Handled, InboundMessage, Turn, handle
from store import Store


@dataclass(frozen=True)
class AgendaItem:
    start: datetime
    end: datetime
    title: str
    fixed: bool  # a fixed event (else a planned block)


@dataclass(frozen=True)
class Today:
    """What is still ahead in the next 24 hours, and the free minutes left in the day windows."""

    items: tuple[AgendaItem, ...]
    free_minutes: int


async def today(store: Store, message: InboundMessage, grid_minutes: int) -> Handled[Today] | None:
    """The sender's fixed events and blocks (applied ones included) that have not ended, and the free time."""

    async def work(t: Turn) -> Today:
        target = pm.Target(kind=pm.TargetKind.TASK)
        planning = await load_context(t.uow, t.user, t.now, target, grid_minutes)
        items = tuple(
            AgendaItem(i.start, i.end, i.title, i.kind == pm.BusyKind.FIXED)
            for i in busy_items(planning)
            if i.end > t.now
        )
        return Today(items, sum(iv.minutes for iv in free_intervals(planning)))

    return await handle(store, message, work)
