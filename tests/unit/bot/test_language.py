"""A new user's language comes from their first message when it is clear."""

from __future__ import annotations

import pytest

from bot.parse.language import message_locale


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("didn't finish the report, 30 min left", "en"),
        ("hello there", "en"),
        ("/unfinished report 30", "default"),  # a command and one word: not enough to tell
        ("/add write weekly report 30", "en"),
        ("报告还差30分钟", "zh"),
        ("/done 写周报", "zh"),
        ("PPT没做完", "zh"),
        ("@_user_1 没做完", "zh"),
        ("@_user_1 ok", "default"),
        ("/help", "default"),
        ("hi", "default"),
        ("😭", "default"),
        ("", "default"),
        (None, "default"),
    ],
)
def test_message_locale(text: str | None, expected: str) -> None:
    assert message_locale(text, "default") == expected
