"""Delivery bookkeeping: leases on notifications being sent, the daily card count, and send outcomes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.enums import JobStatus, NotificationKind, NotificationStatus, PreviewStatus
from store.models import Job, Notification, Preview, User
from store.repositories.messaging import NOTIFICATION_DUE


@dataclass(frozen=True)
class CardCounts:
    """The users' cards sent since some time or being sent now, to count each one's cards today."""

    rows: Mapping[str, list[tuple[str, str, datetime | None]]]  # user id -> [(id, status, sent_at)]

    def since(self, user_id: str, exclude_id: str, since: datetime) -> int:
        """As `cards_in_flight_or_sent_since` counts, from rows read for a `since` no later than this one."""
        return sum(
            1
            for row_id, status, sent_at in self.rows.get(user_id, ())
            if row_id != exclude_id
            and (status == NotificationStatus.SENDING or (sent_at is not None and _aware(sent_at) >= since))
        )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class DeliveryRepository:
    """The writes and counts of the delivery worker; every write is guarded by the caller's lease."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def stuck_sending(self, now: datetime, limit: int) -> list[Notification]:
        """`sending` rows whose lease lapsed (their worker died mid-send), oldest due first, locked for this
        unit of work (SKIP LOCKED on MySQL, so two recovering workers take different rows); the caller
        settles them, and its commit writes them in one statement."""
        stmt = (
            select(Notification)
            .where(
                Notification.status == NotificationStatus.SENDING,
                or_(Notification.claimed_until.is_(None), Notification.claimed_until <= now),
            )
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if self.session.get_bind().dialect.name == "mysql":
            stmt = stmt.with_for_update(skip_locked=True)
        return list((await self.session.scalars(stmt)).all())

    async def cards_in_flight_or_sent_since(self, user_id: str, exclude_id: str, since: datetime) -> int:
        """Cards to the user sent at or after `since` plus those being sent now, other than `exclude_id`."""
        count = await self.session.scalar(
            select(func.count()).where(
                Notification.user_id == user_id,
                Notification.kind == NotificationKind.CARD,
                Notification.id != exclude_id,
                or_(
                    and_(Notification.status == NotificationStatus.SENT, Notification.sent_at >= since),
                    Notification.status == NotificationStatus.SENDING,
                ),
            )
        )
        return int(count or 0)

    async def cards_in_flight_or_sent(self, user_ids: Iterable[str], since: datetime) -> CardCounts:
        """The users' cards sent at or after `since` and those being sent now, in one query."""
        wanted = sorted(set(user_ids))
        rows: dict[str, list[tuple[str, str, datetime | None]]] = {}
        if not wanted:
            return CardCounts(rows)
        result = await self.session.execute(
            select(Notification.user_id, Notification.id, Notification.status, Notification.sent_at).where(
                Notification.user_id.in_(wanted),
                Notification.kind == NotificationKind.CARD,
                or_(
                    and_(Notification.status == NotificationStatus.SENT, Notification.sent_at >= since),
                    Notification.status == NotificationStatus.SENDING,
                ),
            )
        )
        for user_id, row_id, status, sent_at in result.all():
            rows.setdefault(user_id, []).append((row_id, status, sent_at))
        return CardCounts(rows)

    async def preview_ready(self, preview_id: str, now: datetime) -> bool:
        """The preview is still ready and not expired (its card may go)."""
        found = await self.session.scalar(
            select(Preview.id).where(
                Preview.id == preview_id,
                Preview.status == PreviewStatus.READY,
                Preview.expires_at > now,
            )
        )
        return found is not None

    async def lock_user(self, user_id: str) -> None:
        """Hold the user's row lock until the unit of work ends (serialises sends to one user)."""
        await self.session.execute(select(User.id).where(User.id == user_id).with_for_update())

    async def mark_sending(
        self,
        notification_id: str,
        worker_id: str,
        attempts: int,
        now: datetime,
        lease_seconds: float,
        *,
        ready_preview: str | None = None,
    ) -> bool:
        """Mark a due row `sending` with its attempt counted and a fresh lease; False when not ours, or
        when `ready_preview` (the card's preview) is no longer ready (tell them apart with preview_ready)."""
        where = [
            Notification.id == notification_id,
            Notification.claimed_by == worker_id,
            Notification.status.in_(NOTIFICATION_DUE),
        ]
        if ready_preview is not None:
            where.append(
                exists().where(
                    Preview.id == ready_preview,
                    Preview.status == PreviewStatus.READY,
                    Preview.expires_at > now,
                )
            )
        result: Any = await self.session.execute(
            update(Notification)
            .where(*where)
            .values(
                status=NotificationStatus.SENDING,
                attempts=attempts,
                claimed_until=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
            # No Python evaluation of the EXISTS, and no SELECT first to find the rows (MySQL has no
            # RETURNING): nothing in this session holds the row.
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)

    async def record_outcome(self, notification_id: str, worker_id: str, values: Mapping[str, Any]) -> bool:
        """Write an outcome (notification columns in `values`) to a row leased to `worker_id`; False when
        the lease was lost."""
        result: Any = await self.session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.claimed_by == worker_id)
            .values(**values)
        )
        return bool(result.rowcount)

    async def rearm_job(self, task_id: str, now: datetime) -> None:
        """Make the task's triggered job due again now (its card was held until its preview expired)."""
        await self.session.execute(
            update(Job)
            .where(Job.task_id == task_id, Job.status == JobStatus.TRIGGERED)
            .values(status=JobStatus.PENDING, trigger_at=now, trigger_id=None, updated_at=now)
        )

    async def set_card_message(self, preview_id: str, message_id: str) -> None:
        """Remember the message that carries the preview's card (card updates edit it)."""
        await self.session.execute(
            update(Preview).where(Preview.id == preview_id).values(card_message_id=message_id)
        )

    async def settle_unclaimed_many(self, outcomes: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """`settle_unclaimed` of many rows, each (notification id, its columns, the same names for every
        row): one statement, executed once per row (a Core executemany, compiled once)."""
        if not outcomes:
            return
        table: Any = Notification.__table__
        names = sorted(outcomes[0][1])
        stmt = (
            update(table)
            .where(
                table.c.id == bindparam("row_id"),
                table.c.claimed_by.is_(None),
                # not IN (...): an expanding parameter cannot be executed for many rows
                or_(*(table.c.status == status for status in NOTIFICATION_DUE)),
            )
            .values({name: bindparam(f"new_{name}") for name in names})
        )
        params = [{"row_id": row_id, **{f"new_{k}": values[k] for k in names}} for row_id, values in outcomes]
        await self.session.execute(stmt, params)

    async def settle_unclaimed(self, notification_id: str, values: Mapping[str, Any]) -> bool:
        """Write an outcome to a due row no worker has claimed (the process that queued it sent it at
        once); False when a worker took it meanwhile (that worker records its own outcome)."""
        result: Any = await self.session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.claimed_by.is_(None),
                Notification.status.in_(NOTIFICATION_DUE),
            )
            .values(**values)
        )
        return bool(result.rowcount)
