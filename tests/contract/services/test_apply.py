"""Apply (SPEC 3.6) on SQLite and MariaDB: writes, idempotency, every refusal, and all-or-nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from llm.api import FallbackChooser
from scheduler.planning import model as pm
from scheduler.services.actions import apply, ignore
from scheduler.services.changeset import Refused, ensure_free, fixed_events_of
from scheduler.services.errors import ErrorCode
from scheduler.services.pipeline import Pipeline
from store import Store
from store.enums import ApplyStatus, PreviewStatus, TaskStatus, TriggerType
from store.models import Block, ChangeSet, DayExtension, OutboxMessage, Preview
from tests.contract.services.builders import (
    add_block,
    at,
    extend_scenario,
    place_scenario,
    push_scenario,
    rows,
    seed,
    snapshot,
)


def pm_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _apply(store: Store, seeded, ready, candidate, key: str, now, **kw):
    return await apply(
        store,
        preview_id=ready.preview_id,
        candidate_id=candidate.id,
        operator_open_id=kw.pop("operator", seeded.open_id),
        idempotency_key=key,
        now=now,
        **kw,
    )


async def _preview(store: Store, preview_id: str) -> Preview:
    (p,) = await rows(store, Preview, id=preview_id)
    return p


# --------------------------------------------------------------------------- writes


async def test_apply_place_task_writes_block_change_set_record_and_outbox(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    option = ready.candidates[1]  # not the recommended one: any option can be applied
    click = now + timedelta(minutes=5)

    out = await _apply(store, seeded, ready, option, "click-1", click)

    assert (out.status, out.code, out.replayed) == ("applied", None, False)
    added = [b for b in await rows(store, Block, user_id=seeded.user_id) if b.source == "assistant"]
    (change,) = option.changes
    assert [(b.start, b.end, b.task_id) for b in added] == [
        (change.start, change.end, seeded.tasks["report"])
    ]
    (cs,) = await rows(store, ChangeSet)
    assert (cs.id, cs.candidate_id, cs.applied_at) == (out.change_set_id, option.id, click)
    assert cs.changes["items"] == [
        {
            "kind": "add_block",
            "block_id": added[0].id,
            "before": None,
            "after": cs.changes["items"][0]["after"],
        }
    ]
    assert cs.changes["items"][0]["after"]["version"] == 1
    p = await _preview(store, ready.preview_id)
    assert (p.status, p.apply_status, p.apply_candidate_id, p.change_set_id) == (
        PreviewStatus.APPLIED,
        ApplyStatus.APPLIED,
        option.id,
        cs.id,
    )
    assert (p.applied_at, p.apply_result["state"], p.apply_error) == (click, "applied", None)
    outbox = await rows(store, OutboxMessage, topic="preview.updated")
    assert [o.payload for o in outbox] == [{"preview_id": ready.preview_id, "state": "applied"}]


async def test_push_successors_moves_blocks_and_records_before_after(store: Store) -> None:
    now = at(10)
    seeded, ready = await push_scenario(store, now)
    option = ready.of_type(pm.CandidateType.PUSH_SUCCESSORS)

    out = await _apply(store, seeded, ready, option, "k", now)

    assert out.status == "applied"
    blocks = {b.id: b for b in await rows(store, Block, user_id=seeded.user_id)}
    moves = [c for c in option.changes if c.kind == pm.ChangeKind.MOVE_BLOCK]
    assert {c.block_id for c in moves} == {seeded.blocks["B"], seeded.blocks["C"]}
    for c in moves:
        assert (blocks[c.block_id].start, blocks[c.block_id].end, blocks[c.block_id].version) == (
            c.start,
            c.end,
            2,
        )
    (cs,) = await rows(store, ChangeSet)
    moved = {i["block_id"]: i for i in cs.changes["items"] if i["kind"] == "move_block"}
    b_item = moved[seeded.blocks["B"]]
    assert (b_item["before"]["version"], b_item["after"]["version"]) == (1, 2)
    assert pm_dt(b_item["before"]["start"]) == at(10, 15)
    assert pm_dt(b_item["after"]["start"]) == blocks[seeded.blocks["B"]].start
    assert len(blocks) == 4  # A, B, C and the make-up


async def test_extend_day_writes_a_day_extension(store: Store) -> None:
    now = at(20)
    seeded, ready = await extend_scenario(store, now)
    option = ready.of_type(pm.CandidateType.EXTEND_DAY)

    out = await _apply(store, seeded, ready, option, "k", now)

    assert out.status == "applied"
    (ext,) = await rows(store, DayExtension, user_id=seeded.user_id)
    assert (ext.day.isoformat(), ext.day_end) == ("2026-11-30", "22:45")
    makeup = [b for b in await rows(store, Block, user_id=seeded.user_id) if b.makeup_for]
    assert [(b.start, b.end, b.makeup_for) for b in makeup] == [(at(22), at(22, 45), seeded.blocks["A"])]


async def test_preview_made_by_the_pipeline_applies(store: Store) -> None:
    # The real pipeline and apply compute base_version independently; they must agree.
    now = at(9)
    seeded = await seed(
        store,
        now,
        tasks={"report": {"quadrant": 1, "estimate_minutes": 90, "deadline": at(20)}},
        fixed=[(at(10), at(12))],
    )
    pipeline = Pipeline(store, FallbackChooser())
    result = await pipeline.trigger_and_run(
        user_open_id=seeded.open_id, type=TriggerType.ADMIN_TRIGGER, now=now, task_id=seeded.tasks["report"]
    )
    assert result.preview_id is not None
    p = await _preview(store, result.preview_id)

    out = await apply(
        store,
        preview_id=p.id,
        candidate_id=p.chosen_candidate_id,
        operator_open_id=seeded.open_id,
        idempotency_key="k",
        now=now + timedelta(minutes=1),
    )

    assert (out.status, out.code) == ("applied", None)


# --------------------------------------------------------------------------- idempotency


async def test_same_key_same_body_returns_the_stored_result(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    first = await _apply(store, seeded, ready, ready.candidates[0], "key-1", now)
    before = await snapshot(store)

    again = await _apply(store, seeded, ready, ready.candidates[0], "key-1", now + timedelta(minutes=1))

    assert (again.status, again.replayed, again.change_set_id) == ("applied", True, first.change_set_id)
    assert await snapshot(store) == before


async def test_same_key_other_body_is_an_idempotency_conflict(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    await _apply(store, seeded, ready, ready.candidates[0], "key-1", now)
    before = await snapshot(store)

    other = await _apply(store, seeded, ready, ready.candidates[1], "key-1", now)

    assert (other.status, other.code) == ("rejected", ErrorCode.IDEMPOTENCY_CONFLICT)
    assert await snapshot(store) == before


async def test_key_already_used_on_another_preview_is_an_idempotency_conflict(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    seeded2, ready2 = await place_scenario(store, now)
    await _apply(store, seeded, ready, ready.candidates[0], "shared", now)
    before = await snapshot(store)

    other = await _apply(store, seeded2, ready2, ready2.candidates[0], "shared", now)

    assert (other.status, other.code) == ("rejected", ErrorCode.IDEMPOTENCY_CONFLICT)
    assert await snapshot(store) == before


async def test_new_key_after_apply_is_already_applied(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    first = await _apply(store, seeded, ready, ready.candidates[0], "key-1", now)
    before = await snapshot(store)

    for option in ready.candidates:
        out = await _apply(store, seeded, ready, option, f"key-{option.id}", now)
        assert (out.status, out.code, out.change_set_id) == (
            "already_applied",
            ErrorCode.ALREADY_APPLIED,
            first.change_set_id,
        )
    assert await snapshot(store) == before


# --------------------------------------------------------------------------- refusals


async def test_block_added_after_the_preview_is_base_version_changed(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    # Somewhere else in the window (not where any option goes): the preview's facts are stale all the same.
    intruder = await add_block(store, seeded, "report", at(18), at(18, 30), now)
    before = await snapshot(store, ignore_preview_error=True)

    out = await _apply(store, seeded, ready, ready.candidates[0], "k", now)

    assert (out.status, out.code) == ("rejected", ErrorCode.BASE_VERSION_CHANGED)
    assert await snapshot(store, ignore_preview_error=True) == before
    p = await _preview(store, ready.preview_id)
    assert (p.status, p.apply_status, p.apply_error) == ("ready", "rejected", "base_version_changed")

    # The preview stays ready: once the schedule is what it was, the same click goes through.
    async with store.uow() as uow:
        row = await uow.blocks.get(intruder)
        assert row is not None
        await uow.blocks.delete(row)
        await uow.commit()
    again = await _apply(store, seeded, ready, ready.candidates[0], "k", now)
    assert again.status == "applied"
    assert (await _preview(store, ready.preview_id)).apply_error is None


async def test_target_done_is_target_completed(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    async with store.uow() as uow:
        task = await uow.tasks.get(seeded.tasks["report"])
        assert task is not None
        task.status = TaskStatus.DONE
        await uow.commit()
    before = await snapshot(store, ignore_preview_error=True)

    out = await _apply(store, seeded, ready, ready.candidates[0], "k", now)

    assert (out.status, out.code) == ("rejected", ErrorCode.TARGET_COMPLETED)
    assert await snapshot(store, ignore_preview_error=True) == before
    assert (await _preview(store, ready.preview_id)).apply_error == "target_completed"


async def test_a_late_click_on_an_option_whose_time_has_begun_writes_nothing(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)  # options at 12:00, 13:30, 15:00
    first = min(ready.candidates, key=lambda c: c.changes[0].start or now)
    start = first.changes[0].start
    assert start is not None
    # the first option starts at 12:00, after the preview's hour: give the preview a longer life so that a
    # click at 12:05 is refused for the option's time, not for the preview's expiry
    async with store.uow() as uow:
        p = await uow.previews.get(ready.preview_id)
        assert p is not None
        p.expires_at = at(23)
        await uow.commit()
    before = await snapshot(store, ignore_preview_error=True)
    late = await _apply(store, seeded, ready, first, "late", start + timedelta(minutes=5))

    assert (late.status, late.code) == ("rejected", ErrorCode.SLOT_PASSED)
    assert await snapshot(store, ignore_preview_error=True) == before
    # a later option of the same card still applies
    later = max(ready.candidates, key=lambda c: c.changes[0].start or now)
    out = await _apply(store, seeded, ready, later, "later", start + timedelta(minutes=5))
    assert out.status == "applied"


async def test_a_late_click_never_moves_a_block_that_has_begun(store: Store) -> None:
    now = at(10)
    seeded, ready = await push_scenario(store, now)  # moves B (10:15-11:00) and C later
    option = ready.of_type(pm.CandidateType.PUSH_SUCCESSORS)
    before = await snapshot(store, ignore_preview_error=True)

    out = await _apply(store, seeded, ready, option, "k", at(10, 40))  # B has been running for 25 minutes

    assert (out.status, out.code) == ("rejected", ErrorCode.SLOT_PASSED)
    assert await snapshot(store, ignore_preview_error=True) == before


async def test_expired_preview_is_refused(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    before = await snapshot(store, ignore_preview_error=True)

    out = await _apply(store, seeded, ready, ready.candidates[0], "k", now + timedelta(hours=1))

    assert (out.status, out.code) == ("rejected", ErrorCode.EXPIRED)
    assert await snapshot(store, ignore_preview_error=True) == before
    # A click a moment earlier was still in time.
    ok = await _apply(store, seeded, ready, ready.candidates[0], "k", now + timedelta(minutes=59))
    assert ok.status == "applied"


async def test_another_users_click_is_refused_and_writes_nothing(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    mallory, _ = await place_scenario(store, now)
    before = await snapshot(store)

    out = await _apply(store, seeded, ready, ready.candidates[0], "k", now, operator=mallory.open_id)

    assert (out.status, out.code) == ("rejected", ErrorCode.NOT_FOUND)  # scoped: not revealed
    assert await snapshot(store) == before  # not even the error column


async def test_unknown_preview_candidate_and_ignored_preview(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    before = await snapshot(store)
    missing = await apply(
        store,
        preview_id="nope",
        candidate_id="c",
        operator_open_id=seeded.open_id,
        idempotency_key="k",
        now=now,
    )
    unknown = await apply(
        store,
        preview_id=ready.preview_id,
        candidate_id="c000000000",
        operator_open_id=seeded.open_id,
        idempotency_key="k",
        now=now,
    )
    assert (missing.code, unknown.code) == (ErrorCode.NOT_FOUND, ErrorCode.CANDIDATE_NOT_FOUND)
    assert await snapshot(store) == before

    assert (
        await ignore(store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now)
    ).status == ("ignored")
    after_ignore = await snapshot(store)
    out = await _apply(store, seeded, ready, ready.candidates[0], "k", now)
    assert (out.status, out.code) == ("rejected", ErrorCode.INVALID_STATE)
    assert await snapshot(store) == after_ignore


# --------------------------------------------------------------------------- slot re-check


async def test_slot_recheck_sees_a_block_no_context_covers(store: Store) -> None:
    """The re-check reads the database directly: a block over an option's slot is a conflict, a block next
    to it is not, and the blocks being rewritten do not count."""
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    option = ready.candidates[0]
    (change,) = option.changes
    assert change.start is not None
    assert change.end is not None
    await add_block(store, seeded, "report", change.end, change.end + timedelta(minutes=30), now)
    async with store.uow(readonly=True) as uow:
        fixed = await fixed_events_of(uow, seeded.user_id)
        await ensure_free(uow, seeded.user_id, fixed, "Asia/Shanghai", [(change.start, change.end)])
    over = await add_block(store, seeded, "report", change.start + timedelta(minutes=15), change.end, now)
    async with store.uow(readonly=True) as uow:
        with pytest.raises(Refused) as refused:
            await ensure_free(uow, seeded.user_id, fixed, "Asia/Shanghai", [(change.start, change.end)])
        assert refused.value.code == ErrorCode.SLOT_CONFLICT
        await ensure_free(
            uow, seeded.user_id, fixed, "Asia/Shanghai", [(change.start, change.end)], exclude_ids=[over]
        )
        with pytest.raises(Refused):  # a class
            await ensure_free(uow, seeded.user_id, fixed, "Asia/Shanghai", [(at(11), at(11, 30))])


@pytest.mark.mysql
async def test_a_move_slipped_in_after_the_version_check_is_a_slot_conflict(
    db_url: str, store: Store
) -> None:
    """MariaDB, READ COMMITTED: another client moves a block from next week into the chosen slot after
    apply has checked base_version (which only covers the window). Such an update takes no lock apply
    holds, so only the slot re-check can see it."""
    if store.backend != "mysql":
        pytest.skip("on SQLite BEGIN IMMEDIATE keeps every other writer out of the apply transaction")
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    option = ready.candidates[0]
    (change,) = option.changes
    # Added after the preview, but three days out: outside what base_version covers.
    far = await add_block(store, seeded, "report", at(9) + timedelta(days=3), at(10) + timedelta(days=3), now)
    seeded_version = (await _preview(store, ready.preview_id)).base_version
    other = Store(db_url)
    seen: dict[str, object] = {}

    async def move_far_block_into_the_slot() -> None:
        async with other.uow() as uow:
            row = await uow.blocks.get(far)
            assert row is not None
            row.start, row.end = change.start, change.end
            row.version += 1
            await uow.commit()
        seen["before"] = await snapshot(other, ignore_preview_error=True)

    try:
        out = await _apply(
            store, seeded, ready, option, "k", now, _between_checks=move_far_block_into_the_slot
        )
        assert (out.status, out.code) == ("rejected", ErrorCode.SLOT_CONFLICT)
        assert await snapshot(store, ignore_preview_error=True) == seen["before"]
        p = await _preview(store, ready.preview_id)
        assert (p.apply_error, p.base_version) == ("slot_conflict", seeded_version)
    finally:
        await other.dispose()


# --------------------------------------------------------------------------- all or nothing


async def test_a_database_failure_mid_transaction_leaves_no_partial_write(store: Store) -> None:
    """A stray change set for the preview makes the change-set insert fail on its unique key, after the
    make-up was inserted and B and C were moved in the same transaction: all of it must roll back."""
    now = at(10)
    seeded, ready = await push_scenario(store, now)
    option = ready.of_type(pm.CandidateType.PUSH_SUCCESSORS)
    async with store.uow() as uow:
        uow.change_sets.add(
            ChangeSet(
                preview_id=ready.preview_id,
                user_id=seeded.user_id,
                candidate_id="stray",
                changes={"v": 1, "items": []},
                applied_at=now,
                created_at=now,
            )
        )
        await uow.commit()
    before = await snapshot(store, ignore_preview_error=True)

    out = await _apply(store, seeded, ready, option, "k", now)

    assert (out.status, out.code) == ("rejected", ErrorCode.INTERNAL)
    assert await snapshot(store, ignore_preview_error=True) == before
    p = await _preview(store, ready.preview_id)
    assert (p.status, p.apply_status, p.apply_error) == ("ready", "failed", "internal")
