"""Card presses in the inbox: recorded with what was pressed and a lease, finished once, reclaimed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from store.enums import InboxKind, InboxStatus
from store.models import InboxEntry, Preview, Task, User
from store.repositories.base import Repository
from store.repositories.lease import claim
from store.types import new_id, short_key


def _with_owner_and_task(stmt: Any, preview_ids: list[str]) -> Any:
    """A select over previews joined to their owner and (outer) their task, for these previews."""
    return (
        stmt.join(User, User.id == Preview.user_id)
        .outerjoin(Task, Task.id == Preview.task_id)
        .where(Preview.id.in_(preview_ids))
    )


@dataclass(frozen=True)
class PressedPreview:
    """What recording a press needs of its preview: who owns it, in which language, and its task's title."""

    preview_id: str
    open_id: str
    locale: str | None
    title: str  # the preview's task title ("" without a task)


class PressRepository(Repository[InboxEntry]):
    model = InboxEntry

    async def record_many(
        self,
        presses: Sequence[tuple[str, str, dict[str, Any], datetime]],
        *,
        worker_id: str,
        lease_seconds: float,
    ) -> set[str]:
        """`record` of many presses, each (key, event type, payload, now), in two statements: the shortened
        keys that were inserted (a key already there, or twice in `presses`, is inserted once at most). One
        statement when all or none were inserted."""
        if not presses:
            return set()
        rows = [
            {
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
            for key, event_type, payload, now in presses
        ]
        result: Any = await self.session.execute(self.insert_skipping_duplicates(), rows)
        if result.rowcount == len(rows):
            return {str(r["dedupe_key"]) for r in rows}
        if not result.rowcount:
            return set()
        ours = select(InboxEntry.dedupe_key).where(InboxEntry.id.in_([r["id"] for r in rows]))
        return set((await self.session.scalars(ours)).all())

    async def by_keys(self, keys: Iterable[str]) -> dict[str, InboxEntry]:
        """The presses of these keys, by shortened key, in one statement."""
        wanted = sorted({short_key(k) for k in keys})
        if not wanted:
            return {}
        stmt = select(InboxEntry).where(InboxEntry.dedupe_key.in_(wanted))
        return {e.dedupe_key: e for e in (await self.session.scalars(stmt)).all()}

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

    async def settle_many(self, keys: Sequence[str], now: datetime, *, worker_id: str) -> int:
        """`settle` (processed) of many presses still received and leased to `worker_id`, in one
        statement; how many it settled (fewer than `keys` when another process took one)."""
        if not keys:
            return 0
        stmt = (
            update(InboxEntry)
            .where(
                InboxEntry.dedupe_key.in_([short_key(k) for k in keys]),
                InboxEntry.status == InboxStatus.RECEIVED,
                InboxEntry.claimed_by == worker_id,
            )
            .values(status=InboxStatus.PROCESSED, processed_at=now, error=None, claimed_until=None)
        )
        result: Any = await self.session.execute(stmt.execution_options(synchronize_session=False))
        return int(result.rowcount)

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

    async def pressed_many(self, preview_ids: Iterable[str]) -> dict[str, tuple[Preview, User, Task | None]]:
        """Previews with their owner and their task (None without one), in one statement, by preview id
        (an unknown id is left out)."""
        wanted = sorted(set(preview_ids))
        if not wanted:
            return {}
        stmt = _with_owner_and_task(select(Preview, User, Task), wanted)
        return {row[0].id: (row[0], row[1], row[2]) for row in (await self.session.execute(stmt)).all()}

    async def pressed_owners(self, preview_ids: Iterable[str]) -> dict[str, PressedPreview]:
        """`pressed_many` narrowed to the five columns a first press needs (no rows made into objects, no
        candidates decoded), by preview id; an unknown id is left out."""
        wanted = sorted(set(preview_ids))
        if not wanted:
            return {}
        stmt = _with_owner_and_task(select(Preview.id, User.open_id, User.locale, Task.title), wanted)
        rows = (await self.session.execute(stmt)).all()
        return {r[0]: PressedPreview(r[0], r[1], r[2], r[3] or "") for r in rows}
