"""Free/busy over real HTTP to the fake Feishu: the documented request, its own 1000-a-minute throttle (here
3, on an injected clock), times parsed to UTC, and every Feishu failure turned into CalendarUnavailable."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.feishu.calendar import FeishuBusyReader, rfc3339
from bot.feishu.client import FeishuClient
from scheduler.services.calendar import BusySpan, CalendarUnavailable
from tests.fakes.fake_feishu import FakeFeishu, Fault, serve_fake_feishu

START = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def served() -> Iterator[tuple[FakeFeishu, str]]:
    with serve_fake_feishu() as s:
        yield s


async def test_the_request_is_the_documented_one_and_times_come_back_in_utc(
    served: tuple[FakeFeishu, str],
) -> None:
    fake, url = served
    fake.calendars.add_event("ou_a", START + timedelta(hours=1), START + timedelta(hours=2), "周会")
    fake.calendars.add_event("ou_a", START + timedelta(days=5), START + timedelta(days=5, hours=1))
    fake.calendars.add_event("ou_b", START + timedelta(hours=1), START + timedelta(hours=3))
    async with FeishuClient(fake.app_id, fake.app_secret, domain=url) as client:
        spans = await FeishuBusyReader(client).busy("ou_a", START, START + timedelta(hours=48))

    assert spans == [BusySpan(START + timedelta(hours=1), START + timedelta(hours=2))]
    assert spans[0].start.tzinfo == UTC
    (query,) = fake.calendars.queries
    assert query.body == {
        "time_min": "2026-11-30T01:00:00+00:00",
        "time_max": "2026-12-02T01:00:00+00:00",
        "user_id": "ou_a",
        "only_busy": True,
        "include_external_calendar": True,
    }
    assert fake.requests("freebusy") == 1


async def test_free_busy_keeps_to_its_own_per_minute_budget(served: tuple[FakeFeishu, str]) -> None:
    fake, url = served
    clock = FakeClock()
    async with FeishuClient(
        fake.app_id, fake.app_secret, domain=url, clock=clock, sleep=clock.sleep, freebusy_per_minute=3
    ) as client:
        reader = FeishuBusyReader(client)
        for _ in range(4):
            await reader.busy("ou_a", START, START + timedelta(hours=1))

    assert len(fake.calendars.queries) == 4
    assert len(clock.sleeps) == 1
    assert clock.sleeps[0] == pytest.approx(60.0, abs=1.0)  # the fourth waited for the minute to pass


@pytest.mark.parametrize(
    ("fault", "retryable"),
    [
        (Fault.server_error(503), True),
        (Fault(status=400, code=99991672, msg="Access denied. One of the scopes is required"), False),
    ],
)
async def test_a_feishu_failure_is_calendar_unavailable(
    served: tuple[FakeFeishu, str], fault: Fault, retryable: bool
) -> None:
    fake, url = served
    fake.inject("freebusy", fault)
    async with FeishuClient(fake.app_id, fake.app_secret, domain=url, timeout_seconds=5) as client:
        with pytest.raises(CalendarUnavailable) as info:
            await FeishuBusyReader(client).busy("ou_a", START, START + timedelta(hours=1))
    assert info.value.retryable is retryable


async def test_an_unreachable_feishu_is_calendar_unavailable() -> None:
    async with FeishuClient("cli_x", "s", domain="http://127.0.0.1:9", timeout_seconds=2) as client:
        with pytest.raises(CalendarUnavailable) as info:
            await FeishuBusyReader(client).busy("ou_a", START, START + timedelta(hours=1))
    assert info.value.retryable


def test_instants_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        rfc3339(datetime(2026, 11, 30, 9, 0))
