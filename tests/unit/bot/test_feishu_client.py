"""FeishuClient against the fake Feishu Open API over real loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from bot.feishu.client import FeishuClient
from bot.feishu.errors import (
    FeishuCardTooLargeError,
    FeishuError,
    FeishuNetworkError,
    FeishuPermanentError,
    FeishuRateLimitedError,
    FeishuServerError,
    FeishuTimeoutError,
    FeishuTokenError,
)
from tests.fakes.fake_feishu import FakeFeishu, Fault, serve_fake_feishu

CARD = {
    "schema": "2.0",
    "config": {"update_multi": True},
    "body": {"elements": [{"tag": "markdown", "content": "改"}]},
}


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps or the test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeFeishu, str]]:
    with serve_fake_feishu() as served:
        yield served


@pytest.fixture
def fake(server: tuple[FakeFeishu, str]) -> FakeFeishu:
    fake = server[0]
    fake.reset()
    fake.token_expire = 7200
    fake.enforce_limits = False
    fake.app_qps, fake.app_per_minute, fake.limits_clock = 50, 1000, time.monotonic
    return fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(
    server: tuple[FakeFeishu, str], fake: FakeFeishu, clock: FakeClock
) -> AsyncIterator[FeishuClient]:
    async with FeishuClient(
        fake.app_id, fake.app_secret, server[1], timeout_seconds=2.0, clock=clock, sleep=clock.sleep
    ) as c:
        yield c


async def test_send_card_delivers_the_card_with_uuid(client: FeishuClient, fake: FakeFeishu) -> None:
    message_id = await client.send_card("ou_alice", CARD, uuid="notif-1")

    [msg] = fake.messages_to("ou_alice")
    assert msg.message_id == message_id
    assert (msg.receive_id_type, msg.msg_type, msg.uuid) == ("open_id", "interactive", "notif-1")
    assert msg.card == CARD


async def test_repeated_uuid_yields_one_message(client: FeishuClient, fake: FakeFeishu) -> None:
    first = await client.send_card("ou_alice", CARD, uuid="notif-1")
    second = await client.send_card("ou_alice", CARD, uuid="notif-1")

    assert first == second
    assert len(fake.messages) == 1


async def test_429_with_reset_header_is_retryable_with_retry_after(
    client: FeishuClient, fake: FakeFeishu
) -> None:
    fake.inject("create", Fault.rate_limited(reset_seconds=7))

    with pytest.raises(FeishuRateLimitedError) as info:
        await client.send_card("ou_alice", CARD, uuid="n1")

    assert info.value.retryable
    assert info.value.retry_after == 7
    assert info.value.http_status == 429
    assert fake.messages == []


async def test_230020_is_retryable(client: FeishuClient, fake: FakeFeishu) -> None:
    fake.inject("create", Fault.user_rate_limited())

    with pytest.raises(FeishuRateLimitedError) as info:
        await client.send_card("ou_alice", CARD, uuid="n1")

    assert info.value.retryable
    assert info.value.code == 230020


async def test_5xx_html_page_is_retryable(client: FeishuClient, fake: FakeFeishu) -> None:
    fake.inject("create", Fault.server_error(502))

    with pytest.raises(FeishuServerError) as info:
        await client.send_card("ou_alice", CARD, uuid="n1")

    assert info.value.retryable
    assert info.value.code == "http_502"


async def test_timeout_is_retryable_and_resend_with_same_uuid_stays_single(
    server: tuple[FakeFeishu, str], fake: FakeFeishu
) -> None:
    # The slow request still lands at Feishu after the client gave up: the outcome was unknown, not failed.
    # generous margins: a loaded CI machine must not turn the second, fast send into a timeout too
    fake.inject("create", Fault.slow(2.0))
    async with FeishuClient(fake.app_id, fake.app_secret, server[1], timeout_seconds=0.7) as client:
        with pytest.raises(FeishuTimeoutError) as info:
            await client.send_card("ou_alice", CARD, uuid="n1")
        assert info.value.retryable

        message_id = await client.send_card("ou_alice", CARD, uuid="n1")

    await asyncio.sleep(2.0)  # let the slow request finish on the server before counting
    assert fake.requests("create") == 2
    assert [m.message_id for m in fake.messages] == [message_id]


async def test_calls_beyond_the_pool_wait_and_all_are_made(
    server: tuple[FakeFeishu, str], fake: FakeFeishu
) -> None:
    """More calls at once than the pool has connections: the others wait in the client (not in httpcore's
    queue, which it rescans on every freed connection), and every call is made."""
    fake.inject("card_update", *[Fault.slow(0.3)] * 6)
    async with FeishuClient(fake.app_id, fake.app_secret, server[1], max_connections=2) as client:
        await client.delayed_update("c-warm", CARD)  # the token first, so only the updates are counted
        calls = [asyncio.create_task(client.delayed_update(f"c-{n}", CARD)) for n in range(6)]
        for _ in range(200):  # until the first two reach the fake (each then takes 0.3 s there)
            if fake.requests("card_update") >= 1 + 2:
                break
            await asyncio.sleep(0.01)
        assert fake.requests("card_update") == 1 + 2  # the warm-up, then two at a time
        await asyncio.wait_for(asyncio.gather(*calls), 10)
    assert fake.requests("card_update") == 7
    assert sorted(u.token for u in fake.card_updates) == ["c-0", "c-1", "c-2", "c-3", "c-4", "c-5", "c-warm"]


async def test_token_expired_refreshes_once_then_succeeds(client: FeishuClient, fake: FakeFeishu) -> None:
    await client.send_card("ou_alice", CARD, uuid="n1")
    fake.inject("create", Fault.token_expired())

    await client.send_card("ou_alice", CARD, uuid="n2")

    assert fake.token_requests == 2
    assert fake.requests("create") == 3
    assert [m.uuid for m in fake.messages] == ["n1", "n2"]


async def test_token_revoked_early_is_evicted_and_replaced(client: FeishuClient, fake: FakeFeishu) -> None:
    await client.send_card("ou_alice", CARD, uuid="n1")
    fake.revoke_tokens()  # what a secret reset does: the cached token dies long before its expiry

    await client.send_card("ou_alice", CARD, uuid="n2")

    first, second = fake.messages
    assert first.token != second.token
    assert fake.token_requests == 2


async def test_token_refused_twice_gives_up_after_one_refresh(client: FeishuClient, fake: FakeFeishu) -> None:
    fake.inject("create", Fault.token_expired(), Fault.token_expired(), Fault.token_expired())

    with pytest.raises(FeishuTokenError) as info:
        await client.send_card("ou_alice", CARD, uuid="n1")

    assert info.value.retryable
    assert fake.requests("create") == 2
    assert fake.token_requests == 2


async def test_230001_is_permanent(client: FeishuClient, fake: FakeFeishu) -> None:
    fake.inject("create", Fault.invalid_content())

    with pytest.raises(FeishuPermanentError) as info:
        await client.send_card("ou_alice", CARD, uuid="n1")

    assert not info.value.retryable
    assert info.value.code == 230001
    assert fake.requests("create") == 1


async def test_wrong_app_secret_is_permanent(server: tuple[FakeFeishu, str], fake: FakeFeishu) -> None:
    async with FeishuClient(fake.app_id, "not-the-secret", server[1]) as client:
        with pytest.raises(FeishuError) as info:
            await client.send_card("ou_alice", CARD, uuid="n1")

    assert not info.value.retryable
    assert info.value.code == 10014
    assert fake.requests("create") == 0


async def test_card_over_30kb_is_refused_before_sending(client: FeishuClient, fake: FakeFeishu) -> None:
    big = {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": "排" * 11_000}]}}

    with pytest.raises(FeishuCardTooLargeError) as info:
        await client.send_card("ou_alice", big, uuid="n1")

    assert not info.value.retryable
    assert fake.requests("create") == 0
    assert fake.requests("token") == 0


async def test_unreachable_server_is_a_retryable_network_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but never listening: connections are refused
        async with FeishuClient("cli_x", "secret", f"http://127.0.0.1:{port}", timeout_seconds=2.0) as client:
            with pytest.raises(FeishuNetworkError) as info:
                await client.send_card("ou_alice", CARD, uuid="n1")
    assert info.value.retryable


async def test_token_is_refreshed_ahead_of_expiry(
    client: FeishuClient, fake: FakeFeishu, clock: FakeClock
) -> None:
    fake.token_expire = 1000  # refresh due 300 s before expiry, at 700 s
    await client.send_card("ou_alice", CARD, uuid="n1")
    clock.now += 690
    await client.send_card("ou_alice", CARD, uuid="n2")
    assert fake.token_requests == 1

    clock.now += 20
    await client.send_card("ou_alice", CARD, uuid="n3")

    assert fake.token_requests == 2
    tokens = [m.token for m in fake.messages]
    assert tokens[0] == tokens[1] != tokens[2]


async def test_concurrent_sends_share_one_token_fetch(client: FeishuClient, fake: FakeFeishu) -> None:
    ids = await asyncio.gather(*(client.send_card(f"ou_user{i}", CARD, uuid=f"n{i}") for i in range(20)))

    assert fake.token_requests == 1
    assert len(set(ids)) == 20
    assert len(fake.messages) == 20


async def test_sixth_message_to_one_user_waits_for_the_window(
    client: FeishuClient, fake: FakeFeishu, clock: FakeClock
) -> None:
    for i in range(5):
        await client.send_card("ou_alice", CARD, uuid=f"a{i}")
    await client.send_card("ou_bob", CARD, uuid="b0")
    assert clock.sleeps == []

    await client.send_card("ou_alice", CARD, uuid="a5")

    assert clock.sleeps == [pytest.approx(1.0)]
    assert [m.uuid for m in fake.messages_to("ou_alice")] == [f"a{i}" for i in range(6)]


async def test_client_throttle_keeps_a_burst_under_feishu_limit(
    server: tuple[FakeFeishu, str], fake: FakeFeishu
) -> None:
    fake.enforce_limits = True  # the fake now answers 230020 above 5 messages per second per user
    async with FeishuClient(fake.app_id, fake.app_secret, server[1]) as client:
        await asyncio.gather(*(client.send_card("ou_alice", CARD, uuid=f"n{i}") for i in range(7)))

    assert fake.throttled == 0
    assert len(fake.messages) == 7


class FrozenClock:
    """Time that stands still: a wait for the limiter's window blocks until the test moves time on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeping = 0
        self.woken = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeping += 1
        await self.woken.wait()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.woken.set()


async def _until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout=20)  # only a guard against hanging


async def test_each_api_has_its_own_50_a_second(server: tuple[FakeFeishu, str], fake: FakeFeishu) -> None:
    # 60 messages and 60 delayed updates at once: 50 of each go in the first second (the app's limit is
    # per API, not one for all), 10 of each wait for the next; Feishu, counting the same way, refuses none.
    clock = FrozenClock()
    fake.enforce_limits, fake.limits_clock = True, clock
    async with FeishuClient(
        fake.app_id, fake.app_secret, server[1], timeout_seconds=5, clock=clock, sleep=clock.sleep
    ) as client:
        calls = [
            *(asyncio.create_task(client.send_card(f"ou_u{i}", CARD, uuid=f"n{i}")) for i in range(60)),
            *(asyncio.create_task(client.delayed_update(f"c-token-{i}", CARD)) for i in range(60)),
        ]
        try:
            # Each API's first waiter sleeps for the next second, and nothing more goes out meanwhile.
            await _until(
                lambda: len(fake.messages) == 50 and len(fake.card_updates) == 50 and clock.sleeping == 2
            )
            clock.advance(1.0)
            await asyncio.wait_for(asyncio.gather(*calls), timeout=20)
        finally:
            for c in calls:
                c.cancel()

    assert len(fake.messages) == 60
    assert len(fake.card_updates) == 60
    assert fake.throttled == 0


async def test_an_api_waits_for_its_minute_without_holding_back_the_others(
    server: tuple[FakeFeishu, str], fake: FakeFeishu, clock: FakeClock
) -> None:
    # Small limits stand in for Feishu's 1000 a minute: the fourth message waits for the first one's minute
    # to end, the delayed updates (a method of their own) do not wait at all.
    fake.enforce_limits, fake.app_per_minute, fake.limits_clock = True, 3, clock
    async with FeishuClient(
        fake.app_id,
        fake.app_secret,
        server[1],
        timeout_seconds=5,
        clock=clock,
        sleep=clock.sleep,
        max_per_api_per_minute=3,
    ) as client:
        for i in range(3):
            await client.send_card(f"ou_u{i}", CARD, uuid=f"n{i}")
            await client.delayed_update(f"c-token-{i}", CARD)
        assert clock.sleeps == []

        await client.send_card("ou_u3", CARD, uuid="n3")

    assert clock.sleeps == [pytest.approx(60.0)]
    assert len(fake.messages) == 4
    assert fake.throttled == 0


async def test_text_to_chat_reply_patch_and_delayed_update(client: FeishuClient, fake: FakeFeishu) -> None:
    text_id = await client.send_text("oc_team", "你好", uuid="t1")
    reply_id = await client.reply_text(text_id, "收到", uuid="r1")
    card_id = await client.send_card("ou_alice", CARD, uuid="c1")
    applied = {**CARD, "body": {"elements": [{"tag": "markdown", "content": "已应用"}]}}
    await client.patch_card(card_id, applied)
    await client.delayed_update("c-callback-token", applied)

    text, reply, _ = fake.messages
    assert (text.receive_id, text.receive_id_type, text.text) == ("oc_team", "chat_id", "你好")
    assert (reply.message_id, reply.parent_id, reply.text) == (reply_id, text_id, "收到")
    assert json.loads(fake.current_content(card_id)) == applied
    [update] = fake.card_updates
    assert (update.token, update.card) == ("c-callback-token", applied)


async def test_patch_of_unknown_message_is_permanent(client: FeishuClient, fake: FakeFeishu) -> None:
    with pytest.raises(FeishuPermanentError) as info:
        await client.patch_card("om_missing", CARD)
    assert info.value.code == 230001
    assert fake.patches == []
