"""Lease-based claiming: hand due rows to one worker for a while, never the same row to two workers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Base

M = TypeVar("M", bound=Base)


async def claim(  # noqa: PLR0917 - the documented call shape claim(session, model, worker, now, ...)
    session: AsyncSession,
    model: type[M],
    worker_id: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    where: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
) -> list[M]:
    """Claim up to `limit` rows of `model` matching `where` whose lease is free or expired.

    On MySQL the rows are read with FOR UPDATE SKIP LOCKED, so a concurrent claimer skips them instead of
    waiting; on SQLite BEGIN IMMEDIATE already makes this transaction the only writer. The lease
    (claimed_by, claimed_until) is written in the same transaction: commit the unit of work to keep it.
    Keep `where` + `order_by` servable by one index (equality on status, range on the due column): otherwise
    MySQL sorts all matches and keeps them locked, and concurrent claimers see fewer rows until commit."""
    table: Any = model
    lease_free = or_(table.claimed_until.is_(None), table.claimed_until <= now)
    stmt = (
        select(model)
        .where(lease_free, *where)
        .order_by(*(order_by or (table.created_at, table.id)))
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "mysql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list((await session.scalars(stmt)).all())
    until = now + timedelta(seconds=lease_seconds)
    for row in rows:
        row_any: Any = row
        row_any.claimed_by = worker_id
        row_any.claimed_until = until
        if hasattr(row_any, "updated_at"):
            row_any.updated_at = now
    await session.flush()
    return rows
