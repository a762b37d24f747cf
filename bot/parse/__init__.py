"""Pure parsing of chat messages into frozen commands (no I/O)."""

from __future__ import annotations

from bot.parse.commands import normalize_text, parse_message
from bot.parse.durations import find_duration, parse_duration_token
from bot.parse.feedback import parse_feedback
from bot.parse.model import (
    MAX_MINUTES,
    MIN_MINUTES,
    Add,
    Admin,
    AdminSub,
    Command,
    Connect,
    Disconnect,
    Done,
    Drop,
    Edit,
    Help,
    ParseError,
    ParseErrorCode,
    Prefs,
    Tasks,
    TimeRange,
    Today,
    Unfinished,
    Unknown,
)
from bot.parse.timetext import check_time_text, parse_time_text

__all__ = [
    "MAX_MINUTES",
    "MIN_MINUTES",
    "Add",
    "Admin",
    "AdminSub",
    "Command",
    "Connect",
    "Disconnect",
    "Done",
    "Drop",
    "Edit",
    "Help",
    "ParseError",
    "ParseErrorCode",
    "Prefs",
    "Tasks",
    "TimeRange",
    "Today",
    "Unfinished",
    "Unknown",
    "check_time_text",
    "find_duration",
    "normalize_text",
    "parse_duration_token",
    "parse_feedback",
    "parse_message",
    "parse_time_text",
]
