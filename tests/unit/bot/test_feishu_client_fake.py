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
