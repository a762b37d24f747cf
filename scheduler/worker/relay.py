"""Outbox relay: turns committed outbox rows into notification rows (one card per dedupe key)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scheduler.worker.config import WorkerConfig
from scheduler.worker.policy import MAX_ATTEMPTS, backoff_seconds, card_dedupe_key, update_dedupe_key
from store import Store, UnitOfWork
from store.enums import NotificationKind, OutboxStatus, TriggerType
from store.errors import DatabaseError
from store.models import OutboxMessage, Preview, Trigger, User
from store.repositories.relay import NewNotification

log = logging.getLogger(__name__)

TOPIC_PREVIEW_READY = "preview.ready"
TOPIC_PREVIEW_UPDATED = "preview.updated"
# Errors that say the database (not the row) is at fault: retry later instead of marking the row dead.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, OSError, TimeoutError)


class PoisonError(Exception):
    """A row that can never be handled as it is (bad payload, unknown topic, missing referent)."""


@dataclass(frozen=True)
class RelayStats:
    claimed: int = 0
    done: int = 0
    dead: int = 0
    retried: int = 0


@dataclass(frozen=True)
class Loaded:
    """The rows an outbox batch refers to, by id."""

    previews: Mapping[str, Preview]
    triggers: Mapping[str, Trigger]
    users: Mapping[str, User]


def preview_id_of(payload: Any) -> str:
    value = payload.get("preview_id") if isinstance(payload, dict) else None
    if not isinstance(value, str) or not value:
        raise PoisonError("payload has no preview_id")
    return value


def plan(topic: str, payload: Any, loaded: Loaded) -> NewNotification:
    """The notification an outbox row asks for; PoisonError when the row can never be handled."""
    if topic not in (TOPIC_PREVIEW_READY, TOPIC_PREVIEW_UPDATED):
        raise PoisonError(f"unknown topic {topic!r}")
    preview_id = preview_id_of(payload)
    preview = loaded.previews.get(preview_id)
    if preview is None:
        raise PoisonError(f"preview {preview_id} does not exist")
    if topic == TOPIC_PREVIEW_UPDATED:
        state = payload.get("state")
        if not isinstance(state, str) or not state:
            raise PoisonError("payload has no state")
        return NewNotification(
            update_dedupe_key(preview_id, state),
            preview.user_id,
            NotificationKind.CARD_UPDATE,
            {"preview_id": preview_id, "state": state},
            preview_id,
        )
    trigger = loaded.triggers.get(preview.trigger_id)
    user = loaded.users.get(preview.user_id)
    if trigger is None or user is None:
        raise PoisonError(f"preview {preview_id} has no trigger or user")
    # The bucket is taken from the preview's creation, so a relay that runs late still dedupes correctly.
    # A feedback card answers one message of the user's (messages are deduped by id already): its target is
    # that message, so a second report within the half hour ("still 20 minutes left") gets its own card.
    target = trigger.source_message_id if trigger.type == TriggerType.USER_FEEDBACK else None
    target = target or trigger.task_id or trigger.block_id
    key = card_dedupe_key(user.open_id, trigger.type, target, preview.created_at)
    return NewNotification(key, user.id, NotificationKind.CARD, {"preview_id": preview_id}, preview_id)


async def load(uow: UnitOfWork, payloads: Iterable[Any]) -> Loaded:
    preview_ids = set()
    for payload in payloads:
        try:
            preview_ids.add(preview_id_of(payload))
        except PoisonError:
            continue
    previews = {p.id: p for p in await uow.previews.list_by_ids(preview_ids)}
    triggers = {t.id: t for t in await uow.triggers.list_by_ids({p.trigger_id for p in previews.values()})}
    users = {u.id: u for u in await uow.users.list_by_ids({p.user_id for p in previews.values()})}
    return Loaded(previews, triggers, users)


class Relay:
    """Claims due outbox rows with a lease and relays a batch in one transaction; when that fails, each row
    gets its own transaction, so one bad row never holds back the others."""

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
        if not claimed:
            return RelayStats()
        try:
            done, dead = await self._batch([row_id for row_id, _, _ in claimed], now)
            return RelayStats(len(claimed), done, dead, 0)
        except TRANSIENT_ERRORS as exc:
            log.warning("outbox batch of %d failed, relaying one by one: %s", len(claimed), exc)
        outcomes = [await self._one(row_id, topic, attempts, now) for row_id, topic, attempts in claimed]
        return RelayStats(
            len(claimed), outcomes.count("done"), outcomes.count("dead"), outcomes.count("retry")
        )

    async def _batch(self, ids: list[str], now: datetime) -> tuple[int, int]:
        async with self._store.uow() as uow:
            rows = await uow.relay.claimed_pending(ids, self._worker_id)
            loaded = await load(uow, (r.payload for r in rows))
            specs: list[NewNotification] = []
            for row in rows:
                try:
                    specs.append(plan(row.topic, row.payload, loaded))
                    self._settle(row, OutboxStatus.DONE, now, None)
                except PoisonError as exc:
                    log.error("outbox %s (%s) is poison, marked dead: %s", row.id, row.topic, exc)  # noqa: TRY400
                    self._settle(row, OutboxStatus.DEAD, now, exc)
            await uow.relay.insert_notifications(specs, now)
            await uow.commit()
        return len(specs), len(rows) - len(specs)

    @staticmethod
    def _settle(row: OutboxMessage, status: OutboxStatus, now: datetime, exc: BaseException | None) -> None:
        row.status = status
        row.attempts += 1
        row.claimed_by = row.claimed_until = None
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000] if exc is not None else None
        row.updated_at = now

    async def _one(self, row_id: str, topic: str, attempts: int, now: datetime) -> str:
        try:
            async with self._store.uow() as uow:
                row = await uow.outbox.get_for_update(row_id)
                if row is None or row.claimed_by != self._worker_id or row.status != OutboxStatus.PENDING:
                    return "lost"  # our lease lapsed and another worker took it
                spec = plan(row.topic, row.payload, await load(uow, [row.payload]))
                await uow.relay.insert_notifications([spec], now)
                self._settle(row, OutboxStatus.DONE, now, None)
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
        values: dict[str, Any] = {
            "status": status,
            "attempts": attempts + 1,
            "last_error": f"{type(exc).__name__}: {exc}"[:2000],
            "claimed_by": None,
            "claimed_until": None,
            "updated_at": now,
        }
        if retry:
            values["available_at"] = now + timedelta(seconds=backoff_seconds(attempts + 1))
        try:
            async with self._store.uow() as uow:
                await uow.relay.record_outcome(row_id, self._worker_id, values)
                await uow.commit()
        except TRANSIENT_ERRORS:
            # Never swallowed: logged loudly, and the row is handled again once its lease lapses.
            log.exception(
                "could not record outbox %s as %s; it is retried after its lease expires", row_id, status
            )
            return "unrecorded"
        return "retry" if retry else "dead"
