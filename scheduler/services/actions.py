"""The card actions on a preview: apply (apply.py), ignore, undo (undo.py), and the expiry sweep."""

from __future__ import annotations

import logging
from datetime import datetime

from scheduler.services import previews
from scheduler.services.apply import apply, request_hash
from scheduler.services.errors import ErrorCode
from scheduler.services.outcomes import (
    PREVIEW_UPDATED,
    ActionOutcome,
    ApplyOutcome,
    PreviewState,
    retrying,
)
from scheduler.services.undo import undo
from store import Store, UnitOfWork
from store.enums import PreviewStatus

log = logging.getLogger(__name__)

__all__ = [
    "PREVIEW_UPDATED",
    "ActionOutcome",
    "ApplyOutcome",
    "PreviewState",
    "apply",
    "expire_due",
    "ignore",
    "ignore_in",
    "request_hash",
    "undo",
]


async def ignore(store: Store, *, preview_id: str, operator_open_id: str, now: datetime) -> ActionOutcome:
    """Mark a ready preview ignored (its owner only); no schedule change. Ignoring twice is a replay."""
    return await retrying(lambda: _ignore_once(store, preview_id, operator_open_id, now), what="ignore")


async def _ignore_once(store: Store, preview_id: str, operator_open_id: str, now: datetime) -> ActionOutcome:
    async with store.uow() as uow:
        outcome = await ignore_in(uow, preview_id, operator_open_id, now)
        if outcome.status == "ignored" and not outcome.replayed:
            await uow.commit()
    return outcome


async def ignore_in(uow: UnitOfWork, preview_id: str, operator_open_id: str, now: datetime) -> ActionOutcome:
    """Ignore inside the caller's unit of work (the caller commits)."""

    def rejected(code: ErrorCode) -> ActionOutcome:
        return ActionOutcome("rejected", code, preview_id)

    found = await uow.presses.preview_and_owner(preview_id, lock=True)
    if found is None:
        return rejected(ErrorCode.NOT_FOUND)
    preview, owner = found
    if owner.open_id != operator_open_id:
        return rejected(ErrorCode.NOT_FOUND)  # scoped by the acting user: another's preview is not found
    if preview.status == PreviewStatus.IGNORED:
        return ActionOutcome("ignored", None, preview_id, replayed=True)
    if preview.status == PreviewStatus.APPLIED:
        return rejected(ErrorCode.ALREADY_APPLIED)
    if preview.status == PreviewStatus.EXPIRED or now >= preview.expires_at:
        return rejected(ErrorCode.EXPIRED)
    if not previews.can_move(preview, PreviewStatus.IGNORED):
        return rejected(ErrorCode.INVALID_STATE)
    previews.move(uow, preview, PreviewStatus.IGNORED, now)
    log.info("preview %s ignored", preview_id, extra={"preview_id": preview_id})
    return ActionOutcome("ignored", None, preview_id)


async def expire_due(store: Store, *, now: datetime, limit: int = 100) -> list[str]:
    """Ready previews whose expires_at has passed become expired (one preview.updated row each); returns
    their ids. Safe to run from several workers: each row is re-checked under its lock."""
    return await retrying(lambda: _expire_once(store, now, limit), what="expire")


async def _expire_once(store: Store, now: datetime, limit: int) -> list[str]:
    expired: list[str] = []
    async with store.uow() as uow:
        for candidate in await uow.previews.expiring(now, limit):
            # Locked one by one in (expires_at, id) order, so two sweepers cannot deadlock; an apply that
            # holds the lock finishes first and the re-check below then skips its preview.
            preview = await uow.previews.get_for_update(candidate.id)
            if preview is None or preview.status != PreviewStatus.READY or preview.expires_at > now:
                continue
            previews.move(uow, preview, PreviewStatus.EXPIRED, now)
            expired.append(preview.id)
        await uow.commit()
    if expired:
        log.info("%d previews expired", len(expired))
    return expired
