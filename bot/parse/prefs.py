"""`/prefs` settings: day window, quiet hours, language, time zone, daily card cap."""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache
from zoneinfo import available_timezones

from bot.parse.model import ParseError, ParseErrorCode, Prefs, TimeRange

_KEYS = {
    "day": "day", "window": "day", "作息": "day", "工作时间": "day",
    "quiet": "quiet", "免打扰": "quiet",
    "lang": "lang", "language": "lang", "locale": "lang", "语言": "lang",
    "tz": "timezone", "timezone": "timezone", "时区": "timezone",
    "cap": "daily_cap", "daily_cap": "daily_cap", "上限": "daily_cap",
    "buffer": "buffer_minutes", "缓冲": "buffer_minutes",
    "moves": "max_moves", "移动": "max_moves",
    "hours": "max_planned_minutes", "daycap": "max_planned_minutes", "每天时长": "max_planned_minutes",
    "extend": "max_extension_minutes", "延长": "max_extension_minutes",
    "late": "late_work", "熬夜": "late_work",
    "learn": "learn_overrun", "学习": "learn_overrun",
}  # fmt: skip
# name -> (lowest, highest, unit shown, minutes per unit)
_LIMITS = {
    "buffer_minutes": (0, 120, "minutes", 1),
    "max_moves": (0, 10, "blocks", 1),
    "max_planned_minutes": (1, 16, "hours", 60),
    "max_extension_minutes": (0, 240, "minutes", 1),
}
_ON = frozenset({"on", "yes", "true", "开", "开启", "允许"})
_LANGS = {"zh": "zh", "cn": "zh", "zh_cn": "zh", "zh-cn": "zh", "中文": "zh", "chinese": "zh"}
_LANGS |= {"en": "en", "en_us": "en", "en-us": "en", "english": "en", "英文": "en", "英语": "en"}
_OFF = frozenset({"off", "none", "no", "关闭", "关", "无"})
_RANGE = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")
PREFS_USAGE = (
    "/prefs [day 08:00-22:30] [quiet 23:00-07:00|off] [lang zh|en] [tz Asia/Shanghai] [cap 8] "
    "[buffer 10] [moves 2] [hours 8] [extend 90] [late on|off] [learn on|off]"
)
MAX_CAP = 100


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {z.casefold(): z for z in available_timezones()}


def _error(code: ParseErrorCode, message: str, **params: object) -> ParseError:
    return ParseError(
        code, f"{message}; usage: {PREFS_USAGE}", command="prefs", params={"usage": PREFS_USAGE, **params}
    )


def _range(key: str, value: str) -> TimeRange:
    m = _RANGE.fullmatch(value)
    if m is None:
        raise _error(
            ParseErrorCode.BAD_RANGE, f"{key} needs a range like 08:00-22:30, got {value!r}", key=key
        )
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h2 == 24 and m2 == 0:
        h2 = 0  # 24:00 is midnight at the end of the day
    if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60):
        raise _error(ParseErrorCode.BAD_RANGE, f"{value!r} is not a valid time range", key=key)
    return TimeRange(time(h1, m1), time(h2, m2))


def parse_prefs(rest: str) -> Prefs:
    """Parse `/prefs` arguments: `key value` or `key=value` pairs; none means "show my settings"."""
    s = re.sub(r"(\d)\s*(?:-|~|–|—|到|至)\s*(\d)", r"\1-\2", rest)
    tokens = re.sub(r"\s*=\s*", " ", s).split()
    values: dict[str, object] = {}
    for i in range(0, len(tokens), 2):
        raw_key = tokens[i]
        key = _KEYS.get(raw_key.casefold())
        if key is None:
            raise _error(ParseErrorCode.UNKNOWN_PREF, f"unknown setting {raw_key!r}", key=raw_key)
        if i + 1 >= len(tokens):
            raise _error(ParseErrorCode.BAD_PREFS, f"{raw_key} needs a value", key=raw_key)
        value = tokens[i + 1]
        if key == "day":
            window = _range(raw_key, value)
            if window.end != time(0) and window.end <= window.start:
                raise _error(ParseErrorCode.BAD_RANGE, f"the day must end after it starts, got {value!r}")
            values["day"] = window
        elif key == "quiet":
            if value.casefold() in _OFF:
                values["quiet"], values["quiet_off"] = None, True
                continue
            quiet = _range(raw_key, value)
            if quiet.start == quiet.end:
                raise _error(ParseErrorCode.BAD_RANGE, f"quiet hours cannot start and end at once: {value!r}")
            values["quiet"], values["quiet_off"] = quiet, False
        elif key == "lang":
            lang = _LANGS.get(value.casefold())
            if lang is None:
                raise _error(
                    ParseErrorCode.BAD_LANG, f"language must be zh or en, got {value!r}", value=value
                )
            values["lang"] = lang
        elif key == "timezone":
            zone = _zones().get(value.casefold())
            if zone is None:
                raise _error(ParseErrorCode.BAD_TIMEZONE, f"unknown time zone {value!r}", value=value)
            values["timezone"] = zone
        elif key in _LIMITS:
            low, high, unit, per = _LIMITS[key]
            if not value.isdecimal() or not low <= int(value) <= high:
                raise _error(
                    ParseErrorCode.BAD_CAP,
                    f"{raw_key} must be a number of {unit} from {low} to {high}, got {value!r}",
                )
            values[key] = int(value) * per
        elif key in ("late_work", "learn_overrun"):
            if value.casefold() not in _ON | _OFF:
                raise _error(ParseErrorCode.BAD_CAP, f"{raw_key} must be on or off, got {value!r}")
            values[key] = value.casefold() in _ON
        else:
            if not value.isdecimal() or not 1 <= int(value) <= MAX_CAP:
                raise _error(
                    ParseErrorCode.BAD_CAP, f"cap must be a number from 1 to {MAX_CAP}, got {value!r}"
                )
            values["daily_cap"] = int(value)
    return Prefs(**values)  # type: ignore[arg-type]
