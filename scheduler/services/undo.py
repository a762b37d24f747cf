"""Undo an applied preview within 24 hours, if nothing it touched changed since; all or nothing."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from scheduler.planning import model as pm
from scheduler.services import calendar_events, previews
from scheduler.services.changeset import Refused, revert
from scheduler.services.errors import ErrorCode
from scheduler.services.outcomes import UNDO_WINDOW, ActionOutcome, retrying
from store import Store, UnitOfWork
from store.enums import ApplyStatus

log = logging.getLogger(__name__)


async def undo(store: Store, *, preview_id: str, operator_open_id: str, now: datetime) -> ActionOutcome:
    """Revert the change set of `preview_id`: inserted blocks deleted, moved/resized blocks restored, day
    extensions removed or restored; the change set gets undone_at, the preview's apply_result gets
    "state": "undone" and "undone_at" (apply_status stays "applied"), and a preview.updated "undone" row is
    queued. undo_conflict (nothing written) when a touched row changed since or a restored place is taken."""
    return await retrying(lambda: _undo_once(store, preview_id, operator_open_id, now), what="undo")


async def _undo_once(store: Store, preview_id: str, operator_open_id: str, now: datetime) -> ActionOutcome:
    async with store.uow() as uow:
        outcome = await undo_in(uow, preview_id, operator_open_id, now)
        if outcome.status == "undone" and not outcome.replayed:
            await uow.commit()
    return outcome


async def undo_in(uow: UnitOfWork, preview_id: str, operator_open_id: str, now: datetime) -> ActionOutcome:
    """Undo inside the caller's unit of work (the caller commits)."""

    def rejected(code: ErrorCode) -> ActionOutcome:
        return ActionOutcome("rejected", code, preview_id)

    preview = await uow.previews.get_for_update(preview_id)
    if preview is None:
        return rejected(ErrorCode.NOT_FOUND)
    user = await uow.users.get_for_update(preview.user_id)
    if user is None or user.open_id != operator_open_id:
        return rejected(ErrorCode.NOT_FOUND)  # scoped by the acting user: another's preview is not found
    if preview.apply_status != ApplyStatus.APPLIED or preview.change_set_id is None:
        return rejected(ErrorCode.NOTHING_TO_UNDO)
    change_set = await uow.change_sets.get_for_update(preview.change_set_id)
    if change_set is None:
        return rejected(ErrorCode.NOTHING_TO_UNDO)
    if change_set.undone_at is not None:
        return ActionOutcome("undone", None, preview_id, change_set.id, replayed=True)
    if now >= change_set.applied_at + UNDO_WINDOW:
        return rejected(ErrorCode.UNDO_EXPIRED)
    items: list[dict[str, Any]] = list(change_set.changes.get("items", []))
    try:
        touched = await revert(uow, user, items, now)
    except Refused as refused:
        # revert may have written part of it: the caller must not commit a rejection
        log.info("undo of preview %s refused: %s", preview_id, refused.detail)
        return rejected(refused.code)
    # Their Feishu events follow once this commits (the worker): deleted with the inserted blocks, moved back
    # with the restored ones.
    inserted = {i["block_id"] for i in items if i["kind"] == pm.ChangeKind.ADD_BLOCK}
    await calendar_events.queue_for(
        uow,
        user.id,
        now,
        kept=[b for i, b in touched.items() if i not in inserted],
        removed=[b for i, b in touched.items() if i in inserted],
    )
    change_set.undone_at = now
    previews.record_undone(uow, preview, now)
    user.schedule_version += 1
    user.updated_at = now
    log.info("preview %s undone (change set %s)", preview_id, change_set.id, extra={"preview_id": preview_id})
    return ActionOutcome("undone", None, preview_id, change_set.id)
