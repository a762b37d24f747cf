"""Each user's copy of their Feishu busy time and when it was read; each read replaces the copy whole."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, not_, or_, select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.enums import TaskStatus
from store.models import Block, BusyTime, CalendarRead, Task, Trigger, User
from store.types import new_id

# Columns a read writes on a user's calendar_reads row (the others keep their value).
_READ_COLUMNS = ("read_at", "window_start", "window_end", "source", "failed_at", "error")
ERROR_CHARS = 255


@dataclass(frozen=True)
class ReadState:
    """A user's busy-time copy as it stands: None fields when it was never read."""

    user_id: str
    open_id: str
    read_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    failed_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class Conflict:
    """A planned block that busy time in the user's calendar now overlaps."""

    user_id: str
    block_id: str
    task_id: str
    block_start: datetime
    block_end: datetime
    busy_start: datetime
    busy_end: datetime
    busy_title: str | None


def _movable(lo: datetime, hi: datetime) -> list[Any]:
    """Blocks that start in (lo, hi), are not locked, and whose task is open."""
    return [Block.start > lo, Block.start < hi, Block.locked.is_(False), Task.status == TaskStatus.OPEN]


class CalendarRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def states_of_triggers(self, trigger_ids: Sequence[str]) -> list[ReadState]:
        """The copy state of the users of these triggers (each user once). One statement."""
        if not trigger_ids:
            return []
        users = select(Trigger.user_id).where(Trigger.id.in_(list(trigger_ids))).distinct()
        return await self._states(User.id.in_(users.scalar_subquery()))

    async def state_of(self, open_id: str) -> ReadState | None:
        """The copy state of the user with this open_id (None: no such user). One statement."""
        found = await self._states(User.open_id == open_id)
        return found[0] if found else None

    async def states_by_open_id(self, open_ids: Iterable[str]) -> dict[str, ReadState]:
        """`state_of` for many open_ids in one statement, by open_id (no such user: left out)."""
        wanted = sorted(set(open_ids))
        return {s.open_id: s for s in await self._states(User.open_id.in_(wanted))} if wanted else {}

    async def states(self, user_ids: Iterable[str]) -> list[ReadState]:
        ids = sorted(set(user_ids))
        return await self._states(User.id.in_(ids)) if ids else []

    async def _states(
        self, where: Any, *, oldest_first: bool = False, limit: int | None = None
    ) -> list[ReadState]:
        stmt = (
            select(
                User.id,
                User.open_id,
                CalendarRead.read_at,
                CalendarRead.window_start,
                CalendarRead.window_end,
                CalendarRead.failed_at,
                CalendarRead.error,
            )
            .outerjoin(CalendarRead, CalendarRead.user_id == User.id)
            .where(where)
        )
        if oldest_first:  # never read first, then the least recently read
            stmt = stmt.order_by(CalendarRead.read_at.is_not(None), CalendarRead.read_at, User.id)
        else:
            stmt = stmt.order_by(User.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [ReadState(*row) for row in (await self.session.execute(stmt)).all()]

    async def replace(
        self,
        reads: Mapping[str, Sequence[Mapping[str, Any]]],
        read_at: datetime,
        lo: datetime,
        hi: datetime,
        own: Iterable[str] = (),
    ) -> None:
        """Replace the busy copy of each user in `reads` (user_id -> spans with start, end, title, event_id)
        by the spans read over [lo, hi) at `read_at`, and record the read (source "calendar" for the users in
        `own`, read from their own calendar, else "freebusy"). Three statements per batch."""
        if not reads:
            return
        user_ids = sorted(reads)
        from_own = set(own)
        await self.session.execute(delete(BusyTime).where(BusyTime.user_id.in_(user_ids)))
        rows = [
            {
                "id": new_id(),
                "user_id": user_id,
                "start": span["start"],
                "end": span["end"],
                "title": span.get("title"),
                "event_id": span.get("event_id"),
            }
            for user_id in user_ids
            for span in reads[user_id]
        ]
        if rows:
            await self.session.execute(insert(BusyTime), rows)
        await self._upsert(
            [
                {
                    "user_id": user_id,
                    "read_at": read_at,
                    "window_start": lo,
                    "window_end": hi,
                    "source": "calendar" if user_id in from_own else "freebusy",
                    "failed_at": None,
                    "error": None,
                }
                for user_id in user_ids
            ],
            _READ_COLUMNS,
        )

    async def record_failures(self, errors: Mapping[str, str], now: datetime) -> None:
        """Note a failed read (the copy and its read_at stay as they were). One statement."""
        if errors:
            rows = [
                {"user_id": u, "failed_at": now, "error": errors[u][:ERROR_CHARS]} for u in sorted(errors)
            ]
            await self._upsert(rows, ("failed_at", "error"))

    async def _upsert(self, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
        table: Any = CalendarRead.__table__
        stmt: Any
        if self.session.get_bind().dialect.name == "mysql":
            stmt = mysql.insert(table).values(rows)
            stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in columns})
        else:
            stmt = sqlite.insert(table).values(rows)
            stmt = stmt.on_conflict_do_update(
                index_elements=["user_id"], set_={c: stmt.excluded[c] for c in columns}
            )
        await self.session.execute(stmt)

    async def states_with_blocks(self, lo: datetime, hi: datetime, limit: int) -> list[ReadState]:
        """The copy state of users with a movable block starting in (lo, hi), oldest copy first. One
        statement."""
        users = (
            select(Block.user_id)
            .join(Task, Task.id == Block.task_id)
            .where(*_movable(lo, hi))
            .distinct()
            .scalar_subquery()
        )
        return await self._states(User.id.in_(users), oldest_first=True, limit=limit)

    async def conflicts(self, lo: datetime, hi: datetime, limit: int) -> list[Conflict]:
        """Movable blocks starting in (lo, hi) that a busy span of the same user overlaps, earliest first;
        a busy span that is the block's own calendar event (same event id, or exactly its times once it
        was written to the calendar) is not a conflict. One statement."""
        own = and_(
            Block.calendar_event_id.is_not(None),
            or_(
                BusyTime.event_id == Block.calendar_event_id,
                and_(BusyTime.start == Block.start, BusyTime.end == Block.end),
            ),
        )
        stmt = (
            select(
                Block.user_id,
                Block.id,
                Block.task_id,
                Block.start,
                Block.end,
                BusyTime.start,
                BusyTime.end,
                BusyTime.title,
            )
            .join(Task, Task.id == Block.task_id)
            .join(
                BusyTime,
                and_(
                    BusyTime.user_id == Block.user_id, BusyTime.start < Block.end, BusyTime.end > Block.start
                ),
            )
            .where(*_movable(lo, hi), not_(own))
            .order_by(Block.start, Block.id, BusyTime.start)
            .limit(limit)
        )
        return [Conflict(*row) for row in (await self.session.execute(stmt)).all()]

    async def busy(self, user_ids: Iterable[str], lo: datetime, hi: datetime) -> Sequence[BusyTime]:
        """The busy spans of these users that overlap [lo, hi), by user and start, leaving out the user's own
        blocks as we wrote them to their calendar (the span carries the block's event id, or has exactly its
        times once it was written): a block is never busy time for its own planning. One statement (the copy
        holds only the read window, so the user filter bounds the rows read)."""
        ids = sorted(set(user_ids))
        if not ids:
            return []
        own = (
            select(Block.id)
            .where(
                Block.user_id == BusyTime.user_id,
                Block.calendar_event_id.is_not(None),
                or_(
                    BusyTime.event_id == Block.calendar_event_id,
                    and_(BusyTime.start == Block.start, BusyTime.end == Block.end),
                ),
            )
            .exists()
        )
        stmt = (
            select(BusyTime)
            .where(BusyTime.user_id.in_(ids), BusyTime.start < hi, BusyTime.end > lo, not_(own))
            .order_by(BusyTime.user_id, BusyTime.start, BusyTime.id)
        )
        return (await self.session.scalars(stmt)).all()
