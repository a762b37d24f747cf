"""An "unfinished" report or a task read from plain words is acknowledged at once with a reaction on the
user's message (POST /open-apis/im/v1/messages/:message_id/reactions), before the card or answer; other
messages, redeliveries and menu presses get none, and a failed reaction changes nothing else."""

from __future__ import annotations

import json

from tests.fakes.fake_feishu import Fault
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness, at


async def _report_setup(h: Harness) -> None:
    user_id = await h.add_user(ALICE)
    words = await h.add_task(user_id, "六级单词", estimate_minutes=30, deadline=at(23))
    await h.add_block(user_id, words, at(8, 15), 30)  # ended at 08:45; it is 09:00


async def test_a_report_gets_a_reaction_before_its_card(harness: Harness) -> None:
    h = harness
    await _report_setup(h)
    request = h.cb.message(ALICE, "六级单词没做完", message_id="om_report1")
    await h.post(request)
    await h.settle()
    await h.run_worker()

    (reaction,) = h.fake.reactions
    assert (reaction.message_id, reaction.emoji_type) == ("om_report1", "OK")
    (card,) = h.cards_to(ALICE)
    assert reaction.at < card.created_at

    await h.post(request)  # Feishu delivers it again: no second reaction
    await h.settle()
    assert len(h.fake.reactions) == 1


async def test_a_task_in_plain_words_gets_a_reaction_and_other_messages_none(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await h.post(h.cb.message(ALICE, "/tasks", message_id="om_plain1"))
    await h.post(h.cb.message(ALICE, "明天下午3点前交实验报告，大概2小时", message_id="om_capture1"))
    await h.post(h.cb.bot_menu(ALICE, "tasks"))
    await h.settle()
    assert [(r.message_id, r.emoji_type) for r in h.fake.reactions] == [("om_capture1", "OK")]
    (card,) = h.cards_to(ALICE)  # the capture form
    assert "/add 交实验报告 120" in json.dumps(card.card, ensure_ascii=False)


async def test_a_failed_reaction_still_lets_the_card_come(harness: Harness) -> None:
    h = harness
    await _report_setup(h)
    h.fake.inject("reaction", Fault(status=400, code=231003, msg="The message is not found."))
    await h.post(h.cb.message(ALICE, "六级单词没做完", message_id="om_report2"))
    await h.settle()
    await h.run_worker()
    assert h.fake.reactions == []
    assert len(h.cards_to(ALICE)) == 1
