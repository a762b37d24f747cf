"""Ignore, undo and the expiry sweep (SPEC 3.6) on SQLite and MariaDB."""

from __future__ import annotations

from datetime import timedelta

from scheduler.planning import model as pm
from scheduler.services.actions import apply, expire_due, ignore, undo
from scheduler.services.errors import ErrorCode
from store import Store
from store.models import Block, ChangeSet, DayExtension, OutboxMessage, Preview
from tests.contract.services.builders import (
    at,
    extend_scenario,
    place_scenario,
    push_scenario,
    rows,
    snapshot,
)


async def _apply_top(store: Store, seeded, ready, now, ctype: pm.CandidateType | None = None):
    option = ready.of_type(ctype) if ctype else ready.candidates[0]
    out = await apply(
        store,
        preview_id=ready.preview_id,
        candidate_id=option.id,
        operator_open_id=seeded.open_id,
        idempotency_key=f"apply-{ready.preview_id}",
        now=now,
    )
    assert out.status == "applied"
    return out


async def _schedule(store: Store, user_id: str) -> list[tuple[object, ...]]:
    """The user's schedule as a person sees it: blocks (place, task, link) and day extensions."""
    blocks = await rows(store, Block, user_id=user_id)
    exts = await rows(store, DayExtension, user_id=user_id)
    return sorted(
        [(b.id, b.task_id, b.start, b.end, b.makeup_for, b.locked) for b in blocks]
        + [(x.day, x.day_end) for x in exts],
        key=repr,
    )


async def _updates(store: Store) -> list[dict[str, str]]:
    found = await rows(store, OutboxMessage, topic="preview.updated")
    return [o.payload for o in sorted(found, key=lambda o: o.created_at)]


# --------------------------------------------------------------------------- ignore


async def test_ignore_marks_the_preview_and_queues_a_card_update(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    schedule = await _schedule(store, seeded.user_id)

    out = await ignore(store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now)
    again = await ignore(store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now)

    assert (out.status, out.replayed, again.status, again.replayed) == ("ignored", False, "ignored", True)
    (p,) = await rows(store, Preview, id=ready.preview_id)
    assert p.status == "ignored"
    assert await _updates(store) == [{"preview_id": ready.preview_id, "state": "ignored"}]
    assert await _schedule(store, seeded.user_id) == schedule


async def test_ignore_is_refused_for_others_and_after_apply(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    mallory, _ = await place_scenario(store, now)
    before = await snapshot(store)
    out = await ignore(store, preview_id=ready.preview_id, operator_open_id=mallory.open_id, now=now)
    assert (out.status, out.code) == ("rejected", ErrorCode.NOT_FOUND)  # scoped: not revealed
    assert await snapshot(store) == before

    await _apply_top(store, seeded, ready, now)
    applied = await snapshot(store)
    late = await ignore(store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now)
    assert (late.status, late.code) == ("rejected", ErrorCode.ALREADY_APPLIED)
    expired = await ignore(store, preview_id="missing", operator_open_id=seeded.open_id, now=now)
    assert expired.code == ErrorCode.NOT_FOUND
    assert await snapshot(store) == applied


# --------------------------------------------------------------------------- undo


async def test_undo_of_a_placed_block_restores_the_schedule(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    schedule = await _schedule(store, seeded.user_id)
    applied = await _apply_top(store, seeded, ready, now)
    assert await _schedule(store, seeded.user_id) != schedule

    out = await undo(
        store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now + timedelta(hours=2)
    )

    assert (out.status, out.code, out.change_set_id) == ("undone", None, applied.change_set_id)
    assert await _schedule(store, seeded.user_id) == schedule
    (cs,) = await rows(store, ChangeSet)
    assert cs.undone_at == now + timedelta(hours=2)
    (p,) = await rows(store, Preview, id=ready.preview_id)
    assert (p.status, p.apply_status, p.apply_result["state"]) == ("applied", "applied", "undone")
    assert p.apply_result["undone_at"] == (now + timedelta(hours=2)).isoformat()
    assert [u["state"] for u in await _updates(store)] == ["applied", "undone"]

    before = await snapshot(store)
    again = await undo(store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now)
    assert (again.status, again.replayed) == ("undone", True)
    reapply = await apply(
        store,
        preview_id=ready.preview_id,
        candidate_id=ready.candidates[1].id,
        operator_open_id=seeded.open_id,
        idempotency_key="after-undo",
        now=now,
    )
    assert reapply.code == ErrorCode.ALREADY_APPLIED
    assert await snapshot(store) == before


async def test_undo_restores_moved_blocks(store: Store) -> None:
    now = at(10)
    seeded, ready = await push_scenario(store, now)
    schedule = await _schedule(store, seeded.user_id)
    await _apply_top(store, seeded, ready, now, pm.CandidateType.PUSH_SUCCESSORS)

    out = await undo(store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now)

    assert out.status == "undone"
    assert await _schedule(store, seeded.user_id) == schedule
    (b,) = await rows(store, Block, id=seeded.blocks["B"])
    assert b.version == 3  # moved, moved back: versions only grow


async def test_undo_removes_the_day_extension(store: Store) -> None:
    now = at(20)
    seeded, ready = await extend_scenario(store, now)
    schedule = await _schedule(store, seeded.user_id)
    await _apply_top(store, seeded, ready, now, pm.CandidateType.EXTEND_DAY)
    assert len(await rows(store, DayExtension)) == 1

    out = await undo(store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now)

    assert out.status == "undone"
    assert await rows(store, DayExtension) == []
    assert await _schedule(store, seeded.user_id) == schedule


async def test_undo_conflict_when_an_inserted_block_was_moved_since(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    await _apply_top(store, seeded, ready, now)
    (added,) = [b for b in await rows(store, Block, user_id=seeded.user_id) if b.source == "assistant"]
    async with store.uow() as uow:
        row = await uow.blocks.get(added.id)
        assert row is not None
        row.start += timedelta(minutes=30)
        row.end += timedelta(minutes=30)
        row.version += 1
        await uow.commit()
    before = await snapshot(store)

    out = await undo(store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now)

    assert (out.status, out.code) == ("rejected", ErrorCode.UNDO_CONFLICT)
    assert await snapshot(store) == before


async def test_undo_conflict_when_a_moved_block_changed_since(store: Store) -> None:
    now = at(10)
    seeded, ready = await push_scenario(store, now)
    await _apply_top(store, seeded, ready, now, pm.CandidateType.PUSH_SUCCESSORS)
    async with store.uow() as uow:
        row = await uow.blocks.get(seeded.blocks["C"])
        assert row is not None
        row.locked = True  # the user pinned it where the apply put it
        row.version += 1
        await uow.commit()
    before = await snapshot(store)

    out = await undo(store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now)

    assert (out.status, out.code) == ("rejected", ErrorCode.UNDO_CONFLICT)
    assert await snapshot(store) == before


async def test_undo_refusals(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    mallory, _ = await place_scenario(store, now)
    nothing = await undo(store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now)
    assert nothing.code == ErrorCode.NOTHING_TO_UNDO
    await _apply_top(store, seeded, ready, now)
    before = await snapshot(store)

    other = await undo(store, preview_id=ready.preview_id, operator_open_id=mallory.open_id, now=now)
    late = await undo(
        store, preview_id=ready.preview_id, operator_open_id=seeded.open_id, now=now + timedelta(hours=24)
    )

    assert (other.code, late.code) == (ErrorCode.NOT_FOUND, ErrorCode.UNDO_EXPIRED)
    assert await snapshot(store) == before
    in_time = await undo(
        store,
        preview_id=ready.preview_id,
        operator_open_id=seeded.open_id,
        now=now + timedelta(hours=23, minutes=59),
    )
    assert in_time.status == "undone"


# --------------------------------------------------------------------------- expiry


async def test_expire_due_expires_ready_previews_past_their_lifetime(store: Store) -> None:
    now = at(9)
    seeded, ready = await place_scenario(store, now)
    seeded2, applied = await place_scenario(store, now)
    await _apply_top(store, seeded2, applied, now)
    _, fresh = await place_scenario(store, now + timedelta(minutes=30))

    assert await expire_due(store, now=now + timedelta(minutes=59)) == []
    expired = await expire_due(store, now=now + timedelta(hours=1))

    assert expired == [ready.preview_id]
    states = {p.id: p.status for p in await rows(store, Preview)}
    assert states == {ready.preview_id: "expired", applied.preview_id: "applied", fresh.preview_id: "ready"}
    assert {"preview_id": ready.preview_id, "state": "expired"} in await _updates(store)
    before = await snapshot(store)
    assert await expire_due(store, now=now + timedelta(hours=1)) == []
    out = await apply(
        store,
        preview_id=ready.preview_id,
        candidate_id=ready.candidates[0].id,
        operator_open_id=seeded.open_id,
        idempotency_key="late",
        now=now + timedelta(minutes=10),  # even a click stamped before expiry: the preview is closed
    )
    assert (out.status, out.code) == ("rejected", ErrorCode.EXPIRED)
    assert await snapshot(store) == before
