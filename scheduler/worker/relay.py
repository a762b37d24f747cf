"""Outbox relay: turns committed outbox rows into notification rows (one card per dedupe key)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from scheduler.worker.config import WorkerConfig
from scheduler.worker.policy import MAX_ATTEMPTS, backoff_seconds, card_dedupe_key, update_dedupe_key
from store import Store, UnitOfWork
from store.enums import NotificationKind, OutboxStatus
from store.models import OutboxMessage

log = logging.getLogger(__name__)

TOPIC_PREVIEW_READY = "preview.ready"
TOPIC_PREVIEW_UPDATED = "preview.updated"
# Errors that say the database (not the row) is at fault: retry later instead of marking the row dead.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError, TimeoutError)


class PoisonError(Exception):
    """A row that can never be handled as it is (bad payload, unknown topic, missing referent)."""


@dataclass(frozen=True)
class RelayStats:
    claimed: int = 0
    done: int = 0
    dead: int = 0
    retried: int = 0


def _preview_id(payload: Any) -> str:
    value = payload.get("preview_id") if isinstance(payload, dict) else None
    if not isinstance(value, str) or not value:
        raise PoisonError("payload has no preview_id")
    return value


async def _preview_ready(uow: UnitOfWork, payload: Any, now: datetime) -> None:
    preview_id = _preview_id(payload)
    preview = await uow.previews.get(preview_id)
    if preview is None:
        raise PoisonError(f"preview {preview_id} does not exist")
    trigger = await uow.triggers.get(preview.trigger_id)
    user = await uow.users.get(preview.user_id)
    if trigger is None or user is None:
        raise PoisonError(f"preview {preview_id} has no trigger or user")
    # The bucket is taken from the preview's creation, so a relay that runs late still dedupes correctly.
    key = card_dedupe_key(user.open_id, trigger.type, trigger.task_id or trigger.block_id, preview.created_at)
    row, created = await uow.notifications.insert_if_absent(
        key,
        user_id=user.id,
        kind=NotificationKind.CARD,
        payload={"preview_id": preview_id},
        now=now,
        preview_id=preview_id,
    )
    if not created:
        log.info("card for preview %s suppressed: notification %s has the same key", preview_id, row.id)


async def _preview_updated(uow: UnitOfWork, payload: Any, now: datetime) -> None:
    preview_id = _preview_id(payload)
    state = payload.get("state")
    if not isinstance(state, str) or not state:
        raise PoisonError("payload has no state")
    preview = await uow.previews.get(preview_id)
    if preview is None:
        raise PoisonError(f"preview {preview_id} does not exist")
    await uow.notifications.insert_if_absent(
        update_dedupe_key(preview_id, state),
        user_id=preview.user_id,
        kind=NotificationKind.CARD_UPDATE,
        payload={"preview_id": preview_id, "state": state},
        now=now,
        preview_id=preview_id,
    )


HANDLERS = {TOPIC_PREVIEW_READY: _preview_ready, TOPIC_PREVIEW_UPDATED: _preview_updated}


def _handler(topic: str) -> Any:
    handler = HANDLERS.get(topic)
    if handler is None:
        raise PoisonError(f"unknown topic {topic!r}")
    return handler


class Relay:
    """Claims due outbox rows with a lease and handles each in its own transaction, so one bad row never
    holds back the others."""

    def __init__(self, store: Store, config: WorkerConfig, worker_id: str) -> None:
        self._store = store
        self._config = config
        self._worker_id = worker_id

    async def run(self, now: datetime) -> RelayStats:
        async with self._store.uow() as uow:
            rows = await uow.outbox.claim_due(
                self._worker_id, now, self._config.lease_seconds, self._config.outbox_batch
            )
            claimed = [(r.id, r.topic, r.attempts) for r in rows]
            await uow.commit()
        done = dead = retried = 0
        for row_id, topic, attempts in claimed:
            outcome = await self._handle(row_id, topic, attempts, now)
            done += outcome == "done"
            dead += outcome == "dead"
            retried += outcome == "retry"
        return RelayStats(len(claimed), done, dead, retried)

    async def _handle(self, row_id: str, topic: str, attempts: int, now: datetime) -> str:
        try:
            async with self._store.uow() as uow:
                row = await uow.outbox.get_for_update(row_id)
                if row is None or row.claimed_by != self._worker_id or row.status != OutboxStatus.PENDING:
                    return "lost"  # our lease lapsed and another worker took it
                await _handler(topic)(uow, row.payload, now)
                row.status = OutboxStatus.DONE
                row.attempts = attempts + 1
                row.claimed_by = row.claimed_until = None
                row.last_error = None
                row.updated_at = now
                await uow.commit()
                return "done"
        except TRANSIENT_ERRORS as exc:
            if attempts + 1 >= MAX_ATTEMPTS:
                return await self._record(row_id, OutboxStatus.DEAD, attempts, now, exc, retry=False)
            log.warning("outbox %s (%s) failed, will retry: %s", row_id, topic, exc)
            return await self._record(row_id, OutboxStatus.PENDING, attempts, now, exc, retry=True)
        except Exception as exc:
            # Anything else is the row's own fault (poison): mark it dead so it stops coming back.
            log.error("outbox %s (%s) is poison, marked dead: %s", row_id, topic, exc)  # noqa: TRY400
            return await self._record(row_id, OutboxStatus.DEAD, attempts, now, exc, retry=False)

    async def _record(
        self,
        row_id: str,
        status: OutboxStatus,
        attempts: int,
        now: datetime,
        exc: BaseException,
        *,
        retry: bool,
    ) -> str:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        values: dict[str, Any] = {
            "status": status,
            "attempts": attempts + 1,
            "last_error": error,
            "claimed_by": None,
            "claimed_until": None,
            "updated_at": now,
        }
        if retry:
            values["available_at"] = now + timedelta(seconds=backoff_seconds(attempts + 1))
        try:
            async with self._store.uow() as uow:
                await uow.session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == self._worker_id)
                    .values(**values)
                )
                await uow.commit()
        except TRANSIENT_ERRORS:
            # Never swallowed: logged loudly, and the row is handled again once its lease lapses.
            log.exception(
                "could not record outbox %s as %s; it is retried after its lease expires", row_id, status
            )
            return "unrecorded"
        return "retry" if retry else "dead"
