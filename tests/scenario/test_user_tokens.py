"""A connected user's access token: refreshed when it expires within five minutes, by exactly one of two
processes racing for it (Feishu refresh tokens work once), both getting the new token; a refresh Feishu
refuses as revoked marks the connection broken and tells the user once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.feishu.oauth import FeishuOAuthClient
from bot.handlers.connect import ChatBrokenNotice
from scheduler.services.oauth import TokenCipher
from scheduler.services.usertokens import ConnectionBroken, NotConnected, TokenUnavailable, UserTokens
from store import Store
from tests.fakes.fake_feishu import FakeFeishu, Fault
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, open_harness
from tests.scenario.test_http_connect import KEY, PUBLIC_URL, connected

BROKEN_TEXT = "你的飞书日历连接已失效"


@pytest.fixture
async def h(db_url: str, fake_server: tuple[FakeFeishu, str]) -> AsyncIterator[Harness]:
    async with open_harness(db_url, fake_server, public_url=PUBLIC_URL, secret_key=KEY) as harness:
        yield harness


def tokens_of(h: Harness) -> UserTokens:
    assert h.components.user_tokens is not None
    return h.components.user_tokens


@pytest.fixture
async def other_process(h: Harness) -> AsyncIterator[UserTokens]:
    """A second process on the same database: its own engine, its own Feishu client."""
    settings = h.components.settings
    store = Store(settings.database_url)
    client = FeishuOAuthClient(settings.feishu_app_id, settings.feishu_app_secret, settings.feishu_domain, 5)
    assert h.components.feishu is not None
    try:
        yield UserTokens(store, client, TokenCipher(KEY), ChatBrokenNotice(h.components.feishu))
    finally:
        await client.aclose()
        await store.dispose()


def broken_notices(h: Harness, open_id: str) -> list[str]:
    return [x for x in h.texts_to(open_id) if x.startswith(BROKEN_TEXT)]


async def test_a_fresh_token_is_used_as_it_is(h: Harness) -> None:
    user_id = await connected(h, ALICE)
    (issued,) = h.fake.oauth.calls_of("authorization_code")
    assert issued.code == 0

    token = await tokens_of(h).access_token(user_id, h.clock.now + timedelta(minutes=90))

    assert token.startswith("u-fake-access-")
    assert h.fake.oauth.calls_of("refresh_token") == []


async def test_two_processes_refreshing_at_once_spend_the_refresh_token_once(
    h: Harness, other_process: UserTokens
) -> None:
    user_id = await connected(h, ALICE)
    first = await tokens_of(h).access_token(user_id, h.clock.now)
    h.fake.oauth.refresh_delay = 0.3  # the first refresh is still under way when the second one asks
    soon = h.clock.now + timedelta(hours=2) - timedelta(minutes=4)  # expires within five minutes

    a, b = await asyncio.gather(
        tokens_of(h).access_token(user_id, soon), other_process.access_token(user_id, soon)
    )

    assert a == b != first
    (refresh,) = h.fake.oauth.calls_of("refresh_token")
    assert refresh.code == 0
    # the stored grant is the new one: the next refresh (hours later) works
    later = soon + timedelta(hours=2)
    h.fake.oauth.refresh_delay = 0
    c = await other_process.access_token(user_id, later)
    assert c not in (a, first)
    assert [x.code for x in h.fake.oauth.calls_of("refresh_token")] == [0, 0]


async def test_a_revoked_grant_marks_the_connection_broken_and_tells_the_user_once(
    h: Harness, other_process: UserTokens
) -> None:
    user_id = await connected(h, ALICE)
    h.fake.oauth.revoke(ALICE)
    soon = h.clock.now + timedelta(hours=2)

    results = await asyncio.gather(
        tokens_of(h).access_token(user_id, soon),
        other_process.access_token(user_id, soon),
        return_exceptions=True,
    )
    assert all(isinstance(r, ConnectionBroken) for r in results), results
    with pytest.raises(ConnectionBroken):
        await tokens_of(h).access_token(user_id, soon + timedelta(minutes=1))

    (refresh,) = h.fake.oauth.calls_of("refresh_token")
    assert refresh.code == 20064
    async with h.store.uow(readonly=True) as uow:
        row = (
            await uow.session.execute(
                sa.text("SELECT status, broken_at, broken_notified_at, access_token, refresh_token "
                        "FROM calendar_connections")
            )
        ).one()  # fmt: skip
    assert row.status == "broken"
    assert row.broken_at is not None
    assert row.broken_notified_at is not None
    assert row.access_token is None
    assert row.refresh_token is None
    (notice,) = broken_notices(h, ALICE)
    assert "/connect" in notice


async def test_a_notice_that_could_not_be_sent_is_sent_by_the_next_caller(h: Harness) -> None:
    user_id = await connected(h, ALICE)
    h.fake.oauth.revoke(ALICE)
    h.fake.inject("create", Fault.invalid_content())
    soon = h.clock.now + timedelta(hours=2)

    with pytest.raises(ConnectionBroken):
        await tokens_of(h).access_token(user_id, soon)
    assert broken_notices(h, ALICE) == []
    with pytest.raises(ConnectionBroken):
        await tokens_of(h).access_token(user_id, soon)
    with pytest.raises(ConnectionBroken):
        await tokens_of(h).access_token(user_id, soon)

    assert len(broken_notices(h, ALICE)) == 1
    assert len(h.fake.oauth.calls_of("refresh_token")) == 1


async def test_a_feishu_outage_keeps_the_connection(h: Harness) -> None:
    user_id = await connected(h, ALICE)
    h.fake.inject("oauth_token", Fault.server_error(503))
    soon = h.clock.now + timedelta(hours=2)

    with pytest.raises(TokenUnavailable) as caught:
        await tokens_of(h).access_token(user_id, soon)
    assert caught.value.retryable

    token = await tokens_of(h).access_token(user_id, soon)  # Feishu answers again: refreshed
    assert token.startswith("u-fake-access-")
    assert broken_notices(h, ALICE) == []


async def test_no_connection_no_token(h: Harness) -> None:
    user_id = await h.add_user(BOB)
    with pytest.raises(NotConnected):
        await tokens_of(h).access_token(user_id, h.clock.now)
    await connected(h, ALICE)
    await h.message(ALICE, "/disconnect")
    await h.settle()
    async with h.store.uow(readonly=True) as uow:
        alice = await uow.users.get_by_open_id(ALICE)
        assert alice is not None
        alice_id = alice.id
    with pytest.raises(NotConnected):
        await tokens_of(h).access_token(alice_id, h.clock.now)
