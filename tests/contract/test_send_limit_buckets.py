"""The Feishu client's limits as app.wiring shares them through the database: each Open API method its own
1000 a minute and 50 a second (no bucket for the app as a whole), 5 a second per recipient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from app.settings import Settings
from app.wiring import make_feishu_client, send_limiters
from bot.feishu.client import API_BUCKETS
from bot.feishu.ratelimit import AllOf
from store import Store
from store.models import SendSlot
from store.throttle import SharedLimiter
from tests.fakes.fake_feishu import FakeFeishu, serve_fake_feishu

CARD = {"schema": "2.0", "config": {"update_multi": True}, "body": {"elements": []}}


@pytest.fixture
def fake_feishu() -> Iterator[tuple[FakeFeishu, str]]:
    with serve_fake_feishu(FakeFeishu(enforce_limits=True)) as served:
        yield served


def _settings(db_url: str, feishu_url: str, fake: FakeFeishu) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        feishu_app_id=fake.app_id,
        feishu_app_secret=fake.app_secret,
        feishu_domain=feishu_url,
        shared_send_limits=True,
    )


async def test_send_limiters_name_one_pair_per_api(sqlite_url: str) -> None:
    settings = Settings(_env_file=None, database_url=sqlite_url)  # type: ignore[call-arg]
    store = Store(sqlite_url)
    limiters = send_limiters(settings, store)
    await store.dispose()

    assert set(limiters) == {"user", "freebusy", *API_BUCKETS}
    assert {"message.create", "message.patch", "card.update"} <= set(API_BUCKETS)
    for api in API_BUCKETS:
        pair = limiters[api]
        assert isinstance(pair, AllOf)
        assert all(isinstance(limiter, SharedLimiter) for limiter in pair.limiters)


async def test_each_api_is_counted_in_its_own_buckets(
    db_url: str, fake_feishu: tuple[FakeFeishu, str]
) -> None:
    fake, url = fake_feishu
    settings = _settings(db_url, url, fake)
    store = Store(db_url)
    try:
        client = make_feishu_client(settings, store)
        assert client is not None
        async with client:
            message_id = await client.send_card("ou_a", CARD, uuid="n1")
            await client.send_card("ou_b", CARD, uuid="n2")
            await client.patch_card(message_id, CARD)
            await client.delayed_update("c-token", CARD)
        async with store.engine.connect() as conn:
            rows = (
                await conn.execute(sa.select(SendSlot.bucket, sa.func.count()).group_by(SendSlot.bucket))
            ).all()
    finally:
        await store.dispose()

    slots = dict(rows)
    assert {b: n for b, n in slots.items() if not b.startswith("user:")} == {
        "message.create.minute:app": 1000,
        "message.create.second:app": 50,
        "message.patch.minute:app": 1000,
        "message.patch.second:app": 50,
        "card.update.minute:app": 1000,
        "card.update.second:app": 50,
    }
    assert {b for b in slots if b.startswith("user:")} == {
        "user:ou_a",
        "user:ou_b",
        f"user:msg:{message_id}",
    }
    assert fake.throttled == 0
