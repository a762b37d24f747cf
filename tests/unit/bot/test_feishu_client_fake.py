"""The fake Feishu itself: uuid window, enforced limits, a separate process with an admin API."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.feishu.client import FeishuClient
from bot.feishu.errors import FeishuRateLimitedError
from tests.fakes.fake_feishu import FakeFeishu, Fault, serve_fake_feishu

ROOT = Path(__file__).resolve().parents[3]
CARD = {"schema": "2.0", "body": {"elements": []}}


async def test_uuid_is_forgotten_after_an_hour() -> None:
    now = [1_700_000_000.0]
    with serve_fake_feishu(FakeFeishu(clock=lambda: now[0], token_expire=100_000)) as (fake, url):
        async with FeishuClient(fake.app_id, fake.app_secret, url) as client:
            first = await client.send_card("ou_a", CARD, uuid="n1")
            now[0] += 3599
            assert await client.send_card("ou_a", CARD, uuid="n1") == first
            now[0] += 2
            second = await client.send_card("ou_a", CARD, uuid="n1")

    assert second != first
    assert len(fake.messages) == 2


async def test_enforced_limit_refuses_a_sixth_message_within_a_second() -> None:
    # Without the client's own throttle the burst trips Feishu's 5 per second per user.
    with serve_fake_feishu(FakeFeishu(enforce_limits=True)) as (fake, url):
        async with FeishuClient(fake.app_id, fake.app_secret, url, max_per_user_per_second=100) as client:
            results = await asyncio.gather(
                *(client.send_card("ou_a", CARD, uuid=f"n{i}") for i in range(8)), return_exceptions=True
            )

    refused = [r for r in results if isinstance(r, FeishuRateLimitedError)]
    assert len(refused) == 3
    assert {r.code for r in refused} == {230020}
    assert fake.throttled == 3
    assert len(fake.messages) == 5


async def test_enforced_app_limits_count_each_api_per_second_and_per_minute() -> None:
    # Small limits stand in for Feishu's 50 a second and 1000 a minute per API; the client's own limits are
    # set out of the way so the fake's answers show.
    now = [500.0]
    fake = FakeFeishu(enforce_limits=True, app_qps=3, app_per_minute=5, limits_clock=lambda: now[0])
    with serve_fake_feishu(fake) as (fake, url):
        async with FeishuClient(
            fake.app_id,
            fake.app_secret,
            url,
            max_per_user_per_second=100,
            max_per_api_per_second=100,
            max_per_api_per_minute=100,
        ) as client:
            for i in range(3):
                await client.send_card(f"ou_{i}", CARD, uuid=f"a{i}")
                await client.delayed_update(f"t{i}", CARD)  # a budget of its own
            with pytest.raises(FeishuRateLimitedError) as per_second:
                await client.send_card("ou_x", CARD, uuid="x1")
            with pytest.raises(FeishuRateLimitedError):
                await client.delayed_update("tx", CARD)

            now[0] += 1.0  # a new second, still the same minute: two more messages make five
            for i in range(3, 5):
                await client.send_card(f"ou_{i}", CARD, uuid=f"a{i}")
            with pytest.raises(FeishuRateLimitedError) as per_minute:
                await client.send_card("ou_y", CARD, uuid="y1")
            await client.delayed_update("t3", CARD)  # four of its five this minute

            now[0] += 59.0  # the first three messages' minute is over
            await client.send_card("ou_y", CARD, uuid="y1")

    for refused in (per_second.value, per_minute.value):
        assert (refused.http_status, refused.code) == (429, 99991400)
    assert per_second.value.retry_after == 1
    assert per_minute.value.retry_after == 59  # x-ogw-ratelimit-reset: when the minute lets one in
    assert fake.throttled == 3
    assert len(fake.messages) == 6
    assert len(fake.card_updates) == 4


@pytest.fixture
def fake_process() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fake_feishu", "--port", "0", "--app-secret", "s3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_separate_process_with_admin_api(fake_process: str) -> None:
    url = fake_process
    async with httpx.AsyncClient(base_url=url) as admin:
        fault = {"status": 429, "code": 99991400, "headers": {"x-ogw-ratelimit-reset": "2"}}
        (
            await admin.post("/_admin/faults", json={"endpoint": "create", "faults": [fault]})
        ).raise_for_status()
        async with FeishuClient("cli_fake", "s3", url) as client:
            with pytest.raises(FeishuRateLimitedError) as info:
                await client.send_card("ou_a", CARD, uuid="n1")
            message_id = await client.send_card("ou_a", CARD, uuid="n1")
        state = (await admin.get("/_admin/state")).json()

        assert info.value.retry_after == 2
        assert [m["message_id"] for m in state["messages"]] == [message_id]
        assert state["requests"]["create"] == 2
        assert state["token_requests"] == 1

        (await admin.post("/_admin/reset")).raise_for_status()
        assert (await admin.get("/_admin/state")).json()["messages"] == []


def test_fault_json_round_trip() -> None:
    fault = Fault.from_json({"status": 400, "code": 230020, "msg": "m", "delay": 0.5})
    assert (fault.status, fault.code, fault.delay, fault.is_error) == (400, 230020, 0.5, True)
    assert not Fault.slow(1).is_error
