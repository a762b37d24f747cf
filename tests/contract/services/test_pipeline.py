"""The pipeline: trigger -> preview + outbox row in one transaction; close; failures; the LLM path; views."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from llm.api import Choice, ChoiceRequest, FallbackChooser
from scheduler.planning import base_version, plan
from scheduler.planning import model as pm
from scheduler.services.codec import decode_candidate
from scheduler.services.context import context_for_trigger
from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.jobs import process_due_jobs, sync_job
from scheduler.services.pipeline import READY_TOPIC, Pipeline
from scheduler.services.views import preview_view
from store import Store
from store.enums import ApplyStatus, PreviewStatus, TriggerStatus, TriggerType
from store.models import ChangeSet, Job, OutboxMessage, Preview, Trigger
from tests.contract.services.builders import Seeded, at, rows, seed, snapshot

TTL = 45


class PickingChooser:
    """An LLM stand-in behind the Chooser protocol: picks the candidate at `index` (or a given id)."""

    def __init__(self, index: int = -1, candidate_id: str | None = None) -> None:
        self.index = index
        self.candidate_id = candidate_id
        self.requests: list[ChoiceRequest] = []

    async def choose(self, request: ChoiceRequest) -> Choice:
        self.requests.append(request)
        picked = self.candidate_id or request.candidates[self.index].id
        return Choice(
            selected_candidate_id=picked,
            explanation="model explanation",
            notification_summary="model summary",
            ask_user_question="",
            source="llm",
            model="test-model",
            latency_ms=321,
            prompt_tokens=1000,
            completion_tokens=80,
        )


class BrokenChooser:
    """A chooser that breaks its own contract ("never raises"): the pipeline must survive it."""

    async def choose(self, request: ChoiceRequest) -> Choice:
        raise RuntimeError("provider exploded")


async def urgent(store: Store, now: datetime, **user_kw: Any) -> Seeded:
    """09:00: a 90-minute task due 20:00, a class 10:00-12:00."""
    return await seed(
        store,
        now,
        tasks={"report": {"quadrant": 1, "estimate_minutes": 90, "deadline": at(20), "title": "实验报告"}},
        fixed=[(at(10), at(12))],
        **user_kw,
    )


async def due_trigger(store: Store, seeded: Seeded, now: datetime, task: str = "report") -> str:
    """The real way in: the task's threshold passed, its job synced, the due scan fires it."""
    async with store.uow() as uow:
        row = await uow.tasks.get(seeded.tasks[task])
        assert row is not None
        row.urgency_threshold_at = now - timedelta(minutes=1)
        await sync_job(uow, row, now)
        await uow.commit()
    (trigger_id,) = await process_due_jobs(store, now=now, worker_id="w", lease_seconds=60)
    return trigger_id


def pipeline(store: Store, chooser: Any = None) -> Pipeline:
    return Pipeline(store, chooser or FallbackChooser(), preview_ttl_minutes=TTL)


async def test_due_job_produces_a_preview_and_one_outbox_row(store: Store, now: datetime) -> None:
    seeded = await urgent(store, now)
    trigger_id = await due_trigger(store, seeded, now)
    out = await pipeline(store).run(trigger_id, now)
    assert (out.status, out.decision) == (TriggerStatus.PREVIEW_GENERATED, "propose")
    (preview,) = await rows(store, Preview)
    assert out.preview_id == preview.id
    (outbox,) = await rows(store, OutboxMessage)
    assert (outbox.topic, outbox.payload) == (READY_TOPIC, {"preview_id": preview.id})
    (trigger,) = await rows(store, Trigger)
    assert trigger.status == TriggerStatus.PREVIEW_GENERATED

    # The stored candidates are exactly what the engine plans for this trigger, in its order.
    async with store.uow(readonly=True) as uow:
        user = await uow.users.get(seeded.user_id)
        assert user is not None
        ctx = await context_for_trigger(uow, user, trigger)
    expected = plan(ctx).candidates
    assert [decode_candidate(c) for c in preview.candidates] == list(expected)
    assert preview.base_version == base_version(ctx)
    assert preview.chosen_candidate_id == expected[0].id  # the deterministic fallback
    assert (preview.choice_source, preview.fallback_reason) == ("fallback", "not_configured")
    assert preview.status == PreviewStatus.READY
    assert preview.apply_status == ApplyStatus.NONE
    assert preview.expires_at == now + timedelta(minutes=TTL)
    assert preview.task_id == seeded.tasks["report"]
    assert preview.metrics["effective_quadrant"] == 1
    assert [i["code"] for i in preview.issues] == [i.code for i in plan(ctx).observation.issues]
    # Texts in the user's locale, beside every candidate; the chosen one's before/after on the preview.
    first = preview.candidates[0]["texts"]
    assert first["summary"].startswith("加入 实验报告 12:00")
    assert (preview.before_summary, preview.after_summary) == (first["before"], first["after"])
    assert "12:00" in preview.explanation
    assert all(set(c["texts"]) == {"summary", "before", "after", "label"} for c in preview.candidates)


async def test_a_trigger_run_late_plans_for_the_present(store: Store, now: datetime) -> None:
    # the worker that created it died; lease recovery runs it four hours later
    seeded = await urgent(store, now)
    trigger_id = await due_trigger(store, seeded, now)
    late = now + timedelta(hours=4)
    out = await pipeline(store).run(trigger_id, late)
    assert out.status == TriggerStatus.PREVIEW_GENERATED
    (preview,) = await rows(store, Preview)
    starts = [decode_candidate(c).changes[0].start for c in preview.candidates]
    assert starts
    assert all(start is not None and start >= late for start in starts)
    (trigger,) = await rows(store, Trigger)
    assert trigger.effective_now == late


async def test_english_user_gets_english_texts(store: Store, now: datetime) -> None:
    seeded = await urgent(store, now, locale="en")
    out = await pipeline(store).run(await due_trigger(store, seeded, now), now)
    assert out.preview_id is not None
    async with store.uow(readonly=True) as uow:
        view = await preview_view(uow, out.preview_id)
    assert view.locale == "en"
    assert view.options[0].summary.startswith("Add 实验报告 12:00")
    assert view.notification_summary.startswith("Suggested schedule change")


async def test_running_a_trigger_again_makes_no_second_preview(store: Store, now: datetime) -> None:
    seeded = await urgent(store, now)
    trigger_id = await due_trigger(store, seeded, now)
    first = await pipeline(store).run(trigger_id, now)
    again = await pipeline(store).run(trigger_id, now + timedelta(seconds=5))
    assert again == first
    assert len(await rows(store, Preview)) == 1
    assert len(await rows(store, OutboxMessage)) == 1


async def test_concurrent_runs_of_one_trigger_make_one_preview(db_url: str, now: datetime) -> None:
    stores = [Store(db_url) for _ in range(4)]
    try:
        seeded = await urgent(stores[0], now)
        trigger_id = await due_trigger(stores[0], seeded, now)
        outcomes = await asyncio.gather(*(pipeline(s).run(trigger_id, now) for s in stores))
        made = [o for o in outcomes if o.preview_id is not None]
        assert len(await rows(stores[0], Preview)) == 1
        assert len(await rows(stores[0], OutboxMessage)) == 1
        assert {o.preview_id for o in made} <= {(await rows(stores[0], Preview))[0].id}
        assert {o.status for o in outcomes} <= {TriggerStatus.PROCESSING, TriggerStatus.PREVIEW_GENERATED}
    finally:
        for s in stores:
            await s.dispose()


async def test_close_decision_closes_the_trigger_without_preview(store: Store, now: datetime) -> None:
    seeded = await urgent(store, now)
    trigger_id = await due_trigger(store, seeded, now)
    async with store.uow() as uow:  # done between the scan and the run
        task = await uow.tasks.get(seeded.tasks["report"])
        assert task is not None
        task.status = "done"
        await uow.commit()
    out = await pipeline(store).run(trigger_id, now)
    assert (out.status, out.preview_id, out.decision) == (TriggerStatus.CLOSED, None, "close")
    assert await rows(store, Preview) == []
    assert await rows(store, OutboxMessage) == []
    (trigger,) = await rows(store, Trigger)
    assert (trigger.status, trigger.dedupe_key) == (TriggerStatus.CLOSED, None)


async def test_nothing_feasible_is_a_notify_only_preview(store: Store, now: datetime) -> None:
    seeded = await seed(
        store,
        now,
        tasks={"report": {"quadrant": 1, "estimate_minutes": 120, "deadline": at(12)}},
        fixed=[(at(8), now + timedelta(hours=25))],  # busy for the whole window
    )
    out = await pipeline(store).run(await due_trigger(store, seeded, now), now)
    assert out.decision == "notify_only"
    (preview,) = await rows(store, Preview)
    assert [c["type"] for c in preview.candidates] == ["notify_only"]
    assert preview.explanation
    assert len(await rows(store, OutboxMessage)) == 1


async def test_unfinished_feedback_proposes_a_makeup(store: Store, now: datetime) -> None:
    seeded = await seed(
        store,
        now,
        tasks={"report": {"quadrant": 1, "estimate_minutes": 120, "deadline": at(22)}},
        blocks={"A": ("report", at(8), at(9))},
    )
    out = await pipeline(store).trigger_and_run(
        user_open_id=seeded.open_id,
        type=TriggerType.USER_FEEDBACK,
        now=now,
        block_id=seeded.blocks["A"],
        remaining_minutes=30,
        source_message_id="om_1",
        user_text="没做完，还差半小时",
    )
    assert out.decision == "propose"
    (preview,) = await rows(store, Preview)
    assert preview.task_id == seeded.tasks["report"]
    stored = [decode_candidate(c) for c in preview.candidates]
    adds = [ch for c in stored for ch in c.changes if ch.kind == pm.ChangeKind.ADD_BLOCK]
    assert adds
    assert all(ch.makeup_for == seeded.blocks["A"] for ch in adds)
    assert all(ch.end - ch.start == timedelta(minutes=30) for ch in adds if ch.start and ch.end)
    # The redelivered message runs nothing new.
    again = await pipeline(store).trigger_and_run(
        user_open_id=seeded.open_id,
        type=TriggerType.USER_FEEDBACK,
        now=now,
        block_id=seeded.blocks["A"],
        remaining_minutes=30,
        source_message_id="om_1",
    )
    assert (again.hit, again.preview_id) == ("message", out.preview_id)
    assert len(await rows(store, Preview)) == 1


async def test_ambiguous_feedback_asks_which_block(store: Store, now: datetime) -> None:
    seeded = await seed(
        store,
        now,
        tasks={"report": {"quadrant": 1, "title": "实验报告"}, "read": {"quadrant": 2, "title": "阅读"}},
        blocks={"A": ("report", at(7, 50), at(8, 30)), "B": ("read", at(8, 30), at(8, 50))},
    )
    out = await pipeline(store).trigger_and_run(
        user_open_id=seeded.open_id, type=TriggerType.USER_FEEDBACK, now=now, source_message_id="om_2"
    )
    assert out.decision == "ask_user"
    assert out.preview_id is not None
    async with store.uow(readonly=True) as uow:
        view = await preview_view(uow, out.preview_id)
    assert {c.block_id for c in view.choices} == {seeded.blocks["A"], seeded.blocks["B"]}
    labels = {c.block_id: c.label for c in view.choices}
    assert labels[seeded.blocks["A"]] == "实验报告 07:50–08:30"
    assert view.question.startswith("哪一段没做完")


async def test_feedback_naming_several_tasks_asks_among_their_blocks(store: Store, now: datetime) -> None:
    # "报告没做完" when two tasks are reports: the bot passes both tasks' latest blocks as choices, even
    # though a third block ended more recently
    seeded = await seed(
        store,
        now,
        tasks={
            "lab": {"quadrant": 1, "title": "实验报告"},
            "weekly": {"quadrant": 2, "title": "周报告"},
            "read": {"quadrant": 2, "title": "阅读"},
        },
        blocks={
            "A": ("lab", at(6, 0), at(6, 30)),
            "B": ("weekly", at(7, 0), at(7, 30)),
            "C": ("read", at(8, 30), at(8, 50)),
        },
    )
    out = await pipeline(store).trigger_and_run(
        user_open_id=seeded.open_id,
        type=TriggerType.USER_FEEDBACK,
        now=now,
        source_message_id="om_3",
        choices=(seeded.blocks["A"], seeded.blocks["B"]),
    )
    assert out.decision == "ask_user"
    assert out.preview_id is not None
    async with store.uow(readonly=True) as uow:
        view = await preview_view(uow, out.preview_id)
    assert [c.block_id for c in view.choices] == [seeded.blocks["A"], seeded.blocks["B"]]


async def test_admin_trigger_plans_at_the_mocked_now(store: Store, now: datetime) -> None:
    seeded = await urgent(store, now)
    out = await pipeline(store).trigger_and_run(
        user_open_id=seeded.open_id,
        type=TriggerType.ADMIN_TRIGGER,
        now=now,
        task_id=seeded.tasks["report"],
        mocked_now=at(14, 10),
    )
    (preview,) = await rows(store, Preview)
    (trigger,) = await rows(store, Trigger)
    assert trigger.mocked_now == at(14, 10)
    starts = [decode_candidate(c).changes[0].start for c in preview.candidates]
    assert min(s for s in starts if s) >= at(14, 10)  # planned from the mocked 14:10 (a start), not 09:00
    assert preview.expires_at == now + timedelta(minutes=TTL)  # the card lives in real time
    repeat = await pipeline(store).trigger_and_run(
        user_open_id=seeded.open_id,
        type=TriggerType.ADMIN_TRIGGER,
        now=now,
        task_id=seeded.tasks["report"],
        mocked_now=at(14, 20),
    )
    assert (repeat.hit, repeat.preview_id) == ("dedupe", out.preview_id)


async def test_the_llm_choice_and_its_bookkeeping_are_recorded(store: Store, now: datetime) -> None:
    seeded = await urgent(store, now)
    chooser = PickingChooser(index=-1)
    out = await pipeline(store, chooser).run(await due_trigger(store, seeded, now), now)
    (request,) = chooser.requests
    assert request.locale == "zh"
    assert request.target_title == "实验报告"
    assert request.decision == "propose"
    assert all(c.grounding for c in request.candidates)
    (preview,) = await rows(store, Preview)
    assert preview.chosen_candidate_id == request.candidates[-1].id != request.fallback_candidate_id
    assert (preview.choice_source, preview.llm_model, preview.llm_latency_ms) == ("llm", "test-model", 321)
    assert (preview.prompt_tokens, preview.completion_tokens) == (1000, 80)
    assert (preview.explanation, preview.notification_summary) == ("model explanation", "model summary")
    chosen_texts = preview.candidates[-1]["texts"]
    assert preview.after_summary == chosen_texts["after"]
    assert out.preview_id is not None
    async with store.uow(readonly=True) as uow:
        view = await preview_view(uow, out.preview_id)
    assert view.options[0].candidate_id == preview.chosen_candidate_id
    assert [o.recommended for o in view.options] == [True, False, False]


@pytest.mark.parametrize("bad_id", ["c_not_a_candidate", ""])
async def test_a_choice_outside_the_candidates_falls_back(store: Store, now: datetime, bad_id: str) -> None:
    seeded = await urgent(store, now)
    out = await pipeline(store, PickingChooser(candidate_id=bad_id or " ")).run(
        await due_trigger(store, seeded, now), now
    )
    assert out.status == TriggerStatus.PREVIEW_GENERATED
    (preview,) = await rows(store, Preview)
    assert preview.chosen_candidate_id == preview.candidates[0]["id"]
    assert (preview.choice_source, preview.fallback_reason) == ("fallback", "invalid_choice")
    assert preview.llm_model == "test-model"
    assert preview.explanation != "model explanation"


async def _failed_run(store: Store, trigger_id: str, now: datetime, chooser: Any) -> None:
    before = await snapshot(store)
    out = await pipeline(store, chooser).run(trigger_id, now)
    assert (out.status, out.preview_id, out.error_code) == (
        TriggerStatus.FAILED,
        None,
        ErrorCode.PIPELINE_FAILED,
    )
    after = await snapshot(store)
    # Only the trigger and its job changed: no preview, no outbox row, nothing else.
    assert {t for t in after if after[t] != before[t]} == {"triggers", "jobs"}
    assert await rows(store, Preview) == []
    assert await rows(store, OutboxMessage) == []
    (trigger,) = await rows(store, Trigger, id=trigger_id)
    assert (trigger.status, trigger.error_code) == (TriggerStatus.FAILED, "pipeline_failed")
    assert trigger.dedupe_key is None  # released: the job's next run may take it
    # the warning is not lost to the failure: the job fires again after a pause
    (job,) = await rows(store, Job)
    assert (job.status, job.attempts, job.trigger_id) == ("pending", 1, None)
    assert job.trigger_at == now + timedelta(minutes=5)


async def test_a_chooser_that_raises_fails_the_trigger_and_writes_nothing_else(
    store: Store, now: datetime
) -> None:
    seeded = await urgent(store, now)
    trigger_id = await due_trigger(store, seeded, now)
    await _failed_run(store, trigger_id, now, BrokenChooser())
    (trigger,) = await rows(store, Trigger)
    assert trigger.error_detail == "RuntimeError: provider exploded"


async def test_a_job_whose_runs_keep_failing_is_parked_as_failed(store: Store, now: datetime) -> None:
    seeded = await urgent(store, now)
    at_ = now
    trigger_id = await due_trigger(store, seeded, now)
    for attempt in range(1, 4):
        if attempt > 1:
            (trigger_id,) = await process_due_jobs(store, now=at_, worker_id="w", lease_seconds=60)
        out = await pipeline(store, BrokenChooser()).run(trigger_id, at_)
        assert out.status == TriggerStatus.FAILED
        (job,) = await rows(store, Job)
        if attempt < 3:
            assert (job.status, job.attempts) == ("pending", attempt)
            at_ = job.trigger_at
        else:
            assert (job.status, job.attempts) == ("failed", 3)
    assert await process_due_jobs(store, now=at_ + timedelta(hours=1), worker_id="w", lease_seconds=60) == []


async def test_a_broken_user_row_fails_the_trigger(store: Store, now: datetime) -> None:
    seeded = await urgent(store, now, timezone="Mars/Olympus_Mons")
    trigger_id = await due_trigger(store, seeded, now)
    await _failed_run(store, trigger_id, now, FallbackChooser())
    (trigger,) = await rows(store, Trigger)
    assert "Mars/Olympus_Mons" in (trigger.error_detail or "")


async def test_unknown_trigger_and_user_are_refused(store: Store, now: datetime) -> None:
    with pytest.raises(ServiceError) as info:
        await pipeline(store).run("0" * 32, now)
    assert info.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(ServiceError) as info:
        await pipeline(store).trigger_and_run(
            user_open_id="ou_nobody", type=TriggerType.ADMIN_TRIGGER, now=now
        )
    assert info.value.code == ErrorCode.USER_NOT_FOUND


async def test_view_of_an_applied_preview_lists_the_change_and_the_undo_deadline(
    store: Store, now: datetime
) -> None:
    seeded = await urgent(store, now)
    out = await pipeline(store).run(await due_trigger(store, seeded, now), now)
    assert out.preview_id is not None
    async with store.uow() as uow:  # the apply record, as an apply writes it
        preview = await uow.previews.get(out.preview_id)
        assert preview is not None
        second = preview.candidates[1]["id"]
        preview.status = PreviewStatus.APPLIED
        preview.apply_status = ApplyStatus.APPLIED
        preview.apply_candidate_id = second
        preview.applied_at = now + timedelta(minutes=2)
        preview.card_message_id = "om_card"
        uow.change_sets.add(
            ChangeSet(
                preview_id=preview.id,
                user_id=preview.user_id,
                candidate_id=second,
                changes=[],
                applied_at=now + timedelta(minutes=2),
                created_at=now + timedelta(minutes=2),
            )
        )
        await uow.commit()
    async with store.uow(readonly=True) as uow:
        view = await preview_view(uow, out.preview_id)
    assert (view.status, view.apply_status, view.applied_candidate_id) == ("applied", "applied", second)
    assert view.change_lines == (view.options[1].summary,)
    assert view.undo_until == now + timedelta(minutes=2, hours=24)
    assert (view.card_message_id, view.error_code, view.task_title) == ("om_card", None, "实验报告")
    assert view.user_open_id == seeded.open_id


async def test_view_reports_the_last_refusal_code(store: Store, now: datetime) -> None:
    seeded = await urgent(store, now)
    out = await pipeline(store).run(await due_trigger(store, seeded, now), now)
    assert out.preview_id is not None
    async with store.uow() as uow:
        preview = await uow.previews.get(out.preview_id)
        assert preview is not None
        preview.apply_status = ApplyStatus.REJECTED
        preview.apply_error = ErrorCode.BASE_VERSION_CHANGED.value
        await uow.commit()
    async with store.uow(readonly=True) as uow:
        view = await preview_view(uow, out.preview_id)
        with pytest.raises(ServiceError):
            await preview_view(uow, "missing")
    assert view.error_code == "base_version_changed"
    assert view.status == "ready"


async def test_a_trigger_left_processing_by_a_killed_process_is_taken_over_within_minutes(
    store: Store, now: datetime
) -> None:
    """A report the API process was planning when it was killed: another run takes it over after two
    minutes (not ten), and not while the first run may still be working."""
    seeded = await urgent(store, now)
    trigger_id = await due_trigger(store, seeded, now)
    async with store.uow() as uow:  # the killed run had claimed it
        trigger = await uow.triggers.get_for_update(trigger_id)
        assert trigger is not None
        uow.triggers.transition(trigger, TriggerStatus.PROCESSING, now)
        await uow.commit()

    soon = await pipeline(store).run(trigger_id, now + timedelta(seconds=30))
    later = await pipeline(store).run(trigger_id, now + timedelta(minutes=2, seconds=1))

    assert soon.status == TriggerStatus.PROCESSING
    assert later.status == TriggerStatus.PREVIEW_GENERATED
