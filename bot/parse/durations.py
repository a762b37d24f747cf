"""Durations written in Chinese or English ("半小时", "1.5 hours", "45 more minutes") to minutes."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_ZH_DIGITS |= {"八": 8, "九": 9}
_EN_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90,
}  # fmt: skip

_NUM = r"\d+(?:\.\d+)?"
_ZH_NUM = r"[零〇一二两三四五六七八九十百]+"
_EN_NUM = (
    r"\b(?:forty-five|"
    + "|".join(sorted((k for k in _EN_NUMBERS if "-" not in k), key=len, reverse=True))
    + r")\b"
)
_ANY_NUM = rf"(?:{_NUM}|{_ZH_NUM}|{_EN_NUM})"
_MORE_EN = r"(?:more\s+|extra\s+|additional\s+)"
_HOUR_UNIT = rf"(?:个\s*)?(?:小时|钟头)|\s*{_MORE_EN}?(?:hours?|hrs?|h)(?![a-z])"
_MIN_UNIT_EN = rf"{_MORE_EN}?(?:minutes?|mins?|m)(?![a-z])"

# Each pattern yields minutes through its converter; the leftmost (then longest) match wins.
_HOURS_AND_HALF = re.compile(rf"({_NUM}|{_ZH_NUM})\s*个?\s*半\s*(?:个\s*)?(?:小时|钟头)", re.I)
_EN_HOUR_AND_HALF = re.compile(
    r"\b(?:an?|one|another)\s+(?:hour\s+and\s+a\s+half|and\s+a\s+half\s+hours?)\b", re.I
)
_HALF_HOUR = re.compile(r"半\s*(?:个\s*)?(?:小时|钟头)|\bhalf\s+(?:an\s+)?-?\s*hour\b|\bhalf-hour\b", re.I)
# "another hour": "another" is no number word ("another 2 hours" is left to _HOURS)
_ANOTHER_HOUR = re.compile(r"\banother\s+hour\b|\ban\s+hour\s+more\b", re.I)
_QUARTERS = re.compile(rf"({_ZH_NUM}|\d+)?\s*刻钟", re.I)
_HOURS = re.compile(
    rf"({_ANY_NUM})\s*(?:{_HOUR_UNIT})"
    rf"(?:\s*(?:and\s+)?({_NUM}|{_ZH_NUM})\s*(?:分钟|分|{_MIN_UNIT_EN})|(?<=h)(\d{{1,2}})(?![\d.:]))?",
    re.I,
)
_MINUTES = re.compile(rf"({_NUM}|{_EN_NUM})\s*(?:分钟|分(?!钟)|{_MIN_UNIT_EN})|({_ZH_NUM})\s*分钟", re.I)


@dataclass(frozen=True)
class DurationMatch:
    start: int
    end: int
    minutes: int


def zh_number(text: str) -> int | None:
    """Parse a small Chinese numeral ("二十五", "一百二十", "两"); None if it is not one."""
    if not text or any(ch not in _ZH_DIGITS and ch not in "十百" for ch in text):
        return None
    total = current = 0
    for ch in text:
        if ch in _ZH_DIGITS:
            current = _ZH_DIGITS[ch]
        else:
            total += (current or 1) * (10 if ch == "十" else 100)
            current = 0
    return total + current


def number(text: str) -> float | None:
    """An Arabic, Chinese or English number word; None if unreadable."""
    text = text.strip().lower()
    if re.fullmatch(_NUM, text):
        return float(text)
    if text in _EN_NUMBERS:
        return float(_EN_NUMBERS[text])
    value = zh_number(text)
    return None if value is None else float(value)


def _minutes_of(pattern: re.Pattern[str], m: re.Match[str]) -> float | None:
    if pattern is _HOURS_AND_HALF:
        n = number(m.group(1))
        return None if n is None else n * 60 + 30
    if pattern is _EN_HOUR_AND_HALF:
        return 90.0
    if pattern is _HALF_HOUR:
        return 30.0
    if pattern is _ANOTHER_HOUR:
        return 60.0
    if pattern is _QUARTERS:
        n = number(m.group(1)) if m.group(1) else 1.0
        return None if n is None else n * 15
    if pattern is _HOURS:
        hours = number(m.group(1))
        extra = m.group(2) or m.group(3)
        extra_minutes = number(extra) if extra else 0.0
        if hours is None or extra_minutes is None:
            return None
        return hours * 60 + extra_minutes
    return number(m.group(1) or m.group(2))


_PATTERNS = (_HOURS_AND_HALF, _EN_HOUR_AND_HALF, _HALF_HOUR, _ANOTHER_HOUR, _QUARTERS, _HOURS, _MINUTES)


def find_durations(text: str) -> list[DurationMatch]:
    """Every non-overlapping duration in `text`, left to right."""
    found: list[DurationMatch] = []
    for pattern in _PATTERNS:
        for m in pattern.finditer(text):
            value = _minutes_of(pattern, m)
            if value is not None:
                found.append(DurationMatch(m.start(), m.end(), round(value)))
    found.sort(key=lambda d: (d.start, -(d.end - d.start)))
    result: list[DurationMatch] = []
    for d in found:
        if not result or d.start >= result[-1].end:
            result.append(d)
    return result


def find_duration(text: str) -> DurationMatch | None:
    """The first duration in `text`, or None."""
    found = find_durations(text)
    return found[0] if found else None


def parse_duration_token(text: str) -> int | None:
    """`text` is exactly a duration ("45", "45min", "1.5h", "半小时"); its minutes, else None."""
    text = text.strip()
    if re.fullmatch(r"\d{1,6}", text):
        return int(text)
    d = find_duration(text)
    if d is None or d.start != 0 or d.end != len(text):
        return None
    return d.minutes
