"""Send-limit slots shared by every process on the database (see store.models.SendSlot)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import SendSlot

EPOCH_FREE = datetime(2000, 1, 1, tzinfo=UTC)  # a slot just created is free


class ThrottleRepository:
    """Take and release one slot of a bucket; each call is meant for its own short unit of work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _mysql(self) -> bool:
        return self.session.get_bind().dialect.name == "mysql"

    async def take(
        self, bucket: str, size: int, now: datetime, lease: timedelta, holder: str, *, count: int = 1
    ) -> list[tuple[int, datetime]]:
        """Reserve up to `count` of `bucket`'s slots (0..size-1) for `holder`: those no call holds (or whose
        holder's lease lapsed) that free up soonest, each with the time it frees up (`now` if it is free).
        A reserved slot is held from then for `lease`. [] when every slot is held. The bucket's rows are
        created on first use. On MySQL a slot another process is reserving is skipped, not waited for; on
        SQLite the writer lock already serializes takers."""
        for _ in range(2):
            stmt = (
                select(SendSlot.slot, SendSlot.free_at, SendSlot.holder)
                .where(
                    SendSlot.bucket == bucket,
                    SendSlot.slot < size,
                    or_(SendSlot.holder.is_(None), SendSlot.free_at <= now),
                )
                .order_by(SendSlot.free_at)
                .limit(count)
            )
            if self._mysql:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = (await self.session.execute(stmt)).all()
            if rows:
                taken = [
                    (int(slot), now if held_by is not None else max(free_at, now))
                    for slot, free_at, held_by in rows
                ]
                # One statement for every slot taken, each held from its own start.
                await self.session.execute(
                    update(SendSlot)
                    .where(SendSlot.bucket == bucket, SendSlot.slot.in_([n for n, _ in taken]))
                    .values(
                        free_at=case({n: start + lease for n, start in taken}, value=SendSlot.slot),
                        holder=holder,
                    )
                    .execution_options(synchronize_session=False)
                )
                return taken
            have = await self.session.scalar(
                select(func.count()).where(SendSlot.bucket == bucket, SendSlot.slot < size)
            )
            if int(have or 0) >= size:
                return []
            await self._create(bucket, size)
        return []

    async def _create(self, bucket: str, size: int) -> None:
        rows = [{"bucket": bucket, "slot": n, "free_at": EPOCH_FREE, "holder": None} for n in range(size)]
        if self._mysql:
            await self.session.execute(mysql.insert(SendSlot).prefix_with("IGNORE"), rows)
        else:
            await self.session.execute(sqlite.insert(SendSlot).on_conflict_do_nothing(), rows)

    async def release(self, freed: Sequence[tuple[str, int, str, datetime]]) -> None:
        """Free slots, each (bucket, slot, holder, free_at), that their holder still holds (a lapsed lease
        another holder took since is left alone); one statement for all of them."""
        if not freed:
            return
        table = cast(Table, SendSlot.__table__)
        stmt = (
            table.update()
            .where(
                table.c.bucket == bindparam("b_bucket"),
                table.c.slot == bindparam("b_slot"),
                table.c.holder == bindparam("b_holder"),
            )
            .values(free_at=bindparam("b_free_at"), holder=None)
        )
        rows = [{"b_bucket": b, "b_slot": n, "b_holder": h, "b_free_at": f} for b, n, h, f in freed]
        await self.session.execute(stmt, rows)

    async def prune(self, before: datetime, keep: str) -> int:
        """Forget the slots of idle buckets (every slot free since `before`), except bucket `keep`."""
        idle = (
            select(SendSlot.bucket)
            .group_by(SendSlot.bucket)
            .having(func.max(SendSlot.free_at) < before, func.count(SendSlot.holder) == 0)
        )
        if self._mysql:
            idle = select(idle.subquery().c.bucket)  # MySQL cannot delete from a table it selects directly
        result = await self.session.execute(
            delete(SendSlot).where(SendSlot.bucket.in_(idle), SendSlot.bucket != keep)
        )
        return int(getattr(result, "rowcount", 0) or 0)
