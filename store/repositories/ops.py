"""Operator queries: rows by status per table, the due-scan lag, jobs and notifications by status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from store import migrate
from store.enums import JobStatus
from store.models import InboxEntry, Job, Notification, OutboxMessage, Preview, Task, Trigger, User

# The column each countable table is grouped by (the inbox by kind: its status says little).
_COUNTED_BY: dict[str, Any] = {
    "tasks": Task.status,
    "jobs": Job.status,
    "triggers": Trigger.status,
    "previews": Preview.status,
    "notifications": Notification.status,
    "outbox": OutboxMessage.status,
    "inbox": InboxEntry.kind,
}
COUNTABLE = tuple(_COUNTED_BY)


class OpsRepository:
    """Read-mostly queries for operators (CLI, admin commands, /metrics)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def user_count(self) -> int:
        return int((await self.session.execute(select(func.count()).select_from(User))).scalar_one())

    async def counts_by_status(self, tables: Iterable[str]) -> dict[str, dict[str, int]]:
        """{table: {status: rows}} for each of `tables` (names from COUNTABLE), statuses sorted."""
        out: dict[str, dict[str, int]] = {}
        for name in tables:
            column = _COUNTED_BY[name]
            rows = (await self.session.execute(select(column, func.count()).group_by(column))).all()
            out[name] = {str(key): int(n) for key, n in sorted(rows)}
        return out

    async def oldest_due_job_at(self, now: datetime) -> datetime | None:
        """The trigger time of the oldest pending job that is due at `now` (None when none is waiting)."""
        oldest: datetime | None = await self.session.scalar(
            select(func.min(Job.trigger_at)).where(Job.status == JobStatus.PENDING, Job.trigger_at <= now)
        )
        if oldest is not None and oldest.tzinfo is None:
            # An aggregate may come back without the column type's conversion.
            oldest = oldest.replace(tzinfo=UTC)
        return oldest

    async def jobs(self, statuses: Iterable[str], limit: int) -> Sequence[Job]:
        """Jobs in `statuses`: pending ones soonest first, others latest change first."""
        wanted = list(statuses)
        stmt = select(Job).where(Job.status.in_(wanted))
        if wanted == [JobStatus.PENDING]:
            stmt = stmt.order_by(Job.trigger_at, Job.id)
        else:
            stmt = stmt.order_by(Job.updated_at.desc(), Job.id)
        return (await self.session.scalars(stmt.limit(limit))).all()

    async def notifications(self, statuses: Iterable[str], limit: int) -> Sequence[Notification]:
        """Notifications in `statuses`, latest change first."""
        stmt = (
            select(Notification)
            .where(Notification.status.in_(list(statuses)))
            .order_by(Notification.updated_at.desc(), Notification.id)
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def schema_revision(self) -> str | None:
        """The migration the database is at (None: never migrated)."""
        conn = await self.session.connection()
        return await conn.run_sync(migrate.current_revision)

    async def character_sets(self) -> tuple[str, str, list[str]] | None:
        """MySQL/MariaDB: (the database's default character set, its collation, the tables whose collation
        is not utf8mb4); None on SQLite, which always stores UTF-8."""
        if self.session.get_bind().dialect.name != "mysql":
            return None
        charset, collation = (
            await self.session.execute(
                text(
                    "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                    "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()"
                )
            )
        ).one()
        tables = (
            await self.session.scalars(
                text(
                    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                    "AND TABLE_TYPE = 'BASE TABLE' AND TABLE_COLLATION NOT LIKE 'utf8mb4%' "
                    "ORDER BY TABLE_NAME"
                )
            )
        ).all()
        return str(charset), str(collation), [str(t) for t in tables]
