"""A message in plain words read as a task draft, without an LLM: title, estimate, deadline, importance.

"明天下午3点前交实验报告，大概2小时", "finish the slides by Friday 5pm, about 90 min", "下周一前把周报写了".
The text is data: it fills fields and changes no rule. The deadline is the time marked as one ("前", "by",
"before", ...), else the first clock time, else a day alone (only beside an estimate); a day without a clock
means that day at `day_end`. The estimate is a duration ("2小时", "90 min", "半小时"); "重要", "important",
"urgent" or "!" mark it important. What is left, cleaned of filler, is the title. `read_task` returns None
when the text does not read like a task, so the bot can ask a specific question instead.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time, tzinfo

from bot.parse.durations import find_durations
from bot.parse.model import ParseError
from bot.parse.timetext import _CLOCK, _DAY, parse_time_text

TITLE_MAX = 255


def _unnamed(pattern: str) -> str:
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


# A day and/or a clock time, anywhere in the text (timetext's own patterns, unanchored).
_DAY_ANY, _CLOCK_ANY = _unnamed(_DAY.pattern), _unnamed(_CLOCK.pattern)
_WHEN = re.compile(
    rf"(?<![A-Za-z])(?:(?P<day>{_DAY_ANY})\s*(?:的)?\s*(?P<clock>{_CLOCK_ANY})?|(?P<only>{_CLOCK_ANY}))",
    re.I,
)
_AFTER_WHEN = re.compile(r"^\s*(?:之前|以前|前|截止|为止|due)")
_BEFORE_WHEN = re.compile(r"(?:\b(?:by|before|due|until|till|on)\s*|截止到?|在)\s*$", re.I)
_ABOUT = re.compile(
    r"(?:大概|大约|约|预计|需要|要花|花|估计|about|around|roughly|approx\.?|takes?|for|~)\s*$", re.I
)
_AFTER_DURATION = re.compile(r"^\s*(?:左右|上下|吧)")
_IMPORTANT = re.compile(r"[!！]+|很重要|重要|紧急|急|\b(?:important|urgent|asap)\b", re.I)
_LEADING = re.compile(
    r"^(?:(?:请|帮我|提醒我|记得|我要|我得|我需要|需要|要|得)\s*"
    r"|(?:please\s+|remind me to\s+|remember to\s+|i\s+(?:need|have|must|should)\s+to\s+|i\s+must\s+"
    r"|need to\s+|have to\s+|todo:?\s*))+",
    re.I,
)
_BA = re.compile(
    r"^把(?P<obj>.+?)(?P<verb>写完|写好|做完|做好|改完|改好|弄完|搞定|看完|读完|背完|交|写|做|改|看|读|背|整理|准备|完成)了?$"
)
_PUNCT = " \t,，.。;；:：、!！?？~-—()（）[]【】\"'“”‘’"
_JOINERS = re.compile(r"\s*(?:，|,|。|;|；)\s*(?:and\s+)?$|^\s*(?:and|then)\s+", re.I)


@dataclass(frozen=True)
class TaskDraft:
    """What a message says about a task; None where it says nothing."""

    title: str
    estimate_minutes: int | None
    deadline: datetime | None
    important: bool


def _clean(title: str) -> str:
    t = re.sub(r"\s+", " ", title).strip(_PUNCT)
    for _ in range(3):
        t = _JOINERS.sub("", t).strip(_PUNCT)
        t = _LEADING.sub("", t).strip(_PUNCT)
    ba = _BA.match(t)
    if ba:
        t = ba.group("verb").removesuffix("了") + ba.group("obj")
    t = re.sub(r"了$", "", t).strip(_PUNCT) if len(t) > 2 else t
    return t[:TITLE_MAX]


def _deadline(m: re.Match[str], now: datetime, tz: str | tzinfo, day_end: time) -> datetime | None:
    day, clock, only = m.group("day"), m.group("clock"), m.group("only")
    if only:
        text = only
    elif day and clock:
        text = f"{day} {clock}"
    else:
        text = f"{day} {day_end:%H:%M}"
    try:
        return parse_time_text(text.strip(), now, tz)
    except (ParseError, ValueError):
        return None


def read_task(text: str, now: datetime, tz: str | tzinfo, day_end: time = time(22, 30)) -> TaskDraft | None:
    """The draft a message reads as, or None when it names neither a time nor a duration (or no title)."""
    s = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()
    if not s or len(s) > 500:
        return None
    cut: list[tuple[int, int]] = []
    # The deadline: the time marked as one ("by", "前", ...), else the first with a clock, else the first
    # day alone (which counts only beside an estimate: "今天天气不错" is no task).
    options: list[tuple[int, tuple[int, int], datetime]] = []
    for m in _WHEN.finditer(s):
        if not m.group(0).strip():
            continue
        found = _deadline(m, now, tz, day_end)
        if found is None:
            continue
        start, end = m.start(), m.end()
        before = _BEFORE_WHEN.search(s[:start])
        after = _AFTER_WHEN.match(s[end:])
        rank = 0 if before or after else (1 if m.group("clock") or m.group("only") else 2)
        options.append(
            (rank, (before.start() if before else start, end + (after.end() if after else 0)), found)
        )
    best = min(options, key=lambda o: o[0]) if options else None
    deadline = best[2] if best else None
    if best is not None:
        cut.append(best[1])
    estimate = None
    for d in reversed(find_durations(s)):
        if any(d.start < e and b < d.end for b, e in cut):
            continue
        about = _ABOUT.search(s[: d.start])
        after = _AFTER_DURATION.match(s[d.end :])
        cut.append((about.start() if about else d.start, d.end + (after.end() if after else 0)))
        estimate = d.minutes
        break
    if deadline is None and estimate is None:
        return None
    if best is not None and best[0] == 2 and estimate is None:
        return None  # a day alone, unmarked and without an estimate
    rest = s
    for b, e in sorted(cut, reverse=True):
        rest = rest[:b] + " " + rest[e:]
    important = bool(_IMPORTANT.search(rest))
    title = _clean(_IMPORTANT.sub(" ", rest))
    if not title:
        return None
    return TaskDraft(title, estimate, deadline, important)
