"""The pipeline: trigger -> context -> plan -> choice -> preview + outbox row in one transaction; dry run."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from llm.api import Choice, ChoiceRequest, Chooser
from scheduler.planning import base_version, plan
from scheduler.planning import model as pm
from scheduler.services import jobs
from scheduler.services.choice import (
    build_request,
    candidate_texts,
    checked,
    encode_candidates,
    issues_json,
    json_safe,
)
from scheduler.services.context import context_for_trigger, load_context, unfinished_target
from scheduler.services.dryrun import DryRunReport
from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.triggers import create_trigger
from store import Store, UnitOfWork
from store.enums import ChoiceSource, PreviewStatus, TriggerStatus, TriggerType
from store.models import Preview, Trigger, User

log = logging.getLogger(__name__)

READY_TOPIC = "preview.ready"
# A trigger left `processing` this long (a crashed run) may be taken over by another run.
STALE_PROCESSING = timedelta(minutes=10)
LATE_START = timedelta(minutes=1)
DETAIL_CHARS = 2000


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
        self, store: Store, chooser: Chooser, *, preview_ttl_minutes: int = 60, grid_minutes: int = 15
    ) -> None:
        self._store = store
        self._chooser = chooser
        self._ttl = timedelta(minutes=preview_ttl_minutes)
        self._grid = grid_minutes

    async def run(self, trigger_id: str, now: datetime) -> PipelineOutcome:
        """Process a pending trigger; a trigger already processed is answered with its current state."""
        claimed = await self._claim(trigger_id, now)
        if isinstance(claimed, PipelineOutcome):
            return claimed
        trigger, ctx = claimed
        try:
            return await self._produce(trigger, ctx, now)
        except Exception as exc:
            log.exception("trigger %s failed", trigger_id, extra={"trace_id": trigger.trace_id})
            return await self._fail(trigger_id, now, exc)

    async def _claim(
        self, trigger_id: str, now: datetime
    ) -> tuple[Trigger, pm.PlanningContext] | PipelineOutcome:
        """Lock the trigger, read its context and mark it processing, in one short transaction."""
        async with self._store.uow() as uow:
            trigger = await uow.triggers.get_for_update(trigger_id)
            if trigger is None:
                raise ServiceError(ErrorCode.NOT_FOUND, f"no trigger {trigger_id}")
            stale = (
                trigger.status == TriggerStatus.PROCESSING and trigger.updated_at <= now - STALE_PROCESSING
            )
            if trigger.status != TriggerStatus.PENDING and not stale:
                return await _current(uow, trigger)
            if trigger.mocked_now is None and now - trigger.effective_now > LATE_START:
                # Run late (recovered after a crash, or queued behind a backlog): plan for the present, not
                # for when the trigger was created, or every option could already lie in the past.
                trigger.effective_now = now
            try:
                ctx = await self._context(uow, trigger)
            except (ServiceError, ValueError, LookupError) as exc:
                # Bad data (an unknown time zone, a malformed stored value): the trigger fails for good.
                log.exception("trigger %s failed", trigger_id, extra={"trace_id": trigger.trace_id})
                return await _failed(uow, trigger, now, exc)
            uow.triggers.transition(trigger, TriggerStatus.PROCESSING, now)
            await uow.commit()
            return trigger, ctx

    async def _context(self, uow: UnitOfWork, trigger: Trigger) -> pm.PlanningContext:
        user = await uow.users.get(trigger.user_id)
        if user is None:  # pragma: no cover - the foreign key cascades
            raise ServiceError(ErrorCode.USER_NOT_FOUND, f"no user {trigger.user_id}")
        return await context_for_trigger(uow, user, trigger, self._grid)

    async def _produce(self, trigger: Trigger, ctx: pm.PlanningContext, now: datetime) -> PipelineOutcome:
        # Plan and choose outside any transaction: the chooser may take seconds (an LLM call).
        result = plan(ctx)
        decision = result.observation.decision
        if decision == pm.Decision.CLOSE:
            async with self._store.uow() as uow:
                row = await self._owned(uow, trigger.id)
                uow.triggers.transition(row, TriggerStatus.CLOSED, now)
                await uow.commit()
            log.info("trigger %s closed: nothing to do", trigger.id)
            return PipelineOutcome(trigger.id, TriggerStatus.CLOSED, None, decision.value)
        request = build_request(trigger.type, result, ctx, trigger.user_text or "")
        choice = checked(request, await self._chooser.choose(request))
        preview = self._preview(trigger, ctx, result, choice, now)
        async with self._store.uow() as uow:
            row = await self._owned(uow, trigger.id)
            uow.triggers.transition(row, TriggerStatus.PREVIEW_GENERATED, now)
            uow.previews.add(preview)
            uow.outbox.put(READY_TOPIC, {"preview_id": preview.id}, now)
            await uow.commit()
        log.info("trigger %s -> preview %s (%s, %s)", trigger.id, preview.id, decision.value, choice.source)
        return PipelineOutcome(trigger.id, TriggerStatus.PREVIEW_GENERATED, preview.id, decision.value)

    @staticmethod
    async def _owned(uow: UnitOfWork, trigger_id: str) -> Trigger:
        row = await uow.triggers.get_for_update(trigger_id)
        if row is None or row.status != TriggerStatus.PROCESSING:
            raise ServiceError(ErrorCode.INVALID_STATE, f"trigger {trigger_id} is no longer processing")
        return row

    def _preview(
        self,
        trigger: Trigger,
        ctx: pm.PlanningContext,
        result: pm.PlanResult,
        choice: Choice,
        now: datetime,
    ) -> Preview:
        chosen = next(c for c in result.candidates if c.id == choice.selected_candidate_id)
        texts = candidate_texts(chosen, ctx)
        task_id = trigger.task_id
        if task_id is None and ctx.target.block_id is not None:
            task_id = next((b.task_id for b in ctx.blocks if b.id == ctx.target.block_id), None)
        llm = choice.source == ChoiceSource.LLM
        return Preview(
            trigger_id=trigger.id,
            user_id=trigger.user_id,
            task_id=task_id,
            status=PreviewStatus.READY,
            decision=result.observation.decision.value,
            candidates=encode_candidates(result, ctx),
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
            base_version=base_version(ctx),
            expires_at=now + self._ttl,
            created_at=now,
            updated_at=now,
        )

    async def _fail(self, trigger_id: str, now: datetime, exc: Exception) -> PipelineOutcome:
        async with self._store.uow() as uow:
            trigger = await uow.triggers.get_for_update(trigger_id)
            if trigger is None:
                raise ServiceError(ErrorCode.NOT_FOUND, f"no trigger {trigger_id}") from exc
            # Another run may have finished it meanwhile (a stale takeover): its outcome stands.
            if trigger.status != TriggerStatus.PROCESSING:
                return await _current(uow, trigger)
            return await _failed(uow, trigger, now, exc)

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
                    # SPEC 1: only a block that has begun can be left unfinished.
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
    """The task named by key (or by id); ServiceError TASK_NOT_FOUND when it names nothing of the user's."""
    if task_key is None:
        return None
    task = await uow.tasks.get_by_key(user.id, task_key)
    if task is None:
        by_id = await uow.tasks.get(task_key)
        task = by_id if by_id is not None and by_id.user_id == user.id else None
    if task is None:
        raise ServiceError(ErrorCode.TASK_NOT_FOUND, f"user {user.open_id} has no task {task_key!r}")
    return task.id


async def _current(uow: UnitOfWork, trigger: Trigger) -> PipelineOutcome:
    preview = await uow.previews.get_by_trigger(trigger.id)
    return PipelineOutcome(
        trigger.id,
        trigger.status,
        preview.id if preview else None,
        preview.decision if preview else None,
        error_code=trigger.error_code,
    )


async def _failed(uow: UnitOfWork, trigger: Trigger, now: datetime, exc: Exception) -> PipelineOutcome:
    """Mark the trigger failed with the error, and commit (nothing else is in this unit)."""
    code = exc.code if isinstance(exc, ServiceError) else ErrorCode.PIPELINE_FAILED
    detail = f"{type(exc).__name__}: {exc}"[:DETAIL_CHARS]
    uow.triggers.transition(trigger, TriggerStatus.FAILED, now, error_code=code, error_detail=detail)
    if trigger.type == TriggerType.WORKER_DUE_JOB and trigger.task_id is not None:
        await jobs.retry_after_failure(uow, trigger.task_id, trigger.id, now, detail)
    await uow.commit()
    return PipelineOutcome(trigger.id, TriggerStatus.FAILED, None, None, error_code=code)
