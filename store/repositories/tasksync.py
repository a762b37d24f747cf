"""Tasks synced from Feishu Tasks: the connected users to read, their synced tasks by Feishu guid, and the
ready previews of a task that completed in Feishu."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, literal, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from store.enums import ConnectionStatus, PreviewStatus, TaskStatus
from store.models import CalendarConnection, Notification, Preview, Task, User


@dataclass(frozen=True)
class SyncUser:
    """A connected user whose Feishu tasks are read."""

    user_id: str
    open_id: str
    locale: str
    timezone: str


class TaskSyncRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def connected_users(
        self, scope: str, after: str | None, limit: int, synced_before: datetime
    ) -> list[SyncUser]:
        """Up to `limit` users with a working connection whose grant holds `scope` and whose last sync was
        claimed at or before `synced_before` (or never), in user id order after `after` (a page of them; the
        next page starts after the last id). One statement."""
        stmt = (
            select(User.id, User.open_id, User.locale, User.timezone)
            .join(CalendarConnection, CalendarConnection.user_id == User.id)
            .where(
                CalendarConnection.status == ConnectionStatus.CONNECTED,
                CalendarConnection.scope.contains(scope),
                _due(synced_before),
            )
            .order_by(User.id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(User.id > after)
        rows = (await self.session.execute(stmt)).all()
        return [SyncUser(r[0], r[1], r[2], r[3]) for r in rows]

    async def claim_sync(self, user_id: str, now: datetime, synced_before: datetime) -> bool:
        """Claim this interval's sync of the user (their last one was claimed at or before `synced_before`):
        True for exactly one of several workers asking at once. One statement."""
        stmt = (
            update(CalendarConnection)
            .where(CalendarConnection.user_id == user_id, _due(synced_before))
            .values(tasks_synced_at=now)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        assert isinstance(result, CursorResult)
        return int(result.rowcount) == 1

    async def connected_user(self, scope: str, user_id: str) -> SyncUser | None:
        """The user, when they have a working connection whose grant holds `scope`. One statement."""
        stmt = (
            select(User.id, User.open_id, User.locale, User.timezone)
            .join(CalendarConnection, CalendarConnection.user_id == User.id)
            .where(
                User.id == user_id,
                CalendarConnection.status == ConnectionStatus.CONNECTED,
                CalendarConnection.scope.contains(scope),
            )
        )
        row = (await self.session.execute(stmt)).first()
        return SyncUser(*row) if row is not None else None

    async def unasked(self, user_id: str, prefix: str, now: datetime, limit: int) -> list[Task]:
        """Up to `limit` of the user's open synced tasks, soonest deadline first (none last), with no
        notification keyed `prefix` + task id yet and a deadline not passed. One statement."""
        asked = select(Notification.id).where(
            Notification.dedupe_key == literal(prefix, String).concat(Task.id)
        )
        stmt = (
            select(Task)
            .where(
                Task.user_id == user_id,
                Task.feishu_task_guid.is_not(None),
                Task.status == TaskStatus.OPEN,
                or_(Task.deadline.is_(None), Task.deadline > now),
                ~asked.exists(),
            )
            .order_by(Task.deadline.is_(None), Task.deadline, Task.id)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def users_of_guid(self, scope: str, guid: str) -> list[SyncUser]:
        """The connected users (grant holding `scope`) who have a task synced from this Feishu guid. One
        statement."""
        stmt = (
            select(User.id, User.open_id, User.locale, User.timezone)
            .join(CalendarConnection, CalendarConnection.user_id == User.id)
            .join(Task, Task.user_id == User.id)
            .where(
                Task.feishu_task_guid == guid,
                CalendarConnection.status == ConnectionStatus.CONNECTED,
                CalendarConnection.scope.contains(scope),
            )
            .distinct()
            .order_by(User.id)
        )
        return [SyncUser(*row) for row in (await self.session.execute(stmt)).all()]

    async def by_guids(self, user_id: str, guids: Iterable[str]) -> dict[str, Task]:
        """The user's tasks synced from these Feishu guids, locked, by guid. One statement."""
        wanted = sorted(set(guids))
        if not wanted:
            return {}
        stmt = (
            select(Task)
            .where(Task.user_id == user_id, Task.feishu_task_guid.in_(wanted))
            .order_by(Task.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {t.feishu_task_guid: t for t in (await self.session.scalars(stmt)).all() if t.feishu_task_guid}

    async def task(self, task_id: str) -> Task | None:
        return await self.session.get(Task, task_id, populate_existing=True)

    def add(self, task: Task) -> None:
        self.session.add(task)

    async def ready_previews(self, task_ids: Iterable[str]) -> Sequence[Preview]:
        """The ready previews of these tasks, locked. One statement."""
        wanted = sorted(set(task_ids))
        if not wanted:
            return []
        stmt = (
            select(Preview)
            .where(Preview.task_id.in_(wanted), Preview.status == PreviewStatus.READY)
            .order_by(Preview.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).all()


def _due(synced_before: datetime) -> Any:
    return or_(
        CalendarConnection.tasks_synced_at.is_(None), CalendarConnection.tasks_synced_at <= synced_before
    )
