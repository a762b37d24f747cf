"""A task in plain words, through the real HTTP app: the bot answers with a form card prefilled with what it
read (and the exact /add as an alternative); nothing is created until Submit, which adds the task once, or
refuses a bad field by name; a missing estimate or a past deadline is asked about by name; a text that is no
task still gets the short help."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from bot.parse.capture import TaskDraft
from store.models import Job, Task
from tests.contract.services.builders import rows
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, TZ, Harness, at
from tests.unit.bot.test_capture import CASES as PARSER_CASES


async def _said(h: Harness, open_id: str, text: str, message_id: str) -> str:
    await h.message(open_id, text, message_id=message_id)
    await h.settle()
    return h.texts_to(open_id)[-1]


def _form_of(card: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form container and its submit button's callback value."""
    form = next(e for e in card["body"]["elements"] if e.get("tag") == "form")
    submit = next(e for e in form["elements"] if e.get("form_action_type") == "submit")
    return form, submit["behaviors"][0]["value"]


def _field(form: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in form["elements"] if e.get("name") == name)


async def test_a_task_in_plain_words_gets_a_prefilled_form_and_creates_nothing(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await h.message(ALICE, "明天下午3点前交实验报告，大概2小时", message_id="om_c1")
    await h.settle()
    (card,) = h.cards_to(ALICE)
    form, _ = _form_of(card.card)
    assert _field(form, "title")["default_value"] == "交实验报告"
    assert _field(form, "estimate")["initial_option"] == "120"
    assert _field(form, "deadline")["initial_datetime"] == "2026-12-01 15:00"
    assert _field(form, "important")["checked"] is False
    # the /add line stays on the card as the alternative, and sending it adds the task
    assert "/add 交实验报告 120 by 2026-12-01 15:00" in json.dumps(card.card, ensure_ascii=False)
    assert h.texts_to(ALICE) == []
    assert await h.count("tasks") == 0
    await _said(h, ALICE, "/add 交实验报告 120 by 2026-12-01 15:00", "om_c2")
    assert await h.count("tasks", title="交实验报告", estimate_minutes=120) == 1


async def _submit(h: Harness, card: Any, **fields: Any) -> dict[str, Any]:
    form, value = _form_of(card.card)
    values = {
        "title": _field(form, "title")["default_value"],
        "estimate": _field(form, "estimate").get("initial_option", ""),
        "deadline": _field(form, "deadline").get("initial_datetime", "") + " +0800",
        "important": _field(form, "important")["checked"],
    }
    values.update(fields)
    response = await h.click(ALICE, value, card.message_id, form_value=values, name="submit")
    body: dict[str, Any] = json.loads(response.content)
    return body


async def test_submitting_the_form_creates_the_task_once_and_says_what_follows(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    await h.message(ALICE, "明天下午3点前交实验报告，大概2小时", message_id="om_f1")
    await h.settle()
    (card,) = h.cards_to(ALICE)

    body = await _submit(h, card, estimate="90", important=True)
    assert body["toast"]["type"] == "success"
    said = json.dumps(body["card"]["data"], ensure_ascii=False)
    assert "已添加任务「交实验报告」（90 分钟），截止" in said
    assert "会发卡片" in said  # important with a deadline: a card will follow
    (task,) = await rows(h.store, Task, user_id=user_id)
    assert (task.title, task.estimate_minutes, task.quadrant) == ("交实验报告", 90, 2)
    assert task.deadline is not None
    assert task.deadline.astimezone(TZ) == at(15) + timedelta(days=1)
    assert await h.count("jobs") == 1

    again = await _submit(h, card, estimate="90", important=True)  # pressed twice: one task
    assert again["toast"]["type"] == "warning"
    assert await h.count("tasks") == 1


async def test_a_form_with_a_bad_field_is_refused_by_name_and_adds_nothing(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await h.message(ALICE, "明天下午3点前交实验报告，大概2小时", message_id="om_f2")
    await h.settle()
    (card,) = h.cards_to(ALICE)
    cases = {
        "预估时长": {"estimate": "0"},
        "标题": {"title": "  "},
        "已经过去": {"deadline": "2026-11-29 18:00 +0800"},
        "截止时间": {"deadline": "someday"},
    }
    for said, fields in cases.items():
        body = await _submit(h, card, **fields)
        assert body["toast"]["type"] == "error", fields
        assert said in body["toast"]["content"], (fields, body["toast"])
        assert "card" not in body  # the form stays, to fix the field
    assert await h.count("tasks") == 0
    ok = await _submit(h, card)  # the refusals did not use the form up
    assert ok["toast"]["type"] == "success"
    assert await h.count("tasks") == 1


async def test_english_phrasing_and_the_questions_it_may_need(harness: Harness) -> None:
    h = harness
    await h.add_user(BOB, locale="en", name="Bob")
    await h.message(BOB, "finish the slides by Friday 5pm, about 90 min", message_id="om_e1")
    await h.settle()
    (card,) = h.cards_to(BOB)
    assert "/add finish the slides 90 by 2026-12-04 17:00" in json.dumps(card.card, ensure_ascii=False)
    reply = await _said(h, BOB, "review PR by tonight 9pm", "om_e2")
    assert "About how many minutes will “review PR” take?" in reply
    reply = await _said(h, BOB, "call the bank before 8am", "om_e3")  # 08:00 tomorrow: ahead, not past
    assert "About how many minutes will “call the bank” take?" in reply
    reply = await _said(h, BOB, "hello there", "om_e4")
    assert reply.startswith("Sorry, I did not get that.")
    assert await h.count("tasks") == 0


async def test_a_deadline_that_has_passed_is_named(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    reply = await _said(h, ALICE, "11月29日 18:00前交报告 1小时", "om_p1")
    assert "已经过去了" in reply
    assert await h.count("tasks") == 0


async def test_the_same_add_twice_asks_instead_of_duplicating_and_plus_adds_another(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await _said(h, ALICE, "/add 写周报 60 by 明天18:00", "om_d1")
    reply = await _said(h, ALICE, "/add 写周报 60 by 明天18:00", "om_d2")
    assert "已经有一个未完成的「写周报」" in reply
    assert reply.splitlines()[-1] == "/add 写周报 60 by 明天18:00 +"
    assert await h.count("tasks") == 1
    await _said(h, ALICE, reply.splitlines()[-1], "om_d3")
    assert await h.count("tasks", title="写周报") == 2


async def test_drop_cancels_the_task_and_its_job(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await _said(h, ALICE, "/add 写周报 60 by 明天18:00", "om_x1")
    assert await h.count("jobs", status="pending") == 1
    reply = await _said(h, ALICE, "/drop 周报", "om_x2")
    assert "已放弃「写周报」" in reply
    assert await h.count("tasks", status="canceled") == 1
    assert await h.count("jobs", status="pending") == 0
    reply = await _said(h, ALICE, "/drop 周报", "om_x3")
    assert "周报" in reply  # nothing open by that name any more: said so
    assert await h.count("tasks", status="canceled") == 1


async def test_a_dropped_task_comes_back_with_undone(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await _said(h, ALICE, "/add 写周报 60 by 明天18:00", "om_u1")
    await _said(h, ALICE, "/drop 写周报", "om_u2")
    await _said(h, ALICE, "/undone 写周报", "om_u3")
    assert await h.count("tasks", status="open") == 1
    assert await h.count("jobs", status="pending") == 1


async def test_edit_changes_the_given_fields_and_rearms_the_job(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await _said(h, ALICE, "/add 写周报 60", "om_ed1")
    assert await h.count("jobs", status="pending") == 0  # no deadline: no job
    reply = await _said(h, ALICE, "/edit 周报 90 by 明天18:00 !", "om_ed2")
    assert reply.startswith("已更新：写周报")
    assert "90" in reply
    assert await h.count("tasks", estimate_minutes=90, quadrant=2) == 1
    assert await h.count("jobs", status="pending") == 1  # a deadline: the job is armed
    await _said(h, ALICE, "/edit 周报 by none -", "om_ed3")
    assert await h.count("tasks", quadrant=4) == 1
    assert await h.count("jobs", status="pending") == 0
    reply = await _said(h, ALICE, "/edit 周报 by 11-29 18:00", "om_ed4")
    assert "已经过去了，任务没有修改" in reply
    assert await h.count("tasks", quadrant=4, estimate_minutes=90) == 1  # unchanged
    reply = await _said(h, ALICE, "/edit 周报", "om_ed5")
    assert "请说明要改什么" in reply
    reply = await _said(h, ALICE, "/edit 不存在的任务 30", "om_ed6")
    assert "不存在的任务" in reply


def _button(card: dict[str, Any], text: str) -> dict[str, Any]:
    """The callback value of the card's button labelled `text`."""
    button = next(
        e for e in card["body"]["elements"] if e.get("tag") == "button" and e["text"]["content"] == text
    )
    value: dict[str, Any] = button["behaviors"][0]["value"]
    return value


async def test_edit_on_the_added_tasks_card_opens_the_form_and_save_changes_the_task(
    harness: Harness,
) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    await h.message(ALICE, "明天下午3点前交实验报告，大概2小时", message_id="om_te1")
    await h.settle()
    (card,) = h.cards_to(ALICE)
    added = (await _submit(h, card))["card"]["data"]
    (task,) = await rows(h.store, Task, user_id=user_id)

    opened = json.loads((await h.click(ALICE, _button(added, "编辑"), card.message_id)).content)
    form_card = opened["card"]["data"]
    form, save = _form_of(form_card)
    assert _field(form, "title")["default_value"] == "交实验报告"  # the task as it is now
    assert _field(form, "estimate")["initial_option"] == "120"
    assert _field(form, "deadline")["initial_datetime"] == "2026-12-01 15:00"
    assert save == {"v": 1, "k": "task_save", "p": task.id}

    def press(**fields: Any) -> Any:
        values = {"title": "交实验报告（终稿）", "estimate": "90", "deadline": "2026-12-02 10:00 +0800"}
        values["important"] = True
        values.update(fields)
        return h.click(ALICE, save, card.message_id, form_value=values, name="submit")

    body = json.loads((await press(estimate="0")).content)  # a wrong field: named, nothing changed
    assert body["toast"]["type"] == "error"
    assert "预估时长" in body["toast"]["content"]
    assert "任务没有改动" in body["toast"]["content"]
    body = json.loads((await press(deadline="2026-11-29 18:00 +0800")).content)
    assert "已经过去" in body["toast"]["content"]
    assert await h.count("tasks", title="交实验报告", estimate_minutes=120) == 1

    body = json.loads((await press()).content)
    assert body["toast"]["type"] == "success"
    assert "已更新任务「交实验报告（终稿）」" in body["toast"]["content"]
    (task,) = await rows(h.store, Task, user_id=user_id)
    assert (task.title, task.estimate_minutes, task.quadrant) == ("交实验报告（终稿）", 90, 2)
    assert task.deadline is not None
    assert task.deadline.astimezone(TZ) == at(10) + timedelta(days=2)
    (job,) = await rows(h.store, Job, status="pending")  # re-armed for the new deadline
    assert job.trigger_at == task.deadline - timedelta(hours=24)
    await press()  # the same Save delivered again: written once
    assert (await rows(h.store, Task, user_id=user_id))[0].version == task.version


async def test_another_users_task_cannot_be_opened_or_saved(harness: Harness) -> None:
    h = harness
    alice = await h.add_user(ALICE)
    await h.add_user(BOB, locale="en", name="Bob")
    await h.add_task(alice, "Alice's report", estimate_minutes=60)
    (task,) = await rows(h.store, Task, user_id=alice)
    before = await h.snapshot()

    opened = json.loads((await h.click(BOB, {"v": 1, "k": "task_edit", "p": task.id}, "om_x")).content)
    assert "no longer open" in opened["toast"]["content"]
    assert "card" not in opened
    values = {"title": "mine now", "estimate": "30", "deadline": "", "important": False}
    saved = await h.click(
        BOB, {"v": 1, "k": "task_save", "p": task.id}, "om_x", form_value=values, name="submit"
    )
    assert "no longer open" in json.loads(saved.content)["toast"]["content"]
    assert (await rows(h.store, Task, user_id=alice))[0].title == "Alice's report"
    after = await h.snapshot()
    assert {k: v for k, v in after.items() if k not in ("inbox", "users")} == {
        k: v for k, v in before.items() if k not in ("inbox", "users")
    }


@pytest.mark.parametrize(("text", "draft"), PARSER_CASES, ids=[c[0][:24] for c in PARSER_CASES])
async def test_a_phrasing_read_without_a_model(harness: Harness, text: str, draft: TaskDraft) -> None:
    """The parser's table (tests/unit/bot/test_capture.py) through the real app: a draft with an estimate
    gets the form prefilled with it, one without gets the question naming its title; nothing is created."""
    h = harness
    english = text.isascii()
    open_id = BOB if english else ALICE
    await h.add_user(open_id, locale="en" if english else "zh", name="Bob" if english else "Alice")
    await h.message(open_id, text, message_id="om_table")
    await h.settle()

    assert await h.count("tasks") == 0
    if draft.estimate_minutes is None:
        assert h.cards_to(open_id) == []
        (reply,) = h.texts_to(open_id)
        ask = "About how many minutes will “{}” take?" if english else "「{}」大概需要多少分钟？"
        assert ask.format(draft.title) in reply
        return
    cards = h.cards_to(open_id)
    assert len(cards) == 1, h.texts_to(open_id)
    form, _ = _form_of(cards[0].card)
    assert _field(form, "title")["default_value"] == draft.title
    assert _field(form, "estimate")["initial_option"] == str(draft.estimate_minutes)
    due = draft.deadline.strftime("%Y-%m-%d %H:%M") if draft.deadline is not None else None
    assert _field(form, "deadline").get("initial_datetime") == due
    assert _field(form, "important")["checked"] is draft.important


async def test_the_add_reply_has_an_edit_button_that_opens_the_tasks_form(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    reply = await _said(h, ALICE, "/add 写周报 60", "om_ae1")
    assert (
        reply == "已添加任务「写周报」（60 分钟）。"
    )  # the card's words (and its text, if Feishu refused it)
    (card,) = h.task_cards_to(ALICE)
    (task,) = await rows(h.store, Task, user_id=user_id)

    opened = json.loads((await h.click(ALICE, _button(card.card, "编辑"), card.message_id)).content)
    form, save = _form_of(opened["card"]["data"])
    assert _field(form, "title")["default_value"] == "写周报"
    assert _field(form, "estimate")["initial_option"] == "60"
    values = {"title": "写周报", "estimate": "45", "deadline": "2026-12-01 18:00 +0800", "important": True}
    saved = await h.click(ALICE, save, card.message_id, form_value=values, name="submit")
    assert json.loads(saved.content)["toast"]["type"] == "success"
    (task,) = await rows(h.store, Task, user_id=user_id)
    assert (task.estimate_minutes, task.quadrant) == (45, 2)
    assert await h.count("jobs", status="pending") == 1  # a deadline now: its job is armed

    again = await _said(h, ALICE, "/add 写周报 30", "om_ae2")  # the same title: asked, with the Edit button
    assert "这次没有重复添加" in again
    assert len(h.task_cards_to(ALICE)) == 2
    assert await h.count("tasks") == 1


async def test_in_a_group_the_add_reply_is_text(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await h.post(h.cb.sign(h.cb.group_mention_event(ALICE, "/add 写周报 60")))
    await h.settle()
    assert h.task_cards_to(ALICE) == []
    assert await h.count("tasks") == 1
    assert any(m.text.startswith("已添加任务「写周报」") for m in h.fake.messages if m.msg_type == "text")
