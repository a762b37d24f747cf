"""Which task `/done <ref>` names: exact names first, fragments only when meaningful; post message text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from bot.inbound import MessageIn
from scheduler.services.taskref import MatchKind, match_task_ref


@dataclass(frozen=True)
class T:
    id: str
    title: str
    key: str | None = None


TASKS = [
    T("1", "Q1 planning doc"),
    T("2", "文献阅读"),
    T("3", "写周报"),
    T("4", "写周报"),
    T("5", "组会 PPT", key="ppt"),
    T("6", "fix bug 1"),
    T("7", "fix bug 2"),
    T("8", "Review PR #482"),
    T("9", "实验报告"),
]


def _ids(ref: str) -> tuple[MatchKind, list[str]]:
    match = match_task_ref(TASKS, ref)
    return match.kind, [x.id for x in match.tasks]


@pytest.mark.parametrize(
    ("ref", "kind", "ids"),
    [
        ("a", MatchKind.TOO_SHORT, []),  # "a" is in "Q1 planning doc", but names nothing
        ("文", MatchKind.TOO_SHORT, []),
        ("n", MatchKind.TOO_SHORT, []),
        ("plan", MatchKind.NONE, []),  # not a whole word of "planning"
        ("planning", MatchKind.FRAGMENT, ["1"]),
        ("q1 PLANNING doc", MatchKind.TITLE, ["1"]),
        ("Q1planningdoc", MatchKind.TITLE, ["1"]),  # spacing is ignored for an exact title
        ("文献", MatchKind.FRAGMENT, ["2"]),
        ("周报", MatchKind.FRAGMENT, ["3", "4"]),
        ("写周报", MatchKind.TITLE, ["3", "4"]),  # two tasks with one title: the caller lists them
        ("PPT", MatchKind.KEY, ["5"]),
        ("组会", MatchKind.FRAGMENT, ["5"]),
        ("fix", MatchKind.FRAGMENT, ["6", "7"]),
        ("bug 2", MatchKind.FRAGMENT, ["7"]),
        ("fix bug", MatchKind.FRAGMENT, ["6", "7"]),
        ("PR", MatchKind.FRAGMENT, ["8"]),
        ("review pr #482", MatchKind.TITLE, ["8"]),
        ("9", MatchKind.ID, ["9"]),
        ("dentist", MatchKind.NONE, []),
        ("", MatchKind.NONE, []),
    ],
)
def test_match_task_ref(ref: str, kind: MatchKind, ids: list[str]) -> None:
    assert _ids(ref) == (kind, ids)


def _message(content: object, message_type: str = "post") -> MessageIn:
    return MessageIn("e", "m", "c", "p2p", "ou_a", "user", message_type, json.dumps(content))


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (
            {"zh_cn": {"title": "", "content": [[{"tag": "text", "text": "刚才那个没做完"}]]}},
            "刚才那个没做完",
        ),
        (
            {
                "title": "",
                "content": [[{"tag": "text", "text": "刚才那个"}, {"tag": "text", "text": "没做完"}]],
            },
            "刚才那个没做完",
        ),
        (
            {
                "title": "周报",
                "content": [
                    [
                        {"tag": "at", "user_id": "@_user_1", "user_name": "Bot"},
                        {"tag": "text", "text": "报告还差"},
                    ],
                    [{"tag": "img", "image_key": "img_x"}],
                    [{"tag": "a", "text": "30分钟", "href": "https://example.com"}],
                ],
            },
            "@_user_1 报告还差\n30分钟",
        ),
        ({"title": "没做完", "content": [[{"tag": "img", "image_key": "img_x"}]]}, "没做完"),
        ({"en_us": {"title": "", "content": [[{"tag": "text", "text": "unfinished"}]]}}, "unfinished"),
        ({"content": "not a list"}, ""),
    ],
)
def test_post_message_text(content: object, text: str) -> None:
    assert _message(content).text == text


def test_other_message_types_have_no_text() -> None:
    assert _message({"image_key": "img_x"}, "image").text is None
    assert _message(["not", "an", "object"]).text is None


def test_reports_and_admin_commands_read_a_name_the_same_way_as_done() -> None:
    """One rule everywhere: "a没做完" does not name "Q1 planning doc" by one letter; a report may also
    name a task by a phrase that contains its whole title."""
    from scheduler.services.feedback import match_feedback_tasks, match_tasks

    tasks: list[Any] = TASKS
    assert match_tasks(tasks, "a") == []
    assert match_tasks(tasks, "文") == []
    assert [x.id for x in match_tasks(tasks, "实验报告那部分")] == ["9"]
    assert [x.id for x in match_tasks(tasks, "报告")] == ["9"]
    assert [x.id for x in match_feedback_tasks(tasks, "PR review")] == ["8"]
