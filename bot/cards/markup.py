"""Card JSON building blocks: escaping user text, truncation, elements, the 30 KB size check."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.cards.model import CardError, CardErrorCode

MAX_CARD_BYTES = 30 * 1024
Element = dict[str, Any]

# Markdown and Feishu's HTML-like tags (<at>, <font>, <text_tag>, <link>): these characters would
# start formatting, links or mentions. Feishu documents numeric entities (&#42;) as the way to show
# them literally; CommonMark never treats an entity as structure, so they also defuse line markers.
_ALWAYS = {c: f"&#{ord(c)};" for c in "&<>*_~[]`$|\\\r"}
_LEADING_WS = re.compile(r"^[ \t]+", re.M)  # 4 leading spaces would open a code block
_LINE_MARKER = re.compile(r"^(?:[#+\-=>]|\d+[.)])", re.M)  # heading, list, rule, quote
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

HEADER_TITLE_CHARS = 40
TITLE_CHARS = 80
LABEL_CHARS = 40
SUMMARY_CHARS = 160
LINES_CHARS = 400
EXPLANATION_CHARS = 800
LINE_ITEMS = 12


def clean(text: str) -> str:
    """Drop control and bidi-override characters that could disguise text."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a space near the end when there is one, with an ellipsis."""
    text = clean(text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 0.7:
        cut = cut[:space]
    return cut.rstrip() + "…"


def one_line(text: str, limit: int) -> str:
    return truncate(re.sub(r"\s+", " ", clean(text)), limit)


def escape_md(text: str) -> str:
    """User text made literal inside a markdown element: no formatting, links, tags or mentions."""
    escaped = "".join(_ALWAYS.get(c, c) for c in text)
    escaped = _LEADING_WS.sub(lambda m: _entities(m.group(0)), escaped)
    return _LINE_MARKER.sub(lambda m: _entities(m.group(0)), escaped)


def _entities(text: str) -> str:
    return "".join(f"&#{ord(c)};" for c in text)


def plain(text: str) -> dict[str, str]:
    return {"tag": "plain_text", "content": text}


def markdown(content: str, *, size: str | None = None) -> Element:
    element: Element = {"tag": "markdown", "content": content}
    if size:
        element["text_size"] = size
    return element


def hr() -> Element:
    return {"tag": "hr"}


def button(
    text: str, value: Mapping[str, object], *, kind: str = "default", element_id: str | None = None
) -> Element:
    """A callback button; `value` is delivered verbatim as event.action.value (always an object)."""
    element: Element = {"tag": "button", "text": plain(text), "type": kind}
    if element_id:
        element["element_id"] = element_id
    element["behaviors"] = [{"type": "callback", "value": dict(value)}]
    return element


def columns(*cells: Sequence[Element]) -> Element:
    """Side-by-side equal columns (before / after)."""
    return {
        "tag": "column_set",
        "flex_mode": "bisect",
        "columns": [
            {"tag": "column", "width": "weighted", "weight": 1, "elements": list(cell)} for cell in cells
        ],
    }


def card(
    title: str, template: str, elements: list[Element], *, subtitle: str = "", summary: str = ""
) -> Element:
    """A schema 2.0 card; update_multi so a PATCH or callback update shows for everyone."""
    config: Element = {"update_multi": True}
    if summary:
        config["summary"] = {"content": one_line(summary, SUMMARY_CHARS)}
    header: Element = {"title": plain(title), "template": template}
    if subtitle:
        header["subtitle"] = plain(subtitle)
    return {"schema": "2.0", "config": config, "header": header, "body": {"elements": elements}}


def card_size(card: Mapping[str, Any]) -> int:
    """Bytes of the card as it is sent (compact UTF-8 JSON)."""
    return len(json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def check_card_size(card: Mapping[str, Any], limit: int = MAX_CARD_BYTES) -> Mapping[str, Any]:
    """Return `card`, or raise CardError(card_too_large) if Feishu would refuse it (230025)."""
    size = card_size(card)
    if size > limit:
        raise CardError(CardErrorCode.CARD_TOO_LARGE, f"card is {size} bytes, over the {limit}-byte limit")
    return card


def local_time(at: datetime, timezone: str) -> str:
    """`at` in the user's zone, e.g. 11-30 15:00."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M")


def md_lines(text: str, limit: int = LINES_CHARS) -> str:
    """Multi-line user text (before/after summaries), escaped, at most LINE_ITEMS lines."""
    lines = [line.strip() for line in truncate(text, limit).split("\n") if line.strip()]
    if len(lines) > LINE_ITEMS:
        lines = [*lines[: LINE_ITEMS - 1], "…"]
    return "\n".join(escape_md(line) for line in lines) or "—"


def md_list(items: Sequence[str], limit: int = SUMMARY_CHARS) -> str:
    """Bullet list of escaped one-line items (our own "- " marker, the text cannot add one)."""
    shown = [one_line(i, limit) for i in items if i.strip()][:LINE_ITEMS]
    if len(items) > LINE_ITEMS:
        shown[-1] = "…"
    return "\n".join(f"- {escape_md(i)}" for i in shown)
