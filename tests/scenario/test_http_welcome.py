"""A new user's first message (in their chat with the bot) gets a welcome before the answer: what the bot
does and the defaults it assumed, with how to change them; later messages, redeliveries and group
messages do not."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet

from store.models import User
from tests.contract.services.builders import rows
from tests.fakes.fake_feishu import FakeFeishu
from tests.fakes.feishu_callbacks import Mention
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, card_of, open_harness


async def test_the_first_message_is_welcomed_once_then_answered(harness: Harness) -> None:
    h = harness
    await h.message(ALICE, "/tasks", message_id="om_w1")
    await h.message(ALICE, "/tasks", message_id="om_w1")  # a redelivery: nothing more
    await h.message(ALICE, "/today", message_id="om_w2")
    await h.settle()

    every = h.all_texts_to(ALICE)
    (welcome,) = h.welcomes_to(ALICE)
    assert every[0] == welcome  # before the first answer
    assert "Asia/Shanghai" in welcome
    assert "08:00–22:30" in welcome
    assert "/prefs tz" in welcome
    assert len(h.texts_to(ALICE)) == 2  # the two answers


async def test_an_english_first_message_is_welcomed_in_english(harness: Harness) -> None:
    h = harness
    await h.message(BOB, "what can you do for me", message_id="om_w3")
    await h.settle()
    (welcome,) = h.welcomes_to(BOB)
    assert welcome.startswith("Hi! I am SmartFlow")
    assert "press Apply" in welcome


async def test_the_welcome_offers_connect_only_when_the_operator_turned_it_on(
    harness: Harness, db_url: str, fake_server: tuple[FakeFeishu, str]
) -> None:
    await harness.message(ALICE, "/tasks", message_id="om_wc1")
    await harness.settle()
    (welcome,) = harness.welcomes_to(ALICE)
    assert "/connect" not in welcome  # no public URL and secret key: /connect would only say it is off

    async with open_harness(
        db_url,
        fake_server,
        public_url="https://smartflow.example.com",
        secret_key=Fernet.generate_key().decode(),
    ) as h:
        await h.message(BOB, "/tasks", message_id="om_wc2")
        await h.settle()
        (welcome,) = h.welcomes_to(BOB)
        assert "/connect" in welcome
        assert "/disconnect" in welcome


async def test_a_known_user_and_a_group_message_get_no_welcome(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await h.message(ALICE, "/tasks", message_id="om_w4")
    mention = Mention("@_user_1", h.cb.bot_open_id)
    await h.message(
        BOB, "@_user_1 /tasks", message_id="om_w5", chat_type="group", chat_id="oc_team", mentions=[mention]
    )
    await h.settle()
    assert h.welcomes_to(ALICE) == []
    assert [m for m in h.fake.messages_to("oc_team") if m.text.startswith("你好！我是")] == []


def _select(card: dict[str, Any], field: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "select_static" and node.get("element_id") == f"welcome_{field}":
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    (select,) = found
    return select


async def test_the_welcome_is_a_card_whose_selects_change_the_settings_once(harness: Harness) -> None:
    h = harness
    await h.message(ALICE, "/tasks", message_id="om_w6")
    await h.settle()
    (card,) = h.welcome_cards_to(ALICE)
    tz = _select(card.card, "tz")
    assert tz["initial_option"] == "Asia/Shanghai"
    assert _select(card.card, "day")["initial_option"] == "08:00-22:30"

    value = tz["behaviors"][0]["value"]
    response = await h.click(ALICE, value, card.message_id, option="Europe/Berlin", tag="select_static")
    body = json.loads(response.content)
    assert body["toast"]["type"] == "success"
    assert _select(card_of(response), "tz")["initial_option"] == "Europe/Berlin"
    (user,) = await rows(h.store, User, open_id=ALICE)
    assert user.timezone == "Europe/Berlin"

    day = _select(card.card, "day")["behaviors"][0]["value"]
    await h.click(ALICE, day, card.message_id, option="09:00-23:00", tag="select_static")
    (user,) = await rows(h.store, User, open_id=ALICE)
    assert (user.day_start, user.day_end) == ("09:00", "23:00")

    bad = await h.click(ALICE, value, card.message_id, option="Mars/Olympus", tag="select_static")
    assert json.loads(bad.content)["toast"]["type"] == "error"
    (user,) = await rows(h.store, User, open_id=ALICE)
    assert user.timezone == "Europe/Berlin"  # unchanged
