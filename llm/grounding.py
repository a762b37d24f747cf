"""Find the clock times and dates a text mentions, to check them against a candidate's own (pure)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_MONTH_WORD = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
# A number followed by one of these is a duration or an hour, not the day of a date ("1-2 hours", "9-10点").
_NOT_A_DAY = r"(?!\s*(?:h\b|hr|hour|min|m\b|分|小时|个|点|點|时|時|am\b|pm\b|a\.m|p\.m))"
_PM = ("下午", "傍晚", "晚上", "夜里", "夜裡", "晚")

_FULL_DATE = re.compile(
    r"(?<!\d)(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})(?:\s*[日号號])?(?!\d)"
)
_CJK_DATE = re.compile(r"(?<!\d)(\d{1,2})\s*月\s*(\d{1,2})\s*[日号號]")
_EN_MONTH_DAY = re.compile(rf"\b{_MONTH_WORD}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", re.IGNORECASE)
_EN_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_WORD}(?![a-z])", re.IGNORECASE
)
_DASH_DATE = re.compile(rf"(?<![\d\-:/])(0?[1-9]|1[0-2])-(0?[1-9]|[12]\d|3[01])(?![\d\-:]){_NOT_A_DAY}")
_SLASH_DATE = re.compile(rf"(?<![\d/:])(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])(?![\d/:]){_NOT_A_DAY}")
_AMPM = re.compile(r"(?<![\d:])(1[0-2]|0?[1-9])(?:[:：]([0-5]\d))?\s*([ap])\.?\s?m\b\.?", re.IGNORECASE)
_CJK_TIME = re.compile(
    r"(凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|夜里|夜裡|晚)?\s*(?<![\d:])(\d{1,2})\s*[点點时時](?!间|間|候)"
    r"(?:\s*(半|(\d{1,2})\s*分?))?"
)
# The first hour of a range such as "9-10点" or "下午3到4点" (the second is a _CJK_TIME).
_CJK_RANGE_START = re.compile(
    r"(凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|夜里|夜裡|晚)?\s*(?<![\d:])(\d{1,2})()()\s*[-~～到至]\s*(?=\d{1,2}\s*[点點时時])"
)
# Times written in words can be neither checked nor trusted: each is a mention that no grounding allows
# (noon and midnight excepted, which name one clock time).
_WORD_TIME = re.compile(
    r"\b(?:half\s+past|quarter\s+(?:past|to)|o['’]?\s?clock|(?:one|two|three|four|five|six|seven|eight|"
    r"nine|ten|eleven|twelve)\s*(?:[ap]\.?m\b|in\s+the\s+(?:morning|afternoon|evening)))",
    re.IGNORECASE,
)
_NOON = re.compile(r"\b(noon|midday|midnight)\b|正午|午夜", re.IGNORECASE)
_CJK_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6,
               "七": 7, "八": 8, "九": 9}  # fmt: skip
# Chinese numerals before a time or date unit ("十二点半", "十一月三十日", "二〇二六年") become digits first.
_CJK_NUMBER = re.compile(r"[零〇一二两兩三四五六七八九十]+(?=\s*(?:[点點时時分月日号號年]|点钟))")
# Days named by weekday or relative to today: checked like dates (the candidate's grounding names its days).
_EN_WEEKDAY = re.compile(
    r"\b(mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday|s|\.)?\b", re.IGNORECASE
)
_ZH_WEEKDAY = re.compile(r"(?:周|星期|礼拜|禮拜)([一二三四五六日天])")
_DAY_OFFSETS = {
    "today": 0, "tonight": 0, "今天": 0, "今日": 0, "今晚": 0, "今早": 0,
    "tomorrow": 1, "明天": 1, "明日": 1, "明早": 1, "明晚": 1,
    "yesterday": -1, "昨天": -1, "后天": 2, "後天": 2,
}  # fmt: skip
_RELATIVE_DAY = re.compile(
    r"\b(?:today|tonight|tomorrow|yesterday)\b|" + "|".join(k for k in _DAY_OFFSETS if not k.isascii()),
    re.IGNORECASE,
)
_CLOCK = re.compile(r"(?<![\d:])([01]?\d|2[0-4])\s*[:：]\s*([0-5]\d)(?![\d:])")


@dataclass(frozen=True)
class Mention:
    """A time or date found in text: `options` are its possible canonical forms ("15:00", "11-30")."""

    text: str
    kind: str  # time | date
    options: frozenset[str]


def _hm(h: int, m: int) -> str:
    return f"{h:02d}:{m:02d}"


def _md(month: int, day: int) -> str | None:
    if 1 <= month <= 12 and 1 <= day <= 31:
        return f"{month:02d}-{day:02d}"
    return None


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _cjk_number(numeral: str) -> str:
    """二〇二六 -> 2026 (digit by digit), 十二 -> 12, 三十 -> 30, 二十一 -> 21."""
    if "十" not in numeral:
        return "".join(str(_CJK_DIGITS[c]) for c in numeral)
    tens, _, ones = numeral.partition("十")
    value = (_CJK_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CJK_DIGITS.get(ones, 0) if ones else 0)
    return str(value)


def normalize(text: str) -> str:
    """Full-width and other compatibility forms folded (１２：００ -> 12:00), Chinese numerals before time
    and date units turned into digits, so that every way of writing a time is scanned the same way."""
    text = unicodedata.normalize("NFKC", text)
    return _CJK_NUMBER.sub(lambda m: _cjk_number(m.group(0)), text)


def mentions(text: str) -> list[Mention]:
    """Every time and date in `text`, each found once (longer forms are matched and masked first)."""
    found: list[Mention] = []
    text = normalize(text)

    def scan(pattern: re.Pattern[str], kind: str, convert: Callable[[re.Match[str]], set[str]]) -> None:
        nonlocal text
        for match in list(pattern.finditer(text)):
            options = convert(match)
            if options:
                found.append(Mention(match.group(0).strip(), kind, frozenset(options)))
                text = _mask(text, match.start(), match.end())

    def full_date(m: re.Match[str]) -> set[str]:
        md = _md(int(m.group(2)), int(m.group(3)))
        return {f"{int(m.group(1)):04d}-{md}"} if md else set()

    def month_day(m: re.Match[str]) -> set[str]:
        md = _md(int(m.group(1)), int(m.group(2)))
        return {md} if md else set()

    def en_month_day(m: re.Match[str]) -> set[str]:
        md = _md(_MONTHS[m.group(1).lower()[:3]], int(m.group(2)))
        return {md} if md else set()

    def en_day_month(m: re.Match[str]) -> set[str]:
        md = _md(_MONTHS[m.group(2).lower()[:3]], int(m.group(1)))
        return {md} if md else set()

    def ampm(m: re.Match[str]) -> set[str]:
        h, minute = int(m.group(1)) % 12, int(m.group(2) or 0)
        return {_hm(h + 12 if m.group(3).lower() == "p" else h, minute)}

    def cjk_time(m: re.Match[str]) -> set[str]:
        period, h = m.group(1), int(m.group(2))
        minute = 30 if m.group(3) == "半" else int(m.group(4) or 0)
        if h > 24 or minute > 59:
            return set()
        if period in _PM and h < 12:
            return {_hm(h + 12, minute)}
        if period == "中午" and h < 11:
            return {_hm(h + 12, minute)}
        if period or h >= 12:
            return {_hm(h, minute)}
        return {_hm(h, minute), _hm(h + 12, minute)}  # "3点" may mean 03:00 or 15:00

    def clock(m: re.Match[str]) -> set[str]:
        h, minute = int(m.group(1)), int(m.group(2))
        return {_hm(h, minute)} if h < 24 or minute == 0 else set()

    def in_words(_m: re.Match[str]) -> set[str]:
        return {"(in words)"}  # never a canonical form: always ungrounded

    def noon(m: re.Match[str]) -> set[str]:
        word = m.group(0).lower()
        return {"00:00", "24:00"} if word in ("midnight", "午夜") else {"12:00"}

    def en_weekday(m: re.Match[str]) -> set[str]:
        return {f"weekday:{('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun').index(m.group(1).lower()) + 1}"}

    def zh_weekday(m: re.Match[str]) -> set[str]:
        return {f"weekday:{min('一二三四五六日天'.index(m.group(1)), 6) + 1}"}  # 日 and 天: Sunday

    def relative_day(m: re.Match[str]) -> set[str]:
        return {f"day:{_DAY_OFFSETS[m.group(0).lower()]:+d}"}

    scan(_RELATIVE_DAY, "date", relative_day)
    scan(_ZH_WEEKDAY, "date", zh_weekday)
    scan(_EN_WEEKDAY, "date", en_weekday)
    scan(_WORD_TIME, "time", in_words)
    scan(_NOON, "time", noon)
    scan(_FULL_DATE, "date", full_date)
    scan(_CJK_DATE, "date", month_day)
    scan(_EN_MONTH_DAY, "date", en_month_day)
    scan(_EN_DAY_MONTH, "date", en_day_month)
    scan(_DASH_DATE, "date", month_day)
    scan(_SLASH_DATE, "date", month_day)
    scan(_AMPM, "time", ampm)
    scan(_CJK_RANGE_START, "time", cjk_time)
    scan(_CJK_TIME, "time", cjk_time)
    scan(_CLOCK, "time", clock)
    return found


def allowed(grounding: Iterable[str]) -> frozenset[str]:
    """The canonical forms a candidate's grounding allows; a full date also allows its month-day."""
    out: set[str] = set()
    for item in grounding:
        for mention in mentions(item):
            out |= mention.options
            for option in mention.options:
                if len(option) == 10:  # YYYY-MM-DD
                    out.add(option[5:])
    return frozenset(out)


def ungrounded(text: str, grounding: Iterable[str]) -> list[str]:
    """The mentions in `text` that the grounding does not contain, as written."""
    ok = allowed(grounding)
    return [m.text for m in mentions(text) if not (m.options & ok)]
