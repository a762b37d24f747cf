"""Outcomes of the click actions, the preview.updated outbox message, and the bounded lock-conflict retry."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, TypeVar

from scheduler.services.errors import ErrorCode, ServiceError
from store import UnitOfWork
from store.errors import DatabaseError, is_lock_conflict

log = logging.getLogger(__name__)

T = TypeVar("T")

PREVIEW_UPDATED = "preview.updated"
UNDO_WINDOW = timedelta(hours=24)
RETRY_ATTEMPTS = 5


class PreviewState(StrEnum):
    """The `state` of a preview.updated outbox message."""

    APPLIED = "applied"
    IGNORED = "ignored"
    EXPIRED = "expired"
    UNDONE = "undone"


@dataclass(frozen=True)
class ApplyOutcome:
    """What a click on Apply did. `code` is None only for "applied"; `change_set_id` is set for "applied"
    and for "already_applied" (the change set that won); `replayed` marks a repeat of the winning request."""

    status: Literal["applied", "already_applied", "rejected"]
    code: ErrorCode | None
    preview_id: str
    change_set_id: str | None = None
    replayed: bool = False


@dataclass(frozen=True)
class ActionOutcome:
    """What a click on Ignore or Undo did; `replayed` marks a repeat of an action already done."""

    status: Literal["ignored", "undone", "rejected"]
    code: ErrorCode | None
    preview_id: str
    change_set_id: str | None = None
    replayed: bool = False


def publish_update(uow: UnitOfWork, preview_id: str, state: PreviewState, now: datetime) -> None:
    """Ask the worker to update the preview's card; written in the caller's transaction."""
    uow.outbox.put(PREVIEW_UPDATED, {"preview_id": preview_id, "state": state.value}, now)


async def retrying(run: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Run one transaction, again (a few times, with jittered backoff) when it lost a lock conflict; the
    failed attempt was rolled back by its unit of work, so a retry starts clean."""
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            return await run()
        except DatabaseError as exc:
            if not is_lock_conflict(exc):
                raise
            if attempt == RETRY_ATTEMPTS:
                raise ServiceError(
                    ErrorCode.INTERNAL, f"{what}: lock conflict after {attempt} attempts", retryable=True
                ) from exc
            log.info("%s lost a lock conflict (attempt %d), retrying", what, attempt)
            await asyncio.sleep(0.005 * 2**attempt * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover
