"""The worker: APScheduler loops for due scan, outbox relay, delivery, expiry, promotion, lease recovery."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from scheduler.services import actions, conflicts, jobs, presses
from scheduler.services.calendar import BusyTimes
from scheduler.services.pipeline import STALE_PROCESSING
from scheduler.worker import metrics
from scheduler.worker.config import WorkerConfig
from scheduler.worker.delivery import Delivery
from scheduler.worker.effects import Effects
from scheduler.worker.relay import Relay
from scheduler.worker.sender import Sender
from store import Store, new_id

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# A due-job trigger still pending after this long was created by a worker that died before running it
# (a live worker runs its batch within seconds, or minutes when the LLM is slow).
# A trigger still pending this long after it was created was never started (its process died before
# running it: the bot runs feedback and admin triggers right after answering); one stuck in processing
# this long lost its worker mid-run (the pipeline lets it be taken over then).
STALE_PENDING = timedelta(minutes=2)


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_worker_id() -> str:
    """host:pid:random, unique per process start (a restarted process must not inherit old leases)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{new_id()[:8]}"


class TaskSyncStep(Protocol):
    """scheduler.services.tasksync.TaskSync as the worker runs it."""

    @property
    def interval_seconds(self) -> float: ...

    async def run(self, now: datetime) -> Any: ...


class PipelineRunner(Protocol):
    """services.pipeline.Pipeline as the worker uses it."""

    async def run(self, trigger_id: str, now: datetime) -> Any: ...

    async def run_batch(self, trigger_ids: Sequence[str], now: datetime) -> Any: ...

    @property
    def grid_minutes(self) -> int:
        """The candidate grid the pipeline plans on (an apply re-checks an old preview with it)."""
        ...

    @property
    def busy(self) -> BusyTimes | None:
        """The users' Feishu busy time (an apply re-reads it when older than a minute)."""
        ...


@dataclass
class RunReport:
    """What one pass of every step did (run_once)."""

    promoted: int = 0
    triggers: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    relayed: int = 0
    recovered: int = 0
    conflicts: list[str] = field(default_factory=list)  # calendar_conflict triggers created and run
    deliveries: dict[str, int] = field(default_factory=dict)
    tasks_synced: bool = False  # Feishu Tasks were read this pass (due by the sync interval)


class Worker:
    """Runs the background steps, either on APScheduler intervals (`start`/`stop`) or once each (`run_once`,
    for tests and the demo with a simulated clock). Any number of workers may share a MySQL database."""

    def __init__(
        self,
        config: WorkerConfig,
        store: Store,
        pipeline: PipelineRunner,
        sender: Sender,
        clock: Clock = utc_now,
        *,
        worker_id: str | None = None,
        effects: Effects | None = None,
        task_sync: TaskSyncStep | None = None,
    ) -> None:
        self.config = config
        self.config.check()
        self.worker_id = worker_id or default_worker_id()
        self._store = store
        self._pipeline = pipeline
        self._clock = clock
        self._relay = Relay(store, self.config, self.worker_id)
        self._delivery = Delivery(store, sender, self.config, self.worker_id, effects)
        self._scheduler: Any = None
        self._stopping = False
        self._inflight: set[asyncio.Task[Any]] = set()
        self._task_sync = task_sync
        self._tasks_synced_at: datetime | None = None

    # ---- the steps --------------------------------------------------------------------------------------
    async def promote(self, now: datetime) -> int:
        async with self._store.uow() as uow:
            promoted = await jobs.promote_urgency(uow, now)
            await uow.commit()
        return promoted

    async def scan_due(self, clock: Clock) -> list[str]:
        """Claim due jobs a batch at a time and run the pipeline on the triggers each batch creates, as one
        pipeline batch; drains full batches (up to max_batches_per_tick). The claim of the next batch
        overlaps the pipeline of the previous one (one pipeline batch in flight), so one's database waits
        are spent on the other's work.

        Per batch, whatever its size (asserted in tests/contract/worker/test_batches.py): the due scan sends
        at most 7 statements in 1 transaction, the pipeline at most 11 statements in 2 transactions."""
        created: list[str] = []
        running: asyncio.Task[None] | None = None
        try:
            for _ in range(self.config.max_batches_per_tick):
                ids = await jobs.process_due_jobs(
                    self._store,
                    now=clock(),
                    worker_id=self.worker_id,
                    lease_seconds=self.config.lease_seconds,
                    limit=self.config.due_batch,
                )
                metrics.TRIGGERS_CREATED.inc(len(ids))
                if running is not None:
                    await running
                # Even when stopping, the triggers just created are run: otherwise they wait for recovery.
                running = asyncio.create_task(self._run_pipeline(ids, clock())) if ids else None
                created += ids
                if self._stopping or len(ids) < self.config.due_batch:
                    break
        finally:
            if running is not None:
                await running
        return created

    async def _run_pipeline(self, trigger_ids: list[str], now: datetime) -> None:
        if not trigger_ids:
            return
        try:
            await self._pipeline.run_batch(trigger_ids, now)
        except Exception:
            # The pipeline records its own failures; this is a failure to even do that. The triggers stay
            # pending and recover_triggers runs them again later.
            log.exception("pipeline for %d trigger(s) raised", len(trigger_ids))

    async def scan_conflicts(self, now: datetime) -> list[str]:
        """With the calendar on: re-read stale busy time of users with blocks soon, and run the pipeline on a
        calendar_conflict trigger for each planned block that busy time now overlaps (a card, never a
        move)."""
        busy = self._pipeline.busy
        if busy is None:
            return []
        ids = await conflicts.scan(self._store, busy, now)
        metrics.TRIGGERS_CREATED.inc(len(ids))
        await self._run_pipeline(ids, now)
        return ids

    async def sync_tasks(self, now: datetime, *, when_due: bool = True) -> bool:
        """Read connected users' Feishu Tasks into theirs (scheduler.services.tasksync), when the sync is on
        and (`when_due`) its interval has passed since this worker's last sync; True when it ran."""
        sync = self._task_sync
        if sync is None or sync.interval_seconds <= 0:
            return False
        last = self._tasks_synced_at
        if when_due and last is not None and (now - last).total_seconds() < sync.interval_seconds:
            return False
        self._tasks_synced_at = now
        await sync.run(now)
        return True

    async def expire(self, now: datetime) -> list[str]:
        return await actions.expire_due(self._store, now=now)

    async def relay(self, now: datetime) -> int:
        total = 0
        for _ in range(self.config.max_batches_per_tick):
            stats = await self._relay.run(now)
            total += stats.claimed
            if self._stopping or stats.claimed < self.config.outbox_batch:
                break
        return total

    async def deliver(self, clock: Clock) -> dict[str, int]:
        outcomes: dict[str, int] = {}
        for _ in range(self.config.max_batches_per_tick):
            stats = await self._delivery.run(clock)
            for name, n in stats.outcomes.items():
                outcomes[name] = outcomes.get(name, 0) + n
            if self._stopping or stats.claimed < self.config.delivery_batch:
                break
        return outcomes

    async def recover(self, now: datetime) -> int:
        """Lease recovery: `sending` notifications whose worker died, and triggers of any source left
        pending or stuck in processing by a process that died."""
        recovered = await self._delivery.recover(now)
        # Card presses an API process recorded but did not finish (it stopped): finished here, once.
        finished = await presses.finish_unfinished(
            self._store,
            worker_id=self.worker_id,
            now=now,
            lease_seconds=self.config.lease_seconds,
            grid_minutes=self._pipeline.grid_minutes,
            busy=self._pipeline.busy,
        )
        recovered += len(finished)
        if finished:
            await self.relay(now)  # their card updates go out with this pass's deliveries
        async with self._store.uow(readonly=True) as uow:
            trigger_ids = await uow.batch.left_behind_triggers(
                now - STALE_PENDING, now - STALE_PROCESSING, self.config.due_batch
            )
        for trigger_id in trigger_ids:
            log.warning("trigger %s was left pending; running it now", trigger_id)
        await self._run_pipeline(trigger_ids, now)
        await metrics.refresh_status_counts(self._store, now)
        return recovered + len(trigger_ids)

    async def run_once(self, now: datetime) -> RunReport:
        """Every step once, in pipeline order, at the simulated instant `now`."""
        clock: Clock = lambda: now  # noqa: E731 - a fixed clock for the whole pass
        report = RunReport()
        report.tasks_synced = await self.sync_tasks(now)
        report.promoted = await self.promote(now)
        report.triggers = await self.scan_due(clock)
        report.conflicts = await self.scan_conflicts(now)
        report.expired = await self.expire(now)
        report.relayed = await self.relay(now)
        report.recovered = await self.recover(now)
        report.deliveries = await self.deliver(clock)
        # A card update queued by expiry above is relayed and delivered in the same pass.
        if report.expired:
            report.relayed += await self.relay(now)
            for name, n in (await self.deliver(clock)).items():
                report.deliveries[name] = report.deliveries.get(name, 0) + n
        return report

    # ---- scheduling -------------------------------------------------------------------------------------
    def _loops(self) -> dict[str, tuple[float, Callable[[], Awaitable[object]]]]:
        c, clock = self.config, self._clock
        loops: dict[str, tuple[float, Callable[[], Awaitable[object]]]] = {
            "due_scan": (c.due_scan_seconds, lambda: self.scan_due(clock)),
            "outbox_relay": (c.outbox_relay_seconds, lambda: self.relay(clock())),
            "delivery": (c.delivery_seconds, lambda: self.deliver(clock)),
            "expiry": (c.expiry_scan_seconds, lambda: self.expire(clock())),
            "promotion": (c.promotion_seconds, lambda: self.promote(clock())),
            "lease_recovery": (c.lease_recovery_seconds, lambda: self.recover(clock())),
            "calendar_conflicts": (c.conflict_scan_seconds, lambda: self.scan_conflicts(clock())),
        }
        if self._task_sync is not None and self._task_sync.interval_seconds > 0:
            loops["task_sync"] = (
                self._task_sync.interval_seconds,
                lambda: self.sync_tasks(clock(), when_due=False),
            )
        return loops

    async def _tick(self, name: str, step: Callable[[], Awaitable[object]]) -> None:
        if self._stopping:
            return
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        started = time.perf_counter()
        try:
            await step()
        except asyncio.CancelledError:
            metrics.LOOP_RUNS.labels(name, "cancelled").inc()
            raise
        except Exception:
            # One failing tick must not stop the loop; the next tick tries again.
            log.exception("worker loop %s failed", name)
            metrics.LOOP_RUNS.labels(name, "error").inc()
        else:
            metrics.LOOP_RUNS.labels(name, "ok").inc()
        finally:
            metrics.LOOP_SECONDS.labels(name).observe(time.perf_counter() - started)
            if task is not None:
                self._inflight.discard(task)

    async def start(self) -> None:
        """Schedule every loop; each runs at once (not only after its first interval), then every interval."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        first = self._clock()
        for name, (seconds, step) in self._loops().items():
            scheduler.add_job(
                self._tick,
                "interval",
                args=(name, step),
                seconds=seconds,
                next_run_time=first,
                id=name,
                name=name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        scheduler.start()
        self._scheduler = scheduler
        metrics.WORKER_UP.set(1)
        log.info("worker %s started", self.worker_id)

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop scheduling, let in-flight ticks finish (within the grace period), then release our leases.

        The grace defaults to the larger of the delivery step timeout and half the lease: a delivery step in
        flight ends within it, so its outcome is recorded; a tick still running after that is cancelled and
        its leases are released (a `sending` row is then retried by lease recovery, same uuid)."""
        self._stopping = True
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            # Pause, not shut down, first: APScheduler's shutdown cancels the ticks in flight.
            scheduler.pause()
        if grace_seconds is None:
            grace_seconds = max(self.config.delivery_timeout_seconds, self.config.lease_seconds / 2)
        grace = grace_seconds
        pending = set(self._inflight)
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=5)
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        try:
            await self.release_leases(self._clock())
        except Exception:
            log.exception("worker %s could not release its leases; they lapse on their own", self.worker_id)
        metrics.WORKER_UP.set(0)
        log.info("worker %s stopped", self.worker_id)

    async def release_leases(self, now: datetime) -> None:
        """Hand back every row this worker still holds. A `sending` row keeps its state (the send's outcome
        is unknown) but its lease ends now, so lease recovery retries it with the same idempotency key."""
        async with self._store.uow() as uow:
            await uow.batch.release_leases(self.worker_id, now)
            await uow.commit()
