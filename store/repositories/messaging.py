"""Repositories for delivery and bookkeeping: notifications, outbox, inbox, audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from store.enums import InboxKind, InboxStatus, NotificationKind, NotificationStatus, OutboxStatus
from store.models import AuditEntry, InboxEntry, Notification, OutboxMessage
from store.repositories.base import Repository
from store.repositories.lease import claim
from store.types import new_id, short_key

# States a delivery worker picks up once next_attempt_at has passed.
NOTIFICATION_DUE = (NotificationStatus.PENDING, NotificationStatus.FAILED, NotificationStatus.DEFERRED)


@dataclass(frozen=True)
class PendingNotification:
    """A notification to insert pending, due at `next_attempt_at`, unless its dedupe key is present."""

    dedupe_key: str
    user_id: str
    kind: NotificationKind
    payload: Any
    now: datetime
    next_attempt_at: datetime


class NotificationRepository(Repository[Notification]):
    model = Notification

    async def insert_absent_many(self, items: Sequence[PendingNotification]) -> dict[str, tuple[str, str]]:
        """`insert_if_absent` of many notifications: {dedupe key: (id, status)} of every key given, the
        row inserted now or the one already there. One statement when every row was inserted, two
        otherwise."""
        if not items:
            return {}
        rows = [
            {
                "id": new_id(),
                "user_id": n.user_id,
                "preview_id": None,
                "kind": n.kind,
                "dedupe_key": short_key(n.dedupe_key),
                "status": NotificationStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": n.next_attempt_at,
                "payload": n.payload,
                "created_at": n.now,
                "updated_at": n.now,
            }
            for n in items
        ]
        result: Any = await self.session.execute(self.insert_skipping_duplicates(), rows)
        short = {n.dedupe_key: row["dedupe_key"] for n, row in zip(items, rows, strict=True)}
        if result.rowcount == len(rows) and len(set(short.values())) == len(rows):
            mine = {row["dedupe_key"]: (row["id"], str(row["status"])) for row in rows}
        else:
            there = select(Notification.dedupe_key, Notification.id, Notification.status).where(
                Notification.dedupe_key.in_(sorted(set(short.values())))
            )
            mine = {key: (id_, status) for key, id_, status in (await self.session.execute(there)).all()}
        return {key: mine[s] for key, s in short.items() if s in mine}

    async def find_by_dedupe(self, dedupe_key: str) -> Notification | None:
        stmt = select(Notification).where(Notification.dedupe_key == short_key(dedupe_key))
        return (await self.session.scalars(stmt)).one_or_none()

    async def insert_if_absent(
        self,
        dedupe_key: str,
        *,
        user_id: str,
        kind: NotificationKind,
        payload: Any,
        now: datetime,
        preview_id: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> tuple[Notification, bool]:
        """Insert a pending notification unless one with this dedupe key exists; (row, created)."""
        row = Notification(
            user_id=user_id,
            preview_id=preview_id,
            kind=kind,
            dedupe_key=short_key(dedupe_key),
            status=NotificationStatus.PENDING,
            attempts=0,
            next_attempt_at=next_attempt_at or now,
            payload=payload,
            created_at=now,
            updated_at=now,
        )
        if await self.add_if_absent(row):
            return row, True
        existing = await self.find_by_dedupe(dedupe_key)
        if existing is None:  # pragma: no cover - the colliding row was deleted in between
            raise LookupError(f"notification {dedupe_key!r} collided but is gone")
        return existing, False

    async def claim_due(
        self, worker_id: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[Notification]:
        return await claim(
            self.session,
            Notification,
            worker_id,
            now,
            lease_seconds,
            limit,
            where=[Notification.status.in_(NOTIFICATION_DUE), Notification.next_attempt_at <= now],
            order_by=[Notification.next_attempt_at, Notification.id],
        )

    async def count_sent_since(self, user_id: str, since: datetime, kind: str = NotificationKind.CARD) -> int:
        """How many notifications of `kind` were sent to the user at or after `since` (daily card cap)."""
        stmt = select(func.count()).where(
            Notification.user_id == user_id,
            Notification.kind == kind,
            Notification.status == NotificationStatus.SENT,
            Notification.sent_at >= since,
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def for_preview(self, preview_id: str) -> Sequence[Notification]:
        stmt = select(Notification).where(Notification.preview_id == preview_id)
        return (await self.session.scalars(stmt.order_by(Notification.created_at, Notification.id))).all()


class OutboxRepository(Repository[OutboxMessage]):
    model = OutboxMessage

    def put(
        self, topic: str, payload: Any, now: datetime, available_at: datetime | None = None
    ) -> OutboxMessage:
        """Queue a message; it is relayed once the surrounding unit of work commits."""
        row = OutboxMessage(
            topic=topic,
            payload=payload,
            status=OutboxStatus.PENDING,
            attempts=0,
            available_at=available_at or now,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        return row

    async def claim_due(
        self, worker_id: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[OutboxMessage]:
        return await claim(
            self.session,
            OutboxMessage,
            worker_id,
            now,
            lease_seconds,
            limit,
            # Rows stay pending while leased; an expired lease makes them claimable again. An equality on
            # status keeps the scan on ix_outbox_status_available_at, so MySQL locks only `limit` rows.
            where=[OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.available_at <= now],
            order_by=[OutboxMessage.available_at, OutboxMessage.id],
        )


class InboxRepository(Repository[InboxEntry]):
    model = InboxEntry

    async def record(self, kind: InboxKind, key: str, event_type: str | None, now: datetime) -> bool:
        """Remember an inbound key; False when it was already recorded (a redelivery). Race-safe."""
        row = InboxEntry(
            kind=kind,
            dedupe_key=short_key(key),
            event_type=event_type,
            status=InboxStatus.RECEIVED,
            received_at=now,
        )
        return await self.add_if_absent(row)

    async def get_by_key(self, key: str) -> InboxEntry | None:
        stmt = select(InboxEntry).where(InboxEntry.dedupe_key == short_key(key))
        return (await self.session.scalars(stmt)).one_or_none()

    async def mark(self, key: str, status: InboxStatus, now: datetime, error: str | None = None) -> bool:
        """Set the outcome of a recorded key; False when the key is unknown."""
        row = await self.get_by_key(key)
        if row is None:
            return False
        row.status = status
        row.processed_at = now
        row.error = error
        return True


class AuditRepository(Repository[AuditEntry]):
    model = AuditEntry

    def log(
        self, actor: str, action: str, *, target: str | None, outcome: str, now: datetime, detail: Any = None
    ) -> AuditEntry:
        row = AuditEntry(
            actor=actor, action=action, target=target, detail=detail, outcome=outcome, created_at=now
        )
        self.session.add(row)
        return row

    async def recent(self, limit: int = 50) -> Sequence[AuditEntry]:
        stmt = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id).limit(limit)
        return (await self.session.scalars(stmt)).all()
