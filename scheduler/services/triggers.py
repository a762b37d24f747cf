"""Create triggers with the dedupe and idempotency rules (race-safe through unique keys)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from scheduler.services.errors import ErrorCode, ServiceError
from store import UnitOfWork, new_id, short_key
from store.enums import TriggerStatus, TriggerType
from store.models import Trigger, User

log = logging.getLogger(__name__)

BUCKET_SECONDS = 30 * 60
# Only these may run "as if" at another time; the mocked instant is recorded on the trigger.
MOCKABLE = frozenset({TriggerType.DRY_RUN, TriggerType.ADMIN_TRIGGER})
DEDUPED = frozenset({TriggerType.WORKER_DUE_JOB, TriggerType.ADMIN_TRIGGER})
# A colliding row can vanish between our insert and the re-read (its dedupe key released as it became
# final, or its transaction rolled back); then the insert is simply tried again.
INSERT_ATTEMPTS = 3


class Hit(StrEnum):
    DEDUPE = "dedupe"
    IDEMPOTENCY = "idempotency"
    MESSAGE = "message"


@dataclass(frozen=True)
class TriggerOutcome:
    trigger: Trigger
    created: bool
    hit: str | None = None  # "dedupe" | "idempotency" | "message" when an existing trigger is returned


def bucket(instant: datetime) -> str:
    """The 30-minute bucket of an instant, as its UTC start, e.g. "20261130T0100Z"."""
    seconds = int(instant.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%dT%H%MZ")


def dedupe_key(user_id: str, trigger_type: str, task_id: str | None, effective_now: datetime) -> str:
    """`{user}:{type}:{task}:{30-minute bucket of effective now}`."""
    return short_key(f"{user_id}:{trigger_type}:{task_id or ''}:{bucket(effective_now)}")


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


async def _existing(
    uow: UnitOfWork, idempotency_key: str | None, message_id: str | None, dedupe: str | None
) -> TriggerOutcome | None:
    if idempotency_key is not None:
        found = await uow.triggers.find_by_idempotency(idempotency_key)
        if found is not None:
            return TriggerOutcome(found, created=False, hit=Hit.IDEMPOTENCY)
    if message_id is not None:
        found = await uow.triggers.find_by_message(message_id)
        if found is not None:
            return TriggerOutcome(found, created=False, hit=Hit.MESSAGE)
    if dedupe is not None:
        found = await uow.triggers.find_by_dedupe(dedupe)
        if found is not None:
            return TriggerOutcome(found, created=False, hit=Hit.DEDUPE)
    return None


async def create_trigger(
    uow: UnitOfWork,
    *,
    user: User,
    type: str,
    now: datetime,
    task_id: str | None = None,
    block_id: str | None = None,
    mocked_now: datetime | None = None,
    idempotency_key: str | None = None,
    source_message_id: str | None = None,
    remaining_minutes: int | None = None,
    user_text: str | None = None,
    trace_id: str | None = None,
    choices: Sequence[str] = (),
) -> TriggerOutcome:
    """A pending trigger, or the existing one this request repeats (the caller commits).

    An explicit idempotency key returns its trigger in any state; a feedback message id returns the
    trigger of that message; due-job and admin triggers for the same user, task and 30-minute bucket of
    the effective now return the live one (pending, processing or preview_generated). Raises ServiceError
    MOCKED_NOW_NOT_ALLOWED when a type other than dry_run / admin_trigger carries `mocked_now`. `choices`:
    the blocks an ambiguous feedback may mean (the pipeline then asks which one). A task or block id
    (or a choice) that is not the user's raises ServiceError NOT_FOUND and changes nothing."""
    kind = TriggerType(type)
    _aware("now", now)
    if mocked_now is not None:
        if kind not in MOCKABLE:
            raise ServiceError(ErrorCode.MOCKED_NOW_NOT_ALLOWED, f"{kind.value} cannot carry a mocked now")
        _aware("mocked_now", mocked_now)
    await _check_owned(uow, user, task_id, block_id, choices)
    effective_now = mocked_now or now
    idem = short_key(idempotency_key) if idempotency_key else None
    message_id = source_message_id if kind == TriggerType.USER_FEEDBACK and source_message_id else None
    dedupe = dedupe_key(user.id, kind, task_id, effective_now) if kind in DEDUPED else None

    for _ in range(INSERT_ATTEMPTS):
        row = Trigger(
            user_id=user.id,
            type=kind,
            task_id=task_id,
            block_id=block_id,
            status=TriggerStatus.PENDING,
            dedupe_key=dedupe,
            idempotency_key=idem,
            source_message_id=message_id,
            mocked_now=mocked_now,
            effective_now=effective_now,
            remaining_minutes=remaining_minutes,
            choices=list(choices) or None,
            user_text=user_text,
            trace_id=trace_id or new_id()[:16],
            created_at=now,
            updated_at=now,
        )
        if idem is None and message_id is None and dedupe is None:
            uow.triggers.add(row)  # nothing to collide with
            return _created(row)
        # Insert first, in a savepoint: a repeat (or a concurrent insert of the same key) makes it fail
        # without spoiling the caller's transaction, and the existing trigger is read back.
        if await uow.triggers.add_if_absent(row):
            return _created(row)
        found = await _existing(uow, idem, message_id, dedupe)
        if found is not None:
            log.info("trigger %s reused (%s hit)", found.trigger.id, found.hit)
            return found
    raise ServiceError(ErrorCode.INTERNAL, "trigger keys kept colliding", retryable=True)


async def _check_owned(
    uow: UnitOfWork, user: User, task_id: str | None, block_id: str | None, choices: Sequence[str]
) -> None:
    """Scope by the acting user: another user's task or block is as unknown as one that does not exist."""
    if task_id is not None:
        task = await uow.tasks.get(task_id)
        if task is None or task.user_id != user.id:
            raise ServiceError(ErrorCode.NOT_FOUND, f"user {user.open_id} has no task {task_id}")
    block_ids = {b for b in (block_id, *choices) if b is not None}
    if block_ids:
        blocks = await uow.blocks.list_by_ids(block_ids)
        if len(blocks) != len(block_ids) or any(b.user_id != user.id for b in blocks):
            missing = sorted(block_ids - {b.id for b in blocks if b.user_id == user.id})
            raise ServiceError(ErrorCode.NOT_FOUND, f"user {user.open_id} has no block {', '.join(missing)}")


def _created(row: Trigger) -> TriggerOutcome:
    log.info("trigger %s created: %s", row.id, row.type, extra={"trace_id": row.trace_id})
    return TriggerOutcome(row, created=True)
