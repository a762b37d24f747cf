"""A connected calendar subscribed to Feishu's event changes, through the real HTTP app and worker with the
fake Feishu on loopback: connecting queues the subscription, the worker makes it once (running again
subscribes nothing more); a meeting added to the subscribed calendar makes the fake push
`calendar.calendar.event.changed_v4`, and that push gets one conflict card over a planned block; /disconnect
unsubscribes (while the token still exists) and deletes the tokens; a subscription call Feishu fails with a
5xx is retried and lands once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.fakes.fake_feishu import FakeFeishu, Fault
from tests.fakes.fake_feishu_calendar import primary_calendar_id
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness, at, open_harness
from tests.scenario.test_http_calendar_events import KEY
from tests.scenario.test_http_connect import PUBLIC_URL, connected


@pytest.fixture
async def h(db_url: str, fake_server: tuple[FakeFeishu, str]) -> AsyncIterator[Harness]:
    async with open_harness(db_url, fake_server, public_url=PUBLIC_URL, secret_key=KEY) as harness:
        yield harness


def subscribe_calls(h: Harness, action: str = "subscription") -> list[str]:
    return [c.calendar_id for c in h.fake.calendars.subscription_calls if c.action == action and c.code == 0]


async def test_connecting_subscribes_the_primary_calendar_once(h: Harness) -> None:
    await connected(h, ALICE)
    await h.run_worker()
    calendar = primary_calendar_id(ALICE)
    assert h.fake.calendars.subscriptions == [(ALICE, calendar)]
    assert subscribe_calls(h) == [calendar]

    await h.run_worker()
    h.clock.advance(minutes=10)
    await h.run_worker()
    assert subscribe_calls(h) == [calendar]  # nothing more
    async with h.store.uow(readonly=True) as uow:
        user = await uow.users.get_by_open_id(ALICE)
        assert user is not None
        row = await uow.connections.get(user.id)
        assert row is not None
        assert row.calendar_id == calendar
        assert row.subscribed_at is not None


async def test_a_meeting_in_the_subscribed_calendar_is_pushed_and_gets_one_conflict_card(h: Harness) -> None:
    user_id = await connected(h, ALICE)
    task = await h.add_task(user_id, "实验报告", estimate_minutes=90, deadline=at(20))
    await h.add_block(user_id, task, at(14), 90)
    await h.run_worker()  # subscribed; the copy is read: nothing overlaps
    assert h.fake.calendars.take_pushes() == []
    assert h.cards_to(ALICE)[1:] == []  # the /connect card only

    h.fake.calendars.add_event(ALICE, at(14), at(15), "周会")  # booked in Feishu
    (push,) = h.fake.calendars.take_pushes()
    assert push.open_ids == (ALICE,)
    assert push.calendar_id == primary_calendar_id(ALICE)
    response = await h.post(h.cb.calendar_event_changed(list(push.open_ids), push.calendar_id))
    assert response.status_code == 200
    await h.run_worker()

    (card,) = h.cards_to(ALICE)[1:]
    text = json.dumps(card.card, ensure_ascii=False)
    assert "实验报告" in text
    async with h.store.uow(readonly=True) as uow:
        (trigger,) = await uow.triggers.recent_for_user(user_id, limit=1)
        assert trigger.type == "calendar_conflict"
    await h.run_worker()
    assert len(h.cards_to(ALICE)[1:]) == 1


async def test_disconnect_unsubscribes_before_the_tokens_are_deleted(h: Harness) -> None:
    await connected(h, ALICE)
    await h.run_worker()
    assert h.fake.calendars.subscriptions == [(ALICE, primary_calendar_id(ALICE))]

    await h.message(ALICE, "/disconnect")
    await h.settle()
    assert h.fake.calendars.subscriptions == []
    assert subscribe_calls(h, "unsubscription") == [primary_calendar_id(ALICE)]
    assert await h.count("calendar_connections") == 0

    h.fake.calendars.add_event(ALICE, at(14), at(15), "周会")
    assert h.fake.calendars.take_pushes() == []  # Feishu pushes nothing more

    await h.message(ALICE, "/disconnect")  # again: nothing to unsubscribe with
    await h.settle()
    assert len(h.fake.calendars.subscription_calls) == 2


async def test_a_subscription_failing_with_a_5xx_is_retried_and_lands_once(h: Harness) -> None:
    h.fake.inject("event_subscribe", Fault.server_error(503))
    await connected(h, ALICE)
    await h.run_worker()
    assert h.fake.calendars.subscriptions == []
    assert h.fake.requests("event_subscribe") == 1
    for _ in range(6):
        h.clock.advance(minutes=5)
        await h.run_worker()
    assert h.fake.calendars.subscriptions == [(ALICE, primary_calendar_id(ALICE))]
    assert h.fake.requests("event_subscribe") == 2
    assert subscribe_calls(h) == [primary_calendar_id(ALICE)]
