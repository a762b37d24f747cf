"""Inbox rows for inbound Feishu traffic: one per message, click or event key; a repeat is a redelivery."""

from __future__ import annotations

from datetime import datetime

from store import UnitOfWork, short_key
from store.enums import InboxKind, InboxStatus
from store.models import InboxEntry


async def record(
    uow: UnitOfWork,
    kind: InboxKind,
    key: str,
    event_type: str,
    now: datetime,
    *,
    status: InboxStatus = InboxStatus.RECEIVED,
    error: str | None = None,
) -> InboxEntry | None:
    """Insert the key's row (race-safe); None when it was already recorded. The row is returned so its
    outcome can be set in the same transaction without reading it back."""
    row = InboxEntry(
        kind=kind,
        dedupe_key=short_key(key),
        event_type=event_type,
        status=status,
        received_at=now,
        processed_at=None if status == InboxStatus.RECEIVED else now,
        error=error,
    )
    return row if await uow.inbox.add_if_absent(row) else None


def settle(row: InboxEntry, status: InboxStatus, now: datetime, error: str | None = None) -> None:
    row.status = status
    row.processed_at = now
    row.error = error
