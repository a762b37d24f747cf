"""Free-text "unfinished" feedback in Chinese and English: intent, the named task, the minutes left."""

from __future__ import annotations

import re
import unicodedata

from bot.parse.durations import find_duration, find_durations
from bot.parse.model import MAX_MINUTES, MIN_MINUTES, ParseError, ParseErrorCode, Unfinished

_CJK = r"[\u4e00-\u9fff]"
# Phrases that say "not finished" on their own.
_UNFINISHED = re.compile(
    rf"(?:还|并|都)?没(?:有|能)?{_CJK}{{0,3}}?(?:完成|完)|未(?:能)?{_CJK}?完成?|{_CJK}不完"
    r"|\bunfinished\b|\bincomplete\b|\bnot\s+(?:yet\s+|quite\s+|fully\s+)?(?:done|finished|complete(?:d)?)\b"
    r"|\b(?:didn'?t|did\s+not|couldn'?t|could\s+not|haven'?t|have\s+not|hasn'?t|has\s+not"
    r"|wasn'?t\s+able\s+to|was\s+not\s+able\s+to|not\s+able\s+to|unable\s+to|failed\s+to)"
    r"\s+(?:\w+\s+)?(?:finish(?:ed)?|complete(?:d)?|get\s+(?:it\s+)?done|get\s+through|do)\b",
    re.I,
)
# Words that say "this much is left"; they count only together with a duration or a bare number.
_REMAINING = re.compile(
    r"还(?:差|要|需要|需|剩下|剩|得)|剩下|剩余|剩|"
    r"\b(?:still\s+)?(?:need|needs|needed)\b|\b(?:left|remaining|remain|to\s+go|more|another|extra)\b",
    re.I,
)
_BARE_NUMBER = re.compile(
    r"(?:还(?:差|要|需要|需|剩下|剩|得)|剩下|剩余|剩)\s*(\d{1,4})(?![\d.:点])|\b(\d{1,4})\s+(?:more|left)\b",
    re.I,
)
# "不对，40分钟": a later amount corrects an earlier one; the words themselves are no task name.
_CORRECTION = (
    r"(?:说错了|不对|不是|错了|更正)(?:[\s,，]*是)?|应该是|改成|"
    r"\b(?:no|nope|wait|sorry|oops)\b(?=\s*[,，])|\b(?:actually|i\s+mean|correction|make\s+(?:it|that))\b"
)
_CORRECTIONS = re.compile(_CORRECTION, re.I)
_CORRECTED_NUMBER = re.compile(rf"(?:{_CORRECTION})[\s,，:：]*(\d{{1,4}})(?![\d.:点])", re.I)
# "事情太多了做不完" is a sigh, not a report; with an amount the words are still no task name.
_TOO_MUCH = re.compile(r"太多了?|\btoo\s+(?:much|many)\b", re.I)
# Unfinished meals and sleep are not planned blocks ("我还没吃完饭").
_NOT_WORK_VERBS = re.compile(r"吃|喝|睡|\b(?:eat|eating|ate|drink|sleep)\b", re.I)
_NOT_WORK_REFS = frozenset([
    "饭", "早饭", "午饭", "晚饭", "早餐", "午餐", "晚餐", "夜宵", "宵夜", "零食", "水", "咖啡", "奶茶",
    "breakfast", "lunch", "dinner", "meal", "food", "coffee", "drink", "snack",
])  # fmt: skip
# Words that name no task: the report is about "the one just now".
_GENERIC_REFS = frozenset([
    "事情", "事", "东西", "活", "活儿", "工作", "安排", "计划",
    "stuff", "things", "everything", "all", "work",
])  # fmt: skip
_PUNCT = re.compile(r"[\s,，。.!！?？;；:：、~～\-—()（）\[\]\"“”'‘’…]+")
_ZH_FILLERS = tuple(
    sorted(
        [
            "刚才那个",
            "刚刚那个",
            "刚才的",
            "刚刚的",
            "刚才",
            "刚刚",
            "上一个",
            "上个",
            "之前的",
            "之前",
            "那个",
            "这个",
            "那块",
            "这块",
            "任务",
            "时段",
            "我的",
            "今天的",
            "今天",
            "现在",
            "目前",
            "还是",
            "还有",
            "还",
            "又",
            "的",
            "了",
            "啊",
            "呢",
            "吧",
            "哦",
            "呀",
            "嗯",
            "哎",
            "唉",
            "诶",
            "也",
            "都",
            "就",
            "我",
            "大概",
            "大约",
            "差不多",
            "左右",
            "一共",
            "再",
            "要",
            "需要",
            "时间",
            "吗",
            "么",
            "嘛",
            "啦",
            "哈",
            "哇",
            "呜呜",
            "呜",
        ],
        key=len,
        reverse=True,
    )
)
_EN_FILLERS = frozenset(
    [
        "i",
        "i'm",
        "im",
        "my",
        "the",
        "a",
        "an",
        "with",
        "on",
        "for",
        "of",
        "to",
        "is",
        "was",
        "it",
        "its",
        "it's",
        "that",
        "this",
        "one",
        "yet",
        "still",
        "just",
        "and",
        "but",
        "so",
        "ok",
        "okay",
        "sorry",
        "hey",
        "hi",
        "please",
        "about",
        "around",
        "roughly",
        "approximately",
        "maybe",
        "probably",
        "block",
        "task",
        "last",
        "there",
        "are",
        "have",
        "has",
        "had",
        "got",
        "working",
        "time",
        "some",
        "little",
        "bit",
        "few",
    ]
)
MAX_REF_CHARS = 60


def check_minutes(minutes: int, command: str | None = None) -> int:
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise ParseError(
            ParseErrorCode.MINUTES_OUT_OF_RANGE,
            f"minutes must be between {MIN_MINUTES} and {MAX_MINUTES}, got {minutes}",
            command=command,
            params={"minutes": minutes, "min": MIN_MINUTES, "max": MAX_MINUTES},
        )
    return minutes


def _is_decoration(ch: str) -> bool:
    """Emoji, punctuation, spaces and invisible joiners: never the first or last character of a name."""
    category = unicodedata.category(ch)
    return category in ("So", "Sk", "Cf", "Cn", "Co", "Mn") or category[0] in "PZ"


def _strip_fillers(text: str) -> str:
    """Drop filler words at both ends ("刚才那个", "the", "my"...), whatever their language order, and
    emoji or punctuation around them ("没做完😭")."""
    s = " ".join(_PUNCT.sub(" ", text).split())
    previous = None
    while s and s != previous:
        previous = s
        start, end = 0, len(s)
        while start < end and _is_decoration(s[start]):
            start += 1
        while end > start and _is_decoration(s[end - 1]):
            end -= 1
        s = s[start:end]
        words = s.split()
        while words and words[0].lower() in _EN_FILLERS:
            words.pop(0)
        while words and words[-1].lower() in _EN_FILLERS:
            words.pop()
        s = " ".join(words)
        for filler in _ZH_FILLERS:
            if s.startswith(filler):
                s = s[len(filler) :].strip()
            if s.endswith(filler):
                s = s[: -len(filler)].strip()
    return s


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in sorted(spans):
        if start >= pos:
            out.append(text[pos:start])
            pos = end
        elif end > pos:
            pos = end
    out.append(text[pos:])
    return " ".join(out)


def split_ref_and_minutes(text: str, command: str | None = None) -> tuple[str | None, int | None]:
    """The task named in `text` (None if only "that one") and the minutes it mentions (None if none)."""
    spans = [(m.start(), m.end()) for m in _UNFINISHED.finditer(text)]
    spans += [(m.start(), m.end()) for m in _REMAINING.finditer(text)]
    spans += [(m.start(), m.end()) for m in _CORRECTIONS.finditer(text)]
    spans += [(m.start(), m.end()) for m in _TOO_MUCH.finditer(text)]
    amounts = _amounts(text)
    spans += [(start, end) for start, end, _ in amounts]
    minutes: int | None = None
    if amounts:
        # the first amount, unless the user corrected it: then the last one
        minutes = amounts[-1][2] if _CORRECTIONS.search(text) else amounts[0][2]
        check_minutes(minutes, command)
    rest = _cut(text, spans)
    # a name longer than this cannot come out short enough; skip the work on long rambles
    ref = _strip_fillers(rest) if len(rest) <= 8 * MAX_REF_CHARS else ""
    if not any(ch.isalnum() for ch in ref) or ref.isdecimal() or len(ref) > MAX_REF_CHARS:
        return None, minutes
    if ref.casefold() in _GENERIC_REFS:
        return None, minutes
    return ref, minutes


def _amounts(text: str) -> list[tuple[int, int, int]]:
    """(start, end, minutes) of every amount in `text`, left to right: durations, and bare numbers where
    the words say they are minutes ("还差30", "30 more", "不对，40")."""
    found = [(d.start, d.end, d.minutes) for d in find_durations(text)]
    bare = [(m, 1 if m.group(1) else 2) for m in _BARE_NUMBER.finditer(text)]
    bare += [(m, 1) for m in _CORRECTED_NUMBER.finditer(text)]
    for m, group in bare:
        start, end = m.start(group), m.end(group)
        if not any(s < end and start < e for s, e, _ in found):
            found.append((start, end, int(m.group(group))))
    return sorted(found)


# A deadline ("by Friday", "周三前"): with only "need"/"还要" words, the text is a new task, not a report.
_DEADLINE = re.compile(
    r"\b(?:by|before|due|until)\b|之前|以前|截止|(?<=[\d点号日天一二三四五六日末晚])前", re.I
)


def parse_feedback(text: str) -> Unfinished | None:
    """An Unfinished command if `text` reports unfinished work, else None. Raises ParseError for
    an out-of-range remaining time ("还差1000分钟")."""
    said = _UNFINISHED.search(text)
    has_amount = find_duration(text) is not None or _BARE_NUMBER.search(text) is not None
    if said is None and not (has_amount and _REMAINING.search(text)):
        return None
    if said is None and _DEADLINE.search(text):
        return None  # "I need to submit the form by Wednesday, 1 hour": a task to capture
    if said is not None and _NOT_WORK_VERBS.search(said.group()):
        return None
    if not has_amount and _TOO_MUCH.search(text):
        return None
    ref, minutes = split_ref_and_minutes(text)
    if ref is not None and ref.casefold() in _NOT_WORK_REFS:
        return None
    return Unfinished(task_ref=ref, minutes=minutes, text=text)
