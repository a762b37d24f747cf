"""Apply one option of a preview: the checks in order, then the writes, all in one locked transaction.

Rejections and what they write (documented choice): not_found (also for another user's preview),
already_applied, invalid_state, candidate_not_found and idempotency_conflict are about the request, not the
preview, and write nothing.
expired, base_version_changed, target_completed, slot_passed and slot_conflict record the code on the
still-ready preview (apply_status "rejected", apply_error = code) in the same transaction (a refusal found
while writing rolls back and records it in a small one of its own); an unexpected database failure records
apply_status "failed", apply_error "internal". The preview stays "ready" in every case: each click re-checks
from scratch, so another option may still succeed until the preview expires. Rejections write no outbox row.

Whether the schedule changed since the preview is one comparison: the user's schedule_version (bumped with
every change to their blocks, fixed events, day extensions, preferences or a planned task) against the one
the preview was planned on; one overlap probe over the new places stays as a safety net.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scheduler.planning import base_version, expand_fixed_events
from scheduler.planning import model as pm
from scheduler.services import calendar_events, previews
from scheduler.services.calendar import BusyTimes
from scheduler.services.changeset import (
    Refused,
    fixed_events_of,
    rewritten_ids,
    target_spans,
    write_changes,
)
from scheduler.services.codec import CodecError, encode_change, find_candidate
from scheduler.services.context import context_for_trigger, fixed_event
from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.learning import learn_hours
from scheduler.services.outcomes import UNDO_WINDOW, ApplyOutcome, PreviewState, retrying
from store import Store, UnitOfWork, short_key
from store.enums import ApplyStatus, PreviewStatus, TaskStatus
from store.errors import DatabaseError, is_duplicate_of
from store.models import Block, BusyTime, CalendarConnection, ChangeSet, Preview, Task, User

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
class ApplyRequest:
    """One press of an Apply button, as the service sees it."""

    preview_id: str
    candidate_id: str
    operator_open_id: str
    key: str  # the idempotency key, already shortened (store.short_key)
    hash: str
    now: datetime
    grid_minutes: int
    calendar: bool = False  # the user's Feishu busy time is part of the overlap probe

    @classmethod
    def of(  # noqa: PLR0917 - the fields of a press
        cls,
        preview_id: str,
        candidate_id: str,
        operator_open_id: str,
        idempotency_key: str,
        now: datetime,
        grid_minutes: int = 15,
        calendar: bool = False,
    ) -> ApplyRequest:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("apply needs an aware `now`")
        return cls(
            preview_id,
            candidate_id,
            operator_open_id,
            short_key(idempotency_key),
            request_hash(preview_id, candidate_id),
            now,
            grid_minutes,
            calendar,
        )


@dataclass
class Loaded:
    """What one apply reads, read for many applies at once (`load_for_apply`): the locked preview and
    user, the checks' answer on them, the locked target tasks, and what the overlap probe looks at."""

    preview: Preview | None
    user: User | None
    checked: ApplyOutcome | pm.Candidate | None = None
    tasks: Mapping[str, Task] = field(default_factory=dict)
    fixed: tuple[pm.FixedEvent, ...] = ()
    busy: Sequence[BusyTime] = ()
    blocks: Sequence[Block] = ()  # the user's blocks intersecting the span of the candidate's new places
    connections: Mapping[str, CalendarConnection] = field(default_factory=dict)


async def load_for_apply(uow: UnitOfWork, reqs: Sequence[ApplyRequest]) -> dict[str, Loaded]:
    """The reads of many applies (by preview id) in a fixed number of statements, locking in the order a
    single apply does (previews, users, tasks, each in id order). Meant for applies of distinct users: one
    apply's writes are not seen by another's probe."""
    found = await uow.previews.lock_by_ids(r.preview_id for r in reqs)
    users = await uow.users.lock_by_ids(p.user_id for p in found.values())
    out: dict[str, Loaded] = {}
    ranges: list[tuple[str, datetime, datetime]] = []
    task_ids: set[str] = set()
    for req in reqs:
        preview = found.get(req.preview_id)
        user = users.get(preview.user_id) if preview is not None else None
        loaded = out[req.preview_id] = Loaded(preview, user)
        if preview is None or user is None or user.open_id != req.operator_open_id:
            continue
        loaded.checked = checked = _check(preview, req)
        if isinstance(checked, ApplyOutcome):
            continue
        task_ids |= _target_ids(preview, checked)
        try:
            spans = target_spans(checked.changes)
        except Refused:
            continue  # the probe refuses it again, with nothing read
        if spans:
            ranges.append((user.id, min(s for s, _ in spans), max(e for _, e in spans)))
    tasks = {t.id: t for t in await uow.tasks.lock_many(task_ids)}
    user_ids = [u for u, _, _ in ranges]
    fixed = await uow.events.for_users(user_ids) if ranges else {}
    busy: dict[str, list[BusyTime]] = {}
    if ranges and any(r.calendar for r in reqs):
        lo, hi = min(r[1] for r in ranges), max(r[2] for r in ranges)
        for span in await uow.calendar.busy(user_ids, lo, hi):
            busy.setdefault(span.user_id, []).append(span)
    blocks = await uow.blocks.overlapping_many(ranges)
    connections = await uow.connections.for_users(u.id for u in users.values())
    for loaded in out.values():
        loaded.tasks, loaded.connections = tasks, connections
        if loaded.user is not None:
            uid = loaded.user.id
            loaded.fixed = tuple(fixed_event(e) for e in fixed.get(uid, ()))
            loaded.busy, loaded.blocks = busy.get(uid, ()), blocks.get(uid, ())
    return out


def _rejected(req: ApplyRequest, code: ErrorCode) -> ApplyOutcome:
    return ApplyOutcome("rejected", code, req.preview_id)


async def fresh_busy(busy: BusyTimes | None, req: ApplyRequest) -> ApplyOutcome | None:
    """Before the apply's transaction: the presser's busy time re-read when older than a minute; a
    calendar_unavailable rejection (which writes nothing) when Feishu cannot be read."""
    if busy is None:
        return None
    try:
        await busy.ensure_fresh(req.operator_open_id, req.now)
    except ServiceError as exc:
        log.info("apply of preview %s refused: %s", req.preview_id, exc)
        return _rejected(req, exc.code)
    return None


async def apply(
    store: Store,
    *,
    preview_id: str,
    candidate_id: str,
    operator_open_id: str,
    idempotency_key: str,
    now: datetime,
    grid_minutes: int = 15,
    busy: BusyTimes | None = None,
    _between_checks: Hook | None = None,
) -> ApplyOutcome:
    """Apply `candidate_id` of `preview_id` for the clicking user, in one transaction. `grid_minutes` must be
    the pipeline's (previews planned before schedule versions recompute base_version with it). With `busy`
    the user's Feishu busy time is first made at most a minute old (calendar_unavailable, nothing written,
    when Feishu cannot be read) and the new places must be clear of it.
    `_between_checks` is for tests only: awaited inside the locked transaction after the version check and
    before the overlap probe."""
    req = ApplyRequest.of(
        preview_id, candidate_id, operator_open_id, idempotency_key, now, grid_minutes, busy is not None
    )
    refused = await fresh_busy(busy, req)
    if refused is not None:
        return refused

    async def once() -> ApplyOutcome:
        async with store.uow() as uow:
            outcome = await apply_in(uow, req, _between_checks)
            if outcome.status != "rejected" or outcome.code in RECORDED:
                await uow.commit()
            return outcome

    return await run_apply(store, req, once)


async def run_apply(
    store: Store, req: ApplyRequest, once: Callable[[], Awaitable[ApplyOutcome]]
) -> ApplyOutcome:
    """Run one apply transaction with the lock-conflict retry; a database failure is recorded as internal."""
    try:
        return await retrying(once, what="apply")
    except _Refusal as refusal:
        code = refusal.refused.code
        log.info("apply of preview %s refused: %s", req.preview_id, refusal.refused.detail)
        await retrying(lambda: _record_refusal(store, req, code), what="apply rejection")
        return _rejected(req, code)
    except (DatabaseError, ServiceError) as exc:
        # The same idempotency key won on another preview in the meantime (MySQL: we waited on its
        # uncommitted key, then collided).
        if is_duplicate_of(exc, "apply_idempotency_key"):
            return _rejected(req, ErrorCode.IDEMPOTENCY_CONFLICT)
        # A database failure (or lock conflicts past the retries): the transaction was rolled back whole.
        log.exception("apply of preview %s failed", req.preview_id, extra={"preview_id": req.preview_id})
    await retrying(lambda: _record_refusal(store, req, ErrorCode.INTERNAL), what="apply rejection")
    return _rejected(req, ErrorCode.INTERNAL)


class _Refusal(Exception):
    """A re-check failed after writes began: the transaction must roll back, then the code is recorded."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(str(refused))
        self.refused = refused


async def apply_in(
    uow: UnitOfWork, req: ApplyRequest, hook: Hook | None = None, loaded: Loaded | None = None
) -> ApplyOutcome:
    """The apply inside the caller's unit of work (the caller commits, unless the outcome is a rejection
    outside RECORDED, which wrote nothing). Raises _Refusal when a re-check failed after writes began.
    With `loaded` (read with others by `load_for_apply`) it reads nothing more and leaves the flush of its
    writes to the caller; without, it reads and locks what it needs itself."""
    if loaded is not None:
        preview, user = loaded.preview, loaded.user
    else:
        preview = await uow.previews.get_for_update(req.preview_id)
        # the user's row lock serializes this user's schedule writes
        user = await uow.users.get_for_update(preview.user_id) if preview is not None else None
    if preview is None:
        return _rejected(req, ErrorCode.NOT_FOUND)
    if user is None or user.open_id != req.operator_open_id:
        return _rejected(req, ErrorCode.NOT_FOUND)  # scoped by the acting user: another's is not found
    uow.hold(preview, user)  # the answer's card is read from them
    checked = loaded.checked if loaded is not None and loaded.checked is not None else _check(preview, req)
    if isinstance(checked, ApplyOutcome):
        return _recorded(preview, req, checked)
    candidate = checked
    code = await _target_done(uow, preview, candidate, loaded)
    if code is None and await _schedule_changed(uow, preview, user, req):
        code = ErrorCode.BASE_VERSION_CHANGED
    if code is None and _touches_the_past(candidate.changes, req.now):
        code = ErrorCode.SLOT_PASSED
    if code is not None:
        return _recorded(preview, req, _rejected(req, code))
    if hook is not None:
        await hook()
    try:
        refused = await _probe(uow, user, candidate, calendar=req.calendar, loaded=loaded)
        if refused is not None:
            log.info("apply of preview %s refused: %s", req.preview_id, refused.detail)
            return _recorded(preview, req, _rejected(req, refused.code))
        written: list[Block] = []
        items = await write_changes(uow, user, candidate.changes, req.now, written, flush=loaded is None)
    except Refused as refused:
        raise _Refusal(refused) from refused
    # The blocks added or moved go to the user's connected Feishu calendar once this commits (the worker).
    known = loaded.connections if loaded is not None else None
    await calendar_events.queue_for(uow, user.id, req.now, kept=written, connections=known)
    learn_hours(user, candidate.changes)  # the hours the user accepts feed the preference fit
    change_set = uow.change_sets.add(
        ChangeSet(
            preview_id=preview.id,
            user_id=user.id,
            candidate_id=candidate.id,
            changes={"v": 1, "items": items},
            applied_at=req.now,
            created_at=req.now,
        )
    )
    previews.record_applied(
        uow,
        preview,
        candidate_id=candidate.id,
        change_set_id=change_set.id,
        key=req.key,
        request_hash=req.hash,
        result=_result(candidate, change_set, req),
        now=req.now,
    )
    user.schedule_version += 1
    user.updated_at = req.now
    log.info(
        "preview %s applied (candidate %s, change set %s)",
        preview.id,
        candidate.id,
        change_set.id,
        extra={"preview_id": preview.id},
    )
    return ApplyOutcome("applied", None, preview.id, change_set.id)


def _recorded(preview: Preview, req: ApplyRequest, outcome: ApplyOutcome) -> ApplyOutcome:
    """A rejection about the preview is kept on it (the caller commits that); others write nothing."""
    if outcome.status == "rejected" and outcome.code in RECORDED:
        log.info("apply of preview %s rejected: %s", req.preview_id, outcome.code)
        previews.record_refusal(preview, outcome.code or ErrorCode.INTERNAL, req.now)
    return outcome


def _check(preview: Preview, req: ApplyRequest) -> ApplyOutcome | pm.Candidate:
    """The checks on the locked preview, in order: replay, already applied, state, expiry, candidate."""
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
    return candidate


async def _schedule_changed(uow: UnitOfWork, preview: Preview, user: User, req: ApplyRequest) -> bool:
    """The user's schedule moved on since the preview was planned."""
    if preview.schedule_version is not None:
        return user.schedule_version != preview.schedule_version
    # Planned before schedule versions: recompute base_version with the call the pipeline planned with,
    # at the trigger's effective now (equal inputs give an equal hash).
    trigger = await uow.triggers.get(preview.trigger_id)
    if trigger is None:
        return True
    ctx = await context_for_trigger(uow, user, trigger, req.grid_minutes)
    return base_version(ctx) != preview.base_version


async def _probe(
    uow: UnitOfWork,
    user: User,
    candidate: pm.Candidate,
    *,
    calendar: bool = False,
    loaded: Loaded | None = None,
) -> Refused | None:
    """The safety net under the version check: every new place is non-empty, clear of the others, of fixed
    event occurrences, of the user's Feishu busy time (with `calendar`) and of the user's other blocks. Two
    statements (three with the calendar) whatever the number of changes; none with `loaded`."""
    spans = target_spans(candidate.changes)
    if not spans:
        return None
    lo, hi = min(s for s, _ in spans), max(e for _, e in spans)
    rewritten = rewritten_ids(candidate.changes)
    fixed: Sequence[pm.FixedEvent]
    busy: Sequence[BusyTime]
    blocks: Sequence[Block]
    if loaded is not None:
        fixed, busy = loaded.fixed, loaded.busy if calendar else ()
        blocks = [b for b in loaded.blocks if b.id not in rewritten]
    else:
        fixed = await fixed_events_of(uow, user.id)
        busy = await uow.calendar.busy([user.id], lo, hi) if calendar else ()
        blocks = await uow.blocks.overlapping(user.id, lo, hi, rewritten)
    for i, (start, end) in enumerate(spans):
        why = None
        if end <= start:
            why = "empty span"
        elif any(s < end and start < e for s, e in spans[i + 1 :]):
            why = "the new places overlap each other"
        elif expand_fixed_events(fixed, user.timezone, start, end):
            why = "a fixed event"
        elif any(b.start < end and start < b.end for b in busy):
            why = "busy time in the user's Feishu calendar"
        elif any(b.start < end and start < b.end for b in blocks):
            why = "another block"
        if why is not None:
            return Refused(ErrorCode.SLOT_CONFLICT, f"{why} at {start.isoformat()}")
    return None


def _touches_the_past(changes: Sequence[pm.Change], now: datetime) -> bool:
    """A click late in the preview's life: a change would write before `now` or move a block that has
    begun (a past block counts as done, so time planned there is lost)."""
    floor = now.replace(second=0, microsecond=0)
    for change in changes:
        for instant in (change.start, change.old_start):
            if instant is not None and instant < floor:
                return True
    return False


def _target_ids(preview: Preview, candidate: pm.Candidate) -> set[str]:
    """The tasks an apply of `candidate` is about: the preview's and those it adds blocks for."""
    ids = {preview.task_id} | {c.task_id for c in candidate.changes if c.kind == pm.ChangeKind.ADD_BLOCK}
    return {i for i in ids if i is not None}


async def _target_done(
    uow: UnitOfWork, preview: Preview, candidate: pm.Candidate, loaded: Loaded | None = None
) -> ErrorCode | None:
    """target_completed when the target task is done or canceled. Checked before the schedule version
    (which a finished task also changes) because it is the more specific answer for the user."""
    wanted = sorted(_target_ids(preview, candidate))
    if not wanted:
        return None
    if loaded is not None:
        tasks: Sequence[Task] = [loaded.tasks[i] for i in wanted if i in loaded.tasks]
    else:
        tasks = await uow.tasks.lock_many(wanted)
    uow.hold(*tasks)
    for task in tasks:
        if task.status != TaskStatus.OPEN:
            return ErrorCode.TARGET_COMPLETED
    return None


def _result(candidate: pm.Candidate, change_set: ChangeSet, req: ApplyRequest) -> dict[str, Any]:
    return {
        "v": RESULT_V,
        "state": PreviewState.APPLIED.value,
        "candidate_id": candidate.id,
        "change_set_id": change_set.id,
        "applied_at": req.now.isoformat(),
        "undo_until": (req.now + UNDO_WINDOW).isoformat(),
        "changes": [encode_change(c) for c in candidate.changes],
    }


async def _record_refusal(store: Store, req: ApplyRequest, code: ErrorCode) -> None:
    async with store.uow() as uow:
        preview = await uow.previews.get_for_update(req.preview_id)
        # Never overwrite the record of an apply that won meanwhile, nor touch a closed preview.
        if preview is not None and previews.record_refusal(preview, code, req.now):
            await uow.commit()
