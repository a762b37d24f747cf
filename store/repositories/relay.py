"""Outbox relay writes: the claimed batch, notifications inserted unless their dedupe key exists, outcomes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.enums import NotificationKind, NotificationStatus, OutboxStatus
from store.models import Notification, OutboxMessage
from store.types import new_id, short_key


@dataclass(frozen=True)
class NewNotification:
    """A notification the relay asks for; inserted pending, due now."""

    dedupe_key: str
    user_id: str
    kind: NotificationKind
    payload: dict[str, Any]
    preview_id: str


class RelayRepository:
    """What the outbox relay reads and writes, each guarded by the relay's lease on the outbox rows."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claimed_pending(self, ids: Iterable[str], worker_id: str) -> list[OutboxMessage]:
        """The rows of `ids` still pending and leased to `worker_id`, in claim order (of two rows with one
        dedupe key the older one's notification is kept)."""
        stmt = (
            select(OutboxMessage)
            .where(
                OutboxMessage.id.in_(list(ids)),
                OutboxMessage.claimed_by == worker_id,
                OutboxMessage.status == OutboxStatus.PENDING,
            )
            .order_by(OutboxMessage.available_at, OutboxMessage.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def insert_notifications(self, items: Sequence[NewNotification], now: datetime) -> None:
        """Insert pending notifications in one statement; a dedupe key already present is left alone."""
        if not items:
            return
        values = [
            {
                "id": new_id(),
                "user_id": n.user_id,
                "preview_id": n.preview_id,
                "kind": n.kind,
                "dedupe_key": short_key(n.dedupe_key),
                "status": NotificationStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "payload": n.payload,
                "created_at": now,
                "updated_at": now,
            }
            for n in items
        ]
        stmt: Any
        if self.session.get_bind().dialect.name == "mysql":
            stmt = mysql.insert(Notification).values(values)
            stmt = stmt.on_duplicate_key_update(dedupe_key=stmt.inserted.dedupe_key)  # keep the existing row
        else:
            stmt = sqlite.insert(Notification).values(values).on_conflict_do_nothing()
        await self.session.execute(stmt)

    async def record_outcome(self, row_id: str, worker_id: str, values: Mapping[str, Any]) -> None:
        """Write an outcome (outbox columns in `values`) to a row still leased to `worker_id`."""
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == worker_id)
            .values(**values)
        )
