"""Applied blocks written to a connected user's own Feishu calendar, through the real HTTP app and worker with
the fake Feishu on loopback: Apply -> one event at the applied times (running the worker again, or the same
effect delivered again, creates nothing more); Undo -> the event is deleted; Feishu failing the create is
retried until it lands, still one event; a user without a connection gets no effect and no calendar call;
our own event is never busy time for the next plan."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from scheduler.services.codec import decode_candidate
from tests.fakes.fake_feishu import FakeFeishu, Fault
from tests.fakes.fake_feishu_calendar import primary_calendar_id
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, at, buttons, card_of, open_harness
from tests.scenario.test_http_connect import PUBLIC_URL, connected

KEY = Fernet.generate_key().decode()


@pytest.fixture
async def h(db_url: str, fake_server: tuple[FakeFeishu, str]) -> AsyncIterator[Harness]:
    async with open_harness(db_url, fake_server, public_url=PUBLIC_URL, secret_key=KEY) as harness:
        yield harness


async def plan_card(h: Harness, open_id: str, user_id: str) -> tuple[str, list[dict[str, Any]]]:
    await h.add_task(
        user_id, "实验报告", estimate_minutes=90, deadline=at(20), urgency_threshold_at=at(8, 30)
    )
    await h.run_worker()
    cards = [c for c in h.cards_to(open_id) if any(v.get("k") == "apply" for v in buttons(c.card))]
    card = cards[-1]
    return card.message_id, [v for v in buttons(card.card) if v["k"] == "apply"]


async def blocks_of(h: Harness, user_id: str) -> list[Any]:
    async with h.store.uow(readonly=True) as uow:
        return [
            SimpleNamespace(
                id=b.id,
                start=b.start,
                end=b.end,
                calendar_id=b.calendar_id,
                calendar_event_id=b.calendar_event_id,
            )
            for b in await uow.blocks.for_user(user_id)
        ]


async def effect_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.store.uow(readonly=True) as uow:
        result = await uow.session.execute(
            sa.text("SELECT status, attempts, payload FROM notifications WHERE kind = 'effect'")
        )
        rows = [dict(r._mapping) for r in result]
    # the block events' effects only (connecting also queues the calendar's subscription)
    return [r for r in rows if "calendar.block" in str(r["payload"])]


async def run_effects(h: Harness, rounds: int = 1) -> None:
    for _ in range(rounds):
        await h.run_worker()


async def test_apply_writes_one_event_at_the_applied_times_and_undo_deletes_it(h: Harness) -> None:
    user_id = await connected(h, ALICE)
    message_id, applies = await plan_card(h, ALICE, user_id)
    applied = await h.click(ALICE, applies[0], message_id)
    assert json.loads(applied.content)["toast"]["type"] == "success"

    await run_effects(h)

    (block,) = await blocks_of(h, user_id)
    (event,) = h.fake.calendars.written_events(ALICE)
    assert (event.start, event.end) == (block.start, block.end)
    assert event.summary == "实验报告"
    assert "SmartFlow" in event.description
    assert (event.visibility, event.free_busy_status, event.reminders) == ("private", "busy", (5,))
    assert (block.calendar_id, block.calendar_event_id) == (primary_calendar_id(ALICE), event.event_id)
    (create,) = [c for c in h.fake.calendars.event_calls if c.method == "POST"]
    assert create.query["idempotency_key"]
    assert [r["status"] for r in await effect_rows(h)] == ["sent"]

    await run_effects(h, 2)  # the worker again: nothing more
    assert len(h.fake.calendars.written_events(ALICE)) == 1
    assert len([c for c in h.fake.calendars.event_calls if c.method == "POST"]) == 1

    undo = next(v for v in buttons(card_of(applied)) if v["k"] == "undo")
    undone = await h.click(ALICE, undo, message_id)
    assert json.loads(undone.content)["toast"]["type"] == "success"
    await run_effects(h)

    assert h.fake.calendars.written_events(ALICE) == []
    assert [e.event_id for e in h.fake.calendars.deleted] == [event.event_id]
    (delete,) = [c for c in h.fake.calendars.event_calls if c.method == "DELETE"]
    assert delete.query["need_notification"] == "false"
    assert await blocks_of(h, user_id) == []


async def test_the_same_effect_delivered_again_creates_nothing_more(h: Harness) -> None:
    user_id = await connected(h, ALICE)
    message_id, applies = await plan_card(h, ALICE, user_id)
    await h.click(ALICE, applies[0], message_id)
    await run_effects(h)
    (event,) = h.fake.calendars.written_events(ALICE)

    # the delivery is replayed as if its first run had been lost (the worker died before marking it sent),
    # and the event id was never stored
    async with h.store.uow() as uow:
        await uow.session.execute(
            sa.text("UPDATE notifications SET status = 'pending', attempts = 0 WHERE kind = 'effect'")
        )
        await uow.session.execute(sa.text("UPDATE blocks SET calendar_id = NULL, calendar_event_id = NULL"))
        await uow.commit()
    await run_effects(h)

    (again,) = h.fake.calendars.written_events(ALICE)
    assert again.event_id == event.event_id
    creates = [c for c in h.fake.calendars.event_calls if c.method == "POST"]
    assert len(creates) == 2
    assert creates[0].query["idempotency_key"] == creates[1].query["idempotency_key"]
    (block,) = await blocks_of(h, user_id)
    assert block.calendar_event_id == event.event_id


async def test_feishu_failing_the_create_is_retried_until_it_lands(h: Harness) -> None:
    user_id = await connected(h, ALICE)
    message_id, applies = await plan_card(h, ALICE, user_id)
    h.fake.inject("event_create", Fault.server_error(503), Fault.rate_limited(1))
    await h.click(ALICE, applies[0], message_id)

    await run_effects(h)
    assert h.fake.calendars.written_events(ALICE) == []
    (row,) = await effect_rows(h)
    assert row["status"] != "sent"
    for _ in range(6):
        h.clock.advance(minutes=5)
        await run_effects(h)
    (event,) = h.fake.calendars.written_events(ALICE)
    (block,) = await blocks_of(h, user_id)
    assert (event.start, event.end) == (block.start, block.end)
    assert h.fake.requests("event_create") == 3
    assert [r["status"] for r in await effect_rows(h)] == ["sent"]


async def test_a_user_without_a_connection_gets_no_effect_and_no_calendar_call(h: Harness) -> None:
    user_id = await h.add_user(BOB)
    message_id, applies = await plan_card(h, BOB, user_id)
    applied = await h.click(BOB, applies[0], message_id)
    assert json.loads(applied.content)["toast"]["type"] == "success"
    await run_effects(h)
    undo = next(v for v in buttons(card_of(applied)) if v["k"] == "undo")
    await h.click(BOB, undo, message_id)
    await run_effects(h)

    assert await effect_rows(h) == []
    assert h.fake.calendars.event_calls == []
    assert h.fake.requests("calendar_primary") == 0


async def busy_rows(h: Harness) -> list[tuple[Any, ...]]:
    async with h.store.uow(readonly=True) as uow:
        result = await uow.session.execute(sa.text("SELECT title, event_id FROM busy_times ORDER BY start"))
        return [tuple(r) for r in result]


async def read_sources(h: Harness) -> list[str]:
    async with h.store.uow(readonly=True) as uow:
        return [r[0] for r in await uow.session.execute(sa.text("SELECT source FROM calendar_reads"))]


async def test_our_own_event_is_not_busy_time_in_the_next_plan(h: Harness) -> None:
    user_id = await connected(h, ALICE)
    message_id, applies = await plan_card(h, ALICE, user_id)
    await h.click(ALICE, applies[0], message_id)
    await run_effects(h)
    (block,) = await blocks_of(h, user_id)
    (event,) = h.fake.calendars.written_events(ALICE)
    h.fake.calendars.add_event(ALICE, at(19), at(20), "周会")  # a real meeting still is busy time

    h.clock.advance(minutes=10)  # the busy copy is re-read for the next plan: it now holds our event
    await h.add_task(user_id, "周报", estimate_minutes=60, deadline=at(21), urgency_threshold_at=at(9, 5))
    await h.run_worker()

    rows = await busy_rows(h)
    assert [title for title, _ in rows] == ["实验报告", "周会"]  # the copy, as the calendar has it
    assert rows[0][1] == event.event_id
    async with h.store.uow(readonly=True) as uow:
        spans = [(b.start, b.end, b.title) for b in await uow.calendar.busy([user_id], at(0), at(23, 59))]
    assert spans == [(at(19), at(20), "周会")]  # our block's event is not busy time: it is the block itself
    assert (event.start, event.end) == (block.start, block.end)


async def test_a_connected_users_busy_time_comes_from_their_calendar_with_titles(h: Harness) -> None:
    user_id = await connected(h, ALICE)
    h.fake.calendars.add_event(ALICE, at(9, 30), at(12), "评审会")
    h.fake.calendars.add_event(ALICE, at(13), at(14), "午休", free_busy_status="free")
    await plan_card(h, ALICE, user_id)

    assert h.fake.requests("instance_view") == 1
    assert h.fake.calendars.queries_for(ALICE) == []  # no free/busy read for a connected user
    assert [title for title, _ in await busy_rows(h)] == ["评审会"]
    assert await read_sources(h) == ["calendar"]
    async with h.store.uow(readonly=True) as uow:
        (preview,) = await uow.previews.recent(None, limit=1)
        candidates = [decode_candidate(c) for c in preview.candidates]
    spans = [(c.start, c.end) for cand in candidates for c in cand.changes if c.start and c.end]
    assert spans
    for start, end in spans:  # planned around the meeting
        assert not (start < at(12) and end > at(9, 30)), (start, end)


async def test_free_busy_is_read_when_the_users_calendar_cannot_be(h: Harness) -> None:
    user_id = await connected(h, ALICE)
    h.fake.calendars.add_event(ALICE, at(9, 30), at(12), "评审会")
    h.fake.inject("instance_view", Fault.server_error(503))
    await plan_card(h, ALICE, user_id)

    assert len(h.fake.calendars.queries_for(ALICE)) == 1
    assert await busy_rows(h) == [(None, None)]  # untitled, from free/busy
    assert await read_sources(h) == ["freebusy"]


async def test_a_meeting_over_an_applied_block_moves_the_block_and_its_feishu_event(h: Harness) -> None:
    user_id = await connected(h, ALICE)
    message_id, applies = await plan_card(h, ALICE, user_id)
    # the last option: a block that has not begun (the first may start right now)
    assert json.loads((await h.click(ALICE, applies[-1], message_id)).content)["toast"]["type"] == "success"
    await run_effects(h)
    (block,) = await blocks_of(h, user_id)
    assert block.start > h.clock.now
    (event,) = h.fake.calendars.written_events(ALICE)
    cards = len(h.cards_to(ALICE))

    # Feishu pushes the change our own write made: it is no busy time, so no card
    for push in h.fake.calendars.take_pushes():
        assert (
            await h.post(h.cb.calendar_event_changed(list(push.open_ids), push.calendar_id))
        ).status_code == 200
    await h.run_worker()
    assert len(h.cards_to(ALICE)) == cards

    h.fake.calendars.add_event(ALICE, block.start, block.start + timedelta(minutes=30), "周会")
    for push in h.fake.calendars.take_pushes():
        await h.post(h.cb.calendar_event_changed(list(push.open_ids), push.calendar_id))
    await h.run_worker()

    conflict = h.cards_to(ALICE)[-1]
    assert len(h.cards_to(ALICE)) == cards + 1
    moves = [v for v in buttons(conflict.card) if v["k"] == "apply"]
    response = await h.click(ALICE, moves[0], conflict.message_id)
    assert json.loads(response.content)["toast"]["type"] == "success", response.content.decode()
    await run_effects(h)

    (moved,) = await blocks_of(h, user_id)
    assert not (moved.start < block.start + timedelta(minutes=30) and moved.end > block.start)
    (after,) = h.fake.calendars.written_events(ALICE)  # the same event, moved: not a second one
    assert after.event_id == event.event_id
    assert (after.start, after.end) == (moved.start, moved.end)
