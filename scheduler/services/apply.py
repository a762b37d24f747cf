"""Apply one option of a preview: SPEC 3.6 checks in order, then one locked transaction, or nothing at all.

Rejections and what they write (documented choice): not_found, not_owner, already_applied, invalid_state,
candidate_not_found and idempotency_conflict are about the request, not the preview, and write nothing.
expired, base_version_changed, target_completed and slot_conflict record the code on the still-ready preview
(apply_status "rejected", apply_error = code) in a small transaction of their own; an unexpected database
failure records apply_status "failed", apply_error "internal". The preview stays "ready" in every case: each
click re-checks from scratch, so another option (or the same one after the schedule is restored) may still
succeed until the preview expires. Rejections write no outbox row: the preview's state did not change.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from scheduler.planning import base_version
from scheduler.planning import model as pm
from scheduler.services.changeset import (
    Refused,
    ensure_free,
    fixed_events_of,
    rewritten_ids,
    target_spans,
    write_changes,
)
from scheduler.services.codec import CodecError, encode_change, find_candidate
from scheduler.services.context import context_for_trigger
from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.outcomes import (
    UNDO_WINDOW,
    ApplyOutcome,
    PreviewState,
    publish_update,
    retrying,
)
from store import Store, UnitOfWork, short_key
from store.enums import ApplyStatus, PreviewStatus, TaskStatus
from store.models import ChangeSet, Preview
from store.repositories import is_duplicate_key

log = logging.getLogger(__name__)

# Rejections that say something about the preview itself; the others only about the request.
RECORDED = frozenset(
    {
        ErrorCode.EXPIRED,
        ErrorCode.BASE_VERSION_CHANGED,
        ErrorCode.TARGET_COMPLETED,
        ErrorCode.SLOT_CONFLICT,
        ErrorCode.INTERNAL,
    }
)
RESULT_V = 1

Hook = Callable[[], Awaitable[None]]


def request_hash(preview_id: str, candidate_id: str) -> str:
    """What makes two apply requests "the same body" for the idempotency check."""
    return hashlib.sha256(f"apply\n{preview_id}\n{candidate_id}".encode()).hexdigest()


@dataclass(frozen=True)
class _Request:
    preview_id: str
    candidate_id: str
    operator_open_id: str
    key: str
    hash: str
    now: datetime
    grid_minutes: int


def _rejected(req: _Request, code: ErrorCode) -> ApplyOutcome:
    return ApplyOutcome("rejected", code, req.preview_id)


async def apply(
    store: Store,
    *,
    preview_id: str,
    candidate_id: str,
    operator_open_id: str,
    idempotency_key: str,
    now: datetime,
    grid_minutes: int = 15,
    _between_checks: Hook | None = None,
) -> ApplyOutcome:
    """Apply `candidate_id` of `preview_id` for the clicking user. `grid_minutes` must be the pipeline's
    (it is part of base_version). `_between_checks` is for tests only: awaited inside the locked
    transaction after the base_version check and before the slot re-check."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("apply needs an aware `now`")
    req = _Request(
        preview_id,
        candidate_id,
        operator_open_id,
        short_key(idempotency_key),
        request_hash(preview_id, candidate_id),
        now,
        grid_minutes,
    )
    # A read-only look first answers replays and refusals without queueing behind the preview's row lock
    # (50 clicks on one card: 49 of them need no write at all).
    async with store.uow(readonly=True) as uow:
        early = await _check(uow, req, lock=False)
    if isinstance(early, ApplyOutcome):
        return await _finish(store, req, early)
    try:
        outcome = await retrying(lambda: _apply_locked(store, req, _between_checks), what="apply")
    except (SQLAlchemyError, ServiceError):
        # A database failure (or lock conflicts past the retries): the transaction was rolled back whole.
        log.exception("apply of preview %s failed", preview_id, extra={"preview_id": preview_id})
        outcome = _rejected(req, ErrorCode.INTERNAL)
    return await _finish(store, req, outcome)


async def _check(
    uow: UnitOfWork, req: _Request, *, lock: bool
) -> ApplyOutcome | tuple[Preview, pm.Candidate]:
    """The checks before the writes, in SPEC order; the preview row is locked when `lock`."""
    preview = await (uow.previews.get_for_update if lock else uow.previews.get)(req.preview_id)
    if preview is None:
        return _rejected(req, ErrorCode.NOT_FOUND)
    owner = await uow.users.get(preview.user_id)
    if owner is None or owner.open_id != req.operator_open_id:
        return _rejected(req, ErrorCode.NOT_OWNER)
    if preview.status == PreviewStatus.APPLIED or preview.apply_status == ApplyStatus.APPLIED:
        if preview.apply_idempotency_key == req.key:
            if preview.apply_request_hash != req.hash:
                return _rejected(req, ErrorCode.IDEMPOTENCY_CONFLICT)
            return ApplyOutcome("applied", None, req.preview_id, preview.change_set_id, replayed=True)
        return ApplyOutcome(
            "already_applied", ErrorCode.ALREADY_APPLIED, req.preview_id, preview.change_set_id
        )
    if preview.status in (PreviewStatus.IGNORED, PreviewStatus.FAILED):
        return _rejected(req, ErrorCode.INVALID_STATE)
    if preview.status == PreviewStatus.EXPIRED or req.now >= preview.expires_at:
        return _rejected(req, ErrorCode.EXPIRED)
    if preview.status != PreviewStatus.READY:
        return _rejected(req, ErrorCode.INVALID_STATE)
    try:
        candidate = find_candidate(preview.candidates, req.candidate_id)
    except CodecError:
        log.exception("preview %s has undecodable candidates", preview.id)
        return _rejected(req, ErrorCode.INTERNAL)
    if candidate is None or not candidate.is_change or not candidate.changes:
        return _rejected(req, ErrorCode.CANDIDATE_NOT_FOUND)
    holder = await uow.previews.find_by_apply_key(req.key)
    if holder is not None and holder.id != preview.id:
        return _rejected(req, ErrorCode.IDEMPOTENCY_CONFLICT)
    return preview, candidate


async def _apply_locked(store: Store, req: _Request, hook: Hook | None) -> ApplyOutcome:
    async with store.uow() as uow:
        checked = await _check(uow, req, lock=True)  # concurrent clicks serialize here and re-check
        if isinstance(checked, ApplyOutcome):
            return checked
        preview, candidate = checked
        user = await uow.users.get_for_update(preview.user_id)  # serializes this user's schedule writes
        trigger = await uow.triggers.get(preview.trigger_id)
        if user is None or trigger is None:
            return _rejected(req, ErrorCode.NOT_FOUND)
        code = await _target_done(uow, preview, candidate)
        ctx: pm.PlanningContext | None = None
        if code is None:
            # The same call the pipeline planned with, at the trigger's effective now: equal inputs give an
            # equal hash, and any change to what the candidates depend on gives another one.
            ctx = await context_for_trigger(uow, user, trigger, req.grid_minutes)
            if base_version(ctx) != preview.base_version:
                code = ErrorCode.BASE_VERSION_CHANGED
        if code is None and ctx is not None and _touches_the_past(candidate.changes, req.now):
            code = ErrorCode.SLOT_PASSED
        if code is not None or ctx is None:
            return _rejected(req, code or ErrorCode.INTERNAL)
        if hook is not None:
            await hook()
        try:
            await ensure_free(
                uow,
                user.id,
                await fixed_events_of(uow, user.id),
                user.timezone,
                target_spans(candidate.changes),
                exclude_ids=rewritten_ids(candidate.changes),
            )
            items = await write_changes(uow, user, candidate.changes, req.now)
        except Refused as refused:
            log.info("apply of preview %s refused: %s", req.preview_id, refused.detail)
            return _rejected(req, refused.code)
        change_set = ChangeSet(
            preview_id=preview.id,
            user_id=user.id,
            candidate_id=candidate.id,
            changes={"v": 1, "items": items},
            applied_at=req.now,
            created_at=req.now,
        )
        uow.change_sets.add(change_set)
        await uow.flush()
        _record_apply(preview, candidate, change_set, req)
        publish_update(uow, preview.id, PreviewState.APPLIED, req.now)
        try:
            await uow.commit()
        except IntegrityError as exc:
            # The same idempotency key won on another preview in the meantime (MySQL: we waited on its
            # uncommitted key, then collided).
            if is_duplicate_key(exc) and "apply_idempotency_key" in str(exc.orig):
                return _rejected(req, ErrorCode.IDEMPOTENCY_CONFLICT)
            raise
    log.info(
        "preview %s applied (candidate %s, change set %s)",
        preview.id,
        candidate.id,
        change_set.id,
        extra={"preview_id": preview.id},
    )
    return ApplyOutcome("applied", None, preview.id, change_set.id)


def _touches_the_past(changes: Sequence[pm.Change], now: datetime) -> bool:
    """A click late in the preview's life: a change would write before `now` or move a block that has
    begun (a past block counts as done, so time planned there is lost)."""
    floor = now.replace(second=0, microsecond=0)
    for change in changes:
        for instant in (change.start, change.old_start):
            if instant is not None and instant < floor:
                return True
    return False


async def _target_done(uow: UnitOfWork, preview: Preview, candidate: pm.Candidate) -> ErrorCode | None:
    """target_completed when the target task is done or canceled. Checked before base_version (which a
    finished task always changes) because it is the more specific answer for the user."""
    ids = {preview.task_id} | {c.task_id for c in candidate.changes if c.kind == pm.ChangeKind.ADD_BLOCK}
    for task_id in sorted(i for i in ids if i is not None):
        task = await uow.tasks.get_for_update(task_id)
        if task is not None and task.status != TaskStatus.OPEN:
            return ErrorCode.TARGET_COMPLETED
    return None


def _record_apply(preview: Preview, candidate: pm.Candidate, change_set: ChangeSet, req: _Request) -> None:
    result: dict[str, Any] = {
        "v": RESULT_V,
        "state": PreviewState.APPLIED.value,
        "candidate_id": candidate.id,
        "change_set_id": change_set.id,
        "applied_at": req.now.isoformat(),
        "undo_until": (req.now + UNDO_WINDOW).isoformat(),
        "changes": [encode_change(c) for c in candidate.changes],
    }
    preview.status = PreviewStatus.APPLIED
    preview.apply_status = ApplyStatus.APPLIED
    preview.apply_candidate_id = candidate.id
    preview.apply_idempotency_key = req.key
    preview.apply_request_hash = req.hash
    preview.apply_result = result
    preview.apply_error = None
    preview.applied_at = req.now
    preview.change_set_id = change_set.id
    preview.version += 1
    preview.updated_at = req.now


async def _finish(store: Store, req: _Request, outcome: ApplyOutcome) -> ApplyOutcome:
    if outcome.status == "rejected" and outcome.code in RECORDED:
        log.info("apply of preview %s rejected: %s", req.preview_id, outcome.code)
        await retrying(lambda: _record_rejection(store, req, outcome.code), what="apply rejection")
    return outcome


async def _record_rejection(store: Store, req: _Request, code: ErrorCode | None) -> None:
    async with store.uow() as uow:
        preview = await uow.previews.get_for_update(req.preview_id)
        # Never overwrite the record of an apply that won meanwhile, nor touch a closed preview.
        if (
            preview is None
            or preview.status != PreviewStatus.READY
            or preview.apply_status == ApplyStatus.APPLIED
        ):
            return
        preview.apply_status = ApplyStatus.FAILED if code == ErrorCode.INTERNAL else ApplyStatus.REJECTED
        preview.apply_error = (code or ErrorCode.INTERNAL).value
        preview.updated_at = req.now
        await uow.commit()
