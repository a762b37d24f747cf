"""Another time, chosen by the user: the start picked on a proposal card becomes one more candidate of the
preview, checked the way the planner checks its own (scheduler.planning.pick), then applied through the
same path as any option (scheduler.services.apply), so the schedule-version check, the overlap probe and
the idempotency record all hold for it too."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.planning import PickRefusal, pick
from scheduler.services import previews
from scheduler.services.choice import candidate_texts, locale_of
from scheduler.services.codec import encode_candidate
from scheduler.services.context import load_context, target_for_trigger
from scheduler.services.errors import ErrorCode
from scheduler.services.late import read_deadline
from store import Store, UnitOfWork
from store.enums import PreviewStatus

log = logging.getLogger(__name__)

_REFUSALS = {
    PickRefusal.NOTHING_TO_PLAN: ErrorCode.PICK_NOTHING_TO_PLAN,
    PickRefusal.PAST: ErrorCode.PICK_PAST,
    PickRefusal.BEYOND_WINDOW: ErrorCode.PICK_BEYOND_WINDOW,
    PickRefusal.OUTSIDE_DAY: ErrorCode.PICK_OUTSIDE_DAY,
    PickRefusal.BUSY: ErrorCode.PICK_BUSY,
}
_LABEL = {"zh": "你选的时间", "en": "Your time"}


@dataclass(frozen=True)
class Picked:
    """The candidate a pick made (`stored` is None when the preview is no longer ready: the apply then
    answers as for any option, e.g. a replay, already applied or expired), or why there is none."""

    candidate_id: str = ""
    stored: dict[str, Any] | None = None
    code: ErrorCode | None = None


async def picked_candidate(  # noqa: PLR0917 - the press's fields
    store: Store, preview_id: str, operator_open_id: str, raw: str, now: datetime, grid_minutes: int
) -> Picked:
    """Read the pick and check it against the user's schedule as it is now (one read-only transaction).
    Whatever changes after this read changes the user's schedule version, which the apply then refuses."""
    async with store.uow(readonly=True) as uow:
        return await _picked_in(uow, preview_id, operator_open_id, raw, now, grid_minutes)


async def _picked_in(  # noqa: PLR0917 - the press's fields
    uow: UnitOfWork, preview_id: str, operator_open_id: str, raw: str, now: datetime, grid_minutes: int
) -> Picked:
    found = await uow.presses.preview_and_owner(preview_id)
    if found is None or found[1].open_id != operator_open_id:
        return Picked(code=ErrorCode.NOT_FOUND)
    preview, user = found
    if preview.status != PreviewStatus.READY or now >= preview.expires_at:
        # not ready: let the apply say what it is (a replay of this press, already applied, expired, ...)
        return Picked(candidate_id=preview.apply_candidate_id or "")
    at = read_deadline(raw, user.timezone)
    if at is None:
        return Picked(code=ErrorCode.PICK_UNREADABLE)
    trigger = await uow.triggers.get(preview.trigger_id)
    if trigger is None:
        return Picked(code=ErrorCode.PICK_NOTHING_TO_PLAN)
    target = await target_for_trigger(uow, user, trigger)
    ctx = await load_context(uow, user, now, target, grid_minutes)
    made = pick(ctx, at)
    if isinstance(made, PickRefusal):
        log.info("pick on preview %s refused: %s", preview_id, made.value)
        return Picked(code=_REFUSALS[made])
    texts = candidate_texts(made, ctx)
    stored = encode_candidate(
        made, summary=texts.summary, before=texts.before, after=texts.after, label=_LABEL[locale_of(ctx)]
    )
    stored["picked"] = True
    return Picked(candidate_id=made.id, stored=stored)


async def keep_picked_in(uow: UnitOfWork, preview_id: str, picked: Picked) -> None:
    """Store the picked candidate on the (locked) preview, inside the apply's transaction, so the apply finds
    it like any other option and the card can show it afterwards."""
    if picked.stored is None:
        return
    preview = await uow.previews.get_for_update(preview_id)
    if preview is not None:
        previews.add_candidate(preview, picked.stored)
