"""`by <time>` / `--now <time>` text to an aware datetime: ISO 8601, HH:MM, tomorrow 18:00, 周五 18:00."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from bot.parse.durations import number
from bot.parse.model import ParseError, ParseErrorCode

_ZH_WEEKDAYS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7, "末": 6}
_EN_WEEKDAYS = {
    "mon": 1, "monday": 1, "tue": 2, "tues": 2, "tuesday": 2, "wed": 3, "wednesday": 3,
    "thu": 4, "thur": 4, "thurs": 4, "thursday": 4, "fri": 5, "friday": 5,
    "sat": 6, "saturday": 6, "sun": 7, "sunday": 7,
}  # fmt: skip
_DAY_OFFSETS = {"today": 0, "今天": 0, "今日": 0, "tonight": 0, "今晚": 0}
_DAY_OFFSETS |= {"tomorrow": 1, "tmr": 1, "tmrw": 1, "明天": 1, "明日": 1, "明晚": 1}
_DAY_OFFSETS |= {"后天": 2, "day after tomorrow": 2}
_EVENING_WORDS = frozenset({"tonight", "今晚", "明晚"})

_EN_WD = "|".join(sorted(_EN_WEEKDAYS, key=len, reverse=True))
_DAY = re.compile(
    r"(?P<rel>day after tomorrow|today|tonight|tomorrow|tmrw|tmr|今天|今日|今晚|明天|明日|明晚|后天)"
    rf"|(?P<next>next\s+|下个?)?(?:(?:周|星期|礼拜)(?P<zhwd>[一二三四五六日天末1-7])|(?P<enwd>{_EN_WD})\b)"
    r"|(?P<month>\d{1,2})(?:[-/](?P<day>\d{1,2})|月(?P<zhday>\d{1,2})[日号]?)",
    re.I,
)
_CLOCK = re.compile(
    r"(?P<period>上午|早上|早晨|中午|下午|傍晚|晚上)?\s*"
    r"(?:(?P<h>\d{1,2}):(?P<m>\d{2})|(?P<zh_h>\d{1,2}|[零一二两三四五六七八九十]+)\s*[点時时]"
    r"(?:\s*(?P<zh_half>半)|\s*(?P<zh_m>\d{1,2})\s*分?)?|(?P<ampm_h>\d{1,2})(?=\s*[ap]\.?m))"
    r"(?:\s*(?P<ampm>[ap])\.?m\.?)?",
    re.I,
)
_USAGE = "use HH:MM, 'tomorrow 18:00', '明天18:00', 'fri 18:00', '周五 18:00' or ISO 8601"


@dataclass(frozen=True)
class _Spec:
    clock: time | None
    offset: int | None = None  # days after today
    weekday: int | None = None  # 1..7 ISO
    next_week: bool = False
    month_day: tuple[int, int] | None = None
    absolute: datetime | None = None  # ISO 8601 (naive means local)


def _bad(text: str, code: ParseErrorCode = ParseErrorCode.BAD_TIME, why: str = "") -> ParseError:
    message = why or f"cannot read the time {text!r}; {_USAGE}"
    return ParseError(code, message, params={"text": text})


def _clock(m: re.Match[str], text: str, evening: bool) -> time:
    if m.group("h") is not None:
        hour, minute = int(m.group("h")), int(m.group("m"))
    else:
        raw = m.group("zh_h") or m.group("ampm_h")
        value = number(raw) if raw else None
        if value is None:
            raise _bad(text)
        hour = int(value)
        minute = 30 if m.group("zh_half") else int(m.group("zh_m") or 0)
    period, ampm = m.group("period"), (m.group("ampm") or "").lower()
    if ampm and not 1 <= hour <= 12:
        raise _bad(text, why=f"hour {hour} does not go with am/pm in {text!r}")
    afternoon = period in ("下午", "傍晚", "晚上") or (evening and not ampm)
    if ampm == "a" and hour == 12:
        hour = 0
    elif ((ampm == "p" or afternoon) and 1 <= hour < 12) or (period == "中午" and hour < 3):
        hour += 12  # 中午1点 is 13:00 too
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise _bad(text, why=f"{hour:02d}:{minute:02d} is not a time of day")
    return time(hour, minute)


def _spec(text: str) -> _Spec:
    s = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()
    if not s:
        raise _bad(text, why="the time is empty; " + _USAGE)
    if re.match(r"\d{4}-\d{2}-\d{2}", s):
        if len(s) == 10:
            raise _bad(
                text, ParseErrorCode.MISSING_TIME_OF_DAY, f"add a time of day to {text!r}, e.g. {s} 18:00"
            )
        try:
            return _Spec(clock=None, absolute=datetime.fromisoformat(s))
        except ValueError:
            raise _bad(text) from None
    day_m = _DAY.match(s)
    rest = s[day_m.end() :].strip() if day_m else s
    clock_m = _CLOCK.fullmatch(rest) if rest else None
    if day_m is None and clock_m is None:
        # the clock-first order: "18:00 tomorrow"
        clock_m = _CLOCK.match(s)
        if clock_m is not None:
            day_m = _DAY.fullmatch(s[clock_m.end() :].strip())
            rest = ""
            if day_m is None:
                raise _bad(text)
    if day_m is not None and not rest and clock_m is None:
        raise _bad(text, ParseErrorCode.MISSING_TIME_OF_DAY, f"add a time of day to {text!r}, e.g. {s} 18:00")
    if clock_m is None:
        raise _bad(text)
    rel = (day_m.group("rel") or "").lower() if day_m else ""
    clock = _clock(clock_m, text, evening=rel in _EVENING_WORDS)
    if day_m is None:
        return _Spec(clock=clock)
    if rel:
        return _Spec(clock=clock, offset=_DAY_OFFSETS[rel])
    if day_m.group("month"):
        month, day = int(day_m.group("month")), int(day_m.group("day") or day_m.group("zhday"))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            raise _bad(text, why=f"{month}-{day} is not a date")
        return _Spec(clock=clock, month_day=(month, day))
    zhwd = day_m.group("zhwd")
    weekday = (int(zhwd) if zhwd.isdecimal() else _ZH_WEEKDAYS[zhwd]) if zhwd else None
    weekday = weekday or _EN_WEEKDAYS[day_m.group("enwd").lower()]
    return _Spec(clock=clock, weekday=weekday, next_week=bool(day_m.group("next")))


def check_time_text(text: str) -> None:
    """Raise ParseError if `text` is not a time this module can read (no clock needed)."""
    _spec(text)


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def parse_time_text(text: str, now: datetime, tz: str | tzinfo) -> datetime:
    """Resolve `text` against `now` in time zone `tz`; the result is aware (in `tz`).

    A bare clock time means today, or tomorrow if it is not after `now`; a weekday means its next
    occurrence (today if the time is still ahead); "next fri" / "下周五" means the one in next week.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = _zone(tz)
    spec = _spec(text)
    local_now = now.astimezone(zone)
    if spec.absolute is not None:
        a = spec.absolute
        return a.replace(tzinfo=zone) if a.tzinfo is None else a.astimezone(zone)
    clock = spec.clock
    if clock is None:  # pragma: no cover - _spec always sets a clock for relative times
        raise _bad(text, ParseErrorCode.MISSING_TIME_OF_DAY)
    today = local_now.date()

    def at(day: date) -> datetime:
        return datetime.combine(day, clock, tzinfo=zone)

    if spec.offset is not None:
        return at(today + timedelta(days=spec.offset))
    if spec.weekday is not None:
        if spec.next_week:
            monday = today - timedelta(days=today.isoweekday() - 1) + timedelta(days=7)
            return at(monday + timedelta(days=spec.weekday - 1))
        result = at(today + timedelta(days=(spec.weekday - today.isoweekday()) % 7))
        return result if result > local_now else result + timedelta(days=7)
    if spec.month_day is not None:
        # The year that puts the date nearest to now: "11-29" written on 11-30 is yesterday (a deadline
        # the caller refuses as past), not next year; "01-05" written in November is the coming January.
        month, day = spec.month_day
        dates = []
        for year in (today.year - 1, today.year, today.year + 1):
            try:
                dates.append(at(date(year, month, day)))
            except ValueError:
                continue
        if not dates:
            raise _bad(text, why=f"{month}-{day} is not a date")
        return min(dates, key=lambda d: abs(d - local_now))
    result = at(today)
    return result if result > local_now else at(today + timedelta(days=1))
