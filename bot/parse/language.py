"""Which language a message is written in, so a user the bot has not met is answered in it."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_COMMAND = re.compile(r"^\s*/\S*")
_MENTION = re.compile(r"@\S+")
_WORD = re.compile(r"[A-Za-z]{2,}")
# Two words of English are a sentence ("didn't finish", "hello there"); one ("hi", "ok") says too little.
MIN_WORDS = 2


def message_locale(text: str | None, default: str) -> str:
    """`zh` when the message has Chinese (or other CJK) characters, `en` when it has at least two Latin
    words besides a leading /command and mentions, else `default`."""
    if not text:
        return default
    body = _MENTION.sub(" ", _COMMAND.sub(" ", text, count=1))
    if _CJK.search(body):
        return "zh"
    if len(_WORD.findall(body)) >= MIN_WORDS:
        return "en"
    return default
