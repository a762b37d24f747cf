"""A new user's first message (in their chat with the bot) gets a welcome before the answer: what the bot
does and the defaults it assumed, with how to change them; later messages, redeliveries and group
messages do not."""

from __future__ import annotations

from tests.fakes.feishu_callbacks import Mention
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness


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
