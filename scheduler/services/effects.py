"""Calls to Feishu that a committed change asks for (bring a block's calendar event in line, complete a task
in Feishu Tasks). A service queues one in the same transaction as the change, so it is never lost; the
worker runs it afterwards (scheduler.worker.effects), retrying a failure with backoff until it lands or dies.

Effects are not ordered: one may be retried after a later one ran, and two workers may run two of one user's
effects at once. So an effect names what to bring in line, not a step: its handler reads the current state
(the block as it is now, the event id stored with it) and makes Feishu match it, with an idempotency key
where Feishu takes one, so running it again, or after a newer one, does no harm. `key` names the effect
(queueing the same key again finds the first one) and is handed to the handler."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from store import UnitOfWork
from store.enums import NotificationKind

PREFIX = "effect:"


async def queue(
    uow: UnitOfWork,
    user_id: str,
    effect: str,
    *,
    key: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> str:
    """Queue the effect named `effect` for the worker (inside the caller's transaction: it runs only if the
    change commits); returns the notification id. `payload` must be JSON: the handler reads it back."""
    row, _ = await uow.notifications.insert_if_absent(
        PREFIX + key,
        user_id=user_id,
        kind=NotificationKind.EFFECT,
        payload={"effect": effect, "key": key, "args": dict(payload)},
        now=now,
    )
    return row.id
