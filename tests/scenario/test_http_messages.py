"""Chat messages through the real HTTP app: feedback, redelivery, the ask_user round trip, commands."""

from __future__ import annotations

import json

from tests.fakes.feishu_callbacks import Mention
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ADMIN, ALICE, BOB, Harness, at, buttons, card_of


async def _alice_with_a_block_that_just_ended(h: Harness) -> tuple[str, str]:
    user_id = await h.add_user(ALICE)
    task_id = await h.add_task(user_id, "实验报告", estimate_minutes=120, deadline=at(22))
    await h.add_block(user_id, task_id, at(8), 45)  # ended 15 minutes before NOW (09:00)
    return user_id, task_id


async def test_unfinished_gets_a_repair_card(harness: Harness) -> None:
    h = harness
    await _alice_with_a_block_that_just_ended(h)

    response = await h.message(ALICE, "没做完")

    assert response.status_code == 200
    await h.run_worker()
    cards = h.cards_to(ALICE)
    assert len(cards) == 1
    assert any(v["k"] == "apply" for v in buttons(cards[0].card))
    assert await h.count("triggers", type="user_feedback", status="preview_generated") == 1
    assert await h.count("previews", decision="propose") == 1


async def test_the_same_message_delivered_four_times_makes_one_trigger_and_one_card(harness: Harness) -> None:
    h = harness
    await _alice_with_a_block_that_just_ended(h)
    event = h.cb.message_event(ALICE, "刚才那个没做完，还差30分钟")

    for n in range(4):  # Feishu's retry ladder re-pushes the same message with a new event id
        event["header"]["event_id"] = f"evt-{n}"
        response = await h.post(h.cb.sign(event))
        assert response.status_code == 200
        await h.run_worker()

    assert await h.count("triggers") == 1
    assert await h.count("inbox", kind="message") == 1
    assert len(h.cards_to(ALICE)) == 1


async def test_an_ambiguous_report_asks_which_block_and_the_choice_gets_a_repair_card(
    harness: Harness,
) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    report = await h.add_task(user_id, "实验报告", estimate_minutes=120, deadline=at(22))
    reading = await h.add_task(user_id, "阅读论文", estimate_minutes=60, deadline=at(22))
    await h.add_block(user_id, report, at(8), 30)  # 08:00-08:30
    chosen = await h.add_block(user_id, reading, at(8, 30), 20)  # 08:30-08:50: both just ended

    await h.message(ALICE, "刚才那个没做完")
    await h.run_worker()

    asked = h.cards_to(ALICE)
    assert len(asked) == 1
    choices = [v for v in buttons(asked[0].card) if v["k"] == "choose"]
    assert {v["c"] for v in choices} >= {chosen}
    pick = next(v for v in choices if v["c"] == chosen)

    response = await h.click(ALICE, pick, asked[0].message_id)

    assert response.status_code == 200
    assert json.loads(response.content)["toast"]["type"] == "info"
    replaced = card_of(response)
    assert buttons(replaced) == []  # answered: nothing left to press
    assert "已选择" in json.dumps(replaced, ensure_ascii=False)
    await h.run_worker()
    cards = h.cards_to(ALICE)
    assert len(cards) == 2
    assert any(v["k"] == "apply" for v in buttons(cards[1].card))
    assert await h.count("triggers", type="user_feedback", block_id=chosen) == 1

    # the other button of the answered question does nothing (a stale client may still show it)
    other = next(v for v in choices if v["c"] != chosen)
    again = await h.click(ALICE, other, asked[0].message_id)
    assert json.loads(again.content)["toast"]["type"] == "error"
    await h.run_worker()
    assert len(h.cards_to(ALICE)) == 2
    # and an hour later the expiry sweep does not call the answered question "expired"
    h.clock.advance(hours=2)
    await h.run_worker()
    patched = [
        json.dumps(p.card, ensure_ascii=False) for p in h.fake.patches if p.message_id == asked[0].message_id
    ]
    assert all("已过期" not in text for text in patched)


async def test_a_report_naming_two_matching_tasks_asks_between_their_blocks(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    lab = await h.add_task(user_id, "实验报告", estimate_minutes=120, deadline=at(22))
    weekly = await h.add_task(user_id, "周报告", estimate_minutes=60, deadline=at(22))
    other = await h.add_task(user_id, "阅读论文", estimate_minutes=60, deadline=at(22))
    lab_block = await h.add_block(user_id, lab, at(6), 30)
    weekly_block = await h.add_block(user_id, weekly, at(7), 30)
    await h.add_block(user_id, other, at(8, 30), 20)  # the most recent block, but not a report

    await h.message(ALICE, "报告没做完")
    await h.run_worker()

    asked = h.cards_to(ALICE)
    assert len(asked) == 1
    offered = {v["c"] for v in buttons(asked[0].card) if v["k"] == "choose"}
    assert offered == {lab_block, weekly_block}


async def test_admin_trigger_from_a_non_admin_is_refused_and_audited(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    await h.add_task(user_id, "实验报告", urgency_threshold_at=at(8), deadline=at(20))

    await h.message(BOB, f"/admin trigger {ALICE} 实验报告")
    await h.settle()

    assert await h.count("triggers") == 0
    assert await h.count("audit_log", actor=BOB, outcome="refused") == 1
    assert h.texts_to(BOB) == ["你没有权限使用这个命令。"]


async def test_admin_trigger_from_an_admin_sends_the_user_a_card(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    await h.add_task(user_id, "实验报告", deadline=at(20))

    await h.message(ADMIN, f"/admin trigger {ALICE} 实验报告")
    await h.run_worker()

    assert await h.count("triggers", type="admin_trigger") == 1
    assert await h.count("audit_log", actor=ADMIN, action="admin.trigger", outcome="ok") == 1
    assert len(h.cards_to(ALICE)) == 1
    assert len(h.texts_to(ADMIN)) == 2  # "created" now, the result once the pipeline ran


async def test_today_shows_an_applied_block(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    await h.add_task(user_id, "实验报告", estimate_minutes=90, deadline=at(20), urgency_threshold_at=at(8))
    await h.run_worker()
    card = h.cards_to(ALICE)[0]
    apply = next(v for v in buttons(card.card) if v["k"] == "apply")
    applied = await h.click(ALICE, apply, card.message_id)
    assert card_of(applied)["header"]["template"] == "green"

    await h.message(ALICE, "/today")
    await h.settle()

    reply = h.texts_to(ALICE)[-1]
    assert "实验报告" in reply
    async with h.store.uow(readonly=True) as uow:
        block = (await uow.blocks.for_user(user_id))[0]
        start = block.start.astimezone(at(0).tzinfo).strftime("%H:%M")
    assert start in reply


async def test_add_tasks_done_round_trip(harness: Harness) -> None:
    h = harness
    await h.message(ALICE, "/add 写周报 45 by 18:00 !")
    await h.message(ALICE, "/tasks")
    await h.settle()
    assert await h.count("tasks", title="写周报", quadrant=2, estimate_minutes=45) == 1
    assert await h.count("jobs", status="pending") == 1
    assert "写周报" in h.texts_to(ALICE)[-1]

    await h.message(ALICE, "/done 周报")
    await h.settle()

    assert await h.count("tasks", status="done") == 1
    assert await h.count("jobs", status="canceled") == 1
    assert await h.count("users", open_id=ALICE) == 1  # created on the first message


async def test_replies_follow_the_users_locale(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE, locale="en")

    await h.message(ALICE, "hello there")
    await h.settle()

    assert h.texts_to(ALICE) == ["Sorry, I did not get that. Send /help, or say “unfinished”."]


async def test_group_messages_count_only_when_the_bot_is_mentioned(harness: Harness) -> None:
    h = harness
    await h.message(ALICE, "/help", chat_type="group", chat_id="oc_team")
    await h.post(h.cb.sign(h.cb.group_mention_event(ALICE, "/help", chat_id="oc_team")))
    await h.settle()

    replies = [m for m in h.fake.messages if m.msg_type == "text"]
    assert len(replies) == 1
    assert replies[0].receive_id == "oc_team"
    assert await h.count("inbox", status="ignored") == 1


async def test_messages_from_other_bots_are_ignored(harness: Harness) -> None:
    h = harness
    await h.message(ALICE, "/help", sender_type="app")
    await h.settle()

    assert h.fake.messages == []
    assert await h.count("users") == 0


async def test_admin_mention_names_the_target_user(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    await h.add_task(user_id, "实验报告", deadline=at(20))
    text = "/admin dryrun @_user_2 实验报告"
    mentions = [Mention("@_user_2", ALICE, "Alice")]

    await h.message(ADMIN, text, mentions=mentions)
    await h.settle()

    replies = h.texts_to(ADMIN)
    assert len(replies) == 2
    assert "没有写入任何东西" in replies[1]  # the admin's language (zh)
    assert await h.count("triggers") == 0
    assert await h.count("previews") == 0


async def test_a_second_report_within_the_half_hour_gets_its_own_card(harness: Harness) -> None:
    h = harness
    await _alice_with_a_block_that_just_ended(h)

    await h.message(ALICE, "刚才那个没做完，还差30分钟")
    await h.run_worker()
    h.clock.advance(minutes=5)
    await h.message(ALICE, "实验报告还差20分钟")  # a new message: the user changed their estimate
    await h.run_worker()

    assert len(h.cards_to(ALICE)) == 2
