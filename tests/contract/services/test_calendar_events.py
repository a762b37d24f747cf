"""A block's event on the user's own Feishu calendar (scheduler.services.calendar_events over the user-token
client bot.feishu.calendar.FeishuUserCalendar, against the fake Feishu on loopback): created once, moved with
the block, written again when the user deleted it in Feishu, deleted when the block is gone (also when the
block went while the event was being created); Feishu's failures come back retryable or final."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from bot.feishu.calendar import FeishuUserCalendar
from scheduler.services.calendar_events import (
    BlockEvents,
    CalendarWriteError,
    EventDraft,
    idempotency_key,
    queue_for,
)
from store import Store
from store.enums import ConnectionStatus
from store.models import CalendarConnection
from tests.contract.services.builders import Seeded, at, seed
from tests.fakes.fake_feishu import FakeFeishu, Fault, serve_fake_feishu
from tests.fakes.fake_feishu_calendar import primary_calendar_id
from tests.statements import count_statements

NOW = at(9)


@pytest.fixture
def feishu() -> Iterator[tuple[FakeFeishu, str]]:
    with serve_fake_feishu() as served:
        yield served


@pytest.fixture
async def calendar(feishu: tuple[FakeFeishu, str]) -> AsyncIterator[FeishuUserCalendar]:
    _, url = feishu
    writer = FeishuUserCalendar(url, timeout_seconds=1.0)
    try:
        yield writer
    finally:
        await writer.aclose()


async def user_token(fake: FakeFeishu, url: str, open_id: str) -> str:
    """An access token the fake OAuth issued to `open_id` (the code flow, played directly)."""
    query = urlencode(
        {"client_id": fake.app_id, "redirect_uri": "https://x/cb", "scope": "calendar:calendar", "state": "s"}
    )
    redirect = fake.oauth.authorize(f"{url}/open-apis/authen/v1/authorize?{query}", open_id)
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    async with httpx.AsyncClient(base_url=url) as http:
        answer = await http.post(
            "/open-apis/authen/v2/oauth/token",
            json={
                "grant_type": "authorization_code",
                "client_id": fake.app_id,
                "client_secret": fake.app_secret,
                "code": code,
                "redirect_uri": "https://x/cb",
            },
        )
    token: str = answer.json()["access_token"]
    return token


class Tokens:
    def __init__(self, token: str) -> None:
        self.token = token

    async def access_token(self, user_id: str, now: datetime) -> str:
        return self.token


async def setup(store: Store, feishu: tuple[FakeFeishu, str]) -> tuple[Seeded, Tokens]:
    fake, url = feishu
    seeded = await seed(
        store,
        NOW,
        tasks={"report": {"quadrant": 1, "estimate_minutes": 90, "deadline": at(20), "title": "实验报告"}},
        blocks={"b": ("report", at(14), at(15, 30))},
        open_id="ou_cal",
    )
    return seeded, Tokens(await user_token(fake, url, seeded.open_id))


async def move(store: Store, block_id: str, start: datetime, end: datetime) -> None:
    async with store.uow() as uow:
        b = await uow.blocks.get_for_update(block_id)
        assert b is not None
        b.start, b.end = start, end
        b.version += 1
        await uow.commit()


async def event_ids(store: Store, block_id: str) -> tuple[str | None, str | None]:
    async with store.uow(readonly=True) as uow:
        b = await uow.blocks.get(block_id)
        assert b is not None
        return b.calendar_id, b.calendar_event_id


async def test_created_once_then_moved_with_the_block(
    store: Store, feishu: tuple[FakeFeishu, str], calendar: FeishuUserCalendar
) -> None:
    fake, _ = feishu
    seeded, tokens = await setup(store, feishu)
    events = BlockEvents(store, tokens, calendar)
    block_id = seeded.blocks["b"]

    first = await events.sync(seeded.user_id, {"block_id": block_id}, NOW)
    again = await events.sync(seeded.user_id, {"block_id": block_id}, NOW)

    (event,) = fake.calendars.written_events("ou_cal")
    assert first == f"created {event.event_id}"
    assert again == f"patched {event.event_id}"  # in line already: the same times written again
    assert await event_ids(store, block_id) == (primary_calendar_id("ou_cal"), event.event_id)
    assert (event.start, event.end) == (at(14), at(15, 30))

    await move(store, block_id, at(16), at(17, 30))
    assert await events.sync(seeded.user_id, {"block_id": block_id}, NOW) == f"patched {event.event_id}"
    (moved,) = fake.calendars.written_events("ou_cal")
    assert (moved.event_id, moved.start, moved.end) == (event.event_id, at(16), at(17, 30))
    assert [c.method for c in fake.calendars.event_calls] == ["POST", "PATCH", "PATCH"]


async def test_an_event_deleted_in_feishu_is_written_again(
    store: Store, feishu: tuple[FakeFeishu, str], calendar: FeishuUserCalendar
) -> None:
    fake, _ = feishu
    seeded, tokens = await setup(store, feishu)
    events = BlockEvents(store, tokens, calendar)
    block_id = seeded.blocks["b"]
    await events.sync(seeded.user_id, {"block_id": block_id}, NOW)
    (event,) = fake.calendars.written_events("ou_cal")
    fake.calendars.remove_event(event.event_id)

    result = await events.sync(seeded.user_id, {"block_id": block_id}, NOW)

    (again,) = fake.calendars.written_events("ou_cal")
    assert again.event_id != event.event_id
    assert result == f"created {again.event_id}"
    assert (await event_ids(store, block_id))[1] == again.event_id


async def test_a_removed_block_has_its_event_deleted_and_a_missing_event_counts_as_deleted(
    store: Store, feishu: tuple[FakeFeishu, str], calendar: FeishuUserCalendar
) -> None:
    fake, _ = feishu
    seeded, tokens = await setup(store, feishu)
    events = BlockEvents(store, tokens, calendar)
    block_id = seeded.blocks["b"]
    await events.sync(seeded.user_id, {"block_id": block_id}, NOW)
    calendar_id, event_id = await event_ids(store, block_id)
    async with store.uow() as uow:
        b = await uow.blocks.get_for_update(block_id)
        assert b is not None
        await uow.blocks.delete(b)
        await uow.commit()
    args = {"block_id": block_id, "calendar_id": calendar_id, "event_id": event_id}

    assert await events.sync(seeded.user_id, args, NOW) == f"deleted {event_id}"
    assert await events.sync(seeded.user_id, args, NOW) == f"deleted {event_id}"  # gone already: done
    assert fake.calendars.written_events("ou_cal") == []
    assert [c.code for c in fake.calendars.event_calls if c.method == "DELETE"] == [0, 193002]
    assert await events.sync(seeded.user_id, {"block_id": block_id}, NOW) == "none"  # never written


async def test_a_block_removed_while_its_event_was_created_has_the_event_deleted(
    store: Store, feishu: tuple[FakeFeishu, str], calendar: FeishuUserCalendar
) -> None:
    fake, _ = feishu
    seeded, tokens = await setup(store, feishu)
    block_id = seeded.blocks["b"]

    class UndoneMeanwhile(FeishuUserCalendar):
        async def create_event(self, token: str, cal: str, draft: EventDraft, key: str) -> str:
            event_id = await calendar.create_event(token, cal, draft, key)
            async with store.uow() as uow:  # Undo commits while the create is on its way back
                b = await uow.blocks.get_for_update(block_id)
                assert b is not None
                await uow.blocks.delete(b)
                await uow.commit()
            return event_id

    racing = UndoneMeanwhile(feishu[1])
    try:
        result = await BlockEvents(store, tokens, racing).sync(seeded.user_id, {"block_id": block_id}, NOW)
    finally:
        await racing.aclose()

    (deleted,) = fake.calendars.deleted
    assert result == f"deleted {deleted.event_id}"
    assert fake.calendars.written_events("ou_cal") == []


async def test_a_block_moved_while_its_event_was_created_ends_at_the_new_times(
    store: Store, feishu: tuple[FakeFeishu, str], calendar: FeishuUserCalendar
) -> None:
    fake, _ = feishu
    seeded, tokens = await setup(store, feishu)
    block_id = seeded.blocks["b"]

    class MovedMeanwhile(FeishuUserCalendar):
        async def create_event(self, token: str, cal: str, draft: EventDraft, key: str) -> str:
            event_id = await calendar.create_event(token, cal, draft, key)
            await move(store, block_id, at(18), at(19, 30))
            return event_id

    racing = MovedMeanwhile(feishu[1])
    try:
        await BlockEvents(store, tokens, racing).sync(seeded.user_id, {"block_id": block_id}, NOW)
    finally:
        await racing.aclose()

    (event,) = fake.calendars.written_events("ou_cal")
    assert (event.start, event.end) == (at(18), at(19, 30))


async def test_feishu_failures_are_retryable_or_final(
    store: Store, feishu: tuple[FakeFeishu, str], calendar: FeishuUserCalendar
) -> None:
    fake, _ = feishu
    seeded, tokens = await setup(store, feishu)
    events = BlockEvents(store, tokens, calendar)
    args = {"block_id": seeded.blocks["b"]}
    cases = [
        (Fault.server_error(503), True),
        (Fault.rate_limited(2), True),
        (Fault.slow(1.5), True),  # past the client's timeout
        (Fault(400, 99992402, "field validation failed"), False),
        (Fault(403, 190003, "no access"), False),
    ]
    for fault, retryable in cases:
        fake.inject("event_create", fault)
        with pytest.raises(CalendarWriteError) as caught:
            await events.sync(seeded.user_id, args, NOW)
        assert caught.value.retryable is retryable, (fault, caught.value)

    stale = BlockEvents(store, Tokens("u-not-a-token"), calendar)
    with pytest.raises(CalendarWriteError) as refused:
        await stale.sync(seeded.user_id, args, NOW)
    assert refused.value.code == "99991668"


def test_the_idempotency_key_follows_the_block_and_its_version() -> None:
    assert idempotency_key("b1", 1) == idempotency_key("b1", 1)
    assert len({idempotency_key("b1", 1), idempotency_key("b1", 2), idempotency_key("b2", 1)}) == 3
    assert len(idempotency_key("b1", 1)) <= 64


async def test_a_sync_is_queued_only_for_a_working_connection(store: Store) -> None:
    seeded = await seed(
        store,
        NOW,
        tasks={"report": {"quadrant": 1, "estimate_minutes": 90, "deadline": at(20)}},
        blocks={"b": ("report", at(14), at(15, 30))},
        open_id="ou_queue",
    )

    async def queued() -> int:
        async with store.uow() as uow:
            b = await uow.blocks.get(seeded.blocks["b"])
            assert b is not None
            with count_statements(store) as log:
                n = await queue_for(uow, seeded.user_id, NOW, kept=[b])
            await uow.commit()
        if n == 0:
            assert log.count == 1, str(log)  # the connection lookup, nothing else
        return n

    assert await queued() == 0  # never connected
    async with store.uow() as uow:
        uow.connections.add(CalendarConnection(user_id=seeded.user_id, created_at=NOW, updated_at=NOW))
        await uow.commit()
    assert await queued() == 1
    assert await queued() == 1  # the same block and version again: the one effect row, found
    async with store.uow(readonly=True) as uow:
        count = "SELECT COUNT(*) FROM notifications WHERE kind = 'effect'"
        assert (await uow.session.execute(sa.text(count))).scalar_one() == 1
    async with store.uow() as uow:
        row = await uow.connections.get(seeded.user_id, for_update=True)
        assert row is not None
        row.status = ConnectionStatus.BROKEN
        await uow.commit()
    assert await queued() == 0  # broken: the user must /connect again first
    async with store.uow(readonly=True) as uow:
        assert await queue_for(uow, seeded.user_id, NOW) == 0  # no blocks: not even the lookup


async def test_an_event_created_by_a_lost_attempt_is_found_and_deleted_once_the_block_is_gone(
    store: Store, feishu: tuple[FakeFeishu, str], calendar: FeishuUserCalendar
) -> None:
    fake, _ = feishu
    seeded, tokens = await setup(store, feishu)
    block_id = seeded.blocks["b"]
    args = {"block_id": block_id, "version": 1}

    class AnswerLost(FeishuUserCalendar):
        async def create_event(self, token: str, cal: str, draft: EventDraft, key: str) -> str:
            await calendar.create_event(token, cal, draft, key)  # Feishu creates it...
            raise CalendarWriteError("timeout", "...and the answer never comes", retryable=True)

    lossy = AnswerLost(feishu[1])
    try:
        with pytest.raises(CalendarWriteError):
            await BlockEvents(store, tokens, lossy).sync(seeded.user_id, args, NOW)
    finally:
        await lossy.aclose()
    events = BlockEvents(store, tokens, calendar)
    (created,) = fake.calendars.written_events("ou_cal")
    async with store.uow() as uow:  # then Undo removes the block before the retry
        b = await uow.blocks.get_for_update(block_id)
        assert b is not None
        await uow.blocks.delete(b)
        await uow.commit()

    assert await events.sync(seeded.user_id, args, NOW, attempts=1) == f"deleted {created.event_id}"
    assert fake.calendars.written_events("ou_cal") == []
    assert await events.sync(seeded.user_id, args, NOW, attempts=0) == "none"  # a first attempt: nothing
