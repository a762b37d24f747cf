"""Card presses in the inbox: recorded with what was pressed and a lease, finished once, reclaimed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import mysql, sqlite

from store.enums import InboxKind, InboxStatus
from store.models import InboxEntry, Preview, Task, User
from store.repositories.base import Repository
from store.repositories.lease import claim
from store.types import new_id, short_key


class PressRepository(Repository[InboxEntry]):
    model = InboxEntry

    async def record(
        self,
        key: str,
        event_type: str,
        payload: dict[str, Any],
        now: datetime,
        *,
        worker_id: str,
        lease_seconds: float,
    ) -> bool:
        """Insert the press (status received, leased to `worker_id`); False when the key is already there
        (a redelivery or a second copy of the press). One statement, race-safe."""
        values = {
            "id": new_id(),
            "kind": InboxKind.CLICK.value,
            "dedupe_key": short_key(key),
            "event_type": event_type,
            "status": InboxStatus.RECEIVED.value,
            "received_at": now,
            "payload": payload,
            "claimed_by": worker_id,
            "claimed_until": now + timedelta(seconds=lease_seconds),
        }
        table: Any = InboxEntry.__table__
        stmt: Any
        if self.session.get_bind().dialect.name == "mysql":
            stmt = mysql.insert(table).values(values).prefix_with("IGNORE")
        else:
            stmt = sqlite.insert(table).values(values).on_conflict_do_nothing()
        result: Any = await self.session.execute(stmt)
        return bool(result.rowcount)

    async def by_key(self, key: str) -> InboxEntry | None:
        stmt = select(InboxEntry).where(InboxEntry.dedupe_key == short_key(key))
        return (await self.session.scalars(stmt)).one_or_none()

    async def settle(
        self, key: str, status: InboxStatus, now: datetime, error: str | None = None, *, worker_id: str | None
    ) -> bool:
        """Record the outcome of a press still received (and, with `worker_id`, still leased to it); False
        when another process settled it first. One statement."""
        stmt = update(InboxEntry).where(
            InboxEntry.dedupe_key == short_key(key), InboxEntry.status == InboxStatus.RECEIVED
        )
        if worker_id is not None:
            stmt = stmt.where(InboxEntry.claimed_by == worker_id)
        stmt = stmt.values(status=status, processed_at=now, error=error, claimed_until=None)
        result: Any = await self.session.execute(stmt.execution_options(synchronize_session=False))
        return bool(result.rowcount)

    async def retake(self, key: str, now: datetime, *, worker_id: str, lease_seconds: float) -> bool:
        """A press that failed is being tried again: received again, leased to `worker_id`."""
        stmt = (
            update(InboxEntry)
            .where(InboxEntry.dedupe_key == short_key(key), InboxEntry.status == InboxStatus.FAILED)
            .values(
                status=InboxStatus.RECEIVED,
                processed_at=None,
                error=None,
                claimed_by=worker_id,
                claimed_until=now + timedelta(seconds=lease_seconds),
            )
        )
        result: Any = await self.session.execute(stmt.execution_options(synchronize_session=False))
        return bool(result.rowcount)

    async def claim_unfinished(
        self, worker_id: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[InboxEntry]:
        """Presses recorded but never finished (their process stopped) whose lease expired."""
        return await claim(
            self.session,
            InboxEntry,
            worker_id,
            now,
            lease_seconds,
            limit,
            where=[
                InboxEntry.kind == InboxKind.CLICK,
                InboxEntry.status == InboxStatus.RECEIVED,
                InboxEntry.claimed_until.is_not(None),
            ],
            order_by=[InboxEntry.claimed_until, InboxEntry.id],
        )

    async def preview_and_owner(self, preview_id: str, *, lock: bool = False) -> tuple[Preview, User] | None:
        """A preview with its owner, in one statement; `lock` locks the preview row (not the user's)."""
        stmt = select(Preview, User).join(User, User.id == Preview.user_id).where(Preview.id == preview_id)
        if lock:
            stmt = stmt.with_for_update(of=Preview).execution_options(populate_existing=True)
        row = (await self.session.execute(stmt)).first()
        return None if row is None else (row[0], row[1])

    async def pressed(self, preview_id: str) -> tuple[Preview, User, str | None] | None:
        """A preview with its owner and its task's title (None without a task), in one statement."""
        stmt = (
            select(Preview, User, Task.title)
            .join(User, User.id == Preview.user_id)
            .outerjoin(Task, Task.id == Preview.task_id)
            .where(Preview.id == preview_id)
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else (row[0], row[1], row[2])

    async def owners(self, open_ids: Sequence[str]) -> dict[str, User]:
        stmt = select(User).where(User.open_id.in_(list(open_ids)))
        return {u.open_id: u for u in (await self.session.scalars(stmt)).all()}
