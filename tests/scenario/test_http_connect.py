"""Connecting a user's own Feishu calendar through the real HTTP app and the fake Feishu: /connect's card
opens Feishu's authorization page; the redirect back connects the user, with the tokens sealed at rest; a
replayed, expired, forged or someone else's state is refused with a page and changes nothing; /disconnect
forgets the tokens; without a public URL and secret key /connect says the operator has not enabled it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.fakes.fake_feishu import FakeFeishu, Fault
from tests.fakes.feishu_callbacks import Mention
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, open_harness

KEY = Fernet.generate_key().decode()
PUBLIC_URL = "https://smartflow.example.com"
CALLBACK = "/oauth/feishu/callback"


@pytest.fixture
async def h(db_url: str, fake_server: tuple[FakeFeishu, str]) -> AsyncIterator[Harness]:
    async with open_harness(db_url, fake_server, public_url=PUBLIC_URL, secret_key=KEY) as harness:
        yield harness


def authorize_url(card: dict[str, Any]) -> str:
    """The URL the card's button opens."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "button":
                found.extend(b["default_url"] for b in node.get("behaviors", []) if b["type"] == "open_url")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    (url,) = found
    return url


async def connect_link(h: Harness, open_id: str, text: str = "/connect") -> str:
    await h.message(open_id, text)
    await h.settle()
    return authorize_url(h.cards_to(open_id)[-1].card)


async def connected(h: Harness, open_id: str) -> str:
    """Connect the user through /connect, Feishu's authorization page and the callback; their user id."""
    url = await connect_link(h, open_id)
    assert (await follow(h, h.fake.oauth.authorize(url, open_id))).status_code == 200
    async with h.store.uow(readonly=True) as uow:
        user = await uow.users.get_by_open_id(open_id)
        assert user is not None
        return user.id


async def follow(h: Harness, redirect: str) -> Any:
    """The browser arriving at the redirect URL Feishu sent it to (our public URL, served by the app)."""
    assert redirect.startswith(PUBLIC_URL + CALLBACK + "?"), redirect
    return await h.client.get(redirect.removeprefix(PUBLIC_URL))


async def connection_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.store.uow(readonly=True) as uow:
        result = await uow.session.execute(sa.text("SELECT * FROM calendar_connections"))
        return [dict(row) for row in result.mappings().all()]


async def state_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.store.uow(readonly=True) as uow:
        result = await uow.session.execute(sa.text("SELECT nonce, user_id, used_at FROM oauth_states"))
        return [dict(row) for row in result.mappings().all()]


async def test_connect_opens_feishus_page_and_the_redirect_back_connects_the_user(h: Harness) -> None:
    url = await connect_link(h, ALICE)

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://accounts.feishu.cn/open-apis/authen/v1/authorize"
    )
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["client_id"] == h.fake.app_id
    assert query["redirect_uri"] == PUBLIC_URL + CALLBACK
    assert query["response_type"] == "code"
    scopes = query["scope"].split(" ")
    assert {"offline_access", "calendar:calendar", "calendar:calendar.event:create"} <= set(scopes)
    assert query["state"]

    page = await follow(h, h.fake.oauth.authorize(url, ALICE))

    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "已连接你的飞书日历" in page.text  # a first message wrote Chinese: the user's language
    (code_call,) = h.fake.oauth.calls_of("authorization_code")
    assert code_call.body["redirect_uri"] == PUBLIC_URL + CALLBACK
    assert code_call.body["client_secret"] == h.fake.app_secret
    (row,) = await connection_rows(h)
    assert row["status"] == "connected"
    assert "offline_access" in row["scope"]
    assert row["access_expires_at"] is not None
    assert row["refresh_expires_at"] is not None
    (state,) = await state_rows(h)
    assert state["used_at"] is not None


async def test_no_token_is_stored_in_clear(h: Harness) -> None:
    url = await connect_link(h, ALICE)
    await follow(h, h.fake.oauth.authorize(url, ALICE))

    issued = h.fake.oauth.issued_tokens()
    assert len(issued) == 2  # one access token, one refresh token
    (row,) = await connection_rows(h)
    stored = " ".join(str(v) for v in row.values())
    for token in issued:
        assert token not in stored
    # what is stored is the tokens, sealed under the secret key
    fernet = Fernet(KEY.encode())
    assert {fernet.decrypt(row["access_token"].encode()).decode(),
            fernet.decrypt(row["refresh_token"].encode()).decode()} == set(issued)  # fmt: skip


async def test_a_state_works_once(h: Harness) -> None:
    url = await connect_link(h, ALICE)
    redirect = h.fake.oauth.authorize(url, ALICE)
    assert (await follow(h, redirect)).status_code == 200
    before = await connection_rows(h)

    again = await follow(h, redirect)

    assert again.status_code == 400
    assert "已经用过" in again.text
    assert len(h.fake.oauth.calls_of("authorization_code")) == 1  # the code was not traded again
    assert await connection_rows(h) == before


async def test_an_expired_state_is_refused_and_changes_nothing(h: Harness) -> None:
    url = await connect_link(h, BOB, "/connect please")
    h.clock.advance(minutes=10, seconds=1)

    page = await follow(h, h.fake.oauth.authorize(url, BOB))

    assert page.status_code == 400
    assert "已过期" in page.text or "expired" in page.text
    assert h.fake.oauth.calls == []
    assert await connection_rows(h) == []
    (state,) = await state_rows(h)
    assert state["used_at"] is None


@pytest.mark.parametrize("tamper", ["signature", "user", "garbage", "missing_state", "missing_code"])
async def test_a_forged_or_incomplete_callback_is_refused_and_changes_nothing(
    h: Harness, tamper: str
) -> None:
    await connect_link(h, BOB)  # Bob's user row, to point a forged state at
    url = await connect_link(h, ALICE)
    redirect = h.fake.oauth.authorize(url, ALICE)
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirect).query).items()}
    nonce, user_id, expires, mac = query["state"].split(".")
    async with h.store.uow(readonly=True) as uow:
        bob = await uow.users.get_by_open_id(BOB)
        assert bob is not None
        bob_id = bob.id
    forged = {
        # Two characters of the MAC changed (to "AA", or "QQ" for a MAC that happens to end in "AA").
        "signature": f"{nonce}.{user_id}.{expires}.{mac[:-2]}{'QQ' if mac.endswith('AA') else 'AA'}",
        "user": f"{nonce}.{bob_id}.{expires}.{mac}",
        "garbage": "not-a-state",
    }
    if tamper == "missing_state":
        path = f"{CALLBACK}?code={query['code']}"
    elif tamper == "missing_code":
        path = f"{CALLBACK}?state={query['state']}"
    else:
        path = f"{CALLBACK}?code={query['code']}&state={forged[tamper]}"
    states = await state_rows(h)

    page = await h.client.get(path)

    assert page.status_code == 400
    assert "<html" in page.text
    assert h.fake.oauth.calls == []
    assert await connection_rows(h) == []
    assert await state_rows(h) == states
    # the real state still works afterwards: nothing was spent
    assert (await follow(h, redirect)).status_code == 200


async def test_another_accounts_consent_is_discarded(h: Harness) -> None:
    url = await connect_link(h, ALICE)

    page = await follow(h, h.fake.oauth.authorize(url, BOB))  # Bob's browser completes Alice's link

    assert page.status_code == 400
    assert "不是发送 /connect 的账号" in page.text
    assert len(h.fake.oauth.calls_of("authorization_code")) == 1
    assert await connection_rows(h) == []


async def test_a_declined_authorization_connects_nothing(h: Harness) -> None:
    url = await connect_link(h, ALICE)
    page = await follow(h, h.fake.oauth.decline(url))
    assert page.status_code == 400
    assert "没有同意授权" in page.text
    assert await connection_rows(h) == []


async def test_feishu_refusing_the_code_connects_nothing(h: Harness) -> None:
    url = await connect_link(h, ALICE)
    h.fake.inject("oauth_token", Fault.server_error(503))
    page = await follow(h, h.fake.oauth.authorize(url, ALICE))
    assert page.status_code == 502
    assert "飞书没有接受" in page.text
    assert await connection_rows(h) == []


async def test_the_page_is_in_english_for_an_english_user(h: Harness) -> None:
    await h.add_user(ALICE, locale="en")
    url = await connect_link(h, ALICE)
    card = h.cards_to(ALICE)[-1].card
    assert card["schema"] == "2.0"
    assert card["header"]["title"]["content"] == "Connect your Feishu calendar"
    page = await follow(h, h.fake.oauth.authorize(url, ALICE))
    assert "Your Feishu calendar is connected." in page.text
    assert 'lang="en"' in page.text


async def test_disconnect_deletes_the_tokens(h: Harness) -> None:
    url = await connect_link(h, ALICE)
    await follow(h, h.fake.oauth.authorize(url, ALICE))
    assert len(await connection_rows(h)) == 1

    await h.message(ALICE, "/disconnect")
    await h.settle()
    assert h.texts_to(ALICE)[-1] == "已断开飞书日历，保存的授权已删除。"
    assert await connection_rows(h) == []

    await h.message(ALICE, "/disconnect")
    await h.settle()
    assert h.texts_to(ALICE)[-1] == "你还没有连接飞书日历。"


async def test_connect_in_a_group_points_to_the_private_chat(h: Harness) -> None:
    mention = Mention("@_user_1", h.cb.bot_open_id)
    await h.message(ALICE, "@_user_1 /connect", chat_type="group", chat_id="oc_team", mentions=[mention])
    await h.settle()
    texts = [m.text for m in h.fake.messages_to("oc_team") if m.msg_type == "text"]
    assert texts == ["请在和我的单聊里发送 /connect：授权链接只能给你本人。"]
    assert await state_rows(h) == []


@pytest.mark.parametrize("missing", ["public_url", "secret_key"])
async def test_without_a_public_url_or_secret_key_connect_says_it_is_not_enabled(
    db_url: str, fake_server: tuple[FakeFeishu, str], missing: str
) -> None:
    settings = {"public_url": PUBLIC_URL, "secret_key": KEY}
    del settings[missing]
    async with open_harness(db_url, fake_server, **settings) as h:
        await h.add_user(BOB, locale="en")
        await h.message(ALICE, "/connect")
        await h.message(BOB, "/connect")
        await h.settle()
        assert h.cards_to(ALICE) == []
        assert h.cards_to(BOB) == []
        (zh,) = h.texts_to(ALICE)
        (en,) = h.texts_to(BOB)
        assert "管理员还没有开启日历连接" in zh
        assert "The operator has not enabled calendar connection" in en
        assert await state_rows(h) == []
        page = await h.client.get(f"{CALLBACK}?code=x&state=a.b.1.c")
        assert page.status_code == 400
        assert await connection_rows(h) == []
