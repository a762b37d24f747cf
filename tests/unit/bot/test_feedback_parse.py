"""Ordinary ways of saying "unfinished" keep their task name clean (emoji, "another hour", corrections)."""

from __future__ import annotations

import pytest

from bot.parse import Unfinished, Unknown, parse_message
from bot.parse.durations import find_durations


@pytest.mark.parametrize(
    ("text", "task_ref", "minutes"),
    [
        # emoji and punctuation around the phrase are no task name
        ("没做完😭", None, None),
        ("😭没做完", None, None),
        ("没做完😭😭！", None, None),
        ("没做完了😭", None, None),
        ("实验报告没做完😭", "实验报告", None),
        ("🎉 Party planning unfinished", "Party planning", None),
        # "another hour", "one more hour": an amount, not a name
        ("I didn't finish, need another hour", None, 60),
        ("didn't finish, one more hour", None, 60),
        ("need an extra hour for the slides", "slides", 60),
        ("another hour and a half on the slides", "slides", 90),
        ("another 2 hours on the essay", "essay", 120),
        ("2 more hours on the essay", "essay", 120),
        ("还要一个小时", None, 60),
        ("报告还要半个小时", "报告", 30),
        # an unfinished report keeps its deadline words
        ("didn't finish the essay due Friday, 30 min left", "essay due Friday", 30),
        # a corrected amount: the last one counts, the correction words are no name
        ("报告还差30分钟, 不对, 40分钟", "报告", 40),
        ("报告还差30，不对，是40", "报告", 40),
        ("还差30分钟，说错了，50分钟", None, 50),
        ("didn't finish the report, 30 min left, sorry, 45", "report", 45),
        # without a correction the first amount stays, and no amount is left in the name
        ("didn't finish the report, 30 min left, the 2 hour one", "report", 30),
        ("作业太多了做不完，还差两小时", "作业", 120),
        # the name is passed on as written; the resolver matches its words (see the contract tests)
        ("didn't finish the PR review, 20 min left", "PR review", 20),
        # a generic word names no task: the report is about the block just now
        ("工作没做完", None, None),
        ("didn't finish the stuff", None, None),
    ],
)
def test_unfinished_phrasings(text: str, task_ref: str | None, minutes: int | None) -> None:
    command = parse_message(text)
    assert isinstance(command, Unfinished)
    assert (command.task_ref, command.minutes) == (task_ref, minutes)


@pytest.mark.parametrize(
    "text",
    [
        # a meal or a sigh, not a planned block: the short help, not "task not found"
        "我还没吃完饭",
        "饭还没吃完",
        "今天事情太多了做不完",
        "things are too much, can't get it done",
        "didn't finish my lunch",
        # "need" with a deadline is a new task to capture, not time left on a block
        "I need to submit the visa form by Wednesday, takes 1 hour",
        "need 2 hours for the essay before Friday",
        "周三前还要写完周报 2小时",
    ],
)
def test_not_reports(text: str) -> None:
    assert isinstance(parse_message(text), Unknown)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("another hour", 60),
        ("an hour more", 60),
        ("one more hour", 60),
        ("an extra hour", 60),
        ("1.5 extra hours", 90),
        ("半小时", 30),
        ("一个小时", 60),
        ("half an hour", 30),
        ("an hour", 60),
    ],
)
def test_spoken_durations(text: str, minutes: int) -> None:
    (found,) = find_durations(text)
    assert (found.start, found.end, found.minutes) == (0, len(text), minutes)
