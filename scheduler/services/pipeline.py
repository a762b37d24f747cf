"""The pipeline: trigger -> context -> plan -> choice -> preview + outbox row in one transaction; dry run."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from llm.api import Choice, ChoiceRequest, Chooser
from scheduler.planning import base_version, plan
from scheduler.planning import model as pm
from scheduler.services import jobs
from scheduler.services.calendar import BusyTimes
from scheduler.services.choice import (
    CandidateTexts,
    all_texts,
    build_request,
    checked,
    encode_candidates,
    issues_json,
    json_safe,
)
from scheduler.services.context import (
    build_context,
    extension_days,
    load_context,
    outside_target_blocks,
    target_for_trigger,
    unfinished_target,
    window,
)
from scheduler.services.dryrun import DryRunReport
from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.movecap import moved_today
from scheduler.services.outcomes import retrying
from scheduler.services.tasks import TaskRef, Unpicked, pick_task
from scheduler.services.triggers import create_trigger
from store import Store, UnitOfWork
from store.enums import ChoiceSource, PreviewStatus, TaskStatus, TriggerStatus, TriggerType
from store.models import BusyTime, OutboxMessage, Preview, Trigger, User
from store.repositories.batch import new_row, outbox_row, transition

log = logging.getLogger(__name__)

READY_TOPIC = "preview.ready"
# A trigger left `processing` this long (a crashed run: a killed API process running a feedback report) may
# be taken over by another run. A run never takes that long: a batch of 50 with 8 chooser calls at once,
# each bounded by the LLM budget (8 s), takes under a minute.
STALE_PROCESSING = timedelta(minutes=2)
LATE_START = timedelta(minutes=1)
DETAIL_CHARS = 2000
# Triggers claimed, planned and written per batch; chooser (LLM) calls in flight at once.
BATCH = 50
CHOOSE_CONCURRENCY = 8


@dataclass
class _Work:
    """One claimed trigger on its way through a batch."""

    trigger: Trigger  # detached: changing it writes nothing
    ctx: pm.PlanningContext | None = None
    # the user's schedule_version, read before the context in the same transaction: the preview is
    # current while it is unchanged
    schedule_version: int | None = None
    busy_read_at: datetime | None = None  # when the Feishu busy time in ctx was read
    result: pm.PlanResult | None = None
    texts: dict[str, CandidateTexts] | None = None
    # base_version(ctx), computed right after planning while the context's frame is still memoised
    version: str | None = None
    request: ChoiceRequest | None = None
    choice: Choice | None = None
    preview: dict[str, Any] | None = None  # the row to insert (store.repositories.batch.new_row)
    error: Exception | None = None
    outcome: PipelineOutcome | None = None


@dataclass(frozen=True)
class PipelineOutcome:
    trigger_id: str
    status: str  # a TriggerStatus value
    preview_id: str | None
    decision: str | None
    hit: str | None = None  # trigger_and_run: the trigger already existed ("dedupe", ...)
    error_code: str | None = None


class Pipeline:
    """Runs triggers to previews; the chooser is the LLM (or the fallback) behind llm.api.Chooser."""

    def __init__(
        self,
        store: Store,
        chooser: Chooser,
        *,
        preview_ttl_minutes: int = 60,
        grid_minutes: int = 15,
        batch: int = BATCH,
        concurrency: int = CHOOSE_CONCURRENCY,
        busy: BusyTimes | None = None,
    ) -> None:
        if batch < 1 or concurrency < 1:
            raise ValueError("batch and concurrency must be at least 1")
        self._store = store
        self._chooser = chooser
        self._batch = batch
        # Bounds the chooser calls in flight across every batch of this pipeline (LLM rate limits).
        self._gate = asyncio.Semaphore(concurrency)
        self._ttl = timedelta(minutes=preview_ttl_minutes)
        self._grid = grid_minutes
        self._busy = busy

    @property
    def grid_minutes(self) -> int:
        """The candidate grid this pipeline plans on."""
        return self._grid

    @property
    def busy(self) -> BusyTimes | None:
        """The users' Feishu busy time this pipeline plans around (None: the calendar is not read)."""
        return self._busy

    async def run(self, trigger_id: str, now: datetime) -> PipelineOutcome:
        """Process a pending trigger; a trigger already processed is answered with its current state."""
        (outcome,) = await self.run_batch([trigger_id], now, wait=True)
        if outcome is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no trigger {trigger_id}")
        return outcome

    async def run_batch(
        self, trigger_ids: Sequence[str], now: datetime, *, wait: bool = False
    ) -> list[PipelineOutcome | None]:
        """Process these triggers, `batch` at a time; an outcome per id (None: no such trigger).

        Per batch, whatever its size: one transaction claims the pending triggers and reads the contexts
        of all their users (one query per table), planning and choosing run outside any transaction (the
        chooser `concurrency` at a time), and one transaction writes the previews, outbox rows and trigger
        states with multi-row statements. A trigger that cannot be planned or chosen for fails alone.
        With `wait` a trigger another run holds is waited for; else (MySQL) it is skipped and reported in
        the state it had."""
        unique = list(dict.fromkeys(trigger_ids))
        found: dict[str, PipelineOutcome | None] = {}
        for i in range(0, len(unique), self._batch):
            chunk = unique[i : i + self._batch]
            found |= await self._run_chunk(chunk, now, wait=wait)
        return [found.get(t) for t in trigger_ids]

    async def _run_chunk(
        self, trigger_ids: list[str], now: datetime, *, wait: bool
    ) -> dict[str, PipelineOutcome | None]:
        if self._busy is not None:
            # Outside any transaction: copies older than the maximum age are read again from Feishu first.
            await self._busy.refresh_for_triggers(trigger_ids, now)
        works, outcomes = await self._claim(trigger_ids, now, wait=wait)
        if works:
            await self._plan_and_choose(works, now)
            outcomes |= await self._write(works, now)
        return outcomes

    async def _claim(
        self, trigger_ids: list[str], now: datetime, *, wait: bool
    ) -> tuple[list[_Work], dict[str, PipelineOutcome | None]]:
        """Lock the runnable triggers, read their contexts and mark them processing, in one short
        transaction; the others are answered with their current state. Bad data (an unknown time zone, a
        malformed stored value) fails its trigger for good, in the same transaction."""
        async with self._store.uow() as uow:
            rows = await uow.batch.lock_runnable_triggers(
                trigger_ids, now - STALE_PROCESSING, skip_locked=not wait
            )
            claimed = {t.id for t in rows}
            outcomes = await _current(uow, [t for t in trigger_ids if t not in claimed])
            for trigger in rows:
                if trigger.mocked_now is None and now - trigger.effective_now > LATE_START:
                    # Run late (recovered after a crash, or queued behind a backlog): plan for the present,
                    # not for when the trigger was created, or every option could already lie in the past.
                    trigger.effective_now = now
            versions: dict[str, int] = {}
            read_at: dict[str, datetime | None] = {}
            contexts = await self._contexts(uow, rows, versions, read_at)
            works: list[_Work] = []
            failed: list[_Work] = []
            for trigger in rows:
                ctx = contexts[trigger.id]
                if isinstance(ctx, Exception):
                    log.error("trigger %s failed: %s", trigger.id, ctx, extra={"trace_id": trigger.trace_id})
                    failed.append(_Work(trigger, error=ctx))
                else:
                    works.append(
                        _Work(
                            trigger,
                            ctx=ctx,
                            schedule_version=versions.get(trigger.id),
                            busy_read_at=read_at.get(trigger.user_id),
                        )
                    )
            changes = {
                w.trigger.id: transition(TriggerStatus.PROCESSING, now)
                | {"effective_now": w.trigger.effective_now}
                for w in works
            }
            changes |= await _failures(uow, failed, now)
            await uow.batch.update_rows(Trigger, changes)
            await uow.commit()
        for w in failed:
            outcomes[w.trigger.id] = w.outcome
        return works, outcomes

    async def _contexts(
        self,
        uow: UnitOfWork,
        triggers: Sequence[Trigger],
        versions: dict[str, int],
        read_at: dict[str, datetime | None],
    ) -> dict[str, pm.PlanningContext | Exception]:
        """The planning context of every trigger at its effective now, reading each table once for all;
        `versions` gets each trigger's user's schedule_version (read first, so a change committed while
        the context is read makes the preview stale rather than wrongly current), `read_at` when each
        user's busy time was read (with a calendar)."""
        out: dict[str, pm.PlanningContext | Exception] = {}
        users = await uow.batch.users(t.user_id for t in triggers)
        versions.update({t.id: users[t.user_id].schedule_version for t in triggers if t.user_id in users})
        prepared: list[tuple[Trigger, User, pm.Target]] = []
        for trigger in triggers:
            user = users.get(trigger.user_id)
            if user is None:  # pragma: no cover - the foreign key cascades
                out[trigger.id] = ServiceError(ErrorCode.USER_NOT_FOUND, f"no user {trigger.user_id}")
                continue
            try:
                extension_days(user, trigger.effective_now)  # an unknown time zone fails here
                # Only a feedback trigger without a block needs queries to resolve its target.
                target = await target_for_trigger(uow, user, trigger)
                prepared.append((trigger, user, target))
            except (ServiceError, ValueError, LookupError) as exc:
                out[trigger.id] = exc
        if not prepared:
            return out
        ranges = [(u.id, *window(t.effective_now)) for t, u, _ in prepared]
        blocks = await uow.batch.blocks_overlapping(ranges)
        for _, user, target in prepared:  # a reported block outside the windows: read only then
            blocks += await outside_target_blocks(uow, user.id, target, blocks)
        task_ids = {b.task_id for b in blocks} | {x.task_id for _, _, x in prepared if x.task_id}
        tasks = await uow.batch.tasks(task_ids)
        user_ids = {u.id for _, u, _ in prepared}
        events = await uow.batch.fixed_events(user_ids)
        days = [extension_days(u, t.effective_now) for t, u, _ in prepared]
        extensions = await uow.batch.day_extensions(
            user_ids, min(d[0] for d in days), max(d[1] for d in days)
        )
        busy: Sequence[BusyTime] = ()
        if self._busy is not None:
            busy = await uow.calendar.busy(user_ids, min(r[1] for r in ranges), max(r[2] for r in ranges))
            read_at.update({s.user_id: s.read_at for s in await uow.calendar.states(user_ids)})
        # Grouped by user first: each context then filters only its own user's rows.
        blocks_of, events_of, extensions_of = _by_user(blocks), _by_user(events), _by_user(extensions)
        busy_of = _by_user(busy)
        task_by_id = {t.id: t for t in tasks}
        # the per-day move cap matters to the strategies that move blocks (unfinished reports): the blocks
        # already moved today, one query, only for a batch with a report
        reports = [(t, u) for t, u, x in prepared if x.kind == pm.TargetKind.UNFINISHED]
        moved = (
            await moved_today(uow, [u for _, u in reports], [t.effective_now for t, _ in reports])
            if reports
            else {}
        )
        for trigger, user, target in prepared:
            try:
                mine = blocks_of.get(user.id, [])
                wanted = {b.task_id for b in mine} | ({target.task_id} if target.task_id else set())
                out[trigger.id] = build_context(
                    user,
                    trigger.effective_now,
                    target,
                    mine,
                    [task_by_id[t] for t in wanted if t in task_by_id],
                    events_of.get(user.id, []),
                    extensions_of.get(user.id, []),
                    self._grid,
                    busy=busy_of.get(user.id, []),
                    moved_today=moved.get(user.id, 0) if target.kind == pm.TargetKind.UNFINISHED else 0,
                )
            except (ServiceError, ValueError, LookupError) as exc:
                out[trigger.id] = exc
        return out

    async def _plan_and_choose(self, works: list[_Work], now: datetime) -> None:
        """Plan each (pure), then call the chooser for those that need one, `concurrency` at a time and
        outside any transaction (an LLM call may take seconds). A failure stays with its trigger."""
        for w in works:
            try:
                assert w.ctx is not None
                w.result = plan(w.ctx)
                if w.result.observation.decision != pm.Decision.CLOSE:
                    w.texts = all_texts(w.result, w.ctx)
                    w.version = base_version(w.ctx)
                    w.request = build_request(
                        w.trigger.type, w.result, w.ctx, w.trigger.user_text or "", w.texts
                    )
            except Exception as exc:
                log.exception("trigger %s failed", w.trigger.id, extra={"trace_id": w.trigger.trace_id})
                w.error = exc

        async def choose(w: _Work) -> None:
            assert w.request is not None
            assert w.result is not None
            assert w.ctx is not None
            try:
                async with self._gate:
                    choice = checked(w.request, await self._chooser.choose(w.request))
                w.preview = self._preview(w.trigger, w.ctx, w.result, choice, now, w.texts, w.version)
                w.preview["schedule_version"] = w.schedule_version
                w.preview["busy_read_at"] = w.busy_read_at
                w.choice = choice
            except Exception as exc:
                log.exception("trigger %s failed", w.trigger.id, extra={"trace_id": w.trigger.trace_id})
                w.error = exc

        await asyncio.gather(*(choose(w) for w in works if w.error is None and w.request is not None))

    async def _write(self, works: list[_Work], now: datetime) -> dict[str, PipelineOutcome | None]:
        """Write every result in one transaction; if that fails, each in its own, so a trigger whose
        write fails is marked failed alone."""
        try:
            # A lock conflict with another worker's batch is retried as a whole (it was rolled back).
            return await retrying(partial(self._write_all, works, now), what="writing a pipeline batch")
        except Exception as exc:
            if len(works) == 1:
                return await self._fail_write(works[0], now, exc)
            log.exception("writing a batch of %d trigger(s) failed; writing them one by one", len(works))
        out: dict[str, PipelineOutcome | None] = {}
        for w in works:
            try:
                out |= await retrying(
                    partial(self._write_all, [w], now), what=f"writing trigger {w.trigger.id}"
                )
            except Exception as exc:
                out |= await self._fail_write(w, now, exc)
        return out

    async def _fail_write(self, w: _Work, now: datetime, exc: Exception) -> dict[str, PipelineOutcome | None]:
        log.error("trigger %s failed: %s", w.trigger.id, exc, extra={"trace_id": w.trigger.trace_id})
        return await self._write_all([_Work(w.trigger, error=exc)], now)

    async def _write_all(self, works: list[_Work], now: datetime) -> dict[str, PipelineOutcome | None]:
        async with self._store.uow() as uow:
            owned = await uow.batch.processing_trigger_ids([w.trigger.id for w in works])
            # Another run may have finished one meanwhile (a stale takeover): its outcome stands.
            out = await _current(uow, [w.trigger.id for w in works if w.trigger.id not in owned])
            mine = [w for w in works if w.trigger.id in owned]
            changes: dict[str, dict[str, object]] = {}
            previews: list[dict[str, Any]] = []
            for w in mine:
                if w.error is not None:
                    continue
                if w.preview is None:
                    changes[w.trigger.id] = transition(TriggerStatus.CLOSED, now)
                    w.outcome = PipelineOutcome(
                        w.trigger.id, TriggerStatus.CLOSED, None, pm.Decision.CLOSE.value
                    )
                    continue
                changes[w.trigger.id] = transition(TriggerStatus.PREVIEW_GENERATED, now)
                previews.append(w.preview)
                w.outcome = PipelineOutcome(
                    w.trigger.id, TriggerStatus.PREVIEW_GENERATED, w.preview["id"], w.preview["decision"]
                )
            changes |= await _failures(uow, [w for w in mine if w.error is not None], now)
            await uow.batch.insert_rows(Preview, previews)
            await uow.batch.insert_rows(
                OutboxMessage, [outbox_row(READY_TOPIC, {"preview_id": p["id"]}, now) for p in previews]
            )
            await uow.batch.update_rows(Trigger, changes)
            await uow.commit()
        for w in mine:
            out[w.trigger.id] = w.outcome
            if w.preview is not None and w.error is None and w.choice is not None:
                log.info(
                    "trigger %s -> preview %s (%s, %s)",
                    w.trigger.id,
                    w.preview["id"],
                    w.preview["decision"],
                    w.choice.source,
                    extra={"trace_id": w.trigger.trace_id},
                )
            elif w.error is None:
                log.info("trigger %s closed: nothing to do", w.trigger.id)
        return out

    def _preview(  # noqa: PLR0917 - the parts of one preview
        self,
        trigger: Trigger,
        ctx: pm.PlanningContext,
        result: pm.PlanResult,
        choice: Choice,
        now: datetime,
        texts_by_id: dict[str, CandidateTexts] | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        chosen = next(c for c in result.candidates if c.id == choice.selected_candidate_id)
        texts_by_id = texts_by_id or all_texts(result, ctx)
        texts = texts_by_id[chosen.id]
        task_id = trigger.task_id
        if task_id is None and ctx.target.block_id is not None:
            task_id = next((b.task_id for b in ctx.blocks if b.id == ctx.target.block_id), None)
        llm = choice.source == ChoiceSource.LLM
        return new_row(
            Preview,
            trigger_id=trigger.id,
            user_id=trigger.user_id,
            task_id=task_id,
            status=PreviewStatus.READY,
            decision=result.observation.decision.value,
            candidates=encode_candidates(result, ctx, texts_by_id),
            chosen_candidate_id=chosen.id,
            metrics=json_safe(dataclasses.asdict(result.observation.metrics)),
            issues=issues_json(result.observation),
            explanation=choice.explanation,
            notification_summary=choice.notification_summary,
            ask_user_question=choice.ask_user_question or None,
            before_summary=texts.before or None,
            after_summary=texts.after or None,
            choice_source=choice.source,
            fallback_reason=choice.fallback_reason,
            llm_model=choice.model,
            llm_latency_ms=choice.latency_ms,
            prompt_tokens=choice.prompt_tokens if llm or choice.prompt_tokens else None,
            completion_tokens=choice.completion_tokens if llm or choice.completion_tokens else None,
            base_version=version if version is not None else base_version(ctx),
            expires_at=now + self._ttl,
            created_at=now,
            updated_at=now,
        )

    async def trigger_and_run(
        self,
        *,
        user_open_id: str,
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
    ) -> PipelineOutcome:
        """create_trigger + commit + run; a repeated request runs nothing new and reports the hit."""
        async with self._store.uow() as uow:
            user = await uow.users.get_by_open_id(user_open_id)
            if user is None:
                raise ServiceError(ErrorCode.USER_NOT_FOUND, f"no user {user_open_id}")
            outcome = await create_trigger(
                uow,
                user=user,
                type=type,
                now=now,
                task_id=task_id,
                block_id=block_id,
                mocked_now=mocked_now,
                idempotency_key=idempotency_key,
                source_message_id=source_message_id,
                remaining_minutes=remaining_minutes,
                user_text=user_text,
                trace_id=trace_id,
                choices=choices,
            )
            await uow.commit()
        result = await self.run(outcome.trigger.id, now)
        return dataclasses.replace(result, hit=outcome.hit)

    async def dry_run(
        self,
        user_open_id: str,
        task_key: str | None,
        now: datetime,
        block_id: str | None = None,
        remaining_minutes: int | None = None,
    ) -> DryRunReport:
        """The pipeline up to the candidates and the choice, on a read-only unit: writes nothing. A naive
        `now` is a wall-clock time in the user's time zone. With a block or remaining minutes the target
        is an unfinished report, else the task."""
        async with self._store.uow(readonly=True) as uow:
            user = await uow.users.get_by_open_id(user_open_id)
            if user is None:
                raise ServiceError(ErrorCode.USER_NOT_FOUND, f"no user {user_open_id}")
            if now.tzinfo is None or now.utcoffset() is None:
                now = now.replace(tzinfo=ZoneInfo(user.timezone))
            task_id = await _task_id(uow, user, task_key)
            if block_id is not None:
                block = await uow.blocks.get(block_id)
                if block is None or block.user_id != user.id:
                    raise ServiceError(ErrorCode.NOT_FOUND, f"no block {block_id} of user {user_open_id}")
            if block_id is not None or remaining_minutes is not None or task_id is None:
                target = await unfinished_target(uow, user, now, block_id, task_id, remaining_minutes)
                if task_id is not None and target.block_id is None:
                    # Only a block that has begun can be left unfinished.
                    raise ServiceError(
                        ErrorCode.NOT_FOUND,
                        f"task {task_key} has no block that has begun by {now.isoformat()} (give --block)",
                    )
            else:
                target = pm.Target(kind=pm.TargetKind.TASK, task_id=task_id)
            ctx = await load_context(uow, user, now, target, self._grid)
            name, open_id = user.name, user.open_id
        result = plan(ctx)
        request: ChoiceRequest | None = None
        choice: Choice | None = None
        if result.observation.decision != pm.Decision.CLOSE:
            request = build_request(TriggerType.DRY_RUN, result, ctx)
            choice = checked(request, await self._chooser.choose(request))
        return DryRunReport(open_id, name, ctx, result, request, choice, base_version(ctx))


async def _task_id(uow: UnitOfWork, user: User, task_key: str | None) -> str | None:
    """The task named by key, id, or title as chat names it (an exact title or a meaningful part of one,
    among the user's open tasks); ServiceError TASK_NOT_FOUND when it names nothing of the user's or
    several tasks (listed, to pick by key)."""
    if task_key is None:
        return None
    task = await uow.tasks.get_by_key(user.id, task_key)
    if task is None:
        by_id = await uow.tasks.get(task_key)
        task = by_id if by_id is not None and by_id.user_id == user.id else None
    if task is None:
        picked = pick_task(await uow.tasks.for_user(user.id, statuses=(TaskStatus.OPEN,)), TaskRef(task_key))
        if isinstance(picked, Unpicked):
            several = "; ".join(f"{t.title!r} (key {t.key or t.id})" for t in picked.tasks)
            detail = f": it names several open tasks, give a key: {several}" if several else ""
            raise ServiceError(
                ErrorCode.TASK_NOT_FOUND, f"user {user.open_id} has no task {task_key!r}{detail}"
            )
        task = picked
    return task.id


class _OfUser(Protocol):
    @property
    def user_id(self) -> str: ...


R = TypeVar("R", bound=_OfUser)


def _by_user(rows: Iterable[R]) -> dict[str, list[R]]:
    """Rows grouped by user_id, each group in the order given."""
    out: dict[str, list[R]] = {}
    for row in rows:
        out.setdefault(row.user_id, []).append(row)
    return out


async def _current(uow: UnitOfWork, trigger_ids: Sequence[str]) -> dict[str, PipelineOutcome | None]:
    """The outcome of triggers this run does not process, as they stand (None: no such trigger)."""
    if not trigger_ids:
        return {}
    triggers = await uow.batch.triggers(trigger_ids)
    previews = await uow.batch.previews_by_trigger(triggers)
    out: dict[str, PipelineOutcome | None] = {}
    for trigger_id in trigger_ids:
        trigger = triggers.get(trigger_id)
        preview = previews.get(trigger_id)
        out[trigger_id] = (
            None
            if trigger is None
            else PipelineOutcome(
                trigger.id,
                trigger.status,
                preview.id if preview else None,
                preview.decision if preview else None,
                error_code=trigger.error_code,
            )
        )
    return out


async def _failures(uow: UnitOfWork, failed: Sequence[_Work], now: datetime) -> dict[str, dict[str, object]]:
    """The trigger changes that mark these failed with their error; a due job's job is retried later
    (jobs.retry_after_failure). Sets each work's outcome."""
    changes: dict[str, dict[str, object]] = {}
    for w in failed:
        exc = w.error
        assert exc is not None
        code = exc.code if isinstance(exc, ServiceError) else ErrorCode.PIPELINE_FAILED
        detail = f"{type(exc).__name__}: {exc}"[:DETAIL_CHARS]
        changes[w.trigger.id] = transition(TriggerStatus.FAILED, now, error_code=code, error_detail=detail)
        if w.trigger.type == TriggerType.WORKER_DUE_JOB and w.trigger.task_id is not None:
            await jobs.retry_after_failure(uow, w.trigger.task_id, w.trigger.id, now, detail)
        w.outcome = PipelineOutcome(w.trigger.id, TriggerStatus.FAILED, None, None, error_code=code)
    return changes
