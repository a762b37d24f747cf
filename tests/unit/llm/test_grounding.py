"""Finding times and dates in explanations."""

from __future__ import annotations

import pytest

from llm.grounding import allowed, mentions, ungrounded


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("把实验报告放在 14:00-15:30", [{"14:00"}, {"15:30"}]),
        ("9:05 开始", [{"09:05"}]),
        ("下午3点开始", [{"15:00"}]),
        ("晚上8点半结束", [{"20:30"}]),
        ("14点30分", [{"14:30"}]),
        ("3点", [{"03:00", "15:00"}]),
        ("中午12点", [{"12:00"}]),
        ("11-30 截止", [{"11-30"}]),
        ("2026-11-30 截止", [{"2026-11-30"}]),
        ("11月30日截止", [{"11-30"}]),
        ("due 11/30", [{"11-30"}]),
        ("at 3pm", [{"15:00"}]),
        ("at 3:30 p.m.", [{"15:30"}]),
        ("on Nov 30", [{"11-30"}]),
        ("on 30 November", [{"11-30"}]),
        ("用2小时完成，拆成 50/50", []),
        ("spend 1-2 hours", []),
        ("30 分钟", []),
        # other ways of writing the same things are read the same way
        ("十二点半开始", [{"12:30"}]),
        ("晚上八点", [{"20:00"}]),
        ("十一月三十日截止", [{"11-30"}]),
        ("二〇二六年十一月三十日", [{"2026-11-30"}]),
        ("１２：００ 开始", [{"12:00"}]),
        ("at noon", [{"12:00"}]),
    ],
)
def test_mentions(text: str, found: list[set[str]]) -> None:
    assert [set(m.options) for m in mentions(text)] == found


def test_full_date_grounding_allows_its_month_day() -> None:
    assert allowed(["2026-11-30", "9:00"]) == {"2026-11-30", "11-30", "09:00"}


def test_ungrounded_lists_only_the_foreign_mentions() -> None:
    grounding = ("14:00", "15:30", "2026-11-30")
    assert ungrounded("11月30日 14:00-15:30，下午2点开始", grounding) == []
    assert sorted(ungrounded("在 14:00 开始，16:00 结束，12月1日前", grounding)) == ["12月1日", "16:00"]


def test_ambiguous_hour_is_grounded_by_either_reading() -> None:
    assert ungrounded("3点开始", ("15:00",)) == []
    assert ungrounded("3点开始", ("03:00",)) == []
    assert ungrounded("3点开始", ("16:00",)) == ["3点"]


@pytest.mark.parametrize(
    "text", ["starts at half past twelve", "by three o'clock", "at seven in the evening"]
)
def test_times_in_words_are_never_grounded(text: str) -> None:
    assert ungrounded(text, ["12:30", "15:00", "19:00"]) != []


def test_full_width_and_chinese_numeral_times_are_checked_against_the_candidate() -> None:
    assert ungrounded("十二点半开始", ["20:00", "20:30"]) == ["12点半"]
    assert ungrounded("晚上八点开始", ["20:00", "20:30"]) == []
    assert ungrounded("１２:００ 开始", ["20:00"]) == ["12:00"]


def test_days_named_by_weekday_or_relative_to_today_must_be_the_candidates() -> None:
    # the grounding of a candidate on Monday 11-30, planned on that same day
    grounding = ["14:00", "11-30", "Monday", "周一", "today", "今天"]
    assert ungrounded("今天下午两点开始", grounding) == []
    assert ungrounded("today at 14:00", grounding) == []
    assert ungrounded("明天14:00开始", grounding) == ["明天"]
    assert ungrounded("on Tuesday at 14:00", grounding) == ["Tuesday"]
    assert ungrounded("周一 14:00", grounding) == []
    assert ungrounded("星期天 14:00", grounding) == ["星期天"]
