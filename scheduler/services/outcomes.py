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

from sqlalchemy.exc import DBAPIError

from scheduler.services.errors import ErrorCode, ServiceError
from store import UnitOfWork

log = logging.getLogger(__name__)

T = TypeVar("T")

PREVIEW_UPDATED = "preview.updated"
UNDO_WINDOW = timedelta(hours=24)
RETRY_ATTEMPTS = 5
# MySQL/MariaDB: 1213 deadlock (the transaction was rolled back), 1205 lock wait timeout.
_MYSQL_LOCK_ERRORS = frozenset({1205, 1213})


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


def is_lock_conflict(exc: DBAPIError) -> bool:
    """A deadlock or lock-wait timeout (MySQL) or a busy database (SQLite): trying again may succeed."""
    args = getattr(exc.orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in _MYSQL_LOCK_ERRORS
    return "database is locked" in str(exc.orig)


async def retrying(run: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Run one transaction, again (a few times, with jittered backoff) when it lost a lock conflict; the
    failed attempt was rolled back by its unit of work, so a retry starts clean."""
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            return await run()
        except DBAPIError as exc:
            if not is_lock_conflict(exc):
                raise
            if attempt == RETRY_ATTEMPTS:
                raise ServiceError(
                    ErrorCode.INTERNAL, f"{what}: lock conflict after {attempt} attempts", retryable=True
                ) from exc
            log.info("%s lost a lock conflict (attempt %d), retrying", what, attempt)
            await asyncio.sleep(0.005 * 2**attempt * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover
