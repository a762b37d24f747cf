"""How many existing blocks the assistant already moved today (applied, not undone): the per-day move cap."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from store import UnitOfWork
from store.models import User

# The change-set items that moved or resized a block that existed before the apply.
MOVED_KINDS = frozenset({"move_block", "resize_block"})


def local_midnight(user: User, now: datetime) -> datetime:
    """The start of the user's local day holding `now`, as UTC (UTC when the zone is unknown)."""
    try:
        zone = ZoneInfo(user.timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.combine(now.astimezone(zone).date(), time(0, 0), tzinfo=zone).astimezone(UTC)


def moved_items(changes: Any) -> int:
    """The moved or resized blocks of one stored change set ({"v": 1, "items": [...]})."""
    items = changes.get("items") if isinstance(changes, Mapping) else None
    return sum(1 for i in items or () if isinstance(i, Mapping) and i.get("kind") in MOVED_KINDS)


async def moved_today(
    uow: UnitOfWork, users: Sequence[User], now: datetime | Iterable[datetime]
) -> dict[str, int]:
    """Per user id, the existing blocks moved by applies since their local midnight; one query for all."""
    nows = [now] * len(users) if isinstance(now, datetime) else list(now)
    if not users:
        return {}
    since = {u.id: local_midnight(u, n) for u, n in zip(users, nows, strict=True)}
    counts: dict[str, int] = {}
    for cs in await uow.change_sets.applied_since(since, min(since.values())):
        applied = cs.applied_at if cs.applied_at.tzinfo else cs.applied_at.replace(tzinfo=UTC)
        if applied >= since[cs.user_id]:
            counts[cs.user_id] = counts.get(cs.user_id, 0) + moved_items(cs.changes)
    return counts
