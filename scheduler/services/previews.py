"""The preview's states and transitions: every caller asks this module to move a preview, none sets status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.outcomes import PreviewState, publish_update
from store import UnitOfWork
from store.enums import ApplyStatus, PreviewStatus
from store.models import Preview

# status -> the statuses it may move to. `applied` is final for the status; an undo is recorded in the
# apply record ("state": "undone"), so the card can say what happened and the change set stays the history.
TRANSITIONS: dict[PreviewStatus, frozenset[PreviewStatus]] = {
    PreviewStatus.READY: frozenset(
        {PreviewStatus.APPLIED, PreviewStatus.IGNORED, PreviewStatus.EXPIRED, PreviewStatus.FAILED}
    ),
    PreviewStatus.APPLIED: frozenset(),
    PreviewStatus.IGNORED: frozenset(),
    PreviewStatus.EXPIRED: frozenset(),
    PreviewStatus.FAILED: frozenset(),
}

# The card update each transition publishes (None: the caller's answer replaces the card itself).
_PUBLISHED: dict[PreviewStatus, PreviewState | None] = {
    PreviewStatus.APPLIED: PreviewState.APPLIED,
    PreviewStatus.IGNORED: PreviewState.IGNORED,
    PreviewStatus.EXPIRED: PreviewState.EXPIRED,
    PreviewStatus.FAILED: None,
}


def can_move(preview: Preview, to: PreviewStatus) -> bool:
    return to in TRANSITIONS.get(PreviewStatus(preview.status), frozenset())


def move(
    uow: UnitOfWork, preview: Preview, to: PreviewStatus, now: datetime, *, publish: bool = True
) -> None:
    """Move `preview` to `to` in the caller's transaction and queue its card update (unless `publish` is
    False: an answered question's card is replaced by the click's answer). An illegal move is a bug in the
    caller, refused as invalid_state before anything is written."""
    if not can_move(preview, to):
        raise ServiceError(ErrorCode.INVALID_STATE, f"preview {preview.id}: {preview.status} -> {to.value}")
    preview.status = to
    preview.version += 1
    preview.updated_at = now
    state = _PUBLISHED[to]
    if publish and state is not None:
        publish_update(uow, preview.id, state, now)


def add_candidate(preview: Preview, stored: dict[str, Any]) -> None:
    """One more option on a ready preview (a time the user picked); the same id is not added twice."""
    if preview.status != PreviewStatus.READY:
        return
    current = preview.candidates if isinstance(preview.candidates, list) else []
    if any(isinstance(c, dict) and c.get("id") == stored.get("id") for c in current):
        return
    preview.candidates = [*current, stored]  # a new list: the JSON column sees the change


def record_applied(
    uow: UnitOfWork,
    preview: Preview,
    *,
    candidate_id: str,
    change_set_id: str,
    key: str,
    request_hash: str,
    result: dict[str, Any],
    now: datetime,
) -> None:
    """ready -> applied, with the apply record that makes a repeated request a replay."""
    move(uow, preview, PreviewStatus.APPLIED, now)
    preview.apply_status = ApplyStatus.APPLIED
    preview.apply_candidate_id = candidate_id
    preview.apply_idempotency_key = key
    preview.apply_request_hash = request_hash
    preview.apply_result = result
    preview.apply_error = None
    preview.applied_at = now
    preview.change_set_id = change_set_id


def record_refusal(preview: Preview, code: ErrorCode, now: datetime) -> bool:
    """A refused or failed apply on a still-ready preview: the code is kept for the card (the preview stays
    ready, so another option may still be applied). False when there is nothing to record on."""
    if preview.status != PreviewStatus.READY or preview.apply_status == ApplyStatus.APPLIED:
        return False
    preview.apply_status = ApplyStatus.FAILED if code == ErrorCode.INTERNAL else ApplyStatus.REJECTED
    preview.apply_error = code.value
    preview.updated_at = now
    return True


def record_undone(uow: UnitOfWork, preview: Preview, now: datetime) -> None:
    """An applied preview's change was reverted: the apply record says so; the status stays applied."""
    if preview.status != PreviewStatus.APPLIED:
        raise ServiceError(ErrorCode.INVALID_STATE, f"preview {preview.id} is {preview.status}, not applied")
    # JSON columns track assignment, not in-place mutation: assign a new dict.
    preview.apply_result = {
        **(preview.apply_result or {}),
        "state": PreviewState.UNDONE.value,
        "undone_at": now.isoformat(),
    }
    preview.version += 1
    preview.updated_at = now
    publish_update(uow, preview.id, PreviewState.UNDONE, now)
