"""Validation of a model's answer against the request (pure)."""

from __future__ import annotations

import pytest

from llm.api import CandidateView
from llm.reasons import Reason
from llm.validate import Answer, AnswerError, check_answer, compatible, parse_answer
from tests.unit.llm.conftest import en_request, zh_request


def codes(answer: Answer, **overrides: object) -> list[Reason]:
    request = en_request(**overrides) if overrides.pop("en", False) else zh_request(**overrides)
    return [p.code for p in check_answer(answer, request)]


GOOD = Answer("c-evening", "晚上 19:00-20:30 整块空闲，不会被打断。", "实验报告 安排在 19:00", "")


def test_good_answer_has_no_problems() -> None:
    assert codes(GOOD) == []


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not json",
        "[]",
        '{"selected_candidate_id": 3, "explanation": "x", "notification_summary": "y"}',
        '{"selected_candidate_id": "c-early", "explanation": "x"}',
    ],
)
def test_parse_rejects_non_objects_and_wrong_types(content: str) -> None:
    with pytest.raises(AnswerError) as err:
        parse_answer(content)
    assert err.value.problem.code == Reason.INVALID_JSON


def test_parse_tolerates_a_code_fence_and_missing_question() -> None:
    answer = parse_answer(
        '```json\n{"selected_candidate_id": "a", "explanation": "b", "notification_summary": "c"}\n```'
    )
    assert answer == Answer("a", "b", "c", "")


def test_unknown_id() -> None:
    assert codes(Answer("c-nope", GOOD.explanation, GOOD.notification_summary, "")) == [Reason.INVALID_CHOICE]


def test_decision_compatibility() -> None:
    ask = CandidateView("c-ask", "ask_user", "问一下哪个块没做完", "", "", "none", "low")
    warn = CandidateView("c-warn", "notify_only", "来不及了", "", "", "none", "high")
    request = zh_request(candidates=(*zh_request().candidates, ask, warn))
    assert [c.id for c in compatible(request)] == ["c-early", "c-evening", "c-split"]
    assert [c.id for c in compatible(zh_request(decision="ask_user", candidates=(ask, warn)))] == ["c-ask"]
    assert [c.id for c in compatible(zh_request(decision="notify_only", candidates=(ask, warn)))] == [
        "c-warn"
    ]
    wrong = Answer("c-warn", "时间不够。", "提醒", "")
    assert check_answer(wrong, request)[0].code == Reason.INVALID_CHOICE


def test_ask_user_needs_a_question() -> None:
    ask = CandidateView("c-ask", "ask_user", "问一下哪个块没做完", "", "", "none", "low")
    request = zh_request(decision="ask_user", candidates=(ask,), fallback_candidate_id="c-ask")
    assert [p.code for p in check_answer(Answer("c-ask", "需要确认。", "请确认", ""), request)] == [
        Reason.EMPTY_TEXT
    ]
    assert check_answer(Answer("c-ask", "需要确认。", "请确认", "是哪一块没做完？"), request) == []


def test_length_limits() -> None:
    assert codes(Answer("c-evening", "很长" * 141, "实验报告", "")) == [Reason.TOO_LONG]
    assert codes(Answer("c-evening", "好的。", "概要" * 41, "")) == [Reason.TOO_LONG]


@pytest.mark.parametrize(
    "link",
    [
        "https://x.cn/a",
        "见 www.example.com",
        "[点这里](x)",
        "打开 evil.com 查看",
        "见 bit.ly/x",
        "加 t.me/x",
        "访问 evil。com",
        "mailto:a@b.c",
        "ｅｖｉｌ．ｘｙｚ/phish",
    ],
)
def test_links_are_refused(link: str) -> None:
    assert Reason.CONTAINS_LINK in codes(Answer("c-evening", f"晚上安排。{link}", "实验报告 已安排", ""))


def test_zh_explanation_must_be_chinese() -> None:
    assert codes(Answer("c-evening", "Evening is quiet.", "实验报告 已安排", "")) == [Reason.WRONG_LOCALE]
    # one Chinese character does not make an English sentence Chinese
    assert codes(Answer("c-evening", "This is fine, it is quiet then 好", "实验报告 已安排", "")) == [
        Reason.WRONG_LOCALE
    ]


def test_en_explanation_may_quote_chinese_titles_but_not_be_chinese() -> None:
    cjk_titles = zh_request().candidates
    ok = Answer(
        "c-evening", "实验报告 fits 19:00-20:30 after 晚饭, uninterrupted.", "“实验报告” at 19:00", ""
    )
    assert codes(ok, en=True, candidates=cjk_titles, target_title="实验报告") == []
    bad = Answer("c-evening", "晚上比较安静，适合写报告。", "Lab report at 19:00", "")
    assert codes(bad, en=True) == [Reason.WRONG_LOCALE]


def test_grounding_checks_explanation_and_summary() -> None:
    assert codes(Answer("c-evening", "晚上 21:00 开始。", "实验报告 已安排", "")) == [Reason.UNGROUNDED]
    assert codes(Answer("c-evening", "晚上安排。", "12月3日 完成", "")) == [Reason.UNGROUNDED]
    # a time of another candidate is still foreign to the chosen one
    assert codes(Answer("c-evening", "比 14:00 更安静。", "实验报告 已安排", "")) == [Reason.UNGROUNDED]
    # Chinese forms and the candidate's own date are grounded
    assert codes(Answer("c-evening", "11月30日晚上7点开始，8点半结束。", "实验报告 已安排", "")) == []
    # text copied from the candidate's own lines, like the (1/2) of a split, is grounded
    assert (
        codes(Answer("c-split", "分两段：10:00-10:45（1/2）和 16:00-16:45。", "实验报告 拆成两段", "")) == []
    )
