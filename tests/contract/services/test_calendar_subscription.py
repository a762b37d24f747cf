"""A connected calendar's subscription to event changes (scheduler.services.calendar_subscription over
bot.feishu.calendar.FeishuUserCalendar, against the fake Feishu on loopback): state-based (nothing for a user
not connected or already subscribed), a disconnect during the call undoes it, a broken grant is final, a 5xx
retryable; unsubscribing is best-effort and never raises."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import pytest

from bot.feishu.calendar import FeishuUserCalendar
from scheduler.services.calendar_events import CalendarWriteError
from scheduler.services.calendar_subscription import CalendarSubscriptions
from scheduler.services.usertokens import ConnectionBroken, NotConnected
from store import Store
from store.enums import ConnectionStatus
from store.models import CalendarConnection
from tests.contract.services.builders import Seeded, at, seed
from tests.contract.services.test_calendar_events import Tokens, user_token
from tests.fakes.fake_feishu import FakeFeishu, Fault, serve_fake_feishu
from tests.fakes.fake_feishu_calendar import primary_calendar_id

NOW = at(9)


@pytest.fixture
def feishu() -> Iterator[tuple[FakeFeishu, str]]:
    with serve_fake_feishu() as served:
        yield served


@pytest.fixture
async def calendar(feishu: tuple[FakeFeishu, str]) -> AsyncIterator[FeishuUserCalendar]:
    _, url = feishu
    client = FeishuUserCalendar(url, timeout_seconds=1.0)
    try:
        yield client
    finally:
        await client.aclose()


async def connected(store: Store, feishu: tuple[FakeFeishu, str]) -> tuple[Seeded, Tokens]:
    fake, url = feishu
    seeded = await seed(store, NOW, tasks={}, open_id="ou_sub")
    async with store.uow() as uow:
        uow.connections.add(CalendarConnection(user_id=seeded.user_id, created_at=NOW, updated_at=NOW))
        await uow.commit()
    return seeded, Tokens(await user_token(fake, url, seeded.open_id))


class Failing:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def access_token(self, user_id: str, now: datetime) -> str:
        raise self.exc


async def test_subscribes_once_and_keeps_the_calendar_on_the_connection(
    store: Store, feishu: tuple[FakeFeishu, str], calendar: FeishuUserCalendar
) -> None:
    fake, _ = feishu
    seeded, tokens = await connected(store, feishu)
    subs = CalendarSubscriptions(store, tokens, calendar)
    calendar_id = primary_calendar_id("ou_sub")

    assert await subs.subscribe(seeded.user_id, NOW) == f"subscribed {calendar_id}"
    assert await subs.subscribe(seeded.user_id, NOW) == f"already subscribed {calendar_id}"
    assert fake.calendars.subscriptions == [("ou_sub", calendar_id)]
    assert fake.requests("event_subscribe") == 1
    async with store.uow(readonly=True) as uow:
        row = await uow.connections.get(seeded.user_id)
        assert row is not None
        assert (row.calendar_id, row.subscribed_at) == (calendar_id, NOW)

    assert await subs.unsubscribe(seeded.user_id, NOW) is True
    assert fake.calendars.subscriptions == []
    assert fake.requests("calendar_primary") == 1  # the kept calendar id is used


async def test_nothing_for_a_user_not_connected_or_broken(
    store: Store, feishu: tuple[FakeFeishu, str], calendar: FeishuUserCalendar
) -> None:
    fake, _ = feishu
    seeded, tokens = await connected(store, feishu)
    assert await CalendarSubscriptions(store, Failing(NotConnected()), calendar).subscribe(
        seeded.user_id, NOW
    ) == ("not connected")
    with pytest.raises(CalendarWriteError) as broken:
        await CalendarSubscriptions(store, Failing(ConnectionBroken()), calendar).subscribe(
            seeded.user_id, NOW
        )
    assert not broken.value.retryable

    async with store.uow() as uow:
        row = await uow.connections.get(seeded.user_id, for_update=True)
        assert row is not None
        row.status = ConnectionStatus.BROKEN
        await uow.commit()
    subs = CalendarSubscriptions(store, tokens, calendar)
    assert await subs.subscribe(seeded.user_id, NOW) == "not connected"
    assert await subs.unsubscribe(seeded.user_id, NOW) is False  # no live grant: nothing to call with
    assert fake.calendars.subscription_calls == []


async def test_a_5xx_is_retryable_and_an_unsubscribe_failure_is_swallowed(
    store: Store, feishu: tuple[FakeFeishu, str], calendar: FeishuUserCalendar
) -> None:
    fake, _ = feishu
    seeded, tokens = await connected(store, feishu)
    subs = CalendarSubscriptions(store, tokens, calendar)
    fake.inject("event_subscribe", Fault.server_error(503))
    with pytest.raises(CalendarWriteError) as failed:
        await subs.subscribe(seeded.user_id, NOW)
    assert failed.value.retryable
    async with store.uow(readonly=True) as uow:
        row = await uow.connections.get(seeded.user_id)
        assert row is not None
        assert row.subscribed_at is None
    await subs.subscribe(seeded.user_id, NOW)

    fake.inject("event_unsubscribe", Fault.server_error(500))
    assert await subs.unsubscribe(seeded.user_id, NOW) is False
    assert fake.calendars.subscriptions == [("ou_sub", primary_calendar_id("ou_sub"))]


async def test_a_disconnect_during_the_call_undoes_the_subscription(
    store: Store, feishu: tuple[FakeFeishu, str], calendar: FeishuUserCalendar
) -> None:
    fake, _ = feishu
    seeded, tokens = await connected(store, feishu)

    class DisconnectingMidway(FeishuUserCalendar):
        async def subscribe_events(self, access_token: str, calendar_id: str) -> None:
            await calendar.subscribe_events(access_token, calendar_id)
            async with store.uow() as uow:
                await uow.connections.remove(seeded.user_id)
                await uow.commit()

    _, url = feishu
    client = DisconnectingMidway(url, timeout_seconds=1.0)
    try:
        result = await CalendarSubscriptions(store, tokens, client).subscribe(seeded.user_id, NOW)
    finally:
        await client.aclose()
    assert result == "disconnected meanwhile"
    assert fake.calendars.subscriptions == []
    assert [c.action for c in fake.calendars.subscription_calls] == ["subscription", "unsubscription"]
