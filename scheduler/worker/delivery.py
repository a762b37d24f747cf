"""Notification delivery: claim due rows with a lease, decide (send, defer, skip), send once, record."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.outcomes import retrying
from scheduler.services.views import PreviewView, preview_views
from scheduler.worker import metrics
from scheduler.worker.config import WorkerConfig
from scheduler.worker.effects import EffectCall, Effects, PoisonEffect
from scheduler.worker.policy import (
    HOLD_REASONS,
    MAX_ATTEMPTS,
    Gate,
    QuietHours,
    delivery_gate,
    local_day_start,
    next_retry_at,
)
from scheduler.worker.relay import TRANSIENT_ERRORS, PoisonError
from scheduler.worker.sender import DeliveryError, Sender
from store import Store, UnitOfWork
from store.enums import NotificationKind, NotificationStatus, TriggerType
from store.models import Notification
from store.repositories.delivery import CardCounts
from store.repositories.messaging import NOTIFICATION_DUE

log = logging.getLogger(__name__)
# A transient failure, or lock conflicts past `retrying`'s attempts: the row's lease lapses and it is retried.
MARK_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, ServiceError)

Clock = Callable[[], datetime]
# A card update waits for its card: it is looked at again this long after the card's next try.
UPDATE_WAIT = timedelta(seconds=2)
# A database hiccup while preparing a row: try it again soon, without counting an attempt.
PREPARE_RETRY = timedelta(seconds=5)
RECORD_TRIES = 3
REARMED = "preview_expired_job_rearmed"
# A batch reads the cards sent this far back and counts each user's from their own local midnight, which is
# never more than 25 hours ago (a day that ends summer time).
DAY_LOOKBACK = timedelta(hours=26)
_WAITING_CARD = (*NOTIFICATION_DUE, NotificationStatus.SENDING)


class Stale(Enum):
    """A card's preview changed between its batch's planning and its send."""

    STALE = "stale"


STALE = Stale.STALE


@dataclass(frozen=True)
class Limits:
    """The user's quiet hours and daily cap, which hold back a proactive card."""

    user_id: str
    zone: ZoneInfo
    quiet: QuietHours | None
    daily_cap: int


@dataclass(frozen=True)
class Plan:
    """What to do with one claimed notification."""

    action: Literal["send", "update", "answer", "effect", "defer", "skip", "lost"]
    view: PreviewView | None = None
    answer: dict[str, Any] | None = None  # an answer to a chat message (action "answer")
    effect: tuple[str, EffectCall] | None = None  # (name, call) of an effect (action "effect")
    open_id: str = ""
    message_id: str = ""
    attempts: int = 0
    until: datetime | None = None
    reason: str = ""
    limits: Limits | None = None  # checked again, under the user's row lock, when the send is marked


@dataclass
class DeliveryStats:
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def _preview_id(row: Notification) -> str | None:
    if row.kind not in (NotificationKind.CARD, NotificationKind.CARD_UPDATE):
        return None
    preview_id = row.preview_id or (row.payload or {}).get("preview_id")
    return preview_id if isinstance(preview_id, str) and preview_id else None


async def _views_of(uow: UnitOfWork, rows: list[Notification]) -> dict[str, PreviewView]:
    return await preview_views(uow, {p for r in rows if (p := _preview_id(r)) is not None})


async def _own_error(plan: Awaitable[Plan]) -> Plan | Exception:
    """The plan, or the error that is the row's own (poison), returned so the batch's other rows go on; a
    database failure is raised (it is every row's)."""
    try:
        return await plan
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        return exc


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


class Delivery:
    """Sends the cards and card updates the relay queued, through a Sender.

    A row is claimed (lease) in a batch; just before its send the row is marked `sending` with one more
    attempt and a fresh lease, so a crash mid-send leaves a `sending` row that lease recovery retries with
    the same idempotency key (the notification id)."""

    def __init__(
        self,
        store: Store,
        sender: Sender,
        config: WorkerConfig,
        worker_id: str,
        effects: Effects | None = None,
    ) -> None:
        self._store = store
        self._sender = sender
        self._effects = effects or Effects()
        self._config = config
        self._worker_id = worker_id

    async def run(self, clock: Clock) -> DeliveryStats:
        now = clock()
        async with self._store.uow() as uow:
            rows = await uow.notifications.claim_due(
                self._worker_id, now, self._config.lease_seconds, self._config.delivery_batch
            )
            claimed = [(r.id, r.user_id) for r in rows]
            await uow.commit()
        stats = DeliveryStats(claimed=len(claimed))
        plans = await self._prepare_batch([row_id for row_id, _ in claimed], now)
        # One user's rows go one after another (Feishu allows 5 per second per user, and the wait for that
        # budget must not eat a step's timeout); different users go in parallel.
        by_user: dict[str, list[str]] = {}
        for row_id, user_id in claimed:
            by_user.setdefault(user_id, []).append(row_id)
        gate = asyncio.Semaphore(self._config.delivery_concurrency)

        async def one_user(ids: list[str]) -> None:
            async with gate:
                for row_id in ids:
                    planned = plans.get(row_id)
                    if planned is None:  # a card update: planned just before it goes, on the latest view
                        stats.add(await self.deliver(row_id, clock))
                    else:
                        stats.add(await self._handle(row_id, planned, clock))

        await asyncio.gather(*(one_user(ids) for ids in by_user.values()))
        return stats

    async def recover(self, now: datetime) -> int:
        """Reclaim `sending` rows whose lease lapsed (their worker died mid-send): due again at once, with
        the attempt already counted, or dead after the last attempt."""
        async with self._store.uow() as uow:
            rows = await uow.delivery.stuck_sending(now, self._config.delivery_batch)
            for row in rows:
                dead = row.attempts >= MAX_ATTEMPTS
                row.status = NotificationStatus.DEAD if dead else NotificationStatus.FAILED
                row.last_error_code = "lease_expired"
                row.last_error = "the worker sending it stopped before recording the outcome"
                row.next_attempt_at = now
                row.claimed_by = row.claimed_until = None
                row.updated_at = now
                log.warning("notification %s: send lease expired, %s", row.id, row.status)
            await uow.commit()
        return len(rows)

    async def deliver(self, notification_id: str, clock: Clock) -> str:
        """Handle one claimed row; returns the outcome name (sent, failed, dead, deferred, skipped, ...)."""
        now = clock()
        try:
            async with asyncio.timeout(self._config.delivery_timeout_seconds):
                planned: Plan | Exception = await self._prepare(notification_id, now)
        except Exception as exc:
            planned = exc
        return await self._handle(notification_id, planned, clock, fresh=True)

    async def _handle(
        self, notification_id: str, planned: Plan | Exception, clock: Clock, *, fresh: bool = False
    ) -> str:
        """Carry out a row's plan, or record why it could not be planned. A plan made with its batch
        (not `fresh`) whose preview changed meanwhile is made again."""
        now = clock()
        if isinstance(planned, TRANSIENT_ERRORS):
            log.warning("notification %s: could not prepare, retrying soon: %s", notification_id, planned)
            return await self._record(notification_id, now, "released", error=("prepare", str(planned)))
        if isinstance(planned, Exception):
            log.error("notification %s is poison, marked dead: %s", notification_id, planned)
            return await self._record(
                notification_id, now, "dead", error=("poison", f"{type(planned).__name__}: {planned}")
            )
        plan = planned
        if plan.action == "lost":
            return "lost"
        if plan.action == "defer":
            return await self._record(
                notification_id, now, "deferred", until=plan.until, error=(plan.reason, "")
            )
        if plan.action == "skip":
            rearm = plan.view.task_id if plan.reason == REARMED and plan.view is not None else None
            return await self._record(
                notification_id, now, "skipped", error=(plan.reason, ""), rearm_task=rearm
            )
        if not fresh and plan.action == "send" and plan.view is not None and plan.view.expires_at <= now:
            # Planned with its batch and expired while it waited: plan it again as it is now.
            return await self.deliver(notification_id, clock)
        return await self._send(notification_id, plan, clock, fresh=fresh)

    async def _send(self, notification_id: str, plan: Plan, clock: Clock, *, fresh: bool = False) -> str:
        attempts = plan.attempts + 1
        now = clock()
        ready = plan.view.preview_id if plan.action == "send" and plan.view is not None else None
        marked = await self._mark_sending(notification_id, attempts, now, plan.limits, ready)
        if marked is False:
            return "lost"
        if marked is STALE:
            if fresh:
                return await self._record(notification_id, now, "skipped", error=("preview_changed", ""))
            return await self.deliver(notification_id, clock)  # its preview changed since the batch
        if isinstance(marked, Gate):
            return await self._record(
                notification_id, now, "deferred", until=marked.until, error=(marked.reason, "")
            )
        kind = {"send": "card", "answer": "answer", "effect": "effect"}.get(plan.action, "card_update")
        started = time.perf_counter()
        message_id: str | None = plan.message_id
        try:
            async with asyncio.timeout(self._config.delivery_timeout_seconds):
                if plan.action == "effect":
                    assert plan.effect is not None
                    name, call = plan.effect
                    message_id = await self._effects.run(name, call, now) or None
                elif plan.action == "answer":
                    assert plan.answer is not None
                    message_id = await self._sender.send_answer(
                        notification_id=notification_id, answer=plan.answer
                    )
                elif plan.action == "send":
                    assert plan.view is not None
                    message_id = await self._sender.send_preview(
                        notification_id=notification_id, open_id=plan.open_id, view=plan.view
                    )
                else:
                    assert plan.view is not None
                    await self._sender.update_preview(message_id=plan.message_id, view=plan.view)
        except DeliveryError as exc:
            failure: DeliveryError = exc
        except TimeoutError:
            failure = DeliveryError("step_timeout", "delivery step timed out", retryable=True)
        except Exception as exc:
            # Not the sender's contract: count it as an attempt that may work later, so it still ends dead.
            log.exception("notification %s: sender raised unexpectedly", notification_id)
            failure = DeliveryError("internal", f"{type(exc).__name__}: {exc}", retryable=True)
        else:
            metrics.SEND_LATENCY.labels(kind).observe(time.perf_counter() - started)
            return await self._record(
                notification_id,
                clock(),
                "sent",
                message_id=message_id,
                preview_id=plan.view.preview_id if plan.view is not None else None,
                kind=kind,
            )
        metrics.SEND_LATENCY.labels(kind).observe(time.perf_counter() - started)
        now = clock()
        if not failure.retryable or attempts >= MAX_ATTEMPTS:
            log.warning("notification %s dead after %d attempt(s): %s", notification_id, attempts, failure)
            return await self._record(notification_id, now, "dead", error=(failure.code, failure.message))
        until = next_retry_at(now, attempts, failure.retry_after)
        log.info(
            "notification %s attempt %d failed (%s), next at %s",
            notification_id,
            attempts,
            failure.code,
            until,
        )
        return await self._record(
            notification_id, now, "failed", until=until, error=(failure.code, failure.message)
        )

    async def _prepare(self, notification_id: str, now: datetime) -> Plan:
        """The plan of one claimed row, read as it is now."""
        async with self._store.uow(readonly=True) as uow:
            row = await uow.notifications.get(notification_id)
            if row is None:
                return Plan("lost")
            views = await _views_of(uow, [row])
            return await self._plan(uow, row, now, views, None)

    async def _prepare_batch(self, ids: list[str], now: datetime) -> dict[str, Plan | Exception]:
        """The plans of a claimed batch, read in one transaction with a few queries for all its rows (the
        row, the previews' views, the users' cards today). A card update is left out: it is planned just
        before it goes, so it carries the latest view. A failure that is not the row's own (the database)
        is every row's."""
        if not ids:
            return {}
        plans: dict[str, Plan | Exception] = {}
        try:
            async with asyncio.timeout(self._config.delivery_timeout_seconds):
                async with self._store.uow(readonly=True) as uow:
                    loaded = await uow.notifications.list_by_ids(ids)
                    found = {r.id for r in loaded}
                    rows = [r for r in loaded if r.kind != NotificationKind.CARD_UPDATE]
                    # Held here: the session's identity map keeps rows only while they are referenced.
                    users = await uow.users.list_by_ids({r.user_id for r in rows})
                    views = await _views_of(uow, rows)
                    counted = await uow.delivery.cards_in_flight_or_sent(
                        {r.user_id for r in rows if r.kind == NotificationKind.CARD}, now - DAY_LOOKBACK
                    )
                    for row in rows:
                        plans[row.id] = await _own_error(self._plan(uow, row, now, views, counted))
                    del users
        except TRANSIENT_ERRORS as exc:
            failed = exc if isinstance(exc, Exception) else RuntimeError(str(exc))
            return dict.fromkeys(ids, failed)
        plans.update((row_id, Plan("lost")) for row_id in ids if row_id not in found)
        return plans

    async def _plan(
        self,
        uow: UnitOfWork,
        row: Notification,
        now: datetime,
        views: dict[str, PreviewView],
        counted: CardCounts | None,
    ) -> Plan:
        if row.claimed_by != self._worker_id or row.status not in NOTIFICATION_DUE:
            return Plan("lost")
        if row.kind == NotificationKind.ANSWER:
            # The process that queued it did not send it (a Feishu error, or it stopped): no quiet
            # hours, no daily cap, as when it went out at once.
            if not isinstance(row.payload, dict) or not row.payload.get("uuid"):
                raise PoisonError("answer without its payload")
            return Plan("answer", answer=row.payload, attempts=row.attempts)
        if row.kind == NotificationKind.EFFECT:
            try:
                effect = Effects.call_of(row.id, row.user_id, row.payload, row.attempts)
            except PoisonEffect as exc:
                raise PoisonError(str(exc)) from exc
            if effect[0] not in self._effects:
                raise PoisonError(f"no handler for effect {effect[0]!r}")
            return Plan("effect", effect=effect, attempts=row.attempts)
        preview_id = _preview_id(row)
        if preview_id is None:
            raise PoisonError("notification has no preview")
        view = views.get(preview_id)
        if view is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no preview {preview_id}")
        if row.kind == NotificationKind.CARD:
            return await self._plan_card(uow, row, view, now, counted)
        if row.kind == NotificationKind.CARD_UPDATE:
            return await self._plan_update(uow, row, view, now)
        raise PoisonError(f"unsupported notification kind {row.kind!r}")

    async def _plan_card(
        self, uow: UnitOfWork, row: Notification, view: PreviewView, now: datetime, counted: CardCounts | None
    ) -> Plan:
        if view.status != "ready" or view.expires_at <= now:
            held = row.last_error_code in HOLD_REASONS
            if (
                held
                and view.status in ("ready", "expired")
                and view.trigger_type == TriggerType.WORKER_DUE_JOB
            ):
                # Held for quiet hours or the daily cap until its preview expired: the warning must not be
                # dropped, so the task's job fires again and plans afresh for the present.
                return Plan("skip", reason=REARMED, view=view)
            return Plan(
                "skip",
                reason="preview_expired" if view.status in ("ready", "expired") else f"preview_{view.status}",
            )
        user = await uow.users.get(row.user_id)
        if user is None:
            raise PoisonError(f"user {row.user_id} does not exist")
        if view.trigger_type == TriggerType.USER_FEEDBACK:
            # The answer to the user's own message is not a proactive card: no quiet hours, no daily cap.
            return Plan("send", view=view, open_id=user.open_id, attempts=row.attempts)
        limits = Limits(
            user.id,
            _zone(user.timezone, view.timezone),
            QuietHours.parse(user.quiet_start, user.quiet_end),
            user.daily_card_cap,
        )
        if counted is None:
            gate = await self._gate(uow, row.id, limits, now)
        else:
            used = counted.since(limits.user_id, row.id, local_day_start(now, limits.zone))
            gate = delivery_gate(now, limits.zone, limits.quiet, used, limits.daily_cap)
        if gate is not None:
            return Plan("defer", until=gate.until, reason=gate.reason)
        return Plan("send", view=view, open_id=user.open_id, attempts=row.attempts, limits=limits)

    async def _gate(self, uow: UnitOfWork, row_id: str, limits: Limits, now: datetime) -> Gate | None:
        used = await self._cards_today(uow, row_id, limits, now)
        return delivery_gate(now, limits.zone, limits.quiet, used, limits.daily_cap)

    async def _cards_today(self, uow: UnitOfWork, row_id: str, limits: Limits, now: datetime) -> int:
        """Cards sent to the user since local midnight, plus cards in flight (so parallel sends cannot
        overshoot the cap)."""
        return await uow.delivery.cards_in_flight_or_sent_since(
            limits.user_id, row_id, local_day_start(now, limits.zone)
        )

    async def _plan_update(
        self, uow: UnitOfWork, row: Notification, view: PreviewView, now: datetime
    ) -> Plan:
        preview_id = view.preview_id
        if view.card_message_id:
            return Plan("update", view=view, message_id=view.card_message_id, attempts=row.attempts)
        cards = [
            n
            for n in await uow.notifications.for_preview(preview_id)
            if n.kind == NotificationKind.CARD and n.status in _WAITING_CARD
        ]
        if not cards:
            return Plan("skip", reason="no_card_sent")
        # The card is still on its way: look again once it has had its next chance.
        card = cards[0]
        until = max(now, card.next_attempt_at, card.claimed_until or now) + UPDATE_WAIT
        return Plan("defer", until=until, reason="card_not_sent_yet")

    async def _mark_sending(
        self,
        notification_id: str,
        attempts: int,
        now: datetime,
        limits: Limits | None,
        ready_preview: str | None = None,
    ) -> bool | Gate | Stale:
        """Mark the row `sending` (True), or False when it is no longer ours. A proactive card is checked
        against the user's limits again under the user's row lock, so two workers sending to one user at
        once cannot both take the day's last card: the second gets the Gate (deferred). A card whose
        preview (`ready_preview`) is no longer ready is not marked: STALE."""

        async def mark() -> bool | Gate | Stale:
            async with self._store.uow() as uow:
                if limits is not None:
                    await uow.delivery.lock_user(limits.user_id)
                    gate = await self._gate(uow, notification_id, limits, now)
                    if gate is not None:
                        return gate
                marked = await uow.delivery.mark_sending(
                    notification_id,
                    self._worker_id,
                    attempts,
                    now,
                    self._config.lease_seconds,
                    ready_preview=ready_preview,
                )
                if not marked:
                    if ready_preview is not None and not await uow.delivery.preview_ready(ready_preview, now):
                        return STALE
                    return False
                await uow.commit()
                return True

        try:
            # Two workers sending to one user can deadlock on the user's row: the loser tries again.
            return await retrying(mark, what=f"marking notification {notification_id} sending")
        except MARK_ERRORS:
            log.exception("notification %s: could not mark sending; not sent", notification_id)
            return False

    async def _record(
        self,
        notification_id: str,
        now: datetime,
        outcome: str,
        *,
        until: datetime | None = None,
        error: tuple[str, str] | None = None,
        message_id: str | None = None,
        preview_id: str | None = None,
        kind: str = "card",
        rearm_task: str | None = None,
    ) -> str:
        values: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "updated_at": now}
        if outcome == "released":
            values["next_attempt_at"] = now + PREPARE_RETRY
        else:
            values["status"] = NotificationStatus(outcome)
        if until is not None:
            values["next_attempt_at"] = until
        if error is not None:
            values["last_error_code"] = error[0][:64]
            values["last_error"] = error[1][:2000] or None
        if outcome == "sent":
            values.update(message_id=message_id, sent_at=now, last_error_code=None, last_error=None)
        for attempt in range(1, RECORD_TRIES + 1):
            try:
                await self._write_outcome(
                    notification_id,
                    values=values,
                    outcome=outcome,
                    message_id=message_id,
                    preview_id=preview_id,
                    kind=kind,
                    rearm_task=rearm_task,
                    now=now,
                )
            except TRANSIENT_ERRORS:
                # Never swallowed: logged, tried again, and in the end the lease lapses and the row returns.
                log.exception(
                    "notification %s: could not record %s (try %d of %d)",
                    notification_id,
                    outcome,
                    attempt,
                    RECORD_TRIES,
                )
                await asyncio.sleep(0.05 * attempt)
                continue
            metrics.DELIVERIES.labels(kind, outcome).inc()
            return outcome
        return "unrecorded"

    async def _write_outcome(
        self,
        notification_id: str,
        *,
        values: dict[str, Any],
        outcome: str,
        message_id: str | None,
        preview_id: str | None,
        kind: str,
        rearm_task: str | None,
        now: datetime,
    ) -> None:
        async with self._store.uow() as uow:
            ours = await uow.delivery.record_outcome(notification_id, self._worker_id, values)
            if rearm_task is not None and ours:
                await uow.delivery.rearm_job(rearm_task, now)
            if outcome == "sent" and kind == "card" and preview_id and message_id:
                await uow.delivery.set_card_message(preview_id, message_id)
            await uow.commit()
